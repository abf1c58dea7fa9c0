"""Build the command line of a workload subprocess and read its JSON lines (no torch here).

The runner starts ``workload_argv(python, "matmul", size=4096, duration=5)`` with the environment
from :func:`workload_env` and feeds each stdout line to :func:`parse_line`. The flags come from the
same table the workload's own parser is built from (``xsched_tui.workloads.options``), so the two
cannot drift apart.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from xsched_tui.workloads.options import KINDS, USAGE_EXIT, options_for

MODULE = "xsched_tui.workloads"
LINE_TYPES = ("start", "ready", "progress", "result", "error")
# Exit codes of a workload (anything else, or death by a signal, is a crash).
EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, USAGE_EXIT

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_USAGE", "KINDS", "LINE_TYPES", "package_root", "parse_line",
           "workload_argv", "workload_env"]


def _text(value: Any) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value}")
        return repr(value)
    return str(value)


def workload_argv(python: str, kind: str, **options: Any) -> list[str]:
    """``[python, "-m", "xsched_tui.workloads", kind, --flag, value, ...]``.

    ``options`` use the parser's names (``size=4096``, ``ready_file=path``, ``wait_stdin=True``);
    ``None`` and ``False`` leave a flag out. An option the kind does not take is a ValueError here,
    not an exit code 64 from a child started seconds later.
    """
    allowed = {o.dest: o for o in options_for(kind)}  # ValueError for an unknown kind
    argv = [python, "-m", MODULE, kind]
    for name, value in options.items():
        opt = allowed.get(name)
        if opt is None:
            raise ValueError(f"workload {kind!r} has no option {name!r} "
                             f"(it takes: {', '.join(sorted(allowed))})")
        if value is None or value is False:
            continue
        if opt.boolean:
            if value is not True:
                raise ValueError(f"{name} is a switch: pass True or False, not {value!r}")
            argv.append(opt.flag)
            continue
        text = _text(value)
        if opt.choices and text not in opt.choices:
            raise ValueError(f"{name}={value!r}: one of {', '.join(opt.choices)}")
        argv += [opt.flag, text]
    return argv


def package_root() -> Path:
    """The folder holding the ``xsched_tui`` package (what PYTHONPATH needs)."""
    return Path(__file__).resolve().parent.parent.parent


def workload_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) with this xsched_tui first on PYTHONPATH.

    The workload interpreter is the user's (it has torch) and need not have xsched-tui installed;
    the workloads package needs only the standard library and torch.
    """
    out = dict(os.environ if env is None else env)
    root = str(package_root())
    parts = [p for p in out.get("PYTHONPATH", "").split(os.pathsep) if p and p != root]
    out["PYTHONPATH"] = os.pathsep.join([root, *parts])
    return out


def parse_line(line: str | bytes) -> dict[str, Any] | None:
    """One stdout line -> the protocol object, or None for anything else (never raises).

    Tolerant on purpose: a runner may be handed a line a library printed, a line cut by a crash,
    or undecodable bytes; none of these may stop it from reading the rest.
    """
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict) or obj.get("type") not in LINE_TYPES:
        return None
    return obj
