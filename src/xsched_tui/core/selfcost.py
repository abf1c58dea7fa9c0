"""The monitor's own cost, to show on screen (PERFORMANCE.md "Observer effect": a monitor that
eats a core perturbs the overhead it measures, so it must say what it costs).

``SelfMeter.sample()`` reads this process's CPU time (all threads) and resident memory; CPU % is
over the time since the previous sample, so the app samples it once per refresh. No Textual.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
MIN_INTERVAL_S = 0.1  # PERFORMANCE.md: refresh floor
MAX_INTERVAL_S = 10.0
INTERVAL_STEPS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 10.0)


@dataclass(frozen=True)
class SelfCost:
    cpu_percent: float | None  # of one core, since the previous sample
    rss_bytes: int | None
    threads: int | None
    refresh_ms: float | None  # the last process refresh (collector), when known
    poll_ms: float | None  # the last xserver poll, when known

    def text(self, interval_s: float, skipped_lines: int = 0, gc_text: str | None = None) -> str:
        bits = [f"self {self.cpu_percent:.1f}% CPU" if self.cpu_percent is not None else "self ? CPU"]
        if self.rss_bytes is not None:
            bits.append(f"{self.rss_bytes / 2**20:.0f} MiB")
        if self.refresh_ms is not None:
            bits.append(f"refresh ≤{self.refresh_ms:.0f} ms")
        if self.poll_ms is not None:
            bits.append(f"xserver {self.poll_ms:.0f} ms")
        if skipped_lines:
            bits.append(f"{skipped_lines} log lines skipped")
        if gc_text:
            bits.append(gc_text)
        bits.append(f"every {interval_s:g} s (< >)")
        return " · ".join(bits)


def _rss_and_threads() -> tuple[int | None, int | None]:
    try:
        with open("/proc/self/statm", "rb") as f:
            rss = int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        rss = None
    try:
        with open("/proc/self/stat", "rb") as f:
            threads = int(f.read().rsplit(b")", 1)[1].split()[17])
    except (OSError, ValueError, IndexError):
        threads = None
    return rss, threads


class SelfMeter:
    def __init__(self) -> None:
        self._t = time.monotonic()
        self._cpu = time.process_time()

    def sample(self, refresh_ms: float | None = None, poll_ms: float | None = None) -> SelfCost:
        now, cpu = time.monotonic(), time.process_time()
        dt = now - self._t
        pct = 100.0 * (cpu - self._cpu) / dt if dt > 0 else None
        self._t, self._cpu = now, cpu
        rss, threads = _rss_and_threads()
        return SelfCost(pct, rss, threads, refresh_ms, poll_ms)


def next_interval(current: float, step: int) -> float:
    """The next refresh interval up (step 1) or down (-1) the ladder, within the floor and cap."""
    if step > 0:
        return next((s for s in INTERVAL_STEPS if s > current + 1e-9), INTERVAL_STEPS[-1])
    return next((s for s in reversed(INTERVAL_STEPS) if s < current - 1e-9), INTERVAL_STEPS[0])


def check_interval(value: float) -> float:
    if not MIN_INTERVAL_S <= value <= MAX_INTERVAL_S:
        raise ValueError(f"the refresh interval must be {MIN_INTERVAL_S:g}-{MAX_INTERVAL_S:g} s, "
                         f"got {value:g}")
    return value
