"""Live XSched log sources: files, folders, launched processes' stderr, /proc/PID/fd/2, replays.

No Textual here (STYLE.md: core never imports Textual). Every front-end consumes the same records.

Shape (PERFORMANCE.md "Log ingest", "Tail polling cost", "Memory"; STYLE.md rules 6 and 8):

* :class:`FileTailer` follows one file with ``os.pread`` on one descriptor (never ``mmap``: a
  truncated live file must not SIGBUS us). It reads only what ``fstat`` says was appended, splits
  CR / LF / CRLF lines, holds a partial last line (capped at :data:`HELD_LINE_CAP` bytes) until
  its newline comes or the file has been quiet for :data:`PARTIAL_GRACE` seconds, and notices
  truncation (size < offset), rotation (the path names another inode: the old handle is read to
  its end first), deletion (what was read is kept), permission problems and non-regular files
  (a FIFO named ``*.log`` is never opened for reading: that would block). A big file is started
  :data:`TAIL_START_BYTES` before its end, at a line start, and the skipped size is reported (the
  big-file index in :mod:`xsched_tui.core.logindex` serves the rest).
* :class:`LogHub` owns the sources and **one** worker thread that reads, parses (one
  :class:`~xsched_tui.core.logparse.LogParser` per source, so tracebacks group and dates roll over
  per source) and delivers :class:`LogBatch` objects to ``on_batch`` at most every ``interval``
  seconds (10 Hz), only when something changed. Folders are watched with ``watchfiles`` (inotify)
  in a thread per folder; nothing polls idle files. Where ``watchfiles`` is missing or fails (for
  example the inotify watch limit), files are ``stat``-polled instead: files that just produced
  data every tick, idle files at 4 Hz, the folder listing at 1 Hz; :attr:`LogHub.status` says so.
* A writer faster than we can parse (more than ``LAG_SKIP_TOTAL`` unread bytes over the busy
  files) makes the tailer skip ahead near the end of that file, counting the lines it gave up:
  latency stays bounded and the loss is reported, never hidden.
* Files that produced data in the last :data:`HOT_SECONDS` are read every tick without waiting
  for an inotify event, which keeps write-to-delivery latency near one tick under load and stops
  event storms from waking the worker more than ``1/interval`` times a second.
* Memory is bounded everywhere: per-source ring buffers (``ring_size``, shrunk so that all of
  them together hold at most ``total_entries``), capped stream inboxes, a capped outbox of
  undelivered entries. A slow consumer (``pending()`` above ``max_pending``) makes the hub drop
  the oldest undelivered entries and report them as ``LogBatch.skipped`` instead of growing.

Threading: ``add_*``, ``push_lines``, ``end_source``, ``remove``, ``snapshot`` and ``stop`` may
be called from any thread and never do blocking I/O except ``add_proc_fd2`` (a ``readlink`` and a
``stat`` in /proc). ``on_batch`` runs on the hub's worker thread and must not block: a Textual app
should ``post_message`` the batch (thread-safe), not ``call_from_thread``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import fnmatch
import gc
import heapq
import os
import re
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import compress, count, repeat
from operator import add, attrgetter, is_not
from typing import TYPE_CHECKING, NamedTuple

from xsched_tui.core.batchscan import BatchScan, eager_positions
from xsched_tui.core.headlines import (
    HEADLINE_EVENT_TYPES,
    Headline,
    HeadlineBook,
    describe_event,
    headline_for,
    headline_for_exit,
    new_headline,
)
from xsched_tui.core.logparse import (
    ClientClosed,
    ClientConnected,
    HttpListening,
    Kind,
    Level,
    LogParser,
    LogRecord,
    Other,
    SchedulerChosen,
    ServerPolicy,
    XQueueCreated,
    compiled,
    event_types,
)

if TYPE_CHECKING:
    from xsched_tui.core.runner import Child, ExitStatus

__all__ = [
    "DEFAULT_RING",
    "HELD_LINE_CAP",
    "TAIL_START_BYTES",
    "FileTailer",
    "LogBatch",
    "LogEntry",
    "LogHub",
    "SourceInfo",
    "SourceStats",
    "TailRead",
    "pid_from_name",
]

DEFAULT_RING = 50_000  # entries kept per source
DEFAULT_TOTAL = 100_000  # entries kept over all sources (rings shrink to fit); measured ~0.85 KB each
DEFAULT_UNDELIVERED = 50_000  # entries waiting for a slow consumer before the oldest are skipped
INBOX_CAP = 100_000  # lines waiting in one stream's inbox before the oldest are skipped
TAIL_START_BYTES = 1024 * 1024  # a bigger file is followed from this far before its end
HELD_LINE_CAP = 64 * 1024  # bytes kept of a line whose newline has not come yet
READ_BUDGET = 512 * 1024  # bytes read from one file per tick (fairness between files)
STREAM_BUDGET = 5_000  # lines taken from one stream's inbox per tick
LAG_SKIP_TOTAL = 8 * 1024 * 1024  # unread bytes (split over the busy files) before skipping ahead
LAG_SKIP_MIN = 128 * 1024  # ...but at least this much per file
TICK_WORK = 0.6  # share of `interval` one tick may spend reading and parsing before delivering
LIGHT_LINES = 500  # lines in this and the previous second: at most this, a source is read first
PARTIAL_GRACE = 0.5  # s: a held partial line is emitted after the file was quiet this long
HOT_SECONDS = 2.0  # s: a file that produced data this recently is read every tick
RATE_WINDOW = 5  # s: lines_per_s is measured over this window
IDLE_POLL = 0.25  # s: poll fallback, idle files (<= 4 Hz)
DIR_POLL = 1.0  # s: poll fallback, folder listings
# watchfiles: yield after this much quiet... (its thread also wakes this often while idle: 50 ms is
# ~0.14 % of a core for the idle watcher, 30 ms ~0.25 %; the first line after a quiet spell is seen
# ~60 ms after its write instead of ~35 ms; busy files are read every tick without waiting for it)
WATCH_STEP_MS = 50
WATCH_DEBOUNCE_MS = 100  # ...or after this long at most
# A watched folder whose files get more than this many lines a second has its inotify watcher
# paused: its busy files are read every tick anyway, and the others are stat-polled (<= 4 Hz) with
# the folder listed every DIR_POLL s. XSched writes each line with its own write() to an
# unbuffered stderr, and watchfiles' notify thread costs ~3 us per write: 33 % of a core at 100k
# single-line writes/s over 64 files (vs 4 % for 10 ms chunks), for events the tick does not need.
WATCH_PAUSE_LINES = 2_000
WATCH_RESUME_AFTER = 5.0  # s below that rate before the watcher is started again

_DIR_POLLED = object()  # marker in the watcher table: this folder is polled


# ---------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class SourceInfo:
    """One log source, tied to a process where we know it.

    ``kind``: "file" | "process" | "proc_fd" | "replay" | "stream".
    ``pid_from``: "name" (file name pattern) | "content" (the log itself) | "launch" | None.
    ``role``: "xserver" when the content shows the file is the xserver's own log (its client pids
    are then never taken as the file's pid), else None.
    """

    id: str
    label: str
    kind: str
    path: str | None = None
    pid: int | None = None
    pid_from: str | None = None
    role: str | None = None


class LogEntry(NamedTuple):
    """One parsed record from one source; ``seq`` counts records per source from 1."""

    source_id: str
    seq: int
    record: LogRecord


@dataclass(frozen=True)
class SourceStats:
    source_id: str
    lines: int  # records parsed so far (a grouped traceback counts once)
    lines_per_s: float  # over the last ~RATE_WINDOW seconds
    warnings: int
    errors: int
    last_event: str | None
    truncated_lines: int  # lines cut to the parser's cap (1 MiB lines survive, capped)
    dropped: int  # entries evicted from this source's ring buffer (and inbox overflow)
    state: str  # "live" | "idle" | "deleted" | "rotated" | "truncated" | "ended" | "error: ..."
    size: int | None  # file size in bytes (files only)
    skipped_bytes: int = 0  # bytes not read: a big file started near its end, or skipped ahead
    skipped_lines: int = 0  # lines skipped ahead because the writer was faster than parsing


@dataclass(frozen=True)
class LogBatch:
    """What changed since the previous batch.

    ``entries``: new records of all sources, in arrival order (per source in file order).
    ``stats``/``sources``: the current state of every source (replace, don't merge).
    ``headlines``: headlines that are new or whose repeat ``count`` grew (key: source_id + text).
    ``notices``: one-line messages for the user (rotated, truncated, watcher fallback...).
    ``skipped``: lines dropped since the previous batch: the consumer was too slow (oldest
    undelivered entries dropped), or a writer was faster than parsing (skipped ahead in a file).
    ``scan``: the entries' runs per source and the positions of their records that are not lazy
    (:class:`~xsched_tui.core.batchscan.BatchScan`), as the hub found them while accepting the
    records; None when unknown (consumers then scan the entries themselves).
    """

    entries: tuple[LogEntry, ...]
    stats: tuple[SourceStats, ...]
    sources: tuple[SourceInfo, ...]
    headlines: tuple[Headline, ...]
    notices: tuple[str, ...]
    skipped: int
    scan: BatchScan | None = None


# ---------------------------------------------------------------------------------------------
# pid attribution from a file name

_PID_NAME_RES = (
    re.compile(r"(?:^|[^a-z0-9])pid[-_.]?(\d+)(?!\d)", re.I),  # pid884, pid-884, app.pid_884.log
    re.compile(r"^(\d+)(?:\.[a-z]+)*$", re.I),  # 884.log, 884.stderr.log
    re.compile(r"[-_.](\d+)(?:\.(?:stderr|stdout|err|out|log|txt))+$", re.I),  # x-884.stderr.log, x.884.log
)


def _pid_max() -> int:
    try:
        with open("/proc/sys/kernel/pid_max") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 4_194_304


_PID_MAX = _pid_max()


def pid_from_name(path: str) -> int | None:
    """The pid a log file's name claims (``*.<pid>.log``, ``pid<pid>``, ``pid-<pid>``,
    ``<name>-<pid>.stderr.log``, ``<pid>.log``), or None."""
    name = os.path.basename(path)
    for rx in _PID_NAME_RES:
        m = rx.search(name)
        if m:
            pid = int(m.group(1))
            if 1 < pid <= _PID_MAX:
                return pid
    return None


# ---------------------------------------------------------------------------------------------
# One file


@dataclass
class TailRead:
    """What one :meth:`FileTailer.poll` produced."""

    lines: list[bytes] = dataclasses.field(default_factory=list)
    notices: list[str] = dataclasses.field(default_factory=list)
    events: list[str] = dataclasses.field(default_factory=list)  # "rotated", "truncated", "deleted", ...
    skipped_bytes: int = 0  # skipped ahead because of lag_limit
    skipped_lines: int = 0


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def _kind_of_mode(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "not a regular file"


class FileTailer:
    """Follow one file: appended lines, truncation, rotation, deletion. Never raises on I/O.

    ``path`` is what is shown and re-checked for rotation; ``open_path`` (default ``path``) is
    what is opened (``/proc/PID/fd/2`` for a process's stderr). Not thread-safe: one owner.
    """

    def __init__(
        self,
        path: str,
        *,
        open_path: str | None = None,
        tail_bytes: int = TAIL_START_BYTES,
        held_cap: int = HELD_LINE_CAP,
        name: str | None = None,
    ) -> None:
        self.path = path
        self.open_path = open_path or path
        self.name = name or os.path.basename(path) or path
        self.tail_bytes = tail_bytes
        self.held_cap = held_cap
        self.state = "new"  # new | open | missing | deleted | error: ...
        self.offset = 0
        self.size: int | None = None
        self.mtime: float | None = None
        self.identity: tuple[int, int] | None = None
        self.skipped_bytes = 0  # bytes before the tail start of a big file
        self.cut_lines = 0  # lines cut to held_cap while waiting for their newline
        self.opened_once = False
        self.open_size = 0  # size when the current file was opened
        self._fd: int | None = None
        self._partial = b""
        self._discarding = False  # the held line overflowed: drop bytes until its newline
        self._skip_to_nl = False  # a tail start landed mid-line: drop bytes until the next newline
        self._cr_held = False  # the last chunk ended in "\r": maybe half of a CRLF
        self._partial_since: float | None = None
        self._reported: str | None = None  # last error/missing notice, to report each once

    # -- public -----------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._fd is not None

    def partial_due(self) -> float | None:
        """Monotonic time at which the held partial line should be flushed, or None."""
        if self._partial_since is None:
            return None
        return self._partial_since + PARTIAL_GRACE

    def poll(self, max_bytes: int = READ_BUDGET, *, now: float | None = None,
             check_path: bool = True, lag_limit: int | None = None) -> TailRead:
        """Read what was appended since the last poll (at most ``max_bytes``).

        ``check_path=False`` skips the ``stat`` of the path (rotation/deletion check) and only
        ``fstat``s the open file (truncation): for a busy file whose folder is watched, where a
        rename or unlink arrives as an inotify event anyway. ``lag_limit``: when more than this
        was written since the file was opened and not read yet, skip ahead (keeping a quarter of
        it) and report the bytes and lines given up in the result."""
        out = TailRead()
        size: int | None = None
        if self._fd is None:
            self._open(out)
            size = self.size
        else:
            if check_path:
                self._check(out)
            if self._fd is not None and out.events[-1:] != ["rotated"]:
                size = self._check_size(out)
            else:
                size = self.size
            if lag_limit is not None and self._fd is not None and self.live_backlog > lag_limit:
                out.skipped_bytes, out.skipped_lines = self.skip_ahead(max(1, lag_limit // 4))
                size = self.size
        if self._fd is not None:
            self._read(out, max_bytes, time.monotonic() if now is None else now, size)
        return out

    @property
    def backlog(self) -> int:
        """Bytes appended (as of the last check) but not read yet."""
        return max(0, (self.size or 0) - self.offset) if self._fd is not None else 0

    @property
    def live_backlog(self) -> int:
        """Unread bytes written after the file was opened (what was there at open is caught up
        on, never skipped: the tail start already bounds it)."""
        if self._fd is None:
            return 0
        return max(0, (self.size or 0) - max(self.offset, self.open_size))

    def skip_ahead(self, keep: int) -> tuple[int, int]:
        """Writer faster than we can parse: jump to ``keep`` bytes before the end, at a line start.
        Returns (bytes, lines) skipped; bytes are also added to ``skipped_bytes``."""
        if self._fd is None:
            return 0, 0
        try:
            size = os.fstat(self._fd).st_size
        except OSError:
            return 0, 0
        self.size = size
        start = size - keep
        if start <= self.offset:
            return 0, 0
        try:
            head = os.pread(self._fd, min(self.held_cap, keep), start - 1)
        except OSError:
            head = b""
        self._reset_line()  # a held partial line ends in the skipped range: counted below
        nl = head.find(b"\n")
        lines = 0
        if nl >= 0:
            start += nl
        else:
            self._skip_to_nl = True  # the line across `start` is dropped too
            lines = 1
        skipped = start - self.offset
        # Count the lines given up (newline counting runs at GiB/s: M1), up to 64 MiB.
        pos = self.offset
        while pos < start and pos - self.offset < 64 * 1024 * 1024:
            try:
                chunk = os.pread(self._fd, min(1024 * 1024, start - pos), pos)
            except OSError:
                break
            if not chunk:
                break
            lines += chunk.count(b"\n")
            pos += len(chunk)
        self.offset = start
        self.skipped_bytes += skipped
        return skipped, lines

    def flush(self) -> list[bytes]:
        """Give up waiting for the newline of the held partial line and return it."""
        line = self._take_partial()
        return [] if line is None else [line]

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    # -- internals --------------------------------------------------------------------------
    def _report(self, out: TailRead, state: str, text: str) -> None:
        self.state = state
        if self._reported != text:
            self._reported = text
            out.notices.append(text)

    def _open(self, out: TailRead) -> None:
        try:
            st = os.stat(self.open_path)
        except FileNotFoundError:
            if self.state in ("open", "deleted"):
                self.state = "deleted"
            else:
                self._report(out, "missing", f"{self.name}: no such file (yet)")
            return
        except PermissionError:
            self._report(out, "error: permission denied",
                         f"{self.name}: permission denied (cannot stat {self.open_path})")
            return
        except OSError as exc:
            self._report(out, f"error: {exc.strerror}", f"{self.name}: {exc.strerror}")
            return
        if not stat.S_ISREG(st.st_mode):
            what = _kind_of_mode(st.st_mode)
            self._report(out, f"error: {what}, not a regular file",
                         f"{self.name}: is {what}, not a regular file: not followed")
            return
        try:
            fd = os.open(self.open_path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except PermissionError:
            self._report(out, "error: permission denied", f"{self.name}: permission denied (cannot read)")
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            self._report(out, f"error: {exc.strerror}", f"{self.name}: {exc.strerror}")
            return
        try:
            fst = os.fstat(fd)
        except OSError:
            os.close(fd)
            return
        if not stat.S_ISREG(fst.st_mode):  # replaced between stat and open
            os.close(fd)
            return
        reopened = self.opened_once
        was = self.state
        self._fd = fd
        self._reported = None
        self.identity = (fst.st_dev, fst.st_ino)
        self.size = self.open_size = fst.st_size
        self.mtime = fst.st_mtime
        self.state = "open"
        self.offset = 0
        self._reset_line()
        if fst.st_size > self.tail_bytes:
            start = fst.st_size - self.tail_bytes
            try:
                head = os.pread(fd, min(self.held_cap, self.tail_bytes), start - 1)
            except OSError:
                head = b""
            nl = head.find(b"\n")
            if nl >= 0:
                start += nl  # just after that newline (head starts one byte early)
            else:
                self._skip_to_nl = True  # mid-line: drop up to the next newline
            self.offset = start
            self.skipped_bytes += start
            out.notices.append(
                f"{self.name}: started near the end ({_human(fst.st_size - start)} of "
                f"{_human(fst.st_size)}); {_human(start)} before it not read here")
        if reopened and was in ("deleted", "missing"):
            out.notices.append(f"{self.name}: the file is back; following it from the start")
            out.events.append("reappeared")
        self.opened_once = True

    def _check(self, out: TailRead) -> None:
        """Rotation, deletion and truncation checks on an open file."""
        assert self._fd is not None
        try:
            st = os.stat(self.open_path)
            gone = False
        except FileNotFoundError:
            gone = True
            st = None
        except OSError:
            gone, st = False, None
        if gone:
            self._drain(out)
            self.close()
            self.state = "deleted"
            out.events.append("deleted")
            out.notices.append(f"{self.name}: deleted (what was read is kept)")
            return
        if st is not None and (st.st_dev, st.st_ino) != self.identity:
            self._drain(out)
            self.close()
            out.events.append("rotated")
            out.notices.append(f"{self.name}: rotated (finished the old file, following the new one)")
            self.state = "new"
            self._open(out)
            return

    def _check_size(self, out: TailRead) -> int | None:
        """fstat the open file: its size now, after handling a truncation."""
        assert self._fd is not None
        try:
            fst = os.fstat(self._fd)
        except OSError:
            return None
        self.size, self.mtime = fst.st_size, fst.st_mtime
        if fst.st_size < self.offset:
            line = self._take_partial()  # what was held belonged to the old content
            if line is not None:
                out.lines.append(line)
            out.events.append("truncated")
            out.notices.append(f"{self.name}: truncated ({_human(self.offset)} -> "
                               f"{_human(fst.st_size)}); reading from the start")
            self.offset = 0
            self._reset_line()
        return fst.st_size

    def _drain(self, out: TailRead) -> None:
        """Read an old handle to its end (rotation/deletion), then flush its held line."""
        while self._fd is not None:
            before = self.offset
            self._read(out, READ_BUDGET, time.monotonic())
            if self.offset == before:
                break
        line = self._take_partial()
        if line is not None:
            out.lines.append(line)

    def _read(self, out: TailRead, budget: int, now: float, size: int | None = None) -> None:
        fd = self._fd
        assert fd is not None
        if size is None:
            try:
                size = os.fstat(fd).st_size
            except OSError:
                return
        self.size = size
        n = min(size - self.offset, budget)
        if n <= 0:
            return
        try:
            data = os.pread(fd, n, self.offset)
        except OSError as exc:
            out.notices.append(f"{self.name}: read failed: {exc.strerror}")
            return
        if not data:
            return
        self.offset += len(data)
        self._split(data, out.lines, now)

    def _split(self, data: bytes, lines: list[bytes], now: float) -> None:
        if self._cr_held:
            data = b"\r" + data
            self._cr_held = False
        if b"\r" in data:
            if data[-1:] == b"\r":
                self._cr_held = True  # maybe the first half of a CRLF split across reads
                data = data[:-1]
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        parts = data.split(b"\n")
        tail = parts.pop()
        if parts:
            if self._skip_to_nl:  # the tail start landed mid-line: drop that fragment
                del parts[0]
                self._skip_to_nl = False
            elif self._discarding:  # an over-long line ends here: keep its capped head
                parts[0] = self._partial
                self._discarding = False
            elif self._partial:
                parts[0] = self._partial + parts[0]
            self._partial = b""
            self._partial_since = None
            lines.extend(parts)
        if self._skip_to_nl:
            return
        if self._discarding:
            self._partial_since = now  # still inside the over-long line: bytes are dropped
            return
        if tail:
            held = self._partial + tail if self._partial else tail
            if len(held) > self.held_cap:
                held = held[: self.held_cap]
                self._discarding = True
                self.cut_lines += 1
            self._partial = held
        if self._partial or self._cr_held:
            self._partial_since = now

    def _take_partial(self) -> bytes | None:
        had = (bool(self._partial) or self._cr_held or self._discarding) and not self._skip_to_nl
        line = self._partial
        self._reset_line()
        return line if had else None

    def _reset_line(self) -> None:
        self._partial = b""
        self._discarding = self._skip_to_nl = self._cr_held = False
        self._partial_since = None


# ---------------------------------------------------------------------------------------------
# The hub

_XSERVER_EVENTS = (ServerPolicy, HttpListening, ClientConnected, ClientClosed)
_XSERVER_MAIN_THREAD = (ServerPolicy,)  # logged from xserver's main thread: tid == pid
_ERRO, _WARN, _INFO, _DEBG = Level.ERRO, Level.WARN, Level.INFO, Level.DEBG
_PLAIN = Kind.PLAIN
_tuple_new = tuple.__new__


# LogHub._accept's LogEntry tuples in one C loop (the map over tuple.__new__ without it)
_entries: Callable[..., list[LogEntry]] | None = compiled("entries")
_get_level = attrgetter("level")
_get_truncated = attrgetter("truncated")
_HL_KINDS = (Kind.TRACEBACK, Kind.LOADER, Kind.MIOPEN)
_XSCHED = Kind.XSCHED
_MISS = object()
_SCAN_LOOP = 32  # _scan: records looked at one by one rather than by C-level passes


def _scan(recs: list[LogRecord]) -> tuple[int, int, int, list[LogRecord]]:
    """(warnings, errors, truncated lines, the interesting records in order) of ``recs``, none
    of them lazy.

    Interesting: records with a typed event (or none) plus every warning and error, minus
    XSched INFO/DEBG lines whose event is Other: those never attribute a pid or make a headline.
    """
    if len(recs) <= _SCAN_LOOP:  # a few: one Python loop beats a dozen C-level passes
        warn = err = trunc = 0
        interesting = []
        for r in recs:
            lv = r.level
            if lv is _WARN:
                warn += 1
            elif lv is _ERRO:
                err += 1
            if r.truncated:
                trunc += 1
            if r.kind is not _PLAIN and (
                    type(r.event) is not Other or lv is _WARN or lv is _ERRO):
                interesting.append(r)
        return warn, err, trunc, interesting
    n = len(recs)
    levels = list(map(_get_level, recs))
    warn = levels.count(_WARN)
    err = levels.count(_ERRO)
    trunc = list(map(_get_truncated, recs)).count(True)
    types = event_types(recs)  # lazy records (plain INFO/DEBG lines) stay unparsed
    n_other = types.count(Other)
    # Most lines are XSched INFO/DEBG messages without a typed event: candidates are the
    # records with another event type (or none) plus every warning and error, in order.
    if not warn and not err and n_other == n:
        return warn, err, trunc, []
    idx = list(compress(range(n), map(is_not, types, repeat(Other)))) if n_other != n else []
    for lv, k in ((_WARN, warn), (_ERRO, err)):
        i = -1
        for _ in range(k):
            i = levels.index(lv, i + 1)
            idx.append(i)
    if warn or err:
        idx = sorted(set(idx))
    cand = [recs[i] for i in idx]
    interesting = [r for r in cand if r.kind is not _PLAIN and not (
        type(r.event) is Other and (r.level is _INFO or r.level is _DEBG))]
    return warn, err, trunc, interesting


def _norm_path(path: str) -> str:
    """Absolute path with the folder resolved (the file itself is not: rotation swaps it)."""
    p = os.path.abspath(os.path.expanduser(os.fspath(path)))
    d, name = os.path.split(p)
    return os.path.join(os.path.realpath(d), name)


class _Src:
    """Mutable per-source state, owned by the hub (guarded by its lock where shared)."""

    def __init__(self, info: SourceInfo, ring: int, base_date: _dt.date | None) -> None:
        self.info = info
        self.base_date = base_date
        self.parser: LogParser | None = None
        self.tailer: FileTailer | None = None
        self.inbox: list[str | bytes] = []
        self.ring: deque[LogEntry] = deque(maxlen=ring)
        self.seq = 0
        self.lines = self.warnings = self.errors = self.truncated = self.dropped = 0
        self.last_event: str | None = None
        self.rate: deque[list[int]] = deque()  # [second, count]
        self.last_data = 0.0  # monotonic time of the last line
        self.transition: tuple[str, float] | None = None  # ("rotated"|"truncated", when)
        self.end_note: str | None = None  # streams: set by end_source
        self.ended = False
        self.polled = False  # stat-polled (no inotify for it)
        self.next_poll = 0.0
        self.pid_final = info.pid is not None  # name/launch/explicit pids are not replaced
        self.pid_guess = False  # a provisional pid from content (the scheduler line's tid)
        self.removed = False
        self.fed_since_flush = False
        self.skipped_lines = 0  # lines given up because the writer was faster than parsing
        self.lag_noticed = False
        self.hl_info: SourceInfo | None = None  # the info hl_cache's texts were made for
        self.hl_cache: dict[tuple, tuple[str, str] | None] = {}  # LogHub._headline_text


class _Dir:
    def __init__(self, path: str, recursive: bool) -> None:
        self.path = path
        self.recursive = recursive
        self.patterns: set[str] = set()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.polled = False
        self.next_scan = 0.0
        self.needs_scan = True
        self.error: str | None = None
        self.paused = False  # watcher stopped while its files are busy (polled meanwhile)
        self.quiet_since: float | None = None


class LogHub:
    """Owns log sources and one worker thread; delivers :class:`LogBatch` es to ``on_batch``.

    ``interval``: minimum seconds between batches (0.1 = 10 Hz). ``ring_size``: entries kept per
    source, shrunk so that all sources together keep at most ``total_entries``.
    ``pending``: the consumer's backlog (e.g. messages not yet handled); while it is above
    ``max_pending`` nothing is delivered and at most ``max_undelivered`` entries wait (the oldest
    beyond that are dropped and reported as ``skipped``). ``watch``: True = watchfiles (falls back
    to polling by itself), False = stat polling. ``base_date``/``patterns`` go to every
    :class:`LogParser` (a file's own default date is its mtime's date).
    """

    def __init__(
        self,
        on_batch: Callable[[LogBatch], None] | None = None,
        *,
        interval: float = 0.1,
        ring_size: int = DEFAULT_RING,
        total_entries: int = DEFAULT_TOTAL,
        pending: Callable[[], int] | None = None,
        max_pending: int = 4,
        max_undelivered: int = DEFAULT_UNDELIVERED,
        tail_bytes: int = TAIL_START_BYTES,
        watch: bool = True,
        base_date: _dt.date | None = None,
        patterns: Sequence = (),
    ) -> None:
        self.on_batch = on_batch
        self.interval = max(0.01, float(interval))
        self.ring_size = max(1, int(ring_size))
        self.total_entries = max(self.ring_size, int(total_entries))
        self.pending = pending
        self.max_pending = max_pending
        self.tail_bytes = tail_bytes
        self.base_date = base_date
        self.patterns = tuple(patterns)
        self._watch_wanted = watch
        self._watchfiles = None
        self._watch_error: str | None = None
        if watch:
            try:
                import watchfiles

                self._watchfiles = watchfiles
            except Exception as exc:  # pragma: no cover - watchfiles is a dependency
                self._watch_error = f"watchfiles unavailable ({exc})"
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._armed = True
        self._stopping = False
        self._sources: dict[str, _Src] = {}
        self._by_path: dict[str, str] = {}
        self._dirs: dict[tuple[str, bool], _Dir] = {}
        self._dirty: set[str] = set()
        self._more: set[str] = set()  # sources with more to read right now (backlog, work deadline)
        self._ops: list[Callable[[], None]] = []
        self._outbox: deque[LogEntry] = deque(maxlen=max(1, max_undelivered))
        # The outbox's runs per source, oldest first: [source id, entries, eager positions in
        # the run]; they may count more entries than the outbox kept (_out_n: how many).
        self._out_runs: deque[list] = deque()
        self._out_n = 0
        self._skipped = 0
        self._notices: list[str] = []
        self._book = HeadlineBook()
        self._new_headlines: dict[tuple[str, str], Headline] = {}
        self._changed = False
        self._last_delivery = 0.0
        self._last_tick = 0.0
        self._blocked_until = 0.0
        self._stats_due = 0.0
        self._next_id = 0
        self._rr = 0
        self._ring_now = self.ring_size
        self.batches = 0  # delivered so far (for tests and the self-overhead gauge)
        self.wakeups = 0  # worker wake-ups so far
        self._thread = threading.Thread(target=self._run, name="xsched-loghub", daemon=True)
        self._thread.start()

    # -- context manager ----------------------------------------------------------------------
    def __enter__(self) -> LogHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- status -------------------------------------------------------------------------------
    @property
    def status(self) -> str:
        """How files are followed, in words (inotify via watchfiles, or polling and why)."""
        with self._lock:
            dirs = list(self._dirs.values())
            polled_src = sum(1 for s in self._sources.values() if s.polled and s.tailer is not None)
        watched = [d for d in dirs if not d.polled]
        polled = [d for d in dirs if d.polled]
        paused = [d for d in polled if d.paused]
        parts = []
        if watched:
            parts.append(f"watching {len(watched)} folder(s) with inotify (watchfiles)")
        if paused:
            parts.append(f"inotify paused for {len(paused)} busy folder(s) (> {WATCH_PAUSE_LINES} "
                         "lines/s: busy files are read every tick)")
        if polled or polled_src:
            why = "; ".join(sorted({d.error for d in polled if d.error and not d.paused} | (
                {self._watch_error} if self._watch_error else set())))
            parts.append(f"polling {polled_src} file(s) (idle ones at <= 4 Hz)" + (f": {why}" if why else ""))
        return "; ".join(parts) or "no files followed"

    # -- adding sources -----------------------------------------------------------------------
    def _new_id(self, kind: str) -> str:
        self._next_id += 1
        return f"{kind}:{self._next_id}"

    def _register(self, src: _Src) -> None:
        self._sources[src.info.id] = src
        self._resize_rings()
        self._dirty.add(src.info.id)
        self._changed = True
        self._poke()

    def _poke(self) -> None:
        """Wake the worker if it is in a long sleep (caller holds the lock)."""
        if self._armed:
            self._wake.set()

    def add_file(self, path: str | os.PathLike[str], pid: int | None = None, label: str | None = None,
                 *, base_date: _dt.date | None = None) -> SourceInfo:
        """Follow one file (named on the command line, or found in a folder). Returns at once;
        the file is opened by the worker. The same file twice gives the same source."""
        norm = _norm_path(os.fspath(path))
        with self._lock:
            return self._add_file_locked(norm, pid, label, base_date, watch_parent=True)

    def _add_file_locked(self, norm: str, pid: int | None, label: str | None,
                         base_date: _dt.date | None, *, watch_parent: bool) -> SourceInfo:
        sid = self._by_path.get(norm)
        if sid is not None and sid in self._sources:
            return self._sources[sid].info
        pid_from = None
        if pid is not None:
            pid_from = "launch"
        else:
            pid = pid_from_name(norm)
            if pid is not None:
                pid_from = "name"
        info = SourceInfo(self._new_id("file"), label or os.path.basename(norm), "file", norm, pid, pid_from)
        src = _Src(info, self._ring_now, base_date or self.base_date)
        src.tailer = FileTailer(norm, tail_bytes=self.tail_bytes, name=info.label)
        self._by_path[norm] = info.id
        src.polled = not self._covered(norm)
        if src.polled and watch_parent:
            src.polled = not self._watch_dir_locked(os.path.dirname(norm), False, None)
        self._register(src)
        return info

    def _covered(self, norm: str) -> bool:
        d = os.path.dirname(norm)
        for (path, rec), w in self._dirs.items():
            if w.polled:
                continue
            if path == d or (rec and norm.startswith(path.rstrip(os.sep) + os.sep)):
                return True
        return False

    def add_dir(self, path: str | os.PathLike[str], pattern: str = "*.log", recursive: bool = False) -> str:
        """Follow every file matching ``pattern`` in a folder, including files that appear later.
        Returns the folder's normalised path (for :meth:`remove_dir`)."""
        norm = os.path.realpath(os.path.abspath(os.path.expanduser(os.fspath(path))))
        with self._lock:
            self._watch_dir_locked(norm, recursive, pattern)
            self._poke()
        return norm

    def _watch_dir_locked(self, norm: str, recursive: bool, pattern: str | None) -> bool:
        """Make sure a folder is watched; returns True when inotify covers it."""
        key = (norm, recursive)
        d = self._dirs.get(key)
        if d is None:
            d = _Dir(norm, recursive)
            self._dirs[key] = d
            if self._watchfiles is None:
                d.polled = True
                d.error = self._watch_error or "polling requested"
            else:
                d.thread = threading.Thread(target=self._watch_thread, args=(d,), daemon=True,
                                            name=f"xsched-logwatch:{os.path.basename(norm) or norm}")
                d.thread.start()
        if pattern is not None and pattern not in d.patterns:
            d.patterns.add(pattern)
            d.needs_scan = True
            self._changed = True
        return not d.polled

    def remove_dir(self, path: str) -> None:
        """Stop watching a folder for new files (its files already followed stay)."""
        norm = os.path.realpath(os.path.abspath(os.fspath(path)))
        with self._lock:
            for key in [k for k in self._dirs if k[0] == norm]:
                d = self._dirs.pop(key)
                d.stop.set()

    def add_proc_fd2(self, pid: int, label: str | None = None) -> SourceInfo | str:
        """Follow ``/proc/PID/fd/2`` when it is a regular file; otherwise a reason (str) saying why
        not and what to do instead."""
        link = f"/proc/{int(pid)}/fd/2"
        try:
            target = os.readlink(link)
        except FileNotFoundError:
            return f"pid {pid}: no such process, or it has no stderr (fd 2 is closed)"
        except PermissionError:
            return f"pid {pid}: permission denied reading its stderr (another user's process?)"
        except OSError as exc:
            return f"pid {pid}: cannot read {link}: {exc.strerror}"
        try:
            st = os.stat(link)
        except PermissionError:
            return f"pid {pid}: permission denied opening its stderr ({target})"
        except OSError as exc:
            return f"pid {pid}: its stderr ({target}) cannot be opened: {exc.strerror}"
        if not stat.S_ISREG(st.st_mode):
            if target.startswith("pipe:"):
                what = "a pipe"
            elif target.startswith("socket:"):
                what = "a socket"
            elif target == "/dev/null":
                return (f"stderr of pid {pid} goes to /dev/null: nothing to read; "
                        "relaunch it with stderr redirected to a file, or launch it from here")
            elif stat.S_ISCHR(st.st_mode):
                what = f"a tty ({target})"
            else:
                what = _kind_of_mode(st.st_mode)
            return f"stderr of pid {pid} is {what}, not a file: capture it at launch"
        with self._lock:
            for s in self._sources.values():  # already followed under its own name?
                t = s.tailer
                if t is not None and t.identity == (st.st_dev, st.st_ino) and not s.removed:
                    if s.info.pid is None:
                        self._set_pid_locked(s, int(pid), "proc", final=True)
                    return s.info
            shown = target[: -len(" (deleted)")] if target.endswith(" (deleted)") else target
            info = SourceInfo(self._new_id("proc_fd"), label or f"pid {pid} stderr", "proc_fd", shown,
                              int(pid), "proc")
            src = _Src(info, self._ring_now, self.base_date)
            src.tailer = FileTailer(link, open_path=link, tail_bytes=self.tail_bytes, name=info.label)
            src.polled = True  # inotify does not see /proc; 4 Hz when idle
            self._register(src)
            return info

    def add_stream(self, label: str, pid: int | None = None, kind: str = "process", *,
                   base_date: _dt.date | None = None) -> SourceInfo:
        """A source fed by :meth:`push_lines` (stderr of a launched process, a replay)."""
        with self._lock:
            info = SourceInfo(self._new_id(kind), label, kind, None, pid,
                              "launch" if pid is not None else None)
            src = _Src(info, self._ring_now, base_date or self.base_date)
            self._register(src)
            return info

    def push_lines(self, source_id: str, lines: Iterable[str | bytes]) -> None:
        """Queue lines for a stream source (thread-safe, never blocks; overflow is skipped)."""
        with self._lock:
            src = self._sources.get(source_id)
            if src is None or src.removed or src.ended:
                return
            inbox = src.inbox
            inbox.extend(lines)
            over = len(inbox) - INBOX_CAP
            if over > 0:
                del inbox[:over]
                src.dropped += over
                self._skipped += over
            self._dirty.add(source_id)
            self._poke()

    def line_sink(self, source_id: str) -> Callable[[str], None]:
        """A per-line callback for ``runner.Child(on_stderr=...)``."""
        def sink(line: str) -> None:
            self.push_lines(source_id, (line,))
        return sink

    def end_source(self, source_id: str, note: str) -> None:
        """A stream ended (process exited, replay finished): flush its parser, state "ended"."""
        with self._lock:
            src = self._sources.get(source_id)
            if src is None or src.end_note is not None:
                return
            src.end_note = note or "ended"
            self._dirty.add(source_id)
            self._poke()

    def set_pid(self, source_id: str, pid: int, pid_from: str = "launch") -> SourceInfo | None:
        """Tie a source to a process (e.g. once ``Child`` has started)."""
        with self._lock:
            src = self._sources.get(source_id)
            if src is None:
                return None
            self._set_pid_locked(src, pid, pid_from, final=True)
            self._poke()
            return src.info

    def _set_pid_locked(self, src: _Src, pid: int | None, pid_from: str | None, *, final: bool,
                        role: str | None = None) -> None:
        new = dataclasses.replace(src.info, pid=pid, pid_from=pid_from if pid is not None else None,
                                  role=role if role is not None else src.info.role)
        if new != src.info:
            src.info = new
            self._changed = True
        if final:
            src.pid_final = True

    def process_exited(self, source_id: str, status: ExitStatus) -> None:
        """A launched process ended: a headline when it crashed, then :meth:`end_source`."""
        with self._lock:
            src = self._sources.get(source_id)
            if src is None:
                return
            h = headline_for_exit(src.info, status)
            if h is not None:
                h = self._book.add(h)
                self._new_headlines[h.key] = h
            self._changed = True
        self.end_source(source_id, status.describe())

    def launch(self, argv: Sequence[str], *, label: str | None = None, env=None, cwd: str | None = None,
               on_stdout: Callable[[str], None] | None = None, keep_lines: int = 2_000,
               ) -> tuple[Child, SourceInfo]:
        """Start ``argv`` with :class:`runner.Child` and follow its stderr; on exit the source ends
        and a crash becomes a headline. Raises ``runner.StartError`` like ``Child``."""
        from xsched_tui.core.runner import Child, StartError

        info = self.add_stream(label or os.path.basename(str(argv[0])) if argv else "?", kind="process")
        try:
            child = Child(argv, env=env, cwd=cwd, keep_lines=keep_lines, on_stdout=on_stdout,
                          on_stderr=self.line_sink(info.id))
        except StartError as exc:
            self.end_source(info.id, str(exc))
            raise
        info = self.set_pid(info.id, child.pid, "launch") or info

        def await_exit() -> None:
            self.process_exited(info.id, child.wait())

        threading.Thread(target=await_exit, daemon=True, name=f"xsched-logwait:{child.pid}").start()
        return child, info

    def remove(self, source_id: str) -> None:
        """Forget a source (its file is closed by the worker)."""
        with self._lock:
            src = self._sources.pop(source_id, None)
            if src is None:
                return
            src.removed = True
            if src.info.path and self._by_path.get(src.info.path) == source_id:
                del self._by_path[src.info.path]
            if src.tailer is not None:
                t = src.tailer
                self._ops.append(t.close)
            self._resize_rings()
            self._changed = True
            self._poke()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the worker and the folder watchers; close every file."""
        with self._lock:
            self._stopping = True
            for d in self._dirs.values():
                d.stop.set()
            self._wake.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        with self._lock:
            dirs = list(self._dirs.values())
        for d in dirs:
            if d.thread is not None and d.thread is not threading.current_thread():
                d.thread.join(timeout)
        with self._lock:
            for s in self._sources.values():
                if s.tailer is not None:
                    s.tailer.close()

    # -- pull API -----------------------------------------------------------------------------
    def sources(self) -> list[SourceInfo]:
        with self._lock:
            return [s.info for s in self._sources.values()]

    def headlines(self) -> list[Headline]:
        """All headlines so far (deduplicated), errors first."""
        with self._lock:
            return self._book.all()

    def stats(self) -> list[SourceStats]:
        now = time.monotonic()
        with self._lock:
            return [self._stats_of(s, now) for s in self._sources.values()]

    def snapshot(self, source_id: str | None = None, limit: int | None = None) -> list[LogEntry]:
        """Entries kept in the ring buffers: one source in file order, or all sources merged by
        time (records without a time keep their place after the previous one of their source).
        ``limit``: at most this many of the newest entries (per source before merging)."""
        with self._lock:
            if source_id is not None:
                src = self._sources.get(source_id)
                if src is None:
                    return []
                items = list(src.ring)
                return items[-limit:] if limit else items
            rings = [list(s.ring)[-limit:] if limit else list(s.ring) for s in self._sources.values()]

        def keyed(i: int, ring: list[LogEntry]):
            last = 0.0
            for e in ring:
                ts = e.record.timestamp
                if ts is not None:
                    last = ts
                yield (last, i, e.seq, e)

        merged = heapq.merge(*(keyed(i, r) for i, r in enumerate(rings)))
        return [k[3] for k in merged]

    # -- folder watchers ------------------------------------------------------------------------
    def _watch_thread(self, d: _Dir) -> None:
        from xsched_tui.core.threadname import name_native

        name_native("xs-logwatch")
        wf = self._watchfiles
        assert wf is not None
        try:
            if not os.path.isdir(d.path):
                raise FileNotFoundError(f"no such folder: {d.path}")
            for changes in wf.watch(d.path, watch_filter=None, debounce=WATCH_DEBOUNCE_MS,
                                    step=WATCH_STEP_MS, stop_event=d.stop, rust_timeout=0,
                                    raise_interrupt=False, recursive=d.recursive,
                                    ignore_permission_denied=True):
                self._on_changes(changes)
        except Exception as exc:
            if d.stop.is_set():
                return
            msg = str(exc) or type(exc).__name__
            with self._lock:
                d.polled = True
                d.error = f"watchfiles failed for {d.path} ({msg})"
                self._notices.append(f"{d.error}: polling instead (idle files at <= 4 Hz)")
                for s in self._sources.values():
                    p = s.info.path
                    if s.tailer is not None and p and s.info.kind == "file" and not self._covered(p):
                        s.polled = True
                self._changed = True
                self._wake.set()

    def _on_changes(self, changes: set) -> None:
        deleted = self._watchfiles.Change.deleted if self._watchfiles else 3
        with self._lock:
            for change, path in changes:
                sid = self._by_path.get(path)
                if sid is not None:
                    self._dirty.add(sid)
                    continue
                if change == deleted:
                    continue
                d = self._dir_for(path)
                if d is not None:
                    self._add_file_locked(path, None, None, None, watch_parent=False)
            if self._dirty:
                self._poke()

    def _dir_for(self, path: str) -> _Dir | None:
        parent, name = os.path.split(path)
        for (dpath, rec), d in self._dirs.items():
            under = parent == dpath or (rec and path.startswith(dpath.rstrip(os.sep) + os.sep))
            if under and any(fnmatch.fnmatch(name, p) for p in d.patterns):
                return d
        return None

    def _scan_dir(self, d: _Dir) -> None:
        """List a folder for matching files (first time, and every DIR_POLL s when polled)."""
        found: list[str] = []
        try:
            if d.recursive:
                for root, dirs, files in os.walk(d.path):
                    for name in files + dirs:
                        if any(fnmatch.fnmatch(name, p) for p in d.patterns):
                            found.append(os.path.join(root, name))
            else:
                with os.scandir(d.path) as it:
                    for e in it:
                        if any(fnmatch.fnmatch(e.name, p) for p in d.patterns):
                            found.append(os.path.join(d.path, e.name))
        except OSError as exc:
            msg = f"{d.path}: cannot list the folder ({exc.strerror})"
            with self._lock:
                if d.error != msg:
                    d.error = msg
                    self._notices.append(msg)
                    self._changed = True
            return
        with self._lock:
            for p in sorted(found):
                if p not in self._by_path:
                    self._add_file_locked(p, None, None, None, watch_parent=False)

    # -- worker ---------------------------------------------------------------------------------
    def _run(self) -> None:
        from xsched_tui.core.threadname import name_native

        name_native("xs-loghub")
        while True:
            with self._lock:
                if self._stopping:
                    return
                now = time.monotonic()
                timeout = self._plan(now)
                self._armed = timeout is None or timeout > self.interval
            if timeout is None or timeout > 0:
                self._wake.wait(timeout)
            self._wake.clear()
            if self._stopping:
                return
            self.wakeups += 1
            try:
                self._tick(time.monotonic())
            except Exception as exc:  # never let a bug kill the tail
                with self._lock:
                    self._notices.append(f"log hub error: {type(exc).__name__}: {exc}")
                    self._changed = True

    def _plan(self, now: float) -> float | None:
        """Seconds until the worker must run again, None for "only when woken" (lock held)."""
        if self._ops or self._more or any(d.needs_scan for d in self._dirs.values()):
            return 0.0
        due: float | None = None

        def at(t: float) -> None:
            nonlocal due
            if due is None or t < due:
                due = t

        hot_before = now - HOT_SECONDS
        if self._dirty:
            # Events for files that are read every tick anyway wait for that tick (no storms).
            for sid in self._dirty:
                s = self._sources.get(sid)
                if (s is None or s.tailer is None or not s.tailer.is_open
                        or s.last_data <= hot_before):
                    return 0.0
            at(self._last_tick + self.interval)

        if self._changed:
            at(max(self._last_delivery + self.interval, self._blocked_until))
        warm_before = now - RATE_WINDOW - 1.0
        for s in self._sources.values():
            t = s.tailer
            if t is not None:
                if s.last_data > hot_before and t.is_open:
                    at(self._last_tick + self.interval)
                elif s.polled:
                    at(s.next_poll)
                pd = t.partial_due()
                if pd is not None:
                    at(pd)
            if s.fed_since_flush and s.parser is not None and s.parser.pending:
                at(s.last_data + PARTIAL_GRACE)
            if s.last_data > warm_before or (s.transition and s.transition[1] > warm_before):
                at(max(self._stats_due, self._last_delivery + self.interval))
        for d in self._dirs.values():
            if d.polled:
                at(d.next_scan)
        if due is None:
            return None
        return max(0.0, due - now)

    def _tick(self, now: float) -> None:
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            if self._more:
                dirty |= self._more
                self._more = set()
            ops, self._ops = self._ops, []
            scans = [d for d in self._dirs.values() if d.needs_scan or (d.polled and d.next_scan <= now)]
            for d in scans:
                d.needs_scan = False
                d.next_scan = now + DIR_POLL
            srcs = list(self._sources.values())
        for op in ops:
            with contextlib.suppress(Exception):
                op()
        for d in scans:
            self._scan_dir(d)
        if scans:
            with self._lock:
                dirty |= self._dirty
                self._dirty.clear()
                srcs = list(self._sources.values())
        self._last_tick = now
        hot_before = now - HOT_SECONDS
        # Light sources first, then the heavy ones from a round-robin start, and a work deadline:
        # under overload a quiet process's lines still arrive within a tick (write->screen
        # latency), every busy file still gets its turn, and batches still leave at ~1/interval;
        # what was not reached is read next tick.
        srcs, n_light, k = self._read_order(srcs, now)
        work_until = now + TICK_WORK * self.interval
        busy = sum(1 for s in srcs if s.last_data > hot_before) or 1
        lag_limit = max(LAG_SKIP_MIN, LAG_SKIP_TOTAL // busy)
        again: list[str] = []
        for i, s in enumerate(srcs):
            if s.removed:
                continue
            sid = s.info.id
            t = s.tailer
            if i and time.monotonic() > work_until:
                # the next tick starts with the first heavy file not reached
                self._rr = k + max(0, i - n_light)
                again.extend(x.info.id for x in srcs[i:] if x.info.id in dirty or (
                    x.tailer is not None and x.last_data > hot_before))
                break
            if t is not None:
                pd = t.partial_due()
                if (sid in dirty or (s.last_data > hot_before and t.is_open)
                        or (s.polled and s.next_poll <= now) or (pd is not None and pd <= now)):
                    before = t.offset
                    # A busy file in a watched folder: renames/unlinks come as events (dirty).
                    self._read_file(s, t, now, check_path=sid in dirty or s.polled, lag_limit=lag_limit)
                    if t.backlog and t.offset != before:  # more to read: next tick at once
                        again.append(sid)
            elif sid in dirty and self._read_stream(s, now):
                again.append(sid)
            if (s.fed_since_flush and s.parser is not None and s.parser.pending
                    and now - s.last_data >= PARTIAL_GRACE):
                self._accept(s, s.parser.flush(), now)
                s.fed_since_flush = False
        if again:
            with self._lock:
                self._more.update(again)
        if now >= self._stats_due:
            self._review_watchers(now)
            warm_before = now - RATE_WINDOW - 1.0
            if any(s.last_data > warm_before or (s.transition and s.transition[1] > warm_before)
                   for s in srcs):
                with self._lock:
                    self._changed = True
                self._stats_due = now + 1.0
        self._deliver(now)

    def _review_watchers(self, now: float) -> None:
        """Once a second: pause the inotify watcher of a folder whose files are busy (more than
        WATCH_PAUSE_LINES lines in the last whole second), start it again after
        WATCH_RESUME_AFTER quiet seconds (see WATCH_PAUSE_LINES)."""
        if self._watchfiles is None:
            return
        sec = int(now) - 1
        with self._lock:
            for d in self._dirs.values():
                if d.polled and not d.paused:
                    continue  # polled because watchfiles failed: stays so
                members = [s for s in self._sources.values()
                           if s.tailer is not None and s.info.kind == "file" and s.info.path
                           and self._under(d, s.info.path)]
                lines = 0
                for s in members:
                    for t, c in reversed(s.rate):
                        if t < sec:
                            break
                        if t == sec:
                            lines += c
                busy = lines > WATCH_PAUSE_LINES
                if not d.paused:
                    if busy and not self._stopping:
                        self._pause_watcher(d, members, now)
                elif busy:
                    d.quiet_since = None
                elif d.quiet_since is None:
                    d.quiet_since = now
                elif now - d.quiet_since >= WATCH_RESUME_AFTER and not self._stopping:
                    self._resume_watcher(d, members)

    @staticmethod
    def _under(d: _Dir, path: str) -> bool:
        parent = os.path.dirname(path)
        return parent == d.path or (d.recursive and path.startswith(d.path.rstrip(os.sep) + os.sep))

    def _pause_watcher(self, d: _Dir, members: list[_Src], now: float) -> None:
        """Stop a folder's watcher; poll its files and list it meanwhile (lock held)."""
        d.stop.set()
        d.paused = d.polled = True
        d.quiet_since = None
        d.next_scan = now + DIR_POLL
        for s in members:
            if not s.polled:
                s.polled = True
                s.next_poll = now
        self._changed = True

    def _resume_watcher(self, d: _Dir, members: list[_Src]) -> None:
        """Start a paused folder's watcher again (lock held). Its files are read once and the
        folder listed once, for what changed while the new watcher was starting."""
        d.stop = threading.Event()
        d.paused = d.polled = False
        d.quiet_since = None
        d.needs_scan = True
        d.thread = threading.Thread(target=self._watch_thread, args=(d,), daemon=True,
                                    name=f"xsched-logwatch:{os.path.basename(d.path) or d.path}")
        d.thread.start()
        for s in members:
            p = s.info.path
            if s.polled and p and self._covered(p):
                s.polled = False
            self._dirty.add(s.info.id)
        self._changed = True
        self._poke()

    def _read_order(self, srcs: list[_Src], now: float) -> tuple[list[_Src], int, int]:
        """(sources in reading order, how many light ones lead, round-robin start of the heavy
        ones). Light: at most LIGHT_LINES lines in this and the previous second (quiet or idle
        sources, new ones), in their own order; heavy: the rest, rotated by ``_rr``."""
        sec = int(now) - 1
        light: list[_Src] = []
        heavy: list[_Src] = []
        for s in srcs:
            recent = 0
            for t, c in reversed(s.rate):
                if t < sec:
                    break
                recent += c
            (light if recent <= LIGHT_LINES else heavy).append(s)
        k = self._rr % len(heavy) if heavy else 0
        if k:
            heavy = heavy[k:] + heavy[:k]
        self._rr = k + 1  # all reached: the next tick starts one further
        return light + heavy, len(light), k

    def _parser(self, s: _Src, mtime: float | None) -> LogParser:
        if s.parser is None:
            bd = s.base_date
            if bd is None and mtime is not None:
                try:
                    bd = _dt.date.fromtimestamp(mtime)
                except (OverflowError, OSError, ValueError):
                    bd = None
            s.parser = LogParser(base_date=bd, patterns=self.patterns, lazy=True)
        return s.parser

    def _read_file(self, s: _Src, t: FileTailer, now: float, check_path: bool = True,
                   lag_limit: int | None = None) -> None:
        r = t.poll(now=now, check_path=check_path, lag_limit=lag_limit)
        if r.skipped_bytes:
            self._skipped_ahead(s, r.skipped_bytes, r.skipped_lines)
        lines = r.lines
        if not lines and not r.notices and not r.events:
            pd = t.partial_due()
            if pd is not None and pd <= now:
                lines = t.flush()
        if s.polled:
            s.next_poll = now + (self.interval if lines else IDLE_POLL)
        if r.notices or r.events:
            with self._lock:
                self._notices.extend(r.notices)
                for ev in r.events:
                    if ev in ("rotated", "truncated"):
                        s.transition = (ev, now)
                    elif ev == "deleted" and s.info.kind == "proc_fd":
                        s.ended = True
                        s.end_note = s.end_note or f"process {s.info.pid} exited (its stderr is gone)"
                    elif ev == "reappeared":
                        s.transition = None
                self._changed = True
        if lines:
            p = self._parser(s, t.mtime)
            s.fed_since_flush = True
            self._count_rate(s, len(lines), now)
            self._feed(s, p, lines, now)
        elif "deleted" in r.events and s.parser is not None:
            self._accept(s, s.parser.flush(), now)

    def _skipped_ahead(self, s: _Src, n: int, lines: int) -> None:
        if n:
            if s.parser is not None:
                self._accept(s, s.parser.flush(), time.monotonic())
            with self._lock:
                s.skipped_lines += lines
                self._skipped += lines
                if not s.lag_noticed:  # one notice per source; stats carry the running total
                    s.lag_noticed = True
                    self._notices.append(f"{s.info.label}: written faster than it can be parsed: "
                                         f"skipping ahead ({lines} lines, {_human(n)} so far)")
                self._changed = True

    def _read_stream(self, s: _Src, now: float) -> bool:
        """Parse a stream's queued lines (at most STREAM_BUDGET); True when more are waiting."""
        with self._lock:
            if len(s.inbox) > STREAM_BUDGET:
                lines = s.inbox[:STREAM_BUDGET]
                del s.inbox[:STREAM_BUDGET]
            else:
                lines, s.inbox = s.inbox, []
            more = bool(s.inbox)
            note = s.end_note if not s.ended and not more else None
        p = self._parser(s, None)
        if lines:
            s.fed_since_flush = True
            self._count_rate(s, len(lines), now)
            self._feed(s, p, lines, now)
        if note is not None:
            self._accept(s, p.flush(), now)
            s.fed_since_flush = False
            with self._lock:
                s.ended = True
                self._notices.append(f"{s.info.label}: {note}")
                self._changed = True
        return more

    def _feed(self, s: _Src, p: LogParser, lines: list, now: float) -> None:
        """Parse and accept ``lines`` a few hundred at a time. Each line makes three GC-tracked
        objects (record, event, entry) and, once a ring is full, storing them frees as many: in
        steps below the collector's first threshold the young generation never fills, so nothing
        is collected or promoted (one 600-line step instead costs ~2x in collections)."""
        threshold = gc.get_threshold()[0]  # 0: automatic collection is off
        step = max(32, threshold // 5) if threshold else len(lines)
        if len(lines) <= step:
            self._accept(s, p.feed_many(lines), now)
            return
        for i in range(0, len(lines), step):
            self._accept(s, p.feed_many(lines[i : i + step]), now)

    def _count_rate(self, s: _Src, n: int, now: float) -> None:
        sec = int(now)
        rate = s.rate
        if rate and rate[-1][0] == sec:
            rate[-1][1] += n
        else:
            rate.append([sec, n])
            while rate and rate[0][0] <= sec - RATE_WINDOW:
                rate.popleft()
        s.last_data = now

    def _accept(self, s: _Src, recs: list[LogRecord], now: float) -> None:
        """Number, count and store records; pid attribution and headlines (worker thread).

        Per-record work is done by C-level passes (map/count/compress); only the few records
        that can matter (a typed event, a warning or an error) are looked at one by one. Lazy
        records (batchscan: plain XSched INFO/DEBG lines, nearly all of them) are not looked at
        at all: they are never warnings, errors, truncated or interesting."""
        if not recs:
            return
        sid = s.info.id
        n = len(recs)
        seq = s.seq
        # The ring and the outbox share these tuples: in a steady state, appending to a full ring
        # frees as many GC-tracked objects as were just made, so the collector seldom runs.
        entries = (_entries(LogEntry, sid, seq, recs) if _entries is not None else
                   list(map(_tuple_new, repeat(LogEntry), zip(repeat(sid), count(seq + 1), recs))))
        s.seq = seq + n
        eager = eager_positions(recs)
        if not eager:
            warn = err = trunc = 0
            interesting: list[LogRecord] = []
        else:
            warn, err, trunc, interesting = _scan(
                recs if len(eager) == n else list(map(recs.__getitem__, eager)))
        with self._lock:
            if s.removed:
                return
            s.lines += n
            s.warnings += warn
            s.errors += err
            s.truncated += trunc
            ring = s.ring
            before = len(ring)
            ring.extend(entries)
            over = before + n - len(ring)
            if over > 0:
                s.dropped += over
            out = self._outbox
            before = len(out)
            out.extend(entries)
            over = before + n - len(out)
            if over > 0:
                self._skipped += over
            self._note_run(sid, n, eager)
            found: list[tuple[int | None, str, str, float | None]] = []
            for r in interesting:
                ev = r.event
                # (a final pid is only given a role, by xserver's own lines)
                if ev is not None and (not s.pid_final or (
                        s.info.role is None and isinstance(ev, _XSERVER_EVENTS))):
                    self._attribute(s, r, ev)
                if (type(ev) in HEADLINE_EVENT_TYPES or r.level is _ERRO or r.level is _WARN
                        or r.kind in _HL_KINDS):
                    got = self._headline_text(s, r, ev)
                    if got is not None:
                        # the pid as it is now: _attribute may change it between two records
                        found.append((s.info.pid, got[0], got[1], r.timestamp))
            for r in reversed(interesting):  # the source's last event: the latest one described
                d = describe_event(r.event)
                if d is not None:
                    s.last_event = d
                    break
            if found:
                self._add_headlines(sid, found)
            self._changed = True

    def _note_run(self, sid: str, n: int, eager: list[int]) -> None:
        """Remember that ``n`` entries of ``sid`` (with the eager records at positions ``eager``)
        went to the outbox (lock held): the batch's scan (LogBatch.scan)."""
        runs = self._out_runs
        self._out_n += n
        if runs:
            last = runs[-1]
            if last[0] == sid:  # the same source again: one run, as groupby would make it
                if eager:
                    last[2] += map(add, eager, repeat(last[1])) if last[1] else eager
                last[1] += n
                return
        runs.append([sid, n, eager])

    def _take_scan(self, kept: int) -> BatchScan:
        """The scan of the ``kept`` entries the outbox holds, oldest first (lock held); resets."""
        runs = self._out_runs
        drop = self._out_n - kept  # the oldest entries the full outbox let go
        while drop > 0:
            first = runs[0]
            if first[1] <= drop:
                runs.popleft()
                drop -= first[1]
                continue
            first[1] -= drop
            first[2] = [p - drop for p in first[2] if p >= drop]
            drop = 0
        out_runs: list[tuple[str, int, int]] = []
        eager: list[int] = []
        at = 0
        for sid, n, ev in runs:
            out_runs.append((sid, at, at + n))
            if ev:
                eager += map(add, ev, repeat(at)) if at else ev
            at += n
        runs.clear()
        self._out_n = 0
        return BatchScan(out_runs, eager)

    def _headline_text(self, s: _Src, r: LogRecord, ev: object) -> tuple[str, str] | None:
        """(severity, text) of headline_for(r, s.info), or None: remembered per source. A busy
        source repeats the same warning thousands of times a second, and building the text
        (event sentence, pid, normalised handles) cost most of the hub's time on those lines.
        The text depends on the record's kind, level, event and message (or, for lines that are
        not XSched's, its text) and on the source's info, which the cache follows. (The rest of
        headline_for's Headline is the record's timestamp and the info's id and pid.)"""
        info = s.info
        if s.hl_info is not info:
            s.hl_info = info
            s.hl_cache = {}
        kind = r.kind
        key = (kind, r.level, ev, r.message if kind is _XSCHED else r.text)
        cache = s.hl_cache
        try:
            got = cache.get(key, _MISS)
        except TypeError:  # an unhashable event field: no cache
            h = headline_for(r, info)
            return None if h is None else (h.severity, h.text)
        if got is _MISS:
            h = headline_for(r, info)
            if len(cache) >= 256:
                cache.clear()
            got = cache[key] = None if h is None else (h.severity, h.text)
        return got

    def _add_headlines(self, sid: str, found: list[tuple[int | None, str, str, float | None]]
                       ) -> None:
        """book.add() the headline of every ``(pid, severity, text, timestamp)`` of source
        ``sid``, in order (lock held): Headline(timestamp, sid, pid, severity, text, 1,
        timestamp) each, as headline_for makes it. A warning repeated 1000 times in one batch is
        added once with its count (the same book state as 1000 adds: count summed, latest
        timestamp), unless the book could evict within this batch. One Headline per text, not
        per line: building one is most of the cost of a repeated warning."""
        book = self._book
        new = self._new_headlines
        if len(found) == 1:
            pid, sev, text, ts = found[0]
            h = book.add(new_headline(ts, sid, pid, sev, text, 1, ts))
            new[h.key] = h
            return
        groups: dict[str, list] = {}
        for pid, sev, text, ts in found:
            g = groups.get(text)
            if g is None:  # the first one gives pid, severity and first timestamp
                groups[text] = [pid, sev, ts, 1, ts]
            else:
                g[3] += 1
                if ts is not None:
                    g[4] = ts
        if len(book) + len(groups) > book.limit:  # evictions would depend on the add order
            for pid, sev, text, ts in found:
                h = book.add(new_headline(ts, sid, pid, sev, text, 1, ts))
                new[h.key] = h
            return
        for text, (pid, sev, first, total, ts) in groups.items():
            h = book.add(new_headline(ts, sid, pid, sev, text, total, first))
            new[h.key] = h

    def _attribute(self, s: _Src, r: LogRecord, ev: object) -> None:
        """pid (and role) from content (lock held). xserver logs name their clients: never take
        those; xserver's own pid is the tid of a line its main thread prints at start-up."""
        t = type(ev)
        info = s.info
        if isinstance(ev, _XSERVER_EVENTS):
            if s.pid_final:
                if info.role != "xserver":
                    self._set_pid_locked(s, info.pid, info.pid_from, final=True, role="xserver")
                return
            pid = r.tid if t in _XSERVER_MAIN_THREAD else None
            if info.role != "xserver":  # a client pid guessed before the xserver lines: drop it
                self._set_pid_locked(s, pid, "content", final=False, role="xserver")
                s.pid_guess = False
            elif info.pid is None and pid is not None:
                self._set_pid_locked(s, pid, "content", final=False)
            return
        if s.pid_final or info.role == "xserver":
            return
        if t is XQueueCreated:
            if info.pid is None or s.pid_guess:  # not final: a later xserver line can undo it
                self._set_pid_locked(s, ev.pid, "content", final=False)  # type: ignore[attr-defined]
                s.pid_guess = False
        elif t is SchedulerChosen and info.pid is None and r.tid is not None:
            # Printed while libpreempt loads, on the main thread: its tid is the pid.
            self._set_pid_locked(s, r.tid, "content", final=False)
            s.pid_guess = True

    def _resize_rings(self) -> None:
        """Shrink (or grow back) every ring so that all together keep <= total_entries (lock held)."""
        n = max(1, len(self._sources))
        size = max(1, min(self.ring_size, self.total_entries // n))
        if size == self._ring_now:
            for s in self._sources.values():
                if s.ring.maxlen != size:
                    s.ring = deque(s.ring, maxlen=size)
            return
        self._ring_now = size
        for s in self._sources.values():
            old = s.ring
            if old.maxlen != size:
                if len(old) > size:
                    s.dropped += len(old) - size
                s.ring = deque(old, maxlen=size)

    # -- delivery -------------------------------------------------------------------------------
    def _state_of(self, s: _Src, now: float) -> str:
        t = s.tailer
        if s.ended:
            return "ended"
        if t is not None:
            if t.state.startswith("error"):
                return t.state
            if t.state == "deleted":
                return "deleted"
            if t.state == "missing":
                return "idle"
        if s.transition is not None and now - s.transition[1] <= RATE_WINDOW:
            return s.transition[0]
        if s.last_data and now - s.last_data <= RATE_WINDOW:
            return "live"
        return "idle"

    def _stats_of(self, s: _Src, now: float) -> SourceStats:
        sec = int(now)
        n = sum(c for t, c in s.rate if t > sec - RATE_WINDOW)
        t = s.tailer
        return SourceStats(
            s.info.id, s.lines, n / RATE_WINDOW, s.warnings, s.errors, s.last_event, s.truncated,
            s.dropped, self._state_of(s, now), t.size if t is not None else None,
            t.skipped_bytes if t is not None else 0, s.skipped_lines,
        )

    def _deliver(self, now: float) -> None:
        if not self._changed or self.on_batch is None:
            if self.on_batch is None:
                with self._lock:
                    self._outbox.clear()
                    self._out_runs.clear()
                    self._out_n = 0
                    self._changed = False
                    self._new_headlines.clear()
                    self._notices.clear()
            return
        if now < self._last_delivery + self.interval - 1e-4:
            return
        if self.pending is not None:
            try:
                backlog = self.pending()
            except Exception:
                backlog = 0
            if backlog > self.max_pending:
                self._blocked_until = now + self.interval
                return
        with self._lock:
            entries = tuple(self._outbox)
            self._outbox.clear()
            batch = LogBatch(
                entries,
                tuple(self._stats_of(s, now) for s in self._sources.values()),
                tuple(s.info for s in self._sources.values()),
                tuple(self._new_headlines.values()),
                tuple(self._notices),
                self._skipped,
                self._take_scan(len(entries)),
            )
            self._new_headlines.clear()
            self._notices.clear()
            self._skipped = 0
            self._changed = False
            self._last_delivery = now
        self.batches += 1
        try:
            self.on_batch(batch)
        except Exception as exc:
            with self._lock:
                self._notices.append(f"log consumer error: {type(exc).__name__}: {exc}")
