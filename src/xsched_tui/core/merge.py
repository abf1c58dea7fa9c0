"""Time-ordered merging of per-source log streams (no Textual, no global sort).

XSched writes one stderr stream per process, each line stamped with a time of day in µs (see
FACTS.md §1). Showing several processes on one timeline means merging those streams. Two tools live
here:

* :func:`merge_streams` / :func:`iter_merged`: a streaming k-way merge (``heapq`` over one iterator
  per source). Only one pending item per source is held; nothing is sorted globally and no per-line
  table is built (PERFORMANCE.md, "Merge of N time-ordered files").
* :class:`MergedTimeline`: the bounded, incremental version for live views. New batches are merged
  into the tail; late entries are inserted by bisection inside the window.

Ordering rules (the same for both)
----------------------------------

1. **Time of a record** (``key``, default :func:`entry_time_us`): whole µs since the epoch when the
   record has a date attached (``record.timestamp``), otherwise µs since midnight
   (``record.tod_us``), otherwise ``None`` (a line without an XSched prefix: a loader message, a
   Python traceback, garbage). All records of one merge must use the same basis: give every parser a
   base date, or none. Time-of-day-only keys do not survive midnight; dated keys do (the parser
   handles the roll-over).
2. **Effective time**: the running maximum of the times seen so far *in the same source*. A record
   without a time takes its predecessor's effective time, so it stays directly after the line it
   followed in its file; a record stamped earlier than its predecessor (threads of one process
   racing to stderr) stays in file order too. Per-source order is therefore never changed.
3. **Records before a source's first timestamp** (:func:`merge_streams`): effective time "minus
   infinity", so they come first, ahead of every timed record, in source order.
   (:class:`MergedTimeline`: they are placed at the tail, i.e. in arrival order.)
4. **Ties**: ``(effective time, source order, position in source)``. Source order is the index of
   the stream in ``streams`` (for :class:`MergedTimeline`: the order in which sources were first
   seen). The merge is stable: equal keys keep source order, then file order.

For streams that are already sorted, the output equals
``sorted(all records, key=(time, source index, position))``.
"""

from __future__ import annotations

import heapq
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import compress, count, groupby, repeat
from operator import attrgetter, itemgetter, lt, mul
from typing import Any, Generic, TypeVar

__all__ = [
    "MergedTimeline",
    "TimelineUpdate",
    "entry_source",
    "entry_time_us",
    "iter_merged",
    "merge_streams",
]

T = TypeVar("T")
TimeKey = Callable[[Any], "int | None"]

_NEG = float("-inf")
# Stand-in for "minus infinity" in the timeline's int64 time array.
_MIN_T = -(1 << 62)


def entry_time_us(item: Any) -> int | None:
    """Default merge key: the record's time in whole µs, or None when it carries none.

    Accepts a LogRecord or anything with a ``.record`` (LogEntry, replay and path entries).
    Dated records give µs since the epoch; undated ones µs since midnight (rule 1 above).
    """
    rec = getattr(item, "record", item)
    ts = getattr(rec, "timestamp", None)
    if ts is not None:
        return round(ts * 1_000_000)
    return getattr(rec, "tod_us", None)


def entry_source(item: Any) -> Hashable:
    """Default source accessor for :class:`MergedTimeline`: ``item.source_id`` (None if absent)."""
    return getattr(item, "source_id", None)


def iter_merged(streams: Sequence[Iterable[T]],
                key: TimeKey = entry_time_us) -> Iterator[tuple[int | None, int, T]]:
    """Merge per-source streams; yield ``(effective_time, stream_index, item)`` in merge order.

    ``effective_time`` is None for records before the source's first timestamp (rule 3). Streams
    are consumed lazily: one item per stream is held at a time.
    """
    heap: list[list[Any]] = []
    for rank, stream in enumerate(streams):
        it = iter(stream)
        for item in it:
            t = key(item)
            heap.append([_NEG if t is None else t, rank, item, it])
            break
    heapq.heapify(heap)
    replace = heapq.heapreplace
    pop = heapq.heappop
    while heap:
        top = heap[0]
        eff = top[0]
        yield (None if eff == _NEG else eff), top[1], top[2]
        it = top[3]
        for nxt in it:
            t = key(nxt)
            if t is not None and t > eff:
                top[0] = t
            top[2] = nxt
            # ``top`` is heap[0]: replacing it with itself re-sifts it with its new key. The rank
            # (unique per stream) decides ties, so items themselves are never compared.
            replace(heap, top)
            break
        else:
            pop(heap)


def merge_streams(streams: Sequence[Iterable[T]], key: TimeKey = entry_time_us) -> Iterator[T]:
    """Streaming k-way merge of per-source record streams, ordered by the module's rules.

    ``streams``: one iterable per source, each in file (arrival) order; their index is the
    source order used for ties. ``key(item)`` returns the item's time (int µs) or None.
    """
    for _eff, _rank, item in iter_merged(streams, key):
        yield item


@dataclass(frozen=True)
class TimelineUpdate:
    """What one :meth:`MergedTimeline.extend` call changed, for views that redraw incrementally.

    ``first_changed``: window index of the first entry that is new or moved (None: no change).
    If ``inserted == 0`` the change is append-only: the last ``appended`` entries are new and the
    first ``trimmed`` old ones fell off the front (a ``Log``-style view can just append).
    """

    first_changed: int | None
    appended: int
    inserted: int
    trimmed: int
    rejected: int

    @property
    def append_only(self) -> bool:
        return self.inserted == 0


_NO_CHANGE = TimelineUpdate(None, 0, 0, 0, 0)


class MergedTimeline(Generic[T]):
    """A bounded, time-ordered window over entries from many live sources.

    ``extend(batch)`` takes entries in arrival order (each source's entries in its own order, as a
    LogHub delivers them). Entries at or after the tail are appended; late ones (a slower source
    delivering older lines) are inserted by bisection. When the window exceeds ``maxlen`` the oldest
    entries are dropped; a late entry older than everything in a full window is rejected at once.

    Ordering follows the module rules, with two live-view specifics: source order is the order in
    which sources were first seen, and an untimed entry from a source that has not yet shown a
    timestamp is placed at the current high-water mark (arrival order).

    Memory: the window is the list of entries beside three int64 arrays of their keys (effective
    time, source rank, per-source seq): 24 B per entry, no Python object per key. At 100k lines/s
    the window's oldest 100k entries leave it every second; with a ``(time, rank, seq, entry)``
    tuple per entry, freeing those cold tuples and their two ints, and making the new ones, was
    ~35 % of the UI thread (py-spy, benchmarks/bench_logs_app.py). A batch is merged into the
    window by ``_logscan.merge_into`` (C: a heap over the batch's runs, then one backward merge
    from the first window entry it passes, in place) or, without the C scanner, by
    :func:`_py_merge_into` (tuples for the batch and the window's moved suffix only). Times are
    int64: a key outside that range is clamped. Not thread-safe: use it from one thread (the UI
    thread, or the thread that drains the hub).
    """

    def __init__(self, maxlen: int = 10_000, *, key: TimeKey = entry_time_us,
                 source: Callable[[Any], Hashable] = entry_source) -> None:
        if maxlen < 1:
            raise ValueError("maxlen must be at least 1")
        self.maxlen = maxlen
        self._key = key
        self._source = source
        self._e: list[T] = []
        self._t = array("q")  # effective time (µs) of each entry, _MIN_T: before any timestamp
        self._r = array("q")  # its source's rank
        self._s = array("q")  # its per-source seq
        self._rank: dict[Hashable, int] = {}
        self._last: dict[Hashable, int] = {}
        self._next_seq: dict[Hashable, int] = {}
        self._hwm = _MIN_T
        self.revision = 0
        self.total_trimmed = 0
        self.total_inserted = 0
        self.total_rejected = 0

    # -- reading ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._e)

    def __iter__(self) -> Iterator[T]:
        return iter(self._e)

    def __getitem__(self, index: Any) -> Any:
        return self._e[index]  # a slice: a list

    def entries(self) -> list[T]:
        """A copy of the window, oldest first."""
        return list(self._e)

    def time_us(self, index: int) -> int | None:
        """The effective time used to place entry ``index`` (None: before any timestamp)."""
        t = self._t[index]
        return None if t == _MIN_T else t

    # -- writing ---------------------------------------------------------------------------
    def clear(self) -> None:
        """Forget every entry and every source (ranks, carried times)."""
        self._e.clear()
        del self._t[:], self._r[:], self._s[:]
        self._rank.clear()
        self._last.clear()
        self._next_seq.clear()
        self._hwm = _MIN_T
        self.revision += 1

    def append(self, entry: T) -> TimelineUpdate:
        return self.extend((entry,))

    def extend(self, entries: Iterable[T], *, runs: Sequence[tuple[Hashable, int, int]] | None = None,
               on_run: Callable[[Hashable, list[Any]], object] | None = None) -> TimelineUpdate:
        """Merge a batch (arrival order, time-ordered per source) into the window.

        ``runs`` (the default key and source accessors only): ``(source, start, stop)`` of every
        run of consecutive entries of one source, in order (batchscan.source_runs), when the
        caller knows them already. ``on_run(source, records)`` (LogEntry-like entries): called
        for every run, in order, with its entries' records, as the run is keyed: the caller's
        own work on them finds them in the CPU cache (a batch does not fit: each pass over
        10k lines' objects costs ~0.1 us a line in cache misses alone).
        """
        segs = self._keyed(entries, runs, on_run)
        m = sum(len(seg[3]) for seg in segs)
        if not m:
            return _NO_CHANGE
        e, t, r, s = self._e, self._t, self._r, self._s
        n = len(e)
        pad = bytes(8 * m)
        t.frombytes(pad)
        r.frombytes(pad)
        s.frombytes(pad)
        e.extend(repeat(None, m))  # type: ignore[arg-type]  # placeholders, filled in place
        merge_into = _merge_into or _py_merge_into
        pos, appended, inserted, rejected = merge_into(t, r, s, e, n, segs, n >= self.maxlen)
        if rejected:
            cut = len(e) - rejected  # the unused placeholders
            del e[cut:], t[cut:], r[cut:], s[cut:]
        if pos < 0:
            self.total_rejected += rejected
            return TimelineUpdate(None, 0, 0, 0, rejected)
        trimmed = len(e) - self.maxlen
        if trimmed > 0:
            del e[:trimmed], t[:trimmed], r[:trimmed], s[:trimmed]
        else:
            trimmed = 0
        self.total_trimmed += trimmed
        self.total_inserted += inserted
        self.total_rejected += rejected
        self.revision += 1
        return TimelineUpdate(max(0, pos - trimmed), appended, inserted, trimmed, rejected)

    def _keyed(self, entries: Iterable[T], runs: Sequence[tuple[Hashable, int, int]] | None = None,
               on_run: Callable[[Hashable, list[Any]], object] | None = None,
               ) -> list[tuple[Any, int, int, Sequence[T]]]:
        """``(effective times, source rank, first per-source seq, entries)`` of each run of one
        source's entries (rule 2), the times an int64 buffer; for :func:`_merge_into`.

        This runs once per log line, so each run of one source's entries is keyed by C-level
        passes (map, zip), one run after the other while its objects are in the CPU cache; a
        per-entry Python loop runs only for runs holding untimed records or records of mixed
        time bases, and only where a run's times go backwards (:func:`_running_max`)."""
        if not isinstance(entries, (list, tuple)):
            entries = list(entries)
        if not entries:
            return []
        rank_of, last, next_seq = self._rank, self._last, self._next_seq
        default = self._key is entry_time_us and self._source is entry_source
        if runs is None or not default:
            # The C-level passes need LogEntry-like items (``.source_id`` and ``.record``);
            # anything else (bare records, custom key functions) goes through the key functions.
            default = default and hasattr(entries[0], "source_id") and hasattr(entries[0], "record")
            runs = _runs_of(entries, _get_source if default else self._source)
        segs: list[tuple[Any, int, int, Sequence[T]]] = []
        key_times = _key_times if default else None
        for src, a, b in runs:
            run = entries[a:b]
            if default or on_run is not None:
                recs = list(map(_get_record, run))
                if on_run is not None:
                    on_run(src, recs)
            r = rank_of.get(src)
            if r is None:
                r = rank_of[src] = len(rank_of)
            prev = last.get(src)
            s0 = next_seq.get(src, 0)
            next_seq[src] = s0 + b - a
            # The compiled keying (core/_logscan.c) when every record has a float timestamp (the
            # live tail's): the same times as the passes below, in one C loop.
            got = key_times(recs, prev) if key_times is not None else None
            if got is not None:
                times, eff = got
                last[src] = eff
                if eff > self._hwm:
                    self._hwm = eff
                segs.append((times, r, s0, run))
                continue
            if default:
                t, untimed = _run_times(recs)
            else:
                t = list(map(self._key, run))
                untimed = None in t
            effs = self._effs_slow(t, prev) if untimed else _running_max(t, prev)
            last[src] = effs[-1]
            if effs[-1] > self._hwm:
                self._hwm = effs[-1]
            segs.append((_int64s(effs), r, s0, run))
        return segs

    def _effs_slow(self, times: list[int | None], prev: int | None) -> list[int]:
        effs = []
        hwm = self._hwm
        for t in times:
            if t is None:
                eff = hwm if prev is None else prev
            else:
                t = int(t)
                eff = t if prev is None or t > prev else prev
            prev = eff
            if eff > hwm:
                hwm = eff
            effs.append(eff)
        return effs


def _compiled(name: str) -> Callable[..., Any] | None:
    # logparse.compiled, imported here: merge.py itself needs nothing of the parser
    from xsched_tui.core.logparse import compiled

    return compiled(name)


_key_times = _compiled("key_times")
_merge_into = _compiled("merge_into")
_get_source = attrgetter("source_id")
_get_record = attrgetter("record")
_get_timestamp = attrgetter("timestamp")
_get_tod = attrgetter("tod_us")


def _runs_of(entries: Sequence[Any], source: Callable[[Any], Hashable]) -> list[tuple[Any, int, int]]:
    """``(source, start, stop)`` of every run of consecutive entries of one source."""
    runs = []
    at = 0
    for src, group in groupby(entries, key=source):
        n = len(list(group))
        runs.append((src, at, at + n))
        at += n
    return runs


def _run_times(recs: list[Any]) -> tuple[list[Any], bool]:
    """(entry_time_us of every record of a run, whether one of them is None: no time), by
    C-level passes when the run is all dated (the live tail: its parsers attach a date) or all
    undated."""
    ts = list(map(_get_timestamp, recs))
    try:
        return list(map(round, map(mul, ts, repeat(1_000_000)))), False
    except TypeError:
        if None not in ts:
            raise  # not a number: as entry_time_us would
    if ts.count(None) == len(ts):
        t = list(map(_get_tod, recs))
    else:
        t = [entry_time_us(r) for r in recs]
    return t, None in t


def _running_max(t: list[Any], prev: Any) -> list[Any]:
    """The running maximum of ``t`` from ``prev`` (None: none), in place: the effective times
    of a run whose records are all timed (rule 2). ``accumulate(t, max)`` calls max() per item
    (~4x a C-level pass); lines of one process are nearly always in time order, so one pass
    finds where ``t`` goes backwards and only those stretches are raised, in Python."""
    low = prev is not None and t[0] < prev
    if not low and sorted(t) == t:  # in order (Timsort checks it in one run: ~1/3 of a pass)
        return t
    n = len(t)
    drops = list(compress(range(1, n), map(lt, t[1:], t)))  # t[i] < t[i - 1]
    if low:
        i, cur = 0, prev
    elif drops:
        i = drops[0]
        cur = t[i - 1]
    else:
        return t
    k = 0
    while True:
        while i < n and t[i] < cur:
            t[i] = cur
            i += 1
        # t[i] >= cur: from here t is its own running maximum up to its next drop
        k = bisect_right(drops, i, k)
        if i >= n or k == len(drops):
            return t
        i = drops[k]
        cur = t[i - 1]


_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1


def _int64s(effs: list[int]) -> array:
    """A run's effective times as an int64 array (a time outside that range is clamped)."""
    try:
        return array("q", effs)
    except OverflowError:
        return array("q", [min(max(int(x), _I64_MIN), _I64_MAX) for x in effs])


def _py_merge_into(t: array, r: array, s: array, e: list, n: int,
                   segs: list[tuple[Any, int, int, Sequence[Any]]], full: bool,
                   ) -> tuple[int, int, int, int]:
    """``_logscan.merge_into`` in Python (the same contract, see there): the batch's keys as
    tuples, one sort, and a splice of the window's suffix from the first entry the batch
    passes."""
    batch = []
    for times, rank, s0, run in segs:
        ts = times if isinstance(times, array) else array("q", bytes(times))
        if len(ts) != len(run):
            raise ValueError("segs: as many times as entries")
        batch += zip(ts, repeat(rank), count(s0), run)  # lengths checked above
    m = len(batch)
    if len(e) != n + m or len(t) != n + m:
        raise ValueError("e: the window and the batch's placeholders")
    batch.sort(key=_key3)
    j0 = 0
    if full and n:
        j0 = bisect_left(batch, (t[0], r[0], s[0]), key=_key3)
    mb = m - j0
    if not mb:
        return -1, 0, 0, j0
    first = _key3(batch[j0])
    tail = (t[n - 1], r[n - 1], s[n - 1]) if n else None
    if tail is None or first > tail:
        pos, inserted = n, 0
        moved = batch[j0:]
    else:
        def wkey(i: int) -> tuple[int, int, int]:
            return t[i], r[i], s[i]
        pos = bisect_left(range(n), first, key=wkey)
        inserted = bisect_left(batch, tail, j0, key=_key3) - j0
        moved = list(zip(t[pos:n], r[pos:n], s[pos:n], e[pos:n], strict=True)) + batch[j0:]
        moved.sort(key=_key3)
    end = pos + len(moved)
    t[pos:end] = array("q", map(itemgetter(0), moved))
    r[pos:end] = array("q", map(itemgetter(1), moved))
    s[pos:end] = array("q", map(itemgetter(2), moved))
    e[pos:end] = map(itemgetter(3), moved)
    return pos, mb - inserted, inserted, j0


_key3 = itemgetter(0, 1, 2)  # a keyed entry's (time, rank, seq)
