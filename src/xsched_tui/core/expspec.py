"""Build the overhead experiment's spec from a configuration: one place for the CLI and the app.

Raises ValueError with a sentence a user can act on (no usable install, a missing interpreter,
bad workload options) before any process is started.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Mapping
from typing import Any

from xsched_tui.core.config import Config

OVERHEAD_WORKLOADS = ("matmul", "launch", "infer")


def resolve_python(cfg: Config) -> str:
    python = cfg.python if os.sep in cfg.python else (shutil.which(cfg.python) or cfg.python)
    if not (os.path.isfile(python) and os.access(python, os.X_OK)):
        raise ValueError(f"the workload interpreter {cfg.python!r} is not an executable file (--python)")
    return python


def require_install(cfg: Config, alternative: str) -> None:
    """Raise a ValueError a user can act on unless the configured XSched install is usable."""
    from xsched_tui.core.experiment import lib_dir_and_platform

    lib_dir, plat = lib_dir_and_platform(cfg)
    if not lib_dir or not os.path.isdir(lib_dir) or not plat:
        raise ValueError(
            "no usable XSched install is configured (--install DIR or xsched.install; "
            f"lib folder: {lib_dir or 'none'}, platform: {plat or 'unknown'}); "
            f"`xsched-tui check` says what is missing. {alternative}")


def build_overhead_spec(cfg: Config, workload: str, options: Mapping[str, Any], *, pairs: int,
                        threshold_pct: float = 10.0, aa: bool = False, timeout_s: float = 600.0,
                        name: str | None = None, allow_unproven: bool = False):
    """native vs XSched (or native vs native with ``aa``) for ``pairs`` interleaved pairs."""
    from xsched_tui.core.experiment import ExperimentSpec, Mode, Role, _workload_argv

    if workload not in OVERHEAD_WORKLOADS:
        raise ValueError(f"unknown workload {workload!r} (one of {', '.join(OVERHEAD_WORKLOADS)})")
    if not 1 <= pairs <= 10_000:
        raise ValueError("pairs must be between 1 and 10000")
    if not (timeout_s > 0 and math.isfinite(timeout_s)):
        raise ValueError("the timeout must be a positive number of seconds")
    if not math.isfinite(threshold_pct) or threshold_pct <= 0:
        raise ValueError("the threshold must be a positive percentage")
    python = resolve_python(cfg)
    opts = dict(options)
    opts.setdefault("stream", cfg.stream)  # XSched does not schedule the default stream
    try:
        _workload_argv(python, workload, opts)  # unknown options fail here, before any run
    except (ValueError, TypeError) as exc:
        raise ValueError(f"workload options: {exc}") from None
    if aa:
        modes = (Mode("native-a", False), Mode("native-b", False))
    else:
        require_install(cfg, "An A/A run needs none.")
        modes = (Mode("native", False), Mode("xsched", True))
    return ExperimentSpec(
        name=name or f"overhead-{workload}" + ("-aa" if aa else ""),
        roles=(Role("main", workload, opts),), modes=modes, repeats=pairs, timeout_s=timeout_s,
        python=python, kind="overhead", allow_unproven=allow_unproven, threshold_pct=threshold_pct,
        aa=aa,
    )
