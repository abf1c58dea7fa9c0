"""What a live view of a running priority experiment shows (no Textual): the foreground's latency
so far per configuration, the background's throughput, the experiment's processes, what xserver
says about their XQueues, and, above all, whether XSched is actually in play right now.

Fed by the runner's events (``core.experiment``) and, each refresh, by the app's diagnoses and
log facts of the experiment's pids. Bounded: latencies per (configuration, role) and throughput
samples per role are rings, so N tenants are watched apart, never mixed into one p99.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from xsched_tui.core import experiment as ex
from xsched_tui.core.stats import percentile

LATENCY_CAP = 50_000  # per (configuration, role): p99 of its most recent 50k requests
SAMPLES = 120  # sparkline points


@dataclass(frozen=True)
class LiveRun:
    index: int
    trial: int
    mode: str
    role: str
    pid: int | None
    xsched: bool
    state: str  # running | done | invalid
    last: float | None = None
    value: float | None = None
    reason: str | None = None


class LiveExperiment:
    def __init__(self) -> None:
        self.reset()

    def reset(self, name: str = "", folder: str = "", total: int = 0) -> None:
        self.name, self.folder, self.total = name, folder, total
        self.runs: dict[int, LiveRun] = {}
        self.latency: dict[tuple[str, str], deque[float]] = {}  # (mode, role) -> latencies
        self.recent: dict[str, deque[float]] = {}  # role -> latest latencies (sparkline)
        self.throughput: dict[str, deque[float]] = {}  # role -> throughput samples
        self.xqueues: dict[int, tuple[int, int, int]] = {}
        self.xserver_status: str | None = None
        self.foreground: str | None = None
        self.roles: tuple[str, ...] = ()
        self.xsched_modes: set[str] = set()
        self.status = "idle"
        self.verdict: str | None = None
        self.verdict_reason = ""
        self.current_mode: str | None = None

    def start(self, spec: ex.ExperimentSpec) -> None:
        self.reset(spec.name, "", spec.total_runs)
        fg = next((r for r in spec.roles if r.primary and r.kind == "infer"), None)
        self.foreground = fg.name if fg else None
        self.roles = tuple(r.name for r in spec.roles)
        self.xsched_modes = {m.name for m in spec.modes if m.xsched}
        self.status = "starting"

    # -- events --------------------------------------------------------------------------------
    def on_event(self, ev: Any) -> None:
        if isinstance(ev, ex.ExperimentStarted):
            self.folder, self.total, self.status = ev.folder, ev.total_runs, "running"
        elif isinstance(ev, ex.RunStarted):
            self.current_mode = ev.mode
            self.runs[ev.index] = LiveRun(ev.index, 0, ev.mode, ev.role, ev.pid,
                                          ev.mode in self.xsched_modes, "running")
        elif isinstance(ev, ex.RunProgress):
            r = self.runs.get(ev.index)
            if r is not None:
                self.runs[ev.index] = replace(r, last=ev.last, trial=ev.trial or r.trial)
            if ev.recent:
                ring = self.latency.setdefault((ev.mode, ev.role), deque(maxlen=LATENCY_CAP))
                ring.extend(ev.recent)
                self.recent.setdefault(ev.role, deque(maxlen=SAMPLES)).extend(ev.recent)
            elif ev.last is not None and ev.role != self.foreground:
                self.throughput.setdefault(ev.role, deque(maxlen=SAMPLES)).append(ev.last)
        elif isinstance(ev, ex.RunFinished):
            r = self.runs.get(ev.index)
            if r is not None:
                self.runs[ev.index] = replace(r, state="done" if ev.valid else "invalid",
                                              value=ev.value, reason=ev.invalid_reason)
        elif isinstance(ev, ex.XServerPolled):
            self.xserver_status = ev.status
            self.xqueues = dict(ev.queues)
        elif isinstance(ev, ex.ExperimentFinished):
            self.status = ev.status
            self.verdict = ev.verdict
            self.verdict_reason = str((ev.analysis or {}).get("verdict_reason") or ev.message)

    # -- views ---------------------------------------------------------------------------------
    def p99(self, mode: str, role: str | None = None) -> tuple[float | None, int]:
        """p99 so far and n of ``role`` (default: the foreground) under ``mode``."""
        ring = self.latency.get((mode, role or self.foreground or ""))
        if not ring:
            return None, 0
        return percentile(list(ring), 99), len(ring)

    def latency_roles(self) -> list[str]:
        """Roles that reported latencies, the foreground first."""
        seen = {role for _, role in self.latency}
        return sorted(seen, key=lambda r: (r != self.foreground, self.roles.index(r)
                                           if r in self.roles else len(self.roles), r))

    def modes_of(self, role: str) -> list[str]:
        return [m for m, r in self.latency if r == role]

    def running(self) -> list[LiveRun]:
        return [r for r in self.runs.values() if r.state == "running"]

    def in_play(self, diagnoses: Mapping[int, Any], logs: Mapping[int, Any]) -> tuple[str, list[str]]:
        """("ok" | "problem" | "native" | "waiting" | "idle", lines) for the running runs:
        each XSched-mode process with its diagnosis (FACTS §8), XQueue count and loader errors."""
        live = self.running()
        if not live:
            return "idle", []
        xs = [r for r in live if r.xsched]
        if not xs:
            return "native", [f"{live[0].mode}: a native configuration, XSched is not expected"]
        lines, bad, waiting = [], False, False
        for r in xs:
            who = f"pid {r.pid} ({r.mode}/{r.role})"
            d = diagnoses.get(r.pid) if r.pid else None
            lf = logs.get(r.pid) if r.pid else None
            loader = [p for p in (getattr(lf, "problems", ()) or ())
                      if "preloaded" in p or "cannot open shared" in p or "symbol lookup" in p]
            q = self.xqueues.get(r.pid) if r.pid else None
            n = q[0] if q else (getattr(lf, "xqueues_created", 0) if lf else 0)
            if loader:
                bad = True
                lines.append(f"{who}: loader error: {loader[0]}")
            elif d is None:
                waiting = True
                lines.append(f"{who}: not looked at yet")
            elif d.scheduling is False:
                bad = True
                lines.append(f"{who}: {d.verdict}")
            elif d.scheduling:
                sus = f", {q[2]} suspended now" if q else ""
                lines.append(f"{who}: scheduled, {n} XQueues{sus}")
            else:
                waiting = True
                lines.append(f"{who}: {d.verdict}")
        return ("problem" if bad else "waiting" if waiting else "ok"), lines
