"""Textual's Strip without self-referencing caches (xsched_tui.tui.stripcycles): same results as
Textual's own methods, and a drawn line is freed by reference counting alone."""

from __future__ import annotations

import gc
import itertools

import pytest
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from xsched_tui.tui import stripcycles

STYLES = (None, Style(bold=True))


def _strips() -> list[Strip]:
    return [Strip([]), Strip([Segment("hello ")]),
            Strip([Segment("hello ", Style(color="red")), Segment("wörld", None), Segment("日本")])]


@pytest.fixture(scope="module", autouse=True)
def patched():
    assert stripcycles.install()
    assert stripcycles.install()  # idempotent


def _same(a, b) -> bool:
    if isinstance(a, Strip):
        return isinstance(b, Strip) and list(a) == list(b) and a.cell_length == b.cell_length
    return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))


def test_results_are_textuals_own():
    orig_divide = Strip.divide.__wrapped__
    orig_crop_extend = Strip.crop_extend.__wrapped__
    for s in _strips():
        n = s.cell_length
        points = sorted({-2, 0, 1, 3, n - 1, n, n + 1, n + 4})
        for cuts in ([n], [0, n], [3, n], [n + 2], [1, 2, 3], [n, n + 3], []):
            assert _same(Strip.divide(s, cuts), orig_divide(Strip(list(s), n), cuts)), (n, cuts)
        for start, end, style in itertools.product(points, points, STYLES):
            got = Strip.crop_extend(s, start, end, style)
            want = orig_crop_extend(Strip(list(s), n), start, end, style)
            assert _same(got, want), (n, start, end, style)


def test_no_cycle_left_by_drawing_a_line():
    gc.collect()
    gc.disable()
    try:
        for s in _strips():
            n = s.cell_length
            s.divide([n])
            s.crop_extend(0, n, None)
            s.crop_extend(-1, n, Style(bold=True))
            s.divide([1, n])
            s.crop_extend(1, n + 2, None)
        del s
        assert gc.collect() == 0
    finally:
        gc.enable()
