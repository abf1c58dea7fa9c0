"""`xsched-tui check --no-live` wall time (budget: <= 1 s), as a user runs it (a subprocess,
imports included) and in-process (the checks alone).

    python -m benchmarks.bench_check [-n 10]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from benchmarks.stats import Summary, machine, summarize


def cli_once() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "xsched_tui", "check", "--no-live"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    return time.perf_counter() - t0


def inproc_once() -> float:
    from xsched_tui.core.checks import CheckContext, registry, run_checks
    from xsched_tui.core.config import load

    t0 = time.perf_counter()
    run_checks(registry(), CheckContext(config=load(), live=False))
    return time.perf_counter() - t0


def run(n: int) -> tuple[Summary, Summary]:
    cli_once()
    inproc_once()
    return (summarize([cli_once() for _ in range(n)]),
            summarize([inproc_once() for _ in range(n)]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=10)
    cli, inproc = run(ap.parse_args().n)
    print(f"check --no-live, whole command: {cli.fmt('s')}  budget <= 1 s  [{machine()}]")
    print(f"check --no-live, checks only:   {inproc.fmt('s')}")


if __name__ == "__main__":
    main()
