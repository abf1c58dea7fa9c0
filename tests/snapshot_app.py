"""A deterministic app for Pilot and snapshot tests: fixed checks, fixed host name."""

from __future__ import annotations

from dataclasses import replace

from xsched_tui.core.checks.base import CheckSpec, Outcome, Status, ev
from xsched_tui.core.config import Config
from xsched_tui.tui.app import XSchedApp

CALLS: dict[str, int] = {}


def _fixed(cid: str, status: Status, finding: str, rows=(), fix: str = ""):
    def f(ctx):
        CALLS[cid] = CALLS.get(cid, 0) + 1
        return Outcome(status, finding, tuple(rows), fix,
                       facts={"platform": "cuda"} if cid == "install" else {})

    return f


def fixed_specs() -> list[CheckSpec]:
    return [
        CheckSpec("source", "Source", _fixed("source", Status.SKIP, "XSched source folder not configured")),
        CheckSpec("install", "Build and install", _fixed(
            "install", Status.PASS, "cuda install at /opt/xsched/output: 3/3 libraries, 2/2 softlinks",
            [ev("libshimcuda.so", "1.2 MiB, 2026-11-28 02:10:00, sha256:0123456789ab", Status.PASS),
             ev("libcuda.so.1", "-> libshimcuda.so", Status.PASS)])),
        CheckSpec("scheduler", "Scheduler verdict", _fixed(
            "scheduler", Status.FAIL,
            "XSched will load but schedule nothing: the app-managed scheduler drops every event",
            [ev("scheduler", "app"), ev("because", "no XSCHED_SCHEDULER or XSCHED_POLICY set")],
            "export XSCHED_POLICY=HPF XSCHED_AUTO_XQUEUE=ON"), after=("install",)),
        CheckSpec("gpu", "GPU", _fixed(
            "gpu", Status.WARN, "1 GPU(s): NVIDIA H100 80GB HBM3; highest preemption level 1, "
            "but level 3 is configured",
            [ev("GPU 0", "NVIDIA H100 80GB HBM3 (sm_90, compute capability 9.0): max level 1")],
            "export XSCHED_AUTO_XQUEUE_LEVEL=1")),
        CheckSpec("probe", "Live probe", _fixed("probe", Status.PASS, "shim mapped"),
                  requires=("scheduler",)),
    ]


class _SnapApp(XSchedApp):
    """Measured durations vary with machine load; a snapshot must not (they are shown as 0)."""

    def post_message(self, message) -> bool:
        from xsched_tui.tui.messages import CheckFinished, ChecksDone

        if isinstance(message, CheckFinished):
            message = CheckFinished(replace(message.result, duration_s=0.0))
        elif isinstance(message, ChecksDone):
            message = ChecksDone(replace(message.summary, duration_s=0.0))
        return super().post_message(message)


def make_app(tmp_results: str = "xsched-results") -> XSchedApp:
    cfg = replace(Config(), results=tmp_results, python="/usr/bin/python3")
    return _SnapApp(cfg, specs=fixed_specs(), hostname="gpu-host", poll=False)


app = make_app()
