"""An xserver that an experiment starts, checks and stops (no Textual).

The global scheduler (``XSCHED_SCHEDULER=GLB``) needs ``xserver POLICY PORT`` running before the
workloads start, and a stale xserver from an earlier run silently changes every result (FIELD-NOTES
§4). So the runner: refuses a port on which something already answers, starts its own xserver in
its own process group with the install's libraries, waits until ``GET /xqueues`` answers, polls it
while the trial runs (what the XQueues were doing is evidence), keeps its stderr (the log that says
which client got which XQueue and priority), and stops it with SIGINT (FACTS §4.1), then SIGKILL.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO

from xsched_tui.core.runner import Child, ExitStatus, StartError
from xsched_tui.core.xqmonitor import XQueueMonitor, XQView
from xsched_tui.core.xserver import XServerClient, XServerError

POLICIES = ("HPF", "HHPF", "CHPF", "UP", "PUP", "SPUP", "KEDF", "LAX", "AWF", "CFS", "MLFQ")


@dataclass(frozen=True)
class XServerLaunch:
    """How to run xserver for a configuration. ``argv`` replaces ``<install>/bin/xserver POLICY
    PORT`` (a stand-in in tests, or a wrapper)."""

    policy: str = "HPF"
    port: int = 50000
    argv: tuple[str, ...] | None = None
    start_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.policy.upper() not in POLICIES:
            raise ValueError(f"unknown xserver policy {self.policy!r} (one of {', '.join(POLICIES)})")
        if not 0 < self.port < 65536:
            raise ValueError(f"xserver port must be 1-65535, got {self.port}")

    def to_json(self) -> dict[str, object]:
        return {"policy": self.policy.upper(), "port": self.port,
                "argv": list(self.argv) if self.argv is not None else None}


def xserver_argv(launch: XServerLaunch, install: str | None) -> list[str]:
    if launch.argv is not None:
        return list(launch.argv)
    if not install:
        raise StartError("no XSched install folder is configured (--install or XSCHED_TUI_INSTALL): "
                         "cannot start xserver for the global scheduler")
    path = os.path.join(install, "bin", "xserver")
    if not os.path.isfile(path):
        raise StartError(f"xserver not found at {path} (is {install} an XSched install folder?)")
    if not os.access(path, os.X_OK):
        raise StartError(f"{path} is not executable")
    return [path, launch.policy.upper(), str(launch.port)]


class ManagedXServer:
    """One xserver for one trial. ``start()`` returns None or why it could not be used."""

    def __init__(self, launch: XServerLaunch, *, install: str | None, env: Mapping[str, str],
                 log_path: str, host: str = "127.0.0.1",
                 on_line: Callable[[str], None] | None = None) -> None:
        self.launch = launch
        self.install = install
        self.env = dict(env)
        self.log_path = log_path
        self.on_line = on_line
        self.client = XServerClient(host, launch.port, timeout=0.5, deadline=1.0)
        self.monitor = XQueueMonitor(self.client)
        self.child: Child | None = None
        self.status: ExitStatus | None = None
        self.argv: list[str] = []
        self.views: list[XQView] = []  # good answers while the trial ran (bounded)
        self.max_queues: dict[int, int] = {}  # pid -> most XQueues seen at once
        self.max_suspended: dict[int, int] = {}
        self.polls = 0
        self._log: IO[str] | None = None

    @property
    def pid(self) -> int | None:
        return self.child.pid if self.child else None

    def start(self) -> str | None:
        try:
            self.client.xqueues()
        except XServerError:
            pass
        else:
            return (f"something already answers on port {self.launch.port} (an xserver left from "
                    "another run?): stop it or choose another port; its queues and policy would "
                    "mix with this experiment's")
        try:
            self.argv = xserver_argv(self.launch, self.install)
        except StartError as exc:
            return str(exc)
        self._log = open(self.log_path, "w", encoding="utf-8", buffering=1)  # noqa: SIM115
        try:
            self.child = Child(self.argv, env=self.env, on_stderr=self._write,
                               on_stdout=self._write)
        except StartError as exc:
            self._close()
            return f"xserver could not start: {exc}"
        end = time.monotonic() + self.launch.start_timeout_s
        while time.monotonic() < end:
            if not self.child.running:
                st = self.child.wait(timeout=1.0)
                tail = " | ".join(list(self.child.stderr_lines)[-3:])
                return f"xserver exited at start ({st.describe()})" + (f": {tail}" if tail else "")
            try:
                self.client.xqueues()
                return None
            except XServerError:
                time.sleep(0.1)
        return (f"xserver did not answer on port {self.launch.port} within "
                f"{self.launch.start_timeout_s:g} s")

    def _write(self, line: str) -> None:
        if self.on_line is not None:
            self.on_line(line)
        log = self._log
        if log is not None and not log.closed:
            try:
                log.write(line + "\n")
            except (OSError, ValueError):
                pass

    def poll(self) -> XQView:
        """One poll (blocking, bounded by the client's deadline); keeps the evidence."""
        view = self.monitor.poll()
        self.polls += 1
        if view.reachable:
            if len(self.views) >= 600:
                del self.views[: len(self.views) // 2]
            self.views.append(view)
            for pq in view.processes:
                self.max_queues[pq.pid] = max(self.max_queues.get(pq.pid, 0), pq.queues)
                self.max_suspended[pq.pid] = max(self.max_suspended.get(pq.pid, 0),
                                                 pq.suspended_now)
        return view

    def best_view_for(self, pid: int) -> XQView | None:
        """The answer that showed this pid with the most XQueues (else the last good one)."""
        best, n_best = None, -1
        for v in self.views:
            n = sum(1 for q in v.queues if q.info.pid == pid and not q.gone)
            if n > n_best:
                best, n_best = v, n
        return best

    def log_lines(self) -> list[str]:
        return list(self.child.stderr_lines) if self.child else []

    def stop(self, grace: float = 3.0) -> ExitStatus | None:
        if self.child is None:
            return None
        if self.child.running:
            self.child.signal_group(signal.SIGINT)  # xserver stops on SIGINT/SIGQUIT
            self.status = self.child.wait(timeout=grace)  # past it: SIGTERM, then SIGKILL
        else:
            self.status = self.child.wait(timeout=1.0)
        self._close()
        return self.status

    def _close(self) -> None:
        if self._log is not None:
            try:
                self._log.close()
            except OSError:
                pass
            self._log = None
