"""The runtime-overhead experiment's statistics (paper §7.4, FACTS §6.2): native vs XSched pairs.

Per pair i (native_i, xsched_i, run back to back) the overhead is

* ``native / xsched - 1`` for throughput metrics (tflops, req_per_s: higher is better),
* ``xsched / native - 1`` for time metrics (iter_ms, latency_ms: lower is better),

so a positive number always means "XSched is slower". The reported overhead is the median of the
per-pair overheads with a seeded percentile-bootstrap 95% CI; pairing cancels slow drift (thermal,
clocks, other tenants) that unpaired means would fold into the result (FIELD-NOTES §2: a 29x swing
between identical single runs).

Verdict against the threshold (the user's 10% by default; the paper's Level-1 bound of 3.4% is
shown beside it, never used as the pass line): PASS when the CI's upper end is below it, FAIL when
its lower end is above it, INCONCLUSIVE when the CI straddles it or too few pairs are valid, and
INVALID when no valid pair exists. In A/A mode (native vs native) the same numbers measure the
noise floor: PASS needs the CI to contain 0 as well, and a CI that excludes 0 is FAIL (two
identical configurations differ systematically: the measurement is biased, e.g. by order).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from xsched_tui.core import stats

if TYPE_CHECKING:
    from xsched_tui.core.experiment import ExperimentSpec, RunRecord

HIGHER_IS_BETTER = {"tflops": True, "req_per_s": True, "iter_ms": False, "latency_ms": False}
DEFAULT_THRESHOLD_PCT = 10.0
PAPER_LV1_PCT = 3.4  # "less than 3.4% on all XPUs for Lv1" (FACTS §6.2)
PAPER_CPU_PCT = 3.6  # MI50's single-core CPU increase, the highest GPU number at Lv1 (FACTS §6.2)
MIN_PAIRS = 3  # below this a bootstrap CI is not worth a verdict

VERDICTS = ("PASS", "FAIL", "INCONCLUSIVE", "INVALID")


@dataclass(frozen=True)
class PairSample:
    """One valid pair. ``*_cpu_unit``: CPU seconds per measured iteration/request (the unit of
    work); ``*_util``: single-core CPU utilisation in % (cpu_time / wall, the paper's Fig. 12b)."""

    index: int
    native: float
    xsched: float
    native_cpu_unit: float | None = None
    xsched_cpu_unit: float | None = None
    native_util: float | None = None
    xsched_util: float | None = None


@dataclass(frozen=True)
class OverheadResult:
    metric: str
    higher_is_better: bool
    aa: bool
    threshold_pct: float
    paper_pct: float
    pairs_total: int
    pairs_valid: int
    dropped: tuple[str, ...]  # one sentence per dropped pair: which side was invalid and why
    overheads_pct: tuple[float, ...]  # per valid pair, in pair order
    median_pct: float
    ci_lo_pct: float
    ci_hi_pct: float
    native: stats.Summary
    xsched: stats.Summary
    cpu_overhead_pct: float | None  # median extra CPU time per unit of work, %
    cpu_ci_lo_pct: float | None
    cpu_ci_hi_pct: float | None
    cpu_util_delta_points: float | None  # median increase of single-core CPU utilisation
    verdict: str  # one of VERDICTS
    verdict_reason: str
    n_boot: int
    seed: int
    level: float
    labels: tuple[str, str] = ("native", "xsched")  # the two modes' names
    pairs: tuple[PairSample, ...] = field(default=(), repr=False)

    @property
    def contains_zero(self) -> bool:
        return self.ci_lo_pct <= 0.0 <= self.ci_hi_pct

    @property
    def half_width_pct(self) -> float:
        return (self.ci_hi_pct - self.ci_lo_pct) / 2

    def to_json(self) -> dict[str, Any]:
        n = stats._num
        return {
            "kind": "overhead",
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "aa": self.aa,
            "labels": list(self.labels),
            "threshold_pct": self.threshold_pct,
            "paper_pct": self.paper_pct,
            "pairs_total": self.pairs_total,
            "pairs_valid": self.pairs_valid,
            "dropped": list(self.dropped),
            "overheads_pct": [n(x) for x in self.overheads_pct],
            "median_pct": n(self.median_pct),
            "ci_lo_pct": n(self.ci_lo_pct),
            "ci_hi_pct": n(self.ci_hi_pct),
            "ci_contains_zero": self.contains_zero if self.pairs_valid else None,
            "native": self.native.to_json(),
            "xsched": self.xsched.to_json(),
            "cpu_overhead_pct": _opt(self.cpu_overhead_pct),
            "cpu_ci_lo_pct": _opt(self.cpu_ci_lo_pct),
            "cpu_ci_hi_pct": _opt(self.cpu_ci_hi_pct),
            "cpu_util_delta_points": _opt(self.cpu_util_delta_points),
            "verdict": self.verdict,
            "verdict_reason": self.verdict_reason,
            "bootstrap": {"n_boot": self.n_boot, "seed": self.seed, "level": self.level},
            "pairs": [
                {"index": p.index, "native": p.native, "xsched": p.xsched,
                 "native_cpu_unit": p.native_cpu_unit, "xsched_cpu_unit": p.xsched_cpu_unit,
                 "native_util": p.native_util, "xsched_util": p.xsched_util}
                for p in self.pairs
            ],
        }


def _opt(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else v


def pair_overhead(native: float, xsched: float, higher_is_better: bool) -> float:
    """One pair's overhead as a fraction (0.05 = XSched 5% worse)."""
    return native / xsched - 1 if higher_is_better else xsched / native - 1


def compute_overhead(
    pairs: Sequence[PairSample],
    metric: str,
    *,
    threshold_pct: float = DEFAULT_THRESHOLD_PCT,
    aa: bool = False,
    dropped: Sequence[str] = (),
    pairs_total: int | None = None,
    n_boot: int = stats.DEFAULT_BOOT,
    seed: int = stats.DEFAULT_SEED,
    level: float = stats.DEFAULT_LEVEL,
    min_pairs: int = MIN_PAIRS,
    labels: tuple[str, str] = ("native", "xsched"),
) -> OverheadResult:
    if metric not in HIGHER_IS_BETTER:
        raise ValueError(f"unknown metric {metric!r} (one of {', '.join(HIGHER_IS_BETTER)})")
    hib = HIGHER_IS_BETTER[metric]
    good = [p for p in pairs if p.native > 0 and p.xsched > 0
            and math.isfinite(p.native) and math.isfinite(p.xsched)]
    drop = list(dropped) + [f"pair {p.index}: a non-positive or non-finite value"
                            for p in pairs if p not in good]
    ovh = [100 * pair_overhead(p.native, p.xsched, hib) for p in good]
    med = stats.median(ovh)
    lo, hi = stats.bootstrap_ci(ovh, n_boot=n_boot, seed=seed, level=level)

    cpu = [100 * (p.xsched_cpu_unit / p.native_cpu_unit - 1) for p in good
           if p.native_cpu_unit and p.xsched_cpu_unit is not None]
    cpu_med = stats.median(cpu) if cpu else None
    cpu_lo, cpu_hi = stats.bootstrap_ci(cpu, n_boot=n_boot, seed=seed, level=level) if cpu else (None, None)
    util = [p.xsched_util - p.native_util for p in good
            if p.native_util is not None and p.xsched_util is not None]
    util_med = stats.median(util) if util else None

    verdict, why = _verdict(len(good), med, lo, hi, threshold_pct, aa, min_pairs, level)
    return OverheadResult(
        metric=metric, higher_is_better=hib, aa=aa, threshold_pct=threshold_pct,
        paper_pct=PAPER_LV1_PCT,
        pairs_total=pairs_total if pairs_total is not None else len(pairs) + len(dropped),
        pairs_valid=len(good), dropped=tuple(drop), overheads_pct=tuple(ovh),
        median_pct=med, ci_lo_pct=lo, ci_hi_pct=hi,
        native=stats.summarize([p.native for p in good], n_boot=n_boot, seed=seed, level=level),
        xsched=stats.summarize([p.xsched for p in good], n_boot=n_boot, seed=seed, level=level),
        cpu_overhead_pct=cpu_med, cpu_ci_lo_pct=cpu_lo, cpu_ci_hi_pct=cpu_hi,
        cpu_util_delta_points=util_med, verdict=verdict, verdict_reason=why,
        n_boot=n_boot, seed=seed, level=level, labels=labels, pairs=tuple(good),
    )


def _verdict(n: int, med: float, lo: float, hi: float, thr: float, aa: bool, min_pairs: int,
             level: float) -> tuple[str, str]:
    pct = f"{level * 100:g}%"
    if n == 0:
        return "INVALID", "no valid pair: every pair has an invalid run (see the runs table)"
    ci = f"median {med:+.2f}%, {pct} CI [{lo:+.2f}%, {hi:+.2f}%]"
    if n < min_pairs:
        return "INCONCLUSIVE", f"only {n} valid pair(s) (need >= {min_pairs} for a CI): {ci}"
    if aa:
        if not lo <= 0.0 <= hi:
            return "FAIL", (f"A/A: the CI excludes 0 ({ci}): two identical native configurations "
                            "differ systematically, so the measurement itself is biased")
        if hi < thr and lo > -thr:
            return "PASS", f"A/A noise floor: {ci} contains 0 and lies within ±{thr:g}%"
        return "INCONCLUSIVE", f"A/A: {ci} contains 0 but is wider than ±{thr:g}%: too noisy"
    if hi < thr:
        return "PASS", f"{ci}: the upper bound is below the {thr:g}% threshold"
    if lo > thr:
        return "FAIL", f"{ci}: the lower bound is above the {thr:g}% threshold"
    return "INCONCLUSIVE", f"{ci} straddles the {thr:g}% threshold: more pairs are needed"


# -- from runs ---------------------------------------------------------------------------------

def run_value(run: RunRecord, statistic: str = "median") -> float | None:
    """The run's figure of merit: ``summary[statistic]`` of its result."""
    res = run.result or {}
    v = (res.get("summary") or {}).get(statistic)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _cpu(run: RunRecord) -> tuple[float | None, float | None]:
    res = run.result or {}
    cpu, wall = res.get("cpu_time_s"), res.get("wall_s")
    units = (res.get("summary") or {}).get("n") or len(res.get("values") or ())
    per_unit = cpu / units if isinstance(cpu, (int, float)) and units else None
    util = 100 * cpu / wall if isinstance(cpu, (int, float)) and isinstance(wall, (int, float)) \
        and wall > 0 else None
    return per_unit, util


def overhead_from_runs(
    runs: Sequence[RunRecord],
    spec: ExperimentSpec,
    *,
    threshold_pct: float = DEFAULT_THRESHOLD_PCT,
    aa: bool = False,
    statistic: str = "median",
    n_boot: int = stats.DEFAULT_BOOT,
    seed: int = stats.DEFAULT_SEED,
) -> OverheadResult | None:
    """Pair the runs of the spec's first two modes by repeat (first role only) and compute the
    overhead. None while no pair is complete (nothing to say yet)."""
    if len(spec.modes) < 2 or not spec.roles:
        return None
    base, treat = spec.modes[0].name, spec.modes[1].name
    role = spec.roles[0].name
    by: dict[tuple[int, str], RunRecord] = {
        (r.repeat, r.mode): r for r in runs if r.role == role
    }
    repeats = sorted({k[0] for k in by})
    pairs: list[PairSample] = []
    dropped: list[str] = []
    metric: str | None = None
    total = 0
    for i in repeats:
        a, b = by.get((i, base)), by.get((i, treat))
        if a is None or b is None:
            continue  # the pair is not complete (cancelled between its two runs)
        total += 1
        bad = [f"{r.mode} run {r.index} invalid: {r.invalid_reason}" for r in (a, b) if not r.valid]
        va, vb = run_value(a, statistic), run_value(b, statistic)
        if not bad and (va is None or vb is None):
            bad = ["no value in the result"]
        if bad:
            dropped.append(f"pair {i}: " + "; ".join(bad))
            continue
        m = (a.result or {}).get("metric")
        if metric is None:
            metric = m
        if m != metric or (b.result or {}).get("metric") != metric:
            dropped.append(f"pair {i}: metric differs ({m} vs {metric})")
            continue
        ca, ua = _cpu(a)
        cb, ub = _cpu(b)
        pairs.append(PairSample(i, float(va), float(vb), ca, cb, ua, ub))  # type: ignore[arg-type]
    if total == 0:
        return None
    if metric not in HIGHER_IS_BETTER:
        metric = next((str((r.result or {}).get("metric")) for r in runs
                       if (r.result or {}).get("metric") in HIGHER_IS_BETTER), "iter_ms")
    return compute_overhead(pairs, metric, threshold_pct=threshold_pct, aa=aa, dropped=dropped,
                            pairs_total=total, n_boot=n_boot, seed=seed, labels=(base, treat))
