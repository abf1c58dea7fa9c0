/*
 * xsched_tui.core._logscan: the live tail's hot loop in C (optional; logparse.py has the same
 * loop in Python and uses it when this module was not built, or with XSCHED_TUI_PURE_PARSER=1).
 *
 * At 100k lines/s nearly every line is an XSched INFO/DEBG message that the parser does not
 * model: LogParser(lazy=True) turns it into a _LazyRecord whose message, source suffix and event
 * are computed only when read. A busy xserver's log is nearly all "XQueue (0x..) from process N
 * created/destroyed", "set priority P for XQueue 0x.." and "utilization of process N set to U".
 * Making those records in Python costs ~3 us a line (a regex match, int() calls, 13-17 slot
 * stores); the app's budget for the whole log path is ~2.5 us. scan() makes the same records,
 * field for field, and stops at the first line it does not take, which the Python loop then
 * parses. It takes a line only when the Python hot loop would make a lazy record of it, or one of
 * the three messages' records (any level, no " @ file:line" suffix), on its regular clock path:
 *
 *   [XSCHED INFO @ T 58880 @ 09:05:23.278123] message...     ("XSCHED " optional, "T 5" or "T5",
 *                                                              1-9 sub-second digits)
 *
 * for a lazy record: level INFO or DEBG and a message whose first word is no key of the event
 * dispatcher; in every case a printable-ASCII str of at most MAX_PARSE characters (the caller passes clean lines only), and a
 * time of day within half a day of the clock's last one (a roll-over is the Python loop's job).
 * tests/test_logscan.py proves equality with the Python loop on every sample and on fuzzed input.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <math.h>
#include <string.h>

enum { F_KIND, F_TEXT, F_LEVEL, F_TID, F_TOD, F_TAG, F_FIELDS, F_LINES, F_RAWLEN, F_TRUNC,
       F_LINENO, F_TS, F_ANSI, F_MESSAGE, F_SRC_FILE, F_SRC_LINE, F_EVENT, NFIELDS };

static const char *field_names[NFIELDS] = {
    "kind", "text", "level", "tid", "tod_us", "tag", "fields", "lines", "raw_len", "truncated",
    "lineno", "timestamp", "ansi", "message", "src_file", "src_line", "event"};

/* The three messages that make up nearly all of a busy xserver's log (the Python loop's _HOT
 * regex recognises the same, anchored at the end of the line), and their events' two fields. */
enum { E_CREATED, E_DESTROYED, E_PRIO, E_UTIL, NEVENTS };
static const char *event_fields[NEVENTS][2] = {
    {"handle", "pid"}, {"handle", "pid"}, {"priority", "handle"}, {"pid", "utilization"}};

/* Set once by configure(); the module keeps its own references. */
static PyTypeObject *lazy_cls = NULL, *record_cls = NULL;
static PyTypeObject *event_cls[NEVENTS];
static Py_ssize_t offsets[NFIELDS];
static Py_ssize_t event_offsets[NEVENTS][2];
static PyObject *kind_xsched = NULL, *level_info = NULL, *level_debg = NULL, *level_warn = NULL,
                *level_erro = NULL, *dispatch = NULL, *msg_cache = NULL;
static PyObject *empty_tuple = NULL;
static Py_ssize_t max_parse = 0;
static long long half_day = 0;

static int
slot_offset(PyObject *dict, const char *name, Py_ssize_t *off)
{
    PyObject *d = PyDict_GetItemString(dict, name);
    if (d == NULL || !Py_IS_TYPE(d, &PyMemberDescr_Type)) {
        PyErr_Format(PyExc_TypeError, "field %s is not a slot", name);
        return -1;
    }
    PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
    if (m->type != T_OBJECT_EX || (m->flags & READONLY)) {
        PyErr_Format(PyExc_TypeError, "field %s is not a writable object slot", name);
        return -1;
    }
    *off = m->offset;
    return 0;
}

static PyObject *
configure(PyObject *self, PyObject *args)
{
    PyObject *lazy, *rec, *slots, *kind, *levels, *disp, *events, *cache;
    Py_ssize_t mp;
    long long half;
    if (!PyArg_ParseTuple(args, "O!O!O!OO!O!nLO!O!", &PyType_Type, &lazy, &PyType_Type, &rec,
                          &PyDict_Type, &slots, &kind, &PyTuple_Type, &levels, &PyDict_Type, &disp,
                          &mp, &half, &PyTuple_Type, &events, &PyDict_Type, &cache))
        return NULL;
    if (PyTuple_GET_SIZE(levels) != 4 || PyTuple_GET_SIZE(events) != NEVENTS) {
        PyErr_SetString(PyExc_TypeError, "levels: (ERRO, WARN, INFO, DEBG); events: 4 classes");
        return NULL;
    }
    if (!PyType_IsSubtype((PyTypeObject *)lazy, (PyTypeObject *)rec)) {
        PyErr_SetString(PyExc_TypeError, "the lazy class must derive from the record class");
        return NULL;
    }
    for (int f = 0; f < NFIELDS; f++)
        if (slot_offset(slots, field_names[f], &offsets[f]) < 0)
            return NULL;
    for (int e = 0; e < NEVENTS; e++) {
        PyObject *cls = PyTuple_GET_ITEM(events, e);
        if (!PyType_Check(cls)) {
            PyErr_SetString(PyExc_TypeError, "events: classes");
            return NULL;
        }
        PyObject *dict = ((PyTypeObject *)cls)->tp_dict;
        for (int j = 0; j < 2; j++)
            if (slot_offset(dict, event_fields[e][j], &event_offsets[e][j]) < 0)
                return NULL;
    }
    for (int e = 0; e < NEVENTS; e++) {
        PyTypeObject *cls = (PyTypeObject *)PyTuple_GET_ITEM(events, e);
        Py_XSETREF(event_cls[e], (PyTypeObject *)Py_NewRef(cls));
    }
    Py_XSETREF(lazy_cls, (PyTypeObject *)Py_NewRef(lazy));
    Py_XSETREF(record_cls, (PyTypeObject *)Py_NewRef(rec));
    Py_XSETREF(kind_xsched, Py_NewRef(kind));
    Py_XSETREF(level_erro, Py_NewRef(PyTuple_GET_ITEM(levels, 0)));
    Py_XSETREF(level_warn, Py_NewRef(PyTuple_GET_ITEM(levels, 1)));
    Py_XSETREF(level_info, Py_NewRef(PyTuple_GET_ITEM(levels, 2)));
    Py_XSETREF(level_debg, Py_NewRef(PyTuple_GET_ITEM(levels, 3)));
    Py_XSETREF(dispatch, Py_NewRef(disp));
    Py_XSETREF(msg_cache, Py_NewRef(cache));
    if (empty_tuple == NULL && (empty_tuple = PyTuple_New(0)) == NULL)
        return NULL;
    max_parse = mp;
    half_day = half;
    Py_RETURN_NONE;
}

static inline int isdig(unsigned char c) { return c >= '0' && c <= '9'; }

static inline int
hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Matchers over the message p[k..len): advance *k and return 1, or return 0. A number too big for
 * C (more than 18 decimal or 16 hex digits) is "no match": the Python loop takes that line. */
static inline int
lit(const unsigned char *p, Py_ssize_t len, Py_ssize_t *k, const char *s, Py_ssize_t n)
{
    if (len - *k < n || memcmp(p + *k, s, (size_t)n) != 0)
        return 0;
    *k += n;
    return 1;
}

static inline void
opt(const unsigned char *p, Py_ssize_t len, Py_ssize_t *k, unsigned char c)
{
    if (*k < len && p[*k] == c)
        (*k)++;
}

static int
dec(const unsigned char *p, Py_ssize_t len, Py_ssize_t *k, int sign_ok, long long *out)
{
    Py_ssize_t i = *k;
    int neg = 0;
    if (sign_ok && i < len && p[i] == '-') {
        neg = 1;
        i++;
    }
    Py_ssize_t d0 = i;
    long long v = 0;
    while (i < len && isdig(p[i])) {
        if (i - d0 >= 18)
            return 0;
        v = v * 10 + (p[i] - '0');
        i++;
    }
    if (i == d0)
        return 0;
    *out = neg ? -v : v;
    *k = i;
    return 1;
}

/* (?:0x|)[0-9a-fA-F]+ : a "0x" not followed by a hex digit cannot match either way */
static int
hex(const unsigned char *p, Py_ssize_t len, Py_ssize_t *k, unsigned long long *out)
{
    Py_ssize_t i = *k;
    if (len - i >= 2 && p[i] == '0' && p[i + 1] == 'x')
        i += 2;
    Py_ssize_t d0 = i;
    unsigned long long v = 0;
    int h;
    while (i < len && (h = hexval(p[i])) >= 0) {
        if (i - d0 >= 16)
            return 0;
        v = (v << 4) | (unsigned long long)h;
        i++;
    }
    if (i == d0)
        return 0;
    *out = v;
    *k = i;
    return 1;
}

/* Which of the three frequent messages p[k..len) is, whole (E_*), or -1; its two numbers. */
static int
frequent(const unsigned char *p, Py_ssize_t len, Py_ssize_t k, PyObject **a, PyObject **b)
{
    unsigned long long h;
    long long x, y;
    int e;
    if (lit(p, len, &k, "XQueue (", 8)) {
        /* XQueue \((?:0x|)([0-9a-fA-F]+)\) from process \(?(\d+)\)? (?:(c)reated|destroyed)$ */
        if (!hex(p, len, &k, &h) || !lit(p, len, &k, ") from process ", 15))
            return -1;
        opt(p, len, &k, '(');
        if (!dec(p, len, &k, 0, &x))
            return -1;
        opt(p, len, &k, ')');
        if (lit(p, len, &k, " created", 8))
            e = E_CREATED;
        else if (lit(p, len, &k, " destroyed", 10))
            e = E_DESTROYED;
        else
            return -1;
        if (k != len)
            return -1;
        *a = PyLong_FromUnsignedLongLong(h);
        *b = PyLong_FromLongLong(x);
    }
    else if (lit(p, len, &k, "set priority ", 13)) {
        /* set priority (-?\d+) for XQueue (?:0x|)([0-9a-fA-F]+)$ */
        if (!dec(p, len, &k, 1, &x) || !lit(p, len, &k, " for XQueue ", 12) ||
            !hex(p, len, &k, &h) || k != len)
            return -1;
        e = E_PRIO;
        *a = PyLong_FromLongLong(x);
        *b = PyLong_FromUnsignedLongLong(h);
    }
    else if (lit(p, len, &k, "utilization of process ", 23)) {
        /* utilization of process \(?(\d+)\)? set to (-?\d+)$ */
        opt(p, len, &k, '(');
        if (!dec(p, len, &k, 0, &x))
            return -1;
        opt(p, len, &k, ')');
        if (!lit(p, len, &k, " set to ", 8) || !dec(p, len, &k, 1, &y) || k != len)
            return -1;
        e = E_UTIL;
        *a = PyLong_FromLongLong(x);
        *b = PyLong_FromLongLong(y);
    }
    else
        return -1;
    if (*a == NULL || *b == NULL) {
        Py_CLEAR(*a);
        Py_CLEAR(*b);
        return -2; /* out of memory: an exception is set */
    }
    return e;
}

/* Store a new reference in slot f of a fresh record (its slots are all NULL). */
#define PUT(obj, f, val) (*(PyObject **)((char *)(obj) + offsets[f]) = (val))

/*
 * scan(strs, i, out, n, last, cur_mid, extra, lazy=True) -> (i, n, last)
 *
 * From strs[i] on, appends a lazy record to ``out`` for every line taken, stopping at the first
 * line not taken (or the end). n: the parser's line number before strs[i]; last: its clock's
 * latest time of day (int, not None: the caller checks, and that the clock is regular); cur_mid:
 * epoch seconds of the current midnight; extra: bytes of each line's terminator (raw_len);
 * lazy: False for an eager parser (only the frequent messages' records are made).
 */
static PyObject *
scan(PyObject *self, PyObject *args)
{
    PyObject *strs, *out;
    Py_ssize_t i, extra;
    long long n, last;
    double cur_mid;
    int lazy = 1;
    if (!PyArg_ParseTuple(args, "O!nO!LLdn|p", &PyList_Type, &strs, &i, &PyList_Type, &out, &n,
                          &last, &cur_mid, &extra, &lazy))
        return NULL;
    if (lazy_cls == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "configure() first");
        return NULL;
    }
    if (i < 0)
        i = 0;
    Py_ssize_t count = PyList_GET_SIZE(strs);
    /* A file's lines come from a few threads: consecutive lines share their tid's int object
     * (one allocation and one free less per line; ints are immutable). */
    PyObject *tid_obj = NULL;
    long long tid_val = -1;
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
        int lazy_ok = 1; /* WARN/ERRO lines are never lazy: only their frequent messages here */
        if (memcmp(p + k, "INFO", 4) == 0)
            level = level_info;
        else if (memcmp(p + k, "DEBG", 4) == 0)
            level = level_debg;
        else if (memcmp(p + k, "WARN", 4) == 0) {
            level = level_warn;
            lazy_ok = 0;
        }
        else if (memcmp(p + k, "ERRO", 4) == 0) {
            level = level_erro;
            lazy_ok = 0;
        }
        else
            break; /* not XSched: the Python loop */
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
        /* the regular clock path only: within half a day of the last time of day */
        if (!(last - half_day <= tod && tod <= last + half_day))
            break;
        PyObject *ev_a = NULL, *ev_b = NULL;
        int e = frequent(p, len, k, &ev_a, &ev_b);
        if (e == -2)
            goto fail;
        PyObject *cached = NULL; /* (message, src_file, src_line, event, fields), held */
        int lazy_rec = 0;
        if (e < 0) {
            int known = 1;
            if (lazy_ok && lazy) {
                /* a lazy record: INFO/DEBG, and the message's first word is no key of the
                 * dispatcher (its event could only be Other; computed when read) */
                const unsigned char *sp = memchr(p + k, ' ', (size_t)(len - k));
                Py_ssize_t w1 = sp ? (Py_ssize_t)(sp - p) : len;
                PyObject *word = PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, p + k, w1 - k);
                if (word == NULL)
                    goto fail;
                known = PyDict_Contains(dispatch, word);
                Py_DECREF(word);
                if (known < 0)
                    goto fail;
            }
            if (!known)
                lazy_rec = 1;
            else {
                /* else a message the Python loop parsed in full before (a repeated warning):
                 * its parse is in the loop's cache, keyed by the text after the prefix */
                PyObject *key = PyUnicode_Substring(s, k, len);
                if (key == NULL)
                    goto fail;
                cached = PyDict_GetItemWithError(msg_cache, key);
                Py_DECREF(key);
                if (cached == NULL) {
                    if (PyErr_Occurred())
                        goto fail;
                    break; /* not seen yet: the Python loop parses it (and caches it) */
                }
                if (!PyTuple_CheckExact(cached) || PyTuple_GET_SIZE(cached) != 5)
                    break;
                Py_INCREF(cached); /* allocating below may run a collection, and any code */
            }
        }
        double ts = cur_mid + (double)tod / 1e6;
        if (tid_obj == NULL || tid != tid_val) {
            Py_XDECREF(tid_obj);
            tid_obj = PyLong_FromLongLong(tid);
            tid_val = tid;
            if (tid_obj == NULL) {
                Py_XDECREF(ev_a); Py_XDECREF(ev_b); Py_XDECREF(cached);
                goto fail;
            }
        }

        PyTypeObject *cls = lazy_rec ? lazy_cls : record_cls;
        PyObject *rec = cls->tp_alloc(cls, 0);
        PyObject *ev = NULL, *msg = NULL;
        if (rec != NULL && e >= 0) {
            ev = event_cls[e]->tp_alloc(event_cls[e], 0);
            msg = PyUnicode_Substring(s, k, len);
        }
        PyObject *v_tid = Py_NewRef(tid_obj);
        PyObject *v_tod = PyLong_FromLongLong(tod);
        PyObject *v_raw = PyLong_FromSsize_t(len + extra);
        PyObject *v_no = PyLong_FromLongLong(n + 1);
        PyObject *v_ts = PyFloat_FromDouble(ts);
        if (!rec || !v_tid || !v_tod || !v_raw || !v_no || !v_ts || (e >= 0 && (!ev || !msg))) {
            Py_XDECREF(v_tid); Py_XDECREF(v_tod); Py_XDECREF(v_raw); Py_XDECREF(v_no);
            Py_XDECREF(v_ts); Py_XDECREF(ev_a); Py_XDECREF(ev_b); Py_XDECREF(ev); Py_XDECREF(msg);
            Py_XDECREF(rec); Py_XDECREF(cached);
            goto fail;
        }
        PyObject *fields = empty_tuple;
        if (e >= 0) {
            *(PyObject **)((char *)ev + event_offsets[e][0]) = ev_a;
            *(PyObject **)((char *)ev + event_offsets[e][1]) = ev_b;
            PUT(rec, F_MESSAGE, msg);
            PUT(rec, F_SRC_FILE, Py_NewRef(Py_None));
            PUT(rec, F_SRC_LINE, Py_NewRef(Py_None));
            PUT(rec, F_EVENT, ev);
        }
        else if (cached != NULL) {
            PUT(rec, F_MESSAGE, Py_NewRef(PyTuple_GET_ITEM(cached, 0)));
            PUT(rec, F_SRC_FILE, Py_NewRef(PyTuple_GET_ITEM(cached, 1)));
            PUT(rec, F_SRC_LINE, Py_NewRef(PyTuple_GET_ITEM(cached, 2)));
            PUT(rec, F_EVENT, Py_NewRef(PyTuple_GET_ITEM(cached, 3)));
            fields = PyTuple_GET_ITEM(cached, 4);
        }
        PUT(rec, F_KIND, Py_NewRef(kind_xsched));
        PUT(rec, F_TEXT, Py_NewRef(s));
        PUT(rec, F_LEVEL, Py_NewRef(level));
        PUT(rec, F_TID, v_tid);
        PUT(rec, F_TOD, v_tod);
        PUT(rec, F_TAG, Py_NewRef(Py_None));
        PUT(rec, F_FIELDS, Py_NewRef(fields));
        PUT(rec, F_LINES, Py_NewRef(empty_tuple));
        PUT(rec, F_RAWLEN, v_raw);
        PUT(rec, F_TRUNC, Py_NewRef(Py_False));
        PUT(rec, F_LINENO, v_no);
        PUT(rec, F_TS, v_ts);
        PUT(rec, F_ANSI, Py_NewRef(Py_False));
        Py_XDECREF(cached);
        int rc = PyList_Append(out, rec);
        Py_DECREF(rec);
        if (rc < 0)
            goto fail;
        n++;
        if (tod > last)
            last = tod;
    }
stop:
    Py_XDECREF(tid_obj);
    return Py_BuildValue("nLL", i, n, last);
fail:
    Py_XDECREF(tid_obj);
    return NULL;
}

/*
 * key_times(recs, prev) -> (times, last) or None
 *
 * MergedTimeline's effective times of one run of one source's records (merge.py, _keyed): the
 * running maximum, from prev (an int, or None: none), of round(recs[i].timestamp * 1_000_000),
 * as int64s in a bytes object. None when a record is not a LogRecord or has no float timestamp
 * (or one out of range): the Python passes handle that run.
 */
static PyObject *
key_times(PyObject *self, PyObject *args)
{
    PyObject *recs, *prev_obj;
    if (!PyArg_ParseTuple(args, "O!O", &PyList_Type, &recs, &prev_obj))
        return NULL;
    if (record_cls == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "configure() first");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(recs);
    if (n == 0)
        Py_RETURN_NONE;
    int have_prev = prev_obj != Py_None;
    long long cur = 0;
    if (have_prev) {
        int overflow = 0;
        cur = PyLong_Check(prev_obj) ? PyLong_AsLongLongAndOverflow(prev_obj, &overflow) : 0;
        if (!PyLong_Check(prev_obj) || overflow || (cur == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            Py_RETURN_NONE;
        }
    }
    /* first pass: every record timed, in C's range (nothing is allocated until it holds) */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *r = PyList_GET_ITEM(recs, i);
        if (!(Py_IS_TYPE(r, lazy_cls) || Py_IS_TYPE(r, record_cls) ||
              PyObject_TypeCheck(r, record_cls)))
            Py_RETURN_NONE;
        PyObject *ts = *(PyObject **)((char *)r + offsets[F_TS]);
        if (ts == NULL || !PyFloat_CheckExact(ts))
            Py_RETURN_NONE;
        double x = PyFloat_AS_DOUBLE(ts) * 1e6;
        if (!(fabs(x) < 4e18))
            Py_RETURN_NONE;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(long long));
    if (out == NULL)
        return NULL;
    long long *t = (long long *)PyBytes_AS_STRING(out);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *r = PyList_GET_ITEM(recs, i);
        double x = PyFloat_AS_DOUBLE(*(PyObject **)((char *)r + offsets[F_TS])) * 1e6;
        /* Python's round(float): half to even */
        double rd = round(x);
        if (fabs(x - rd) == 0.5)
            rd = 2.0 * round(x / 2.0);
        long long v = (long long)rd;
        if (!have_prev || v > cur) {
            cur = v;
            have_prev = 1;
        }
        t[i] = cur;
    }
    return Py_BuildValue("NL", out, cur);
}

/* one run of the batch being merged: its times, rank, first seq, entries and read position */
typedef struct {
    Py_buffer view;
    long long *t;
    long long rank, s0;
    PyObject **items;
    Py_ssize_t len, at;
} seg_t;

static inline int
key_less(long long t1, long long r1, long long s1, long long t2, long long r2, long long s2)
{
    if (t1 != t2)
        return t1 < t2;
    if (r1 != r2)
        return r1 < r2;
    return s1 < s2;
}

static inline int
seg_less(seg_t *a, seg_t *b)
{
    return key_less(a->t[a->at], a->rank, a->s0 + a->at, b->t[b->at], b->rank, b->s0 + b->at);
}

static void
heap_down(seg_t **h, Py_ssize_t n, Py_ssize_t i)
{
    for (;;) {
        Py_ssize_t l = 2 * i + 1, m = i;
        if (l < n && seg_less(h[l], h[m]))
            m = l;
        if (l + 1 < n && seg_less(h[l + 1], h[m]))
            m = l + 1;
        if (m == i)
            return;
        seg_t *x = h[i];
        h[i] = h[m];
        h[m] = x;
        i = m;
    }
}

static int
get_i64(PyObject *obj, Py_buffer *v, Py_ssize_t need, int writable)
{
    if (PyObject_GetBuffer(obj, v, writable ? PyBUF_WRITABLE : PyBUF_SIMPLE) < 0)
        return -1;
    if (v->len % 8 != 0 || (need >= 0 && v->len / 8 != need)) {
        PyBuffer_Release(v);
        PyErr_SetString(PyExc_ValueError, "an int64 buffer of the wrong size");
        return -1;
    }
    return 0;
}

/*
 * merge_into(t, r, s, e, n, segs, full) -> (pos, appended, inserted, rejected)
 *
 * MergedTimeline's window is four parallel sequences: effective time t, source rank r and
 * per-source seq s (array('q') each) and the entries e (a list), in key order (t, r, s) over
 * [0, n). The caller has appended len(batch) placeholders to each (None in e). segs: the batch's
 * runs, (times, rank, s0, entries) each, times an int64 buffer in key order. This merges the
 * runs (a heap over their heads: no sort, no tuple per entry) and the result into the window
 * (backwards, from the first window entry after the batch's oldest), in place. With full true
 * and n > 0, batch entries older than the window's first are rejected (not placed): the last
 * `rejected` slots stay placeholders, for the caller to delete. pos: the window index of the
 * first entry that is new or moved (-1: nothing placed); inserted: batch entries placed before
 * the window's former last entry; appended: the rest. Keys are unique: entries are never compared.
 */
static PyObject *
merge_into(PyObject *self, PyObject *args)
{
    PyObject *to, *ro, *so, *e, *segs;
    Py_ssize_t n;
    int full;
    if (!PyArg_ParseTuple(args, "OOOO!nO!p", &to, &ro, &so, &PyList_Type, &e, &n, &PyList_Type,
                          &segs, &full))
        return NULL;
    Py_ssize_t k = PyList_GET_SIZE(segs);
    seg_t *sg = PyMem_Calloc(k ? k : 1, sizeof(seg_t));
    seg_t **heap = PyMem_Calloc(k ? k : 1, sizeof(seg_t *));
    Py_buffer tv = {0}, rv = {0}, sv = {0};
    int have_t = 0, have_r = 0, have_s = 0;
    Py_ssize_t got = 0, m = 0;
    long long *bt = NULL, *br = NULL, *bs = NULL;
    PyObject **bo = NULL;
    PyObject *result = NULL;
    if (sg == NULL || heap == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t gi = 0; gi < k; gi++) {
        PyObject *item = PyList_GET_ITEM(segs, gi);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 4) {
            PyErr_SetString(PyExc_TypeError, "segs: (times, rank, s0, entries) tuples");
            goto done;
        }
        seg_t *g = &sg[gi];
        if (get_i64(PyTuple_GET_ITEM(item, 0), &g->view, -1, 0) < 0)
            goto done;
        got = gi + 1; /* views held: released below */
        g->t = (long long *)g->view.buf;
        g->rank = PyLong_AsLongLong(PyTuple_GET_ITEM(item, 1));
        g->s0 = PyLong_AsLongLong(PyTuple_GET_ITEM(item, 2));
        if (PyErr_Occurred())
            goto done;
        PyObject *run = PyTuple_GET_ITEM(item, 3);
        if (!PyList_Check(run) && !PyTuple_Check(run)) {
            PyErr_SetString(PyExc_TypeError, "segs: entries must be a list or a tuple");
            goto done;
        }
        g->items = PySequence_Fast_ITEMS(run);
        g->len = PySequence_Fast_GET_SIZE(run);
        if (g->len != g->view.len / 8) {
            PyErr_SetString(PyExc_ValueError, "segs: as many times as entries");
            goto done;
        }
        m += g->len;
    }
    if (n < 0 || PyList_GET_SIZE(e) != n + m) {
        PyErr_SetString(PyExc_ValueError, "e: the window and the batch's placeholders");
        goto done;
    }
    if (get_i64(to, &tv, n + m, 1) < 0)
        goto done;
    have_t = 1;
    if (get_i64(ro, &rv, n + m, 1) < 0)
        goto done;
    have_r = 1;
    if (get_i64(so, &sv, n + m, 1) < 0)
        goto done;
    have_s = 1;
    long long *t = tv.buf, *r = rv.buf, *s = sv.buf;
    PyObject **eo = ((PyListObject *)e)->ob_item;
    if (m == 0) {
        result = Py_BuildValue("nnnn", (Py_ssize_t)-1, (Py_ssize_t)0, (Py_ssize_t)0, (Py_ssize_t)0);
        goto done;
    }
    bt = PyMem_Malloc(m * sizeof(long long));
    br = PyMem_Malloc(m * sizeof(long long));
    bs = PyMem_Malloc(m * sizeof(long long));
    bo = PyMem_Malloc(m * sizeof(PyObject *));
    if (!bt || !br || !bs || !bo) {
        PyErr_NoMemory();
        goto done;
    }
    /* the batch in key order: a heap over the runs' heads */
    Py_ssize_t hn = 0;
    for (Py_ssize_t i = 0; i < k; i++)
        if (sg[i].len > 0)
            heap[hn++] = &sg[i];
    for (Py_ssize_t i = hn / 2 - 1; i >= 0; i--)
        heap_down(heap, hn, i);
    for (Py_ssize_t j = 0; j < m; j++) {
        seg_t *g = heap[0];
        bt[j] = g->t[g->at];
        br[j] = g->rank;
        bs[j] = g->s0 + g->at;
        bo[j] = g->items[g->at];
        if (++g->at == g->len)
            heap[0] = heap[--hn];
        if (hn > 0)
            heap_down(heap, hn, 0);
    }
    /* a full window rejects what is older than its first entry */
    Py_ssize_t j0 = 0;
    if (full && n > 0)
        while (j0 < m && key_less(bt[j0], br[j0], bs[j0], t[0], r[0], s[0]))
            j0++;
    Py_ssize_t mb = m - j0;
    if (mb == 0) {
        result = Py_BuildValue("nnnn", (Py_ssize_t)-1, (Py_ssize_t)0, (Py_ssize_t)0, j0);
        goto done;
    }
    Py_ssize_t pos, inserted = 0;
    if (n == 0 || key_less(t[n - 1], r[n - 1], s[n - 1], bt[j0], br[j0], bs[j0]))
        pos = n; /* the common case: after the tail */
    else {
        Py_ssize_t lo = 0, hi = n; /* first window entry after the batch's oldest */
        while (lo < hi) {
            Py_ssize_t mid = lo + (hi - lo) / 2;
            if (key_less(t[mid], r[mid], s[mid], bt[j0], br[j0], bs[j0]))
                lo = mid + 1;
            else
                hi = mid;
        }
        pos = lo;
        lo = j0, hi = m; /* batch entries before the window's last */
        while (lo < hi) {
            Py_ssize_t mid = lo + (hi - lo) / 2;
            if (key_less(bt[mid], br[mid], bs[mid], t[n - 1], r[n - 1], s[n - 1]))
                lo = mid + 1;
            else
                hi = mid;
        }
        inserted = lo - j0;
    }
    /* the placeholders that will hold entries: their None references go (None's decref runs
     * no code while slots are empty) */
    for (Py_ssize_t q = n; q < n + m; q++)
        if (eo[q] != Py_None) {
            PyErr_SetString(PyExc_ValueError, "e: the batch's placeholders must be None");
            goto done;
        }
    for (Py_ssize_t q = n; q < n + mb; q++) {
        PyObject *old = eo[q];
        eo[q] = NULL;
        Py_DECREF(old);
    }
    Py_ssize_t i = n - 1, j = m - 1, q = n + mb - 1;
    while (j >= j0) {
        if (i >= pos && key_less(bt[j], br[j], bs[j], t[i], r[i], s[i])) {
            t[q] = t[i]; r[q] = r[i]; s[q] = s[i];
            eo[q] = eo[i];
            eo[i] = NULL;
            i--;
        }
        else {
            t[q] = bt[j]; r[q] = br[j]; s[q] = bs[j];
            eo[q] = Py_NewRef(bo[j]);
            j--;
        }
        q--;
    }
    result = Py_BuildValue("nnnn", pos, mb - inserted, inserted, j0);
done:
    if (have_t)
        PyBuffer_Release(&tv);
    if (have_r)
        PyBuffer_Release(&rv);
    if (have_s)
        PyBuffer_Release(&sv);
    for (Py_ssize_t g = 0; g < got && sg != NULL; g++)
        PyBuffer_Release(&sg[g].view);
    PyMem_Free(sg);
    PyMem_Free(heap);
    PyMem_Free(bt);
    PyMem_Free(br);
    PyMem_Free(bs);
    PyMem_Free(bo);
    return result;
}

/*
 * entries(cls, sid, seq0, recs) -> [cls(sid, seq0 + 1, recs[0]), cls(sid, seq0 + 2, recs[1]), ...]
 *
 * The hub's LogEntry tuples of one source's new records (logsources.LogHub._accept), made as
 * tuple.__new__(cls, (sid, seq, rec)) makes them: cls must be a tuple subclass of three fields
 * (a NamedTuple). One C loop instead of map/zip/count over ~10k records a batch at 100k lines/s.
 */
static PyObject *
entries(PyObject *self, PyObject *args)
{
    PyTypeObject *cls;
    PyObject *sid, *recs;
    long long seq0;
    if (!PyArg_ParseTuple(args, "O!OLO!", &PyType_Type, &cls, &sid, &seq0, &PyList_Type, &recs))
        return NULL;
    if (!PyType_IsSubtype(cls, &PyTuple_Type) || cls->tp_itemsize != sizeof(PyObject *)) {
        PyErr_SetString(PyExc_TypeError, "cls: a tuple subclass");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(recs);
    PyObject *out = PyList_New(n);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *q = PyLong_FromLongLong(seq0 + 1 + i);
        PyObject *t = q != NULL ? cls->tp_alloc(cls, 3) : NULL;
        if (t == NULL || q == NULL) {
            Py_XDECREF(t); Py_XDECREF(q);
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(t, 0, Py_NewRef(sid));
        PyTuple_SET_ITEM(t, 1, q);
        PyTuple_SET_ITEM(t, 2, Py_NewRef(PyList_GET_ITEM(recs, i)));
        PyList_SET_ITEM(out, i, t);
    }
    return out;
}

static PyMethodDef methods[] = {
    {"entries", entries, METH_VARARGS, "entries(cls, sid, seq0, recs) -> list of cls(sid, seq, rec)"},
    {"key_times", key_times, METH_VARARGS, "key_times(recs, prev) -> (int64 bytes, last) or None"},
    {"merge_into", merge_into, METH_VARARGS,
     "merge_into(t, r, s, e, n, segs, full) -> (pos, appended, inserted, rejected)"},
    {"configure", configure, METH_VARARGS,
     "configure(lazy_cls, record_cls, slots, kind, (erro, warn, info, debg), dispatch, max_parse, "
     "half_day, (created, destroyed, prio_set, util_set), msg_cache)"},
    {"scan", scan, METH_VARARGS,
     "scan(strs, i, out, n, last, cur_mid, extra, lazy=True) -> (i, n, last)"},
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
