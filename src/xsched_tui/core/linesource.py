"""What a log view draws from: the :class:`LineSource` protocol and its three implementations.

* :class:`ListLineSource`: records in memory (a live tail, a merged timeline, a filter result),
  optionally bounded (``maxlen``) with the oldest lines dropped in batches.
* :class:`FileLineSource`: one big file through :class:`~xsched_tui.core.logindex.LineIndex`; the
  tail is readable at once, the whole file once the background index is built. Lines are parsed
  lazily, one visible line at a time, and cached.
* :class:`FilteredLineSource`: a subset (by line numbers) of another source, e.g. only the
  ERRO/WARN lines of a file from its level index.

No Textual here: the TUI's ``LogView`` and any other front-end consume these.
"""

from __future__ import annotations

import dataclasses
import os
import re
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import Protocol, runtime_checkable

from xsched_tui.core.logindex import (
    MAX_LINE,
    Change,
    LevelIndex,
    LineIndex,
    LogFileError,
    Tail,
    line_level,
)
from xsched_tui.core.logparse import Kind, Level, LogRecord, parse_line

__all__ = [
    "FileLineSource",
    "FilteredLineSource",
    "LineSource",
    "ListLineSource",
    "LogFileError",
    "RecordListSource",
    "is_problem",
]


@runtime_checkable
class LineSource(Protocol):
    """The minimum a log view needs. Line numbers are 0-based positions in the source.

    Optional members a view uses when present:

    * ``source_label(i) -> str | None`` and ``label_width: int`` (0: no label column);
    * ``generation: int``: changes when existing positions change meaning (cleared, reset);
    * ``trimmed: int``: lines dropped from the front so far (positions shift down by the delta);
    * ``find(regex, start, forward) -> int | None``: a faster search than record-by-record;
    * ``next_problem(after, forward, level) -> int | None``: the next ERRO/WARN line.
    """

    def __len__(self) -> int: ...

    def record(self, i: int) -> LogRecord: ...


def is_problem(rec: LogRecord, level: Level = Level.WARN) -> bool:
    """True when the record's level is ``level`` or worse (WARN: warnings and errors)."""
    lv = rec.level
    return lv is not None and lv.rank <= level.rank


def _scan(src: LineSource, start: int, forward: bool, test: Callable[[LogRecord], bool],
          limit: int | None = None) -> int | None:
    """Record-by-record search from ``start`` (exclusive), at most ``limit`` records."""
    n = len(src)
    if forward:
        rng = range(max(start + 1, 0), n if limit is None else min(n, start + 1 + limit))
    else:
        hi = min(start, n) - 1
        rng = range(hi, -1 if limit is None else max(-1, hi - limit), -1)
    rec = src.record
    for i in rng:
        if test(rec(i)):
            return i
    return None


def search_records(src: LineSource, regex: re.Pattern[str], start: int, forward: bool = True,
                   limit: int | None = None) -> int | None:
    """The next line whose text matches ``regex`` (after ``start``; before it when backward)."""
    search = regex.search
    return _scan(src, start, forward, lambda r: search(r.text) is not None, limit)


def next_problem_records(src: LineSource, start: int, forward: bool = True,
                         level: Level = Level.WARN, limit: int | None = None) -> int | None:
    return _scan(src, start, forward, lambda r: is_problem(r, level), limit)


class ListLineSource:
    """Records in memory, each with an optional source label (the file or process it came from).

    ``maxlen`` bounds memory: when exceeded, the oldest lines are dropped (``trimmed`` grows by
    that many, so a view can shift its cursor and marks). ``clear()`` bumps ``generation``.
    """

    def __init__(self, items: Iterable[tuple[str | None, LogRecord]] = (), *,
                 maxlen: int | None = None) -> None:
        if maxlen is not None and maxlen <= 0:
            raise ValueError("maxlen must be positive")
        self.maxlen = maxlen
        self._items: list[tuple[str | None, LogRecord]] = []
        self.trimmed = 0
        self.generation = 0
        self.label_width = 0
        self._labels: set[str | None] = set()
        self.extend(items)

    def __len__(self) -> int:
        return len(self._items)

    def record(self, i: int) -> LogRecord:
        return self._items[i][1]

    def source_label(self, i: int) -> str | None:
        return self._items[i][0]

    def append(self, record: LogRecord, label: str | None = None) -> None:
        self.extend(((label, record),))

    def extend(self, items: Iterable[tuple[str | None, LogRecord]]) -> None:
        items = list(items)
        if not items:
            return
        new = set(map(itemgetter(0), items)) - self._labels
        if new:
            self._labels |= new
            width = max((len(lb) for lb in new if lb), default=0)
            if width > self.label_width:
                self.label_width = min(width, 24)
        self._items.extend(items)
        if self.maxlen is not None and len(self._items) > self.maxlen:
            drop = len(self._items) - self.maxlen
            del self._items[:drop]
            self.trimmed += drop

    def extend_records(self, records: Iterable[LogRecord], label: str | None = None) -> None:
        self.extend((label, r) for r in records)

    def clear(self) -> None:
        self._items.clear()
        self.generation += 1

    def find(self, regex: re.Pattern[str], start: int, forward: bool = True) -> int | None:
        return search_records(self, regex, start, forward)

    def next_problem(self, after: int, forward: bool = True, level: Level = Level.WARN) -> int | None:
        return next_problem_records(self, after, forward, level)


class RecordListSource:
    """One source's records in memory under one label (a process's live tail): a list of records,
    no per-line tuple. Same reading interface as :class:`ListLineSource`; bounded by ``maxlen``."""

    def __init__(self, label: str | None = None, *, maxlen: int | None = None) -> None:
        if maxlen is not None and maxlen <= 0:
            raise ValueError("maxlen must be positive")
        self.maxlen = maxlen
        self.label = label
        self._records: list[LogRecord] = []
        self.trimmed = 0
        self.generation = 0

    @property
    def label_width(self) -> int:
        return min(len(self.label), 24) if self.label else 0

    def __len__(self) -> int:
        return len(self._records)

    def record(self, i: int) -> LogRecord:
        return self._records[i]

    def source_label(self, i: int) -> str | None:
        return self.label

    def extend(self, records: Iterable[LogRecord]) -> None:
        recs = self._records
        recs.extend(records)
        if self.maxlen is not None and len(recs) > self.maxlen:
            drop = len(recs) - self.maxlen
            del recs[:drop]
            self.trimmed += drop

    def clear(self) -> None:
        self._records.clear()
        self.generation += 1

    def set_maxlen(self, maxlen: int) -> None:
        """A new bound (the model shares one budget among its sources); the oldest go first."""
        if maxlen <= 0:
            raise ValueError("maxlen must be positive")
        self.maxlen = maxlen
        over = len(self._records) - maxlen
        if over > 0:
            del self._records[:over]
            self.trimmed += over

    def find(self, regex: re.Pattern[str], start: int, forward: bool = True) -> int | None:
        return search_records(self, regex, start, forward)

    def next_problem(self, after: int, forward: bool = True, level: Level = Level.WARN) -> int | None:
        return next_problem_records(self, after, forward, level)


class FilteredLineSource:
    """The lines ``lines`` (sorted positions) of ``base``, e.g. a file's ERRO/WARN lines."""

    def __init__(self, base: LineSource, lines: Sequence[int]) -> None:
        self.base = base
        self.lines = lines
        self.generation = getattr(base, "generation", 0)
        self.label_width = getattr(base, "label_width", 0)

    def __len__(self) -> int:
        return len(self.lines)

    def base_line(self, i: int) -> int:
        return self.lines[i]

    def index_of(self, base_line: int) -> int:
        """Position of the first kept line at or after ``base_line``."""
        return bisect_left(self.lines, base_line)

    def record(self, i: int) -> LogRecord:
        return self.base.record(self.lines[i])

    def source_label(self, i: int) -> str | None:
        fn = getattr(self.base, "source_label", None)
        return fn(self.lines[i]) if fn is not None else None

    def next_problem(self, after: int, forward: bool = True, level: Level = Level.WARN) -> int | None:
        return next_problem_records(self, after, forward, level)


_PLACEHOLDER = LogRecord(Kind.PLAIN, "")


def _parse(raw: bytes, lineno: int | None) -> LogRecord:
    """parse_line of a line read with one byte over the cap: longer means it was cut."""
    if len(raw) <= MAX_LINE:
        return parse_line(raw, lineno)
    rec = parse_line(raw[:MAX_LINE], lineno)
    return rec if rec.truncated else dataclasses.replace(rec, truncated=True)


def _bytes_regex(regex: re.Pattern[str]) -> re.Pattern[bytes] | None:
    """The same regex for raw bytes, when it translates (ASCII flags only)."""
    try:
        flags = regex.flags & (re.IGNORECASE | re.MULTILINE | re.DOTALL | re.VERBOSE)
        return re.compile(regex.pattern.encode("utf-8"), flags)
    except (re.error, UnicodeEncodeError, TypeError):
        return None


class FileLineSource:
    """One log file, shown through its tail at once and through the full index once built.

    Threading: ``load_tail``, ``build``, ``refresh_index`` and ``build_levels`` do I/O and belong in
    a worker thread; ``activate``, ``sync`` and every read (``len``, ``record``) belong to the
    thread that draws (they only touch in-memory state, and reads hit the page cache).
    """

    def __init__(self, path: str | os.PathLike[str], *, label: str | None = None, tail: int = 500,
                 cache: int = 4096, index: LineIndex | None = None) -> None:
        self.path = os.fspath(path)
        self.last_line_mutable = True  # a last line without a newline may still be being written
        self.index = index if index is not None else LineIndex(self.path)  # LogFileError if unreadable
        self.label = label
        self.label_width = len(label) if label else 0
        self.tail_size = tail
        self.generation = 0
        self.ready = False  # True once the full index is in use
        self.levels_ready = False
        self._tail: Tail | None = None
        self._tail_records: list[LogRecord | None] = []
        self._count = 0
        self._index_gen = self.index.generation
        self._cache: OrderedDict[int, LogRecord] = OrderedDict()
        self._cache_size = cache

    # -- I/O (worker thread) -----------------------------------------------------------------

    def load_tail(self) -> Tail:
        self._tail = self.index.tail(self.tail_size, cap=MAX_LINE + 1)  # +1: notice cut lines
        return self._tail

    def build(self, progress: Callable[[int, int], None] | None = None,
              cancel: Callable[[], bool] | None = None) -> Change:
        return self.index.build(progress, cancel)

    def refresh_index(self) -> Change:
        change = self.index.refresh()
        if change is Change.RESET:
            self.levels_ready = False
        return change

    def build_levels(self, progress: Callable[[int, int], None] | None = None,
                     cancel: Callable[[], bool] | None = None) -> LevelIndex:
        lv = self.index.level_index(progress, cancel)
        if cancel is None or not cancel():
            self.levels_ready = True
        return lv

    # -- state changes (drawing thread) ------------------------------------------------------

    def show_tail(self) -> None:
        """Serve the loaded tail (before the index is ready)."""
        if self._tail is not None and not self.ready:
            self._tail_records = [None] * len(self._tail.lines)
            self._count = len(self._tail_records)
            self.generation += 1

    def activate(self) -> int:
        """Switch from the tail to the full index. Returns the line number the tail's first line
        has in the index (to carry a cursor or marks across), or 0."""
        first = 0
        if self._tail is not None and self._tail.lines:
            first = max(0, self.index.line_at_offset(self._tail.start))
        self.ready = True
        self._index_gen = self.index.generation
        self._tail_records = []
        self._cache.clear()
        self._count = self.index.line_count
        self.generation += 1
        return first

    def sync(self, change: Change | None = None) -> Change:
        """Adopt what a refresh found. The last line is re-read (it may have been partial)."""
        if not self.ready:
            return Change.NONE
        gen_changed = self.index.generation != self._index_gen
        self._index_gen = self.index.generation
        if change is Change.RESET or gen_changed:
            self._cache.clear()
            self.generation += 1
            self.levels_ready = False
            self._count = self.index.line_count
            return Change.RESET
        old = self._count
        self._count = self.index.line_count
        if old:
            self._cache.pop(old - 1, None)
        return Change.GREW if self._count != old else Change.NONE

    # -- reads -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._count

    def source_label(self, i: int) -> str | None:
        return self.label

    def line_bytes(self, i: int) -> bytes:
        """The raw line (at most MAX_LINE bytes, line ending removed)."""
        if self.ready:
            return self.index.get_line(i)
        assert self._tail is not None
        return self._tail.lines[i][:MAX_LINE]

    def record(self, i: int) -> LogRecord:
        if not self.ready:
            recs = self._tail_records
            if not 0 <= i < len(recs):
                raise IndexError(i)
            r = recs[i]
            if r is None:
                assert self._tail is not None
                r = recs[i] = _parse(self._tail.lines[i], None)
            return r
        cache = self._cache
        r = cache.get(i)
        if r is not None:
            cache.move_to_end(i)
            return r
        if not 0 <= i < self._count:
            raise IndexError(i)
        try:
            r = _parse(self.index.get_line(i, MAX_LINE + 1), i + 1)
        except (IndexError, LogFileError):  # the file shrank under us: the next sync resets
            return _PLACEHOLDER
        cache[i] = r
        if len(cache) > self._cache_size:
            cache.popitem(last=False)
        return r

    @property
    def progress(self) -> float:
        return 1.0 if self.ready else self.index.fraction

    def find(self, regex: re.Pattern[str], start: int, forward: bool = True,
             cancel: Callable[[], bool] | None = None) -> int | None:
        """Next line matching ``regex``: one bytes regex per chunk over the file once indexed
        (ANSI codes are not stripped there), record by record over the tail before that."""
        if self.ready:
            bre = _bytes_regex(regex)
            if bre is not None:
                hit = self.index.search(bre, start, forward, cancel)
                return hit if hit is None or hit < self._count else None
        return search_records(self, regex, start, forward)

    def next_problem(self, after: int, forward: bool = True, level: Level = Level.WARN,
                     limit: int = 200_000) -> int | None:
        """Next ERRO/WARN line: from the level index once built, else a bounded line scan."""
        lv = self.index.levels if self.ready and self.levels_ready else None
        if lv is not None:
            hit = lv.next(after, level) if forward else lv.prev(after, level)
            return hit if hit is None or hit < self._count else None
        if not self.ready:
            return next_problem_records(self, after, forward, level)
        rank = level.rank
        n = self._count
        rng = (range(after + 1, min(n, after + 1 + limit)) if forward
               else range(min(after, n) - 1, max(-1, after - 1 - limit), -1))
        get = self.index.get_line
        for i in rng:
            lvl = line_level(get(i))
            if lvl is not None and lvl.rank <= rank:
                return i
        return None

    def problems(self, level: Level = Level.WARN) -> FilteredLineSource | None:
        """A view of only the ERRO/WARN lines (None until the level index is built)."""
        lv = self.index.levels if self.ready and self.levels_ready else None
        return None if lv is None else FilteredLineSource(self, lv.line_numbers(level))

    def close(self) -> None:
        self.index.close()
