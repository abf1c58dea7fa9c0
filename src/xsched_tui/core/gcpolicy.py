"""When the app runs a full garbage collection, and what each one cost.

The app keeps ~10^6 GC-tracked objects alive at high log rates (the log buffers at their caps),
so CPython's collector, with the thresholds the app needs to keep young collections rare
(cli.py), almost never reaches the oldest generation. Textual meanwhile makes reference cycles
all the time (the compositor's arrange closures, the virtual nodes of every restyle, ...), and
each one that outlives a young collection stays until a full collection: the soak
(benchmarks/bench_soak.py, 64 files at 20k lines/s, --interval 0.1) measured RSS growing
20-40 KB per refresh with no full collection in 8 minutes, and one full collection at 280 s
finding 272k-353k unreachable objects.

``GcPolicy.maybe_collect`` runs a full collection when the resident size has grown by
``grow_bytes`` since the last one (and at least ``min_spacing_s`` has passed): garbage is
bounded by construction, and a quiet app never pays for one. A full collection pauses every
Python thread for time proportional to the live objects (about 1-2 s with 10^6 of them on a
loaded 2-CPU machine), so each pause is recorded and shown with the app's own cost. No Textual.
"""

from __future__ import annotations

import gc
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

GROW_BYTES = 48 * 2**20  # garbage allowed to pile up before a collection
MIN_SPACING_S = 60.0  # never more often than this, however fast it grows
HISTORY = 32


@dataclass(frozen=True)
class Collection:
    at: float  # monotonic
    pause_s: float
    unreachable: int
    rss_before: int
    rss_after: int | None


class GcPolicy:
    def __init__(self, grow_bytes: int = GROW_BYTES, min_spacing_s: float = MIN_SPACING_S,
                 collect: Callable[[], int] = gc.collect,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.grow_bytes = grow_bytes
        self.min_spacing_s = min_spacing_s
        self._collect = collect
        self._clock = clock
        self._baseline: int | None = None  # RSS after the last collection (or the first sample)
        self._last = clock()
        self.history: deque[Collection] = deque(maxlen=HISTORY)

    def maybe_collect(self, rss: int | None, rss_now: Callable[[], int | None] | None = None
                      ) -> Collection | None:
        """Given the current RSS, run a full collection if it is due; returns it, or None."""
        if rss is None:
            return None
        if self._baseline is None or rss < self._baseline:
            self._baseline = rss  # memory given back: measure growth from the lower level
            return None
        now = self._clock()
        if rss - self._baseline < self.grow_bytes or now - self._last < self.min_spacing_s:
            return None
        t = time.perf_counter()
        unreachable = self._collect()
        pause = time.perf_counter() - t
        after = rss_now() if rss_now is not None else None
        self._last = self._clock()
        # freed blocks are reused before the heap grows again, even when RSS does not drop
        self._baseline = after if after is not None else rss
        c = Collection(now, pause, unreachable, rss, after)
        self.history.append(c)
        return c

    def text(self) -> str | None:
        """``gc 1.8 s x3`` (the longest pause of the collections so far, and how many), or None."""
        if not self.history:
            return None
        return f"gc ≤{max(c.pause_s for c in self.history):.1f} s ×{len(self.history)}"
