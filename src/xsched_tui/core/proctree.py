"""The process collector: the experiment's process tree with XSched facts, CPU and GPU use.

It never walks the whole system per refresh (PERFORMANCE.md: <= 5 ms for a 100-process
subtree). It follows only

- processes the app started (``track``) or the user pinned (``--pid``),
- processes found by ``discover()``: a whole-/proc scan, every ``discover_every`` seconds, for
  XSched libraries in ``maps``, XSched variables or a preloaded shim in ``environ``, and the
  ``xserver`` by name,
- and every descendant of those (``/proc/PID/task/*/children``), including descendants whose
  parent exited (orphans keep a GPU busy just as well).

Each refresh reads ``/proc/PID/stat`` of the followed processes; ``maps``/``environ``/cmdline
are re-read on every refresh during a process's first seconds (the loader and early dlopen)
and then every ``discover_every`` seconds. Processes that exit stay in the snapshot, marked
exited (with the signal when the app started them), for ``keep_exited_s``.
"""

from __future__ import annotations

import math
import os
import pwd
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace

from xsched_tui.core import procfacts, procread
from xsched_tui.core.config import Config
from xsched_tui.core.gpuproc import GpuSampler, GpuUse
from xsched_tui.core.procfacts import MappedFile
from xsched_tui.core.procread import Gone, Stat
from xsched_tui.core.procrecords import (
    ORIGINS,
    LibFile,
    ProcRecord,
    ProcSnapshot,
    XSchedProcFacts,
    record_to_json,
    snapshot_to_json,
)
from xsched_tui.core.runner import ExitStatus, signal_name
from xsched_tui.core.xprocfacts import FactsContext, build_facts

__all__ = [
    "ORIGINS", "GpuSampler", "GpuUse", "LibFile", "ProcRecord", "ProcSnapshot", "ProcessCollector",
    "XSchedProcFacts", "record_to_json", "snapshot_to_json",
]

MAX_PROCS = 512  # processes in one snapshot, and tracked roots
YOUNG_S = 5.0  # re-read maps/environ on every refresh while a process is this young
DETAIL_BATCH = 8  # processes whose maps/environ are re-read per refresh (new ones always are)
MAX_MAPS = 64 << 20  # bytes of one maps file read by discover()
RECHECK_S = 30.0  # discover() re-reads an already checked (non-young) process this often
_UNKNOWN_EXIT = "exit status unknown (not started by xsched-tui)"


class _Root:
    __slots__ = ("cmdline", "label", "name", "origin", "start")

    def __init__(self, origin: str, label: str | None, start: int | None = None,
                 name: str = "", cmdline: tuple[str, ...] = ()) -> None:
        self.origin, self.label, self.start = origin, label, start
        self.name, self.cmdline = name, cmdline


class _Proc:
    """What the collector remembers about one live process between refreshes."""

    __slots__ = ("cmdline", "details_at", "env", "env_error", "env_reason", "exe", "facts",
                 "facts_key", "files", "first_seen", "gpu_runtime", "maps_error", "maps_reason",
                 "name", "pid", "prev_t", "prev_ticks", "start", "stat", "uid")

    def __init__(self, pid: int, st: Stat, now: float) -> None:
        self.pid, self.start, self.stat = pid, st.start, st
        self.first_seen = now
        self.prev_ticks: int | None = None
        self.prev_t: float | None = None
        self.details_at: float | None = None
        self.cmdline: tuple[str, ...] = ()
        self.name = st.comm
        self.exe: str | None = None
        self.files: tuple[MappedFile, ...] = ()
        self.maps_error: str | None = None
        self.maps_reason: str | None = None
        self.env: dict[str, str] | None = None
        self.env_error: str | None = None
        self.env_reason: str | None = None
        self.facts: XSchedProcFacts | None = None
        self.facts_key: object = None
        self.gpu_runtime = False
        self.uid: int | None = None


class ProcessCollector:
    def __init__(
        self,
        config: Config | None = None,
        *,
        proc_root: str = "/proc",
        discover_every: float = 3.0,
        gpu: GpuSampler | str | None = "auto",
        keep_exited_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_procs: int = MAX_PROCS,
        details_every: float = 3.0,
    ) -> None:
        """``discover_every``: seconds between whole-/proc scans (``math.inf``: never by itself).
        ``gpu``: "auto" (NVML, else AMD SMI, else none), "off", None, or a GpuSampler.
        ``details_every``: seconds between re-reads of a process's maps/environ/cmdline (at most
        DETAIL_BATCH processes per refresh, so a big tree spreads the cost over several ticks)."""
        self.config = config
        self.proc_root = proc_root
        self.discover_every = discover_every
        self.keep_exited_s = keep_exited_s
        self.max_procs = max_procs
        self.details_every = details_every
        self._clock = clock
        self._gpu_arg = gpu
        self._gpu: GpuSampler | None = gpu if isinstance(gpu, GpuSampler) else None
        self._gpu_opened = not (isinstance(gpu, str) and gpu == "auto")
        self._lock = threading.Lock()  # roots, exits, pending untracks: touched by any thread
        self._work = threading.RLock()  # refresh/discover: one at a time, caches are theirs
        self._roots: dict[int, _Root] = {}
        self._exits: dict[int, ExitStatus] = {}
        self._dropped_tracks = 0
        self._cache: dict[int, _Proc] = {}
        # descendants seen under a root: pid -> (start, root pid, parent pid when first seen)
        self._followed: dict[int, tuple[int, int, int]] = {}
        self._gone: dict[int, tuple[ProcRecord, float]] = {}
        self._last: dict[int, ProcRecord] = {}
        self._last_start: dict[int, int] = {}
        self._last_discover = -float("inf")
        # pid -> (start, first checked, last checked, denied): discover() re-reads a process's
        # maps only while it is young or every RECHECK_S
        self._checked: dict[int, tuple[int, float, float, bool]] = {}
        self._discover_denied = 0
        self._ctx = FactsContext(config)
        self._users: dict[int, str | None] = {}
        self._self_pid = os.getpid() if os.path.realpath(proc_root) == "/proc" else None
        self._boot = procread.boot_time(proc_root)
        self._no_children_files = False
        self._euid = os.geteuid()

    # -- what to follow (any thread) ------------------------------------------------------
    def track(self, pid: int, origin: str = "started", label: str | None = None) -> None:
        """Follow ``pid`` and its descendants. An explicit track overrides a discovered origin."""
        if origin not in ORIGINS or origin == "child":
            raise ValueError(f"origin must be one of started, discovered, xserver, pinned: {origin!r}")
        start, name, cmd = None, "", ()
        try:
            st = procread.read_stat(pid, self.proc_root)
            start, name = st.start, st.comm
            cmd = procread.read_cmdline(pid, self.proc_root)
        except Gone:
            pass  # exited already: refresh shows it as exited (with record_exit's status)
        with self._lock:
            old = self._roots.get(pid)
            if old is None and len(self._roots) >= self.max_procs:
                self._dropped_tracks += 1
                return
            if old is not None and old.start is not None and start is not None and old.start != start:
                old = None  # the pid was reused: this is another process
            if old is None:
                self._roots[pid] = _Root(origin, label, start, name, cmd)
            else:
                if origin != "discovered":
                    old.origin = origin
                old.label = label or old.label

    def record_exit(self, pid: int, status: ExitStatus) -> None:
        """How a process the app started ended (from runner.Child.wait())."""
        with self._lock:
            self._exits[pid] = status
            while len(self._exits) > 4 * self.max_procs:  # bounded: oldest statuses go first
                del self._exits[next(iter(self._exits))]

    def untrack(self, pid: int) -> None:
        with self._lock:
            self._roots.pop(pid, None)
            self._exits.pop(pid, None)
        with self._work:
            for k in [k for k, v in self._followed.items() if v[1] == pid]:
                del self._followed[k]
            self._gone.pop(pid, None)

    # -- discovery (every few seconds) --------------------------------------------------------
    def discover(self) -> list[int]:
        """Scan all of /proc for XSched processes and xserver; follow them. Returns their PIDs."""
        with self._work:
            self._ctx.forget_dirs()
            found: dict[int, str] = {}
            seen: set[int] = set()
            now = self._clock()
            denied = 0
            try:
                names = os.listdir(self.proc_root)
            except OSError:
                names = []
            root = self.proc_root
            for name in names:
                if not name.isdigit():
                    continue
                pid = int(name)
                if pid == self._self_pid:
                    continue
                last = self._checked.get(pid)
                if last is not None and now - last[1] >= YOUNG_S and now - last[2] < RECHECK_S:
                    # checked recently and no longer young: not even its stat is read (a pid
                    # reused in between is caught at the next re-check, at most RECHECK_S later)
                    seen.add(pid)
                    denied += last[3]
                    continue
                try:
                    st = procread.read_stat(pid, root)
                except Gone:
                    continue
                seen.add(pid)
                if st.comm == "xserver":
                    found[pid] = "xserver"
                    continue
                # A process checked recently (same pid and start time) is not read again: the
                # scan costs O(new processes) instead of every process's maps each time. A shim
                # dlopen'ed later is still found on the next re-check.
                first = last[1] if last is not None and last[0] == st.start else now
                self._checked[pid] = (st.start, first, now, False)
                try:
                    maps = procread.slurp(f"{root}/{pid}/maps", MAX_MAPS)
                except PermissionError:
                    denied += 1
                    self._checked[pid] = (st.start, first, now, True)
                    continue
                except OSError:
                    continue
                if not maps:
                    continue  # kernel thread or zombie
                if procread.XSCHED_IN_MAPS.search(maps):
                    found[pid] = "discovered"
                    continue
                try:
                    raw = procread.slurp(f"{root}/{pid}/environ")
                except OSError:
                    continue
                if (b"XSCHED_" in raw or b"libshim" in raw or b"LD_LIBRARY_PATH=" in raw) and \
                        self._ctx.env_trace(procfacts.parse_environ(raw)):
                    found[pid] = "discovered"
            for pid in [p for p in self._checked if p not in seen]:
                del self._checked[pid]
            self._discover_denied = denied
            for pid, origin in found.items():
                self._adopt(pid, origin)
            self._last_discover = self._clock()
            return sorted(found)

    def _adopt(self, pid: int, origin: str) -> None:
        try:
            st = procread.read_stat(pid, self.proc_root)
        except Gone:
            return
        with self._lock:
            old = self._roots.get(pid)
            if old is not None and (old.start is None or old.start == st.start):
                return
            if old is None and len(self._roots) >= self.max_procs:
                self._dropped_tracks += 1
                return
            self._roots[pid] = _Root(origin, None, st.start, st.comm)
        self._gone.pop(pid, None)  # an exited process of the same pid is history now

    # -- refresh ----------------------------------------------------------------------------
    def refresh(self) -> ProcSnapshot:
        with self._work:
            t0 = time.perf_counter()
            now = self._clock()
            if math.isfinite(self.discover_every) and now - self._last_discover >= self.discover_every:
                self.discover()
            if not self._gpu_opened:
                self._gpu_opened = True
                self._gpu = GpuSampler.open(self.proc_root)
            with self._lock:
                roots = dict(self._roots)
                exits = dict(self._exits)
                dropped = self._dropped_tracks
            notes: list[str] = []
            alive, owner, capped = self._walk(roots, now)
            self._update_gone(roots, alive, exits, now)

            gpu_map: dict[int, tuple[GpuUse, ...]] | None = None
            if self._gpu is not None:
                gpu_map, unresolved = self._gpu.sample()
                if unresolved:
                    shown = ", ".join(str(p) for p in sorted(unresolved)[:8])
                    notes.append(
                        f"{self._gpu.source.upper()} reports {len(unresolved)} GPU process(es) whose "
                        f"PIDs do not exist here ({shown}): xsched-tui runs in another PID "
                        "namespace (a container?) than the GPU driver, so their GPU use cannot be "
                        "matched to processes; run it on the host or with --pid=host")
            records = self._build(roots, alive, owner, gpu_map, now)
            if capped:
                notes.append(f"more than {self.max_procs} processes in the followed trees: "
                             f"{capped} not shown")
            if dropped:
                notes.append(f"{dropped} process(es) not followed: at most {self.max_procs} "
                             "tracked processes")
            if self._discover_denied:
                n = self._discover_denied
                who = "process" if n == 1 else "processes"
                if self._euid != 0:
                    notes.append(f"{n} {who} of other users could not be inspected for XSched "
                                 "(permission denied; run xsched-tui as root to include them)")
                else:
                    notes.append(f"{n} {who} could not be inspected for XSched even as root "
                                 "(permission denied: protected or non-dumpable)")
            if self._no_children_files:
                notes.append("this kernel has no /proc/PID/task/*/children: descendants are found "
                             "with a whole-/proc walk (slower)")
            return ProcSnapshot(time.time(), records, tuple(notes),
                                self._gpu.source if self._gpu is not None else None,
                                (time.perf_counter() - t0) * 1000.0)

    def _walk(self, roots: dict[int, _Root], now: float) -> tuple[dict[int, _Proc], dict[int, int],
                                                                     int]:
        """Stat every followed process; returns (alive, pid -> owning root, number capped)."""
        alive: dict[int, _Proc] = {}
        owner: dict[int, int] = {}
        queue: deque[int] = deque()
        capped = 0
        for pid in sorted(roots):
            r = roots[pid]
            p = self._stat(pid, r.start, now)
            if p is not None:
                if r.start is None:
                    with self._lock:
                        r.start = p.start
                alive[pid] = p
                owner[pid] = pid
                queue.append(pid)
        for pid, (start, own, _parent) in sorted(self._followed.items()):
            if pid in alive or own not in roots:
                continue
            p = self._stat(pid, start, now)
            if p is not None:
                alive[pid] = p
                owner[pid] = own
                queue.append(pid)
        ppids: dict[int, list[int]] | None = None
        while queue:
            pid = queue.popleft()
            try:
                if self._no_children_files:
                    raise FileNotFoundError
                kids = procread.children(pid, alive[pid].stat.threads, self.proc_root)
            except FileNotFoundError:
                self._no_children_files = True
                if ppids is None:
                    ppids = procread.ppid_map(self.proc_root)
                kids = ppids.get(pid, [])
            for c in kids:
                if c in alive:
                    continue
                if len(alive) >= self.max_procs:
                    capped += 1
                    continue
                p = self._stat(c, None, now)
                if p is None:
                    continue
                alive[c] = p
                owner[c] = owner[pid]
                queue.append(c)
                if c not in roots and c not in self._followed:
                    self._followed[c] = (p.start, owner[pid], pid)
        # Forget followed processes that exited (their exited record lives in _gone).
        for pid in [k for k in self._followed if k not in alive]:
            del self._followed[pid]
        for pid in [k for k in self._cache if k not in alive]:
            del self._cache[pid]
        return alive, owner, capped

    def _stat(self, pid: int, start: int | None, now: float) -> _Proc | None:
        try:
            st = procread.read_stat(pid, self.proc_root)
        except Gone:
            return None
        if start is not None and st.start != start:
            return None  # the pid now belongs to another process
        p = self._cache.get(pid)
        if p is None or p.start != st.start:
            p = self._cache[pid] = _Proc(pid, st, now)
        else:
            if st.comm != p.stat.comm:
                p.details_at = None  # exec'd something else: re-read everything
            p.stat = st
        return p

    def _update_gone(self, roots: dict[int, _Root], alive: dict[int, _Proc],
                     exits: dict[int, ExitStatus], now: float) -> None:
        """Turn processes that vanished into exited records; expire old ones."""
        for pid, rec in self._last.items():
            if pid in alive or pid in self._gone:
                continue
            try:
                if procread.read_stat(pid, self.proc_root).start == self._last_start.get(pid):
                    continue  # still running, just no longer followed (untracked, or over the cap)
            except Gone:
                pass
            self._gone[pid] = (self._exited(rec, exits.get(pid)), now)
        for pid, r in roots.items():
            if pid not in alive and pid not in self._gone and pid not in self._last:
                # exited before any refresh saw it
                rec = ProcRecord(pid, None, r.name or r.label or "?", r.cmdline, None, r.origin, 0,
                                 "exited", None, None, None, None, None, True, None, None, None,
                                 None, False, None, label=r.label)
                self._gone[pid] = (self._exited(rec, exits.get(pid)), now)
        for pid, (rec, t) in list(self._gone.items()):
            if pid in alive:  # adopted again under a new identity
                del self._gone[pid]
                continue
            if now - t > self.keep_exited_s:
                del self._gone[pid]
                with self._lock:
                    if pid in roots and self._roots.get(pid) is roots[pid]:
                        del self._roots[pid]
                    self._exits.pop(pid, None)
            elif pid in exits and rec.exit_text in (_UNKNOWN_EXIT, "exited (status not reported)"):
                self._gone[pid] = (self._exited(rec, exits[pid]), t)  # record_exit came late

    @staticmethod
    def _exited(rec: ProcRecord, status: ExitStatus | None) -> ProcRecord:
        code = sig = None
        if status is None:
            text = _UNKNOWN_EXIT if rec.origin != "started" else "exited (status not reported)"
        else:
            text = status.describe()
            if status.signal is not None:
                sig = signal_name(status.signal)
            elif status.returncode is not None:
                code = status.returncode
        return replace(rec, state="exited", exited=True, cpu_percent=None, exit_code=code,
                       exit_signal=sig, exit_text=text, gpu=None if rec.gpu is None else ())

    # -- records ----------------------------------------------------------------------------
    def _due_details(self, alive: dict[int, _Proc], now: float) -> list[_Proc]:
        """New processes, then at most DETAIL_BATCH others: young ones first, then the stalest."""
        new: list[_Proc] = []
        due: list[tuple[bool, float, _Proc]] = []
        for p in alive.values():
            if p.details_at is None:
                new.append(p)
            elif p.stat.state in ("Z", "X", "x"):
                continue  # a zombie has no address space left: keep what we knew
            else:
                young = now - p.first_seen < YOUNG_S
                if young or now - p.details_at >= self.details_every:
                    due.append((not young, p.details_at, p))
        if len(due) > DETAIL_BATCH:
            due.sort(key=lambda t: (t[0], t[1]))
            due = due[:DETAIL_BATCH]
        return new + [p for _, _, p in due]

    def _details(self, p: _Proc, now: float) -> None:
        """cmdline, exe, maps and environ of one process."""
        young = now - p.first_seen < YOUNG_S
        p.details_at = now
        root = self.proc_root
        p.cmdline = procread.read_cmdline(p.pid, root)
        p.exe = procread.read_exe(p.pid, root)
        name = p.stat.comm
        if len(name) >= 15 and p.cmdline:
            base = os.path.basename(p.cmdline[0])
            if base.startswith(name):
                name = base
        p.name = name
        p.uid = self._uid(p.pid)
        data, err, reason = procread.read_proc(p.pid, "maps", root)
        p.maps_error, p.maps_reason = err, reason
        p.files = procread.relevant_files(data) if data else ()
        p.gpu_runtime = any(procfacts.runtime_platforms(f.name) for f in p.files)
        raw, p.env_error, p.env_reason = procread.read_proc(p.pid, "environ", root, procread.MAX_READ)
        # Only the XSched-relevant variables are kept (and all that build_facts reads).
        p.env = procread.interesting_environ(raw) if raw is not None else None
        # Facts only change when the relevant mappings or the environment do.
        key = (tuple((f.path, f.deleted, f.inode) for f in p.files), tuple((p.env or {}).items()),
               p.maps_reason, p.env_reason, young and not p.files)
        if key != p.facts_key:
            p.facts_key = key
            p.facts = build_facts(
                p.files, p.env, ctx=self._ctx,
                maps_error=p.maps_error if p.maps_reason not in (None, procfacts.EMPTY) else None,
                env_error=p.env_error if p.env_reason not in (None, procfacts.EMPTY) else None,
                cmdline=p.cmdline, identity=(p.pid, p.start), young=young,
            )

    def _uid(self, pid: int) -> int | None:
        try:
            return os.stat(f"{self.proc_root}/{pid}").st_uid
        except OSError:
            return None

    def _user(self, uid: int | None) -> str | None:
        if uid is None:
            return None
        if uid not in self._users:
            try:
                self._users[uid] = pwd.getpwuid(uid).pw_name
            except KeyError:
                self._users[uid] = str(uid)
        return self._users[uid]

    def _build(self, roots: dict[int, _Root], alive: dict[int, _Proc], owner: dict[int, int],
               gpu_map: dict[int, tuple[GpuUse, ...]] | None, now: float) -> tuple[ProcRecord, ...]:
        for p in self._due_details(alive, now):
            self._details(p, now)
        gone = {pid: rec for pid, (rec, _) in self._gone.items() if pid not in alive}
        # The tree: a node hangs under its parent when the parent is shown too.
        kids: dict[int | None, list[int]] = {}
        for pid, p in alive.items():
            pp = p.stat.ppid
            kids.setdefault(pp if pp != pid and (pp in alive or pp in gone) else None, []).append(pid)
        for pid, rec in gone.items():
            pp = rec.ppid
            kids.setdefault(pp if pp is not None and pp != pid and (pp in alive or pp in gone)
                            else None, []).append(pid)
        order: list[tuple[int, int]] = []
        seen: set[int] = set()
        stack = [(pid, 0) for pid in sorted(kids.get(None, []), reverse=True)]
        while stack:
            pid, depth = stack.pop()
            if pid in seen:
                continue
            seen.add(pid)
            order.append((pid, depth))
            stack.extend((c, depth + 1) for c in sorted(kids.get(pid, []), reverse=True))
        for pid in sorted(set(alive) | set(gone)):  # a parent cycle (pid reuse): show them flat
            if pid not in seen:
                order.append((pid, 0))

        wall = time.time()
        records: list[ProcRecord] = []
        last: dict[int, ProcRecord] = {}
        for pid, depth in order:
            if pid in gone:
                rec = gone[pid]
                records.append(rec if rec.depth == depth else replace(rec, depth=depth))
                continue
            p = alive[pid]
            rec = self._record(p, roots.get(pid), depth, alive, gpu_map, wall, now)
            records.append(rec)
            last[pid] = rec
        self._last = last
        self._last_start = {pid: alive[pid].start for pid in last}
        return tuple(records)

    def _record(self, p: _Proc, root: _Root | None, depth: int, alive: dict[int, _Proc],
                gpu_map: dict[int, tuple[GpuUse, ...]] | None, wall: float, now: float) -> ProcRecord:
        st = p.stat
        cpu = None
        if p.prev_t is not None and p.prev_ticks is not None and now > p.prev_t:
            cpu = round(max(0, st.ticks - p.prev_ticks) / procread.CLK_TCK / (now - p.prev_t) * 100.0, 1)
        p.prev_ticks, p.prev_t = st.ticks, now
        started = self._boot + st.start / procread.CLK_TCK if self._boot is not None else None
        user = self._user(p.uid)
        error = None
        if procfacts.DENIED in (p.maps_reason, p.env_reason):
            if self._euid == 0:
                error = (f"permission denied even for root: process of user {user or '?'} is "
                         "protected (non-dumpable or a security policy); its libraries and "
                         "environment cannot be read")
            else:
                error = (f"permission denied: process of user {user or '?'} (run xsched-tui as "
                         "that user or as root to see its libraries and environment)")
        notes: list[str] = []
        fork_child = False
        parent = alive.get(st.ppid)
        if parent is not None and p.gpu_runtime and p.cmdline and p.cmdline == parent.cmdline and \
                (p.exe == parent.exe if p.exe and parent.exe else st.comm == parent.stat.comm):
            fork_child = True
            notes.append(f"forked from PID {st.ppid} without exec and inherited its GPU runtime: a "
                         "GPU context does not survive fork; use multiprocessing's 'spawn' start "
                         "method (mp.set_start_method('spawn'))")
        if root is None:
            origin = "child"
            f = self._followed.get(p.pid)
            if f is not None and f[2] != st.ppid and f[2] not in alive:
                notes.append(f"orphaned: its parent (PID {f[2]}) exited; it now belongs to PID "
                             f"{st.ppid}")
        else:
            origin = root.origin
        return ProcRecord(
            pid=p.pid, ppid=st.ppid, name=p.name, cmdline=p.cmdline, user=user, origin=origin,
            depth=depth, state=procread.STATUS.get(st.state, st.state), cpu_percent=cpu,
            rss=st.rss, threads=st.threads, started=started,
            age_s=round(wall - started, 3) if started is not None else None,
            exited=False, exit_code=None, exit_signal=None, xsched=p.facts,
            gpu=None if gpu_map is None else gpu_map.get(p.pid, ()),
            fork_gpu_child=fork_child, error=error, label=root.label if root else None,
            notes=tuple(notes),
        )

    def close(self) -> None:
        """Release the GPU library (the collector can still refresh, without GPU columns)."""
        with self._work:
            if self._gpu is not None and not isinstance(self._gpu_arg, GpuSampler):
                self._gpu.close()
            self._gpu = None
            self._gpu_opened = True
