"""The app's full-collection policy (core/gcpolicy.py): a collection when the allocator's live
blocks have grown enough and not too often; each pause recorded; real cyclic garbage freed."""

from __future__ import annotations

import gc

from xsched_tui.core.gcpolicy import GcPolicy
from xsched_tui.core.selfcost import SelfCost


class Fake:
    def __init__(self) -> None:
        self.t = 1000.0
        self.blocks = 0
        self.after = 0
        self.calls = 0

    def clock(self) -> float:
        return self.t

    def collect(self) -> int:
        self.calls += 1
        self.blocks = self.after
        return 7

    def policy(self) -> GcPolicy:
        return GcPolicy(grow_blocks=1000, min_spacing_s=60, collect=self.collect,
                        blocks=lambda: self.blocks, clock=self.clock)


def test_collects_only_when_grown_enough_and_not_too_often():
    f = Fake()
    p = f.policy()
    f.blocks = 5000
    assert p.maybe_collect() is None  # the first reading is the baseline
    f.t += 120
    f.blocks = 5900
    assert p.maybe_collect() is None  # grown, but less than 1000 blocks
    f.blocks, f.after = 6100, 5200
    c = p.maybe_collect()
    assert c is not None and f.calls == 1
    assert (c.unreachable, c.blocks_before, c.blocks_after) == (7, 6100, 5200)
    f.t += 30
    f.blocks = 9000
    assert p.maybe_collect() is None  # due by size, but only 30 s after the last one
    f.t += 31
    f.blocks = 6300  # 1100 above the post-collection 5200
    assert p.maybe_collect() is not None and f.calls == 2 and len(p.history) == 2
    assert p.text() is not None and p.text().endswith("×2")


def test_fewer_live_blocks_lower_the_baseline():
    f = Fake()
    p = f.policy()
    f.blocks = 5000
    p.maybe_collect()
    f.blocks = 3000
    p.maybe_collect()
    f.t += 120
    f.blocks = 4100
    assert p.maybe_collect() is not None and f.calls == 1  # 1100 above 3000


def test_real_cycles_are_collected_and_the_pause_shown():
    gc.collect()

    class Node:
        def __init__(self) -> None:
            self.me = self
            self.pad = [0] * 4

    p = GcPolicy(grow_blocks=5000, min_spacing_s=0)
    assert p.maybe_collect() is None  # baseline
    gc.disable()  # the garbage waits for the policy, as it does in the app at full buffers
    try:
        for _ in range(5000):
            Node()
        c = p.maybe_collect()
    finally:
        gc.enable()
    assert c is not None and c.unreachable >= 5000 and c.blocks_after < c.blocks_before
    text = SelfCost(1.0, 50 * 2**20, 3, None, None).text(1.0, gc_text=p.text())
    assert "gc ≤" in text and "×1" in text
    assert GcPolicy().text() is None
