"""Textual's ``Strip`` must not keep itself in its own caches.

``Strip.divide([len])`` and ``Strip.crop_extend(0, len, style)`` (the compositor calls both for
every line it draws) return the strip itself and store it in the strip's own cache first: a
reference cycle, so a drawn line is freed only by the cyclic collector, not when its last
reference goes. A live log view draws new lines all the time, and the app's log buffers keep
~10^6 objects alive, so full collections are rare: the soak (benchmarks/bench_soak.py, 64 files
at 20k lines/s, --interval 0.1) found 272k such unreachable objects (150k rich Segments in 1.6k
Strips and their 11k FIFOCaches) after 280 s, and RSS growing ~20 KB per refresh.

``install()`` wraps the two methods so that the case that returns the strip itself returns it
without caching it; every other call goes to Textual's own method, so results are unchanged
(tests/test_stripcycles.py compares both over a grid of inputs and proves no cycle is left).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

_installed = False


def install() -> bool:
    """Patch ``textual.strip.Strip`` once; False when this Textual has not got the two methods
    (then nothing is changed)."""
    global _installed
    if _installed:
        return True
    from textual.strip import Strip

    divide = getattr(Strip, "divide", None)
    crop_extend = getattr(Strip, "crop_extend", None)
    if divide is None or crop_extend is None:
        return False

    def divide_no_self_cycle(self: Strip, cuts: Iterable[int]) -> Sequence[Strip]:
        cuts = list(cuts)
        length = self.cell_length
        if [c for c in cuts if c <= length] == [length]:
            return [self]  # what Textual returns here, minus ``self._divide_cache[...] = [self]``
        return divide(self, cuts)

    def crop_extend_no_self_cycle(self: Strip, start: int, end: int, style: Any) -> Strip:
        # extend_cell_length(end) is the strip itself when end <= its length, and crop(start,
        # end) of that is itself when max(0, start) == 0 and min(length, end) == length.
        if start <= 0 and end == self.cell_length:
            return self
        return crop_extend(self, start, end, style)

    divide_no_self_cycle.__wrapped__ = divide  # type: ignore[attr-defined]
    crop_extend_no_self_cycle.__wrapped__ = crop_extend  # type: ignore[attr-defined]
    Strip.divide = divide_no_self_cycle  # type: ignore[method-assign]
    Strip.crop_extend = crop_extend_no_self_cycle  # type: ignore[method-assign]
    _installed = True
    return True
