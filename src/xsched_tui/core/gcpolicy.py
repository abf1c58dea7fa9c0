"""When the app runs a full garbage collection, and what each one cost.

The app keeps ~10^6 GC-tracked objects alive at high log rates (the log buffers at their caps),
so CPython's collector, with the thresholds the app needs to keep young collections rare
(cli.py), almost never reaches the oldest generation. Textual meanwhile makes reference cycles
all the time (the compositor's arrange closures, the virtual nodes of every restyle, ...), and
each one that outlives a young collection stays until a full collection: the soak
(benchmarks/bench_soak.py, 64 files at 20k lines/s, --interval 0.1) measured RSS growing
20-40 KB per refresh with no full collection in 8 minutes, and one full collection at 280 s
finding 272k-353k unreachable objects.

``GcPolicy.maybe_collect`` runs a full collection when the blocks the Python allocator has handed
out (``sys.getallocatedblocks()``, cheap) have grown by ``grow_blocks`` since the last full
collection (and at least ``min_spacing_s`` has passed): garbage is bounded by construction, and
a quiet app never pays for one. Not RSS: freed blocks stay in the allocator's arenas, so after a
collection RSS stays up while the garbage's room is reused, and a trigger on RSS growth let the
garbage ratchet up (12-minute soak: 2 collections, then +51 MiB of live-block growth unnoticed).
A full collection pauses every Python thread for time proportional to the live objects (about
2 s with 10^6 of them on a loaded 2-CPU machine), so each pause is recorded and shown with the
app's own cost. No Textual.
"""

from __future__ import annotations

import gc
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

GROW_BLOCKS = 400_000  # ~40 MiB of small objects (a Segment, a record: 60-200 bytes each)
MIN_SPACING_S = 60.0  # never more often than this, however fast it grows
HISTORY = 32


@dataclass(frozen=True)
class Collection:
    at: float  # monotonic
    pause_s: float
    unreachable: int
    blocks_before: int
    blocks_after: int


class GcPolicy:
    def __init__(self, grow_blocks: int = GROW_BLOCKS, min_spacing_s: float = MIN_SPACING_S,
                 collect: Callable[[], int] = gc.collect,
                 blocks: Callable[[], int] = sys.getallocatedblocks,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.grow_blocks = grow_blocks
        self.min_spacing_s = min_spacing_s
        self._collect = collect
        self._blocks = blocks
        self._clock = clock
        self._baseline: int | None = None  # blocks after the last collection (or the lowest seen)
        self._last = clock()
        self.history: deque[Collection] = deque(maxlen=HISTORY)

    def maybe_collect(self) -> Collection | None:
        """Run a full collection if one is due; returns it, or None."""
        n = self._blocks()
        if self._baseline is None or n < self._baseline:
            self._baseline = n  # fewer live blocks: measure growth from the lower level
            return None
        now = self._clock()
        if n - self._baseline < self.grow_blocks or now - self._last < self.min_spacing_s:
            return None
        t = time.perf_counter()
        unreachable = self._collect()
        pause = time.perf_counter() - t
        self._last = self._clock()
        self._baseline = after = self._blocks()
        c = Collection(now, pause, unreachable, n, after)
        self.history.append(c)
        return c

    def text(self) -> str | None:
        """``gc ≤1.8 s ×3``: the longest pause of the recent collections, and how many; or None."""
        if not self.history:
            return None
        return f"gc ≤{max(c.pause_s for c in self.history):.1f} s ×{len(self.history)}"
