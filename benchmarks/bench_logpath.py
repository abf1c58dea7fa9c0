"""The log path's CPU per line, stage by stage, in one thread (PERFORMANCE.md "Log ingest").

    python -m benchmarks.bench_logpath [--files 64] [--per-tick 156] [--ticks 60] [--warmup 15]

What the app does per line at 100k lines/s, without the app: a LogHub tailing ``--files`` files
(no watcher thread: every file is marked dirty before a tick, as its inotify events do in
the app) that this process appends ``--per-tick`` lines to before each
hub tick (the bench_logs_app writer's mix: 80 % INFO, 15 % DEBG, 4 % WARN, 1 % ERRO; 156 per file
is 100k lines/s over 64 files at the hub's 10 Hz), the tick called by hand on this thread, and the
batch consumed as the app does: LogFacts.ingest (the app runs it on the hub's thread), then
LogModel.ingest (the UI thread's share, before drawing). The GC thresholds are cmd_app's.

Each tick is one sample: CPU seconds (thread_time) per delivered line, in total and per stage:
read (FileTailer.poll), parse (LogParser.feed_many), accept (LogHub._accept: numbering, counters,
headlines), facts, model, and the garbage collector's share of all of it. There is no GIL
contention, no watcher thread and no drawing here: bench_logs_app measures the whole app.
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
from collections.abc import Callable

from benchmarks.stats import machine, summarize
from xsched_tui.core.logfacts import LogFacts
from xsched_tui.core.logmodel import LogModel
from xsched_tui.core.logparse import LogParser
from xsched_tui.core.logsources import FileTailer, LogHub

WARN = ("fail to auto-create XQueue (level-4) for HwQueue 0x461c5f70, err: 2 "
        "@ /opt/xsched/preempt/src/xqueue/xqueue.cpp:136")
ERRO = "cuda error 700: an illegal memory access was encountered @ /opt/xsched/cuda_queue.cpp:47"
STAGES = ("read", "parse", "accept", "facts", "model", "gc")


class _HandHub(LogHub):
    """A LogHub whose worker thread does nothing: the benchmark calls ``_tick`` itself."""

    def _run(self) -> None:
        return


def _lines(tid: int, per: int, seq: int, w: float) -> tuple[bytes, int]:
    lt = time.localtime(w)
    tod = f"{lt.tm_hour:02d}:{lt.tm_min:02d}:{lt.tm_sec:02d}.{int(w % 1 * 1e6):06d}"
    out = []
    for _ in range(per):
        seq += 1
        r = seq % 100
        if r < 80:
            out.append(f"[XSCHED INFO @ T {tid} @ {tod}] bench w={w:.6f} seq={seq}\n")
        elif r < 95:
            out.append(f"[XSCHED DEBG @ T {tid} @ {tod}] bench w={w:.6f} seq={seq} @ /x/y.cpp:1\n")
        elif r < 99:
            out.append(f"[XSCHED WARN @ T {tid} @ {tod}] {WARN}\n")
        else:
            out.append(f"[XSCHED ERRO @ T {tid} @ {tod}] {ERRO}\n")
    return "".join(out).encode(), seq


def measure(files: int = 64, per_tick: int = 156, ticks: int = 60, warmup: int = 15) -> dict:
    """Per tick (after ``warmup`` ticks): µs of CPU per delivered line, total and by stage."""
    gc.set_threshold(100_000, 50, 100)  # as cmd_app sets it
    spent = dict.fromkeys(STAGES, 0.0)
    clock = time.thread_time

    def timed(stage: str, fn: Callable) -> Callable:
        def run(*a, **k):
            t = clock()
            try:
                return fn(*a, **k)
            finally:
                spent[stage] += clock() - t
        return run

    gc_t0 = [0.0]

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            gc_t0[0] = time.perf_counter()
        else:
            spent["gc"] += time.perf_counter() - gc_t0[0]

    model, facts = LogModel(), LogFacts()
    got = [0]

    def on_batch(b) -> None:
        t = clock()
        facts.ingest(b.entries, {s.id: s for s in b.sources}, b.scan)  # as app.py does
        t1 = clock()
        model.ingest(b)
        spent["facts"] += t1 - t
        spent["model"] += clock() - t1
        got[0] += len(b.entries)

    saved = FileTailer.poll, LogParser.feed_many
    FileTailer.poll = timed("read", FileTailer.poll)  # type: ignore[method-assign]
    LogParser.feed_many = timed("parse", LogParser.feed_many)  # type: ignore[method-assign]
    gc.callbacks.append(on_gc)
    samples: list[dict[str, float]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-logpath-") as d:
            fds = []
            for i in range(files):
                p = os.path.join(d, f"worker-{2000 + i}.stderr.log")
                open(p, "w").close()
                fds.append(os.open(p, os.O_WRONLY | os.O_APPEND))
            # interval: no work deadline cuts a tick short (every file is read every tick)
            hub = _HandHub(on_batch=on_batch, watch=False, pending=lambda: 0, interval=60.0)
            hub._accept = timed("accept", hub._accept)  # type: ignore[method-assign]
            hub.add_dir(d)
            hub._tick(time.monotonic())
            seq = [0] * files
            for k in range(warmup + ticks):
                w = time.time()
                for i, fd in enumerate(fds):
                    data, seq[i] = _lines(2000 + i, per_tick, seq[i], w)
                    os.write(fd, data)
                for s in spent:
                    spent[s] = 0.0
                got[0] = 0
                hub._last_delivery = 0.0
                with hub._lock:  # as the watcher's events do: every written file is dirty
                    hub._dirty.update(hub._sources)
                t = clock()
                hub._tick(time.monotonic())
                total = clock() - t
                if k >= warmup and got[0]:
                    n = got[0]
                    samples.append({"total": 1e6 * total / n,
                                    **{s: 1e6 * v / n for s, v in spent.items()}})
            hub.stop()
            for fd in fds:
                os.close(fd)
    finally:
        FileTailer.poll, LogParser.feed_many = saved  # type: ignore[method-assign]
        gc.callbacks.remove(on_gc)
    return {"lines_per_tick": files * per_tick, "window": len(model.timeline),
            "total": summarize([s["total"] for s in samples]),
            "stages": {s: summarize([x[s] for x in samples]) for s in STAGES}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=64)
    ap.add_argument("--per-tick", type=int, default=156, help="lines per file per hub tick")
    ap.add_argument("--ticks", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=15, help="ticks before measuring (buffers fill)")
    a = ap.parse_args()
    print(f"machine: {machine()}")
    r = measure(a.files, a.per_tick, a.ticks, a.warmup)
    print(f"log path in one thread, {a.files} files, {r['lines_per_tick']} lines per tick, merged "
          f"window {r['window']} lines:")
    print("  total: " + r["total"].fmt("µs/line"))
    for s, v in r["stages"].items():
        print(f"    {s:7s} {v.fmt('µs/line')}")
    print(f"  at 100k lines/s that is {r['total'].median * 10:.0f} % of one core (before drawing, "
          f"without the watcher thread; the budget for the whole app is 50 %)")
    print(f"  {os.getloadavg()[0]:.2f} load average (other work inflates these figures)")


if __name__ == "__main__":
    main()
