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

    tracemalloc.start(4)
    _n = [0]

    def _dump(*_args: object) -> None:
        gc.collect()
        _n[0] += 1
        d = os.environ.get("XSCHED_MEMTRACE_DIR", "/tmp")
        tracemalloc.take_snapshot().dump(os.path.join(d, f"snap-{os.getpid()}-{_n[0]}.pkl"))

    signal.signal(signal.SIGUSR2, _dump)
