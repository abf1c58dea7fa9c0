"""The whole app tailing busy logs in a real pseudo-terminal (PERFORMANCE.md "Log ingest", "Idle CPU",
"SSH bandwidth").

    python -m benchmarks.bench_logs_app [--seconds 10] [--files 64] [--rates 100000,10000]
        [--idle 10] [--no-latency] [--filtered] [--line-writes] [--profile FILE]
        [--gc-threshold 10000,50,100]

``xsched-tui app --logs DIR`` runs in a 120x40 pty whose output is drained (and counted) by this
process; DIR holds ``--files`` empty ``worker-*.log`` files and ``aaa-marker.log`` before the app
starts, like running workers. The app opens on the Checks tab (its checks run once at start: we wait
until it is quiet), then a mouse click on the "Logs" tab label (its column is read from the output)
shows the merged live view. CPU is utime + stime of /proc/PID/stat (every thread: UI, hub, watcher),
one sample a second; "by thread" splits it with /proc/PID/task/*/schedstat (main/UI is the Textual
thread; the hub's worker is usually the busiest other one).

(a) idle: nothing written, Logs tab on screen. Budget <= 0.5 % of a core.
(b) busy: a separate writer process appends XSched-format lines (80 % INFO, 15 % DEBG, 4 % WARN,
    1 % ERRO) to the worker files at a total of RATE lines/s for ``--seconds`` (one write() per file
    every 10 ms; ``--line-writes``: one write() per line, as XSched's unbuffered stderr does, so
    one inotify event per line): the app's CPU % and
    the bytes/s it writes to the terminal (budget <= 64 KiB/s while tailing busy logs). The ingest
    budget is <= 50 % of a core at 100k lines/s. The view follows the merged tail. "lines shown"
    is the share of the written lines the app did not skip (the Logs status line's "N lines
    skipped", read after the phase): a saturated app sheds lines rather than falling behind.
(c) latency (unless --no-latency): the same, and every 0.25 s the writer appends one marker line
    ``MK<n>Q`` to aaa-marker.log; the view is scoped to that source (two clicks on its row in the
    sources table) so that every marker is drawn. write->screen latency = when the marker's bytes
    are read from the pty minus the writer's time.time() just before its write. Budget p95 <= 250 ms.
(d) with --filtered: the merged view filtered to the markers (the "&" include prompt), the same.

``--profile FILE`` cProfiles the UI thread during the first (b) and prints its top functions.
``--gc-threshold`` starts the app through a wrapper that calls ``gc.set_threshold`` first (an
experiment; ``cmd_app`` itself sets (100000, 50, 100) since this benchmark showed the defaults stall
the UI).
The writer runs in its own process; its CPU is not counted. Other load on the machine inflates CPU %
and latency: the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import pstats
import re
import signal
import sys
import tempfile
import time
from collections.abc import Callable

from benchmarks.ptyapp import _ESC as ESC
from benchmarks.ptyapp import (
    COLS,
    MARKER_FILE,
    ROWS,
    App,
    Writer,
    load_line,
    make_log_dir,
    quiet,
    sample,
    thread_cpu,
    thread_split,
)
from benchmarks.stats import machine, summarize


def busy(app: App, d: str, rate: float, seconds: float, nfiles: int, mark_every: float,
         mark0: int, line_writes: bool = False) -> dict:
    w = Writer(d, rate, seconds, nfiles, mark_every, mark0, line_writes)
    w.go()
    cpu, bps, whole = sample(app, seconds)
    w.wait()
    time.sleep(1.0)  # markers written in the last tick reach the screen
    lat = [app.seen[k] - t for k, t in w.marks.items() if k in app.seen]
    written, elapsed, marks = w.done or (0, seconds, mark0)
    return {"cpu": summarize(cpu), "bps": summarize(bps), "whole": whole, "lat": lat,
            "marks": len(w.marks), "missed": len(w.marks) - len(lat),
            "rate": written / elapsed if elapsed else 0.0, "written": written, "next_mark": marks}


_SKIPPED = re.compile(rb"(\d+) lines skipped")


def skipped_lines(app: App) -> int:
    """The app's running count of log lines it skipped (the Logs pane's status line: "N lines
    skipped"; 0 while it shows none)."""
    with app.lock:
        raw = bytes(app.raw[-(1 << 20):])
    found = _SKIPPED.findall(ESC.sub(b"", raw))
    return int(found[-1]) if found else 0


def print_profile(path: str, base: pstats.Stats, top: int = 20) -> None:
    """The busy phase's share of the UI thread's profile: stats now minus stats before it."""
    now = pstats.Stats(path)
    b = base.stats  # type: ignore[attr-defined]
    diff = {}
    for func, (cc, nc, tt, ct, _callers) in now.stats.items():  # type: ignore[attr-defined]
        o = b.get(func)
        if o is not None:
            cc, nc, tt, ct = cc - o[0], nc - o[1], tt - o[2], ct - o[3]
        if nc > 0:
            diff[func] = (cc, nc, tt, ct)
    total = sum(v[2] for v in diff.values())
    print(f"    UI-thread profile of this phase (cProfile, {total:.2f} s own time in total; "
          f"profiling slows it down): own time, cumulative, calls")
    for func, (_cc, nc, tt, ct) in sorted(diff.items(), key=lambda kv: -kv[1][2])[:top]:
        name = f"{os.path.basename(func[0])}:{func[1]}({func[2]})"
        print(f"      {tt:7.3f} s {ct:7.3f} s {nc:9d}  {name}")
    print("    xsched_tui functions by cumulative time:")
    ours = [(k, v) for k, v in diff.items() if f"{os.sep}xsched_tui{os.sep}" in k[0]]
    for func, (_cc, nc, tt, ct) in sorted(ours, key=lambda kv: -kv[1][3])[:top // 2]:
        name = f"{os.path.basename(func[0])}:{func[1]}({func[2]})"
        print(f"      {tt:7.3f} s {ct:7.3f} s {nc:9d}  {name}")


def fmt_lat(lat: list[float], marks: int, missed: int) -> str:
    if not lat:
        return f"no marker reached the screen ({marks} written)"
    s = summarize(lat)
    return f"{s.fmt('ms', scale=1000)}; {marks} markers, {missed} never seen"


def select_row(app: App, label: bytes, status: bytes, timeout: float = 5.0) -> bool:
    """Click a row of the sources table twice (highlight, then select) and wait for ``status``."""
    pos = app.locate(label, max_col=8)  # the sources table's first column, not a log line
    if pos is None:
        return False
    mark = app.offset
    app.click(pos[0] + 1, pos[1])
    time.sleep(0.4)
    app.click(pos[0] + 1, pos[1])
    return app.wait_text(status, timeout, since=mark)


Say = Callable[[str], None]


def phase(app: App, d: str, a: argparse.Namespace, rate: float, mark0: int, what: str,
          say: Say = print) -> dict:
    threads0 = thread_cpu(app.pid)
    skipped0 = skipped_lines(app)
    lw = getattr(a, "line_writes", False)
    r = busy(app, d, rate, a.seconds, a.files, 0.25, mark0, lw)
    split = thread_split(app.pid, threads0, a.seconds)
    say(f"({what}) {a.files} files at {r['rate']:.0f} lines/s for {a.seconds:.0f} s "
        f"({r['written']} lines{', one write() each' if lw else ''}), {VIEWS[what]}:")
    say(f"    app CPU {r['cpu'].fmt('% of a core')}; whole window {r['whole']:.1f} %"
        f"  budget <= 50 % at 100k lines/s")
    say(f"    by thread (schedstat): {split}")
    say(f"    tty {r['bps'].fmt('KiB/s', scale=1 / 1024)}  budget <= 64 KiB/s")
    if what != "b":
        say(f"    write->screen latency {fmt_lat(r['lat'], r['marks'], r['missed'])}"
            f"  budget p95 <= 250 ms")
    quiet(app, limit=20)
    skipped = max(0, skipped_lines(app) - skipped0)
    parsed = 100.0 * (1 - skipped / r["written"]) if r["written"] else float("nan")
    say(f"    lines shown: {parsed:.1f} % of those written ({skipped} skipped: the app fell behind)")
    return {**r, "view": what, "target_rate": rate, "skipped": skipped, "parsed_pct": parsed}


VIEWS = {
    "b": "merged view following the tail",
    "c": f"view scoped to {MARKER_FILE} (one marker line every 0.25 s)",
    "d": "merged view filtered to the markers (include regex MK[0-9]+Q)",
}


def open_logs_tab(app: App) -> tuple[float, tuple[int, int]]:
    """Wait for the first frame and the checks, then click the "Logs" tab label; returns the wait
    for the checks and the label's position. Raises RuntimeError when the screen is not as expected."""
    if not app.wait_text(b"Finding", 20):
        raise RuntimeError("the app did not paint its first frame in 20 s")
    waited = quiet(app)
    pos = app.locate(b"Logs", max_col=40)
    if pos is None:
        raise RuntimeError("no 'Logs' tab label on screen")
    mark = app.offset
    app.click(pos[0] + 1, pos[1])
    if not app.wait_text(b"All (merged)", 10, since=mark):
        raise RuntimeError("clicking the 'Logs' tab did not show the Logs pane")
    quiet(app, limit=15)
    return waited, pos


def options(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--files", type=int, default=64)
    ap.add_argument("--rates", default="100000,10000", help="lines/s, comma-separated")
    ap.add_argument("--idle", type=float, default=10.0, help="seconds of the idle measurement")
    ap.add_argument("--latency", action=argparse.BooleanOptionalAction, default=True,
                    help="(c): the view scoped to the marker file")
    ap.add_argument("--filtered", action=argparse.BooleanOptionalAction, default=False,
                    help="(d): the merged view filtered to the markers (an include regex)")
    ap.add_argument("--profile", metavar="FILE", default=None,
                    help="cProfile the app's main (UI) thread during the first busy phase; "
                         "write the stats to FILE and print the top functions")
    ap.add_argument("--profile-phase", type=int, default=0, metavar="K",
                    help="with --profile: profile the merged phase of the K-th rate (0 = first)")
    ap.add_argument("--line-writes", action="store_true",
                    help="the writer does one write() per line (as XSched's unbuffered stderr: "
                         "an inotify event per line), not one per file every 10 ms")
    ap.add_argument("--gc-threshold", default=None,
                    help="start the app with gc.set_threshold(these) (e.g. 10000,50,50)")
    return ap.parse_args(argv)


def run(a: argparse.Namespace, say: Say = print) -> dict:
    """Every phase the options ask for; returns {"idle": {...}, "phases": [phase dicts]} (CPU and
    tty bytes as Summary, latencies in seconds) and says what it measured on the way."""
    rates = [float(r) for r in a.rates.split(",") if r]
    gct = tuple(int(x) for x in a.gc_threshold.split(",")) if a.gc_threshold else None
    out: dict = {"files": a.files, "phases": []}
    with tempfile.TemporaryDirectory(prefix="bench-logs-app-") as d:
        make_log_dir(d, a.files)
        app = App(d, gct, a.profile)
        try:
            waited, pos = open_logs_tab(app)
            say(f"app pid {app.pid}{' gc.set_threshold' + str(gct) if gct else ''}: first frame, "
                f"checks done after {waited:.1f} s; Logs tab at column {pos[0]}, row {pos[1]}")
            threads0 = thread_cpu(app.pid)
            if a.idle >= 1:  # --idle 0 skips the idle phase
                cpu, bps, whole = sample(app, a.idle)
                out["idle"] = {"cpu": summarize(cpu), "bps": summarize(bps), "whole": whole}
                say(f"(a) idle, Logs tab, {a.files + 1} files: CPU "
                    f"{summarize(cpu).fmt('% of a core')}; whole window {whole:.2f} %  budget "
                    f"<= 0.5 %; tty {sum(bps) / len(bps):.0f} B/s")
                say(f"    by thread (schedstat): {thread_split(app.pid, threads0, a.idle)}")
            mark0 = 0
            for k, rate in enumerate(rates):
                if a.profile and k == a.profile_phase:
                    os.kill(app.pid, signal.SIGUSR1)  # stats so far: startup and idle
                    time.sleep(1.0)
                    base_stats = pstats.Stats(a.profile)
                    base_stats.dump_stats(a.profile + ".base")  # for a diff of callers later
                r = phase(app, d, a, rate, mark0, "b", say)
                out["phases"].append(r)
                mark0 = r["next_mark"]
                if a.profile and k == a.profile_phase:
                    os.kill(app.pid, signal.SIGUSR1)
                    time.sleep(2.0)
                    print_profile(a.profile, base_stats)
                if a.latency:
                    if select_row(app, MARKER_FILE.encode(), MARKER_FILE.encode() + b" (pid"):
                        r = phase(app, d, a, rate, mark0, "c", say)
                        out["phases"].append(r)
                        mark0 = r["next_mark"]
                    else:
                        say(f"    (could not select {MARKER_FILE} in the sources table)")
                    if not select_row(app, b"All (merged)", b"all sources merged"):
                        say("    (could not go back to the merged view)")
                if a.filtered:
                    app.click(COLS * 3 // 4, ROWS // 2)  # focus the log view: its bindings
                    m = app.offset
                    app.send(b"&")
                    time.sleep(0.3)
                    app.send(b"MK[0-9]+Q\r")
                    if not app.wait_text(b"only /MK[0-9]+Q/", 5, since=m):
                        say("    (the include filter did not show up on screen)")
                    quiet(app, limit=10)
                    r = phase(app, d, a, rate, mark0, "d", say)
                    out["phases"].append(r)
                    mark0 = r["next_mark"]
                    app.send(b"x")  # clear the filter
                    quiet(app, limit=20)
        finally:
            app.stop()
    return out


def main() -> None:
    a = options()
    print(f"machine: {machine()}")
    try:
        run(a)
    except RuntimeError as e:
        sys.exit(str(e))
    print(f"after the run: {load_line()} (other work on the machine inflates CPU % and latency)")


if __name__ == "__main__":
    main()
