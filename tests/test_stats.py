"""core/stats.py against inputs whose answers are known."""

from __future__ import annotations

import math
import statistics

import pytest

from xsched_tui.core import stats


def test_median_and_percentile_known_values():
    xs = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert stats.median(xs) == 3.0
    assert stats.median([1.0, 2.0, 3.0, 4.0]) == 2.5
    assert stats.percentile(list(range(1, 101)), 95) == 95
    assert stats.percentile([1.0, 2.0, 3.0], 100) == 3.0
    assert stats.percentile([1.0, 2.0, 3.0], 0) == 1.0
    assert math.isnan(stats.median([])) and math.isnan(stats.percentile([], 50))


def test_bootstrap_is_seeded_and_reproducible():
    xs = [1.2, 0.7, 3.1, 2.2, 1.9, 0.4, 2.8, 1.1, 1.6, 2.5]
    a = stats.bootstrap_ci(xs, n_boot=1000, seed=7)
    b = stats.bootstrap_ci(xs, n_boot=1000, seed=7)
    assert a == b
    assert a[0] <= stats.median(xs) <= a[1]
    assert min(xs) <= a[0] <= a[1] <= max(xs)
    others = {stats.bootstrap_ci(xs, n_boot=1000, seed=s) for s in range(5)}
    assert len(others) >= 1  # different seeds are allowed to differ; each is itself stable


def test_bootstrap_degenerate_inputs():
    assert stats.bootstrap_ci([4.0] * 12) == (4.0, 4.0)  # no spread: a zero-width CI at the value
    assert stats.bootstrap_ci([2.5]) == (2.5, 2.5)
    lo, hi = stats.bootstrap_ci([])
    assert math.isnan(lo) and math.isnan(hi)
    with pytest.raises(ValueError):
        stats.bootstrap_ci([1.0, 2.0], level=1.5)


def test_bootstrap_other_statistic_and_level():
    xs = [float(i) for i in range(1, 31)]
    lo90, hi90 = stats.bootstrap_ci(xs, statistics.fmean, level=0.90, seed=3)
    lo99, hi99 = stats.bootstrap_ci(xs, statistics.fmean, level=0.99, seed=3)
    assert lo99 <= lo90 < 15.5 < hi90 <= hi99  # a wider level gives a wider interval


def test_symmetric_noise_ci_contains_zero():
    noise = [-0.8, 0.3, -0.1, 0.6, -0.4, 0.2, 0.0, -0.3, 0.5, -0.6, 0.1, 0.4]
    lo, hi = stats.bootstrap_ci(noise, seed=11)
    assert lo < 0 < hi


def test_paired_ratios():
    assert stats.paired_ratios([2.0, 3.0, 1.0], [1.0, 3.0, 0.0]) == [2.0, 1.0]  # zero skipped
    with pytest.raises(ValueError):
        stats.paired_ratios([1.0], [1.0, 2.0])


def test_summarize_known_sample():
    s = stats.summarize([3.0, 1.0, 2.0, 5.0, 4.0], n_boot=500, seed=1)
    assert (s.n, s.median, s.p95, s.min, s.max) == (5, 3.0, 5.0, 1.0, 5.0)
    assert s.ci_lo <= 3.0 <= s.ci_hi
    assert stats.summarize([]).to_json()["median"] is None  # JSON has no NaN
