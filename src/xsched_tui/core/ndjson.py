"""NDJSON output of ``xsched-tui logs [PATHS] [--follow] [--json]``. No Textual.

One JSON object per line, schema ``docs/log-record.schema.json`` (``$id``
``xsched-tui/log-record/v1``; every object carries ``"v": 1``). Two shapes:

* a **record**::

    {"v": 1, "source": "xserver", "pid": 855, "path": "logs/xserver.stderr.log", "lineno": 5,
     "time": "2026-11-28T02:30:52.803380+00:00", "tod": "02:30:52.803380",
     "kind": "XSCHED", "level": "INFO", "tid": 855, "message": "client process 866 connected, ...",
     "event": {"type": "client_connected", "pid": 866, "cmdline": "..."}, "tag": null,
     "fields": {}, "text": "[XSCHED INFO @ T 855 @ 02:30:52.803380] client process ...",
     "truncated": false, "src_file": null, "src_line": null}

  ``time`` is local time, ISO 8601 with µs and UTC offset, or null when the line has no stamp or
  no date is known; ``tod`` is XSched's own time of day (null without a stamp). ``lines`` (the
  lines of a grouped Python traceback) is present only for such records. Keys are always present
  otherwise; new keys may be added within v1 (consumers must ignore unknown keys); a change to an
  existing key's meaning or type makes v2.
* an **error** about an input path (missing, no logs in a folder, unreadable, binary)::

    {"v": 1, "error": "not_found", "path": "nope.log", "message": "nope.log: no such file ..."}

:func:`iter_paths_records` is the non-follow mode: files and folders (folders searched recursively
for ``*.log``), each file parsed with its own :class:`~xsched_tui.core.logparse.LogParser` and all
merged by time with :func:`~xsched_tui.core.merge.iter_merged` (streaming: one open file and one
pending record per source). It never raises for bad input; it yields :class:`PathError` objects,
before the records for problems found while looking at the paths, and in between records for
read errors that happen later.

Dates: XSched stamps have no date. Unless ``base_date`` is given, each file's date is the date of
its mtime (its last write), or the day before when its first stamp is later in the day than its
mtime (the file was started before midnight). Roll-overs inside a file are the parser's job.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from xsched_tui.core.logparse import LogParser, LogRecord
from xsched_tui.core.merge import iter_merged
from xsched_tui.core.replay import (
    LOG_SUFFIX,
    RESULT_SUFFIX,
    describe_log,
    log_label,
    read_lines,
    sniff_text,
)

__all__ = [
    "SCHEMA_ID",
    "SCHEMA_VERSION",
    "LogFileSource",
    "PathError",
    "PathRecord",
    "discover_log_files",
    "iter_paths_records",
    "record_to_ndjson",
    "to_ndjson_obj",
]

SCHEMA_VERSION = 1
SCHEMA_ID = "xsched-tui/log-record/v1"

# Error codes of PathError (the "error" key).
NOT_FOUND = "not_found"
NO_LOGS = "no_logs"
UNREADABLE = "unreadable"
BINARY = "binary"
NOT_A_FILE = "not_a_file"

_RECORD_KEYS = ("kind", "level", "tid", "message", "event", "tag", "fields", "text", "truncated",
                "src_file", "src_line")
# to_json() keys that are represented differently (lineno/time/tod) or not worth the bytes.
_SKIP = frozenset({"lineno", "tod_us", "timestamp", "raw_len", "ansi", "lines"})
_MTIME_SLACK_US = 60_000_000
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_ENCODE_ASCII = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode


@dataclass(frozen=True)
class LogFileSource:
    """One input log file of the headless ``logs`` command."""

    path: str
    label: str
    pid: int | None
    kind: str  # "process" or "xserver"
    pid_from: str | None
    base_date: date


@dataclass(frozen=True)
class PathRecord:
    """One record of one input file (what :func:`iter_paths_records` yields, besides errors)."""

    source: LogFileSource
    record: LogRecord

    @property
    def source_id(self) -> str:
        return self.source.path

    @property
    def seq(self) -> int | None:
        return self.record.lineno


@dataclass(frozen=True)
class PathError:
    """A problem with an input path. ``message`` is a sentence for the user; ``code`` one of
    ``not_found``, ``no_logs``, ``unreadable``, ``binary``, ``not_a_file``."""

    path: str
    code: str
    message: str

    def __str__(self) -> str:
        return self.message

    def to_json(self) -> dict[str, Any]:
        return {"v": SCHEMA_VERSION, "error": self.code, "path": self.path, "message": self.message}


# -- objects ----------------------------------------------------------------------------------

def _source_fields(src: Any) -> tuple[Any, Any, Any]:
    """(label, pid, path) of a source object or mapping; Nones when absent."""
    if src is None:
        return None, None, None
    if isinstance(src, dict) or (not hasattr(src, "label") and isinstance(src, Mapping)):
        label, pid, path = src.get("label"), src.get("pid"), src.get("path")
    else:
        label = getattr(src, "label", None)
        pid = getattr(src, "pid", None)
        path = getattr(src, "path", None)
    return label, pid, (None if path is None else os.fspath(path))


def _tod_text(tod_us: int) -> str:
    s, us = divmod(tod_us, 1_000_000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    return f"{h:02d}:{m:02d}:{s:02d}.{us:06d}"


def _iso_local(ts: float) -> str | None:
    try:
        return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="microseconds")
    except (OverflowError, OSError, ValueError):
        return None


def to_ndjson_obj(entry_or_record: Any, source_info: Any = None) -> dict[str, Any]:
    """The schema's object for a record (a LogRecord, or anything with ``.record``: LogEntry,
    PathRecord, ReplayEntry) or for a :class:`PathError`.

    ``source_info`` gives ``label``, ``pid`` and ``path`` (a hub SourceInfo, a RecordedSource, a
    LogFileSource or a mapping); default: the entry's own ``.source`` when it has one.
    """
    if isinstance(entry_or_record, PathError):
        return entry_or_record.to_json()
    rec = getattr(entry_or_record, "record", entry_or_record)
    src = source_info if source_info is not None else getattr(entry_or_record, "source", None)
    label, pid, path = _source_fields(src)
    lineno = rec.lineno if rec.lineno is not None else getattr(entry_or_record, "seq", None)
    ts = rec.timestamp
    tod = rec.tod_us
    obj: dict[str, Any] = {
        "v": SCHEMA_VERSION,
        "source": label,
        "pid": pid,
        "path": path,
        "lineno": lineno,
        "time": None if ts is None else _iso_local(ts),
        # (a garbage stamp such as 99:99:99 gives more than a day: not a time of day)
        "tod": None if tod is None or not 0 <= tod < 86_400_000_000 else _tod_text(tod),
    }
    rj = rec.to_json()
    for k in _RECORD_KEYS:
        obj[k] = rj.get(k)
    if rj.get("lines"):
        obj["lines"] = rj["lines"]
    for k, v in rj.items():  # keys a newer parser adds (v1 consumers ignore unknown keys)
        if k not in obj and k not in _SKIP:
            obj[k] = v
    return obj


def record_to_ndjson(entry_or_record: Any, source_info: Any = None) -> str:
    """One NDJSON line (no newline) for a record or a :class:`PathError`; see :func:`to_ndjson_obj`.

    UTF-8 text is kept as is; a line that could not be encoded as UTF-8 (lone surrogates) falls
    back to ``\\u`` escapes, so the output can always be written.
    """
    obj = to_ndjson_obj(entry_or_record, source_info)
    s = _encode(_ENCODE, obj)
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            s = _encode(_ENCODE_ASCII, obj)
    return s


_HUGE_INT = 10**4000  # str() refuses ints of more than 4300 digits (sys.int_max_str_digits)


def _encode(enc: Any, obj: Any) -> str:
    """``enc(obj)``, also when a garbage line gave an integer too long for str() (a 4000-digit
    XQueue handle): such a number is written as null (no reader could take it as 64-bit anyway;
    ``text`` still has the line)."""
    try:
        return enc(obj)
    except ValueError:
        return enc(_drop_huge_ints(obj))


def _drop_huge_ints(v: Any) -> Any:
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= _HUGE_INT:
        return None
    if isinstance(v, dict):
        return {k: _drop_huge_ints(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_drop_huge_ints(x) for x in v]
    return v


# -- paths ------------------------------------------------------------------------------------

def _base_date(path: str, st_mtime: float, first_tod_us: int | None) -> date:
    m = datetime.fromtimestamp(st_mtime)
    mtod = ((m.hour * 60 + m.minute) * 60 + m.second) * 1_000_000 + m.microsecond
    d = m.date()
    if first_tod_us is not None and first_tod_us > mtod + _MTIME_SLACK_US:
        d -= timedelta(days=1)
    return d


def _what(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def discover_log_files(paths: Iterable[str | os.PathLike[str]]
                       ) -> tuple[list[tuple[str, str | None]], list[PathError]]:
    """Expand ``paths`` into log files: ``[(file, folder it was found in or None)]`` plus errors.

    Files are taken whatever their name; folders are searched recursively for ``*.log`` (hidden
    entries skipped, symlinked folders not followed), in name order. Duplicates are dropped.
    """
    files: list[tuple[str, str | None]] = []
    errors: list[PathError] = []
    seen: set[str] = set()

    def add(f: str, root: str | None) -> None:
        key = os.path.realpath(f)
        if key not in seen:
            seen.add(key)
            files.append((f, root))

    for p in paths:
        p = os.fspath(p)
        try:
            st = os.stat(p)
        except FileNotFoundError:
            errors.append(PathError(p, NOT_FOUND, f"{p}: no such file or directory"))
            continue
        except OSError as e:
            errors.append(PathError(p, UNREADABLE, f"{p}: cannot access ({e.strerror or e})"))
            continue
        if stat.S_ISDIR(st.st_mode):
            found = 0
            others = 0
            walk_errors: list[OSError] = []
            for dirpath, dirnames, filenames in os.walk(p, onerror=walk_errors.append):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for fn in sorted(filenames):
                    if fn.startswith("."):
                        continue
                    if fn.endswith(LOG_SUFFIX):
                        add(os.path.join(dirpath, fn), p)
                        found += 1
                    else:
                        others += 1
            for e in walk_errors:
                where = e.filename or p
                errors.append(PathError(where, UNREADABLE,
                                        f"{where}: cannot list folder ({e.strerror or e})"))
            if not found and not walk_errors:
                more = f" ({others} other file(s); logs must be named *.log)" if others else ""
                errors.append(PathError(p, NO_LOGS, f"{p}: no *.log files in this folder{more}"))
        elif stat.S_ISREG(st.st_mode):
            add(p, None)
        else:
            errors.append(PathError(p, NOT_A_FILE, f"{p}: is {_what(st.st_mode)}, not a log file"))
    return files, errors


def _results_pid(path: str) -> int | None:
    sib = os.path.join(os.path.dirname(path), log_label(path) + RESULT_SUFFIX)
    try:
        for _n, text in read_lines(sib):
            try:
                data = json.loads(text)
            except ValueError:
                continue
            if isinstance(data, dict) and isinstance(data.get("pid"), int):
                return data["pid"]
    except OSError:
        return None
    return None


def _sources(files: list[tuple[str, str | None]], base_date: date | None,
             errors: list[PathError]) -> list[LogFileSource]:
    out: list[LogFileSource] = []
    for f, _root in files:
        why = sniff_text(f)
        if why is not None:
            code = BINARY if why.startswith("binary") else (
                NOT_A_FILE if why.startswith("not") else UNREADABLE)
            errors.append(PathError(f, code, f"{f}: skipped, {why}"))
            continue
        try:
            mtime = os.stat(f).st_mtime
        except OSError as e:
            errors.append(PathError(f, UNREADABLE, f"{f}: cannot access ({e.strerror or e})"))
            continue
        d = describe_log(f, result_pid=_results_pid(f))
        bd = base_date or _base_date(f, mtime, d.first_tod_us)
        out.append(LogFileSource(f, d.label, d.pid, d.kind, d.pid_from, bd))
    # Same label twice (three xserver logs from three runs): qualify with the parent folder.
    counts: dict[str, int] = {}
    for s in out:
        counts[s.label] = counts.get(s.label, 0) + 1
    seen: dict[str, int] = {}
    final = []
    for s in out:
        label = s.label
        if counts[label] > 1:
            parent = Path(s.path).parent.name
            label = f"{parent}/{label}" if parent else label
        n = seen.get(label, 0) + 1
        seen[label] = n
        if n > 1:
            label = f"{label}#{n}"
        final.append(LogFileSource(s.path, label, s.pid, s.kind, s.pid_from, s.base_date))
    return final


def iter_paths_records(paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str], *,
                       base_date: date | None = None, patterns: Sequence[Any] = ()
                       ) -> Iterator[PathRecord | PathError]:
    """Every record of the given files/folders, merged by time; :class:`PathError` for problems.

    Never raises for bad input (missing paths, folders without logs, unreadable or binary files,
    files that fail while being read). Invalid ``patterns`` raise ValueError from the parser.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files, errors = discover_log_files(paths)
    sources = _sources(files, base_date, errors)
    yield from errors
    late: list[PathError] = []

    def stream(src: LogFileSource) -> Iterator[PathRecord]:
        parser = LogParser(base_date=src.base_date, patterns=patterns)
        try:
            for _n, text in read_lines(src.path):
                for rec in parser.feed(text):
                    yield PathRecord(src, rec)
        except OSError as e:
            late.append(PathError(src.path, UNREADABLE,
                                  f"{src.path}: read failed ({e.strerror or e}); the rest is missing"))
        for rec in parser.flush():
            yield PathRecord(src, rec)

    for _eff, _rank, item in iter_merged([stream(s) for s in sources]):
        if late:
            yield from late
            late.clear()
        yield item
    yield from late
