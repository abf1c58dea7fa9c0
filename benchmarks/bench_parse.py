"""Log parser throughput on one core (budget: >= 300k lines/s, PERFORMANCE.md M7/M8).

Inputs: the recorded explicit-stream xserver log (real XSched v1.2 lines: XQueue created/destroyed
and set priority, nearly all of it) repeated to ~1M lines; and the line mix of bench_tail's writer
(80 % INFO, 15 % DEBG with a source suffix, 4 % WARN, 1 % ERRO; messages without a typed event).

    python -m benchmarks.bench_parse [-n 5] [--lines 1000000]

streaming: LogParser.feed_many in batches (1000 lines; 156 for the writer's mix, what the live tail
gets per file and tick at 100k lines/s over 64 files), records dropped batch by batch: what the live
tail does. kept: parse_lines over everything, every record kept (the headless ``logs`` command):
the garbage collector's share grows with the number of live records. Each line also says how much
of the time the garbage collector took (all of it counted in lines/s).
"""

from __future__ import annotations

import argparse
import time

from benchmarks.bench_tail import GcClock
from benchmarks.stats import Summary, machine, summarize
from xsched_tui.core.logparse import LogParser, parse_lines, parser_impl
from xsched_tui.data import samples_dir


def lines(n: int) -> list[bytes]:
    src = (samples_dir() / "explicit-stream" / "xserver.stderr.log").read_bytes().splitlines()
    return (src * (n // len(src) + 1))[:n]


def writer_mix(n: int) -> list[bytes]:
    """bench_tail's writer lines (one thread, the clock advancing 10 us a line)."""
    warn = (b"fail to auto-create XQueue (level-4) for HwQueue 0x461c5f70, err: 2 "
            b"@ /opt/xsched/preempt/src/xqueue/xqueue.cpp:136")
    erro = b"cuda error 700: an illegal memory access was encountered @ /opt/xsched/cuda_queue.cpp:47"
    out = []
    for k in range(n):
        us = 3600_000_000 + 10 * k
        tod = f"{us // 3600_000_000:02d}:{us // 60_000_000 % 60:02d}:{us // 1_000_000 % 60:02d}." \
              f"{us % 1_000_000:06d}"
        w = f"{1_712_345_678 + us / 1e6:.6f}"
        r = k % 100
        if r < 80:
            out.append(f"[XSCHED INFO @ T 2001 @ {tod}] bench w={w} seq={k}".encode())
        elif r < 95:
            out.append(f"[XSCHED DEBG @ T 2001 @ {tod}] bench w={w} seq={k} @ /x/y.cpp:1".encode())
        elif r < 99:
            out.append(f"[XSCHED WARN @ T 2001 @ {tod}] ".encode() + warn)
        else:
            out.append(f"[XSCHED ERRO @ T 2001 @ {tod}] ".encode() + erro)
    return out


def streaming(data: list[bytes], batch: int = 1000, lazy: bool = False) -> tuple[float, float]:
    """Records parsed and dropped batch by batch. ``lazy``: as the live tail parses (LogParser(
    lazy=True): unmodelled INFO/DEBG lines become lazy records, made by the compiled scanner when
    it was built). Returns (lines/s, share of the time spent in the garbage collector)."""
    p = LogParser(lazy=lazy)
    with GcClock() as gcc:
        t0 = time.perf_counter()
        for i in range(0, len(data), batch):
            p.feed_many(data[i : i + batch])
        p.flush()
        t = time.perf_counter() - t0
    return len(data) / t, sum(gcc.seconds) / t


def kept(data: list[bytes]) -> tuple[float, float]:
    """Every record kept in one list: what the headless `logs` command does."""
    with GcClock() as gcc:
        t0 = time.perf_counter()
        recs = parse_lines(data)
        t = time.perf_counter() - t0
    del recs
    return len(data) / t, sum(gcc.seconds) / t


def measure(n: int, nlines: int) -> dict[str, tuple[Summary, Summary]]:
    """(lines/s, GC share) summaries of n runs each: "streaming" and "kept" on the recorded log,
    "mix" streaming the writer's mix in 156-line batches."""
    def both(runs: list[tuple[float, float]]) -> tuple[Summary, Summary]:
        return summarize([r[0] for r in runs]), summarize([r[1] for r in runs])

    data = lines(nlines)
    out = {"streaming": both([streaming(data) for _ in range(n)]),
           "live": both([streaming(data, 1000, lazy=True) for _ in range(n)]),
           "kept": both([kept(data) for _ in range(n)])}
    del data
    mix = writer_mix(nlines)
    out["mix"] = both([streaming(mix, 156) for _ in range(n)])
    out["mix-live"] = both([streaming(mix, 156, lazy=True) for _ in range(n)])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=5)
    ap.add_argument("--lines", type=int, default=1_000_000)
    a = ap.parse_args()
    print(f"machine: {machine()}; live tail's hot loop: {parser_impl()}")
    r = measure(a.n, a.lines)
    for key, label, budget in (
            ("streaming", f"parse, streaming ({a.lines} lines):", ""),
            ("live", "  the same, as the live tail (lazy):", " budget >= 300k/s"),
            ("kept", "parse, all records kept:", ""),
            ("mix", "writer's mix, streaming (156-line batches):", ""),
            ("mix-live", "  the same, as the live tail (lazy):", " budget >= 300k/s")):
        s, g = r[key]
        print(f"{label:44s} {s.fmt('k lines/s', scale=1e-3)}; GC {100 * g.median:.0f} % {budget}")


if __name__ == "__main__":
    main()
