"""FACTS §8 for one process: "is XSched really active in PID X, and is it scheduling anything?"

Pure functions over records the collectors already made (a ``ProcRecord`` from the process
collector, ``ProcLogFacts`` folded from its logs and xserver's, an ``XQView`` from the xserver
poller): no I/O here, so the card in the TUI, the experiment runner and the tests agree.

Every item says what it saw (evidence) and what to do (fix). The overall verdict is the one
sentence the user came for; it is never PASS unless XQueues exist for the process, because a
loaded shim with a valid scheduler but no XQueue runs exactly like native (FIELD-NOTES §2).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xsched_tui.core import xenv
from xsched_tui.core.checks.base import Status
from xsched_tui.core.platforms import PLATFORMS
from xsched_tui.core.procrecords import LOG_ONLY

if TYPE_CHECKING:  # records only; importing them here would tie this module to their modules
    from xsched_tui.core.logfacts import ProcLogFacts
    from xsched_tui.core.proctree import ProcRecord
    from xsched_tui.core.xqmonitor import XQView


@dataclass(frozen=True)
class DiagItem:
    id: str
    title: str
    status: Status
    finding: str
    evidence: tuple[str, ...] = ()
    fix: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "status": self.status.value,
                "finding": self.finding, "evidence": list(self.evidence), "fix": self.fix}


@dataclass(frozen=True)
class Diagnosis:
    pid: int
    status: Status  # the worst item, except that "nothing scheduled" is always FAIL
    verdict: str  # one sentence: scheduling / loaded but not scheduling / not loaded
    scheduling: bool | None  # True: XQueues exist for it; False: known not to; None: can't tell
    items: tuple[DiagItem, ...]

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "status": self.status.value, "verdict": self.verdict,
                "scheduling": self.scheduling, "items": [i.to_json() for i in self.items]}


_SCHED_NAMES = {"app": "app-managed", "local": "local", "global": "global"}


def _effective(verdict: xenv.SchedulerVerdict | None, logs: ProcLogFacts | None) -> str | None:
    """The scheduler in force: its own log line wins over the environ (a snapshot)."""
    if logs is not None and logs.scheduler_lines:
        return logs.scheduler_lines[-1][0]
    return verdict.scheduler if verdict is not None else None


def _worst(items: list[DiagItem]) -> Status:
    return max((i.status for i in items), key=lambda s: s.severity, default=Status.SKIP)


def _libs(p: ProcRecord, logs: ProcLogFacts | None = None) -> DiagItem:
    x = p.xsched
    title = "XSched libraries mapped"
    refused = [s for s in (logs.problems if logs else ()) if "cannot be preloaded" in s]
    if refused and (x is None or x.shim is None):
        # the loader's own line: the shim never got in, whatever the environ says
        return DiagItem("libs", title, Status.FAIL, "the loader refused the preload: XSched is "
                        "not loaded and the run is native", tuple(refused),
                        "fix the LD_PRELOAD path (xsched-tui sets it for the processes it starts)")
    if p.origin == LOG_ONLY:
        return DiagItem("libs", title, Status.SKIP,
                        "known only from its logs (not a live process here): maps unavailable")
    if p.exited and x is None:
        return DiagItem("libs", title, Status.SKIP, "the process has exited; its maps are gone")
    if x is None:
        return DiagItem("libs", title, Status.FAIL,
                        "no XSched library is mapped and no XSched variable is set: a native run",
                        (), "start it with the shim enabled (xsched-tui sets it for workloads)")
    if x.maps_error:
        return DiagItem("libs", title, Status.SKIP, x.maps_error)
    ev = []
    for role, lib in (("shim", x.shim), ("hal", x.hal), ("preempt", x.preempt)):
        ev.append(f"{role}: {lib.path + (' (deleted)' if lib.deleted else '') if lib else 'not mapped'}")
    ev += [f"runtime: {r}" for r in x.runtimes] or ["runtime: none mapped"]
    if x.shim is None:
        plat = PLATFORMS.get(x.platform or "")
        how = (f"put {plat.shim}'s folder (with its {plat.runtime_soname_prefix}* softlink) on "
               "LD_LIBRARY_PATH" if plat and plat.enable == "LD_LIBRARY_PATH"
               else f"LD_PRELOAD={plat.shim if plat else 'libshim<platform>.so'}")
        only = " (only the real driver is mapped)" if x.runtimes else ""
        return DiagItem("libs", title, Status.FAIL,
                        f"the shim is not mapped{only}: interception is off and nothing is scheduled",
                        tuple(ev), how)
    if x.two_runtimes:
        return DiagItem("libs", title, Status.WARN,
                        "two different runtime libraries are mapped: two runtimes in one process "
                        "(calls may bypass the shim)",
                        tuple(ev) + tuple(f"also: {r}" for r in x.two_runtimes),
                        "make the shim's real-library override (XSCHED_*_LIB) and the app use one file")
    if not x.runtimes:
        return DiagItem("libs", title, Status.WARN,
                        "the shim is mapped but the real driver is not (yet): it may not have been "
                        "found, or the process has not touched the GPU", tuple(ev),
                        "set XSCHED_CUDA_LIB / XSCHED_HIP_LIB to the real driver's path")
    missing = [r for r, lib in (("hal", x.hal), ("preempt", x.preempt)) if lib is None]
    if missing:
        return DiagItem("libs", title, Status.WARN,
                        f"shim mapped but {' and '.join(missing)} not (yet) mapped", tuple(ev))
    return DiagItem("libs", title, Status.PASS, "shim, HAL, libpreempt and the real driver are mapped",
                    tuple(ev))


def _env(p: ProcRecord) -> tuple[DiagItem, xenv.SchedulerVerdict | None]:
    x = p.xsched
    title = "XSched environment"
    if p.origin == LOG_ONLY:
        return DiagItem("env", title, Status.SKIP,
                        "known only from its logs (not a live process here): environ unavailable"), None
    if x is None:
        return DiagItem("env", title, Status.SKIP, "no XSched variables"), None
    if x.env_error:
        return DiagItem("env", title, Status.SKIP, x.env_error), None
    env = dict(x.env)
    verdict = xenv.scheduler_verdict(env)
    ev = [f"{k}={v}" for k, v in sorted(env.items()) if xenv.is_xsched_env_name(k)
          or k in ("LD_PRELOAD", "LD_LIBRARY_PATH")]
    ev.append(f"→ {_SCHED_NAMES[verdict.scheduler]} scheduler ({verdict.reason}), "
              f"auto-XQueue {'on' if verdict.auto_xqueue else 'off'}")
    problems = xenv.validate(env)
    fails = [f for f in problems if f.severity == "fail"]
    warns = [f for f in problems if f.severity == "warn"]
    ev += [f"{f.severity}: {f.message}" for f in fails + warns]
    fix = next((f.fix for f in fails + warns if f.fix), "")
    if not verdict.schedules:
        why = ("the app-managed scheduler schedules nothing unless the app calls XSched itself"
               if verdict.scheduler == "app" else "XSCHED_AUTO_XQUEUE is not on: no XQueue is made")
        return DiagItem("env", title, Status.FAIL, why, tuple(ev),
                        fix or ("export XSCHED_SCHEDULER=GLB XSCHED_AUTO_XQUEUE=ON"
                                if verdict.scheduler == "app" else "export XSCHED_AUTO_XQUEUE=ON")), verdict
    if fails:
        return DiagItem("env", title, Status.FAIL, fails[0].message, tuple(ev), fix), verdict
    if warns:
        return DiagItem("env", title, Status.WARN, warns[0].message, tuple(ev), fix), verdict
    pol = f" with {verdict.policy}" if verdict.policy else ""
    return DiagItem("env", title, Status.PASS,
                    f"{_SCHED_NAMES[verdict.scheduler]} scheduler{pol}, auto-XQueue on", tuple(ev)), verdict


def _log_line(p: ProcRecord, logs: ProcLogFacts | None,
              verdict: xenv.SchedulerVerdict | None) -> DiagItem:
    title = "Scheduler line in its log"
    if logs is None or not logs.scheduler_lines:
        return DiagItem("logline", title, Status.SKIP,
                        "no 'using ... scheduler' line captured for this process (AE builds print "
                        "none; or its stderr is not followed)", (),
                        "start it from xsched-tui, or redirect its stderr to a file and add it (--file)")
    lines = logs.scheduler_lines
    ev = tuple(f"using {_SCHED_NAMES.get(s, s)} scheduler" + (f" with policy {pol}" if pol else "")
               for s, pol in lines)
    last_sched, _ = lines[-1]
    if last_sched == "app":
        return DiagItem("logline", title, Status.FAIL,
                        "its log says 'using app-managed scheduler': nothing will be scheduled "
                        "(this line is not a pass)", ev, "export XSCHED_SCHEDULER=GLB (or XSCHED_POLICY=HPF)")
    if len(lines) > 1:
        return DiagItem("logline", title, Status.WARN,
                        f"{len(lines)} scheduler lines: XHintSetScheduler was called or the shim was "
                        "loaded again after exec (XSched issue #5)", ev)
    if verdict is not None and verdict.scheduler != last_sched:
        return DiagItem("logline", title, Status.WARN,
                        f"the environment implies the {_SCHED_NAMES[verdict.scheduler]} scheduler but "
                        f"the log says {_SCHED_NAMES.get(last_sched, last_sched)}: the environ is a "
                        "snapshot (XHintSetScheduler may have switched it)", ev)
    return DiagItem("logline", title, Status.PASS, ev[0], ev)


def _queues(p: ProcRecord, logs: ProcLogFacts | None, xq: XQView | None,
            verdict: xenv.SchedulerVerdict | None) -> tuple[DiagItem, bool | None]:
    title = "XQueues exist"
    sched = _effective(verdict, logs)
    glb = sched == "global"
    ev: list[str] = []
    from_logs = logs.xqueues_created if logs else 0
    if logs is not None:
        ev.append(f"log: {logs.xqueues_created} created, {logs.xqueues_destroyed} destroyed")
    live = None
    if xq is not None and (xq.reachable or xq.last_good_at):
        mine = [q for q in xq.queues if q.info.pid == p.pid and not q.gone]
        live = len(mine)
        known = any(pq.pid == p.pid for pq in xq.processes)
        ev.append(f"xserver /xqueues: {live} XQueue(s)" + ("" if known or live else
                                                           ", process not among its clients"))
        if glb and not known and not live and logs is not None and logs.connected is None:
            ev.append("xserver never logged this client connecting")
    if live:
        return DiagItem("xqueues", title, Status.PASS, f"{live} XQueue(s) live in xserver", tuple(ev)), True
    if from_logs and (logs.xqueues_created > logs.xqueues_destroyed or not p.exited):
        return DiagItem("xqueues", title, Status.PASS,
                        f"{from_logs} XQueue(s) created (from the logs)", tuple(ev)), True
    if from_logs:  # exited, every queue destroyed: it did schedule while it ran
        return DiagItem("xqueues", title, Status.PASS,
                        f"{from_logs} XQueue(s) were created while it ran", tuple(ev)), True
    if sched in (None, "app") or (verdict is not None and not verdict.auto_xqueue):
        return DiagItem("xqueues", title, Status.SKIP, "no scheduler that makes XQueues", tuple(ev)), None
    if logs is None and live is None:
        return DiagItem("xqueues", title, Status.SKIP,
                        "neither its log nor xserver is available to count XQueues", tuple(ev),
                        "follow its stderr, or start xserver for GLB"), None
    if glb and live is None and not (logs and logs.connected):
        return DiagItem("xqueues", title, Status.SKIP, "xserver is not reachable to count them",
                        tuple(ev)), None
    return DiagItem("xqueues", title, Status.FAIL,
                    "0 XQueues: the shim is loaded but nothing is scheduled; work on the default "
                    "stream is not intercepted", tuple(ev),
                    "submit on an explicit stream (torch.cuda.set_stream(torch.cuda.Stream())), "
                    "check XSCHED_AUTO_XQUEUE=ON"), False


def _work(p: ProcRecord, xq: XQView | None) -> DiagItem:
    title = "Work goes through XQueues"
    if xq is None or not xq.queues:
        return DiagItem("work", title, Status.SKIP, "no xserver data for this process")
    mine = [q for q in xq.queues if q.info.pid == p.pid]
    if not mine:
        return DiagItem("work", title, Status.SKIP, "xserver lists no XQueue of this process")
    ready = sum(1 for q in mine if q.ever_ready)
    sus = sum(1 for q in mine if q.suspended_polls)
    # no poll counter here: the card is redrawn only when a fact changes, not every second
    ev = (f"{len(mine)} XQueue(s), {ready} ever ready, {sus} ever suspended",)
    if ready:
        extra = f"; {sus} suspended by the policy at times" if sus else ""
        return DiagItem("work", title, Status.PASS, f"{ready} XQueue(s) had work{extra}", ev)
    return DiagItem("work", title, Status.WARN,
                    "its XQueues were never seen ready: the work may go to another stream",
                    ev, "submit on the explicit stream that got the XQueue")


def _level(p: ProcRecord, logs: ProcLogFacts | None, max_level: int | None) -> DiagItem:
    title = "Preemption level"
    x = p.xsched
    lv = x.level if x else None
    problems = [s for s in (logs.problems if logs else ()) if "level" in s.lower()]
    plat = PLATFORMS.get((x.platform or "") if x else "")
    cap = max_level if max_level is not None else (plat.max_level if plat and plat.name != "cuda" else None)
    ev = tuple([f"requested: {lv if lv is not None else 'default (1)'}",
                f"supported: {cap if cap is not None else 'unknown'}", *problems])
    if problems:
        return DiagItem("level", title, Status.FAIL, problems[0], ev,
                        f"export XSCHED_AUTO_XQUEUE_LEVEL={cap or 1}")
    if lv is not None and cap is not None and lv > cap:
        return DiagItem("level", title, Status.WARN,
                        f"level {lv} requested but this platform reaches {cap}: XSched v1.2 accepts "
                        "it silently", ev, f"export XSCHED_AUTO_XQUEUE_LEVEL={cap}")
    return DiagItem("level", title, Status.PASS if lv is None or cap is not None else Status.SKIP,
                    "level fits the platform" if cap is not None else "the GPU's maximum is unknown", ev)


def _shim_sanity(p: ProcRecord, logs: ProcLogFacts | None) -> DiagItem:
    title = "Shim and driver sanity"
    x = p.xsched
    notes = tuple(x.notes) if x else ()
    probs = tuple(s for s in (logs.problems if logs else ()) if "level" not in s.lower())
    ev = notes + probs
    bad = [s for s in ev if any(k in s for k in ("not found", "missing", "does not exist", "undefined"))]
    if bad:
        return DiagItem("sanity", title, Status.FAIL, bad[0], ev)
    if ev:
        return DiagItem("sanity", title, Status.WARN, ev[0], ev)
    return DiagItem("sanity", title, Status.PASS, "no loader, symbol or library problem seen")


def _xserver(p: ProcRecord, xq: XQView | None, logs: ProcLogFacts | None,
             verdict: xenv.SchedulerVerdict | None) -> DiagItem:
    title = "xserver reachable (GLB)"
    if _effective(verdict, logs) != "global":
        return DiagItem("xserver", title, Status.SKIP, "not a global-scheduler process")
    if xq is None or xq.status == "never":
        return DiagItem("xserver", title, Status.SKIP, "xserver has not been asked yet")
    ev = [f"status: {xq.status}" + (f" ({xq.message})" if xq.message else "")]
    if logs is not None and logs.connected:
        ev.append("xserver logged: client process connected")
    if xq.status in ("ok", "slow"):
        known = any(pq.pid == p.pid for pq in xq.processes)
        if not known and not p.exited and p.origin != LOG_ONLY:
            return DiagItem("xserver", title, Status.FAIL,
                            "xserver answers but does not list this process: it never connected "
                            "(other IPC/PID namespace, or another xserver)", tuple(ev),
                            "run xserver and the app in the same container (--ipc host --pid host)")
        return DiagItem("xserver", title, Status.PASS, "xserver lists this process", tuple(ev))
    return DiagItem("xserver", title, Status.FAIL, xq.message or f"xserver is {xq.status}", tuple(ev),
                    "start it: <install>/bin/xserver HPF 50000")


def diagnose(p: ProcRecord, logs: ProcLogFacts | None = None, xq: XQView | None = None, *,
             max_level: int | None = None) -> Diagnosis:
    """The FACTS §8 checklist for one process; ``max_level`` is the GPU's (e.g. from the gpu check)."""
    items: list[DiagItem] = [_libs(p, logs)]
    env_item, verdict = _env(p)
    items += [env_item, _log_line(p, logs, verdict)]
    q_item, scheduling = _queues(p, logs, xq, verdict)
    items += [q_item, _work(p, xq), _level(p, logs, max_level), _shim_sanity(p, logs),
              _xserver(p, xq, logs, verdict)]
    if p.fork_gpu_child:
        items.append(DiagItem("fork", "Started by fork", Status.WARN,
                              "forked from a process that had the GPU runtime loaded: GPU work in a "
                              "forked child fails or bypasses XSched", (),
                              "multiprocessing.set_start_method('spawn')"))
    libs = items[0]
    sched = _effective(verdict, logs)
    if scheduling and env_item.status is Status.FAIL and verdict is not None \
            and verdict.scheduler != "app" and not verdict.auto_xqueue:
        # auto-XQueue off, yet XQueues exist: the application creates them itself
        items[1] = env_item = DiagItem(
            env_item.id, env_item.title, Status.WARN,
            "XSCHED_AUTO_XQUEUE is not on, but XQueues exist: the application creates them "
            "itself (XQueue API); work on its other streams is not scheduled",
            env_item.evidence, env_item.fix)
    if libs.status is Status.FAIL:
        text = "XSched is NOT loaded: " + libs.finding
        scheduling = False
    elif sched == "app":
        text = ("XSched is loaded but will NOT schedule: the app-managed scheduler schedules "
                "nothing unless the app calls XSched itself")
        scheduling = False
    elif env_item.status is Status.FAIL and verdict is not None and not verdict.schedules \
            and scheduling is not True and sched == verdict.scheduler:
        # The environ is a snapshot: XQueues seen (the app made them itself) or a scheduler
        # line that says otherwise outweigh what the environment implies.
        text = "XSched is loaded but will NOT schedule: " + env_item.finding
        scheduling = False
    elif scheduling is False:
        text = "XSched is loaded but NOTHING is scheduled: 0 XQueues"
    elif scheduling:
        text = "XSched is scheduling this process: " + q_item.finding
    else:
        text = "XSched is loaded; whether it schedules cannot be told yet: " + q_item.finding
    status = _worst(items)
    if scheduling is False:
        status = Status.FAIL
    elif scheduling and status is Status.SKIP:
        status = Status.PASS  # the XQueues are the proof; the skipped items only lack data
    return Diagnosis(p.pid, status, text, scheduling, tuple(items))


def diagnose_all(procs: Mapping[int, ProcRecord], logs: Mapping[int, ProcLogFacts],
                 xq: XQView | None, *, max_level: int | None = None) -> dict[int, Diagnosis]:
    return {pid: diagnose(p, logs.get(pid), xq, max_level=max_level)
            for pid, p in procs.items() if p.xsched is not None}
