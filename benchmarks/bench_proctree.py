"""Process collector cost (budget: a 100-process subtree refresh <= 5 ms, PERFORMANCE.md).

A real tree of 100 sleeping processes (one python parent, 99 ``sleep`` children) is tracked
and refreshed back to back. Reported separately:

- steady refresh at 1 s ticks: stat of each process, children, records, plus the amortised
  re-read of maps/environ/cmdline (at most DETAIL_BATCH processes per tick);
- first refresh of a new collector: every process's maps/environ/cmdline read once (one-off);
- discover(): the whole-/proc scan, run every few seconds, not per tick.

    python -m benchmarks.bench_proctree [-n 50]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

from benchmarks.stats import Summary, machine, summarize

BUDGET_MS = 5.0
TREE = ("import subprocess, sys, time\n"
        "kids = [subprocess.Popen(['sleep', '600']) for _ in range(int(sys.argv[1]))]\n"
        "print('ready', flush=True)\n"
        "time.sleep(600)\n")


def start_tree(n: int) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", TREE, str(n - 1)], stdout=subprocess.PIPE,
                         start_new_session=True, text=True)
    assert p.stdout is not None
    if p.stdout.readline().strip() != "ready":
        raise SystemExit("the process tree did not start")
    return p


def measure(fn, n: int, warm: int = 3) -> Summary:
    for _ in range(warm):
        fn()
    xs = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        xs.append(time.perf_counter() - t0)
    return summarize(xs)


def verdict(s: Summary) -> str:
    return "PASS" if s.median * 1000 <= BUDGET_MS else "MISS"


def measure_all(n: int, procs: int) -> dict:
    """Summaries (seconds) of the steady refresh, a new collector's first refresh and discover(),
    on a real tree of ``procs`` processes; and how many processes /proc held."""
    from xsched_tui.core.proctree import ProcessCollector

    tree = start_tree(procs)
    try:
        inf = float("inf")
        steady = ProcessCollector(discover_every=inf, gpu="off")
        steady.track(tree.pid)
        snap = steady.refresh()
        assert len(snap.procs) == procs, f"expected {procs} records, got {len(snap.procs)}"
        # Past the "young" window, so only the per-tick work remains.
        fake_now = [time.monotonic() + 3600.0]
        steady._clock = lambda: fake_now[0]
        steady.refresh()

        def tick() -> None:
            fake_now[0] += 1.0
            steady.refresh()

        s_steady = measure(tick, n)

        def first() -> None:
            c = ProcessCollector(discover_every=inf, gpu="off")
            c.track(tree.pid)
            c.refresh()

        s_detail = measure(first, n)
        disc = ProcessCollector(gpu="off")
        s_disc = measure(disc.discover, max(10, n // 3), warm=1)
        nproc = sum(1 for d in os.listdir("/proc") if d.isdigit())
    finally:
        os.killpg(tree.pid, signal.SIGKILL)
        tree.wait(timeout=10)
    return {"steady": s_steady, "first": s_detail, "discover": s_disc, "nproc": nproc}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=50, help="samples per measurement (>= 30)")
    ap.add_argument("--procs", type=int, default=100, help="processes in the tree")
    args = ap.parse_args()
    r = measure_all(args.n, args.procs)
    s_steady, s_detail, s_disc = r["steady"], r["first"], r["discover"]
    print(f"[{machine()}]")
    print(f"refresh, {args.procs}-process subtree, steady:      {s_steady.fmt('ms', 1000)}  "
          f"budget <= {BUDGET_MS} ms: {verdict(s_steady)}")
    print(f"first refresh (all maps+environ), {args.procs} procs: {s_detail.fmt('ms', 1000)}  "
          "(once per new process; not a per-tick cost)")
    print(f"discover(), whole /proc ({r['nproc']} processes):     {s_disc.fmt('ms', 1000)}  "
          "(every 3 s, not per refresh)")


if __name__ == "__main__":
    main()
