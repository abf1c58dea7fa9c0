"""Summaries with spread: every number we print carries n, median, p95 and a bootstrap CI."""

from __future__ import annotations

import math
import platform
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    n: int
    median: float
    p95: float
    lo: float  # bootstrap 95% CI of the median
    hi: float
    min: float
    max: float

    def fmt(self, unit: str, scale: float = 1.0, digits: int = 3) -> str:
        f = lambda v: f"{v * scale:.{digits}g}"  # noqa: E731
        return (f"median {f(self.median)} {unit} (95% CI {f(self.lo)}-{f(self.hi)}), "
                f"p95 {f(self.p95)}, range {f(self.min)}-{f(self.max)}, n={self.n}")


def percentile(xs: Sequence[float], q: float) -> float:
    s = sorted(xs)
    if not s:
        return math.nan
    k = max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))  # nearest rank
    return s[k]


def summarize(xs: Sequence[float], boot: int = 2000, seed: int = 1) -> Summary:
    xs = list(xs)
    rng = random.Random(seed)
    meds = sorted(statistics.median(rng.choices(xs, k=len(xs))) for _ in range(boot))
    return Summary(len(xs), statistics.median(xs), percentile(xs, 95),
                   meds[int(0.025 * boot)], meds[int(0.975 * boot) - 1], min(xs), max(xs))


def machine() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    except OSError:
        model = ""
    import os

    return f"{model or platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, " \
           f"Python {platform.python_version()}"
