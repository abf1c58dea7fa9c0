"""Give the calling thread its Python name at the OS level too (``top -H``, /proc/PID/task/*/comm).

Python threads all show as "python" otherwise, which makes "which thread costs this?" (our
benchmarks split CPU by thread; a user's `top -H`) unanswerable. Linux keeps 15 bytes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading

_PR_SET_NAME = 15
_libc = None


def name_native(name: str | None = None) -> None:
    """Best effort; never raises."""
    global _libc
    if not sys.platform.startswith("linux"):
        return
    try:
        if _libc is None:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        text = (name or threading.current_thread().name).encode("utf-8", "replace")[:15]
        _libc.prctl(_PR_SET_NAME, ctypes.c_char_p(text), 0, 0, 0)
    except (OSError, AttributeError, ValueError):
        pass
