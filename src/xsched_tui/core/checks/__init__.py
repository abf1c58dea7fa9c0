"""The environment checks, in registry order (the engine orders them by dependency)."""

from __future__ import annotations

from xsched_tui.core.checks.base import CheckContext, CheckResult, CheckSpec, Outcome, Status
from xsched_tui.core.checks.engine import RunSummary, run_checks, run_one


def registry() -> list[CheckSpec]:
    # Imported here so that importing the package stays cheap for the TUI's first paint.
    from xsched_tui.core.checks import (
        environment,
        gpu,
        install,
        probe,
        source,
        symbols,
        xserver_check,
    )

    return [
        source.SPEC,
        install.SPEC,
        environment.ENV_SPEC,
        environment.SCHEDULER_SPEC,
        environment.DRIVER_SPEC,
        symbols.SPEC,
        gpu.SPEC,
        xserver_check.SPEC,
        probe.SPEC,
    ]


__all__ = [
    "CheckContext", "CheckResult", "CheckSpec", "Outcome", "RunSummary", "Status",
    "registry", "run_checks", "run_one",
]
