"""Line index of one big (possibly live) log file, built in the background. No Textual here.

Design (PERFORMANCE.md "Initial index of a 1 GiB log" and "Memory"; STYLE.md rules 18-19):

* **Tail first.** :meth:`LineIndex.tail` reads the last ~1 MiB with one ``pread`` and splits it, so a
  view can show the end of a 1 GiB file before any indexing has happened.
* **Block checkpoints, not per-line offsets.** The scan reads fixed 8 MiB chunks and records, for
  every 64 KiB block of the file, the number of newlines before it (one ``bytes.count`` per block,
  M1 speed: the scan runs at disk/page-cache speed instead of the ~380 MiB/s of a per-line
  ``find`` loop, M3). That is one ``array('Q')`` entry per 64 KiB, about 0.01 B/line instead of
  8 B/line. Line *i* is found by bisecting the checkpoints and splitting one 64 KiB block, whose
  line starts are cached (an LRU of blocks), so random access stays O(log n) + one block read.
* **No mmap.** Reads are ``os.pread`` on one descriptor (thread-safe, no shared file position); a
  truncated live file can't SIGBUS us. :meth:`LineIndex.refresh` extends the index when the file
  grows and resets it when the file is truncated, rewritten or replaced (new inode).
* **Errors and warnings** (:meth:`LineIndex.level_index`): one bytes regex per chunk finds the
  lines whose level is ERRO or WARN (M9), counting newlines between hits for line numbers.
* **Pathological input**: lines are returned capped at :data:`MAX_LINE` bytes (toolong#55).

Line numbering is 0-based and matches ``data.split(b"\\n")`` with a trailing empty piece dropped: a
last line without a newline counts (it may still be being written; it is re-read after growth).
A trailing ``\\r`` (CRLF files) is stripped from returned lines.
"""

from __future__ import annotations

import enum
import os
import re
import stat
import threading
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate, chain, islice, repeat

from xsched_tui.core.logparse import Level, parse_line

__all__ = [
    "BLOCK",
    "CHUNK",
    "MAX_LINE",
    "Change",
    "LevelIndex",
    "LineIndex",
    "LogFileError",
    "Tail",
    "line_level",
]

BLOCK = 64 * 1024  # checkpoint granularity and read-cache block
CHUNK = 8 * 1024 * 1024  # scan read size (a multiple of BLOCK)
MAX_LINE = 10_000  # lines are capped to this many bytes for display (PERFORMANCE.md)
TAIL_BYTES = 1024 * 1024  # first read of tail(); grows (x4) up to TAIL_MAX_BYTES for long lines
TAIL_MAX_BYTES = 16 * 1024 * 1024
_HEAD = 256  # bytes compared on refresh to notice a rewritten file
_CACHE_BLOCKS = 64  # 4 MiB of cached blocks

# Lines whose level is ERRO or WARN (what logparse.parse_line would say), found with one bytes
# regex per chunk. Its first branches are exact: XSched's prefix in both formats, ANSI colour
# allowed around the level, and users' "[WARN] ..." tags:
#   [XSCHED WARN @ T 1262 @ 02:49:26.017870] ...     [ERRO @ T58880 @ 09:05:23.278123] ...
# The last branch finds candidates (a Python traceback header, glibc loader errors) that are
# confirmed by parsing the line. Every branch starts at a line start, after the literal "\n".
_A = rb"(?:\x1b\[[0-9;]*m)*"
_LV = rb"(?:ERRO|WARN|\x1b\[[0-9;]*m" + _A + rb"(?:ERRO|WARN))" + _A  # the level, maybe coloured
_STAMP = rb" @ T ?\d+ @ \d\d:\d\d:\d\d\.\d{1,9}\]"
# Written so that an INFO/DEBG line fails within a few bytes: every alternative starts with a
# literal (the regex engine skips those branches on their first byte) and nothing is captured.
_LEVEL_BODY = (
    rb"(?:\[(?:XSCHED " + _LV + _STAMP + rb"|" + _LV + _STAMP
    + rb"|(?:ERROR?|WARN(?:ING)?)\]:?(?: |\r?$))"
    rb"|(?=[^\[\n])(?:Traceback \(most recent call last\):|ERROR: ld\.so: object "
    rb"|[^\n:]{1,256}+: (?:[^\n:]{1,255}+: )?"
    rb"(?:symbol lookup error|error while loading shared libraries|version |no version information)))"
)
_LEVEL_AT_START = re.compile(_LEVEL_BODY, re.M)  # .match() at a line start
_LEVEL_AFTER_NL = re.compile(rb"\n" + _LEVEL_BODY, re.M)  # .finditer() over a chunk

ERRO = Level.ERRO.rank  # codes stored in LevelIndex.codes: logparse's rank, 0 = most severe
WARN = Level.WARN.rank
_BRACKET = ord("[")


def _code(m: re.Match[bytes], data: bytes, start: int) -> int | None:
    """The level code of a regex hit whose line starts at ``data[start]`` (None: not a problem)."""
    if data[start] == _BRACKET:  # an XSched prefix or a [WARN]/[ERROR] tag: exact already
        return ERRO if b"ERRO" in m.group() else WARN
    end = data.find(b"\n", start, start + MAX_LINE)  # a candidate: let the parser decide
    rec = parse_line(data[start : end if end >= 0 else start + MAX_LINE])
    lv = rec.level
    return lv.rank if lv is not None and lv.rank <= WARN else None


def line_level(line: bytes) -> Level | None:
    """ERRO or WARN when :meth:`LineIndex.level_index` would list this line, else None."""
    m = _LEVEL_AT_START.match(line)
    if m is None:
        return None
    c = _code(m, line, 0)
    return None if c is None else (Level.ERRO, Level.WARN)[c]


class LogFileError(Exception):
    """A log file can't be opened or read. ``str(err)`` is a message for the user."""

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None) -> None:
        super().__init__(message)
        self.path = None if path is None else os.fspath(path)


class Change(enum.Enum):
    """What :meth:`LineIndex.refresh` found."""

    NONE = "none"  # nothing new
    GREW = "grew"  # lines were appended (the old ones keep their numbers)
    RESET = "reset"  # truncated, rewritten or replaced: every line number changed


@dataclass(frozen=True)
class Tail:
    """The last lines of a file, read without an index."""

    lines: list[bytes]  # capped, without line endings
    start: int  # byte offset of lines[0]
    end: int  # file size when read


@dataclass(frozen=True)
class _State:
    """One consistent view of the index, swapped atomically (readers never lock)."""

    gen: int  # bumps on reset
    size: int  # bytes indexed: [0, size)
    newlines: int  # newlines in [0, size)
    ends_nl: bool  # data[size - 1] == b"\n"
    ckpt: array  # ckpt[b] = newlines in [0, b * BLOCK); append-only within a generation

    @property
    def lines(self) -> int:
        return self.newlines + (1 if self.size and not self.ends_nl else 0)


def _describe(path: str, err: OSError) -> str:
    if isinstance(err, FileNotFoundError):
        return f"{path}: no such file"
    if isinstance(err, PermissionError):
        return f"{path}: permission denied (can't read it as this user)"
    if isinstance(err, IsADirectoryError):
        return f"{path} is a directory, not a log file"
    if isinstance(err, NotADirectoryError):
        return f"{path}: a parent of it is not a directory"
    return f"{path}: can't read it ({err.strerror or err})"


def _open(path: str) -> tuple[int, os.stat_result]:
    try:
        st = os.stat(path)
    except OSError as e:
        raise LogFileError(_describe(path, e), path) from e
    if stat.S_ISDIR(st.st_mode):
        raise LogFileError(f"{path} is a directory, not a log file", path)
    if not stat.S_ISREG(st.st_mode):
        raise LogFileError(f"{path} is not a regular file (a pipe, socket or device can't be indexed)", path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise LogFileError(_describe(path, e), path) from e
    return fd, os.fstat(fd)


def _strip_eol(line: bytes) -> bytes:
    return line[:-1] if line.endswith(b"\r") else line


class LevelIndex:
    """Line numbers of a file's ERRO and WARN lines, sorted, with their levels. Extended by
    :meth:`LineIndex.level_index`; safe to read from another thread while it grows.

    ``level`` arguments are thresholds: ``Level.WARN`` means WARN or worse, ``Level.ERRO`` errors only.
    """

    def __init__(self, gen: int) -> None:
        self.gen = gen
        self.lines = array("Q")  # committed hits (complete lines)
        self.codes = bytearray()  # Level.rank of each hit (0 ERRO, 1 WARN), parallel to lines
        self.pending: list[tuple[int, int]] = []  # hits in a last line without a newline yet
        self.scanned = 0  # bytes scanned
        self.newlines = 0  # newlines in [0, scanned)
        self.at_line_start = True  # scanned is at a line start (not inside a very long line)

    def __len__(self) -> int:
        return len(self.lines) + len(self.pending)

    def count(self, level: Level | None = None) -> int:
        """Hits of exactly ``level`` (all hits when None)."""
        if level is None:
            return len(self)
        r = level.rank
        return self.codes.count(r) + sum(1 for _, c in self.pending if c == r)

    def items(self) -> list[tuple[int, Level]]:
        """Every hit as ``(line, level)``."""
        lv = (Level.ERRO, Level.WARN)
        return [(ln, lv[c]) for ln, c in (*zip(self.lines, self.codes, strict=False), *self.pending)]

    def line_numbers(self, level: Level = Level.WARN) -> array:
        """Sorted line numbers of the hits at ``level`` or worse (for a filtered view)."""
        r = level.rank
        if r >= WARN:
            out = array("Q", self.lines)
        else:
            out = array("Q", (ln for ln, c in zip(self.lines, self.codes, strict=False) if c <= r))
        out.extend(ln for ln, c in self.pending if c <= r)
        return out

    def level_of(self, line: int) -> Level | None:
        """ERRO or WARN when ``line`` is a hit, else None."""
        k = bisect_left(self.lines, line)
        if k < len(self.lines) and self.lines[k] == line:
            return (Level.ERRO, Level.WARN)[self.codes[k]]
        for ln, c in self.pending:
            if ln == line:
                return (Level.ERRO, Level.WARN)[c]
        return None

    def next(self, after: int, level: Level = Level.WARN) -> int | None:
        """The first hit on a line > ``after`` at ``level`` or worse, or None."""
        r = level.rank
        lines, codes = self.lines, self.codes
        n = min(len(lines), len(codes))
        k = bisect_right(lines, after, 0, n) if after >= 0 else 0
        while k < n:
            if codes[k] <= r:
                return lines[k]
            k += 1
        return next((ln for ln, c in self.pending if ln > after and c <= r), None)

    def prev(self, before: int, level: Level = Level.WARN) -> int | None:
        """The last hit on a line < ``before`` at ``level`` or worse, or None."""
        r = level.rank
        for ln, c in reversed(self.pending):
            if ln < before and c <= r:
                return ln
        lines, codes = self.lines, self.codes
        n = min(len(lines), len(codes))
        k = bisect_left(lines, before, 0, n) - 1
        while k >= 0:
            if codes[k] <= r:
                return lines[k]
            k -= 1
        return None

    @property
    def nbytes(self) -> int:
        return self.lines.buffer_info()[1] * self.lines.itemsize + len(self.codes)


ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


class LineIndex:
    """Random access to the lines of one big log file.

    Typical use (a view): ``tail()`` at once, ``start()`` (or ``build()`` in your own worker
    thread), show ``progress``, then ``line_count`` / ``get_line(i)``; call ``refresh()`` from a
    worker when the file may have changed. Every method is safe to call from any thread; scans are
    serialised by one lock and publish a new immutable state per chunk.
    """

    def __init__(self, path: str | os.PathLike[str], *, chunk_size: int = CHUNK) -> None:
        self.path = os.fspath(path)
        if chunk_size < BLOCK or chunk_size % BLOCK:
            raise ValueError(f"chunk_size must be a positive multiple of {BLOCK}")
        self.chunk_size = chunk_size
        self._fd, st = _open(self.path)
        self._ino = (st.st_dev, st.st_ino)
        self._gen = 0
        self._state = _State(0, 0, 0, False, array("Q"))
        self._head = b""
        self._scan_lock = threading.RLock()
        self._cache_lock = threading.Lock()
        self._blocks: OrderedDict[tuple[int, int, int], tuple[bytes, array | None]] = OrderedDict()
        self._levels: LevelIndex | None = None
        self._progress = (0, st.st_size)  # (bytes scanned, target size) of the running scan
        self._closed = threading.Event()
        self.done = threading.Event()  # set once the first full build has finished (or failed)
        self.error: BaseException | None = None  # what the background build raised, if anything
        self.missing = False  # the path is gone (we keep showing what the open descriptor has)
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        self._closed.set()
        with self._scan_lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> LineIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> threading.Thread:
        """Build the index in a daemon thread; ``done`` is set when it finishes."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"logindex:{self.path}", daemon=True)
            self._thread.start()
        return self._thread

    def _run(self) -> None:
        try:
            self.build()
        except BaseException as e:  # reported through .error; the thread must not die noisily
            self.error = e
            self.done.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)

    # -- state -------------------------------------------------------------------------------

    @property
    def generation(self) -> int:
        """Changes whenever line numbers change meaning (truncation, replacement)."""
        return self._state.gen

    @property
    def line_count(self) -> int:
        return self._state.lines

    def __len__(self) -> int:
        return self._state.lines

    @property
    def indexed_bytes(self) -> int:
        return self._state.size

    @property
    def progress(self) -> tuple[int, int]:
        """``(bytes scanned, bytes to scan)`` of the current or last scan."""
        return self._progress

    @property
    def fraction(self) -> float:
        done, total = self._progress
        return 1.0 if total <= 0 else min(1.0, done / total)

    @property
    def nbytes(self) -> int:
        """Memory held by the line index proper (the checkpoints)."""
        ck = self._state.ckpt
        return ck.buffer_info()[1] * ck.itemsize

    def _fd_or_raise(self) -> int:
        fd = self._fd
        if fd < 0:
            raise LogFileError(f"{self.path}: index closed", self.path)
        return fd

    def _pread(self, n: int, off: int) -> bytes:
        try:
            return os.pread(self._fd_or_raise(), n, off)
        except OSError as e:
            raise LogFileError(_describe(self.path, e), self.path) from e

    def _size_now(self) -> int:
        try:
            return os.fstat(self._fd_or_raise()).st_size
        except OSError as e:
            raise LogFileError(_describe(self.path, e), self.path) from e

    # -- tail --------------------------------------------------------------------------------

    def tail(self, n: int = 200, cap: int = MAX_LINE) -> Tail:
        """The last ``n`` lines (each at most ``cap`` bytes), from one read of the file's end; no
        index needed."""
        size = self._size_now()
        want = TAIL_BYTES
        while True:
            start = max(0, size - want)
            data = self._pread(size - start, start)
            end = start + len(data)
            parts = data.split(b"\n")
            if parts and parts[-1] == b"":
                parts.pop()
            if start > 0 and parts:
                cut = len(parts[0]) + 1
                parts = parts[1:]  # a line cut in half
                start += cut
            if len(parts) >= n or start == 0 or want >= TAIL_MAX_BYTES:
                break
            want *= 4
        parts = parts[-n:] if n else []
        first = end - sum(len(p) + 1 for p in parts) + (0 if data.endswith(b"\n") or not parts else 1)
        return Tail([_strip_eol(p[: cap + 1])[:cap] for p in parts], max(first, 0), end)

    def tail_lines(self, n: int = 100, cap: int = MAX_LINE) -> list[bytes]:
        return self.tail(n, cap).lines

    # -- scanning ----------------------------------------------------------------------------

    def build(self, progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> Change:
        """Index the whole file (blocking; run it in a thread). Same as :meth:`refresh`, with
        progress and cancellation, and sets ``done``."""
        try:
            return self._update(progress, cancel)
        finally:
            self.done.set()

    def refresh(self, progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> Change:
        """Catch up with the file: extend after growth, rebuild after truncation or replacement."""
        return self._update(progress, cancel)

    def changed_on_disk(self) -> bool:
        """Cheap check (one ``stat``) whether :meth:`refresh` has anything to do."""
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) != self._ino or st.st_size != self._state.size

    def _update(self, progress: ProgressFn | None, cancel: CancelFn | None) -> Change:
        with self._scan_lock:
            self._fd_or_raise()
            change = Change.NONE
            try:
                st = os.stat(self.path)
                self.missing = False
                if (st.st_dev, st.st_ino) != self._ino:  # replaced (logrotate, editor save)
                    fd, fst = _open(self.path)
                    os.close(self._fd)
                    self._fd, self._ino = fd, (fst.st_dev, fst.st_ino)
                    self._reset()
                    change = Change.RESET
            except FileNotFoundError:
                self.missing = True  # deleted: the open descriptor still reads the old data
            except OSError as e:
                raise LogFileError(_describe(self.path, e), self.path) from e
            size = self._size_now()
            cur = self._state
            if size < cur.size or not self._head_matches(size):
                self._reset()
                change = Change.RESET
            cur = self._state
            if size > cur.size:
                self._scan(size, progress, cancel)
                if change is Change.NONE:
                    change = Change.GREW
            else:
                self._progress = (size, size)
            return change

    def _head_matches(self, size: int) -> bool:
        head = self._head
        data = self._pread(min(_HEAD, size), 0)
        if data[: len(head)] != head[: len(data)]:
            return False
        if len(data) > len(head):
            self._head = data
        return True

    def _reset(self) -> None:
        self._gen += 1
        self._state = _State(self._gen, 0, 0, False, array("Q"))
        self._head = b""
        self._levels = None
        with self._cache_lock:
            self._blocks.clear()

    def _scan(self, limit: int, progress: ProgressFn | None, cancel: CancelFn | None) -> None:
        st = self._state
        ckpt = st.ckpt
        off = (st.size // BLOCK) * BLOCK  # re-count the last partial block
        b = off // BLOCK
        n = ckpt[b] if b < len(ckpt) else st.newlines
        fd = self._fd_or_raise()
        closed = self._closed.is_set
        self._progress = (off, limit)
        chunk = self.chunk_size
        while off < limit:
            if closed() or (cancel is not None and cancel()):
                return
            try:
                data = os.pread(fd, min(chunk, limit - off), off)
            except OSError as e:
                raise LogFileError(_describe(self.path, e), self.path) from e
            if not data:  # truncated under us: the next refresh resets
                break
            count = data.count
            ln = len(data)
            for s in range(0, ln, BLOCK):
                if b >= len(ckpt):
                    ckpt.append(n)
                b += 1
                n += count(b"\n", s, s + BLOCK)
            off += ln
            self._state = st = _State(st.gen, off, n, data[-1] == 10, ckpt)
            self._progress = (off, limit)
            if progress is not None:
                progress(off, limit)
            self._on_chunk(off)

    def _on_chunk(self, scanned: int) -> None:
        """Hook after each published chunk (tests use it to hold a scan half-way)."""

    # -- random access -----------------------------------------------------------------------

    def _block(self, st: _State, b: int) -> tuple[bytes, array]:
        """Block ``b`` (as far as it is indexed) and the offsets just after each of its newlines."""
        valid = min(BLOCK, st.size - b * BLOCK)
        key = (st.gen, b, valid)
        with self._cache_lock:
            hit = self._blocks.get(key)
            if hit is not None:
                self._blocks.move_to_end(key)
                if hit[1] is not None:
                    return hit  # type: ignore[return-value]
        data = hit[0] if hit is not None else self._pread(valid, b * BLOCK)
        parts = data.split(b"\n")
        parts.pop()
        ends = array("I", accumulate(map((1).__add__, map(len, parts))))
        with self._cache_lock:
            self._blocks[key] = (data, ends)
            while len(self._blocks) > _CACHE_BLOCKS:
                self._blocks.popitem(last=False)
        return data, ends

    def _raw_block(self, st: _State, b: int) -> bytes:
        valid = min(BLOCK, st.size - b * BLOCK)
        key = (st.gen, b, valid)
        with self._cache_lock:
            hit = self._blocks.get(key)
            if hit is not None:
                self._blocks.move_to_end(key)
                return hit[0]
        data = self._pread(valid, b * BLOCK)
        with self._cache_lock:
            self._blocks[key] = (data, None)
            while len(self._blocks) > _CACHE_BLOCKS:
                self._blocks.popitem(last=False)
        return data

    def _line_start(self, st: _State, i: int) -> int:
        if i == 0:
            return 0
        ckpt = st.ckpt
        nblocks = (st.size + BLOCK - 1) // BLOCK
        b = bisect_left(ckpt, i, 0, nblocks) - 1  # the block holding newline number i
        _, ends = self._block(st, b)
        return b * BLOCK + ends[i - ckpt[b] - 1]

    def line_offset(self, i: int) -> int:
        """Byte offset where line ``i`` starts."""
        st = self._state
        if not 0 <= i < st.lines:
            raise IndexError(i)
        return self._line_start(st, i)

    def line_at_offset(self, off: int) -> int:
        """The line holding byte ``off`` (clamped to the indexed range)."""
        st = self._state
        if st.size == 0:
            return 0
        off = max(0, min(off, st.size - 1))
        b = off // BLOCK
        data = self._raw_block(st, b)
        return st.ckpt[b] + data.count(b"\n", 0, off - b * BLOCK)

    def get_line(self, i: int, cap: int = MAX_LINE) -> bytes:
        """Line ``i`` without its line ending, at most ``cap`` bytes. IndexError when out of range."""
        st = self._state
        if i < 0:
            i += st.lines
        if not 0 <= i < st.lines:
            raise IndexError(f"line {i} out of range (0..{st.lines - 1})")
        start = self._line_start(st, i)
        out: list[bytes] = []
        have = 0
        pos = start
        limit = cap + 1  # +1: room for a "\r" to strip
        while pos < st.size and have < limit:
            b = pos // BLOCK
            data = self._raw_block(st, b)
            rel = pos - b * BLOCK
            nl = data.find(b"\n", rel, rel + limit - have)
            if nl >= 0:
                out.append(data[rel:nl])
                have = -1
                break
            piece = data[rel : rel + limit - have]
            out.append(piece)
            have += len(piece)
            pos += len(piece)
            if len(data) < BLOCK and pos >= b * BLOCK + len(data):
                break
        line = b"".join(out)
        if have == -1 or len(line) <= cap:
            line = _strip_eol(line)
        return line[:cap]

    def get_lines(self, start: int, stop: int, cap: int = MAX_LINE) -> list[bytes]:
        stop = min(stop, self.line_count)
        return [self.get_line(i, cap) for i in range(max(0, start), stop)]

    # -- errors and warnings -----------------------------------------------------------------

    def level_index(self, progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> LevelIndex:
        """Find every ERRO/WARN line (blocking; run it in a thread). Incremental: a second call
        only scans what the file gained; after a reset it starts over."""
        with self._scan_lock:
            st = self._state
            lv = self._levels
            if lv is None or lv.gen != st.gen:
                lv = LevelIndex(st.gen)
                self._levels = lv  # readable (partial) while it is being built
            limit = st.size if self.done.is_set() else max(st.size, self._size_now())
            self._scan_levels(lv, limit, progress, cancel)
            return lv

    @property
    def levels(self) -> LevelIndex | None:
        """The level index if one was built for the current generation."""
        lv = self._levels
        return lv if lv is not None and lv.gen == self._state.gen else None

    def _scan_levels(self, lv: LevelIndex, limit: int, progress: ProgressFn | None,
                     cancel: CancelFn | None) -> None:
        at_start, after_nl = _LEVEL_AT_START.match, _LEVEL_AFTER_NL.finditer
        lines, codes = lv.lines, lv.codes
        lv.pending = []
        off, n, at_line_start = lv.scanned, lv.newlines, lv.at_line_start
        chunk = self.chunk_size
        while off < limit:
            if self._closed.is_set() or (cancel is not None and cancel()):
                break
            data = self._pread(min(chunk, limit - off), off)
            if not data:
                break
            eof = off + len(data) >= limit
            cut = data.rfind(b"\n") + 1  # complete lines end here
            end = len(data) if eof else cut
            hits: list[tuple[int, int]] = []
            if at_line_start and (m := at_start(data)) is not None:
                c = _code(m, data, 0)
                if c is not None:
                    hits.append((n, c))
            count = data.count
            found = list(after_nl(data, 0, end))
            last_start, last_line = 0, n
            if found:
                starts = [m.start() + 1 for m in found]  # line starts
                # line number of each: newlines counted between consecutive hits (each byte once)
                nums = list(accumulate(map(count, repeat(b"\n"), chain((0,), starts), starts),
                                       initial=n))
                for m, s, ln in zip(found, starts, islice(nums, 1, None), strict=True):
                    if data[s] == _BRACKET:
                        hits.append((ln, ERRO if b"ERRO" in m.group() else WARN))
                    elif (c := _code(m, data, s)) is not None:
                        hits.append((ln, c))
                last_start, last_line = starts[-1], nums[-1]
            complete_lines = last_line + count(b"\n", last_start, cut)
            for ln, c in hits:
                if not eof or ln < complete_lines:
                    lines.append(ln)
                    codes.append(c)
                else:
                    lv.pending.append((ln, c))
            if cut == 0:  # inside one line longer than a chunk
                if eof:
                    break
                at_line_start = False
                off += len(data)
            else:
                at_line_start = True
                off += cut
            n = complete_lines
            lv.scanned, lv.newlines, lv.at_line_start = off, n, at_line_start
            if progress is not None:
                progress(off, limit)
            if eof:
                break

    # -- search ------------------------------------------------------------------------------

    def search(self, pattern: re.Pattern[bytes], start: int, forward: bool = True,
               cancel: CancelFn | None = None) -> int | None:
        """The first line after (or last line before) line ``start`` matching ``pattern`` in its
        raw bytes, scanning chunks with one regex each. ``start=-1`` forward searches from the top."""
        st = self._state
        total = st.lines
        if total == 0:
            return None
        chunk = self.chunk_size
        if forward:
            if start + 1 >= total:
                return None
            off = self._line_start(st, start + 1) if start >= 0 else 0
            while off < st.size:
                if cancel is not None and cancel():
                    return None
                data = self._pread(min(chunk, st.size - off), off)
                if not data:
                    return None
                last = off + len(data) >= st.size
                cut = len(data) if last else data.rfind(b"\n") + 1
                if cut == 0:  # one huge line: search what we have of it
                    cut = len(data)
                m = pattern.search(data, 0, cut)
                if m is not None:
                    return self.line_at_offset(off + m.start())
                off += cut
            return None
        if start <= 0:
            return None
        end = st.size if start >= total else self._line_start(st, start)
        while end > 0:
            if cancel is not None and cancel():
                return None
            lo = max(0, end - chunk)
            data = self._pread(end - lo, lo)
            first = 0 if lo == 0 else data.find(b"\n") + 1  # 0 too inside a line longer than a chunk
            found = None
            for m in pattern.finditer(data, first):
                found = m
            if found is not None:
                return self.line_at_offset(lo + found.start())
            end = lo + first if first else lo
        return None
