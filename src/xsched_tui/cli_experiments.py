"""``xsched-tui overhead`` (native vs XSched, paper §7.4) and ``xsched-tui runs`` (past experiments).

overhead exit codes: 0 PASS, 1 INCONCLUSIVE, 2 FAIL or no valid pair, 64 bad usage or
configuration, 75 another experiment is running under the same results folder (nothing
started; --allow-concurrent overrides), 128+N when stopped by signal N (Ctrl+C: 130, SIGTERM:
143); a stopped experiment keeps its finished runs and a result.json with status "cancelled".
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from typing import Any

from xsched_tui.core.config import Config
from xsched_tui.core.expspec import OVERHEAD_WORKLOADS  # stdlib-only module: cheap at parse time

EXIT_USAGE = 64
EXIT_BUSY = 75  # EX_TEMPFAIL: try again when the other experiment has finished
VERDICT_EXIT = {"PASS": 0, "INCONCLUSIVE": 1, "FAIL": 2, "INVALID": 2}
# workload options passed through as given (None: not given, the workload's default applies)
PASSTHROUGH = (("size", int), ("dtype", str), ("model", str), ("batch", int), ("iters", int),
               ("warmup", int), ("duration", float), ("device", str), ("kernels", int))


def add_overhead_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workload", required=True, choices=OVERHEAD_WORKLOADS, help="the workload to measure")
    p.add_argument("--pairs", type=int, default=10, metavar="N",
                   help="native/XSched pairs, interleaved (default 10)")
    p.add_argument("--aa", action="store_true",
                   help="A/A: native vs native, the noise floor (the CI should contain 0)")
    p.add_argument("--threshold", type=float, default=10.0, metavar="PCT",
                   help="pass line for the overhead in %% (default 10; the paper reports < 3.4)")
    p.add_argument("--timeout", type=float, default=600.0, metavar="S",
                   help="hard limit per run in seconds (default 600)")
    p.add_argument("--name", help="experiment name (default overhead-<workload>[-aa])")
    p.add_argument("--allow-unproven", action="store_true",
                   help="count XSched runs whose scheduling cannot be proven (e.g. GLB without "
                   "a reachable xserver) as valid")
    add_concurrency_argument(p)
    p.add_argument("--json", action="store_true",
                   help="print result.json (schema: docs/experiment-result.schema.json)")
    g = p.add_argument_group("workload options (passed to the workload)")
    for name, typ in PASSTHROUGH:
        g.add_argument(f"--{name}", type=typ, default=None)
    g.add_argument("--opt", action="append", default=[], metavar="KEY[=VALUE]",
                   help="any other workload option (repeatable; KEY alone turns a switch on)")


def add_runs_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the list (or comparison) as JSON")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"),
                   help="two experiments side by side (folder, folder name or unique prefix)")


def _options(ns: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {name: getattr(ns, name) for name, _ in PASSTHROUGH
                            if getattr(ns, name, None) is not None}
    for kv in ns.opt or []:
        k, eq, v = kv.partition("=")
        if not k:
            raise ValueError(f"--opt {kv!r}: expected KEY=VALUE or KEY")
        opts[k.replace("-", "_")] = v if eq else True
    return opts


def _err(msg: str) -> None:
    print(f"xsched-tui overhead: {msg}", file=sys.stderr)


def run_overhead(ns: argparse.Namespace, cfg: Config) -> int:
    from xsched_tui.core.expspec import build_overhead_spec

    try:
        opts = _options(ns)
        opts.setdefault("stream", cfg.stream)  # the configured stream (XSched ignores the default one)
        spec = build_overhead_spec(cfg, ns.workload, opts, pairs=ns.pairs, threshold_pct=ns.threshold,
                                   aa=ns.aa, timeout_s=ns.timeout, name=ns.name,
                                   allow_unproven=ns.allow_unproven)
    except (ValueError, TypeError) as exc:
        _err(str(exc))
        return EXIT_USAGE

    res = execute(spec, cfg, ns.json, _summary_text, "overhead", ns.allow_concurrent)
    if isinstance(res, int):
        return res
    out = res
    verdict = (out.analysis or {}).get("verdict")
    if verdict in (None, "INVALID"):
        reasons = sorted({r.invalid_reason for r in out.runs if not r.valid and r.invalid_reason})
        _err("no valid pair: " + ("; ".join(reasons[:5]) or "no run completed"))
    return VERDICT_EXIT.get(str(verdict), 2)


def add_concurrency_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-concurrent", action="store_true",
                   help="start even while another experiment runs under the same results folder "
                   "(both measure a shared GPU: their numbers skew each other)")


def execute(spec: Any, cfg: Config, as_json: bool, summary: Any, command: str,
            allow_concurrent: bool = False) -> Any:
    """Run an experiment headless with progress on stderr, the summary (or result.json) on
    stdout; Ctrl+C/SIGTERM/SIGHUP cancel it and keep the finished runs. Returns the outcome, or
    an exit code when it was cancelled, failed internally or could not start."""
    from xsched_tui.core import explock
    from xsched_tui.core.experiment import ExperimentRunner, RunFinished, RunStarted

    busy = None if allow_concurrent else explock.refusal(cfg.results)
    if busy:
        print(f"xsched-tui {command}: {busy}", file=sys.stderr)
        return EXIT_BUSY

    def on_event(ev: Any) -> None:
        if isinstance(ev, RunStarted):
            print(f"[{ev.index}/{ev.total}] {ev.mode}/{ev.role} started (pid {ev.pid})",
                  file=sys.stderr, flush=True)
        elif isinstance(ev, RunFinished):
            val = f"{ev.value:.4g} {ev.metric}" if ev.value is not None else "no value"
            why = "valid" if ev.valid else f"INVALID: {ev.invalid_reason}"
            print(f"[{ev.index}/{ev.total}] {ev.mode}/{ev.role}: {val}, {ev.exit_text}, {why}",
                  file=sys.stderr, flush=True)

    try:
        runner = ExperimentRunner(spec, cfg, results_dir=cfg.results, on_event=on_event)
    except OSError as exc:
        print(f"xsched-tui {command}: cannot create the results folder under {cfg.results}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    got: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        got.append(signum)
        runner.cancel()  # only flags: the runner stops the children and writes "cancelled"

    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        print(f"experiment folder: {runner.folder}", file=sys.stderr, flush=True)
        out = runner.run()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    with open(out.result_path, encoding="utf-8") as f:
        doc = json.load(f)
    print(json.dumps(doc, indent=2) if as_json else summary(doc))
    if out.status == "cancelled":
        print(f"cancelled: {len(out.runs)} finished run(s) kept in {out.folder}", file=sys.stderr)
        return 128 + got[0] if got else 130
    if out.status == "error":
        print(f"xsched-tui {command}: the experiment stopped on an internal error: "
              f"{doc.get('message')}", file=sys.stderr)
        return 2
    return out


def _summary_text(doc: dict[str, Any]) -> str:
    an = doc.get("analysis") or {}
    c = doc.get("counts") or {}
    lines = [f"{doc.get('name')}: {doc.get('status')}, runs {c.get('done')}/{c.get('planned')} "
             f"({c.get('valid')} valid, {c.get('invalid')} invalid)"]
    if an.get("pairs_valid") is not None:
        def pct(v: Any) -> str:
            return "—" if v is None else f"{v:+.2f}%"
        lines.append(f"metric {an.get('metric')}: overhead median {pct(an.get('median_pct'))}, "
                     f"95% CI [{pct(an.get('ci_lo_pct'))}, {pct(an.get('ci_hi_pct'))}], "
                     f"{an.get('pairs_valid')}/{an.get('pairs_total')} valid pairs")
        if an.get("cpu_overhead_pct") is not None:
            lines.append(f"CPU time per unit of work: {pct(an.get('cpu_overhead_pct'))}")
        for d in an.get("dropped") or []:
            lines.append(f"  dropped {d}")
        lines.append(f"threshold {an.get('threshold_pct')}% (paper: < {an.get('paper_pct')}% at Level 1)")
    lines.append(f"verdict: {an.get('verdict') or 'none'}" +
                 (f": {an.get('verdict_reason')}" if an.get("verdict_reason") else ""))
    lines.append(f"report: {os.path.join(str(doc.get('folder')), 'report.md')}")
    return "\n".join(lines)


def run_runs(ns: argparse.Namespace, cfg: Config) -> int:
    from xsched_tui.core import expreport

    root = cfg.results
    if ns.compare:
        docs = []
        for ref in ns.compare:
            folder = expreport.find_experiment(root, ref)
            if folder is None:
                print(f"xsched-tui runs: no single experiment matches {ref!r} in {root}", file=sys.stderr)
                return 1
            try:
                docs.append(expreport.load_result(folder))
            except (OSError, ValueError) as exc:
                print(f"xsched-tui runs: {folder}: {exc}", file=sys.stderr)
                return 1
        rows = expreport.compare_rows(docs[0], docs[1])
        if ns.json:
            print(json.dumps({"a": docs[0].get("folder"), "b": docs[1].get("folder"),
                              "rows": [{"what": w, "a": a, "b": b} for w, a, b in rows]}, indent=2))
            return 0
        w0 = max(len(r[0]) for r in rows)
        w1 = max(max(len(r[1]) for r in rows), 1)
        print(f"{'':<{w0}}  {'A':<{w1}}  B")
        for w, a, b in rows:
            mark = "" if a == b or w in ("name", "created") else "  *"
            print(f"{w:<{w0}}  {a:<{w1}}  {b}{mark}")
        return 0
    entries = expreport.list_experiments(root)
    if ns.json:
        print(json.dumps([e.to_json() for e in entries], indent=2))
        return 0
    if not entries:
        print(f"no experiments in {root}")
        return 0
    print(f"{'EXPERIMENT':<44} {'STATUS':<11} {'VERDICT':<17} {'VALID':>5} {'INVAL':>5}  RESULT")
    for e in entries:
        ov = "—" if e.median_pct is None else f"overhead {e.median_pct:+.2f}%"
        if e.ci[0] is not None and e.ci[1] is not None:
            ov += f" [{e.ci[0]:+.2f}, {e.ci[1]:+.2f}]"
        if e.headline:
            ov = e.headline
        print(f"{os.path.basename(e.folder):<44} {e.status:<11} {e.verdict or '—':<17} "
              f"{e.valid:>5} {e.invalid:>5}  {ov}" + (f"  ({e.error})" if e.error else ""))
    return 0
