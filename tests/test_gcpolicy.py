"""The app's full-collection policy (core/gcpolicy.py): collections when RSS has grown enough and
not too often; each pause recorded; real cyclic garbage freed."""

from __future__ import annotations

import gc

from xsched_tui.core.gcpolicy import GcPolicy
from xsched_tui.core.selfcost import SelfCost, rss_bytes

MiB = 2**20


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _policy(clock: Clock, calls: list[int]) -> GcPolicy:
    def collect() -> int:
        calls.append(1)
        return 7

    return GcPolicy(grow_bytes=10 * MiB, min_spacing_s=60, collect=collect, clock=clock)


def test_collects_only_when_grown_enough_and_not_too_often():
    clock, calls = Clock(), []
    p = _policy(clock, calls)
    assert p.maybe_collect(100 * MiB) is None  # the first sample is the baseline
    clock.t += 120
    assert p.maybe_collect(105 * MiB) is None  # grown, but less than 10 MiB
    assert p.maybe_collect(None) is None  # no reading: nothing decided
    c = p.maybe_collect(111 * MiB, lambda: 104 * MiB)
    assert c is not None and calls == [1]
    assert (c.unreachable, c.rss_before, c.rss_after) == (7, 111 * MiB, 104 * MiB)
    clock.t += 30
    assert p.maybe_collect(200 * MiB) is None  # due by size, but only 30 s after the last one
    clock.t += 31
    assert p.maybe_collect(115 * MiB) is not None  # 11 MiB above the post-collection 104
    assert len(calls) == 2 and len(p.history) == 2
    assert p.text() is not None and p.text().endswith("×2")


def test_memory_given_back_lowers_the_baseline():
    clock, calls = Clock(), []
    p = _policy(clock, calls)
    p.maybe_collect(100 * MiB)
    p.maybe_collect(80 * MiB)
    clock.t += 120
    assert p.maybe_collect(91 * MiB) is not None and calls == [1]  # 11 MiB above 80


def test_real_cycles_are_collected_and_the_pause_shown():
    gc.collect()

    class Node:
        def __init__(self) -> None:
            self.me = self

    p = GcPolicy(grow_bytes=0, min_spacing_s=0)
    assert p.maybe_collect(rss_bytes()) is None  # baseline
    gc.disable()  # the garbage waits for the policy, as it does in the app at full buffers
    try:
        for _ in range(5000):
            Node()
        c = p.maybe_collect(rss_bytes(), rss_bytes)
    finally:
        gc.enable()
    assert c is not None and c.unreachable >= 5000 and c.pause_s >= 0
    text = SelfCost(1.0, 50 * MiB, 3, None, None).text(1.0, gc_text=p.text())
    assert "gc ≤" in text and "×1" in text
    assert GcPolicy().text() is None
