"""Long-run memory of the whole app (PERFORMANCE.md "Long-run stability": <= 15 KB growth per
refresh, bounded history ring buffers, e.g. 1 h at 1 Hz).

    python -m benchmarks.bench_soak [--minutes 8] [--interval 0.1] [--rate 20000] [--files 64]
        [--procs 8] [--queues 4] [--cycle 10] [--warmup S] [--json FILE]

An hour compressed into minutes: ``xsched-tui app --logs DIR --xserver ... --interval 0.1`` runs
in a real 120x40 pty (benchmarks/ptyapp.py) and refreshes its process collector, xserver poller
and panes ten times a second, so 6 minutes would be 3600 refreshes, one hour at the default 1 Hz
(if it keeps up: the xserver double counts the polls it answers, and that count is the x axis).
Meanwhile (all real, as in bench_procs_app and bench_logs_app):
- a writer process appends XSched-format lines to ``--files`` log files at ``--rate`` lines/s in
  total, far more than the app keeps (20k lines per source, 100k merged): its line buffers fill
  up during the warm-up and must then stay at their caps;
- ``--procs`` ``sleep`` processes run with the XSched test double preloaded (the app discovers
  them), and an xserver double answers ``--queues`` XQueues per process whose ready/suspended
  flags change on every poll: the sample histories fill up and must stay bounded;
- every ``--cycle`` seconds the next tab is shown (``]``), so every pane draws its data.

The app's RSS (/proc/PID/status VmRSS) is sampled once a second. Growth per refresh is the
least-squares slope of RSS against the refresh count after the warm-up, with a 95% CI from a
moving-block bootstrap (the samples are a time series); also B/s, what that slope means for an
hour at 1 Hz, and the peak (VmHWM). The refresh count is the number of /xqueues polls the xserver
double answered (one per refresh of the poller; the app does not report its own count), or
elapsed / interval when there were none. The warm-up defaults to three times the time the writer
needs to fill the per-source line caps (at least 60 s), at most half the run: the app reads
behind the writer when it is busy, so the buffers fill later than the writer alone suggests.
"""

from __future__ import annotations

import argparse
import inspect
import itertools
import json
import math
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.bench_procs_app import Flipping, answers_for, kill_all, start_workloads
from benchmarks.ptyapp import App, Writer, load_line, make_log_dir, proc_status_kib, quiet
from benchmarks.stats import machine, ols_slope, slope_ci, summarize

BUDGET_B_PER_REFRESH = 15_000  # PERFORMANCE.md: "<= 15 KB growth per refresh" (glances' threshold)
_SKIPPED = re.compile(rb"(\d+) log lines skipped")
Say = Callable[[str], None]


def line_caps(files: int) -> int:
    """Lines the app keeps for ``files`` busy sources: LogModel's per-source cap times the sources
    (read from its signature, so this follows the app; the merged window holds the same lines)."""
    from xsched_tui.core.logmodel import LogModel

    return files * inspect.signature(LogModel).parameters["per_source_max"].default


def options(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=8.0,
                    help="length of the run (6 min = 3600 refreshes at --interval 0.1 if the app keeps up)")
    ap.add_argument("--interval", type=float, default=0.1, help="the app's refresh interval, s")
    ap.add_argument("--rate", type=float, default=20_000.0, help="lines/s over all files")
    ap.add_argument("--files", type=int, default=64)
    ap.add_argument("--procs", type=int, default=8, help="processes under test")
    ap.add_argument("--queues", type=int, default=4, help="XQueues per process (xserver double)")
    ap.add_argument("--cycle", type=float, default=10.0, help="show the next tab every S seconds (0: never)")
    ap.add_argument("--warmup", type=float, default=None, help="seconds left out of the slope")
    ap.add_argument("--json", metavar="FILE", default=None, help="write the result and the RSS series")
    return ap.parse_args(argv)


def default_warmup(a: argparse.Namespace) -> float:
    seconds = a.minutes * 60
    fill = line_caps(a.files) / a.rate if a.rate > 0 else 0.0
    return min(max(60.0, 3.0 * fill), seconds / 2)


def run(a: argparse.Namespace, say: Say = print) -> dict:
    """The soak; returns the figures and the series (t, RSS KiB, CPU s, tty bytes) per second."""
    from doubles.xsched_double import build_double_install

    seconds = a.minutes * 60
    warmup = a.warmup if a.warmup is not None else default_warmup(a)
    series: list[tuple[float, int, float, int, int]] = []
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        lib = build_double_install(Path(tmp) / "xs", "cuda")
        logs = os.path.join(tmp, "logs")
        os.makedirs(logs)
        make_log_dir(logs, a.files)
        procs = start_workloads(lib, logs, a.procs)
        writer = None
        try:
            flip = Flipping(answers_for([p.pid for p in procs], a.queues))
            with flip as srv:
                app = App(logs, extra=("--xserver", f"127.0.0.1:{srv.port}"),
                          app_args=("--interval", f"{a.interval:g}"))
                try:
                    if not app.wait_text(b"Checks", 20):
                        raise RuntimeError("the app did not paint its first frame in 20 s")
                    quiet(app, below=5.0, window=1.0, limit=15)
                    app.send(b"]")  # Processes tab first: the collector's rows are drawn
                    writer = Writer(logs, a.rate, seconds + 30, a.files)
                    say(f"soak: app pid {app.pid}, {a.files} files at {a.rate:.0f} lines/s, {a.procs} "
                        f"processes x {a.queues} XQueues, --interval {a.interval:g} s, {seconds:.0f} s "
                        f"(warm-up {warmup:.0f} s)")
                    writer.go()
                    start = time.monotonic()
                    polls0 = flip.n  # the polls while it started are not part of the run
                    next_tab = a.cycle
                    for i in range(int(seconds)):
                        time.sleep(max(0.0, start + i + 1 - time.monotonic()))
                        t = time.monotonic() - start
                        rss = proc_status_kib(app.pid, "VmRSS")
                        if rss is None:
                            raise RuntimeError(f"the app exited after {t:.0f} s")
                        series.append((t, rss, app.cpu(), app.nbytes, flip.n - polls0))
                        if a.cycle and t >= next_tab:
                            next_tab += a.cycle
                            app.send(b"]")
                        if i % 60 == 59:
                            say(f"  {t:4.0f} s  RSS {rss / 1024:6.1f} MiB")
                    peak = proc_status_kib(app.pid, "VmHWM")
                    with app.lock:
                        tail = app.text_tail
                    skipped = [int(m.group(1)) for m in _SKIPPED.finditer(tail)]
                finally:
                    app.stop()
                requests = len(srv.requests)
        finally:
            if writer is not None:
                writer.kill()
            kill_all(procs)
    return analyse(a, series, warmup, peak, skipped[-1] if skipped else 0, requests)


def analyse(a: argparse.Namespace, series: list[tuple[float, int, float, int, int]], warmup: float,
            peak_kib: int | None, skipped: int, requests: int) -> dict:
    after = [s for s in series if s[0] >= warmup]
    polled = bool(series and series[-1][4])
    refreshes = [float(s[4]) if polled else s[0] / a.interval for s in after]
    rss_b = [s[1] * 1024.0 for s in after]
    fit = slope_ci(refreshes, rss_b)
    # the second half alone: a heap that levels off (garbage collected, freed blocks reused)
    # shows a slope near zero there even when the whole window still has the climb to it
    half = len(after) // 2
    late = slope_ci(refreshes[half:], rss_b[half:]) if len(after) - half > 10 else None
    dur = series[-1][0] - series[0][0] if len(series) > 1 else 0.0
    cpu = [100 * (b[2] - p[2]) / (b[0] - p[0]) for p, b in itertools.pairwise(series)]
    out = {
        "seconds": series[-1][0] if series else 0.0, "interval": a.interval, "rate": a.rate,
        "files": a.files, "procs": a.procs, "warmup_s": warmup,
        "refreshes": (series[-1][4] if polled else series[-1][0] / a.interval) if series else 0.0,
        "refresh_count": "xserver polls" if polled else "elapsed / interval",
        "nominal_refreshes": series[-1][0] / a.interval if series else 0.0,
        "n": fit.n, "slope_b_per_refresh": fit.slope, "ci_lo": fit.lo, "ci_hi": fit.hi,
        "block": fit.block,
        "late_slope_b_per_refresh": late.slope if late else math.nan,
        "late_ci_lo": late.lo if late else math.nan, "late_ci_hi": late.hi if late else math.nan,
        "late_n": late.n if late else 0,
        "slope_b_per_s": ols_slope([s[0] for s in after], rss_b) if len(after) > 2 else math.nan,
        "growth_per_hour_at_1hz_mib": fit.slope * 3600 / 2**20,
        "budget_b_per_refresh": BUDGET_B_PER_REFRESH,
        "verdict": ("PASS" if fit.slope <= BUDGET_B_PER_REFRESH else "MISS") if not math.isnan(fit.slope)
        else "n/a",
        "peak_rss_kib": peak_kib, "max_rss_kib": max((s[1] for s in series), default=None),
        "rss_start_kib": after[0][1] if after else None, "rss_end_kib": after[-1][1] if after else None,
        "cpu": summarize(cpu) if cpu else None,
        "tty_bps": (series[-1][3] - series[0][3]) / dur if dur else None,
        "skipped_lines_shown": skipped, "xserver_requests": requests,
        "series": [{"t": round(t, 3), "rss_kib": r, "cpu_s": round(c, 3), "tty_bytes": b, "polls": n}
                   for t, r, c, b, n in series],
    }
    return out


def report(r: dict, say: Say = print) -> None:
    kib = 1 / 1024
    say(f"soak {r['seconds']:.0f} s = {r['refreshes']:.0f} refreshes ({r['refresh_count']}; "
        f"{r['nominal_refreshes']:.0f} nominal at {r['interval']:g} s) = {r['refreshes'] / 3600:.2f} h at "
        f"1 Hz; {r['files']} files at {r['rate']:.0f} lines/s, {r['procs']} processes; warm-up "
        f"{r['warmup_s']:.0f} s left out")
    say(f"  growth per refresh {r['slope_b_per_refresh']:.0f} B (95% CI {r['ci_lo']:.0f} to "
        f"{r['ci_hi']:.0f}, block bootstrap, block {r['block']} s), n={r['n']} RSS samples  "
        f"budget <= {BUDGET_B_PER_REFRESH // 1000} KB: {r['verdict']}")
    if r.get("late_n"):
        say(f"  second half alone {r['late_slope_b_per_refresh']:.0f} B per refresh (95% CI "
            f"{r['late_ci_lo']:.0f} to {r['late_ci_hi']:.0f}, n={r['late_n']}): levelling off if near 0")
    say(f"  = {r['slope_b_per_s'] / 1024:.2f} KiB/s; {r['growth_per_hour_at_1hz_mib']:.2f} MiB per hour "
        f"at 1 Hz if it went on")
    say(f"  RSS after warm-up {(r['rss_start_kib'] or 0) * kib:.1f} -> {(r['rss_end_kib'] or 0) * kib:.1f} "
        f"MiB; max sampled {(r['max_rss_kib'] or 0) * kib:.1f} MiB; peak (VmHWM) "
        f"{(r['peak_rss_kib'] or 0) * kib:.1f} MiB")
    if r["cpu"] is not None:
        say(f"  app CPU per second {r['cpu'].fmt('% of a core')}; tty {(r['tty_bps'] or 0) / 1024:.1f} KiB/s")
    say(f"  xserver polls answered {r['xserver_requests']}; status bar's skipped log lines at the end "
        f"{r['skipped_lines_shown']}")


def main() -> None:
    from benchmarks.ptyapp import bench_lock

    a = options()
    print(f"machine: {machine()}; {load_line()}")
    with bench_lock(say=lambda s: print(s, file=sys.stderr)):
        try:
            r = run(a, say=lambda s: print(s, file=sys.stderr))
        except RuntimeError as e:
            sys.exit(str(e))
    report(r)
    print(f"after the run: {load_line()}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({**r, "cpu": r["cpu"].__dict__ if r["cpu"] else None, "machine": machine()}, f,
                      indent=1)


if __name__ == "__main__":
    main()
