"""The UI thread's share of log ingest: LogModel.ingest (per-source lists + the merged timeline) on
hub-like batches (PERFORMANCE.md "Log ingest", "Merge of N time-ordered files").

    python -m benchmarks.bench_logmodel [--sources 64] [--batch 10000] [--batches 60] [--lag-ms 90]

Batches look like LogHub's at 100k lines/s in 10 Hz batches: each holds a run of lines per source
(time-ordered within the source), and sources lag each other by up to ``--lag-ms`` (a slower file
read later), so most lines land inside the merged window rather than after its tail. Records are
parsed once beforehand (parsing is the hub's cost, measured by bench_parse). Prints the time per
batch and per line with n and spread; the merged window is 100k lines as in the app.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from typing import NamedTuple

from benchmarks.stats import machine, summarize
from xsched_tui.core.logmodel import LogModel
from xsched_tui.core.logparse import parse_line
from xsched_tui.core.logsources import LogEntry


class Batch(NamedTuple):
    entries: tuple[LogEntry, ...]
    sources: tuple = ()
    stats: tuple = ()
    headlines: tuple = ()
    notices: tuple = ()
    skipped: int = 0


def _line(src: int, i: int, us: int) -> str:
    h, m, s, u = us // 3_600_000_000, us // 60_000_000 % 60, us // 1_000_000 % 60, us % 1_000_000
    lv = "WARN" if i % 25 == 0 else "INFO"
    return f"[XSCHED {lv} @ T {1000 + src} @ {h:02d}:{m:02d}:{s:02d}.{u:06d}] launch {i} @ xqueue.cpp:42"


def make_batches(sources: int, per_batch: int, batches: int, lag_ms: float) -> list[Batch]:
    rng = random.Random(1)
    per = max(1, per_batch // sources)
    seq = [0] * sources
    t0 = 10 * 3_600_000_000
    out = []
    for b in range(batches):
        entries = []
        for s in range(sources):
            lag = int((s % 4) / 3 * lag_ms * 1000)
            ts = sorted(t0 + b * 100_000 + rng.randint(0, 99_999) - lag for _ in range(per))
            for t in ts:
                seq[s] += 1
                entries.append(LogEntry(f"s{s}", seq[s], parse_line(_line(s, seq[s], t))))
        out.append(Batch(tuple(entries)))
    return out


def measure(sources: int, batch: int, nbatches: int, lag_ms: float) -> dict:
    """Seconds per batch and per line of LogModel.ingest (Summary each), after the merged window
    filled up, and the window's state."""
    batches = make_batches(sources, batch, nbatches, lag_ms)
    gc.set_threshold(100_000, 50, 100)  # as cmd_app sets it
    model = LogModel()
    times = []
    for b in batches:
        t = time.perf_counter()
        model.ingest(b)
        times.append(time.perf_counter() - t)
    times = times[5:]  # the window is filling up during the first ones
    n_lines = len(batches[0].entries)
    return {"per_batch": summarize(times), "per_line": summarize([t / n_lines for t in times]),
            "lines_per_batch": n_lines, "window": len(model.timeline),
            "inserted": model.timeline.total_inserted}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sources", type=int, default=64)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--batches", type=int, default=60)
    ap.add_argument("--lag-ms", type=float, default=90.0)
    a = ap.parse_args()
    print(f"machine: {machine()}")
    r = measure(a.sources, a.batch, a.batches, a.lag_ms)
    print(f"LogModel.ingest, {a.sources} sources, {r['lines_per_batch']} lines per batch, merged window "
          f"{r['window']} lines, {r['inserted']} lines inserted inside it:")
    print("  per batch: " + r["per_batch"].fmt("ms", 1e3))
    print("  per line:  " + r["per_line"].fmt("µs", 1e6))
    cpu = r["per_line"].median * 100_000 * 100
    print(f"  at 100k lines/s that is {cpu:.0f} % of one core on the UI thread (before drawing)")


if __name__ == "__main__":
    main()
