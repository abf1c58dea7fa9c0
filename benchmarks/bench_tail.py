"""Live tail cost and latency of LogHub (PERFORMANCE.md "Tail polling cost" and "Log ingest").

    python -m benchmarks.bench_tail [--seconds 10] [--files 64] [--rate 100000] [--hub-only]

(a) idle: 64 log files in a watched folder, nothing written: CPU % of one core of this whole
    process (hub worker + watchfiles thread), per 1 s sample, over ``--seconds``.
    Budget <= 1 %. Also the stat-polling fallback (watch=False), same budget.
(b) busy: a separate writer process appends to 64 files at a total of ``--rate`` lines/s for
    ``--seconds`` (XSched-format lines: 80 % INFO, 15 % DEBG, 4 % WARN, 1 % ERRO). CPU % of one
    core of this process (reading + parsing + batching, no UI) per 1 s sample, budget <= 50 %
    (the app's share is measured elsewhere); write-to-delivery latency (the writer puts its
    ``time.time()`` in each line, measured at ``on_batch`` on every 25th entry), budget p95 <= 250 ms;
    and how much of that CPU the cyclic garbage collector took (gc.callbacks, any thread).
(b') with --hub-only: (b) again with LogParser replaced by a stub, to separate the hub's own cost
    (read, split, number, store, deliver, watchfiles) from parsing.
(c) catch-up ceiling: 64 files written beforehand and read from their start: lines per wall second
    and per CPU second (what the whole pipeline can sustain on this machine).

CPU is ``time.process_time()`` (all threads of this process); the writer's CPU is not counted.
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import threading
import time

from benchmarks.ptyapp import Writer
from benchmarks.stats import Summary, machine, summarize
from xsched_tui.core.logsources import LogBatch, LogHub


def cpu_samples(seconds: float) -> list[float]:
    """CPU % of one core used by this process, one sample per second."""
    out = []
    start = t0 = time.monotonic()
    c0 = time.process_time()
    for i in range(int(seconds)):
        time.sleep(max(0.0, start + i + 1 - time.monotonic()))
        t1, c1 = time.monotonic(), time.process_time()
        out.append(100.0 * (c1 - c0) / (t1 - t0))
        t0, c0 = t1, c1
    return out


def settle(hub: LogHub, quiet: float = 1.0, limit: float = 15.0) -> None:
    """Wait until the hub stopped waking up (after its last data it refreshes rates for ~6 s)."""
    end = time.monotonic() + limit
    last, since = hub.wakeups, time.monotonic()
    while time.monotonic() < end:
        time.sleep(0.1)
        if hub.wakeups != last:
            last, since = hub.wakeups, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return


def idle(nfiles: int, seconds: float, watch: bool) -> tuple[Summary, int, int, str]:
    with tempfile.TemporaryDirectory(prefix="bench-tail-idle-") as d:
        for i in range(nfiles):
            with open(os.path.join(d, f"worker-{3000 + i}.stderr.log"), "w") as f:
                f.write(f"[XSCHED INFO @ T {3000 + i} @ 01:00:00.000001] using global scheduler\n" * 10)
        got = []
        hub = LogHub(got.append, watch=watch)
        try:
            hub.add_dir(d)
            end = time.monotonic() + 10
            while sum(s.lines for s in hub.stats()) < 10 * nfiles and time.monotonic() < end:
                time.sleep(0.05)
            settle(hub)
            b0, w0 = hub.batches, hub.wakeups
            samples = cpu_samples(seconds)
            return summarize(samples), hub.batches - b0, hub.wakeups - w0, hub.status
        finally:
            hub.stop()


class _StubParser:
    """Stands in for LogParser in (b'): one shared record per line, to show the hub's own cost."""

    def __init__(self, base_date=None, patterns=()) -> None:
        from xsched_tui.core.logparse import parse_line

        self._rec = parse_line("[XSCHED INFO @ T 1 @ 01:00:00.000001] bench w=0.0 seq=0")
        self.pending = False

    def feed_many(self, lines):
        return [self._rec] * len(lines)

    def flush(self):
        return []


class GcClock:
    """Time spent in the cyclic garbage collector (any thread of this process), per generation."""

    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self._t0 = 0.0

    def __enter__(self) -> GcClock:
        gc.callbacks.append(self._cb)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._cb)

    def _cb(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            g = info["generation"]
            self.count[g] += 1
            self.seconds[g] += time.perf_counter() - self._t0

    def fmt(self, seconds: float) -> str:
        return (f"{100 * sum(self.seconds) / seconds:.1f} % of a core in "
                f"{'/'.join(map(str, self.count))} collections of generation 0/1/2 "
                f"({'/'.join(f'{1000 * t:.0f}' for t in self.seconds)} ms)")


def busy(nfiles: int, seconds: float, rate: float, stub_parser: bool = False) -> dict:
    lat: list[float] = []
    entries = [0]
    skipped = [0]
    lock = threading.Lock()

    def on_batch(b: LogBatch) -> None:
        now = time.time()
        es = b.entries
        with lock:
            entries[0] += len(es)
            skipped[0] += b.skipped
        for e in es[::25]:
            m = e.record.message
            i = m.find("w=")
            if i >= 0:
                j = m.find(" ", i)
                lat.append(now - float(m[i + 2:j]))

    with tempfile.TemporaryDirectory(prefix="bench-tail-busy-") as d:
        for i in range(nfiles):  # the files exist before the hub starts, like running workers
            open(os.path.join(d, f"worker-{2000 + i}.stderr.log"), "w").close()
        hub = LogHub(on_batch)
        if stub_parser:
            import xsched_tui.core.logsources as ls

            ls.LogParser = _StubParser  # type: ignore[misc,assignment]
        w = Writer(d, rate, seconds, nfiles)  # no marker file: the hub sees only the workers
        try:
            hub.add_dir(d)
            end = time.monotonic() + 10
            while len(hub.sources()) < nfiles and time.monotonic() < end:
                time.sleep(0.05)
            settle(hub, quiet=0.5)
            w.go()
            with GcClock() as gcc:
                cpu = cpu_samples(seconds)
            w.wait(30)
            written, elapsed, _ = w.done or (0, seconds, 0)
            end = time.monotonic() + 10
            while entries[0] + skipped[0] < int(written) and time.monotonic() < end:
                time.sleep(0.05)
            return {
                "cpu": summarize(cpu),
                "lat": summarize(lat),
                "written": int(written),
                "rate": int(written) / float(elapsed),
                "delivered": entries[0],
                "skipped": skipped[0],
                "gc": gcc.fmt(seconds),
            }
        finally:
            w.kill()
            hub.stop()
            if stub_parser:
                import xsched_tui.core.logparse as lp
                import xsched_tui.core.logsources as ls

                ls.LogParser = lp.LogParser  # type: ignore[misc]


def ceiling(nfiles: int, per_file: int) -> tuple[float, float]:
    """Catch-up speed: files written beforehand, then followed from their start. Returns
    (lines per wall second, lines per CPU second of this process)."""
    with tempfile.TemporaryDirectory(prefix="bench-tail-ceiling-") as d:
        total = nfiles * per_file
        for i in range(nfiles):
            tid = 4000 + i
            with open(os.path.join(d, f"worker-{tid}.stderr.log"), "w") as f:
                f.write("".join(
                    f"[XSCHED INFO @ T {tid} @ 01:00:00.{k % 1000000:06d}] bench w=0.0 seq={k}\n"
                    if k % 20 else
                    f"[XSCHED WARN @ T {tid} @ 01:00:00.{k % 1000000:06d}] fail to auto-create XQueue "
                    f"(level-4) for HwQueue 0x461c5f70, err: 2 @ /opt/xsched/xqueue.cpp:136\n"
                    for k in range(per_file)))
        hub = LogHub(lambda b: None, tail_bytes=1 << 30, total_entries=total)
        try:
            t0, c0 = time.monotonic(), time.process_time()
            hub.add_dir(d)
            end = t0 + 60
            while sum(s.lines for s in hub.stats()) < total and time.monotonic() < end:
                time.sleep(0.01)
            t1, c1 = time.monotonic(), time.process_time()
        finally:
            hub.stop()
    return total / (t1 - t0), total / (c1 - c0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--files", type=int, default=64)
    ap.add_argument("--rate", type=float, default=100_000.0)
    ap.add_argument("--hub-only", action=argparse.BooleanOptionalAction, default=False,
                    help="also run (b) with the parser stubbed out (the hub's own cost; +15 s)")
    a = ap.parse_args()
    print(f"machine: {machine()}")
    s, nb, nw, status = idle(a.files, a.seconds, watch=True)
    print(f"(a) {a.files} idle files, watchfiles: CPU {s.fmt('% of a core')}  budget <= 1 %; "
          f"{nb} batches, {nw} wake-ups in {a.seconds:.0f} s  [{status}]")
    s, nb, nw, status = idle(a.files, a.seconds, watch=False)
    print(f"(a') {a.files} idle files, stat-poll fallback: CPU {s.fmt('% of a core')}  budget <= 1 %; "
          f"{nb} batches, {nw} wake-ups in {a.seconds:.0f} s")
    ceil = [ceiling(a.files, 4000) for _ in range(3)]
    wall, cpu = summarize([c[0] for c in ceil]), summarize([c[1] for c in ceil])
    print(f"(c) catch-up ceiling, {a.files} files x 4000 lines read from their start: "
          f"{wall.fmt('lines/s', digits=3)}; per CPU-second {cpu.fmt('lines', digits=3)}")
    r = busy(a.files, a.seconds, a.rate)
    print(f"(b) {a.files} files, writer at {r['rate']:.0f} lines/s for {a.seconds:.0f} s "
          f"({r['written']} lines; delivered {r['delivered']}, skipped {r['skipped']}):")
    print(f"    ingest CPU {r['cpu'].fmt('% of a core')}  budget <= 50 %")
    print(f"    of which the garbage collector: {r['gc']}")
    print(f"    write->on_batch latency {r['lat'].fmt('ms', scale=1000)}  budget p95 <= 250 ms")
    if a.hub_only:
        r = busy(a.files, a.seconds, a.rate, stub_parser=True)
        print(f"(b') the same with the parser stubbed out (the hub's own cost: read, split, number, "
              f"store, deliver; {r['rate']:.0f} lines/s, skipped {r['skipped']}):")
        print(f"    CPU {r['cpu'].fmt('% of a core')}; latency (every 25th line) n/a")
        print(f"    of which the garbage collector: {r['gc']}")
    try:
        load = os.getloadavg()
        print(f"load average during the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
              f"on {os.cpu_count()} CPUs (other work on the machine inflates CPU % and latency)")
    except OSError:
        pass


if __name__ == "__main__":
    main()
