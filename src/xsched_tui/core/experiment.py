"""The experiment runner: roles x modes x repeats, each run a fresh process, every byte kept.

An experiment runs a set of *roles* (a workload with its options) under *modes* (native, XSched,
...) ``repeats`` times. Modes are interleaved (A B A B ...) so slow drift hits both sides alike;
the roles of one mode run at the same time (a dual-model experiment's foreground and background).

Nothing is ever lost (FIELD-NOTES §2: single unexplained runs): every run gets a folder
``<results>/<timestamp>-<name>/runs/NNN-<mode>-<role>/`` with its raw ``stdout.jsonl``,
``stderr.log`` and ``run.json``; ``result.json`` is rewritten atomically after every run, so a
SIGKILL of xsched-tui loses at most the run in progress.

A run labelled XSched in which XSched was not active is not a result (FACTS §8, §11): it is kept
but marked invalid with the reason (not loaded, loader error, app-managed scheduler, zero
XQueues, activity not proven), as is a native run into which an XSched library leaked, a crash,
a timeout, a non-zero exit, a missing, wrong or suspect result. Statistics use valid runs only.

No Textual, no torch: the TUI and the CLI drive the same runner (``run()`` blocks; call it from a
worker thread; ``cancel()`` is safe from any thread or a signal handler).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import IO, Any

from xsched_tui import __version__
from xsched_tui.core import xenv
from xsched_tui.core.atomic import write_text_atomic
from xsched_tui.core.config import Config, is_xsched_env_name
from xsched_tui.core.diagnose import diagnose
from xsched_tui.core.logfacts import LogFacts, ProcLogFacts
from xsched_tui.core.logparse import LogParser
from xsched_tui.core.logsources import LogEntry, SourceInfo
from xsched_tui.core.procrecords import LibFile, ProcRecord, log_only_record
from xsched_tui.core.runner import Child, ExitStatus, StartError, signal_name
from xsched_tui.core.xserverproc import ManagedXServer, XServerLaunch

SCHEMA_ID = "xsched-tui/experiment-result/v1"
STATUSES = ("running", "finished", "cancelled", "error")
POLL_S = 0.05  # how often the run loop looks at its children (cancel/timeout latency)
# A result line carries every measured value: a background matmul of 10 minutes on a fast GPU
# is ~400k values (~8 MB of JSON). stderr lines stay capped at runner.MAX_LINE.
MAX_RESULT_LINE = 64 * 1024 * 1024
MAX_PROGRESS_EVENTS_S = 10.0  # progress events per run per second (the rest are coalesced)
_KEEP_ENV = ("LD_PRELOAD", "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES",
             "ROCR_VISIBLE_DEVICES", "PYTHONPATH")


# -- the workload protocol (core/workload_argv.py, built alongside; fallbacks until it lands) --

def _workload_argv(python: str, kind: str, options: Mapping[str, Any]) -> list[str]:
    try:
        from xsched_tui.core.workload_argv import workload_argv
    except ImportError:
        argv = [python, "-m", "xsched_tui.workloads", kind]
        for k, v in options.items():
            flag = "--" + str(k).replace("_", "-")
            if v is True:
                argv.append(flag)
            elif v is not None and v is not False:
                argv += [flag, str(v)]
        return argv
    return list(workload_argv(python, kind, **dict(options)))


def _module_env(env: dict[str, str]) -> dict[str, str]:
    """The workloads module runs in the user's interpreter, which need not have xsched-tui
    installed: put this package first on PYTHONPATH (workload_argv.workload_env)."""
    try:
        from xsched_tui.core.workload_argv import workload_env as pythonpath_env
    except ImportError:
        return env
    return pythonpath_env(env)


def _parse_line(line: str) -> dict | None:
    try:
        from xsched_tui.core.workload_argv import parse_line
    except ImportError:
        s = line.strip()
        if not s.startswith("{"):
            return None
        try:
            d = json.loads(s)
        except ValueError:
            return None
        return d if isinstance(d, dict) and isinstance(d.get("type"), str) else None
    return parse_line(line)


MAX_LINE_DEPTH = 32  # a protocol line is flat; deeper nesting is garbage (and recursion-unsafe)
_TYPED_FIELDS = (("summary", dict, "an object"), ("values", list, "a list"), ("metric", str, "text"),
                 ("correct", bool, "true or false"), ("suspect", bool, "true or false"))
_TEXT_FIELDS = ("unit", "kind")
_NUMBER_FIELDS = ("cpu_time_s", "wall_s", "req_per_s", "tflops", "iter_ms_median", "measure_t0",
                  "measure_t1")


def _finite(v: Any) -> float | None:
    """``v`` as a finite float when it is a number a float can hold (never bool), else None."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        f = float(v)
    except OverflowError:  # an integer beyond 1e308
        return None
    return f if math.isfinite(f) else None


def _line_problem(v: Any, depth: int = 0) -> str | None:
    """Why a parsed line cannot be used as is: nesting too deep or an integer no float can hold."""
    if depth > MAX_LINE_DEPTH:
        return f"nested deeper than {MAX_LINE_DEPTH} levels"
    if isinstance(v, dict):
        items: Any = v.values()
    elif isinstance(v, list):
        items = v
    else:
        if isinstance(v, int) and not isinstance(v, bool) and _finite(v) is None:
            return f"a number too large ({str(v)[:12]}... with {len(str(v))} digits)"
        return None
    for x in items:
        if isinstance(x, (dict, list, int)):
            why = _line_problem(x, depth + 1)
            if why:
                return why
    return None


def result_problem(msg: Mapping[str, Any]) -> str | None:
    """Why a ``result`` line cannot be used (a field the analyses read has the wrong type), or
    None. The layer's answer to a malformed result is an invalid run with this reason."""
    why = _line_problem(msg)
    if why:
        return why
    for k, typ, word in _TYPED_FIELDS:  # docs/experiment-result.schema.json: runs[].result
        if k in msg and not isinstance(msg[k], typ):
            return f"{k} is {msg[k]!r:.40}, not {word}"
    for k, v in (msg.get("summary") or {}).items():
        if v is not None and not _is_number(v):
            return f"summary.{k} is {v!r:.40}, not a number"
    for k in _TEXT_FIELDS:
        if msg.get(k) is not None and not isinstance(msg.get(k), str):
            return f"{k} is {msg.get(k)!r:.40}, not text"
    for k in _NUMBER_FIELDS:
        v = msg.get(k)
        if v is not None and not _is_number(v):
            return f"{k} is {v!r:.40}, not a number"
    return None


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# -- records -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Role:
    """A workload of the experiment. ``argv`` replaces the workloads module when set (a custom
    command, the tests' stand-in); ``env`` is added to every mode's environment."""

    name: str
    kind: str
    options: Mapping[str, Any] = field(default_factory=dict)
    argv: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    # Only in XSched modes (priority, level, threshold, batch of this role's XQueues).
    xsched_env: Mapping[str, str] = field(default_factory=dict)
    # A trial ends when its primary roles are done; the others (a background) are then told to
    # stop on stdin (--until-stdin) and report what they measured until then.
    primary: bool = True
    priority: int | None = None  # what the role's XSched priority is (for the report)
    slo: Slo | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "options": dict(self.options),
                "argv": list(self.argv) if self.argv is not None else None, "env": dict(self.env),
                "xsched_env": dict(self.xsched_env), "primary": self.primary,
                "priority": self.priority, "slo": self.slo.to_json() if self.slo else None}


@dataclass(frozen=True)
class Slo:
    """A tenant's objective: a p99 latency limit (ms), a minimum throughput as a fraction of the
    role's standalone throughput, and/or a per-request deadline (ms; misses are counted)."""

    p99_ms: float | None = None
    min_throughput_frac: float | None = None
    deadline_ms: float | None = None

    def __post_init__(self) -> None:
        for name in ("p99_ms", "min_throughput_frac", "deadline_ms"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v > 0):
                raise ValueError(f"SLO {name} must be a positive number, got {v}")

    def to_json(self) -> dict[str, Any]:
        return {"p99_ms": self.p99_ms, "min_throughput_frac": self.min_throughput_frac,
                "deadline_ms": self.deadline_ms}


@dataclass(frozen=True)
class Calibration:
    """Before the plan: run ``role`` flat out once (``rate`` 0) and set its periodic rate to
    ``fraction`` x the measured requests/s (the paper's foreground: 20% of its peak)."""

    role: str
    fraction: float = 0.2
    requests: int = 200

    def to_json(self) -> dict[str, Any]:
        return {"role": self.role, "fraction": self.fraction, "requests": self.requests}


@dataclass(frozen=True)
class Mode:
    """A configuration. ``xsched``: the configured XSched environment and shim are applied (else
    none at all). ``env``: overrides applied last; an empty value removes the variable."""

    name: str
    xsched: bool
    env: Mapping[str, str] = field(default_factory=dict)
    roles: tuple[str, ...] | None = None  # the roles that run in this mode (None: all)
    xserver: XServerLaunch | None = None  # started before the roles, stopped after them

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "xsched": self.xsched, "env": dict(self.env),
                "roles": list(self.roles) if self.roles is not None else None,
                "xserver": self.xserver.to_json() if self.xserver else None}


@dataclass(frozen=True)
class ExperimentSpec:
    name: str
    roles: tuple[Role, ...]
    modes: tuple[Mode, ...]
    repeats: int
    interleave: bool = True  # A B A B ...; False: all of A, then all of B
    timeout_s: float = 600.0  # per run (all roles of one mode together)
    python: str = sys.executable
    kind: str = "overhead"  # which analysis result.json carries ("overhead" or "none")
    allow_unproven: bool = False  # accept XSched runs whose scheduling cannot be told (e.g. GLB)
    threshold_pct: float = 10.0
    aa: bool = False  # the modes are two identical native configurations (noise floor)
    stop_grace_s: float = 2.0  # SIGTERM -> SIGKILL delay when a run is stopped
    calibration: Calibration | None = None
    stop_wait_s: float = 30.0  # how long a told-to-stop role may take to report and exit

    def __post_init__(self) -> None:
        if not self.roles or not self.modes:
            raise ValueError("an experiment needs at least one role and one mode")
        if self.repeats < 1:
            raise ValueError(f"repeats must be >= 1, got {self.repeats}")
        if not (self.timeout_s > 0 and math.isfinite(self.timeout_s)):
            raise ValueError(f"timeout must be a positive number of seconds, got {self.timeout_s}")
        names = [m.name for m in self.modes]
        if len(set(names)) != len(names) or len({r.name for r in self.roles}) != len(self.roles):
            raise ValueError("mode names and role names must be unique")
        known = {r.name for r in self.roles}
        for m in self.modes:
            if m.roles is not None and (not m.roles or set(m.roles) - known):
                raise ValueError(f"mode {m.name!r} names unknown roles: {sorted(set(m.roles) - known)}")
        if self.calibration is not None and self.calibration.role not in known:
            raise ValueError(f"calibration names an unknown role {self.calibration.role!r}")

    def roles_of(self, mode: Mode) -> tuple[Role, ...]:
        if mode.roles is None:
            return self.roles
        return tuple(r for r in self.roles if r.name in mode.roles)

    @property
    def total_runs(self) -> int:
        per = sum(len(self.roles_of(m)) for m in self.modes)
        return self.repeats * per + (1 if self.calibration is not None else 0)

    def plan(self) -> list[tuple[int, Mode]]:
        """(repeat, mode) in the order they run."""
        if self.interleave:
            return [(r, m) for r in range(self.repeats) for m in self.modes]
        return [(r, m) for m in self.modes for r in range(self.repeats)]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "roles": [r.to_json() for r in self.roles],
                "modes": [m.to_json() for m in self.modes], "repeats": self.repeats,
                "interleave": self.interleave, "timeout_s": self.timeout_s, "python": self.python,
                "allow_unproven": self.allow_unproven, "threshold_pct": self.threshold_pct,
                "aa": self.aa,
                "calibration": self.calibration.to_json() if self.calibration else None}


@dataclass(frozen=True)
class RunEvents:
    """What the run's own stderr said (through the real log parser) and what FACTS §8 concluded."""

    scheduler_lines: tuple[str, ...]  # "local HPF", "app", ...
    xqueues_created: int
    xqueues_destroyed: int
    problems: tuple[str, ...]
    diagnosis: str | None  # the one-sentence verdict (XSched modes only)
    scheduling: bool | None
    # the priorities XSched logged for this process's XQueues (`set priority`, its own log or
    # xserver's): what it actually applied, next to what the runner asked for
    priorities: tuple[int, ...] = ()


@dataclass(frozen=True)
class Fingerprint:
    """The XSched libraries mapped while the workload measured (one /proc snapshot)."""

    snapshot: bool  # False: the process could not be looked at while it ran
    platform: str | None
    shim: LibFile | None
    hal: LibFile | None
    preempt: LibFile | None
    runtimes: tuple[str, ...]
    note: str | None = None

    @property
    def any_mapped(self) -> LibFile | None:
        return self.shim or self.hal or self.preempt


@dataclass(frozen=True)
class RunRecord:
    index: int  # 1-based, in run order
    repeat: int  # 0-based repeat (pairs are formed by repeat)
    mode: str
    role: str
    pid: int | None
    argv: tuple[str, ...]
    env: Mapping[str, str]  # the XSched/loader variables and the mode's overrides (not all env)
    started: float  # epoch seconds
    ended: float
    exit_code: int | None
    exit_signal: str | None  # "SIGSEGV"
    exit_text: str
    timed_out: bool
    cancelled: bool
    result: Mapping[str, Any] | None  # the workload's result line
    error: str | None  # the workload's error line, or why it could not start
    events: RunEvents
    fingerprint: Fingerprint
    valid: bool
    invalid_reason: str | None
    folder: str  # relative to the experiment folder
    trial: int = 0  # the roles of one (repeat, mode) share a trial number (1-based; 0: calibration)
    told_stop: float | None = None  # epoch seconds when the runner told it to stop (stdin)
    xserver: Mapping[str, Any] | None = None  # what xserver showed of this process (GLB)
    # Killed by a signal after its complete result line, and that is its only fault (the H100
    # foreground's SIGSEGV at exit, FACTS §11): invalid, but its numbers are shown, labelled.
    crash_at_exit: bool = False

    @property
    def value(self) -> float | None:
        v = ((self.result or {}).get("summary") or {}).get("median")
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["argv"] = list(self.argv)
        d["env"] = dict(self.env)
        d["result"] = dict(self.result) if self.result is not None else None
        return _jsonable(d)


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


# -- events for a live view (TUI pane, CLI progress) -----------------------------------------

@dataclass(frozen=True)
class ExperimentStarted:
    folder: str
    name: str
    total_runs: int


@dataclass(frozen=True)
class RunStarted:
    index: int
    total: int
    repeat: int
    mode: str
    role: str
    pid: int | None
    folder: str


@dataclass(frozen=True)
class RunProgress:
    index: int
    mode: str
    role: str
    done: int
    total: int
    last: float | None
    recent: tuple[float, ...] = ()  # periodic roles: every latency since the previous event
    trial: int = 0


@dataclass(frozen=True)
class XServerPolled:
    """What the trial's xserver answered (about twice a second while a GLB trial runs)."""

    trial: int
    mode: str
    status: str  # ok | slow | down | ...
    queues: Mapping[int, tuple[int, int, int]]  # pid -> (XQueues, ready, suspended)


@dataclass(frozen=True)
class RunFinished:
    index: int
    total: int
    repeat: int
    mode: str
    role: str
    valid: bool
    invalid_reason: str | None
    value: float | None
    metric: str | None
    exit_text: str


@dataclass(frozen=True)
class ExperimentFinished:
    folder: str
    status: str  # finished | cancelled | error
    runs: int
    valid: int
    invalid: int
    verdict: str | None
    analysis: Mapping[str, Any] | None
    message: str = ""


ExperimentEvent = (ExperimentStarted | RunStarted | RunProgress | RunFinished | ExperimentFinished
                   | XServerPolled)


@dataclass(frozen=True)
class ExperimentOutcome:
    folder: str
    status: str
    runs: tuple[RunRecord, ...]
    analysis: Mapping[str, Any] | None
    result_path: str


# -- helpers -----------------------------------------------------------------------------------

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(s: str) -> str:
    return _SAFE.sub("_", s).strip("._") or "x"


def lib_dir_and_platform(config: Config) -> tuple[str | None, str | None]:
    """The install's lib folder and platform (configured, else detected from the shims there)."""
    install = config.install_dir()
    lib_dir = os.path.join(install, "lib") if install else None
    if config.platform != "auto":
        return lib_dir, config.platform
    if lib_dir and os.path.isdir(lib_dir):
        from xsched_tui.core.checks.install import detect_platforms

        found = detect_platforms(lib_dir)
        return lib_dir, found[0] if found else None
    return lib_dir, None


def recorded_env(env: Mapping[str, str], overrides: Mapping[str, str]) -> dict[str, str]:
    """The part of a run's environment worth keeping: XSched's, the loader's, device masks and
    whatever the mode/role set explicitly (the full environment may hold secrets)."""
    return {k: v for k, v in sorted(env.items())
            if is_xsched_env_name(k) or k.startswith("XLOG_") or k in _KEEP_ENV or k in overrides}


def _sched_text(s: str, pol: str | None) -> str:
    return f"{s} {pol}" if pol else s


def log_facts_of(lines: Sequence[str], pid: int | None, label: str = "run", *,
                 xserver_lines: Sequence[str] = (), xserver_pid: int | None = None,
                 ) -> ProcLogFacts | None:
    """Fold a run's stderr (and, under the global scheduler, xserver's, which is where its
    XQueues and priorities are logged) through the real log parser into that process's facts."""
    if pid is None:
        return None
    facts = LogFacts()
    for sid, src_lines, info in (
            ("run", lines, SourceInfo("run", label, "process", None, pid, "launch")),
            ("xserver", xserver_lines, SourceInfo("xserver", "xserver", "process", None,
                                                  xserver_pid, "launch", "xserver"))):
        if not src_lines:
            continue
        parser = LogParser()
        recs = parser.feed_many(src_lines) + parser.flush()
        facts.ingest([LogEntry(sid, i + 1, r) for i, r in enumerate(recs)], {sid: info})
    return facts.for_pid(pid)


def judge(
    mode: Mode,
    spec: ExperimentSpec,
    *,
    status: ExitStatus | None,
    timed_out: bool,
    cancelled: bool,
    result: Mapping[str, Any] | None,
    error: str | None,
    snapshot: ProcRecord | None,
    logs: ProcLogFacts | None,
    pid: int | None,
    argv: Sequence[str],
    xq: Any = None,
) -> tuple[bool, str | None, RunEvents]:
    """Validity of one run and the evidence behind it; every reason found is listed."""
    reasons: list[str] = []
    if cancelled:
        reasons.append("cancelled before it finished")
    elif timed_out:
        reasons.append(f"timed out after {spec.timeout_s:g} s (the process group was killed)")
    elif status is None:
        reasons.append(f"could not start: {error or 'unknown error'}")
    elif status.signal is not None:
        reasons.append(f"crashed: {status.describe()}")
    elif status.returncode != 0:
        reasons.append(f"exit code {status.returncode}" + (f": {error}" if error else ""))
    if status is not None and not cancelled and not timed_out:
        if result is None:
            reasons.append("no result line on stdout" + (f" (error: {error})" if error and
                                                          status.returncode == 0 else ""))
        else:
            if result.get("correct") is False:
                reasons.append("wrong answer (the workload's correctness check failed)")
            if result.get("suspect"):
                reasons.append(f"suspect result: {result.get('suspect_reason') or 'no reason given'}")

    sched_lines = tuple(_sched_text(s, p) for s, p in (logs.scheduler_lines if logs else ()))
    problems = tuple(logs.problems) if logs else ()
    diag_text: str | None = None
    scheduling: bool | None = None
    if mode.xsched and pid is not None:
        loader = [p for p in problems if "cannot be preloaded" in p or "cannot open shared" in p
                  or "symbol lookup" in p or ("version" in p and "not found" in p)]
        if snapshot is not None:
            rec = snapshot
        else:
            sig = status.signal if status else None
            code = status.returncode if status and sig is None else None
            rec = log_only_record(pid, argv, exited=True, exit_code=code,
                                  exit_signal=signal_name(sig) if sig else None)
        d = diagnose(rec, logs, xq)
        diag_text, scheduling = d.verdict, d.scheduling
        if loader:
            reasons.append("loader error: " + loader[0])
        if d.scheduling is False:
            reasons.append(d.verdict)
        elif d.scheduling is None and not spec.allow_unproven:
            reasons.append("XSched activity not proven: " + d.verdict)
    elif not mode.xsched and pid is not None:
        x = snapshot.xsched if snapshot is not None else None
        leaked = [lib.path for lib in ((x.shim, x.hal, x.preempt) if x else ()) if lib is not None]
        if leaked:
            reasons.append("an XSched library is mapped in this native run: " + ", ".join(leaked))
        elif sched_lines or (logs and logs.xqueues_created):
            reasons.append("XSched logged in this native run (" + (sched_lines[0] if sched_lines
                           else f"{logs.xqueues_created} XQueues") + "): the shim leaked in")
    events = RunEvents(sched_lines, logs.xqueues_created if logs else 0,
                       logs.xqueues_destroyed if logs else 0, problems, diag_text, scheduling,
                       tuple(sorted(set(logs.priorities.values()))) if logs else ())
    return (not reasons), ("; ".join(reasons) or None), events


def crashed_after_result(status: ExitStatus | None, reason: str | None,
                         result: Mapping[str, Any] | None) -> bool:
    """True when a run's only fault is a signal after its complete result line (judge's single
    "crashed: ..." reason): the numbers it reported are whole, the crash is reported beside them."""
    return (status is not None and status.signal is not None and result is not None
            and reason is not None and reason == f"crashed: {status.describe()}")


def fingerprint_of(snapshot: ProcRecord | None, note: str | None = None) -> Fingerprint:
    if snapshot is None:
        return Fingerprint(False, None, None, None, None, (), note or "no snapshot taken while it ran")
    x = snapshot.xsched
    if x is None:
        return Fingerprint(True, None, None, None, None, (), note)
    return Fingerprint(True, x.platform, x.shim, x.hal, x.preempt, tuple(x.runtimes),
                       note or x.maps_error)


# -- the runner --------------------------------------------------------------------------------

class _Live:
    """One running role: its child, files and what its stdout said so far."""

    def __init__(self, runner: ExperimentRunner, index: int, repeat: int, mode: Mode, role: Role,
                 folder: str, rel: str) -> None:
        self.runner, self.index, self.repeat, self.mode, self.role = runner, index, repeat, mode, role
        self.folder, self.rel = folder, rel
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.result: dict | None = None
        self.error: str | None = None
        self.child: Child | None = None
        self.status: ExitStatus | None = None
        self.snapshot: ProcRecord | None = None
        self.snap_note: str | None = None
        self.snapped = False
        self.timed_out = False
        self.cancelled = False
        self.last_progress = 0.0
        self.trial = 0
        self.recent: list[float] = []
        self.told_stop: float | None = None
        self.exited: float | None = None  # when the runner first saw the process gone
        self.early_stderr: list[str] = []  # stderr lines read before the pid was known
        self.argv: list[str] = []
        self.env: dict[str, str] = {}
        self.started = time.time()
        self.ended = self.started
        # open for the run's whole life (written from the reader threads), closed in close_files
        self.out: IO[str] = open(os.path.join(folder, "stdout.jsonl"), "w", encoding="utf-8",  # noqa: SIM115
                                 buffering=1)
        self.err: IO[str] = open(os.path.join(folder, "stderr.log"), "w", encoding="utf-8",  # noqa: SIM115
                                 buffering=1)

    def on_stdout(self, line: str) -> None:
        with self.lock:
            if not self.out.closed:
                self.out.write(line + "\n")
        msg = _parse_line(line)
        if msg is None:
            return
        t = msg.get("type")
        if t == "result":
            why = result_problem(msg)
            if why is not None:  # the run becomes invalid with this reason, the rest goes on
                self.error = f"malformed result line: {why}"
                self.runner._wake.set()
                return
        elif _line_problem(msg) is not None:
            return  # a garbage progress/ready/error line: ignored like any non-protocol line
        if t == "ready":
            self.ready.set()
            self.runner._wake.set()
        elif t == "result":
            self.result = msg
            self.runner._wake.set()  # a primary's result ends the trial for the others
            if not self.snapped:  # a workload that never said "ready": look at it now
                self.ready.set()
        elif t == "error":
            self.error = str(msg.get("message", ""))[:2000]
        elif t == "progress":
            now = time.monotonic()
            done, total = msg.get("done"), msg.get("total")
            recent = msg.get("recent")
            if isinstance(recent, list):
                self.recent.extend(f for f in map(_finite, recent[:1000]) if f is not None)
                del self.recent[:-5000]
            if now - self.last_progress >= 1 / MAX_PROGRESS_EVENTS_S or done == total:
                self.last_progress = now
                last = msg.get("last")
                rec, self.recent = tuple(self.recent), []
                self.runner._emit(RunProgress(
                    self.index, self.mode.name, self.role.name,
                    int(done) if isinstance(done, int) else 0,
                    int(total) if isinstance(total, int) else 0,
                    _finite(last),
                    rec, self.trial))

    def on_stderr(self, line: str) -> None:
        with self.lock:
            if not self.err.closed:
                self.err.write(line + "\n")
            if self.child is None:
                # The reader thread starts inside Child(), before ``self.child`` is set: the
                # first lines (the loader's `cannot be preloaded`, printed at exec) would reach
                # a live view without their pid. Held until the pid is known (set_child).
                self.early_stderr.append(line)
                return
            pid = self.child.pid
        self.runner._log(self._log_label(), pid, line)

    def _log_label(self) -> str:
        return f"{self.mode.name}/{self.role.name}#{self.index}"

    def set_child(self, child: Child) -> None:
        with self.lock:
            self.child = child
            early, self.early_stderr = self.early_stderr, []
        for line in early:
            self.runner._log(self._log_label(), child.pid, line)

    def close_files(self) -> None:
        with self.lock:
            self.out.close()
            self.err.close()


class ExperimentRunner:
    """Runs an :class:`ExperimentSpec` into a fresh folder under ``results_dir``.

    ``on_event`` gets the event records above from the runner's thread (and progress from the
    children's reader threads); it must be quick and must not raise (exceptions are swallowed).
    ``environ``: the base environment of the workloads (default ``os.environ``).
    """

    def __init__(
        self,
        spec: ExperimentSpec,
        config: Config,
        *,
        results_dir: str | None = None,
        on_event: Callable[[Any], None] | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        on_log: Callable[[str, int | None, str], None] | None = None,
    ) -> None:
        self.spec = spec
        self.config = config
        self.on_event = on_event
        # Every stderr line of every run and of xserver, (source label, pid, line), from reader
        # threads: a live view feeds them to its log parser. Must be quick and must not raise.
        self.on_log = on_log
        self.environ = dict(os.environ if environ is None else environ)
        self._clock = clock
        self._cancel = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._runs: list[RunRecord] = []
        self._live: list[_Live] = []
        self.calibrated_rate: float | None = None
        self._status = "running"
        self._message = ""
        self.lib_dir, self.platform = lib_dir_and_platform(config)
        root = os.path.abspath(results_dir or config.results)
        os.makedirs(root, exist_ok=True)
        self.created = _dt.datetime.now(_dt.timezone.utc)
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        base = os.path.join(root, f"{stamp}-{safe_name(spec.name)}")
        folder, n = base, 1
        while True:
            try:
                os.makedirs(folder)
                break
            except FileExistsError:
                n += 1
                folder = f"{base}-{n}"
        self.folder = folder
        from xsched_tui.core.explock import FolderLock

        # held until the end (the kernel drops it if we die): tells a second instance, and
        # `runs`, that this folder's experiment is alive (core/explock.py)
        self._folder_lock = FolderLock(folder, spec.name)
        os.makedirs(os.path.join(folder, "runs"), exist_ok=True)
        self.result_path = os.path.join(folder, "result.json")

    # -- control (any thread) ----------------------------------------------------------------
    def cancel(self) -> None:
        """Stop the run in progress (its group gets SIGTERM, then SIGKILL) and start no other.
        Only sets flags: safe from a signal handler."""
        self._cancel.set()
        self._wake.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def runs(self) -> tuple[RunRecord, ...]:
        with self._lock:
            return tuple(self._runs)

    # -- running ---------------------------------------------------------------------------------
    def run(self) -> ExperimentOutcome:
        """Run the whole plan (blocking). Never raises for a workload's failure; an internal
        error ends the experiment with status "error" after writing what it has."""
        spec = self.spec
        from xsched_tui.core.proctree import ProcessCollector

        collector = ProcessCollector(self.config, discover_every=math.inf, gpu=None)
        self._write_json("spec.json", {"schema": SCHEMA_ID.replace("result", "spec"),
                                       "spec": spec.to_json(), "setup": self._setup()})
        self._write_result()
        self._emit(ExperimentStarted(self.folder, spec.name, spec.total_runs))
        index = 0
        try:
            if spec.calibration is not None:
                index = 1
                self._calibrate(collector)
            for trial, (repeat, mode) in enumerate(spec.plan(), 1):
                if self._cancel.is_set():
                    break
                index = self._trial(trial, index, repeat, mode, collector)
            self._status = "cancelled" if self._cancel.is_set() else "finished"
        except BaseException as exc:  # KeyboardInterrupt included: write what we have, then go
            self._status = "cancelled" if isinstance(exc, KeyboardInterrupt) else "error"
            self._message = f"{type(exc).__name__}: {exc}"
            for lv in self._live:
                if lv.child is not None:
                    lv.child.stop(grace=spec.stop_grace_s)
            if not isinstance(exc, Exception):
                self._conclude()
                raise
        finally:
            collector.close()
        return self._conclude()

    def _conclude(self) -> ExperimentOutcome:
        analysis = self._analysis()
        self._write_result(analysis)
        self._write_report()
        self._folder_lock.release()  # result.json says how it ended: nobody holds it any more
        runs = self.runs
        valid = sum(1 for r in runs if r.valid)
        self._emit(ExperimentFinished(self.folder, self._status, len(runs), valid, len(runs) - valid,
                                      (analysis or {}).get("verdict"), analysis, self._message))
        return ExperimentOutcome(self.folder, self._status, runs, analysis, self.result_path)

    def _calibrate(self, collector: Any) -> None:
        """Run the calibration role flat out once; fix its periodic rate for the whole plan."""
        cal = self.spec.calibration
        assert cal is not None
        role = next(r for r in self.spec.roles if r.name == cal.role)
        flat = replace(role, options={**role.options, "rate": 0, "iters": cal.requests,
                                      "duration": None}, primary=True)
        mode = Mode("calibrate", False)
        lv = self._start(1, -1, mode, flat, trial=0)
        self._watch([lv], collector, None)
        rec = self._finish(lv)
        rps = ((rec.result or {}).get("req_per_s") if rec.valid else None)
        if not isinstance(rps, (int, float)) or isinstance(rps, bool) or not rps > 0:
            raise RuntimeError(f"calibration of {role.name!r} failed: "
                               f"{rec.invalid_reason or 'no req_per_s in its result'}")
        rate = round(cal.fraction * float(rps), 3)
        self.calibrated_rate = rate
        roles = tuple(replace(r, options={**r.options, "rate": rate}) if r.name == role.name else r
                      for r in self.spec.roles)
        self.spec = replace(self.spec, roles=roles)
        self._write_json("spec.json", {"schema": SCHEMA_ID.replace("result", "spec"),
                                       "spec": self.spec.to_json(), "setup": self._setup()})

    def _trial(self, trial: int, index: int, repeat: int, mode: Mode, collector: Any) -> int:
        """One (repeat, mode): xserver if any, every role of the mode at once, synchronised
        start, primaries to the end, then the others told to stop. Returns the last run index."""
        roles = self.spec.roles_of(mode)
        sync = len(roles) > 1
        xs: ManagedXServer | None = None
        xs_error: str | None = None
        tdir = os.path.join(self.folder, "trials")
        if mode.xserver is not None:
            os.makedirs(tdir, exist_ok=True)
            env = xenv.workload_env(self.environ, {}, lib_dir=None, platform=None, xsched=False)
            if self.lib_dir:
                old = env.get("LD_LIBRARY_PATH", "")
                env["LD_LIBRARY_PATH"] = self.lib_dir + (os.pathsep + old if old else "")
            xs = ManagedXServer(mode.xserver, install=self.config.install_dir(), env=env,
                                log_path=os.path.join(tdir, f"{trial:03d}-xserver.log"),
                                host="127.0.0.1",
                                on_line=lambda line: self._log(f"xserver#{trial}", xs.pid if xs
                                                               else None, line))
            xs_error = xs.start()
        lives = []
        for role in roles:
            index += 1
            lives.append(self._start(index, repeat, mode, role, trial=trial, sync=sync,
                                     refuse=f"xserver: {xs_error}" if xs_error else None))
        try:
            if sync:
                self._go(lives, xs)
            self._watch(lives, collector, xs)
        finally:
            xs_doc = None
            if xs is not None:
                xs.stop()
                xs_doc = {"trial": trial, "mode": mode.name, "argv": xs.argv, "error": xs_error,
                          "pid": xs.pid, "exit": xs.status.describe() if xs.status else None,
                          "polls": xs.polls, "max_xqueues": dict(xs.max_queues),
                          "max_suspended": dict(xs.max_suspended),
                          "log": os.path.relpath(xs.log_path, self.folder)}
                self._write_json(os.path.join("trials", f"{trial:03d}-xserver.json"), xs_doc)
            for lv in lives:
                self._finish(lv, xs)
        return index

    def _go(self, lives: list[_Live], xs: ManagedXServer | None) -> None:
        """Wait until every role is warm (its ready line) or gone, then start them together."""
        deadline = time.monotonic() + self.spec.timeout_s
        next_poll = 0.0
        while not self._cancel.is_set() and time.monotonic() < deadline:
            waiting = [lv for lv in lives if lv.child is not None and lv.child.running
                       and not lv.ready.is_set()]
            if not waiting:
                break
            if xs is not None and time.monotonic() >= next_poll:
                self._poll_xserver(xs, lives)
                next_poll = time.monotonic() + 0.5
            self._wake.wait(POLL_S)
            self._wake.clear()
        for lv in lives:  # back to back: the measurement windows start within ~1 ms
            if lv.child is not None and lv.child.running:
                lv.child.write_stdin("go\n")

    def _poll_xserver(self, xs: ManagedXServer, lives: list[_Live]) -> None:
        view = xs.poll()
        queues = {pq.pid: (pq.queues, pq.ready_now, pq.suspended_now) for pq in view.processes}
        trial = lives[0].trial if lives else 0
        self._emit(XServerPolled(trial, lives[0].mode.name if lives else "", view.status, queues))

    def _env_for(self, mode: Mode, role: Role) -> tuple[dict[str, str], dict[str, str]]:
        env = xenv.workload_env(self.environ, self.config.xsched_env, lib_dir=self.lib_dir,
                                platform=self.platform, enable=self.config.enable, xsched=mode.xsched)
        if role.argv is None:
            env = _module_env(env)
        overrides = {**role.env, **mode.env, **(role.xsched_env if mode.xsched else {})}
        for k, v in overrides.items():
            if v == "":
                env.pop(k, None)
            else:
                env[k] = str(v)
        return env, overrides

    def _start(self, index: int, repeat: int, mode: Mode, role: Role, *, trial: int = 0,
               sync: bool = False, refuse: str | None = None) -> _Live:
        rel = os.path.join("runs", f"{index:03d}-{safe_name(mode.name)}-{safe_name(role.name)}")
        folder = os.path.join(self.folder, rel)
        os.makedirs(folder, exist_ok=True)
        lv = _Live(self, index, repeat, mode, role, folder, rel)
        lv.trial = trial
        env, overrides = self._env_for(mode, role)
        lv.env = recorded_env(env, overrides)
        lv.argv = list(role.argv) if role.argv is not None else \
            _workload_argv(self.spec.python, role.kind, role.options)
        if sync:  # the workload protocol: "go" on stdin starts measuring, the next line stops it
            # A background is stopped by that line; its own --duration (what it measures when
            # it runs alone) must not end it first, so the trial's timeout caps it (argparse:
            # the last --duration wins).
            lv.argv += ["--wait-stdin"] + ([] if role.primary else [
                "--until-stdin", "--duration", f"{self.spec.timeout_s:g}"])
        lv.started = self._clock()
        if refuse is not None:
            lv.error = refuse
        else:
            try:
                lv.set_child(Child(lv.argv, env=env, on_stdout=lv.on_stdout,
                                   on_stderr=lv.on_stderr, stdin=sync,
                                   max_stdout_line=MAX_RESULT_LINE))
            except StartError as exc:
                lv.error = str(exc)
        self._live.append(lv)
        self._emit(RunStarted(index, self.spec.total_runs, repeat, mode.name, role.name,
                              lv.child.pid if lv.child else None, rel))
        return lv

    def _watch(self, lives: list[_Live], collector: Any, xs: ManagedXServer | None) -> None:
        """Wait for the children of one trial; snapshot each once it measures; when the primary
        roles are done tell the others to stop (then stop them); enforce the timeout and
        cancel; poll xserver meanwhile."""
        deadline = time.monotonic() + self.spec.timeout_s
        primaries = [lv for lv in lives if lv.role.primary] or lives
        stop_deadline: float | None = None
        next_poll = 0.0
        while True:
            running = [lv for lv in lives if lv.child is not None and lv.child.running]
            self._note_exits(lives, running)
            for lv in lives:
                if lv.child is not None and not lv.snapped and lv.ready.is_set():
                    self._snapshot(lv, collector)
            if not running:
                return
            if xs is not None and time.monotonic() >= next_poll:
                self._poll_xserver(xs, lives)
                next_poll = time.monotonic() + 0.5
            # A primary is done when it has reported (its result line) or exited: the others
            # are told then, not when its interpreter has finished tearing down (~0.5 s).
            if stop_deadline is None and all(lv not in running or lv.result is not None
                                             for lv in primaries):
                now = self._clock()
                for lv in running:
                    if lv in primaries:
                        continue
                    lv.told_stop = now
                    lv.child.write_stdin("stop\n")  # type: ignore[union-attr]
                    lv.child.close_stdin()  # type: ignore[union-attr]
                stop_deadline = time.monotonic() + self.spec.stop_wait_s
            if stop_deadline is not None and time.monotonic() >= stop_deadline:
                for lv in running:
                    lv.child.stop(grace=self.spec.stop_grace_s)  # type: ignore[union-attr]
                self._note_exits(lives, [])
                return
            if self._cancel.is_set():
                for lv in running:
                    lv.cancelled = True
                    lv.child.stop(grace=self.spec.stop_grace_s)  # type: ignore[union-attr]
                self._note_exits(lives, [])
                return
            if time.monotonic() >= deadline:
                for lv in running:
                    lv.timed_out = True
                    lv.child.stop(grace=self.spec.stop_grace_s)  # type: ignore[union-attr]
                self._note_exits(lives, [])
                return
            self._wake.wait(POLL_S)
            self._wake.clear()

    def _note_exits(self, lives: list[_Live], running: list[_Live]) -> None:
        """A role's end is when it was first seen gone (within POLL_S), not when the whole trial
        was wrapped up: a background that died at start must not look as if it ran throughout."""
        now = self._clock()
        for lv in lives:
            if lv.exited is None and lv not in running:
                lv.exited = now

    def _snapshot(self, lv: _Live, collector: Any) -> None:
        lv.snapped = True
        pid = lv.child.pid  # type: ignore[union-attr]
        try:
            collector.track(pid, "started", label=f"{lv.mode.name}/{lv.role.name}")
            rec = collector.refresh().get(pid)
            if rec is not None and not rec.exited:
                lv.snapshot = rec
            else:
                lv.snap_note = "the process ended before it could be looked at"
        except Exception as exc:  # /proc races: a fact for the record, never a crash
            lv.snap_note = f"snapshot failed: {exc}"
        finally:
            collector.untrack(pid)

    def _finish(self, lv: _Live, xs: ManagedXServer | None = None) -> RunRecord:
        if lv.child is not None:
            lv.status = lv.child.wait(timeout=max(5.0, self.spec.stop_grace_s * 2 + 1))
            if lv.status.returncode is None:  # still alive after wait(): stop it for good
                lv.status = lv.child.stop(grace=self.spec.stop_grace_s)
        lv.ended = lv.exited if lv.exited is not None else self._clock()
        lv.close_files()
        pid = lv.child.pid if lv.child else None
        stderr = list(lv.child.stderr_lines) if lv.child else []
        logs = log_facts_of(stderr, pid, f"{lv.mode.name}/{lv.role.name}",
                            xserver_lines=xs.log_lines() if xs else (),
                            xserver_pid=xs.pid if xs else None)
        xq = xs.best_view_for(pid) if xs is not None and pid is not None else None
        valid, reason, events = judge(
            lv.mode, self.spec, status=lv.status, timed_out=lv.timed_out, cancelled=lv.cancelled,
            result=lv.result, error=lv.error, snapshot=lv.snapshot, logs=logs, pid=pid, argv=lv.argv,
            xq=xq)
        xs_doc = None
        if xs is not None and pid is not None:
            xs_doc = {"max_xqueues": xs.max_queues.get(pid, 0),
                      "max_suspended": xs.max_suspended.get(pid, 0), "polls": xs.polls,
                      "priorities": sorted(set((logs.priorities if logs else {}).values()))}
        st = lv.status
        sig = st.signal if st else None
        rec = RunRecord(
            index=lv.index, repeat=lv.repeat, mode=lv.mode.name, role=lv.role.name, pid=pid,
            argv=tuple(lv.argv), env=lv.env, started=lv.started, ended=lv.ended,
            exit_code=st.returncode if st is not None and sig is None else None,
            exit_signal=signal_name(sig) if sig else None,
            exit_text="cancelled (stopped)" if lv.cancelled else
            (st.describe() if st is not None else f"not started: {lv.error}"),
            timed_out=lv.timed_out, cancelled=lv.cancelled, result=lv.result, error=lv.error,
            events=events, fingerprint=fingerprint_of(lv.snapshot, lv.snap_note),
            valid=valid, invalid_reason=reason, folder=lv.rel, trial=lv.trial,
            told_stop=lv.told_stop, xserver=xs_doc,
            crash_at_exit=crashed_after_result(st, reason, lv.result),
        )
        write_text_atomic(os.path.join(lv.folder, "run.json"), json.dumps(rec.to_json(), indent=2))
        with self._lock:
            self._runs.append(rec)
        if lv in self._live:
            self._live.remove(lv)
        self._write_result(self._analysis())
        self._write_report()
        self._emit(RunFinished(rec.index, self.spec.total_runs, rec.repeat, rec.mode, rec.role,
                               rec.valid, rec.invalid_reason, rec.value,
                               (rec.result or {}).get("metric"), rec.exit_text))
        return rec

    # -- outputs ---------------------------------------------------------------------------------
    def _log(self, label: str, pid: int | None, line: str) -> None:
        if self.on_log is None:
            return
        try:
            self.on_log(label, pid, line)
        except Exception:  # a viewer's bug must not lose an experiment
            pass

    def _emit(self, ev: Any) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(ev)
        except Exception:  # a viewer's bug must not lose an experiment
            pass

    def _analysis(self) -> dict[str, Any] | None:
        if self.spec.kind == "priority":
            from xsched_tui.core.priority import priority_from_runs

            try:
                return priority_from_runs(self.runs, self.spec).to_json()
            except (ValueError, ArithmeticError) as exc:  # a bug must not lose the runs
                return {"kind": "priority", "variant": "dual", "foreground": None,
                        "standalone_of": {}, "native_mode": None, "xsched_mode": None,
                        "stats": [], "overlap": [], "cdf": {}, "xsched_vs_native": None,
                        "paper": {}, "shares": {}, "crashes": [], "verdict": "INVALID",
                        "verdict_reason": f"analysis failed: {exc}", "notes": []}
        if self.spec.kind != "overhead":
            return None
        from xsched_tui.core.overhead import overhead_from_runs

        try:
            res = overhead_from_runs(self.runs, self.spec, threshold_pct=self.spec.threshold_pct,
                                     aa=self.spec.aa)
        except ValueError as exc:
            return {"kind": "overhead", "verdict": "INVALID", "verdict_reason": str(exc)}
        return res.to_json() if res is not None else None

    def _setup(self) -> dict[str, Any]:
        from xsched_tui.core.report import host_facts

        cfg = self.config
        return {
            "host": host_facts(),
            "python": self.spec.python,
            "runner_python": sys.executable,
            "install": cfg.install_dir(),
            "lib_dir": self.lib_dir,
            "platform": self.platform,
            "enable": cfg.enable,
            "stream": cfg.stream,
            "xsched_env": dict(cfg.xsched_env),
        }

    def _result_json(self, analysis: Mapping[str, Any] | None) -> dict[str, Any]:
        runs = self.runs
        valid = sum(1 for r in runs if r.valid)
        return {
            "schema": SCHEMA_ID,
            "tool": {"name": "xsched-tui", "version": __version__},
            "name": self.spec.name,
            "kind": self.spec.kind,
            "status": self._status,
            "message": self._message,
            "created": self.created.isoformat(timespec="seconds"),
            "updated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "folder": self.folder,
            "spec": self.spec.to_json(),
            "setup": self._setup(),
            "counts": {"planned": self.spec.total_runs, "done": len(runs), "valid": valid,
                       "invalid": len(runs) - valid},
            "runs": [r.to_json() for r in runs],
            "analysis": _jsonable(dict(analysis)) if analysis is not None else None,
        }

    def _write_json(self, name: str, doc: Mapping[str, Any]) -> None:
        write_text_atomic(os.path.join(self.folder, name), json.dumps(doc, indent=2) + "\n")

    def _write_result(self, analysis: Mapping[str, Any] | None = None) -> None:
        self._write_json("result.json", self._result_json(analysis))

    def _write_report(self) -> None:
        from xsched_tui.core.expreport import to_markdown

        try:
            with open(self.result_path, encoding="utf-8") as f:
                doc = json.load(f)
            write_text_atomic(os.path.join(self.folder, "report.md"), to_markdown(doc))
            an = doc.get("analysis") or {}
            if an.get("kind") == "priority" and an.get("cdf"):
                from xsched_tui.core.prioreport import cdf_svg
                from xsched_tui.core.priority import latencies

                raw: dict[str, list[float]] = {}
                counted = set(an.get("counted_runs") or ())
                for r in self.runs:  # the same runs as the analysis' CDF
                    if r.index in counted and r.role == an.get("foreground"):
                        raw.setdefault(r.mode, []).extend(latencies(r))
                write_text_atomic(os.path.join(self.folder, "cdf.svg"),
                                  cdf_svg(an["cdf"], raw, f"{self.spec.name}: foreground "
                                          f"{an.get('foreground')} latency CDF"))
        except (OSError, ValueError):
            pass  # result.json is the record; the report can be regenerated from it

