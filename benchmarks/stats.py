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


def ols_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ys on xs."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else math.nan


@dataclass(frozen=True)
class Slope:
    slope: float
    lo: float  # 95% CI (moving-block bootstrap)
    hi: float
    n: int
    block: int


def slope_ci(xs: Sequence[float], ys: Sequence[float], boot: int = 1000, block: int | None = None,
             seed: int = 1) -> Slope:
    """OLS slope with a moving-block bootstrap 95% CI. Samples of a time series (RSS once a second)
    are autocorrelated: resampling single points would make the CI far too narrow, so runs of
    ``block`` consecutive points (default ~n^(1/2), at least 5) are resampled together."""
    n = len(xs)
    if n < 3:
        return Slope(math.nan, math.nan, math.nan, n, 0)
    b = block or max(5, min(n // 3, round(math.sqrt(n))))
    rng = random.Random(seed)
    starts = range(n - b + 1)
    slopes = []
    for _ in range(boot):
        idx: list[int] = []
        while len(idx) < n:
            s = rng.choice(starts)
            idx.extend(range(s, s + b))
        idx = idx[:n]
        v = ols_slope([xs[i] for i in idx], [ys[i] for i in idx])
        if not math.isnan(v):
            slopes.append(v)
    slopes.sort()
    k = len(slopes)
    return Slope(ols_slope(xs, ys), slopes[int(0.025 * k)], slopes[max(0, int(0.975 * k) - 1)], n, b)
