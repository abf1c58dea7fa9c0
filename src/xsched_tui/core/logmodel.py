"""The state behind every log view, UI-free: per-source lists, the merged timeline, filters,
headlines and counters, fed by LogHub batches (or by a replay through a hub).

The Logs pane draws ``model.view()`` (a LineSource) and the tables; it never reads files.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from xsched_tui.core.batchscan import BatchScan, scan_entries
from xsched_tui.core.headlines import Headline
from xsched_tui.core.linesource import ListLineSource, RecordListSource
from xsched_tui.core.logparse import Level, LogRecord, SchedulerChosen, XQueueCreated, event_types
from xsched_tui.core.merge import MergedTimeline, TimelineUpdate

if TYPE_CHECKING:  # the hub (watchfiles, threads) is imported only where it runs
    from xsched_tui.core.logsources import LogBatch, LogEntry, SourceInfo, SourceStats


class LogEntry_(NamedTuple):  # same shape as logsources.LogEntry, without importing the hub
    source_id: str
    seq: int
    record: LogRecord

_VERDICT_EVENTS = frozenset((XQueueCreated, SchedulerChosen))

LEVEL_KEYS = {"1": Level.ERRO, "2": Level.WARN, "3": Level.INFO, "4": None}


class TimelineSource:
    """A LineSource over the merged timeline (no copy): the unfiltered merged view."""

    def __init__(self, timeline: MergedTimeline[LogEntry], labels: dict[str, str]) -> None:
        self._t = timeline
        self._labels = labels
        self.generation = 0

    def __len__(self) -> int:
        return len(self._t)

    def record(self, i: int) -> LogRecord:
        return self._t[i].record

    def source_label(self, i: int) -> str | None:
        return self._labels.get(self._t[i].source_id)

    @property
    def label_width(self) -> int:
        return min(20, max((len(v) for v in self._labels.values()), default=0))

    @property
    def trimmed(self) -> int:
        return self._t.total_trimmed


@dataclass(frozen=True)
class IngestResult:
    """What a batch changed, so the pane repaints only that."""

    appended: int  # lines appended to the current view
    rebuilt: bool  # the view was rebuilt (filters or a late insert): reset the widget's source
    sources_changed: bool
    headlines_changed: bool


def compile_user_regex(pattern: str) -> re.Pattern[str]:
    """A user's pattern: a regex when valid, else matched literally (never raises)."""
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error:
        return re.compile(re.escape(pattern), re.IGNORECASE)


# Records kept over all per-process lists together. Each list may hold up to per_source_max,
# but 64 busy processes must not keep 64 x 20k records (1.28M records, ~700 MiB measured by
# benchmarks/bench_soak.py): the lists share this budget, none getting less than MIN_PER_SOURCE.
TOTAL_PER_SOURCE_RECORDS = 150_000
MIN_PER_SOURCE = 1_000


class LogModel:
    def __init__(self, per_source_max: int = 20_000, merged_max: int = 100_000,
                 total_max: int = TOTAL_PER_SOURCE_RECORDS) -> None:
        self.sources: dict[str, SourceInfo] = {}
        self.stats: dict[str, SourceStats] = {}
        self.labels: dict[str, str] = {}
        self.per_source: dict[str, RecordListSource] = {}
        self.per_source_max = per_source_max
        self.total_max = total_max
        self.timeline: MergedTimeline[LogEntry] = MergedTimeline(merged_max)
        self._timeline_view = TimelineSource(self.timeline, self.labels)
        self.headlines: dict[tuple[str, str], Headline] = {}
        self.notices: deque[str] = deque(maxlen=50)
        self.skipped = 0
        self.scope: str | None = None  # None = all sources merged
        self.min_level: Level | None = None
        self.include: re.Pattern[str] | None = None
        self.exclude: re.Pattern[str] | None = None
        self._filtered: ListLineSource | None = None
        # Truth about scheduling, per process: which scheduler it chose and how many XQueues
        # were created for it (in its own log for LCL, in xserver's log for GLB).
        self.scheduler_of: dict[str, str] = {}  # source id -> "app" | "local" | "global"
        self.xqueues_by_pid: dict[int, int] = {}

    # -- filters -------------------------------------------------------------------------------
    @property
    def filtered(self) -> bool:
        return self.min_level is not None or self.include is not None or self.exclude is not None

    def accepts(self, rec: LogRecord) -> bool:
        if self.min_level is not None and (rec.level is None or not rec.level.at_least(self.min_level)):
            return False
        text = rec.text
        if self.include is not None and not self.include.search(text):
            return False
        return not (self.exclude is not None and self.exclude.search(text))

    def describe_filters(self) -> str:
        parts = []
        if self.min_level is not None:
            parts.append(f"level ≥ {self.min_level.value}")
        if self.include is not None:
            parts.append(f"only /{self.include.pattern}/")
        if self.exclude is not None:
            parts.append(f"not /{self.exclude.pattern}/")
        return ", ".join(parts) or "no filter"

    def set_scope(self, source_id: str | None) -> None:
        self.scope = source_id if source_id in self.sources else None
        self._rebuild()

    def set_level(self, level: Level | None) -> None:
        self.min_level = level
        self._rebuild()

    def set_include(self, pattern: str | None) -> None:
        self.include = compile_user_regex(pattern) if pattern else None
        self._rebuild()

    def set_exclude(self, pattern: str | None) -> None:
        self.exclude = compile_user_regex(pattern) if pattern else None
        self._rebuild()

    def clear_filters(self) -> None:
        self.min_level = self.include = self.exclude = None
        self._rebuild()

    # -- views ---------------------------------------------------------------------------------
    def _base(self) -> list[tuple[str | None, LogRecord]] | None:
        if self.scope is None:
            return [(self.labels.get(e.source_id), e.record) for e in self.timeline]
        src = self.per_source.get(self.scope)
        if src is None:
            return []
        return [(src.source_label(i), src.record(i)) for i in range(len(src))]

    def _rebuild(self) -> None:
        if not self.filtered:
            self._filtered = None
            return
        base = self._base() or []
        self._filtered = ListLineSource(((lb, r) for lb, r in base if self.accepts(r)),
                                        maxlen=self.timeline.maxlen)

    def view(self):  # -> LineSource
        if self._filtered is not None:
            return self._filtered
        if self.scope is None:
            return self._timeline_view
        lst = self.per_source.get(self.scope)
        return lst if lst is not None else self._new_list(self.scope)

    def list_cap(self, n_lists: int | None = None) -> int:
        """Records each per-process list may keep when ``n_lists`` share the budget."""
        n = max(1, len(self.per_source) if n_lists is None else n_lists)
        return max(min(MIN_PER_SOURCE, self.per_source_max),
                   min(self.per_source_max, self.total_max // n))

    def _new_list(self, sid: str) -> RecordListSource:
        """A new per-process list; every list's bound shrinks so that all fit the budget."""
        cap = self.list_cap(len(self.per_source) + 1)
        lst = self.per_source[sid] = RecordListSource(self.labels.get(sid), maxlen=cap)
        for other in self.per_source.values():
            if other.maxlen != cap:
                other.set_maxlen(cap)
        return lst

    def scope_source(self) -> SourceInfo | None:
        return self.sources.get(self.scope) if self.scope else None

    # -- ingest --------------------------------------------------------------------------------
    def ingest(self, batch: LogBatch) -> IngestResult:
        sources_changed = False
        for s in batch.sources:
            if self.sources.get(s.id) != s:
                self.sources[s.id] = s
                self.labels[s.id] = s.label.rsplit("/", 1)[-1]  # the gutter is narrow
                if s.id in self.per_source:
                    self.per_source[s.id].label = self.labels[s.id]
                sources_changed = True
        for st in batch.stats:
            if self.stats.get(st.source_id) != st:
                self.stats[st.source_id] = st
                sources_changed = True
        current = {s.id for s in batch.sources}
        removed = [k for k in self.sources if k not in current]
        if batch.sources and removed:  # a full list without them: removed (replay rewind)
            for sid in removed:
                self.sources.pop(sid, None)
                self.stats.pop(sid, None)
                self.per_source.pop(sid, None)
                self.scheduler_of.pop(sid, None)
            self.headlines = {k: h for k, h in self.headlines.items() if k[0] not in removed}
            self._rebuild_timeline()
            sources_changed = True
        for h in batch.headlines:
            self.headlines[h.key] = h
        self.notices.extend(batch.notices)
        self.skipped += batch.skipped

        appended = 0
        rebuilt = False
        entries = batch.entries
        if entries:
            scan = getattr(batch, "scan", None)  # the hub's; None from other producers
            if scan is None:
                scan = scan_entries(entries)
            upd, scoped = self._add_entries(entries, scan)
            if self._filtered is not None:
                if self.scope is None and not upd.append_only:
                    self._rebuild()
                    rebuilt = True
                else:
                    new = [(self.labels.get(e.source_id), e.record) for e in entries
                           if (self.scope is None or e.source_id == self.scope)
                           and self.accepts(e.record)]
                    self._filtered.extend(new)
                    appended = len(new)
            elif self.scope is None:
                if upd.append_only:
                    appended = upd.appended
                else:
                    self._timeline_view.generation += 1
                    rebuilt = True
            else:
                appended = scoped
        verdicts = self._scheduling_verdicts()
        if removed and batch.sources:
            self._rebuild()
            rebuilt = True
        return IngestResult(appended, rebuilt, sources_changed,
                            bool(batch.headlines) or verdicts)

    def _add_entries(self, entries: Sequence[LogEntry], scan: BatchScan) -> tuple[TimelineUpdate, int]:
        """Note the verdict events, extend the per-process lists and merge the timeline; returns
        the timeline's update and how many entries belong to the scoped source.

        This runs for every line (100k lines/s): only the records that are not lazy can be
        verdict events (XSched INFO/DEBG lines without a modelled message are lazy: their event
        is Other), and the per-process lists are extended run by run as the timeline keys
        each run (its records are then in the CPU cache)."""
        if scan.eager:
            self._note_events(entries, scan.eager)
        scope = self.scope
        scoped = sum(b - a for sid, a, b in scan.runs if sid == scope) if scope is not None else 0
        return self.timeline.extend(entries, runs=scan.runs, on_run=self._list_extend), scoped

    def _list_extend(self, sid: str, recs: list[LogRecord]) -> None:
        lst = self.per_source.get(sid)
        if lst is None:
            lst = self._new_list(sid)
        lst.extend(recs)

    def _note_events(self, entries: Sequence[LogEntry], pos: list[int]) -> None:
        """Count XQueues per pid and note each source's scheduler from the entries at ``pos``."""
        recs = [entries[i][2] for i in pos]
        types = event_types(recs)
        if _VERDICT_EVENTS.isdisjoint(types):
            return
        for i, rec, t in zip(pos, recs, types, strict=True):
            if t is XQueueCreated:
                ev = rec.event
                self.xqueues_by_pid[ev.pid] = self.xqueues_by_pid.get(ev.pid, 0) + 1
            elif t is SchedulerChosen:
                self.scheduler_of[entries[i][0]] = rec.event.scheduler

    def _rebuild_timeline(self) -> None:
        self.timeline.clear()
        self.xqueues_by_pid.clear()
        for sid, lst in self.per_source.items():
            entries = [LogEntry_(sid, i + 1, lst.record(i)) for i in range(len(lst))]
            types = event_types([e.record for e in entries])
            for e, t in zip(entries, types, strict=True):
                if t is XQueueCreated:
                    p = e.record.event.pid
                    self.xqueues_by_pid[p] = self.xqueues_by_pid.get(p, 0) + 1
            self.timeline.extend(entries)
        self._timeline_view.generation += 1

    def _scheduling_verdicts(self) -> bool:
        """A headline for every ended process that chose a scheduler but got no XQueue: it ran
        exactly like native (FIELD-NOTES §2, FACTS §11)."""
        changed = False
        for sid, sched in self.scheduler_of.items():
            info, st = self.sources.get(sid), self.stats.get(sid)
            if sched == "app" or info is None or info.pid is None or st is None:
                continue
            key = (sid, "zero-xqueues")
            if st.state != "ended" or self.xqueues_by_pid.get(info.pid, 0):
                if key in self.headlines:
                    del self.headlines[key]
                    changed = True
                continue
            if key not in self.headlines:
                where = "its log" if sched == "local" else "xserver's log"
                self.headlines[key] = Headline(
                    None, sid, info.pid, "error",
                    f"pid {info.pid}: {sched} scheduler but 0 XQueues in {where} — nothing was "
                    "scheduled (default stream? XSCHED_AUTO_XQUEUE?)")
                changed = True
        return changed

    def top_headlines(self, n: int = 3) -> list[Headline]:
        hs = sorted(self.headlines.values(),
                    key=lambda h: (h.rank, -(h.timestamp or 0.0)))
        return hs[:n]


def export_lines(view, marks: list[int] | None, path: str, cap: int = 2_000_000) -> int:
    """Write the marked lines of ``view`` (or every line, at most ``cap``) to ``path`` as text,
    streaming (call it from a worker thread). Returns the number of lines written."""
    n = len(view)
    idx = [i for i in marks if 0 <= i < n] if marks else range(max(0, n - cap), n)
    count = 0
    with open(path, "w", encoding="utf-8", errors="replace") as f:
        for i in idx:
            label = view.source_label(i) if hasattr(view, "source_label") else None
            rec = view.record(i)
            f.write(f"[{label}] {rec.text}\n" if label else rec.text + "\n")
            count += 1
    return count
