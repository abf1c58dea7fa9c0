"""C-level scans of a batch of log records or entries, shared by the live log path's stages.

At 100k lines/s every per-line Python step counts (PERFORMANCE.md "Log ingest"). Nearly every
line the live tail delivers is a :class:`~xsched_tui.core.logparse._LazyRecord`: an XSched
INFO/DEBG line whose message is not modelled. By construction such a record has kind XSCHED,
level INFO or DEBG, no tag, no fields, ``truncated`` False, and its event (computed when read)
is :class:`~xsched_tui.core.logparse.Other`: it never makes a headline, never names a pid and
is no fact beyond "this process printed at this time". The hub and its consumers therefore look
only at the other records, found here by one ``map(type, ...)`` pass, without reading (and so
filling) any lazy field. No Textual here.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import compress, repeat
from operator import is_not, itemgetter, ne
from typing import Any, NamedTuple

from xsched_tui.core.logparse import LogRecord, _LazyRecord

__all__ = ["BatchScan", "eager_positions", "scan_entries", "source_runs"]

_get_source = itemgetter(0)  # LogEntry.source_id (a plain index: cheaper than the property)
_get_record = itemgetter(2)  # LogEntry.record
_FEW = 64  # eager records found one by one (list.index) rather than by a pass over the batch


class BatchScan(NamedTuple):
    """What every consumer of a batch of entries needs first: ``runs``, the ``(source_id, start,
    stop)`` of every run of consecutive entries of one source (:func:`source_runs`), and
    ``eager``, the ascending positions of the entries whose record is not lazy
    (:func:`eager_positions`). The hub builds it while it accepts records (LogBatch.scan), so
    its consumers do not pass over every entry again to find it."""

    runs: list[tuple[Any, int, int]]
    eager: list[int]


def eager_positions(recs: Sequence[LogRecord]) -> list[int]:
    """Ascending positions of the records that are not lazy (their fields are all computed).

    A lazy record filled since (its message or event was read) is a plain LogRecord again and is
    listed: consumers then run their general logic on it, with the same result."""
    classes = list(map(type, recs))
    n = len(classes)
    k = classes.count(_LazyRecord)
    if k == n:
        return []
    if not k:
        return list(range(n))
    m = n - k
    if m <= _FEW:
        # A few plain LogRecords among lazy ones (the live tail's usual batch): list.index
        # finds each in C, ~half the cost of a compress pass over the whole batch.
        out = []
        i = -1
        find = classes.index
        try:
            for _ in range(m):
                i = find(LogRecord, i + 1)
                out.append(i)
            return out
        except ValueError:  # records of another class (not made by LogParser)
            pass
    return list(compress(range(n), map(is_not, classes, repeat(_LazyRecord))))


def source_runs(entries: Sequence[Any]) -> list[tuple[Any, int, int]]:
    """``(source_id, start, stop)`` of every run of consecutive entries of one source, in order
    (what ``groupby(entries, key=source_id)`` groups), for tuples whose first item is the source
    id (:class:`~xsched_tui.core.logsources.LogEntry`). Three C-level passes instead of a Python
    key call per entry; a consumer then slices its per-entry lists by run."""
    n = len(entries)
    if not n:
        return []
    sids = list(map(_get_source, entries))
    # groupby compares keys with ==: so does ne (a source's entries share one id object, and
    # str's == answers identical objects at once)
    cuts = list(compress(range(1, n), map(ne, sids[1:], sids)))
    if not cuts:
        return [(sids[0], 0, n)]
    starts = [0, *cuts]
    stops = [*cuts, n]
    return list(zip(map(sids.__getitem__, starts), starts, stops, strict=True))


def scan_entries(entries: Sequence[Any]) -> BatchScan:
    """The :class:`BatchScan` of ``entries`` (LogEntry tuples), for batches that came without."""
    runs = source_runs(entries)
    return BatchScan(runs, eager_positions(list(map(_get_record, entries))) if runs else [])
