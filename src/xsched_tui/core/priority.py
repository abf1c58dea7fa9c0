"""Analysis of priority experiments (the user's Tests 3 and 4; paper Fig. 9, FACTS §6.3): a
latency-sensitive foreground against a flat-out background, a bandwidth partition, or N tenants
with SLOs, each under standalone / native co-located / XSched co-located configurations.

Everything is computed from the runs' own result lines (no Textual, no torch):

* which runs count: a standalone run when it is valid; a co-located run only when its whole
  trial counts, i.e. every role of the trial ran validly and the roles overlapped (below). Runs
  left out are listed with the reason. A run whose only fault is a crash *after* its complete
  result line (the H100 foreground's SIGSEGV at exit, FACTS §11) counts, labelled "crashed at
  exit", so that the XSched numbers are shown, not hidden;
* per role and configuration: pooled request latencies (p50/p90/p99/max, the p99 with a
  bootstrap CI and the range of per-run p99s), throughput per run (median, range, CI); each
  normalised to the role's standalone configuration with a seeded bootstrap CI (latency:
  requests resampled within each configuration; throughput: runs);
* the foreground's latency CDF per configuration;
* proof of overlap: in every co-located trial, the share of the foreground's measurement window
  (``measure_t0``..``measure_t1`` from its result) during which each other role was measuring
  too. A role without a measurement window (no result: it died, it never started) covers 0;
* SLO attainment (p99 limit, minimum share of standalone throughput, deadline misses), each
  p99 and share judged by its CI: a CI across the limit is undecided, not met or missed;
* bandwidth shares with bootstrap CIs, judged the same way against target ± SPLIT_TOLERANCE;
* crashes with their signal, reported as they are, even after a result line was written;
* a verdict that compares XSched with native (not only with the paper), so a worse-than-native
  result reads as one; INVALID when XSched (per role) or native has no counted trial.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from xsched_tui.core.experiment import ExperimentSpec, Role, RunRecord
from xsched_tui.core.stats import median, percentile

# The priority analysis' own shape version (result.json "analysis.version"). 1 (no key): before
# counted trials, spreads and CIs of absolute numbers; readers must accept both.
ANALYSIS_VERSION = 2
PAPER_XSCHED_P99 = (1.02, 1.30)  # foreground p99 / standalone with XSched (FACTS §6.3)
PAPER_NATIVE_P99 = (1.60, 2.19)  # ... natively co-located
OVERLAP_MIN = 0.95  # a co-located trial must overlap this share of the foreground's window
SPLIT_TOLERANCE = 0.10  # bandwidth partition: achieved share within this of the target
N_BOOT = 1000
SEED = 1
CDF_POINTS = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0)

VERDICTS = ("XSCHED HELPS", "NO EFFECT", "WORSE THAN NATIVE", "SLOS MET", "SLOS MISSED",
            "SPLIT REACHED", "SPLIT NOT REACHED", "INCONCLUSIVE", "INVALID")


def _num(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def result_latencies(res: Mapping[str, Any] | None) -> list[float]:
    res = res or {}
    if res.get("metric") != "latency_ms":
        return []
    return [float(v) for v in res.get("values") or () if _is_num(v)]


def latencies(run: RunRecord) -> list[float]:
    """The run's per-request latencies (ms) when it was a periodic (latency) role."""
    return result_latencies(run.result)


def result_throughput(res: Mapping[str, Any] | None) -> tuple[float | None, str | None, str]:
    """(value, unit, basis) of a result's throughput. The whole-run rate (``req_per_s``,
    ``tflops``: work done / measured time) first; else the median of per-iteration rates."""
    res = res or {}
    for key, unit in (("req_per_s", "req/s"), ("tflops", "TFLOP/s")):
        v = res.get(key)
        if _is_num(v) and v > 0:
            return float(v), unit, "whole-run rate"
    if res.get("metric") in ("req_per_s", "tflops"):
        v = (res.get("summary") or {}).get("median")
        if _is_num(v) and v > 0:
            return float(v), res.get("unit"), "median per iteration"
    ms = res.get("iter_ms_median")
    if _is_num(ms) and ms > 0:
        return 1000.0 / ms, "iter/s", "1000 / median iteration ms"
    return None, None, ""


def throughput(run: RunRecord) -> tuple[float | None, str | None]:
    """(value, unit) of a run's throughput: req/s, TFLOP/s, or iterations/s."""
    v, u, _ = result_throughput(run.result)
    return v, u


def window(run: RunRecord) -> tuple[float, float] | None:
    """The run's measurement window (epoch s) from its result line, or None (no result, or a
    result without one): then nothing proves when, or whether, it measured."""
    res = run.result or {}
    t0, t1 = res.get("measure_t0"), res.get("measure_t1")
    if _is_num(t0) and _is_num(t1) and t1 >= t0:
        return float(t0), float(t1)
    return None


def usable(run: RunRecord) -> bool:
    """Valid, or invalid only because it crashed after its complete result (labelled)."""
    return run.valid or bool(getattr(run, "crash_at_exit", False))


def _quantile_ci(boots: list[float]) -> tuple[float, float]:
    boots.sort()
    if not boots:
        return math.nan, math.nan
    lo = boots[max(0, math.floor(0.025 * len(boots)))]
    hi = boots[min(len(boots) - 1, math.ceil(0.975 * len(boots)) - 1)]
    return lo, hi


def _ratio_ci(num: Sequence[float], den: Sequence[float], stat, *, seed: int = SEED,
              n_boot: int = N_BOOT) -> tuple[float, float, float]:
    """stat(num) / stat(den) and its percentile-bootstrap CI (both samples resampled)."""
    if not num or not den:
        return math.nan, math.nan, math.nan
    d = stat(den)
    if not d:
        return math.nan, math.nan, math.nan
    value = stat(num) / d
    if len(num) == 1 and len(den) == 1:
        return value, value, value
    rng = random.Random(seed)
    boots = []
    for _ in range(n_boot):
        b = stat(rng.choices(den, k=len(den)))
        if b:
            boots.append(stat(rng.choices(num, k=len(num))) / b)
    if not boots:
        return value, math.nan, math.nan
    lo, hi = _quantile_ci(boots)
    return value, lo, hi


def _stat_ci(xs: Sequence[float], stat: Callable[[Sequence[float]], float], *,
             seed: int = SEED, n_boot: int = N_BOOT) -> tuple[float, float]:
    """Percentile-bootstrap 95% CI of stat(xs) (xs resampled); a single value gives (x, x)."""
    if not xs:
        return math.nan, math.nan
    if len(xs) == 1:
        return float(xs[0]), float(xs[0])
    rng = random.Random(seed)
    return _quantile_ci([stat(rng.choices(xs, k=len(xs))) for _ in range(n_boot)])


def _p99(xs: Sequence[float]) -> float:
    return percentile(xs, 99)


@dataclass(frozen=True)
class Ratio:
    value: float
    ci_lo: float
    ci_hi: float
    basis: str  # what was resampled

    def to_json(self) -> dict[str, Any]:
        return {"value": _num(self.value), "ci_lo": _num(self.ci_lo), "ci_hi": _num(self.ci_hi),
                "basis": self.basis}


@dataclass(frozen=True)
class SloCheck:
    what: str  # "p99_ms" | "min_throughput_frac" | "deadline_ms"
    limit: float
    measured: float | None
    met: bool | None  # None: not measured, or its CI straddles the limit (undecided)
    text: str
    ci: tuple[float, float] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"what": self.what, "limit": self.limit, "measured": _num(self.measured),
                "met": self.met, "text": self.text,
                "ci": [_num(self.ci[0]), _num(self.ci[1])] if self.ci else None}


@dataclass(frozen=True)
class RoleStats:
    role: str
    mode: str
    runs: int
    valid: int
    requests: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    p99_per_run: tuple[float, ...]
    p99_ratio: Ratio | None  # vs this role's standalone configuration
    throughput: tuple[float, ...]  # per counted run
    throughput_unit: str | None
    throughput_ratio: Ratio | None
    deadline_misses: int | None
    slo: tuple[SloCheck, ...]
    invalid_reasons: tuple[str, ...]
    counted: int = 0  # runs whose numbers are in this row (see the module doc)
    crashed_at_exit: int = 0  # of those, runs that crashed after writing their result
    p99_ci: tuple[float, float] | None = None  # pooled p99, requests resampled
    throughput_ci: tuple[float, float] | None = None  # median of the runs, runs resampled
    throughput_basis: str = ""

    def to_json(self) -> dict[str, Any]:
        thr = self.throughput
        return {
            "role": self.role, "mode": self.mode, "runs": self.runs, "valid": self.valid,
            "counted": self.counted, "crashed_at_exit": self.crashed_at_exit,
            "requests": self.requests, "p50_ms": _num(self.p50_ms), "p90_ms": _num(self.p90_ms),
            "p99_ms": _num(self.p99_ms), "max_ms": _num(self.max_ms),
            "p99_ci": [_num(v) for v in self.p99_ci] if self.p99_ci else None,
            "p99_per_run": [_num(v) for v in self.p99_per_run],
            "p99_ratio": self.p99_ratio.to_json() if self.p99_ratio else None,
            "throughput": [_num(v) for v in thr],
            "throughput_median": _num(median(thr)) if thr else None,
            "throughput_min": _num(min(thr)) if thr else None,
            "throughput_max": _num(max(thr)) if thr else None,
            "throughput_ci": [_num(v) for v in self.throughput_ci] if self.throughput_ci else None,
            "throughput_unit": self.throughput_unit,
            "throughput_basis": self.throughput_basis or None,
            "throughput_ratio": self.throughput_ratio.to_json() if self.throughput_ratio else None,
            "deadline_misses": self.deadline_misses,
            "slo": [c.to_json() for c in self.slo],
            "slo_met": _all_met(self.slo),
            "invalid_reasons": list(self.invalid_reasons),
        }


def _all_met(checks: Sequence[SloCheck]) -> bool | None:
    if not checks:
        return None
    if any(c.met is False for c in checks):
        return False
    return True if all(c.met for c in checks) else None


@dataclass(frozen=True)
class Overlap:
    trial: int
    mode: str
    basis: str
    coverage: Mapping[str, float]  # role -> share of the foreground's window it overlapped
    ok: bool

    def to_json(self) -> dict[str, Any]:
        return {"trial": self.trial, "mode": self.mode, "basis": self.basis,
                "coverage": {k: _num(v) for k, v in self.coverage.items()}, "ok": self.ok}


@dataclass(frozen=True)
class TrialCount:
    """Whether a co-located trial's numbers count, and why not."""

    trial: int
    mode: str
    counted: bool
    why: str | None

    def to_json(self) -> dict[str, Any]:
        return {"trial": self.trial, "mode": self.mode, "counted": self.counted, "why": self.why}


@dataclass(frozen=True)
class PriorityResult:
    variant: str  # dual | partition | tenants
    foreground: str | None
    standalone_of: Mapping[str, str]  # role -> its standalone mode
    native_mode: str | None
    xsched_mode: str | None
    stats: tuple[RoleStats, ...]
    overlap: tuple[Overlap, ...]
    cdf: Mapping[str, tuple[tuple[float, float], ...]]  # mode -> (quantile, ms) of the foreground
    xsched_vs_native: Ratio | None  # foreground p99, XSched / native
    shares: Mapping[str, Mapping[str, float]]  # partition: mode -> role -> achieved share
    crashes: tuple[Mapping[str, Any], ...]
    verdict: str
    verdict_reason: str
    notes: tuple[str, ...] = field(default_factory=tuple)
    shares_ci: Mapping[str, Mapping[str, tuple[float, float]]] = field(default_factory=dict)
    trials: tuple[TrialCount, ...] = ()
    excluded: tuple[Mapping[str, Any], ...] = ()  # usable runs left out with their trial
    counted_runs: tuple[int, ...] = ()  # run indices whose numbers are in the statistics
    roles: tuple[Mapping[str, Any], ...] = ()  # what each role asked XSched for, and got

    def stat(self, role: str, mode: str) -> RoleStats | None:
        return next((s for s in self.stats if s.role == role and s.mode == mode), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "priority", "version": ANALYSIS_VERSION, "variant": self.variant,
            "foreground": self.foreground,
            "standalone_of": dict(self.standalone_of), "native_mode": self.native_mode,
            "xsched_mode": self.xsched_mode, "stats": [s.to_json() for s in self.stats],
            "overlap": [o.to_json() for o in self.overlap],
            "trials": [t.to_json() for t in self.trials],
            "excluded": [dict(e) for e in self.excluded],
            "counted_runs": list(self.counted_runs),
            "roles": [dict(r) for r in self.roles],
            "cdf": {m: [[q, _num(v)] for q, v in pts] for m, pts in self.cdf.items()},
            "xsched_vs_native": self.xsched_vs_native.to_json() if self.xsched_vs_native else None,
            "paper": {"xsched_p99_ratio": list(PAPER_XSCHED_P99),
                      "native_p99_ratio": list(PAPER_NATIVE_P99)},
            "shares": {m: dict(v) for m, v in self.shares.items()},
            "shares_ci": {m: {k: [_num(a), _num(b)] for k, (a, b) in v.items()}
                          for m, v in self.shares_ci.items()},
            "crashes": [dict(c) for c in self.crashes],
            "verdict": self.verdict, "verdict_reason": self.verdict_reason,
            "notes": list(self.notes),
        }


def _periodic(role: Role) -> bool:
    rate = role.options.get("rate")
    return role.kind == "infer" and isinstance(rate, (int, float)) and rate > 0


def _modes(spec: ExperimentSpec) -> tuple[dict[str, str], str | None, str | None]:
    standalone: dict[str, str] = {}
    native = xs = None
    for m in spec.modes:
        roles = spec.roles_of(m)
        if len(roles) == 1 and not m.xsched:
            standalone.setdefault(roles[0].name, m.name)
        elif len(roles) > 1 and not m.xsched and native is None:
            native = m.name
        elif len(roles) > 1 and m.xsched and xs is None:
            xs = m.name
    return standalone, native, xs


def _cdf(values: Sequence[float]) -> tuple[tuple[float, float], ...]:
    s = sorted(values)
    if not s:
        return ()
    out = []
    for q in CDF_POINTS:
        k = 0 if q <= 0 else max(0, min(len(s) - 1, math.ceil(q * len(s)) - 1))
        out.append((q, s[k]))
    return tuple(out)


def _ci_text(ci: tuple[float, float] | None) -> str:
    if not ci or not all(math.isfinite(v) for v in ci) or ci[0] == ci[1]:
        return ""
    return f" [95% CI {ci[0]:.3g}-{ci[1]:.3g}]"


def _slo_checks(role: Role, p99: float | None, p99_ci: tuple[float, float] | None,
                thr_ratio: Ratio | None, lat: Sequence[float],
                ) -> tuple[tuple[SloCheck, ...], int | None]:
    """Each objective judged by its CI: met when the whole CI is on the right side of the limit,
    missed when the whole CI is on the wrong side, undecided (None) when it straddles it."""
    slo = role.slo
    if slo is None:
        return (), None
    out: list[SloCheck] = []
    misses = None
    if slo.p99_ms is not None:
        if p99 is None:
            out.append(SloCheck("p99_ms", slo.p99_ms, None, None, "no latency measured"))
        else:
            lo, hi = p99_ci if p99_ci and all(math.isfinite(v) for v in p99_ci) else (p99, p99)
            met = True if hi <= slo.p99_ms else False if lo > slo.p99_ms else None
            word = {True: "<=", False: ">", None: "straddles"}[met]
            out.append(SloCheck("p99_ms", slo.p99_ms, p99, met,
                                f"p99 {_fmt(p99)} ms{_ci_text((lo, hi))} {word} {slo.p99_ms:g} ms"
                                + (" (undecided)" if met is None else ""), (lo, hi)))
    if slo.min_throughput_frac is not None:
        v = thr_ratio.value if thr_ratio is not None else None
        if v is None or not math.isfinite(v):
            out.append(SloCheck("min_throughput_frac", slo.min_throughput_frac, None, None,
                                "no standalone throughput to compare with"))
        else:
            lo, hi = thr_ratio.ci_lo, thr_ratio.ci_hi  # type: ignore[union-attr]
            if not (math.isfinite(lo) and math.isfinite(hi)):
                lo = hi = v
            f = slo.min_throughput_frac
            ok = True if lo >= f else False if hi < f else None
            word = {True: ">=", False: "<", None: "straddles"}[ok]
            out.append(SloCheck("min_throughput_frac", f, v, ok,
                                f"{_fmt(v)}{_ci_text((lo, hi))} of standalone throughput {word} "
                                f"{f:g}" + (" (undecided)" if ok is None else ""), (lo, hi)))
    if slo.deadline_ms is not None:
        if lat:
            misses = sum(1 for v in lat if v > slo.deadline_ms)
            out.append(SloCheck("deadline_ms", slo.deadline_ms, float(misses), misses == 0,
                                f"{misses} of {len(lat)} requests missed the "
                                f"{slo.deadline_ms:g} ms deadline"))
        else:
            out.append(SloCheck("deadline_ms", slo.deadline_ms, None, None, "no latency measured"))
    return tuple(out), misses


def _fmt(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "n/a"
    return f"{v:.3g}"


def _short(reason: str | None, n: int = 160) -> str:
    r = reason or "?"
    return r if len(r) <= n else r[: n - 1] + "…"


def priority_from_runs(runs: Sequence[RunRecord], spec: ExperimentSpec) -> PriorityResult:
    standalone, native, xs = _modes(spec)
    fg_role = next((r for r in spec.roles if r.primary and _periodic(r)), None)
    if any(r.slo is not None for r in spec.roles):
        variant = "tenants"
    elif fg_role is None:
        variant = "partition"
    else:
        variant = "dual"
    runs = [r for r in runs if r.mode != "calibrate"]
    by: dict[tuple[str, str], list[RunRecord]] = {}
    for r in runs:
        by.setdefault((r.role, r.mode), []).append(r)

    overlap = _overlaps(runs, spec, fg_role.name if fg_role else None)
    trials, counted_idx, excluded = _counted(runs, spec, overlap)

    pooled: dict[tuple[str, str], list[float]] = {}
    thr: dict[tuple[str, str], list[float]] = {}
    units: dict[str, str | None] = {}
    bases: dict[str, str] = {}
    for key, rs in by.items():
        cr = [r for r in rs if r.index in counted_idx]
        pooled[key] = [v for r in cr for v in latencies(r)]
        vals = []
        for r in cr:
            v, u, basis = result_throughput(r.result)
            if v is not None:
                vals.append(v)
                units.setdefault(key[0], u)
                bases.setdefault(key[0], basis)
        thr[key] = vals

    stats: list[RoleStats] = []
    for m in spec.modes:
        for role in spec.roles_of(m):
            key = (role.name, m.name)
            rs = by.get(key, [])
            valid = [r for r in rs if r.valid]
            cr = [r for r in rs if r.index in counted_idx]
            lat = pooled.get(key, [])
            sa = standalone.get(role.name)
            p99r = thrr = None
            if lat and sa and sa != m.name and pooled.get((role.name, sa)):
                v, lo, hi = _ratio_ci(lat, pooled[(role.name, sa)], _p99)
                p99r = Ratio(v, lo, hi, "requests resampled within each configuration")
            if thr.get(key) and sa and sa != m.name and thr.get((role.name, sa)):
                v, lo, hi = _ratio_ci(thr[key], thr[(role.name, sa)], median)
                thrr = Ratio(v, lo, hi, "runs resampled")
            p99 = _p99(lat) if lat else None
            p99_ci = _stat_ci(lat, _p99) if lat else None
            checks, misses = (_slo_checks(role, p99, p99_ci, thrr, lat) if m.name != sa
                              else ((), None))
            stats.append(RoleStats(
                role.name, m.name, len(rs), len(valid), len(lat),
                percentile(lat, 50) if lat else None, percentile(lat, 90) if lat else None,
                p99, max(lat) if lat else None,
                tuple(_p99(latencies(r)) for r in cr if latencies(r)), p99r,
                tuple(thr.get(key, [])), units.get(role.name), thrr, misses, checks,
                tuple(sorted({r.invalid_reason or "" for r in rs if not r.valid} - {""})),
                counted=len(cr), crashed_at_exit=sum(1 for r in cr if not r.valid),
                p99_ci=p99_ci,
                throughput_ci=_stat_ci(thr[key], median) if thr.get(key) else None,
                throughput_basis=bases.get(role.name, "")))

    cdf = {}
    if fg_role is not None:
        for m in spec.modes:
            vals = pooled.get((fg_role.name, m.name))
            if vals:
                cdf[m.name] = _cdf(vals)
    xvn = None
    if fg_role is not None and native and xs:
        a, b = pooled.get((fg_role.name, xs)), pooled.get((fg_role.name, native))
        if a and b:
            v, lo, hi = _ratio_ci(a, b, _p99)
            xvn = Ratio(v, lo, hi, "requests resampled within each configuration")
    shares, shares_ci = _shares(thr, standalone, spec) if variant == "partition" else ({}, {})
    crashes = tuple({"run": r.index, "trial": r.trial, "mode": r.mode, "role": r.role,
                     "signal": r.exit_signal, "result_written": r.result is not None,
                     "counted": r.index in counted_idx}
                    for r in runs if r.exit_signal)
    roles = tuple(_role_settings(role, runs, spec) for role in spec.roles)
    res = PriorityResult(variant, fg_role.name if fg_role else None, standalone, native, xs,
                         tuple(stats), overlap, cdf, xvn, shares, crashes, "INCONCLUSIVE", "",
                         shares_ci=shares_ci, trials=trials, excluded=excluded,
                         counted_runs=tuple(sorted(counted_idx)), roles=roles)
    verdict, reason, notes = _verdict(res, spec, by)
    return replace(res, verdict=verdict, verdict_reason=reason, notes=notes)


def _role_settings(role: Role, runs: Sequence[RunRecord], spec: ExperimentSpec) -> dict[str, Any]:
    """What the runner asked XSched for this role, and the priorities XSched logged for it."""
    xmodes = {m.name for m in spec.modes if m.xsched}
    logged: set[int] = set()
    for r in runs:
        if r.role == role.name and r.mode in xmodes:
            logged.update(getattr(r.events, "priorities", ()) or ())
            logged.update((r.xserver or {}).get("priorities") or ())
    return {"name": role.name, "kind": role.kind, "primary": role.primary,
            "priority": role.priority, "xsched_env": dict(role.xsched_env),
            "slo": role.slo.to_json() if role.slo else None,
            "logged_priorities": sorted(logged)}


def _overlaps(runs: Sequence[RunRecord], spec: ExperimentSpec,
              fg_name: str | None) -> tuple[Overlap, ...]:
    """Per co-located trial: the share of the foreground's measurement window each other role
    was measuring too. Only measurement windows count: a role with none (no result) covers 0,
    and a foreground with none makes every coverage 0."""
    modes = {m.name: m for m in spec.modes}
    trials: dict[int, list[RunRecord]] = {}
    for r in runs:
        trials.setdefault(r.trial, []).append(r)
    prim = [r.name for r in spec.roles if r.primary]
    out = []
    for t, rs in sorted(trials.items()):
        mode = rs[0].mode
        m = modes.get(mode)
        expected = [r.name for r in spec.roles_of(m)] if m is not None else [r.role for r in rs]
        if t == 0 or len(expected) < 2:
            continue
        byrole = {r.role: r for r in rs}
        order = ([fg_name] if fg_name in expected else []) + [p for p in prim if p in expected]
        fg_role = next(iter(order), expected[0])
        fg = byrole.get(fg_role)
        fw = window(fg) if fg is not None else None
        cov: dict[str, float] = {}
        missing = [] if fw is not None else [fg_role]
        for name in expected:
            if name == fg_role:
                continue
            r = byrole.get(name)
            w = window(r) if r is not None else None
            if w is None:
                missing.append(name)
            if fw is None or w is None:
                cov[name] = 0.0
                continue
            f0, f1 = fw
            span = max(f1 - f0, 1e-9)
            cov[name] = max(0.0, min(f1, w[1]) - max(f0, w[0])) / span
        basis = "measurement" if not missing else "no measurement: " + ", ".join(missing)
        out.append(Overlap(t, mode, basis, cov, all(v >= OVERLAP_MIN for v in cov.values())))
    return tuple(out)


def _counted(runs: Sequence[RunRecord], spec: ExperimentSpec, overlap: Sequence[Overlap],
             ) -> tuple[tuple[TrialCount, ...], set[int], tuple[dict[str, Any], ...]]:
    """Which runs' numbers count. Standalone: every usable run. Co-located: the runs of a trial
    in which every role of the configuration ran usably and the roles overlapped; the usable
    runs of the other trials are listed as excluded, with why."""
    modes = {m.name: m for m in spec.modes}
    ov = {o.trial: o for o in overlap}
    trials: dict[int, list[RunRecord]] = {}
    for r in runs:
        trials.setdefault(r.trial, []).append(r)
    counted: set[int] = set()
    out: list[TrialCount] = []
    excluded: list[dict[str, Any]] = []
    for t, rs in sorted(trials.items()):
        m = modes.get(rs[0].mode)
        expected = [r.name for r in spec.roles_of(m)] if m is not None else [r.role for r in rs]
        if len(expected) < 2:
            counted.update(r.index for r in rs if usable(r))
            continue
        byrole = {r.role: r for r in rs}
        why = []
        for name in expected:
            r = byrole.get(name)
            if r is None:
                why.append(f"{name} has no run")
            elif not usable(r):
                why.append(f"{name} invalid ({_short(r.invalid_reason)})")
        o = ov.get(t)
        if o is not None and not o.ok:
            why.append("overlap " + ", ".join(f"{k} {v:.0%}" for k, v in o.coverage.items())
                       + f" < {OVERLAP_MIN:.0%}" + (f" ({o.basis})" if o.basis != "measurement"
                                                    else ""))
        if not why:
            counted.update(r.index for r in rs)
            out.append(TrialCount(t, rs[0].mode, True, None))
            continue
        text = "; ".join(why)
        out.append(TrialCount(t, rs[0].mode, False, text))
        for r in rs:
            if usable(r):
                excluded.append({"run": r.index, "trial": t, "mode": r.mode, "role": r.role,
                                 "reason": f"trial {t} not counted: {text}"})
    return tuple(out), counted, tuple(excluded)


def _target_share(role: Role) -> float | None:
    u = role.xsched_env.get("XSCHED_AUTO_XQUEUE_UTILIZATION")
    try:
        return float(u) / 100 if u is not None else None
    except ValueError:
        return None


def _shares(thr: Mapping[tuple[str, str], list[float]], standalone: Mapping[str, str],
            spec: ExperimentSpec,
            ) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, tuple[float, float]]]]:
    """Per co-located configuration, each role's throughput / its standalone one as a share of
    their sum, with percentile-bootstrap CIs (each role's runs and standalone runs resampled)."""
    out: dict[str, dict[str, float]] = {}
    cis: dict[str, dict[str, tuple[float, float]]] = {}
    for m in spec.modes:
        roles = [r.name for r in spec.roles_of(m)
                 if thr.get((r.name, m.name)) and standalone.get(r.name)
                 and standalone[r.name] != m.name and thr.get((r.name, standalone[r.name]))]
        if len(roles) < 2:
            continue
        pairs = {r: (thr[(r, m.name)], thr[(r, standalone[r])]) for r in roles}
        ratios = {r: median(co) / median(sa) for r, (co, sa) in pairs.items()}
        total = sum(ratios.values())
        if not total > 0:
            continue
        out[m.name] = {r: v / total for r, v in ratios.items()}
        out[m.name]["total_of_standalone"] = total
        rng = random.Random(SEED)
        boots: dict[str, list[float]] = {r: [] for r in [*roles, "total_of_standalone"]}
        for _ in range(N_BOOT):
            b = {r: median(rng.choices(co, k=len(co))) / median(rng.choices(sa, k=len(sa)))
                 for r, (co, sa) in pairs.items()}
            tot = sum(b.values())
            if not tot > 0:
                continue
            for r, v in b.items():
                boots[r].append(v / tot)
            boots["total_of_standalone"].append(tot)
        cis[m.name] = {r: _quantile_ci(v) for r, v in boots.items()}
    return out, cis


def _band(v: float, band: tuple[float, float]) -> str:
    lo, hi = band
    if v < lo:
        return f"below the paper's {lo:g}-{hi:g}x"
    if v > hi:
        return f"above the paper's {lo:g}-{hi:g}x"
    return f"within the paper's {lo:g}-{hi:g}x"


def _no_trial(res: PriorityResult, spec: ExperimentSpec, mode: str, what: str,
              by: Mapping[tuple[str, str], list[RunRecord]]) -> str | None:
    """Why ``mode`` has no counted trial although it ran (None: it has one, or it never ran)."""
    ts = [t for t in res.trials if t.mode == mode]
    if not ts or any(t.counted for t in ts):
        return None
    m = next(x for x in spec.modes if x.name == mode)
    per_role = []
    for role in spec.roles_of(m):
        rs = by.get((role.name, mode), [])
        if rs and not any(usable(r) for r in rs):
            reasons = sorted({_short(r.invalid_reason, 300) for r in rs})
            per_role.append(f"role {role.name} ({len(rs)} run(s): {'; '.join(reasons)})")
    if per_role:
        return f"no valid run under {what} ({mode}) of " + " | ".join(per_role)
    if all((t.why or "").startswith("overlap") for t in ts):
        return (f"the roles never ran at the same time under {what} ({mode}): no trial overlapped "
                f"{OVERLAP_MIN:.0%} of the foreground's measurement")
    return (f"no {what} trial ({mode}) counts: "
            + " | ".join(f"trial {t.trial}: {t.why}" for t in ts))[:900]


def _crash_label(res: PriorityResult, mode: str | None) -> str:
    n = sum(s.crashed_at_exit for s in res.stats if s.mode == mode)
    if not n:
        return ""
    sigs = sorted({c["signal"] for c in res.crashes if c["mode"] == mode and c.get("counted")})
    return (f" [{n} {mode} run(s) crashed at exit ({', '.join(sigs)}) after writing their "
            "result: their numbers are included, labelled]")


def _verdict(res: PriorityResult, spec: ExperimentSpec,
             by: Mapping[tuple[str, str], list[RunRecord]]) -> tuple[str, str, tuple[str, ...]]:
    notes: list[str] = []
    if res.crashes:
        notes.append("crashed: " + ", ".join(
            f"run {c['run']} ({c['mode']}/{c['role']}) {c['signal']}"
            + (" after writing its result" if c["result_written"] else "") for c in res.crashes))
    bad = [t for t in res.trials if not t.counted]
    if bad:
        notes.append(f"{len(bad)} of {len(res.trials)} co-located trials not counted: "
                     + " | ".join(f"trial {t.trial} ({t.mode}): {t.why}" for t in bad)[:900])
    xs, nat = res.xsched_mode, res.native_mode
    for mode, what in ((xs, "XSched"), (nat, "native co-location")):
        why = _no_trial(res, spec, mode, what, by) if mode else None
        if why:
            return "INVALID", why, tuple(notes)
    thin = sorted({s.mode for s in res.stats if s.counted == 1})
    if thin:
        notes.append(f"one counted run in {', '.join(thin)}: throughput and share CIs need "
                     "repeats (a single run has no spread)")
    crash = _crash_label(res, xs)
    if res.variant == "tenants":
        mode = xs or nat
        rs = [s for s in res.stats if s.mode == mode and s.slo]
        if not rs:
            return "INCONCLUSIVE", "no SLO could be evaluated", tuple(notes)
        missed = [f"{s.role}: " + "; ".join(c.text for c in s.slo if c.met is False)
                  for s in rs if _all_met(s.slo) is False]
        unknown = [f"{s.role} (" + "; ".join(c.text for c in s.slo if c.met is None) + ")"
                   for s in rs if _all_met(s.slo) is None]
        native_line = ""
        if nat and mode != nat:
            nats = [s for s in res.stats if s.mode == nat and s.slo]
            met_n = sum(1 for s in nats if _all_met(s.slo))
            native_line = f"; natively co-located {met_n} of {len(nats)} tenants met theirs"
        met = len(rs) - len(missed) - len(unknown)
        head = f"under {mode}: {met} of {len(rs)} tenants met their SLOs{native_line}"
        if missed:
            return "SLOS MISSED", head + "; missed: " + " | ".join(missed) + crash, tuple(notes)
        if unknown:
            return ("INCONCLUSIVE", head + f"; undecided or not measured: {', '.join(unknown)}"
                    + crash, tuple(notes))
        return "SLOS MET", head + crash, tuple(notes)
    if res.variant == "partition":
        if not xs or xs not in res.shares:
            return "INCONCLUSIVE", "no XSched partition measured against standalone", tuple(notes)
        sh, ci = res.shares[xs], res.shares_ci.get(xs, {})
        parts, states = [], []
        for role in spec.roles:
            tgt = _target_share(role)
            got = sh.get(role.name)
            if got is None:
                continue
            lo, hi = ci.get(role.name, (got, got))
            if not (math.isfinite(lo) and math.isfinite(hi)):
                lo = hi = got
            parts.append(f"{role.name} {got:.2f}" + (f" [{lo:.2f}, {hi:.2f}]" if lo != hi else "")
                         + (f" (target {tgt:.2f})" if tgt is not None else ""))
            if tgt is None:
                continue
            if lo >= tgt - SPLIT_TOLERANCE and hi <= tgt + SPLIT_TOLERANCE:
                states.append("in")
            elif hi < tgt - SPLIT_TOLERANCE or lo > tgt + SPLIT_TOLERANCE:
                states.append("out")
            else:
                states.append("straddles")
        total = sh.get("total_of_standalone", math.nan)
        text = (f"shares under {xs} (95% CI): " + ", ".join(parts)
                + f"; total {total:.2f} of standalone; tolerance ±{SPLIT_TOLERANCE:g}" + crash)
        if "out" in states:
            return "SPLIT NOT REACHED", text, tuple(notes)
        if "straddles" in states:
            return ("INCONCLUSIVE", text + "; a share's CI straddles the tolerance band",
                    tuple(notes))
        if not states:
            return "INCONCLUSIVE", text + "; no target share given", tuple(notes)
        return "SPLIT REACHED", text, tuple(notes)
    fg = res.foreground
    sa = res.standalone_of.get(fg or "")
    nst = res.stat(fg, nat) if fg and nat else None
    xst = res.stat(fg, xs) if fg and xs else None
    parts = []
    if nst and nst.p99_ratio:
        parts.append(f"native p99 {nst.p99_ratio.value:.2f}x standalone "
                     f"({_band(nst.p99_ratio.value, PAPER_NATIVE_P99)})")
    if xst and xst.p99_ratio:
        parts.append(f"XSched p99 {xst.p99_ratio.value:.2f}x standalone "
                     f"({_band(xst.p99_ratio.value, PAPER_XSCHED_P99)})")
    if not sa:
        notes.append("no standalone configuration: ratios to standalone are not available")
    r = res.xsched_vs_native
    if r is None or not math.isfinite(r.value):
        return "INCONCLUSIVE", ("; ".join(parts) or "XSched and native were not both measured") \
            + crash, tuple(notes)
    cmp = f"XSched/native p99 {r.value:.2f} (95% CI {r.ci_lo:.2f}-{r.ci_hi:.2f})"
    text = "; ".join([cmp, *parts]) + crash
    if r.ci_hi < 1:
        return "XSCHED HELPS", text, tuple(notes)
    if r.ci_lo > 1:
        return "WORSE THAN NATIVE", text, tuple(notes)
    return "NO EFFECT", text, tuple(notes)
