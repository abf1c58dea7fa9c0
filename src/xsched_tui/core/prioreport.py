"""The priority experiment's part of report.md, and its latency CDF as a standalone SVG (no
plotting library: the report must be writable in any interpreter, on any host)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _f(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    if isinstance(v, (int, float)):
        return f"{v:.{digits}g}"
    return str(v)


def _ratio(r: Mapping[str, Any] | None) -> str:
    if not r or r.get("value") is None:
        return "—"
    s = f"{r['value']:.2f}x"
    if r.get("ci_lo") is not None and r.get("ci_hi") is not None and r["ci_lo"] != r["ci_hi"]:
        s += f" [{r['ci_lo']:.2f}, {r['ci_hi']:.2f}]"
    return s


def _ci(pair: Any, digits: int = 3) -> str:
    if not isinstance(pair, (list, tuple)) or len(pair) != 2 or None in pair or pair[0] == pair[1]:
        return ""
    return f" [{pair[0]:.{digits}g}, {pair[1]:.{digits}g}]"


def _p99_cell(s: Mapping[str, Any]) -> str:
    """Pooled p99 with its 95% CI, then the range of the per-run p99s and n runs."""
    if s.get("p99_ms") is None:
        return "—"
    out = _f(s.get("p99_ms")) + _ci(s.get("p99_ci"))
    per = [v for v in s.get("p99_per_run") or [] if v is not None]
    if per:
        out += (f"; runs {_f(min(per))}-{_f(max(per))} (n={len(per)})" if len(per) > 1
                else " (n=1 run)")
    return out


def _thr_cell(s: Mapping[str, Any]) -> str:
    """Median throughput of the counted runs, its 95% CI, their range and n."""
    thr = s.get("throughput_median")
    if thr is None:
        return "—"
    vals = [v for v in s.get("throughput") or [] if v is not None]
    out = f"{_f(thr, 4)} {s.get('throughput_unit') or ''}".rstrip() + _ci(s.get("throughput_ci"), 4)
    if len(vals) > 1:
        out += f"; runs {_f(min(vals), 4)}-{_f(max(vals), 4)} (n={len(vals)})"
    elif vals:
        out += " (n=1 run)"
    basis = s.get("throughput_basis")
    if basis and basis != "whole-run rate":
        out += f" ({basis})"
    return out


def _runs_cell(s: Mapping[str, Any]) -> str:
    out = f"{s.get('valid')}/{s.get('runs')}"
    if "counted" in s:  # analysis version 2
        out += f", {s['counted']} counted"
        if s.get("crashed_at_exit"):
            out += f" (**{s['crashed_at_exit']} crashed at exit**)"
    return out


def markdown(an: Mapping[str, Any], cdf_file: str | None = None) -> list[str]:
    """The priority part of report.md. Reads analysis version 1 (no "version" key) and 2."""
    v2 = (an.get("version") or 1) >= 2
    out = ["", "## Per configuration", ""]
    if v2:
        out.append("Counted runs only (see *Which runs count*). Latency: all requests of the "
                   "counted runs pooled; p99 with its 95% bootstrap CI (requests resampled) and "
                   "the range of the per-run p99s; p99 ratio to the role's standalone "
                   "configuration with a 95% bootstrap CI. Throughput: the whole-run rate of "
                   "each counted run (work / measured time); median, its 95% bootstrap CI and "
                   "the range over runs; ratio of medians with a 95% bootstrap CI (runs "
                   "resampled).")
    else:
        out.append("Latency: all requests of the valid runs pooled; p99 ratio to the role's "
                   "standalone configuration with a 95% bootstrap CI (requests resampled). "
                   "Throughput: one value per valid run, ratio of medians with a 95% bootstrap "
                   "CI (runs resampled). (Written before spreads of absolute numbers were kept.)")
    out += ["", "| role | configuration | runs valid | requests | p50 ms | p90 ms | "
            "p99 ms [95% CI]; per-run range | max ms | p99 / standalone | "
            "throughput [95% CI]; range | / standalone | SLO |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in an.get("stats") or []:
        slo = s.get("slo_met")
        slo_txt = "—" if slo is None else ("met" if slo else "**missed**")
        if s.get("slo"):
            if slo is None:
                slo_txt = "undecided"
            slo_txt += ": " + "; ".join(c.get("text", "") for c in s["slo"])
        out.append(
            f"| {s.get('role')} | {s.get('mode')} | {_runs_cell(s)} | "
            f"{s.get('requests') or '—'} | {_f(s.get('p50_ms'))} | {_f(s.get('p90_ms'))} | "
            f"{_p99_cell(s)} | {_f(s.get('max_ms'))} | {_ratio(s.get('p99_ratio'))} | "
            f"{_thr_cell(s)} | {_ratio(s.get('throughput_ratio'))} | {slo_txt} |")
        for why in s.get("invalid_reasons") or []:
            out.append(f"|  | ↳ invalid: {why[:200]} | | | | | | | | | | |")
    out.append("")
    xvn = an.get("xsched_vs_native")
    if xvn:
        out.append(f"- Foreground p99, XSched / native: **{_ratio(xvn)}**")
    paper = an.get("paper") or {}
    if paper:
        xs, nat = paper.get("xsched_p99_ratio"), paper.get("native_p99_ratio")
        out.append(f"- Paper (OSDI'25 Fig. 9, FACTS §6.3): foreground p99 with XSched {xs[0]}-{xs[1]}x "
                   f"standalone, native co-located {nat[0]}-{nat[1]}x; on an H100 at Level 1 XSched was "
                   "measured worse than native (FACTS §11)." if xs and nat else "")
    shares_ci = an.get("shares_ci") or {}
    for mode, sh in (an.get("shares") or {}).items():
        ci = shares_ci.get(mode) or {}
        parts = ", ".join(f"{k} {v:.2f}{_ci(ci.get(k), 2)}" for k, v in sh.items()
                          if k != "total_of_standalone")
        out.append(f"- Shares under `{mode}`{' (95% CI)' if ci else ''}: {parts}; total "
                   f"{_f(sh.get('total_of_standalone'))}{_ci(ci.get('total_of_standalone'), 3)} "
                   "of standalone")
    roles = an.get("roles") or []
    if roles:
        out += ["", "## Roles and what XSched was asked for", "",
                "| role | kind | ends a trial | priority asked | XSched settings | "
                "`set priority` logged (XSched runs) | SLO |", "|---|---|---|---|---|---|---|"]
        for r in roles:
            env = " ".join(f"`{k.replace('XSCHED_AUTO_XQUEUE_', '')}={v}`"
                           for k, v in (r.get("xsched_env") or {}).items()) or "—"
            logged = r.get("logged_priorities") or []
            slo = r.get("slo") or {}
            slo_txt = ", ".join(f"{k} {v:g}" for k, v in slo.items() if v is not None) or "—"
            out.append(f"| {r.get('name')} | {r.get('kind')} | "
                       f"{'yes' if r.get('primary') else 'no (told to stop)'} | "
                       f"{_f(r.get('priority'))} | {env} | "
                       f"{', '.join(str(p) for p in logged) if logged else 'none logged'} | "
                       f"{slo_txt} |")
    cdf = an.get("cdf") or {}
    if cdf:
        modes = list(cdf)
        out += ["", f"## Foreground latency CDF ({an.get('foreground')})", ""]
        if cdf_file:
            out += [f"![latency CDF]({cdf_file})", ""]
        out += ["| quantile | " + " | ".join(modes) + " |", "|---" * (len(modes) + 1) + "|"]
        qs = [q for q, _ in cdf[modes[0]]]
        for i, q in enumerate(qs):
            cells = [_f(cdf[m][i][1] if i < len(cdf[m]) else None) for m in modes]
            out.append(f"| {q:g} | " + " | ".join(cells) + " |")
    ov = an.get("overlap") or []
    trials = {t.get("trial"): t for t in an.get("trials") or []}
    if ov or trials:
        out += ["", "## Did the configurations overlap? Which runs count", ""]
        out.append("Share of the foreground's measurement window during which each other role was "
                   "measuring too (from the roles' own result lines; a role without one covers "
                   "0%)." + (" A co-located trial counts when every role in it ran validly (or "
                             "only crashed after writing its result) and every coverage is at "
                             "least 95%; only counted trials are in the statistics." if v2 else ""))
        out += ["", "| trial | configuration | basis | coverage | overlap ok |"
                + (" counted |" if v2 else ""),
                "|---|---|---|---|---|" + ("---|" if v2 else "")]
        for o in ov:
            cov = ", ".join(f"{k} {v:.1%}" for k, v in (o.get("coverage") or {}).items()
                            if v is not None)
            row = (f"| {o.get('trial')} | {o.get('mode')} | {o.get('basis')} | {cov} | "
                   f"{'yes' if o.get('ok') else '**no**'} |")
            if v2:
                t = trials.get(o.get("trial")) or {}
                row += (" yes |" if t.get("counted") else
                        f" **no**: {str(t.get('why') or '')[:300]} |")
            out.append(row)
        excl = an.get("excluded") or []
        if excl:
            out += ["", "Valid runs left out because their trial does not count:", ""]
            out += [f"- run {e.get('run')} ({e.get('mode')}/{e.get('role')}): {e.get('reason')}"
                    for e in excl]
    crashes = an.get("crashes") or []
    if crashes:
        out += ["", "## Crashes", ""]
        for c in crashes:
            out.append(f"- run {c.get('run')} ({c.get('mode')}/{c.get('role')}): **{c.get('signal')}**"
                       + (" after it wrote its result line" if c.get("result_written") else
                          " before any result")
                       + (": crashed at exit, its numbers are counted with this label"
                          if c.get("counted") and c.get("result_written") else ""))
    notes = an.get("notes") or []
    if notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    out += ["", "## Verdict", "", f"**{an.get('verdict')}**: {an.get('verdict_reason')}"]
    return out


def cdf_svg(cdf: Mapping[str, Sequence[Sequence[float]]], raw: Mapping[str, Sequence[float]] | None,
            title: str, width: int = 640, height: int = 400) -> str:
    """Latency CDF, one step line per configuration (``raw``: every request's latency when
    available, else the quantile points of ``cdf``); x is latency in ms, log-scaled when the
    range spans more than a decade."""
    series: dict[str, list[tuple[float, float]]] = {}
    for mode in cdf:
        vals = sorted(v for v in (raw or {}).get(mode, ()) if math.isfinite(v) and v > 0)
        if vals:
            n = len(vals)
            step = max(1, n // 400)
            pts = [(vals[i], (i + 1) / n) for i in range(0, n, step)]
            pts.append((vals[-1], 1.0))
        else:
            pts = [(float(v), float(q)) for q, v in cdf[mode] if v is not None and v > 0]
        if pts:
            series[mode] = pts
    ml, mr, mt, mb = 60, 20, 30, 45
    pw, ph = width - ml - mr, height - mt - mb
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="18" text-anchor="middle">{escape(title)}</text>']
    if not series:
        out.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no latency '
                   'measured</text></svg>')
        return "\n".join(out)
    xs = [x for pts in series.values() for x, _ in pts]
    lo, hi = min(xs), max(xs)
    logx = hi / lo > 10
    if hi <= lo:
        hi = lo * 1.1 + 1e-9

    def fx(x: float) -> float:
        if logx:
            return ml + pw * (math.log10(x) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
        return ml + pw * (x - lo) / (hi - lo)

    def fy(y: float) -> float:
        return mt + ph * (1 - y)

    out.append(f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>')
    for q in (0, 0.25, 0.5, 0.75, 0.9, 0.99):  # (1.0 would overlap 0.99)
        y = fy(q)
        out.append(f'<line x1="{ml}" y1="{y:.1f}" x2="{ml + pw}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{ml - 6}" y="{y + 4:.1f}" text-anchor="end">{q:g}</text>')
    for i in range(6):
        x = lo * (hi / lo) ** (i / 5) if logx else lo + (hi - lo) * i / 5
        out.append(f'<text x="{fx(x):.1f}" y="{mt + ph + 16}" text-anchor="middle">{x:.3g}</text>')
    out.append(f'<text x="{ml + pw / 2}" y="{height - 8}" text-anchor="middle">latency (ms'
               f'{", log scale" if logx else ""})</text>')
    for k, (mode, pts) in enumerate(series.items()):
        c = COLOURS[k % len(COLOURS)]
        d, prev_y = [], 0.0
        for j, (x, y) in enumerate(pts):
            d.append(f"{'M' if j == 0 else 'L'}{fx(x):.1f},{fy(prev_y):.1f} L{fx(x):.1f},{fy(y):.1f}")
            prev_y = y
        out.append(f'<path d="{" ".join(d)}" fill="none" stroke="{c}" stroke-width="1.5"/>')
        out.append(f'<rect x="{ml + 10}" y="{mt + 10 + 16 * k}" width="12" height="3" fill="{c}"/>')
        out.append(f'<text x="{ml + 28}" y="{mt + 15 + 16 * k}">{escape(mode)}</text>')
    out.append("</svg>")
    return "\n".join(out)
