/*
 * xsched_tui.core._logscan: the live tail's hot loop in C (optional; logparse.py has the same
 * loop in Python and uses it when this module was not built, or with XSCHED_TUI_PURE_PARSER=1).
 *
 * At 100k lines/s nearly every line is an XSched INFO/DEBG message that the parser does not
 * model: LogParser(lazy=True) turns it into a _LazyRecord whose message, source suffix and event
 * are computed only when read. Making those records in Python costs ~3 us a line (a regex match,
 * int() calls, 13 slot stores); the app's budget for the whole log path is ~2.5 us. scan() makes
 * the same records, field for field, and stops at the first line it does not take, which the
 * Python loop then parses. It takes a line only when the Python hot loop would make a lazy record
 * of it on its regular clock path:
 *
 *   [XSCHED INFO @ T 58880 @ 09:05:23.278123] message...     ("XSCHED " optional, "T 5" or "T5",
 *                                                              1-9 sub-second digits)
 *
 * with level INFO or DEBG, a message whose first word is no key of the event dispatcher, a
 * printable-ASCII str of at most MAX_PARSE characters (the caller passes clean lines only), and a
 * time of day within half a day of the clock's last one (a roll-over is the Python loop's job).
 * tests/test_logscan.py proves equality with the Python loop on every sample and on fuzzed input.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <string.h>

enum { F_KIND, F_TEXT, F_LEVEL, F_TID, F_TOD, F_TAG, F_FIELDS, F_LINES, F_RAWLEN, F_TRUNC,
       F_LINENO, F_TS, F_ANSI, NFIELDS };

static const char *field_names[NFIELDS] = {
    "kind", "text", "level", "tid", "tod_us", "tag", "fields", "lines", "raw_len", "truncated",
    "lineno", "timestamp", "ansi"};

/* Set once by configure(); the module keeps its own references. */
static PyTypeObject *lazy_cls = NULL;
static Py_ssize_t offsets[NFIELDS];
static PyObject *kind_xsched = NULL, *level_info = NULL, *level_debg = NULL, *dispatch = NULL;
static PyObject *empty_tuple = NULL;
static Py_ssize_t max_parse = 0;
static long long half_day = 0;

static PyObject *
configure(PyObject *self, PyObject *args)
{
    PyObject *cls, *slots, *kind, *info, *debg, *disp;
    Py_ssize_t mp;
    long long half;
    if (!PyArg_ParseTuple(args, "O!O!OOOO!nL", &PyType_Type, &cls, &PyDict_Type, &slots, &kind,
                          &info, &debg, &PyDict_Type, &disp, &mp, &half))
        return NULL;
    for (int f = 0; f < NFIELDS; f++) {
        PyObject *d = PyDict_GetItemString(slots, field_names[f]);
        if (d == NULL || !Py_IS_TYPE(d, &PyMemberDescr_Type)) {
            PyErr_Format(PyExc_TypeError, "field %s is not a slot", field_names[f]);
            return NULL;
        }
        PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
        if (m->type != T_OBJECT_EX || (m->flags & READONLY)) {
            PyErr_Format(PyExc_TypeError, "field %s is not a writable object slot", field_names[f]);
            return NULL;
        }
        offsets[f] = m->offset;
    }
    if (((PyTypeObject *)cls)->tp_basicsize < (Py_ssize_t)sizeof(PyObject)) {
        PyErr_SetString(PyExc_TypeError, "bad record class");
        return NULL;
    }
    Py_XSETREF(lazy_cls, (PyTypeObject *)Py_NewRef(cls));
    Py_XSETREF(kind_xsched, Py_NewRef(kind));
    Py_XSETREF(level_info, Py_NewRef(info));
    Py_XSETREF(level_debg, Py_NewRef(debg));
    Py_XSETREF(dispatch, Py_NewRef(disp));
    if (empty_tuple == NULL && (empty_tuple = PyTuple_New(0)) == NULL)
        return NULL;
    max_parse = mp;
    half_day = half;
    Py_RETURN_NONE;
}

static inline int isdig(unsigned char c) { return c >= '0' && c <= '9'; }

/* Store a new reference in slot f of a fresh record (its slots are all NULL). */
#define PUT(obj, f, val) (*(PyObject **)((char *)(obj) + offsets[f]) = (val))

/*
 * scan(strs, i, out, n, last, cur_mid, extra) -> (i, n, last)
 *
 * From strs[i] on, appends a lazy record to ``out`` for every line taken, stopping at the first
 * line not taken (or the end). n: the parser's line number before strs[i]; last: its clock's
 * latest time of day (int, not None: the caller checks, and that the clock is regular); cur_mid:
 * epoch seconds of the current midnight; extra: bytes of each line's terminator (raw_len).
 */
static PyObject *
scan(PyObject *self, PyObject *args)
{
    PyObject *strs, *out;
    Py_ssize_t i, extra;
    long long n, last;
    double cur_mid;
    if (!PyArg_ParseTuple(args, "O!nO!LLdn", &PyList_Type, &strs, &i, &PyList_Type, &out, &n,
                          &last, &cur_mid, &extra))
        return NULL;
    if (lazy_cls == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "configure() first");
        return NULL;
    }
    if (i < 0)
        i = 0;
    Py_ssize_t count = PyList_GET_SIZE(strs);
    for (; i < count; i++) {
        PyObject *s = PyList_GET_ITEM(strs, i);
        if (!PyUnicode_CheckExact(s) || !PyUnicode_IS_ASCII(s))
            break;
        Py_ssize_t len = PyUnicode_GET_LENGTH(s);
        if (len > max_parse)
            break;
        const unsigned char *p = PyUnicode_1BYTE_DATA(s);
        Py_ssize_t k = 0;
        /* [(XSCHED )?(INFO|DEBG) @ T ?\d+ @ \d\d:\d\d:\d\d\.\d{1,9}\] ? */
        if (len < 2 || p[0] != '[')
            break;
        k = 1;
        if (len - k >= 7 && memcmp(p + k, "XSCHED ", 7) == 0)
            k += 7;
        if (len - k < 4)
            break;
        PyObject *level;
        if (memcmp(p + k, "INFO", 4) == 0)
            level = level_info;
        else if (memcmp(p + k, "DEBG", 4) == 0)
            level = level_debg;
        else
            break; /* WARN/ERRO (never lazy) or not XSched: the Python loop */
        k += 4;
        if (len - k < 4 || memcmp(p + k, " @ T", 4) != 0)
            break;
        k += 4;
        if (k < len && p[k] == ' ')
            k++;
        Py_ssize_t d0 = k;
        long long tid = 0;
        while (k < len && isdig(p[k])) {
            if (k - d0 >= 18)
                goto stop; /* a tid that needs a big int: the Python loop */
            tid = tid * 10 + (p[k] - '0');
            k++;
        }
        if (k == d0)
            break;
        /* " @ HH:MM:SS." */
        if (len - k < 3 + 8 + 1 || memcmp(p + k, " @ ", 3) != 0)
            break;
        k += 3;
        const unsigned char *h = p + k;
        if (!(isdig(h[0]) && isdig(h[1]) && h[2] == ':' && isdig(h[3]) && isdig(h[4]) &&
              h[5] == ':' && isdig(h[6]) && isdig(h[7]) && h[8] == '.'))
            break;
        long long tod = ((long long)((h[0] - '0') * 10 + (h[1] - '0')) * 60 +
                         ((h[3] - '0') * 10 + (h[4] - '0'))) * 60 + ((h[6] - '0') * 10 + (h[7] - '0'));
        tod *= 1000000LL;
        k += 9;
        Py_ssize_t f0 = k;
        while (k < len && isdig(p[k]) && k - f0 < 10)
            k++;
        Py_ssize_t nf = k - f0;
        if (nf < 1 || nf > 9 || k >= len || p[k] != ']')
            break;
        /* int(frac) for 6 digits; otherwise right-padded with zeros / cut to 6 */
        long long us = 0;
        for (Py_ssize_t j = 0; j < 6; j++)
            us = us * 10 + (j < nf ? (p[f0 + j] - '0') : 0);
        tod += us;
        k++;
        if (k < len && p[k] == ' ')
            k++;
        /* the message's first word: no key of the dispatcher (else its event is modelled) */
        Py_ssize_t w0 = k;
        const unsigned char *sp = memchr(p + k, ' ', (size_t)(len - k));
        Py_ssize_t w1 = sp ? (Py_ssize_t)(sp - p) : len;
        PyObject *word = PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, p + w0, w1 - w0);
        if (word == NULL)
            return NULL;
        int known = PyDict_Contains(dispatch, word);
        Py_DECREF(word);
        if (known < 0)
            return NULL;
        if (known)
            break;
        /* the regular clock path only: within half a day of the last time of day */
        if (!(last - half_day <= tod && tod <= last + half_day))
            break;
        double ts = cur_mid + (double)tod / 1e6;

        PyObject *rec = lazy_cls->tp_alloc(lazy_cls, 0);
        if (rec == NULL)
            return NULL;
        PyObject *v_tid = PyLong_FromLongLong(tid);
        PyObject *v_tod = PyLong_FromLongLong(tod);
        PyObject *v_raw = PyLong_FromSsize_t(len + extra);
        PyObject *v_no = PyLong_FromLongLong(n + 1);
        PyObject *v_ts = PyFloat_FromDouble(ts);
        if (!v_tid || !v_tod || !v_raw || !v_no || !v_ts) {
            Py_XDECREF(v_tid); Py_XDECREF(v_tod); Py_XDECREF(v_raw); Py_XDECREF(v_no);
            Py_XDECREF(v_ts);
            Py_DECREF(rec);
            return NULL;
        }
        PUT(rec, F_KIND, Py_NewRef(kind_xsched));
        PUT(rec, F_TEXT, Py_NewRef(s));
        PUT(rec, F_LEVEL, Py_NewRef(level));
        PUT(rec, F_TID, v_tid);
        PUT(rec, F_TOD, v_tod);
        PUT(rec, F_TAG, Py_NewRef(Py_None));
        PUT(rec, F_FIELDS, Py_NewRef(empty_tuple));
        PUT(rec, F_LINES, Py_NewRef(empty_tuple));
        PUT(rec, F_RAWLEN, v_raw);
        PUT(rec, F_TRUNC, Py_NewRef(Py_False));
        PUT(rec, F_LINENO, v_no);
        PUT(rec, F_TS, v_ts);
        PUT(rec, F_ANSI, Py_NewRef(Py_False));
        int rc = PyList_Append(out, rec);
        Py_DECREF(rec);
        if (rc < 0)
            return NULL;
        n++;
        if (tod > last)
            last = tod;
    }
stop:
    return Py_BuildValue("nLL", i, n, last);
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(lazy_cls, slots, kind, info, debg, dispatch, max_parse, half_day)"},
    {"scan", scan, METH_VARARGS, "scan(strs, i, out, n, last, cur_mid, extra) -> (i, n, last)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_logscan",
    "The live tail's hot loop in C (see logparse.LogParser._run).", -1, methods,
};

PyMODINIT_FUNC
PyInit__logscan(void)
{
    return PyModule_Create(&module);
}
