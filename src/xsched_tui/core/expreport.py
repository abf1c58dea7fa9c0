"""Experiment reports from ``result.json`` alone (so a report can be regenerated, listed and
compared long after the run): Markdown for humans, a listing for ``xsched-tui runs`` and a
side-by-side comparison of two experiments."""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

RESULT = "result.json"
SCHEMA_PREFIX = "xsched-tui/experiment-result/"


def _f(v: Any, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def _pct(v: Any) -> str:
    return "—" if v is None else f"{v:+.2f}%"


def _cell(s: Any) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def _when(epoch: Any) -> str:
    if not isinstance(epoch, (int, float)):
        return "—"
    return _dt.datetime.fromtimestamp(epoch).strftime("%H:%M:%S")


def to_markdown(doc: Mapping[str, Any]) -> str:
    spec = doc.get("spec") or {}
    setup = doc.get("setup") or {}
    runs: Sequence[Mapping[str, Any]] = doc.get("runs") or []
    an = doc.get("analysis") or None
    counts = doc.get("counts") or {}
    out: list[str] = [f"# Experiment {doc.get('name')} ({doc.get('kind')})", ""]
    status = doc.get("status")
    if status in ("cancelled", "error", "running"):
        # say it before any number: a partial result read as a whole one misleads
        done, planned = counts.get("done", len(runs)), counts.get("planned", "?")
        how = ("is still running" if status == "running" else
               f"was {'stopped by an error' if status == 'error' else 'cancelled'}")
        out += [f"> **PARTIAL RESULT**: the experiment {how}: {done} of {planned} planned runs "
                "done; every figure below covers the finished runs only.", ""]
    out.append(f"- Status: **{status}**" + (f" ({doc['message']})" if doc.get("message") else ""))
    out.append(f"- Created: {doc.get('created')}; updated: {doc.get('updated')}")
    out.append(f"- Folder: `{doc.get('folder')}`")
    out.append(f"- Runs: {counts.get('done', len(runs))} of {counts.get('planned', '?')} done, "
               f"{counts.get('valid', 0)} valid, {counts.get('invalid', 0)} invalid")
    if an and an.get("verdict"):
        out.append(f"- Verdict: **{an['verdict']}**: {an.get('verdict_reason', '')}")
    out += ["", "## What ran", ""]
    for r in spec.get("roles") or []:
        cmd = " ".join(r["argv"]) if r.get("argv") else f"workload {r.get('kind')}"
        opts = ", ".join(f"{k}={v}" for k, v in (r.get("options") or {}).items())
        out.append(f"- Role `{r.get('name')}`: {cmd}" + (f" ({opts})" if opts else ""))
    for m in spec.get("modes") or []:
        env = " ".join(f"{k}={v}" for k, v in (m.get("env") or {}).items())
        out.append(f"- Mode `{m.get('name')}`: {'XSched' if m.get('xsched') else 'native'}"
                   + (f", overrides: `{env}`" if env else ""))
    out.append(f"- {spec.get('repeats')} repeat(s), "
               f"{'interleaved (A B A B ...)' if spec.get('interleave') else 'blocked (A A ... B B ...)'}, "
               f"timeout {spec.get('timeout_s')} s per run, each run a fresh process")
    if runs:
        out.append(f"- First command: `{' '.join(runs[0].get('argv') or [])}`")
    out += ["", "## Host and environment", ""]
    host = setup.get("host") or {}
    out.append("- Host: " + ", ".join(f"{k} {v}" for k, v in host.items()))
    out.append(f"- Workload interpreter: `{setup.get('python')}`")
    out.append(f"- XSched install: `{setup.get('install')}` (lib `{setup.get('lib_dir')}`), platform "
               f"{setup.get('platform')}, enabled via {setup.get('enable')}, stream {setup.get('stream')}")
    xe = setup.get("xsched_env") or {}
    out.append("- XSched environment: " + (" ".join(f"`{k}={v}`" for k, v in sorted(xe.items()))
                                         or "(none)"))

    if an and an.get("kind") == "priority":
        out += _priority_runs(runs, an)
    else:
        out += _runs_table(runs)

    if an and an.get("kind") == "overhead" and "pairs_valid" in an:
        la, lb = (an.get("labels") or ["native", "xsched"])[:2]
        out += ["", "## Statistics", ""]
        better = "higher is better" if an.get("higher_is_better") else "lower is better"
        out.append(f"- Metric: `{an.get('metric')}` ({better}); per-pair overhead = "
                   + ("native/xsched - 1" if an.get("higher_is_better") else "xsched/native - 1"))
        out.append(f"- Valid pairs: {an.get('pairs_valid')} of {an.get('pairs_total')}"
                   + (f"; dropped: {len(an.get('dropped') or [])}" if an.get("dropped") else ""))
        for d in an.get("dropped") or []:
            out.append(f"  - {d}")
        bs = an.get("bootstrap") or {}
        out += ["", "| sample | n | median | 95% CI of the median | p95 | min | max |",
                "|---|---|---|---|---|---|---|"]
        for label, key in ((la, "native"), (lb, "xsched")):
            s = an.get(key) or {}
            out.append(f"| {label} | {s.get('n')} | {_f(s.get('median'))} | "
                       f"[{_f(s.get('ci_lo'))}, {_f(s.get('ci_hi'))}] | {_f(s.get('p95'))} | "
                       f"{_f(s.get('min'))} | {_f(s.get('max'))} |")
        out += ["", f"- Overhead: median **{_pct(an.get('median_pct'))}**, "
                f"{_f((bs.get('level') or 0.95) * 100)}% bootstrap CI [{_pct(an.get('ci_lo_pct'))}, "
                f"{_pct(an.get('ci_hi_pct'))}] (n_boot {bs.get('n_boot')}, seed {bs.get('seed')})"]
        out.append("- Per-pair overheads: " + ", ".join(_pct(x) for x in an.get("overheads_pct") or [])
                   if an.get("overheads_pct") else "- Per-pair overheads: none")
        out.append(f"- CPU overhead (extra CPU time per unit of work): {_pct(an.get('cpu_overhead_pct'))}"
                   f" [{_pct(an.get('cpu_ci_lo_pct'))}, {_pct(an.get('cpu_ci_hi_pct'))}]; "
                   f"single-core CPU utilisation change: "
                   + ("—" if an.get("cpu_util_delta_points") is None
                      else f"{an['cpu_util_delta_points']:+.2f} points")
                   + " (paper Fig. 12b: 2.8-3.6 points on GPUs at Level 1)")
        out += ["", "## Verdict", ""]
        thr = an.get("threshold_pct")
        out.append(f"**{an.get('verdict')}**: {an.get('verdict_reason')}")
        out.append("")
        if an.get("aa"):
            does = "does" if an.get("ci_contains_zero") else "does not"
            out.append("A/A mode (native vs native): this is the noise floor of the measurement; "
                       f"the CI should contain 0 (it {does}).")
        out.append(f"Threshold {_f(thr)}% (the user's test); the paper reports < {_f(an.get('paper_pct'))}% "
                   "at Level 1 (OSDI'25 Fig. 12a), shown for reference, not used as the pass line.")

    if an and an.get("kind") == "priority":
        from xsched_tui.core.prioreport import markdown

        out += markdown(an, "cdf.svg" if an.get("cdf") else None)

    xs_runs = [r for r in runs if _is_xsched(spec, r.get("mode"))]
    if xs_runs:
        out += ["", "## Evidence that XSched was active", ""]
        fps: dict[tuple, int] = {}
        for r in xs_runs:
            fp = r.get("fingerprint") or {}
            shim = fp.get("shim") or {}
            fps[(shim.get("path"), shim.get("size"), shim.get("sha"))] = \
                fps.get((shim.get("path"), shim.get("size"), shim.get("sha")), 0) + 1
        for (path, size, sha), n in fps.items():
            out.append(f"- Shim mapped: `{path or 'not mapped / not seen'}` size {_f(size)} sha {sha or '—'} "
                       f"in {n} run(s)")
        out += ["", "| # | mode | shim | hal | preempt | scheduler line | XQueues | diagnosis |",
                "|---|---|---|---|---|---|---|---|"]
        for r in xs_runs:
            fp = r.get("fingerprint") or {}
            ev = r.get("events") or {}
            libs = [_lib_cell(fp.get(k), bool(fp.get("snapshot"))) for k in ("shim", "hal", "preempt")]
            sched = _cell(", ".join(ev.get("scheduler_lines") or []) or "—")
            out.append(f"| {r.get('index')} | {r.get('mode')} | {' | '.join(libs)} | {sched} | "
                       f"{ev.get('xqueues_created', 0)} | {_cell(ev.get('diagnosis') or '—')} |")
        probs = sorted({p for r in xs_runs for p in (r.get("events") or {}).get("problems") or []})
        if probs:
            out += ["", "Problems seen in the XSched runs' stderr:", ""]
            out += [f"- {p}" for p in probs]
    out.append("")
    return "\n".join(out)



def _runs_table(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    out = ["", "## Runs", "",
           "| # | mode | role | pid | median | unit | exit | valid | why invalid |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        res = r.get("result") or {}
        med = (res.get("summary") or {}).get("median")
        out.append(f"| {r.get('index')} | {r.get('mode')} | {r.get('role')} | {r.get('pid') or '—'} | "
                   f"{_f(med)} | {res.get('unit') or res.get('metric') or '—'} | "
                   f"{_cell(r.get('exit_text'))} | {'yes' if r.get('valid') else '**no**'} | "
                   f"{_cell(r.get('invalid_reason') or '')} |")
    return out


def _priority_runs(runs: Sequence[Mapping[str, Any]], an: Mapping[str, Any]) -> list[str]:
    """The runs of a priority experiment with the number the analysis uses for each (a latency
    role's p99, a throughput role's whole-run rate) beside its per-iteration median, and
    whether it is counted (analysis version 2)."""
    from xsched_tui.core.priority import result_latencies, result_throughput
    from xsched_tui.core.stats import percentile

    counted = set(an.get("counted_runs") or [])
    v2 = "counted_runs" in an
    excl = {e.get("run"): e.get("reason") for e in an.get("excluded") or []}
    out = ["", "## Runs", "",
           "Value analysed: a latency role's p99 over the run's requests; a throughput role's "
           "whole-run rate (work / measured time), which is what the per-configuration table "
           "uses. The per-iteration median is the workload's own summary (for a flat-out role "
           "it can differ from the whole-run rate).", "",
           "| # | trial | mode | role | pid | value analysed | per-iteration median | exit | valid |"
           + (" counted |" if v2 else "") + " why invalid |",
           "|---|---|---|---|---|---|---|---|---|" + ("---|" if v2 else "") + "---|"]
    for r in runs:
        res = r.get("result") or {}
        lat = result_latencies(res)
        if lat:
            val = f"p99 {_f(percentile(lat, 99))} ms (n={len(lat)})"
        else:
            v, u, _ = result_throughput(res)
            val = f"{_f(v)} {u}" if v is not None else "—"
        med = (res.get("summary") or {}).get("median")
        med_s = f"{_f(med)} {res.get('unit') or ''}".rstrip() if med is not None else "—"
        row = (f"| {r.get('index')} | {r.get('trial', '')} | {r.get('mode')} | {r.get('role')} | "
               f"{r.get('pid') or '—'} | {val} | {med_s} | {_cell(r.get('exit_text'))} | "
               + ("yes" if r.get("valid") else
                  "**no** (crashed at exit)" if r.get("crash_at_exit") else "**no**") + " |")
        if v2:
            idx = r.get("index")
            row += (" yes |" if idx in counted else
                    " (calibration) |" if r.get("mode") == "calibrate" else
                    f" no: {_cell(excl[idx])} |" if idx in excl else " no |")
        out.append(row + f" {_cell(r.get('invalid_reason') or '')} |")
    return out

def _lib_cell(lib: Any, snapshot: bool) -> str:
    if lib:
        return os.path.basename(str(lib.get("path")))
    return "—" if snapshot else "not seen"


def _is_xsched(spec: Mapping[str, Any], mode: Any) -> bool:
    return any(m.get("name") == mode and m.get("xsched") for m in spec.get("modes") or [])


# -- listing and comparing -----------------------------------------------------------------------

@dataclass(frozen=True)
class ExperimentEntry:
    folder: str
    name: str
    kind: str
    created: str
    status: str
    verdict: str | None
    valid: int
    invalid: int
    median_pct: float | None
    ci: tuple[float | None, float | None]
    error: str | None = None  # result.json unreadable
    headline: str | None = None  # priority: the foreground's p99 ratios, e.g. "fg p99 native 2.17x"

    def to_json(self) -> dict[str, Any]:
        return {"folder": self.folder, "name": self.name, "kind": self.kind,
                "created": self.created, "status": self.status, "verdict": self.verdict,
                "valid": self.valid, "invalid": self.invalid, "median_pct": self.median_pct,
                "ci_lo_pct": self.ci[0], "ci_hi_pct": self.ci[1], "error": self.error,
                "headline": self.headline}


def _priority_headline(an: Mapping[str, Any]) -> str | None:
    """One line of a priority experiment's result for `runs` (analysis version 1 or 2): the
    foreground's p99 / standalone per co-located configuration; for a bandwidth partition the
    achieved shares (with their CI when kept); for tenants how many met their SLOs."""
    fg = an.get("foreground")
    bits = []
    for s in an.get("stats") or []:
        r = s.get("p99_ratio") or {}
        if s.get("role") == fg and r.get("value") is not None:
            bits.append(f"{s.get('mode')} {r['value']:.2f}x")
    if an.get("variant") == "tenants":
        mode = an.get("xsched_mode") or an.get("native_mode")
        slo = [s.get("slo_met") for s in an.get("stats") or [] if s.get("mode") == mode
               and s.get("slo")]
        if slo:
            return (f"SLOs met {sum(1 for x in slo if x)} of {len(slo)} under {mode}"
                    + (f"; {fg} p99 " + ", ".join(bits) if fg and bits else ""))
    shares = an.get("shares") or {}
    if an.get("variant") == "partition" and shares:
        mode = an.get("xsched_mode") if an.get("xsched_mode") in shares else next(iter(shares))
        ci = (an.get("shares_ci") or {}).get(mode) or {}
        parts = []
        for k, v in shares[mode].items():
            if k == "total_of_standalone" or v is None:
                continue
            c = ci.get(k)
            parts.append(f"{k} {v:.2f}" + (f" [{c[0]:.2f}, {c[1]:.2f}]"
                                           if c and None not in c and c[0] != c[1] else ""))
        return f"shares {mode} " + ", ".join(parts) + \
            f" (total {_f(shares[mode].get('total_of_standalone'), 3)} of standalone)"
    return f"{fg} p99 " + ", ".join(bits) if fg and bits else None


def load_result(path: str) -> dict[str, Any]:
    """``path``: an experiment folder or its result.json. Raises OSError/ValueError."""
    if os.path.isdir(path):
        path = os.path.join(path, RESULT)
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if not isinstance(doc, dict) or not str(doc.get("schema", "")).startswith(SCHEMA_PREFIX):
        raise ValueError(f"{path} is not an xsched-tui experiment result")
    return doc


def entry_of(folder: str) -> ExperimentEntry:
    try:
        doc = load_result(folder)
    except (OSError, ValueError) as exc:
        return ExperimentEntry(folder, os.path.basename(folder), "?", "", "unreadable", None, 0, 0,
                               None, (None, None), str(exc))
    from xsched_tui.core.explock import state

    c = doc.get("counts") or {}
    an = doc.get("analysis") or {}
    # "running" only while its process lives (its folder lock); else it was interrupted
    status = state(folder, str(doc.get("status")))
    return ExperimentEntry(folder, str(doc.get("name")), str(doc.get("kind")), str(doc.get("created")),
                           status, an.get("verdict"), int(c.get("valid", 0)),
                           int(c.get("invalid", 0)), an.get("median_pct"),
                           (an.get("ci_lo_pct"), an.get("ci_hi_pct")),
                           headline=_priority_headline(an) if an.get("kind") == "priority" else None)


def list_experiments(results_dir: str) -> list[ExperimentEntry]:
    """Every experiment folder (one holding result.json) under ``results_dir``, oldest first."""
    if not os.path.isdir(results_dir):
        return []
    out = []
    for name in sorted(os.listdir(results_dir)):
        d = os.path.join(results_dir, name)
        if os.path.isfile(os.path.join(d, RESULT)):
            out.append(entry_of(d))
    return out


def find_experiment(results_dir: str, ref: str) -> str | None:
    """A folder path, a folder name under ``results_dir``, or a unique prefix/suffix of one."""
    if os.path.isdir(ref):
        return ref
    cands = [e.folder for e in list_experiments(results_dir)
             if os.path.basename(e.folder) == ref]
    if not cands:
        cands = [e.folder for e in list_experiments(results_dir)
                 if os.path.basename(e.folder).startswith(ref) or os.path.basename(e.folder).endswith(ref)]
    return cands[0] if len(cands) == 1 else None


def compare_rows(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(what, A, B) rows of two experiments side by side."""
    def row(doc: Mapping[str, Any]) -> dict[str, str]:
        an = doc.get("analysis") or {}
        c = doc.get("counts") or {}
        st = doc.get("setup") or {}
        nat, xs = an.get("native") or {}, an.get("xsched") or {}
        return {
            "name": str(doc.get("name")), "created": str(doc.get("created")),
            "status": str(doc.get("status")), "workload": ", ".join(
                f"{r.get('kind')}" for r in (doc.get("spec") or {}).get("roles") or []),
            "host": str((st.get("host") or {}).get("hostname")),
            "runs valid/invalid": f"{c.get('valid', 0)}/{c.get('invalid', 0)}",
            "metric": str(an.get("metric") or "—"),
            "pairs valid/total": f"{an.get('pairs_valid', '—')}/{an.get('pairs_total', '—')}",
            "A median": _f(nat.get("median")), "B median": _f(xs.get("median")),
            "overhead median": _pct(an.get("median_pct")),
            "overhead 95% CI": f"[{_pct(an.get('ci_lo_pct'))}, {_pct(an.get('ci_hi_pct'))}]",
            "CPU overhead": _pct(an.get("cpu_overhead_pct")),
            "threshold": f"{_f(an.get('threshold_pct'))}%",
            "A/A": str(an.get("aa", "—")),
            "verdict": str(an.get("verdict") or "—"),
        }
    ra, rb = row(a), row(b)
    return [(k, ra[k], rb[k]) for k in ra]
