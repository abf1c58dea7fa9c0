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
from bisect import bisect_left
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate, count, groupby, repeat
from operator import attrgetter, itemgetter, mul
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

    Memory: the window is one list of ``(time, source rank, per-source seq, entry)`` tuples
    (~140 B per entry beside the entries themselves, bounded by ``maxlen``: 14 MB for the app's
    100k-line window). Merging a batch is then a splice of that list (``window[pos:] + batch``,
    one C-level sort of two sorted runs, one ``extend``); three compact arrays of the keys beside
    a list of entries cost ~1.5 us/line more at 100k lines/s (zipping the keys back into tuples
    for the sort and unzipping them after). Not thread-safe: use it from one thread (the UI
    thread, or the thread that drains the hub).
    """

    def __init__(self, maxlen: int = 10_000, *, key: TimeKey = entry_time_us,
                 source: Callable[[Any], Hashable] = entry_source) -> None:
        if maxlen < 1:
            raise ValueError("maxlen must be at least 1")
        self.maxlen = maxlen
        self._key = key
        self._source = source
        self._w: list[tuple[int, int, int, T]] = []
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
        return len(self._w)

    def __iter__(self) -> Iterator[T]:
        return map(_get_entry, self._w)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return list(map(_get_entry, self._w[index]))
        return self._w[index][3]

    def entries(self) -> list[T]:
        """A copy of the window, oldest first."""
        return list(map(_get_entry, self._w))

    def time_us(self, index: int) -> int | None:
        """The effective time used to place entry ``index`` (None: before any timestamp)."""
        t = self._w[index][0]
        return None if t == _MIN_T else t

    # -- writing ---------------------------------------------------------------------------
    def clear(self) -> None:
        """Forget every entry and every source (ranks, carried times)."""
        self._w.clear()
        self._rank.clear()
        self._last.clear()
        self._next_seq.clear()
        self._hwm = _MIN_T
        self.revision += 1

    def append(self, entry: T) -> TimelineUpdate:
        return self.extend((entry,))

    def extend(self, entries: Iterable[T]) -> TimelineUpdate:
        """Merge a batch (arrival order, time-ordered per source) into the window."""
        keyed = self._keyed(entries)
        if not keyed:
            return _NO_CHANGE
        if len(keyed) > 1:
            # Sorting one small batch (not the window): a merge of the batch's per-source runs
            # (Timsort finds the runs). Keys are unique, so entries themselves are never compared.
            keyed.sort()

        w = self._w
        n = len(w)
        rejected = 0
        if n and n >= self.maxlen:
            # A full window: an entry older than everything kept would be trimmed at once.
            head = w[0][:3]
            if keyed[0][:3] < head:
                cut = bisect_left(keyed, head)  # a 3-tuple sorts before its 4-tuple extensions
                rejected = cut
                del keyed[:cut]
        if not keyed:
            self.total_rejected += rejected
            return TimelineUpdate(None, 0, 0, 0, rejected)
        if not n or keyed[0][:3] > w[-1][:3]:
            pos = n  # the common case: the whole batch goes after the tail
            inserted = 0
            w.extend(keyed)
        else:
            # Some entries belong inside the window. Instead of one insert per entry (O(window)
            # each), splice: cut the window at the earliest new key, merge that suffix with the
            # batch (two sorted runs: one linear Timsort pass in C), and put it back.
            pos = bisect_left(w, keyed[0][:3])
            inserted = bisect_left(keyed, w[-1][:3])
            late = w[pos:]
            late += keyed
            late.sort()
            del w[pos:]
            w += late
        appended = len(keyed) - inserted
        trimmed = len(w) - self.maxlen
        if trimmed > 0:
            del w[:trimmed]
        else:
            trimmed = 0
        self.total_trimmed += trimmed
        self.total_inserted += inserted
        self.total_rejected += rejected
        self.revision += 1
        return TimelineUpdate(max(0, pos - trimmed), appended, inserted, trimmed, rejected)

    def _keyed(self, entries: Iterable[T]) -> list[tuple[int, int, int, T]]:
        """(effective time, source rank, per-source seq, entry) for each entry (rule 2).

        This runs once per log line, so each run of one source's entries is keyed by C-level
        passes (map, accumulate, zip); the per-entry Python loop is only the fallback for runs
        holding untimed records or records of mixed time bases."""
        keyed: list[tuple[int, int, int, T]] = []
        rank_of, last, next_seq = self._rank, self._last, self._next_seq
        if not isinstance(entries, (list, tuple)):
            entries = list(entries)
        # The C-level passes need LogEntry-like items (``.source_id`` and ``.record``); anything
        # else (bare records, custom key functions) goes through the key functions.
        default = (self._key is entry_time_us and self._source is entry_source and bool(entries)
                   and hasattr(entries[0], "source_id") and hasattr(entries[0], "record"))
        for src, group in groupby(entries, key=_get_source if default else self._source):
            run = list(group)
            r = rank_of.get(src)
            if r is None:
                r = rank_of[src] = len(rank_of)
            prev = last.get(src)
            times = _run_times(run) if default else list(map(self._key, run))
            if None in times:
                effs = self._effs_slow(times, prev)
            else:
                if prev is None:
                    effs = list(accumulate(times, max))
                else:
                    effs = list(accumulate(times, max, initial=prev))
                    del effs[0]
            last[src] = effs[-1]
            if effs[-1] > self._hwm:
                self._hwm = effs[-1]
            s0 = next_seq.get(src, 0)
            next_seq[src] = s0 + len(run)
            keyed.extend(zip(effs, repeat(r), count(s0), run))
        return keyed

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


_get_source = attrgetter("source_id")
_get_entry = itemgetter(3)
_get_record = attrgetter("record")
_get_timestamp = attrgetter("timestamp")
_get_tod = attrgetter("tod_us")


def _run_times(run: list[Any]) -> list[Any]:
    """entry_time_us of every entry of a run (LogEntry-like), by C-level passes when the run is
    all dated or all undated; None marks an entry without a time."""
    recs = list(map(_get_record, run))
    ts = list(map(_get_timestamp, recs))
    if None not in ts:
        return list(map(round, map(mul, ts, repeat(1_000_000))))
    if ts.count(None) == len(ts):
        return list(map(_get_tod, recs))
    return [entry_time_us(r) for r in recs]
