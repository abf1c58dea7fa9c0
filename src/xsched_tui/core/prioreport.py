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


def markdown(an: Mapping[str, Any], cdf_file: str | None = None) -> list[str]:
    out = ["", "## Per configuration", ""]
    out.append("Latency: all requests of the valid runs pooled; p99 ratio to the role's standalone "
               "configuration with a 95% bootstrap CI (requests resampled). Throughput: one value "
               "per valid run, ratio of medians with a 95% bootstrap CI (runs resampled).")
    out += ["", "| role | configuration | runs valid | requests | p50 ms | p90 ms | p99 ms | max ms "
            "| p99 / standalone | throughput | / standalone | SLO |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in an.get("stats") or []:
        thr = s.get("throughput_median")
        slo = s.get("slo_met")
        slo_txt = "—" if slo is None else ("met" if slo else "**missed**")
        if s.get("slo"):
            slo_txt += ": " + "; ".join(c.get("text", "") for c in s["slo"])
        out.append(
            f"| {s.get('role')} | {s.get('mode')} | {s.get('valid')}/{s.get('runs')} | "
            f"{s.get('requests') or '—'} | {_f(s.get('p50_ms'))} | {_f(s.get('p90_ms'))} | "
            f"{_f(s.get('p99_ms'))} | {_f(s.get('max_ms'))} | {_ratio(s.get('p99_ratio'))} | "
            + (f"{_f(thr, 4)} {s.get('throughput_unit') or ''}" if thr is not None else "—")
            + f" | {_ratio(s.get('throughput_ratio'))} | {slo_txt} |")
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
    for mode, sh in (an.get("shares") or {}).items():
        parts = ", ".join(f"{k} {v:.2f}" for k, v in sh.items() if k != "total_of_standalone")
        out.append(f"- Shares under `{mode}`: {parts}; total {_f(sh.get('total_of_standalone'))} "
                   "of standalone")
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
    if ov:
        out += ["", "## Did the configurations overlap?", ""]
        out.append("Share of the foreground's measurement window during which each other role was "
                   "measuring too (from the roles' own start/end times).")
        out += ["", "| trial | configuration | basis | coverage | ok |", "|---|---|---|---|---|"]
        for o in ov:
            cov = ", ".join(f"{k} {v:.1%}" for k, v in (o.get("coverage") or {}).items()
                            if v is not None)
            out.append(f"| {o.get('trial')} | {o.get('mode')} | {o.get('basis')} | {cov} | "
                       f"{'yes' if o.get('ok') else '**no**'} |")
    crashes = an.get("crashes") or []
    if crashes:
        out += ["", "## Crashes", ""]
        for c in crashes:
            out.append(f"- run {c.get('run')} ({c.get('mode')}/{c.get('role')}): **{c.get('signal')}**"
                       + (" after it wrote its result line" if c.get("result_written") else
                          " before any result"))
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
