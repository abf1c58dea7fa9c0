"""Every benchmark in benchmarks/, one table: metric | budget (../shared/PERFORMANCE.md) | median |
spread | n | verdict, then the machine and its load average.

    python -m benchmarks [--quick] [--only NAME[,NAME]] [--json FILE] [--skip-compare]
        [--install-compare] [--list]

Each benchmark module's own function is called in this process (the app, htop and toolong run in
ptys, the big-file runs in child processes), with ``--quick`` sizes (small n, short phases: for CI)
or the modules' defaults. The suite holds an exclusive flock on /tmp/xsched-bench.lock while it
measures, so concurrent benchmark runs on a shared machine wait for each other instead of
measuring each other. A benchmark that fails becomes an ERROR row; the suite goes on.

Verdicts compare the statistic named in the budget (the median unless it says p95) with the
budget; they are provisional on a loaded 2-vCPU machine: read the load average printed with them.
Comparison rows (htop, toolong) give our median, theirs and the ratio; missing tools are reported
as "not installed (how to install)", never as a failure.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks import compare
from benchmarks.ptyapp import bench_lock, load_line
from benchmarks.stats import Summary, machine

Say = Callable[[str], None]
KIB = 1 / 1024


@dataclass
class Row:
    group: str
    metric: str
    budget: str  # as PERFORMANCE.md states it, "—" when it sets none
    median: float | None  # in ``unit``
    unit: str
    spread: str  # p95 and the bootstrap 95% CI of the median, or the CI of a slope
    n: int
    verdict: str  # PASS, MISS, n/a (no budget), ERROR, or why it was not measured
    p95: float | None = None
    ci_lo: float | None = None
    ci_hi: float | None = None
    note: str = ""
    other: dict = field(default_factory=dict)  # comparisons: the other tool's figures and the ratio


def _g(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    a = abs(v)
    if float(v).is_integer() and a < 100_000:
        return f"{int(v)}"
    if a >= 100_000:
        return f"{v / 1000:.0f}k"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}" if a >= 0.01 or a == 0 else f"{v:.2g}"


def stat_row(group: str, metric: str, s: Summary | None, unit: str, scale: float = 1.0,
             limit: tuple[str, float] | None = None, budget: str | None = None, on: str = "median",
             note: str = "") -> Row:
    """A row from a Summary (scaled into ``unit``); the verdict compares ``on`` (median or p95)
    with ``limit`` = ("<=" | ">=", value in ``unit``)."""
    if budget is None:
        budget = f"{'≤' if limit and limit[0] == '<=' else '≥'} {_g(limit[1])} {unit}" if limit else "—"
        if limit and on == "p95":
            budget = "p95 " + budget
    if s is None or s.n == 0:
        return Row(group, metric, budget, None, unit, "", 0, "n/a", note=note or "no samples")
    med, p95, lo, hi = s.median * scale, s.p95 * scale, s.lo * scale, s.hi * scale
    verdict = "n/a"
    if limit is not None and not math.isnan(med):
        v = p95 if on == "p95" else med
        verdict = "PASS" if (v <= limit[1] if limit[0] == "<=" else v >= limit[1]) else "MISS"
    return Row(group, metric, budget, med, unit, f"p95 {_g(p95)}; CI {_g(lo)}-{_g(hi)}", s.n, verdict,
               p95, lo, hi, note)


def missing_row(group: str, metric: str, why: str) -> Row:
    return Row(group, metric, "—", None, "", "", 0, why)


# -- the benchmarks -------------------------------------------------------------------------------
# Each takes (quick, say, results) and returns rows; ``results`` keeps raw figures for comparisons.


def b_startup(quick: bool, say: Say, res: dict) -> list[Row]:
    import tempfile

    from benchmarks import bench_startup
    from benchmarks.ptyapp import make_log_dir

    n = 3 if quick else 10
    s = bench_startup.run(n)
    with tempfile.TemporaryDirectory(prefix="bench-startup-64-") as d:
        make_log_dir(d, 64, marker=False)
        s64 = bench_startup.run(n, [sys.executable, "-m", "xsched_tui", "--results", f"{d}/.results",
                                    "--probe-timeout", "5", "app", "--logs", d])
    res["first_paint"], res["first_paint_64"] = s, s64
    return [stat_row("startup", "first paint (pty, default screen)", s, "s", limit=("<=", 0.5)),
            stat_row("startup", "first paint, 64 log files attached", s64, "s", limit=("<=", 0.5))]


def b_check(quick: bool, say: Say, res: dict) -> list[Row]:
    from benchmarks import bench_check

    cli, inproc = bench_check.run(3 if quick else 10)
    return [stat_row("startup", "check --no-live, whole command", cli, "s", limit=("<=", 1.0)),
            stat_row("startup", "check --no-live, checks only", inproc, "s")]


def b_parse(quick: bool, say: Say, res: dict) -> list[Row]:
    from benchmarks import bench_parse

    nlines = 200_000 if quick else 1_000_000
    r = bench_parse.measure(2 if quick else 5, nlines)
    lim = (">=", 500.0)  # k lines/s: PERFORMANCE.md "bursts to >= 500 k lines/s parse ceiling"
    rows = []
    impl = bench_parse.parser_impl()
    for key, label in (("streaming", "parse, streaming, recorded xserver log"),
                       ("live", "parse as the live tail, recorded xserver log"),
                       ("mix", "parse, streaming, writer's line mix"),
                       ("mix-live", "parse as the live tail, writer's line mix"),
                       ("kept", "parse, all records kept (headless logs)")):
        s, g = r[key]
        note = f"{nlines} lines, one core; GC {100 * g.median:.0f} % of it"
        if key.endswith("live"):
            note += f"; lazy records, {impl} hot loop"
        rows.append(stat_row("logs", label, s, "k lines/s", 1e-3, limit=lim if key != "kept" else None,
                             note=note))
    return rows


def b_logmodel(quick: bool, say: Say, res: dict) -> list[Row]:
    from benchmarks import bench_logmodel

    r = bench_logmodel.measure(64, 10_000, 20 if quick else 60, 90.0)
    return [stat_row("logs", "LogModel.ingest per line (UI thread)", r["per_line"], "µs", 1e6,
                     note=f"64 sources, {r['lines_per_batch']}-line batches, merged window {r['window']}")]


def b_tail(quick: bool, say: Say, res: dict) -> list[Row]:
    from benchmarks import bench_tail

    secs = 5.0 if quick else 10.0
    s, _nb, nw, status = bench_tail.idle(64, secs, watch=True)
    rows = [stat_row("logs", "64 idle files, hub + watcher (no UI)", s, "%", limit=("<=", 1.0),
                     note=f"{nw} wake-ups in {secs:.0f} s; {status}")]
    r = bench_tail.busy(64, 3.0 if quick else 10.0, 100_000.0)
    note = f"{r['rate']:.0f} lines/s written, {r['delivered']} delivered, {r['skipped']} skipped"
    rows += [stat_row("logs", "hub ingest CPU at 100k lines/s, 64 files (no UI)", r["cpu"], "%",
                      limit=("<=", 50.0), note=note),
             stat_row("logs", "write->hub delivery latency at 100k lines/s", r["lat"], "ms", 1e3,
                      limit=("<=", 250.0), on="p95")]
    return rows


def b_proctree(quick: bool, say: Say, res: dict) -> list[Row]:
    from benchmarks import bench_proctree

    r = bench_proctree.measure_all(10 if quick else 50, 100)
    return [stat_row("processes", "process scan, 100-process subtree, per refresh", r["steady"], "ms", 1e3,
                     limit=("<=", 5.0)),
            stat_row("processes", "first refresh of 100 new processes (once)", r["first"], "ms", 1e3),
            stat_row("processes", f"discover(), whole /proc ({r['nproc']} processes, every 3 s)",
                     r["discover"], "ms", 1e3)]


def b_bigfile(quick: bool, say: Say, res: dict) -> list[Row]:
    from benchmarks import bench_bigfile
    from benchmarks.stats import summarize

    size = 64 if quick else 1024
    runs, _meta = bench_bigfile.measure(Path("/tmp/xsched-tui-bench"), size, 1 if quick else 3, False,
                                       tui=not quick)
    k = size / 1024  # the time budgets are for 1 GiB and scale with the file; the others do not

    def s(key: str) -> Summary:
        return summarize([r[key] for r in runs])

    what = f"{size} MiB log" if size != 1024 else "1 GiB log"
    rows = [stat_row("logs", f"{what}: tail visible", s("tail_s"), "s", limit=("<=", 0.5)),
            stat_row("logs", f"{what}: full line index", s("index_s"), "s", limit=("<=", 3.0 * k),
                     note="" if size == 1024 else "budget scaled from 3 s per GiB"),
            stat_row("logs", f"{what}: error/warn index", s("levels_s"), "s", limit=("<=", 5.0 * k),
                     note="" if size == 1024 else "budget scaled from 5 s per GiB"),
            stat_row("logs", f"{what}: steady RSS after indexing", s("steady_rss_kib"), "MiB", KIB,
                     limit=("<=", 200.0)),
            stat_row("logs", f"{what}: peak RSS", s("peak_rss_kib"), "MiB", KIB, limit=("<=", 300.0)),
            stat_row("logs", f"{what}: line index size", summarize([r["index_bytes"] / r["lines"]
                                                                  for r in runs]), "B/line",
                     limit=("<=", 10.0))]
    if "tui_tail_s" in runs[0]:
        rows += [stat_row("logs", f"{what}: tail on screen in the widget", s("tui_tail_s"), "s",
                          limit=("<=", 0.5)),
                 stat_row("logs", f"{what}: widget process peak RSS", s("tui_peak_rss_kib"), "MiB", KIB,
                          limit=("<=", 300.0))]
    return rows


def b_logs(quick: bool, say: Say, res: dict) -> list[Row]:
    from benchmarks import bench_logs_app

    a = bench_logs_app.options(["--seconds", "4", "--idle", "4"] if quick else [])
    r = bench_logs_app.run(a, say)
    res["logs"] = r
    idle = r["idle"]
    rows = [stat_row("app (pty)", "idle CPU, Logs tab, 65 files", idle["cpu"], "%", limit=("<=", 0.5),
                     note=f"whole window {idle['whole']:.2f} %"),
            stat_row("app (pty)", "tty bytes/s idle, Logs tab", idle["bps"], "KiB/s", KIB)]
    for p in r["phases"]:
        rate = f"{p['target_rate'] / 1000:.0f}k lines/s"
        note = f"{p['rate']:.0f} lines/s written; whole window {p['whole']:.1f} %"
        if p["view"] == "b":
            rows += [stat_row("app (pty)", f"CPU tailing {rate}, 64 files, merged view", p["cpu"], "%",
                              limit=("<=", 50.0), note=note),
                     stat_row("app (pty)", f"tty bytes/s tailing {rate}", p["bps"], "KiB/s", KIB,
                              limit=("<=", 64.0))]
        elif p["view"] == "c":
            from benchmarks.stats import summarize

            lat = summarize(p["lat"]) if p["lat"] else None
            rows.append(stat_row("app (pty)", f"write->screen latency at {rate}", lat, "ms", 1e3,
                                 limit=("<=", 250.0), on="p95",
                                 note=f"{p['marks']} markers, {p['missed']} never seen"))
    return rows


def b_procs(quick: bool, say: Say, res: dict) -> list[Row]:
    from benchmarks import bench_procs_app
    from benchmarks.stats import summarize

    a = bench_procs_app.options(["--seconds", "5"] if quick else [])
    r = bench_procs_app.run(a, say)
    res["procs"] = r
    idle, procs, xq = r["idle"], r["procs"], r["xqueues"]
    rss = summarize([idle["rss_kib"]]) if idle.get("rss_kib") else None
    return [stat_row("app (pty)", "idle CPU, nothing under test", idle["cpu"], "%", limit=("<=", 0.5),
                     note=f"whole window {idle['whole']:.2f} %"),
            stat_row("app (pty)", "tty bytes/s idle", idle["bps"], "KiB/s", KIB),
            stat_row("app (pty)", f"CPU at 1 Hz, Processes tab, {a.procs} processes", procs["cpu"], "%",
                     limit=("<=", 3.0), note=f"whole window {procs['whole']:.2f} %; hard cap 5 %"),
            stat_row("app (pty)", "tty bytes/s at 1 Hz, Processes tab", procs["bps"], "KiB/s", KIB,
                     limit=("<=", 10.0)),
            stat_row("app (pty)", f"CPU at 1 Hz, XQueues tab, {a.procs * a.queues} XQueues", xq["cpu"], "%",
                     limit=("<=", 3.0), note=f"whole window {xq['whole']:.2f} %"),
            stat_row("app (pty)", "base RSS, nothing under test", rss, "MiB", KIB, limit=("<=", 60.0),
                     note="one reading at the end of the idle phase")]


def b_soak(quick: bool, say: Say, res: dict) -> list[Row]:
    from benchmarks import bench_soak
    from benchmarks.stats import summarize

    argv = ["--minutes", "0.5", "--files", "8", "--rate", "10000"] if quick else []
    a = bench_soak.options(argv)
    r = bench_soak.run(a, say)
    bench_soak.report(r, say)
    res["soak"] = r
    what = (f"{r['seconds']:.0f} s = {r['refreshes']:.0f} refreshes ({r['refresh_count']}) at "
            f"--interval {a.interval:g} s")
    # 30 s cannot say anything about a bound: the line buffers are still filling. A smoke run.
    verdict = "n/a" if quick else r["verdict"]
    slope = Row("soak", "RSS growth per refresh (slope after warm-up)", "≤ 15 KB",
                r["slope_b_per_refresh"] / 1000, "KB", f"CI {_g(r['ci_lo'] / 1000)}-{_g(r['ci_hi'] / 1000)}",
                r["n"], verdict, None, r["ci_lo"] / 1000, r["ci_hi"] / 1000,
                f"{what}; {a.files} files at {a.rate:.0f} lines/s, {a.procs} processes; "
                f"warm-up {r['warmup_s']:.0f} s" + ("; a 30 s smoke run: no verdict" if quick else ""))
    peak = summarize([r["peak_rss_kib"]]) if r.get("peak_rss_kib") else None
    return [slope, stat_row("soak", "peak RSS during the soak (VmHWM)", peak, "MiB", KIB, note=what)]


BENCHES: dict[str, Callable[[bool, Say, dict], list[Row]]] = {
    "startup": b_startup, "check": b_check, "parse": b_parse, "logmodel": b_logmodel, "tail": b_tail,
    "proctree": b_proctree, "bigfile": b_bigfile, "procs": b_procs, "logs": b_logs, "soak": b_soak,
}
COMPARE = ("htop", "toolong")


# -- comparisons ---------------------------------------------------------------------------------


def cmp_row(tool: str, metric: str, ours: Summary | None, theirs: Summary | None, unit: str,
            scale: float, note: str = "") -> Row:
    r = stat_row(f"vs {tool}", metric, ours, unit, scale, note=note)
    r.budget = "—"
    q = compare.ratio(ours, theirs)
    r.other = {"tool": tool, "median": theirs.median * scale if theirs else None,
               "p95": theirs.p95 * scale if theirs else None, "n": theirs.n if theirs else 0,
               "ratio": q}
    r.verdict = f"{q:.2f}x" if q is not None else ("ours not measured" if ours is None else "n/a")
    return r


def c_htop(quick: bool, say: Say, res: dict) -> list[Row]:
    h = compare.measure_htop(5.0 if quick else 15.0, 3 if quick else 10, say)
    if "missing" in h:
        return [missing_row("vs htop", "htop", h["missing"])]
    procs = res.get("procs", {})
    note = f"{h['version']}; htop shows all {h['nproc']} processes, ours a subtree"
    return [
        cmp_row("htop", "idle CPU: ours idle vs htop default (1.5 s)", procs.get("idle", {}).get("cpu"),
                h["default"]["cpu"], "%", 1, note),
        cmp_row("htop", "CPU at 1 Hz: Processes tab vs htop -d 10", procs.get("procs", {}).get("cpu"),
                h["1hz"]["cpu"], "%", 1),
        cmp_row("htop", "tty bytes/s at 1 Hz vs htop -d 10", procs.get("procs", {}).get("bps"),
                h["1hz"]["bps"], "KiB/s", KIB),
        cmp_row("htop", "tty bytes/s idle vs htop default", procs.get("idle", {}).get("bps"),
                h["default"]["bps"], "KiB/s", KIB),
        cmp_row("htop", "first paint", res.get("first_paint"), h["first_paint"], "s", 1),
    ]


def c_toolong(quick: bool, say: Say, res: dict) -> list[Row]:
    t = compare.measure_toolong(64, 5.0 if quick else 15.0, 10_000.0, 3 if quick else 10, say)
    if "missing" in t:
        return [missing_row("vs toolong", "toolong", t["missing"])]
    logs = res.get("logs", {})
    ten = next((p for p in logs.get("phases", []) if p["view"] == "b" and p["target_rate"] == 10_000), {})
    note = f"{t['version']}; toolong: one tab per file, the first on screen; ours: merged view"
    busy, single = t["busy"], t["single"]
    drew = "" if busy["drew"] else "; toolong drew no log line at all with 64 files: not comparable"
    rows = [
        cmp_row("toolong", "idle CPU, 64 files", logs.get("idle", {}).get("cpu"), t["idle"]["cpu"], "%", 1,
                note),
        cmp_row("toolong", "tty bytes/s idle, 64 files", logs.get("idle", {}).get("bps"),
                t["idle"]["bps"], "KiB/s", KIB),
        cmp_row("toolong", "CPU tailing 10k lines/s, 64 files", ten.get("cpu"), busy["cpu"], "%", 1,
                f"toolong's writer: {busy['rate']:.0f} lines/s{drew}"),
        cmp_row("toolong", "tty bytes/s tailing 10k lines/s, 64 files", ten.get("bps"), busy["bps"],
                "KiB/s", KIB),
        cmp_row("toolong", "CPU tailing 10k lines/s: ours 64 files, toolong 1 file", ten.get("cpu"),
                single["cpu"], "%", 1, f"toolong's writer: {single['rate']:.0f} lines/s into one file"
                + ("" if single["drew"] else "; toolong drew no log line")),
        cmp_row("toolong", "tty bytes/s tailing 10k lines/s: ours 64 files, toolong 1 file", ten.get("bps"),
                single["bps"], "KiB/s", KIB),
        cmp_row("toolong", "first paint (tab bar), 64 log files", res.get("first_paint_64"), t["first_paint"],
                "s", 1),
    ]
    if not busy["drew"]:
        for r in rows[2:4]:
            r.verdict = "not comparable"
    return rows


COMPARERS: dict[str, Callable[[bool, Say, dict], list[Row]]] = {"htop": c_htop, "toolong": c_toolong}


# -- output --------------------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    main_rows = [r for r in rows if not r.other and not r.group.startswith("vs ")]
    cmp_rows = [r for r in rows if r.group.startswith("vs ")]
    out = []
    head = ("metric", "budget", "median", "spread", "n", "verdict")
    body = [(f"{r.group}: {r.metric}", r.budget, f"{_g(r.median)} {r.unit}" if r.median is not None else "—",
             r.spread or "—", str(r.n), r.verdict) for r in main_rows]
    out += _grid(head, body)
    notes = [f"  {r.group}: {r.metric}: {r.note}" for r in main_rows if r.note]
    if notes:
        out += ["", "notes:", *notes]
    if cmp_rows:
        head = ("comparison (same pty, same sampling)", "xsched-tui median", "other median (p95)",
                "n (ours/other)", "ratio ours/other")
        body = []
        for r in cmp_rows:
            o = r.other
            if not o:
                body.append((f"{r.group}: {r.metric}", "—", r.verdict, "—", "—"))
                continue
            theirs = f"{_g(o['median'])} {r.unit} ({_g(o['p95'])})" if o["median"] is not None else "—"
            ours = f"{_g(r.median)} {r.unit} ({_g(r.p95)})" if r.median is not None else "—"
            body.append((f"{r.group}: {r.metric}", ours, theirs, f"{r.n}/{o['n']}", r.verdict))
        out += ["", *_grid(head, body)]
        notes = [f"  {r.group}: {r.note}" for r in cmp_rows if r.note]
        if notes:
            out += ["notes:", *notes]
    return "\n".join(out)


def _grid(head: tuple[str, ...], body: list[tuple[str, ...]]) -> list[str]:
    w = [max(len(x) for x in col) for col in zip(head, *body, strict=False)]
    line = lambda cells: "| " + " | ".join(c.ljust(n) for c, n in zip(cells, w, strict=True)) + " |"  # noqa: E731
    return [line(head), "|" + "|".join("-" * (n + 2) for n in w) + "|", *map(line, body)]


def options(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small n and short phases (CI: ~3 min)")
    ap.add_argument("--only", default=None, help="comma-separated: " + ",".join([*BENCHES, *COMPARE]))
    ap.add_argument("--json", metavar="FILE", default=None, help="write every row (and the machine) here")
    ap.add_argument("--skip-compare", action="store_true", help="no htop/toolong comparison")
    ap.add_argument("--install-compare", action="store_true",
                    help="try to install htop (apt-get) and toolong (its own venv in /tmp) first")
    ap.add_argument("--list", action="store_true", help="list the benchmark names and exit")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = options(argv)
    names = [*BENCHES, *COMPARE]
    if a.list:
        print("\n".join(names))
        return 0
    only = [x.strip() for x in a.only.split(",") if x.strip()] if a.only else names
    bad = [x for x in only if x not in names]
    if bad:
        print(f"unknown benchmark(s) {', '.join(bad)}; choose from {', '.join(names)}", file=sys.stderr)
        return 64
    if a.skip_compare:
        only = [x for x in only if x not in COMPARE]

    def say(s: str) -> None:
        print(f"  {s}", file=sys.stderr, flush=True)

    rows: list[Row] = []
    res: dict = {}
    started = time.time()
    load_before = load_line()
    if a.install_compare and any(x in COMPARE for x in only):
        compare.install(say)
    with bench_lock(say=say):
        for name in only:
            fn = BENCHES.get(name) or COMPARERS[name]
            print(f"[{name}] …", file=sys.stderr, flush=True)
            t0 = time.monotonic()
            try:
                rows += fn(a.quick, say, res)
            except (Exception, SystemExit) as e:  # a broken benchmark is a row, not the end of the suite
                traceback.print_exc(file=sys.stderr)
                rows.append(Row(name, f"{name} benchmark", "—", None, "", "", 0, "ERROR",
                                note=f"{type(e).__name__}: {e}"[:300]))
            print(f"[{name}] {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    mach = machine()
    print(table(rows))
    print(f"\nmachine: {mach}")
    print(f"load before: {load_before}; after: {load_line()}; {'quick' if a.quick else 'full'} run, "
          f"{time.time() - started:.0f} s. Provisional: other work on this machine inflates CPU % "
          "and latency.")
    if a.json:
        doc = {"machine": mach, "quick": a.quick, "started": started, "seconds": time.time() - started,
               "load_before": load_before, "load_after": load_line(), "rows": [asdict(r) for r in rows]}
        Path(a.json).write_text(json.dumps(doc, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
