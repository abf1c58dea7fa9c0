"""The XQueues monitor: polls xserver's ``GET /xqueues`` and keeps what one answer cannot say.

One answer is a snapshot of ``ready``/``suspended`` flags (FACTS §4.2). Whether a queue is
really used shows only over time, so each queue keeps a bounded ring of (time, ready, suspended)
per poll, how often ``ready`` flipped, how many polls it was suspended, and whether it was ever
ready (FACTS §8.5: XQueues that never become ready mean work on the default stream). Queues
that leave the answer are kept, marked ``gone``, for ``keep_gone_s`` so the user sees them go.

xserver exposes no priorities; they come from its log (``set priority P for XQueue 0x..``, fed
through :meth:`XQueueMonitor.ingest_log`) or from the client's ``XSCHED_AUTO_XQUEUE_PRIORITY``
(:meth:`XQueueMonitor.set_env_priority`).

Failures never raise: the view's ``status`` says what went wrong ("down", "timeout", "error",
"garbage") with a sentence, since when, and the last good data stays (``last_good_at``).

Threading: ``poll`` blocks on the network, so call it from a worker thread; ``view``,
``ingest_log`` and ``set_env_priority`` may be called from any thread. No Textual here.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from xsched_tui.core.logfacts import LogFacts
from xsched_tui.core.xserver import (
    POLICY_NAMES,
    XQueueInfo,
    XServerClient,
    XServerError,
    device_pci,
    device_text,
    handle_matches_pid,
    handle_pid_bits,
)

__all__ = [
    "PidQueues",
    "QueueRow",
    "XQView",
    "XQueueMonitor",
    "device_pci",
    "device_text",
    "handle_matches_pid",
    "handle_pid_bits",
    "verdict",
    "view_to_json",
]

POLICY_EVERY = 5  # GET /policy on the first poll and every this many polls
FROM_LOG = "xserver log"
FROM_ENV = "env XSCHED_AUTO_XQUEUE_PRIORITY"
_KIND_STATUS = {"down": "down", "timeout": "timeout", "http": "error", "garbage": "garbage"}
MAX_ROWS = 65536  # queues tracked at most (a sane xserver has a few hundred)


@dataclass(frozen=True)
class QueueRow:
    info: XQueueInfo
    priority: int | None
    priority_from: str | None  # FROM_LOG | FROM_ENV | None
    ever_ready: bool
    ready_flips: int
    suspended_polls: int
    history: tuple[tuple[float, bool, bool], ...]  # (time, ready, suspended), oldest first
    first_seen: float
    last_seen: float
    gone: bool

    @property
    def handle_pid_ok(self) -> bool:
        """The handle's top 16 bits match the pid (FACTS §4.2); False hints at pid reuse or a
        pid namespace mismatch between xserver and the client."""
        return handle_matches_pid(self.info.handle, self.info.pid)


@dataclass(frozen=True)
class PidQueues:
    pid: int
    cmdline: str | None
    queues: int  # queues in the last answer (gone ones not counted)
    ready_now: int
    suspended_now: int
    ever_ready: int


@dataclass(frozen=True)
class XQView:
    status: str  # never | ok | slow | down | timeout | error | garbage
    message: str | None
    since: float
    polled_at: float | None
    latency_s: float | None
    polls: int
    failures: int
    policy: int | None
    policy_name: str | None
    queues: tuple[QueueRow, ...]
    processes: tuple[PidQueues, ...]
    zero_queue_pids: tuple[int, ...]
    last_good_at: float | None

    @property
    def reachable(self) -> bool:
        return self.status in ("ok", "slow")

    @property
    def stale(self) -> bool:
        """The queues shown are from an earlier good answer, not the last poll."""
        return not self.reachable and self.last_good_at is not None

    @property
    def live_queues(self) -> int:
        return sum(1 for q in self.queues if not q.gone)


class _Q:
    """Mutable per-queue state (monitor lock held)."""

    __slots__ = ("ever_ready", "first", "flips", "gone_at", "hist", "info", "last", "sus")

    def __init__(self, info: XQueueInfo, now: float, history: int) -> None:
        self.info = info
        self.hist: deque[tuple[float, bool, bool]] = deque(maxlen=history)
        self.ever_ready = False
        self.flips = 0
        self.sus = 0
        self.first = now
        self.last = now
        self.gone_at: float | None = None


class XQueueMonitor:
    def __init__(self, client: XServerClient, *, history: int = 120, slow_s: float = 0.5,
                 keep_gone_s: float = 30.0, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.history = max(1, history)
        self.slow_s = slow_s
        self.keep_gone_s = keep_gone_s
        self.clock = clock
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()  # polls never overlap
        self._queues: dict[int, _Q] = {}
        self._procs: dict[int, str] = {}  # pid -> cmdline, from the last good answer
        self._status = "never"
        self._message: str | None = "xserver has not been asked yet"
        self._since = clock()
        self._polled_at: float | None = None
        self._latency: float | None = None
        self._polls = 0
        self._failures = 0
        self._policy: int | None = None
        self._last_good: float | None = None
        self._log_prio: Mapping[int, int] = {}
        self._log_version = -1
        self._log_cmd: Mapping[int, str] = {}
        self._env_prio: dict[int, int] = {}
        self._view = self._build()

    # -- inputs --------------------------------------------------------------------------------

    def poll(self) -> XQView:
        """One GET /xqueues (plus GET /policy every few polls). Never raises."""
        with self._poll_lock:
            try:
                return self._poll()
            except Exception as exc:  # a monitor must survive its own bugs too
                with self._lock:
                    now = self.clock()
                    self._polls += 1
                    self._failures += 1
                    self._set_status("error", now,
                                     f"internal error while polling xserver: {type(exc).__name__}: {exc}")
                    self._view = self._build()
                    return self._view

    def _poll(self) -> XQView:
        want_policy = self._polls % POLICY_EVERY == 0
        try:
            snap = self.client.xqueues()
        except XServerError as exc:
            with self._lock:
                now = self.clock()
                self._polls += 1
                self._failures += 1
                self._polled_at = now
                self._latency = None
                self._set_status(_KIND_STATUS.get(exc.kind, "error"), now, str(exc))
                self._view = self._build()
                return self._view
        policy = self._policy
        if want_policy or policy is None:
            try:
                policy = self.client.policy()
            except XServerError:
                pass  # /xqueues answered: the status is about it; keep the policy we knew
        with self._lock:
            now = self.clock()
            self._polls += 1
            self._polled_at = now
            self._latency = snap.latency_s
            self._last_good = now
            self._policy = policy
            self._merge(snap.xqueues, now)
            self._procs = {p.pid: p.cmdline for p in snap.processes}
            if snap.latency_s > self.slow_s:
                self._set_status("slow", now, f"xserver answered in {snap.latency_s * 1000:.0f} ms "
                                 f"(slower than {self.slow_s * 1000:.0f} ms)")
            else:
                self._set_status("ok", now, None)
            self._view = self._build()
            return self._view

    def _set_status(self, status: str, now: float, message: str | None) -> None:
        if status != self._status:
            self._since = now
        self._status = status
        self._message = message

    def _merge(self, infos: tuple[XQueueInfo, ...], now: float) -> None:
        seen: set[int] = set()
        for info in infos:
            h = info.handle
            seen.add(h)
            q = self._queues.get(h)
            if q is None:
                if len(self._queues) >= MAX_ROWS:
                    continue
                q = self._queues[h] = _Q(info, now, self.history)
            elif q.hist and q.hist[-1][1] != info.ready:
                q.flips += 1
            q.info = info
            q.hist.append((now, info.ready, info.suspended))
            q.ever_ready = q.ever_ready or info.ready
            q.sus += info.suspended
            q.last = now
            q.gone_at = None
        for h, q in list(self._queues.items()):
            if h in seen:
                continue
            if q.gone_at is None:
                q.gone_at = now
            if now - q.gone_at > self.keep_gone_s:
                del self._queues[h]

    def ingest_log(self, facts: LogFacts) -> None:
        """Take priorities (and cmdlines) from log facts; copies only when they changed."""
        if facts.version == self._log_version:
            return
        prio, cmds, version = facts.priorities(), facts.cmdlines(), facts.version
        with self._lock:
            self._log_prio, self._log_cmd, self._log_version = prio, cmds, version
            self._view = self._build()

    def set_env_priority(self, pid: int, priority: int) -> None:
        """The process's ``XSCHED_AUTO_XQUEUE_PRIORITY`` (from /proc/PID/environ or the launch)."""
        with self._lock:
            self._env_prio[pid] = priority
            while len(self._env_prio) > MAX_ROWS:  # bounded, oldest first
                del self._env_prio[next(iter(self._env_prio))]
            self._view = self._build()

    # -- output --------------------------------------------------------------------------------

    def view(self) -> XQView:
        return self._view

    def _build(self) -> XQView:
        rows: list[QueueRow] = []
        counts: dict[int, list[int]] = {}  # pid -> [queues, ready, suspended, ever_ready]
        for h, q in self._queues.items():
            info = q.info
            prio: int | None = self._log_prio.get(h)
            src: str | None = FROM_LOG if prio is not None else None
            if prio is None and info.pid in self._env_prio:
                prio, src = self._env_prio[info.pid], FROM_ENV
            gone = q.gone_at is not None
            rows.append(QueueRow(info, prio, src, q.ever_ready, q.flips, q.sus, tuple(q.hist),
                                 q.first, q.last, gone))
            c = counts.setdefault(info.pid, [0, 0, 0, 0])
            if not gone:
                c[0] += 1
                c[1] += info.ready
                c[2] += info.suspended
                c[3] += q.ever_ready
        rows.sort(key=lambda r: (r.info.pid, r.info.handle))
        pids = sorted(set(self._procs) | set(counts))
        procs = tuple(
            PidQueues(pid, self._procs.get(pid) or self._log_cmd.get(pid),
                      *counts.get(pid, (0, 0, 0, 0)))
            for pid in pids
        )
        zero = tuple(p.pid for p in procs if p.pid in self._procs and p.queues == 0)
        pol = self._policy
        return XQView(
            status=self._status, message=self._message, since=self._since,
            polled_at=self._polled_at, latency_s=self._latency, polls=self._polls,
            failures=self._failures, policy=pol,
            policy_name=POLICY_NAMES.get(pol, f"unknown ({pol})") if pol is not None else None,
            queues=tuple(rows), processes=procs, zero_queue_pids=zero,
            last_good_at=self._last_good,
        )


# -- verdict and JSON ----------------------------------------------------------------------------


def verdict(view: XQView) -> tuple[int, str]:
    """(exit code, sentence): 0 fine, 1 clients connected but nothing scheduled, 2 xserver
    unusable (down, timeout, HTTP error, garbage) or not asked yet."""
    if not view.reachable:
        return 2, view.message or "xserver has not been asked yet"
    live = view.live_queues
    zero = len(view.zero_queue_pids)
    if live == 0 and zero:
        return 1, (f"{zero} client process{'es' if zero != 1 else ''} connected but xserver lists "
                   "no XQueue: nothing is scheduled (work on the default stream, or "
                   "XSCHED_AUTO_XQUEUE not ON?)")
    if live == 0:
        return 0, "xserver answers; no client is connected"
    with_q = sum(1 for p in view.processes if p.queues)
    tail = (f"; {zero} connected process{'es' if zero != 1 else ''} without an XQueue "
            "(nothing of theirs is scheduled)") if zero else ""
    return 0, (f"{live} XQueue{'s' if live != 1 else ''} in {with_q} "
               f"process{'es' if with_q != 1 else ''}{tail}")


def view_to_json(view: XQView, *, history: bool = False) -> dict[str, Any]:
    """The view as JSON-ready data (schema: docs/xqueues.schema.json)."""
    queues = []
    for r in view.queues:
        i = r.info
        q: dict[str, Any] = {
            "pid": i.pid, "handle": i.handle, "handle_hex": i.handle_hex, "device": i.device,
            "device_text": device_text(i.device), "device_pci": device_pci(i.device),
            "level": i.level, "threshold": i.threshold, "batch_size": i.batch_size,
            "ready": i.ready, "suspended": i.suspended, "priority": r.priority,
            "priority_from": r.priority_from, "ever_ready": r.ever_ready,
            "ready_flips": r.ready_flips, "suspended_polls": r.suspended_polls,
            "first_seen": r.first_seen, "last_seen": r.last_seen, "gone": r.gone,
            "handle_pid_ok": r.handle_pid_ok,
        }
        if history:
            q["history"] = [list(h) for h in r.history]
        queues.append(q)
    code, text = verdict(view)
    return {
        "schema": "xsched-tui/xqueues/v1",
        "status": view.status, "message": view.message, "since": view.since,
        "polled_at": view.polled_at, "latency_s": view.latency_s, "polls": view.polls,
        "failures": view.failures, "policy": view.policy, "policy_name": view.policy_name,
        "last_good_at": view.last_good_at, "stale": view.stale,
        "exit_code": code, "verdict": text,
        "queues": queues,
        "processes": [
            {"pid": p.pid, "cmdline": p.cmdline, "queues": p.queues, "ready_now": p.ready_now,
             "suspended_now": p.suspended_now, "ever_ready": p.ever_ready,
             "zero_queues": p.pid in view.zero_queue_pids}
            for p in view.processes
        ],
        "zero_queue_pids": list(view.zero_queue_pids),
    }
