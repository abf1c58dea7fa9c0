"""Small, dependency-free statistics for experiments: median, nearest-rank percentiles, a seeded
percentile bootstrap and paired ratios.

Why not numpy/scipy: the app must run in any interpreter (numpy is not a dependency), and the
samples are small (tens of pairs), so pure Python is fast enough. A fixed seed makes every
reported CI reproducible from result.json alone.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

DEFAULT_BOOT = 4000
DEFAULT_SEED = 1
DEFAULT_LEVEL = 0.95


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else math.nan


def percentile(xs: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): always one of the observed values."""
    s = sorted(xs)
    if not s:
        return math.nan
    k = max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))
    return s[k]


def bootstrap_ci(
    xs: Sequence[float],
    stat: Callable[[Sequence[float]], float] = median,
    *,
    n_boot: int = DEFAULT_BOOT,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of ``stat`` over ``xs`` (resampled with
    replacement ``n_boot`` times from a ``random.Random(seed)``): the same input and seed give
    the same interval. One value gives a zero-width interval; none gives (nan, nan)."""
    xs = list(xs)
    if not xs:
        return math.nan, math.nan
    if len(xs) == 1:
        return xs[0], xs[0]
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    n_boot = max(100, int(n_boot))
    rng = random.Random(seed)
    n = len(xs)
    boots = sorted(stat(rng.choices(xs, k=n)) for _ in range(n_boot))
    alpha = (1 - level) / 2
    lo_i = max(0, min(n_boot - 1, math.floor(alpha * n_boot)))
    hi_i = max(0, min(n_boot - 1, math.ceil((1 - alpha) * n_boot) - 1))
    return boots[lo_i], boots[hi_i]


def paired_ratios(num: Sequence[float], den: Sequence[float]) -> list[float]:
    """``num[i] / den[i]`` for every pair; pairs with a zero/NaN denominator are skipped (a
    ratio that is not a number would poison the median and the bootstrap)."""
    if len(num) != len(den):
        raise ValueError(f"paired samples differ in length: {len(num)} vs {len(den)}")
    out = []
    for a, b in zip(num, den, strict=True):
        if b and math.isfinite(a) and math.isfinite(b):
            out.append(a / b)
    return out


@dataclass(frozen=True)
class Summary:
    """n, median, p95, min/max and the bootstrap CI of the median of one sample."""

    n: int
    median: float
    p95: float
    ci_lo: float
    ci_hi: float
    min: float
    max: float

    def to_json(self) -> dict[str, float | int | None]:
        return {k: _num(getattr(self, k)) for k in ("n", "median", "p95", "ci_lo", "ci_hi", "min", "max")}


def summarize(xs: Sequence[float], *, n_boot: int = DEFAULT_BOOT, seed: int = DEFAULT_SEED,
              level: float = DEFAULT_LEVEL) -> Summary:
    xs = [x for x in xs if math.isfinite(x)]
    if not xs:
        return Summary(0, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan)
    lo, hi = bootstrap_ci(xs, median, n_boot=n_boot, seed=seed, level=level)
    return Summary(len(xs), median(xs), percentile(xs, 95), lo, hi, min(xs), max(xs))


def _num(v: float | int) -> float | int | None:
    """JSON has no NaN: an undefined statistic is null."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v
