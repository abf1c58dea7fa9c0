"""Log parser throughput on one core (budget: >= 300k lines/s, PERFORMANCE.md M7/M8).

Input: the recorded explicit-stream xserver log (real XSched v1.2 lines) repeated to ~1M lines.

    python -m benchmarks.bench_parse [-n 5] [--lines 1000000]
"""

from __future__ import annotations

import argparse
import time

from benchmarks.stats import machine, summarize
from xsched_tui.core.logparse import LogParser, parse_lines
from xsched_tui.data import samples_dir


def lines(n: int) -> list[bytes]:
    src = (samples_dir() / "explicit-stream" / "xserver.stderr.log").read_bytes().splitlines()
    return (src * (n // len(src) + 1))[:n]


def streaming(data: list[bytes], batch: int = 1000) -> float:
    """Records parsed and dropped batch by batch: what the live tail does."""
    p = LogParser()
    t0 = time.perf_counter()
    for i in range(0, len(data), batch):
        p.feed_many(data[i : i + batch])
    p.flush()
    return len(data) / (time.perf_counter() - t0)


def kept(data: list[bytes]) -> float:
    """Every record kept in one list: what the headless `logs` command does."""
    t0 = time.perf_counter()
    parse_lines(data)
    return len(data) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=5)
    ap.add_argument("--lines", type=int, default=1_000_000)
    a = ap.parse_args()
    data = lines(a.lines)
    s = summarize([streaming(data) for _ in range(a.n)])
    k = summarize([kept(data) for _ in range(a.n)])
    print(f"parse, streaming ({a.lines} lines): {s.fmt('k lines/s', scale=1e-3)}  budget >= 300k/s"
          f"  [{machine()}]")
    print(f"parse, all records kept:             {k.fmt('k lines/s', scale=1e-3)}")


if __name__ == "__main__":
    main()
