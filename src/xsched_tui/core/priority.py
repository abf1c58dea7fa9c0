"""Analysis of priority experiments (the user's Tests 3 and 4; paper Fig. 9, FACTS §6.3): a
latency-sensitive foreground against a flat-out background, a bandwidth partition, or N tenants
with SLOs, each under standalone / native co-located / XSched co-located configurations.

Everything is computed from the runs' own result lines (no Textual, no torch):

* per role and configuration: pooled request latencies (p50/p90/p99/max), the p99 of each run,
  throughput per run; each normalised to the role's standalone configuration, with a seeded
  bootstrap CI (latency: requests resampled within each configuration; throughput: runs);
* the foreground's latency CDF per configuration;
* proof of overlap: in every co-located trial, the share of the foreground's measurement window
  (``measure_t0``..``measure_t1`` from its result, else the process lifetime) during which each
  other role was measuring too. A "co-located" number from roles that did not overlap is noise;
* SLO attainment (p99 limit, minimum share of standalone throughput, deadline misses);
* crashes with their signal, reported as they are, even after a result line was written;
* a verdict that compares XSched with native (not only with the paper), so a worse-than-native
  result reads as one.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from xsched_tui.core.experiment import ExperimentSpec, Role, RunRecord
from xsched_tui.core.stats import median, percentile

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


def latencies(run: RunRecord) -> list[float]:
    """The run's per-request latencies (ms) when it was a periodic (latency) role."""
    res = run.result or {}
    if res.get("metric") != "latency_ms":
        return []
    return [float(v) for v in res.get("values") or () if isinstance(v, (int, float))
            and not isinstance(v, bool) and math.isfinite(v)]


def throughput(run: RunRecord) -> tuple[float | None, str | None]:
    """(value, unit) of a run's throughput: req/s, TFLOP/s, or iterations/s."""
    res = run.result or {}
    for key, unit in (("req_per_s", "req/s"), ("tflops", "TFLOP/s")):
        v = res.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
            return float(v), unit
    if res.get("metric") in ("req_per_s", "tflops"):
        v = (res.get("summary") or {}).get("median")
        if isinstance(v, (int, float)) and v > 0:
            return float(v), res.get("unit")
    ms = res.get("iter_ms_median")
    if isinstance(ms, (int, float)) and ms > 0:
        return 1000.0 / ms, "iter/s"
    return None, None


def window(run: RunRecord) -> tuple[float, float, str]:
    res = run.result or {}
    t0, t1 = res.get("measure_t0"), res.get("measure_t1")
    if isinstance(t0, (int, float)) and isinstance(t1, (int, float)) and t1 >= t0:
        return float(t0), float(t1), "measurement"
    return run.started, run.ended, "process lifetime"


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
    boots.sort()
    if not boots:
        return value, math.nan, math.nan
    lo = boots[max(0, math.floor(0.025 * len(boots)))]
    hi = boots[min(len(boots) - 1, math.ceil(0.975 * len(boots)) - 1)]
    return value, lo, hi


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
    met: bool | None
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"what": self.what, "limit": self.limit, "measured": _num(self.measured),
                "met": self.met, "text": self.text}


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
    throughput: tuple[float, ...]  # per valid run
    throughput_unit: str | None
    throughput_ratio: Ratio | None
    deadline_misses: int | None
    slo: tuple[SloCheck, ...]
    invalid_reasons: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role, "mode": self.mode, "runs": self.runs, "valid": self.valid,
            "requests": self.requests, "p50_ms": _num(self.p50_ms), "p90_ms": _num(self.p90_ms),
            "p99_ms": _num(self.p99_ms), "max_ms": _num(self.max_ms),
            "p99_per_run": [_num(v) for v in self.p99_per_run],
            "p99_ratio": self.p99_ratio.to_json() if self.p99_ratio else None,
            "throughput": [_num(v) for v in self.throughput],
            "throughput_median": _num(median(self.throughput)) if self.throughput else None,
            "throughput_unit": self.throughput_unit,
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

    def stat(self, role: str, mode: str) -> RoleStats | None:
        return next((s for s in self.stats if s.role == role and s.mode == mode), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "priority", "variant": self.variant, "foreground": self.foreground,
            "standalone_of": dict(self.standalone_of), "native_mode": self.native_mode,
            "xsched_mode": self.xsched_mode, "stats": [s.to_json() for s in self.stats],
            "overlap": [o.to_json() for o in self.overlap],
            "cdf": {m: [[q, _num(v)] for q, v in pts] for m, pts in self.cdf.items()},
            "xsched_vs_native": self.xsched_vs_native.to_json() if self.xsched_vs_native else None,
            "paper": {"xsched_p99_ratio": list(PAPER_XSCHED_P99),
                      "native_p99_ratio": list(PAPER_NATIVE_P99)},
            "shares": {m: dict(v) for m, v in self.shares.items()},
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


def _slo_checks(role: Role, p99: float | None, thr_ratio: Ratio | None,
                lat: Sequence[float]) -> tuple[tuple[SloCheck, ...], int | None]:
    slo = role.slo
    if slo is None:
        return (), None
    out: list[SloCheck] = []
    misses = None
    if slo.p99_ms is not None:
        met = None if p99 is None else p99 <= slo.p99_ms
        out.append(SloCheck("p99_ms", slo.p99_ms, p99, met,
                            f"p99 {_fmt(p99)} ms {'<=' if met else '>'} {slo.p99_ms:g} ms"
                            if p99 is not None else "no latency measured"))
    if slo.min_throughput_frac is not None:
        v = thr_ratio.value if thr_ratio is not None else None
        ok = None if v is None or not math.isfinite(v) else v >= slo.min_throughput_frac
        out.append(SloCheck("min_throughput_frac", slo.min_throughput_frac, v, ok,
                            f"{_fmt(v)} of standalone throughput "
                            f"{'>=' if ok else '<'} {slo.min_throughput_frac:g}"
                            if ok is not None else "no standalone throughput to compare with"))
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

    pooled: dict[tuple[str, str], list[float]] = {}
    thr: dict[tuple[str, str], list[float]] = {}
    units: dict[str, str | None] = {}
    for key, rs in by.items():
        valid = [r for r in rs if r.valid]
        pooled[key] = [v for r in valid for v in latencies(r)]
        vals = []
        for r in valid:
            v, u = throughput(r)
            if v is not None:
                vals.append(v)
                units.setdefault(key[0], u)
        thr[key] = vals

    stats: list[RoleStats] = []
    for m in spec.modes:
        for role in spec.roles_of(m):
            key = (role.name, m.name)
            rs = by.get(key, [])
            valid = [r for r in rs if r.valid]
            lat = pooled.get(key, [])
            sa = standalone.get(role.name)
            p99r = thrr = None
            if lat and sa and sa != m.name and pooled.get((role.name, sa)):
                v, lo, hi = _ratio_ci(lat, pooled[(role.name, sa)], _p99)
                p99r = Ratio(v, lo, hi, "requests resampled within each configuration")
            periodic = any(latencies(r) for r in valid)
            if not periodic and thr.get(key) and sa and sa != m.name and thr.get((role.name, sa)):
                v, lo, hi = _ratio_ci(thr[key], thr[(role.name, sa)], median)
                thrr = Ratio(v, lo, hi, "runs resampled")
            p99 = _p99(lat) if lat else None
            checks, misses = _slo_checks(role, p99, thrr, lat) if m.name != sa else ((), None)
            stats.append(RoleStats(
                role.name, m.name, len(rs), len(valid), len(lat),
                percentile(lat, 50) if lat else None, percentile(lat, 90) if lat else None,
                p99, max(lat) if lat else None,
                tuple(_p99(latencies(r)) for r in valid if latencies(r)), p99r,
                tuple(thr.get(key, [])), units.get(role.name), thrr, misses, checks,
                tuple(sorted({r.invalid_reason or "" for r in rs if not r.valid} - {""}))))

    overlap = _overlaps(runs, spec)
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
    shares = _shares(stats, spec) if variant == "partition" else {}
    crashes = tuple({"run": r.index, "trial": r.trial, "mode": r.mode, "role": r.role,
                     "signal": r.exit_signal, "result_written": r.result is not None}
                    for r in runs if r.exit_signal)
    res = PriorityResult(variant, fg_role.name if fg_role else None, standalone, native, xs,
                         tuple(stats), overlap, cdf, xvn, shares, crashes, "INCONCLUSIVE", "")
    verdict, reason, notes = _verdict(res, spec, by)
    return replace(res, verdict=verdict, verdict_reason=reason, notes=notes)


def _overlaps(runs: Sequence[RunRecord], spec: ExperimentSpec) -> tuple[Overlap, ...]:
    trials: dict[int, list[RunRecord]] = {}
    for r in runs:
        trials.setdefault(r.trial, []).append(r)
    out = []
    for t, rs in sorted(trials.items()):
        if len(rs) < 2 or t == 0:
            continue
        mode = rs[0].mode
        prim = {r.name for r in spec.roles if r.primary}
        fgs = [r for r in rs if r.role in prim] or rs[:1]
        fg = fgs[0]
        f0, f1, basis = window(fg)
        span = max(f1 - f0, 1e-9)
        cov = {}
        for r in rs:
            if r is fg:
                continue
            a, b, bb = window(r)
            if bb != basis:
                basis = "mixed"
            cov[r.role] = max(0.0, min(f1, b) - max(f0, a)) / span
        out.append(Overlap(t, mode, basis, cov, all(v >= OVERLAP_MIN for v in cov.values())))
    return tuple(out)


def _target_share(role: Role) -> float | None:
    u = role.xsched_env.get("XSCHED_AUTO_XQUEUE_UTILIZATION")
    try:
        return float(u) / 100 if u is not None else None
    except ValueError:
        return None


def _shares(stats: Sequence[RoleStats], spec: ExperimentSpec) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for m in spec.modes:
        rs = [s for s in stats if s.mode == m.name and s.throughput_ratio is not None]
        total = sum(s.throughput_ratio.value for s in rs if math.isfinite(s.throughput_ratio.value))
        if len(rs) > 1 and total > 0:
            out[m.name] = {s.role: s.throughput_ratio.value / total for s in rs}
            out[m.name]["total_of_standalone"] = total
    return out


def _band(v: float, band: tuple[float, float]) -> str:
    lo, hi = band
    if v < lo:
        return f"below the paper's {lo:g}-{hi:g}x"
    if v > hi:
        return f"above the paper's {lo:g}-{hi:g}x"
    return f"within the paper's {lo:g}-{hi:g}x"


def _verdict(res: PriorityResult, spec: ExperimentSpec,
             by: Mapping[tuple[str, str], list[RunRecord]]) -> tuple[str, str, tuple[str, ...]]:
    notes: list[str] = []
    if res.crashes:
        notes.append("crashed: " + ", ".join(
            f"run {c['run']} ({c['mode']}/{c['role']}) {c['signal']}"
            + (" after writing its result" if c["result_written"] else "") for c in res.crashes))
    bad = [o for o in res.overlap if not o.ok]
    if res.overlap and len(bad) == len(res.overlap):
        return ("INVALID", "the roles never ran at the same time: no co-located trial overlapped "
                f"{OVERLAP_MIN:.0%} of the foreground's measurement", tuple(notes))
    if bad:
        notes.append(f"{len(bad)} of {len(res.overlap)} co-located trials overlapped less than "
                     f"{OVERLAP_MIN:.0%} (trials {', '.join(str(o.trial) for o in bad)})")
    xs = res.xsched_mode
    if xs is not None:
        xruns = [r for (role, m), rs in by.items() if m == xs for r in rs]
        if xruns and not any(r.valid for r in xruns):
            reasons = sorted({r.invalid_reason or "?" for r in xruns})
            return ("INVALID", f"no valid run under XSched ({xs}): " + "; ".join(reasons)[:600],
                    tuple(notes))
    if res.variant == "tenants":
        mode = xs or res.native_mode
        rs = [s for s in res.stats if s.mode == mode and s.slo]
        if not rs:
            return "INCONCLUSIVE", "no SLO could be evaluated", tuple(notes)
        missed = [f"{s.role}: " + "; ".join(c.text for c in s.slo if c.met is False)
                  for s in rs if _all_met(s.slo) is False]
        unknown = [s.role for s in rs if _all_met(s.slo) is None]
        native_line = ""
        if res.native_mode and mode != res.native_mode:
            nat = [s for s in res.stats if s.mode == res.native_mode and s.slo]
            met_n = sum(1 for s in nat if _all_met(s.slo))
            native_line = f"; natively co-located {met_n} of {len(nat)} tenants met theirs"
        met = len(rs) - len(missed) - len(unknown)
        head = f"under {mode}: {met} of {len(rs)} tenants met their SLOs{native_line}"
        if missed:
            return "SLOS MISSED", head + "; missed: " + " | ".join(missed), tuple(notes)
        if unknown:
            return "INCONCLUSIVE", head + f"; not measurable: {', '.join(unknown)}", tuple(notes)
        return "SLOS MET", head, tuple(notes)
    if res.variant == "partition":
        if not xs or xs not in res.shares:
            return "INCONCLUSIVE", "no XSched partition measured against standalone", tuple(notes)
        sh = res.shares[xs]
        parts, ok = [], True
        for role in spec.roles:
            tgt = _target_share(role)
            got = sh.get(role.name)
            if got is None:
                continue
            parts.append(f"{role.name} {got:.2f}" + (f" (target {tgt:.2f})" if tgt else ""))
            if tgt is not None and abs(got - tgt) > SPLIT_TOLERANCE:
                ok = False
        total = sh.get("total_of_standalone", math.nan)
        text = f"shares under {xs}: " + ", ".join(parts) + f"; total {total:.2f} of standalone"
        return ("SPLIT REACHED" if ok else "SPLIT NOT REACHED"), text, tuple(notes)
    fg = res.foreground
    sa = res.standalone_of.get(fg or "")
    nat = res.stat(fg, res.native_mode) if fg and res.native_mode else None
    xst = res.stat(fg, xs) if fg and xs else None
    parts = []
    if nat and nat.p99_ratio:
        parts.append(f"native p99 {nat.p99_ratio.value:.2f}x standalone "
                     f"({_band(nat.p99_ratio.value, PAPER_NATIVE_P99)})")
    if xst and xst.p99_ratio:
        parts.append(f"XSched p99 {xst.p99_ratio.value:.2f}x standalone "
                     f"({_band(xst.p99_ratio.value, PAPER_XSCHED_P99)})")
    if not sa:
        notes.append("no standalone configuration: ratios to standalone are not available")
    r = res.xsched_vs_native
    if r is None or not math.isfinite(r.value):
        return "INCONCLUSIVE", "; ".join(parts) or "XSched and native were not both measured", \
            tuple(notes)
    cmp = f"XSched/native p99 {r.value:.2f} (95% CI {r.ci_lo:.2f}-{r.ci_hi:.2f})"
    text = "; ".join([cmp, *parts])
    if r.ci_hi < 1:
        return "XSCHED HELPS", text, tuple(notes)
    if r.ci_lo > 1:
        return "WORSE THAN NATIVE", text, tuple(notes)
    return "NO EFFECT", text, tuple(notes)
