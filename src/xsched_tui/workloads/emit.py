"""JSON lines out, and the summary statistics of a result. Standard library only."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

PROGRESS_INTERVAL_S = 0.25  # "at most ~4 progress lines per second"


def _clean(v: Any) -> Any:
    """JSON has no NaN/inf: a non-finite float becomes null rather than an unparseable line."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


class Emitter:
    """Writes protocol lines to a private copy of the original stdout.

    :meth:`capture_stdout` points fd 1 (and ``sys.stdout``) at stderr, so a stray ``print`` or a
    C library writing to fd 1 (torch, XSched, a vendor runtime) can never corrupt the JSON stream.
    """

    def __init__(self, stream: TextIO) -> None:
        self._out = stream
        self._last_progress = 0.0

    @classmethod
    def capture_stdout(cls) -> Emitter:
        sys.stdout.flush()
        fd = os.dup(1)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        return cls(os.fdopen(fd, "w", encoding="utf-8", buffering=1))

    def emit(self, type_: str, **fields: Any) -> None:
        line = json.dumps(_clean({"type": type_, **fields}), allow_nan=False, separators=(",", ":"))
        self._out.write(line + "\n")
        self._out.flush()

    def progress_due(self) -> bool:
        return time.monotonic() - self._last_progress >= PROGRESS_INTERVAL_S

    def progress(self, done: int, total: int | None, last: float | None, *, force: bool = False,
                 **extra: Any) -> bool:
        """At most ~4 lines a second (unless forced); True when a line was written."""
        now = time.monotonic()
        if not force and now - self._last_progress < PROGRESS_INTERVAL_S:
            return False
        self._last_progress = now
        self.emit("progress", done=done, total=total, last=last, **extra)
        return True


def nearest_rank(sorted_values: Sequence[float], p: float) -> float:
    """The p-th percentile by nearest rank: always an observed value (as the artifacts' CDFs)."""
    n = len(sorted_values)
    k = max(1, math.ceil(p / 100.0 * n))
    return sorted_values[min(k, n) - 1]


def summarize(values: Sequence[float]) -> dict[str, float | int | None]:
    n = len(values)
    if n == 0:
        return dict.fromkeys(("median", "mean", "p50", "p90", "p95", "p99", "min", "max"), None) | {"n": 0}
    s = sorted(values)
    mid = n // 2
    median = s[mid] if n % 2 else (s[mid - 1] + s[mid]) / 2
    return {"n": n, "median": median, "mean": math.fsum(s) / n,
            "p50": nearest_rank(s, 50), "p90": nearest_rank(s, 90), "p95": nearest_rank(s, 95),
            "p99": nearest_rank(s, 99), "min": s[0], "max": s[-1]}
