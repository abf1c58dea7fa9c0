"""Heap snapshots of a running app, for finding what grows in a soak (not imported by anything).

    PYTHONPATH=benchmarks/memtrace python -m benchmarks.bench_soak --minutes 4 --warmup 30
    kill -USR2 <app pid>    # twice, a few minutes apart (the soak prints the app's pid)

Python imports ``sitecustomize`` at start-up; this one acts only in ``xsched_tui app``
processes: it starts tracemalloc (4 frames: more makes start-up too slow for the soak's
first-paint wait) and dumps a snapshot to ``$XSCHED_MEMTRACE_DIR`` (default /tmp) on SIGUSR2.
Compare two dumps:

    import tracemalloc as t
    a, b = (t.Snapshot.load(p) for p in ("snap-PID-1.pkl", "snap-PID-2.pkl"))
    for s in b.compare_to(a, "traceback")[:10]: print(s, *s.traceback.format(), sep="\\n  ")

2026-12-03 (64 files at 20k lines/s, --interval 0.1): the traced heap grew 97 -> 103 MiB in
115 s while RSS grew several times more; ``MALLOC_ARENA_MAX=2`` did not change the RSS slope.
"""

import os

try:
    with open("/proc/self/cmdline", "rb") as _f:
        _cmd = _f.read().split(b"\0")
except OSError:
    _cmd = []
if b"xsched_tui" in _cmd and b"app" in _cmd:
    import gc
    import signal
    import tracemalloc

    if os.environ.get("XSCHED_MEMTRACE_TRACE", "1") != "0":
        tracemalloc.start(4)
    _n = [0]

    def _dump(*_args: object) -> None:
        gc.collect()
        _n[0] += 1
        d = os.environ.get("XSCHED_MEMTRACE_DIR", "/tmp")
        tracemalloc.take_snapshot().dump(os.path.join(d, f"snap-{os.getpid()}-{_n[0]}.pkl"))

    signal.signal(signal.SIGUSR2, _dump)

    def _pymalloc() -> dict:
        """sys._debugmallocstats() writes to the C stderr: catch it in a file for its totals."""
        import re
        import sys
        import tempfile

        with tempfile.TemporaryFile() as f:
            saved = os.dup(2)
            try:
                os.dup2(f.fileno(), 2)
                sys._debugmallocstats()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            f.seek(0)
            text = f.read().decode(errors="replace")
        out = {}
        for key, pat in (("arenas", r"# arenas allocated current\s*=\s*([\d,]+)"),
                         ("arena_bytes", r"(\d[\d,]*) arenas \* \d+ bytes/arena\s*=\s*([\d,]+)"),
                         ("used_bytes", r"# bytes in allocated blocks\s*=\s*([\d,]+)"),
                         ("free_bytes", r"# bytes in available blocks\s*=\s*([\d,]+)")):
            m = re.search(pat, text)
            if m:
                out[key] = int(m.group(m.lastindex).replace(",", ""))
        return out

    def _census(path: str) -> None:
        """One full collection that keeps what it finds (DEBUG_SAVEALL): how long it took, and
        the garbage by type: what the app's own collector had not collected yet."""
        import collections
        import time

        gc.set_debug(gc.DEBUG_SAVEALL)
        t = time.perf_counter()
        n = gc.collect()
        took = time.perf_counter() - t
        gc.set_debug(0)
        kinds = collections.Counter(type(o).__qualname__ for o in gc.garbage)
        mods = collections.Counter(getattr(type(o), "__module__", "?") for o in gc.garbage)
        with open(path, "w") as out:
            out.write(f"full collection {took * 1000:.1f} ms, {n} unreachable objects\n")
            for k, c in kinds.most_common(40):
                out.write(f"{c:9d}  {k}\n")
            out.write("by module:\n")
            for k, c in mods.most_common(20):
                out.write(f"{c:9d}  {k}\n")
        gc.garbage.clear()

    def _stats_loop(every: float) -> None:
        """Every ``every`` s one JSON line: RSS, the collector's counts and per-generation
        totals, objects in the oldest generation, pymalloc's arenas (no collection forced:
        the app's own state)."""
        import json
        import threading
        import time

        d = os.environ.get("XSCHED_MEMTRACE_DIR", "/tmp")
        path = os.path.join(d, f"gc-{os.getpid()}.jsonl")
        t0 = time.monotonic()
        collect_at = float(os.environ.get("XSCHED_MEMTRACE_COLLECT_AT", "0") or 0)
        while True:
            time.sleep(every)
            if collect_at and time.monotonic() - t0 >= collect_at:
                collect_at = 0.0
                _census(os.path.join(d, f"garbage-{os.getpid()}.txt"))
            rss = 0
            with open("/proc/self/status") as st:
                for line in st:
                    if line.startswith("VmRSS:"):
                        rss = int(line.split()[1])
            rec = {"t": round(time.monotonic() - t0, 1), "rss_kib": rss, "count": gc.get_count(),
                   "stats": gc.get_stats(), "frozen": gc.get_freeze_count(),
                   "gen": [len(gc.get_objects(g)) for g in (0, 1, 2)],
                   "threads": threading.active_count(), **_pymalloc()}
            with open(path, "a") as out:
                out.write(json.dumps(rec) + "\n")

    _every = float(os.environ.get("XSCHED_MEMTRACE_EVERY", "0") or 0)
    if _every > 0:
        import threading

        threading.Thread(target=_stats_loop, args=(_every,), name="memtrace", daemon=True).start()
