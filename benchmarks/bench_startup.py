"""First paint of the app in a real pseudo-terminal (budget: <= 0.5 s, PERFORMANCE.md).

Measures wall time from exec to the first frame that shows the tab bar (the default screen:
Logs replaying the bundled run), with the checks left to run in their worker (they never block
the first paint).

    python -m benchmarks.bench_startup [-n 10]
"""

from __future__ import annotations

import argparse
import sys

from benchmarks.ptyapp import first_text
from benchmarks.stats import Summary, machine, summarize

MARKER = b"Checks"  # the tab bar: the first frame is on screen


def first_paint(timeout: float = 10.0, argv: list[str] | None = None) -> float:
    """Seconds from exec to the tab bar on screen (NaN if it never came)."""
    return first_text(argv or [sys.executable, "-m", "xsched_tui", "--probe-timeout", "5"], MARKER,
                      timeout)


def run(n: int, argv: list[str] | None = None) -> Summary:
    first_paint(argv=argv)  # warm the page cache once; not counted
    return summarize([first_paint(argv=argv) for _ in range(n)])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=10)
    s = run(ap.parse_args().n)
    print(f"first paint (120x40 pty): {s.fmt('s')}  budget <= 0.5 s  [{machine()}]")


if __name__ == "__main__":
    main()
