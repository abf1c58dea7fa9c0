"""Per-iteration timers: CUDA/HIP events on a GPU, the CPU clock on cpu.

On a GPU the throughput kinds are pipelined: each iteration is bracketed by a start and an end
event recorded on the workload's stream, at most DEPTH iterations run ahead of the host, and
finished pairs are read back later. Syncing after every iteration would drain the queue between
iterations and change what is measured (XSched's progressive launching only matters with commands
in flight).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

DEPTH = 8  # iterations in flight before the host waits for the oldest


class CpuTimer:
    """Synchronous work: perf_counter_ns around each call."""

    name = "cpu_clock"

    def submit(self, fn: Callable[[], None]) -> list[float]:
        t0 = time.perf_counter_ns()
        fn()
        return [(time.perf_counter_ns() - t0) / 1e6]

    def ready(self) -> list[float]:
        return []

    def drain(self) -> list[float]:
        return []

    def request(self, fn: Callable[[], None]) -> tuple[float, float]:
        """One request start to finish: (host ms, device ms); the same number on cpu."""
        ms = self.submit(fn)[0]
        return ms, ms


class EventTimer:
    """Start/end events per iteration on the current stream; ms per iteration in submit order."""

    name = "cuda_events"

    def __init__(self, torch: Any, *, blocking: bool, depth: int = DEPTH) -> None:
        self._torch = torch
        self._blocking = blocking
        self._depth = depth
        self._pending: deque[tuple[Any, Any]] = deque()
        self._free: list[tuple[Any, Any]] = []

    def _pair(self) -> tuple[Any, Any]:
        if self._free:
            return self._free.pop()
        ev = self._torch.cuda.Event
        # Only the end event is waited on; a blocking-sync event lets the host sleep instead of
        # spinning, so the process CPU time measures launch work, not busy-waiting.
        return ev(enable_timing=True), ev(enable_timing=True, blocking=self._blocking)

    def _take(self) -> float:
        start, end = self._pending.popleft()
        end.synchronize()
        ms = float(start.elapsed_time(end))
        self._free.append((start, end))
        return ms

    def submit(self, fn: Callable[[], None]) -> list[float]:
        start, end = self._pair()
        start.record()
        fn()
        end.record()
        self._pending.append((start, end))
        out: list[float] = []
        while len(self._pending) > self._depth:
            out.append(self._take())
        return out

    def ready(self) -> list[float]:
        """Iterations already finished on the device (no waiting)."""
        out: list[float] = []
        while self._pending and self._pending[0][1].query():
            out.append(self._take())
        return out

    def drain(self) -> list[float]:
        out: list[float] = []
        while self._pending:
            out.append(self._take())
        return out

    def request(self, fn: Callable[[], None]) -> tuple[float, float]:
        """One request: (host ms submit -> done, device ms between its events).

        The host time is the latency a client sees. The events alone would miss queueing in
        front of the request: under XSched the start event itself waits in the XQueue, and
        behind another process's kernels it is recorded only when this context runs again.
        """
        start, end = self._pair()
        t0 = time.perf_counter_ns()
        start.record()
        fn()
        end.record()
        end.synchronize()
        host = (time.perf_counter_ns() - t0) / 1e6
        dev = float(start.elapsed_time(end))
        self._free.append((start, end))
        return host, dev
