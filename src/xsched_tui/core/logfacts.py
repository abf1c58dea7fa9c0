"""Per-process facts folded from XSched log entries (scheduler line, XQueues, priorities, problems).

Where a fact comes from decides which process it belongs to (FACTS §1.2, §4.2):

* A source whose :class:`~xsched_tui.core.logsources.SourceInfo` has a ``pid`` and no xserver
  role is that process's own stderr: everything in it is that process's (``using ... scheduler``,
  LCL XQueue lines, WARN/ERRO problems, loader errors).
* xserver's own log (``role == "xserver"``) talks about its clients: records are attributed by
  the pid inside the event (``XQueue (0x..) from process N created``, ``client process N
  connected``, ``utilization of process N set to U``). ``set priority P for XQueue 0x..`` names
  only a handle: its owner is the process whose ``created`` line named that handle, else the one
  known pid whose low 16 bits equal ``handle >> 48`` (``kHandle = this ^ (pid << 48)``).
  Pid-less records of xserver (its ERRO lines) belong to xserver's own pid when known.
* A source with no pid yet: only events that name a pid are used.

Bounded: at most ``max_pids`` processes (least recently updated dropped) and ``max_handles``
handles per process (oldest dropped); the global handle tables are bounded too.

No Textual here. :class:`LogFacts` is a mutable accumulator guarded by a lock (feed it from the
UI or a worker thread); :meth:`LogFacts.snapshot` returns immutable :class:`ProcLogFacts`.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import attrgetter, is_not
from types import MappingProxyType
from typing import Any

from xsched_tui.core.batchscan import BatchScan, scan_entries
from xsched_tui.core.logparse import (
    AssertionFailed,
    AutoXQueueFailed,
    ClientClosed,
    ClientConnected,
    Kind,
    Level,
    LevelFallback,
    LibraryNotFound,
    LoaderError,
    LogRecord,
    Other,
    PriorityOverridden,
    PrioritySet,
    SchedulerChosen,
    UtilizationSet,
    XQueueCreated,
    XQueueDestroyed,
    event_types,
)
from xsched_tui.core.logsources import LogEntry, SourceInfo

__all__ = ["LogFacts", "ProcLogFacts"]

MAX_PIDS = 4096
MAX_HANDLES = 4096  # per process
MAX_GLOBAL_HANDLES = 65536  # handle -> owner / priority over all processes
MAX_SCHED_LINES = 32  # a process prints one; more means XHintSetScheduler or an exec reload
MAX_DISTINCT = 8  # distinct fallback messages / library names kept per process


@dataclass(frozen=True)
class ProcLogFacts:
    pid: int
    scheduler_lines: tuple[tuple[str, str | None], ...]  # (scheduler, policy) in order
    xqueues_created: int
    xqueues_destroyed: int
    live_handles: tuple[int, ...]
    priorities: Mapping[int, int]  # handle -> last priority
    utilization: int | None
    connected: bool | None  # None: no xserver line about this pid was seen
    closed: bool
    cmdline: str | None
    problems: tuple[str, ...]
    last_seen: float | None
    auto_xqueue_failures: int = 0
    erro_lines: int = 0

    @property
    def scheduler(self) -> tuple[str, str | None] | None:
        """The scheduler in force: the last ``using ... scheduler`` line, if any."""
        return self.scheduler_lines[-1] if self.scheduler_lines else None


@dataclass
class _Proc:
    pid: int
    sched: list[tuple[str, str | None]] = field(default_factory=list)
    created: int = 0
    destroyed: int = 0
    live: OrderedDict[int, None] = field(default_factory=OrderedDict)
    prios: OrderedDict[int, int] = field(default_factory=OrderedDict)
    utilization: int | None = None
    connected: bool | None = None
    closed: bool = False
    cmdline: str | None = None
    auto_fail: int = 0
    auto_levels: set[int] = field(default_factory=set)
    libs: dict[str, str] = field(default_factory=dict)  # name -> sentence
    fallbacks: dict[str, int] = field(default_factory=dict)  # message -> count
    loader: dict[str, int] = field(default_factory=dict)  # sentence -> count
    asserts: dict[str, int] = field(default_factory=dict)
    erro: int = 0
    tracebacks: int = 0
    last_seen: float | None = None

    def problems(self) -> tuple[str, ...]:
        out: list[str] = []
        if self.auto_fail:
            lv = ", ".join(f"level-{n}" for n in sorted(self.auto_levels))
            out.append(f"auto-XQueue creation failed {self.auto_fail}×" + (f" ({lv})" if lv else "")
                       + ": that work is not scheduled")
        out.extend(self.libs.values())
        for msg, n in self.fallbacks.items():
            out.append(f"level fallback: {msg}" + (f" ({n}×)" if n > 1 else ""))
        for msg, n in self.loader.items():
            out.append(msg + (f" ({n}×)" if n > 1 else ""))
        for msg, n in self.asserts.items():
            out.append(f"assertion failed: {msg}" + (f" ({n}×)" if n > 1 else ""))
        if self.erro:
            out.append(f"{self.erro} ERRO line{'s' if self.erro != 1 else ''}")
        if self.tracebacks:
            out.append(f"{self.tracebacks} Python traceback{'s' if self.tracebacks != 1 else ''}")
        return tuple(out)

    def freeze(self) -> ProcLogFacts:
        return ProcLogFacts(
            pid=self.pid, scheduler_lines=tuple(self.sched), xqueues_created=self.created,
            xqueues_destroyed=self.destroyed, live_handles=tuple(self.live),
            priorities=MappingProxyType(dict(self.prios)), utilization=self.utilization,
            connected=self.connected, closed=self.closed, cmdline=self.cmdline,
            problems=self.problems(), last_seen=self.last_seen,
            auto_xqueue_failures=self.auto_fail, erro_lines=self.erro,
        )


def _short(msg: str, n: int = 120) -> str:
    return msg if len(msg) <= n else msg[: n - 1] + "…"


def _bump(d: dict[str, int], key: str) -> None:
    if key in d:
        d[key] += 1
    elif len(d) < MAX_DISTINCT:
        d[key] = 1


def _put(od: OrderedDict, key: int, value: object, cap: int) -> None:
    od[key] = value
    od.move_to_end(key)
    while len(od) > cap:
        od.popitem(last=False)


_get_level = attrgetter("level")
_ERRO = Level.ERRO
_NO_EVENT = type(None)
_FOLD_LOOP = 32  # eager records of a run folded by one Python loop rather than C-level passes

# Events that carry the pid they are about (used for xserver-role and pid-less sources).
_PID_EVENTS = (XQueueCreated, XQueueDestroyed, ClientConnected, ClientClosed, UtilizationSet)


class LogFacts:
    """Folds log entries into per-process facts. Thread-safe; cheap for uninteresting records."""

    def __init__(self, *, max_pids: int = MAX_PIDS, max_handles: int = MAX_HANDLES) -> None:
        self.max_pids = max_pids
        self.max_handles = max_handles
        self._lock = threading.Lock()
        self._procs: OrderedDict[int, _Proc] = OrderedDict()
        self._owner: OrderedDict[int, int] = OrderedDict()  # handle -> pid (from created lines)
        self._prio: OrderedDict[int, int] = OrderedDict()  # handle -> last priority
        self._frozen: dict[int, ProcLogFacts] = {}
        self._dirty: set[int] = set()
        self.version = 0  # grows whenever something changed (consumers copy only then)

    # -- feeding -------------------------------------------------------------------------------

    def ingest(self, entries: Iterable[LogEntry], sources: Mapping[str, SourceInfo],
               scan: BatchScan | None = None) -> bool:
        """Fold ``entries``; ``sources`` maps source ids to their current SourceInfo; ``scan``:
        the entries' BatchScan when known (LogBatch.scan). True if anything changed.

        This runs on the hub's thread for every line (100k lines/s): given the scan, only the
        few records of each run of one source's entries that are not lazy are looked at, and
        only its interesting ones (a typed event other than :class:`Other`, or an ERRO line) go
        through :meth:`_one`. The rest (an XSched message without a modelled event: every lazy
        record) only mark their process as seen: one :meth:`_proc` and the run's latest
        timestamp, the same end state as one call each."""
        if not isinstance(entries, (list, tuple)):
            entries = list(entries)
        if scan is None:
            scan = scan_entries(entries)
        changed = False
        with self._lock:
            eager = scan.eager
            lo = 0
            for sid, a, b in scan.runs:
                info = sources.get(sid)
                if eager and eager[-1] >= a:  # the eager records of this run: eager[lo:hi]
                    while eager[lo] < a:
                        lo += 1
                    hi = bisect_left(eager, b, lo)
                    pos = eager[lo:hi]
                    lo = hi
                else:
                    pos = []
                if info is not None and self._run(info, entries, a, b, pos):
                    changed = True
            if changed:
                self.version += 1
        return changed

    def _run(self, info: SourceInfo, entries: Sequence[LogEntry], a: int, b: int,
             pos: list[int]) -> bool:
        """Fold the records of ``entries[a:b]`` (one source's), in order (lock held); ``pos``:
        the positions of the ones that are not lazy (ascending). See :meth:`ingest`."""
        changed = False
        plain_other = b - a - len(pos)  # lazy records: an Other event, never an ERRO line
        types: list[type] = []
        levels: list[Level | None] = []
        if pos:
            fold = self._fold_few if len(pos) <= _FOLD_LOOP else self._fold_many
            changed, seen, types, levels = fold(info, [entries[i][2] for i in pos])
            plain_other += seen
        if plain_other and info.pid is not None and info.role != "xserver":
            # Every such record would call _proc(pid) and set last_seen from its timestamp, as
            # every record _one took did: the end state is the latest timestamp of all of them
            # (a record without event that is no ERRO line does not count).
            p = self._proc(info.pid)
            j = len(pos) - 1
            for k in range(b - 1, a - 1, -1):
                if j >= 0 and pos[j] == k:  # an eager record
                    skip = types[j] is _NO_EVENT and levels[j] is not _ERRO
                    j -= 1
                    if skip:
                        continue
                ts = entries[k][2].timestamp
                if ts is not None:
                    p.last_seen = ts
                    break
            changed = True
        return changed

    def _fold_few(self, info: SourceInfo, recs: list[LogRecord]
                  ) -> tuple[bool, int, list[type], list[Level | None]]:
        """_fold_many for a few records (the usual run: a handful of warnings among lazy
        lines): one Python loop costs less than its dozen C-level passes."""
        changed = False
        seen = 0
        types: list[type] = []
        levels: list[Level | None] = []
        for rec in recs:
            ev = rec.event
            t = type(ev)
            lv = rec.level
            types.append(t)
            levels.append(lv)
            if t is Other:
                if lv is not _ERRO:
                    seen += 1
                    continue
            elif t is _NO_EVENT and lv is not _ERRO:
                continue  # no event, not an error: not a fact
            if self._one(info, rec, ev):
                changed = True
        return changed, seen, types, levels

    def _fold_many(self, info: SourceInfo, recs: list[LogRecord]
                   ) -> tuple[bool, int, list[type], list[Level | None]]:
        """Fold eager records, in order (lock held): (changed, how many only mark their process
        seen (an Other event, no ERRO line), their event types, their levels). C-level passes
        find the interesting ones (a typed event, or an ERRO line) for :meth:`_one`."""
        types = event_types(recs)
        levels = list(map(_get_level, recs))
        seen = types.count(Other)
        n_erro = levels.count(_ERRO)
        changed = False
        if seen != len(recs) or n_erro:
            idx = list(compress(range(len(recs)), map(is_not, types, repeat(Other))))
            if n_erro:
                i = -1
                for _ in range(n_erro):
                    i = levels.index(_ERRO, i + 1)
                    idx.append(i)
                idx = sorted(set(idx))
            for j in idx:
                rec = recs[j]
                t = types[j]
                if t is Other:
                    seen -= 1  # an ERRO line with an Other event: _one counts it
                elif t is _NO_EVENT and levels[j] is not _ERRO:
                    continue  # no event, not an error: not a fact
                if self._one(info, rec, rec.event):
                    changed = True
        return changed, seen, types, levels

    def _proc(self, pid: int) -> _Proc:
        p = self._procs.get(pid)
        if p is None:
            p = self._procs[pid] = _Proc(pid)
            while len(self._procs) > self.max_pids:
                old, _ = self._procs.popitem(last=False)
                self._frozen.pop(old, None)
                self._dirty.discard(old)
        else:
            self._procs.move_to_end(pid)
        self._dirty.add(pid)
        return p

    def _owner_of(self, handle: int) -> int | None:
        pid = self._owner.get(handle)
        if pid is not None:
            return pid
        top = (handle >> 48) & 0xFFFF
        found = [p for p in self._procs if p & 0xFFFF == top]
        return found[0] if len(found) == 1 else None

    def _one(self, info: SourceInfo, rec: LogRecord, ev: Any) -> bool:
        xserver = info.role == "xserver"
        t = type(ev)
        if xserver or info.pid is None:
            if isinstance(ev, _PID_EVENTS):
                pid: int | None = ev.pid
            elif t is PrioritySet or t is PriorityOverridden:
                pid = self._owner_of(ev.handle)
            elif xserver:
                pid = info.pid  # xserver's own trouble (its ERRO lines)
                if t is not AssertionFailed and rec.level is not Level.ERRO:
                    return False
            else:
                return False
        else:
            pid = info.pid
        if t is PrioritySet or t is PriorityOverridden:
            prio = ev.priority if t is PrioritySet else ev.to
            _put(self._prio, ev.handle, prio, MAX_GLOBAL_HANDLES)
            if pid is None:
                return True  # priority_of() knows it; no process to file it under yet
        if pid is None:
            return False
        p = self._proc(pid)
        if rec.timestamp is not None:
            p.last_seen = rec.timestamp
        if t is XQueueCreated:
            p.created += 1
            _put(p.live, ev.handle, None, self.max_handles)
            _put(self._owner, ev.handle, ev.pid, MAX_GLOBAL_HANDLES)
        elif t is XQueueDestroyed:
            p.destroyed += 1
            p.live.pop(ev.handle, None)
        elif t is PrioritySet:
            _put(p.prios, ev.handle, ev.priority, self.max_handles)
        elif t is PriorityOverridden:
            _put(p.prios, ev.handle, ev.to, self.max_handles)
        elif t is UtilizationSet:
            p.utilization = ev.utilization
        elif t is ClientConnected:
            p.connected, p.closed = True, False
            if ev.cmdline:
                p.cmdline = ev.cmdline.rstrip()
        elif t is ClientClosed:
            # xserver logs no `destroyed` line for the queues of a client that exits (seen on the
            # H100 samples): they die with it.
            p.closed = True
            p.live.clear()
            if p.connected is None:
                p.connected = True  # it must have connected before we started reading
        elif t is SchedulerChosen:
            if len(p.sched) < MAX_SCHED_LINES:
                p.sched.append((ev.scheduler, ev.policy))
        elif t is AutoXQueueFailed:
            p.auto_fail += 1
            if ev.level is not None:
                p.auto_levels.add(ev.level)
        elif t is LibraryNotFound:
            if ev.name not in p.libs and len(p.libs) < MAX_DISTINCT:
                via = f" (set by {ev.env_var} = {ev.path})" if ev.env_var else ""
                p.libs[ev.name] = f"library not found: {ev.name}{via}"
        elif t is LevelFallback:
            _bump(p.fallbacks, _short(ev.message))
        elif t is LoaderError:
            _bump(p.loader, _loader_sentence(ev))
        elif t is AssertionFailed:
            _bump(p.asserts, _short(ev.message))
        if rec.level is Level.ERRO:
            if rec.kind is Kind.TRACEBACK:
                p.tracebacks += 1
            elif rec.kind is Kind.XSCHED:  # loader errors have their own sentence above
                p.erro += 1
        return True

    # -- reading -------------------------------------------------------------------------------

    def _refresh(self) -> None:
        for pid in self._dirty:
            p = self._procs.get(pid)
            if p is not None:
                self._frozen[pid] = p.freeze()
        self._dirty.clear()

    def for_pid(self, pid: int) -> ProcLogFacts | None:
        with self._lock:
            p = self._procs.get(pid)
            if p is None:
                return None
            if pid in self._dirty:
                self._frozen[pid] = p.freeze()
                self._dirty.discard(pid)
            return self._frozen[pid]

    def snapshot(self) -> Mapping[int, ProcLogFacts]:
        with self._lock:
            self._refresh()
            return MappingProxyType(dict(self._frozen))

    def priority_of(self, handle: int) -> int | None:
        with self._lock:
            return self._prio.get(handle)

    def priorities(self) -> Mapping[int, int]:
        """A copy of handle -> last priority over all processes."""
        with self._lock:
            return MappingProxyType(dict(self._prio))

    def cmdlines(self) -> Mapping[int, str]:
        with self._lock:
            return MappingProxyType({pid: p.cmdline for pid, p in self._procs.items() if p.cmdline})


def _loader_sentence(ev: LoaderError) -> str:
    lib = ev.library or "?"
    if ev.problem == "version_not_found":
        who = ev.required_by or ev.program
        return f"version {ev.detail} not found in {lib}" + (f" (needed by {who})" if who else "")
    if ev.problem == "cannot_preload":
        return f"LD_PRELOAD {lib} cannot be preloaded: ignored, XSched is not loaded this way"
    if ev.problem == "symbol_lookup":
        return f"symbol lookup error: {ev.detail} in {lib}"
    if ev.problem == "no_version_info":
        return f"no version information available in {lib} (a loader warning)"
    if ev.problem == "cannot_open":
        return f"cannot open shared library {lib}" + (f": {ev.detail}" if ev.detail else "")
    return f"loader: {ev.problem} {lib}"
