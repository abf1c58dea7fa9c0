"""core/overhead.py: direction of the ratio, verdicts, A/A, dropped pairs and CPU overhead."""

from __future__ import annotations

import pytest

from xsched_tui.core.experiment import ExperimentSpec, Fingerprint, Mode, Role, RunEvents, RunRecord
from xsched_tui.core.overhead import (
    PairSample,
    compute_overhead,
    overhead_from_runs,
    pair_overhead,
)


def pairs(native: list[float], xsched: list[float], **kw) -> list[PairSample]:
    return [PairSample(i, a, b, **kw) for i, (a, b) in enumerate(zip(native, xsched, strict=True))]


def test_direction_of_the_overhead():
    assert pair_overhead(100.0, 80.0, True) == pytest.approx(0.25)  # throughput fell 20%
    assert pair_overhead(10.0, 11.0, False) == pytest.approx(0.10)  # latency rose 10%
    assert pair_overhead(100.0, 125.0, True) == pytest.approx(-0.2)  # faster under XSched


def test_constant_overhead_known_median_and_pass():
    r = compute_overhead(pairs([100.0] * 6, [100 / 1.05] * 6), "tflops", threshold_pct=10)
    assert r.median_pct == pytest.approx(5.0)
    assert r.ci_lo_pct == pytest.approx(5.0) and r.ci_hi_pct == pytest.approx(5.0)
    assert r.verdict == "PASS" and r.pairs_valid == 6 and r.paper_pct == 3.4


def test_fail_when_ci_above_threshold_latency_metric():
    r = compute_overhead(pairs([2.0] * 5, [2.5, 2.6, 2.5, 2.55, 2.5]), "latency_ms", threshold_pct=10)
    assert r.median_pct == pytest.approx(25.0)
    assert r.ci_lo_pct > 10 and r.verdict == "FAIL"


def test_inconclusive_when_ci_straddles():
    xs = [100 / (1 + o / 100) for o in (0, 20, 2, 18, 5, 15, 9, 11)]
    r = compute_overhead(pairs([100.0] * 8, xs), "tflops", threshold_pct=10)
    assert r.ci_lo_pct < 10 < r.ci_hi_pct and r.verdict == "INCONCLUSIVE"


def test_too_few_pairs_and_no_pairs():
    assert compute_overhead(pairs([1.0, 1.0], [1.0, 1.0]), "iter_ms").verdict == "INCONCLUSIVE"
    r = compute_overhead([], "iter_ms", dropped=["pair 0: xsched run 2 invalid: crashed"], pairs_total=1)
    assert r.verdict == "INVALID" and r.pairs_valid == 0 and r.pairs_total == 1
    assert r.dropped == ("pair 0: xsched run 2 invalid: crashed",)
    assert r.to_json()["median_pct"] is None


def test_aa_noise_floor_contains_zero():
    noise = [0.4, -0.3, 0.1, -0.5, 0.2, -0.1, 0.3, -0.2, 0.0, 0.15]
    r = compute_overhead(pairs([100.0] * 10, [100 / (1 + n / 100) for n in noise]), "tflops", aa=True)
    assert r.contains_zero and r.verdict == "PASS" and r.half_width_pct < 1
    biased = compute_overhead(pairs([100.0] * 6, [97.0] * 6), "tflops", aa=True)
    assert not biased.contains_zero and biased.verdict == "FAIL"


def test_seeded_result_is_reproducible():
    xs = [100 / (1 + o / 100) for o in (1, 3, 2, 4, 0.5, 2.5, 3.5)]
    a = compute_overhead(pairs([100.0] * 7, xs), "tflops", seed=5, n_boot=2000)
    b = compute_overhead(pairs([100.0] * 7, xs), "tflops", seed=5, n_boot=2000)
    assert a.to_json() == b.to_json()


def test_cpu_overhead_per_unit_of_work():
    ps = pairs([100.0] * 4, [100.0] * 4, native_cpu_unit=0.010, xsched_cpu_unit=0.0103,
               native_util=50.0, xsched_util=53.0)
    r = compute_overhead(ps, "tflops")
    assert r.cpu_overhead_pct == pytest.approx(3.0)
    assert r.cpu_util_delta_points == pytest.approx(3.0)


def test_unknown_metric_is_rejected():
    with pytest.raises(ValueError):
        compute_overhead(pairs([1.0], [1.0]), "furlongs")


def _run(index: int, repeat: int, mode: str, value: float | None, valid: bool = True,
         metric: str = "tflops", reason: str | None = None) -> RunRecord:
    result = None if value is None else {
        "type": "result", "metric": metric, "values": [value] * 4, "cpu_time_s": 1.0, "wall_s": 2.0,
        "summary": {"n": 4, "median": value}}
    return RunRecord(
        index=index, repeat=repeat, mode=mode, role="main", pid=1000 + index, argv=("x",), env={},
        started=0.0, ended=1.0, exit_code=0, exit_signal=None, exit_text="exit code 0",
        timed_out=False, cancelled=False, result=result, error=None,
        events=RunEvents((), 0, 0, (), None, None),
        fingerprint=Fingerprint(True, None, None, None, None, ()),
        valid=valid, invalid_reason=reason, folder=f"runs/{index:03d}")


def test_overhead_from_runs_drops_pairs_with_an_invalid_side():
    spec = ExperimentSpec("o", (Role("main", "matmul"),), (Mode("native", False), Mode("xsched", True)),
                          repeats=4)
    runs = [
        _run(1, 0, "native", 100.0), _run(2, 0, "xsched", 98.0),
        _run(3, 1, "native", 100.0), _run(4, 1, "xsched", 50.0, valid=False, reason="0 XQueues"),
        _run(5, 2, "native", 100.0), _run(6, 2, "xsched", 98.0),
        _run(7, 3, "native", 100.0),  # cancelled before its partner: not a pair at all
    ]
    r = overhead_from_runs(runs, spec, threshold_pct=10)
    assert r is not None
    assert r.pairs_total == 3 and r.pairs_valid == 2 and len(r.dropped) == 1
    assert "0 XQueues" in r.dropped[0] and "pair 1" in r.dropped[0]
    assert r.median_pct == pytest.approx(100 * (100 / 98 - 1))
    assert r.cpu_overhead_pct == pytest.approx(0.0)
    assert overhead_from_runs(runs[:1], spec) is None  # no complete pair yet
