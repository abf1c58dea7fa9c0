"""Build priority experiments (dual-model, bandwidth partition, N tenants) from plain options:
one place for the CLI and the app. Raises ValueError with a sentence a user can act on.

What the runner sets for XSched that the user in FIELD-NOTES §2 never managed to: the scheduler
(``XSCHED_SCHEDULER=GLB`` with an xserver the runner starts and stops, or a local policy through
``XSCHED_POLICY``), ``XSCHED_AUTO_XQUEUE=ON``, a priority per role and, when given, level,
threshold and batch size per role, and the explicit stream (XSched ignores the default one).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from xsched_tui.core.config import Config
from xsched_tui.core.expspec import require_install, resolve_python
from xsched_tui.core.xserverproc import POLICIES

CONFIGS = ("standalone", "native", "xsched")
SCHEDULERS = ("global", "local")


@dataclass(frozen=True)
class RoleSpec:
    """One role as a user states it."""

    name: str
    kind: str  # matmul | launch | infer
    options: Mapping[str, Any] = field(default_factory=dict)
    priority: int = 0
    level: int | None = None
    threshold: int | None = None
    batch_size: int | None = None
    utilization: int | None = None
    p99_ms: float | None = None
    min_throughput_frac: float | None = None
    deadline_ms: float | None = None
    argv: tuple[str, ...] | None = None  # a custom command instead of the workloads module


@dataclass(frozen=True)
class SchedChoice:
    scheduler: str = "global"  # global: xserver + XSCHED_SCHEDULER=GLB; local: XSCHED_POLICY
    policy: str = "HPF"
    port: int = 50000
    xserver_argv: tuple[str, ...] | None = None  # tests: a stand-in xserver


def role_xsched_env(r: RoleSpec) -> dict[str, str]:
    env = {"XSCHED_AUTO_XQUEUE_PRIORITY": str(r.priority)}
    for key, v in (("LEVEL", r.level), ("THRESHOLD", r.threshold), ("BATCH_SIZE", r.batch_size),
                   ("UTILIZATION", r.utilization)):
        if v is not None:
            env[f"XSCHED_AUTO_XQUEUE_{key}"] = str(v)
    return env


def _check_role(r: RoleSpec) -> None:
    if not -256 <= r.priority <= 255:
        raise ValueError(f"role {r.name}: priority must be -256..255 (FACTS §3), got {r.priority}")
    if r.level is not None and r.level not in (1, 2, 3):
        raise ValueError(f"role {r.name}: level must be 1, 2 or 3, got {r.level} "
                         "(XSched ignores other values and creates no XQueue)")
    if r.threshold is not None and r.threshold <= 0:
        raise ValueError(f"role {r.name}: threshold must be > 0")
    if r.batch_size is not None and r.batch_size <= 0:
        raise ValueError(f"role {r.name}: batch size must be > 0")
    if (r.threshold or 16) < (r.batch_size or min(8, r.threshold or 8)):
        raise ValueError(f"role {r.name}: batch size {r.batch_size} above threshold "
                         f"{r.threshold or 16}: XSched aborts with `Assertion failed` (FACTS §11)")
    if r.utilization is not None and not 0 <= r.utilization <= 100:
        raise ValueError(f"role {r.name}: utilization must be 0-100")


def xsched_mode(sched: SchedChoice):
    from xsched_tui.core.experiment import Mode
    from xsched_tui.core.xserverproc import XServerLaunch

    if sched.scheduler not in SCHEDULERS:
        raise ValueError(f"scheduler must be one of {', '.join(SCHEDULERS)}")
    if sched.policy.upper() not in POLICIES:
        raise ValueError(f"unknown policy {sched.policy!r} (one of {', '.join(POLICIES)})")
    env = {"XSCHED_AUTO_XQUEUE": "ON"}
    if sched.scheduler == "global":
        env["XSCHED_SCHEDULER"] = "GLB"
        # A valid XSCHED_POLICY (the configured default is HPF) would win over GLB and give each
        # process its own local scheduler (FACTS §3): remove it.
        env["XSCHED_POLICY"] = ""
        return Mode("xsched", True, env=env,
                    xserver=XServerLaunch(sched.policy.upper(), sched.port, sched.xserver_argv))
    env["XSCHED_POLICY"] = sched.policy.upper()  # an in-process LocalScheduler per process
    env["XSCHED_SCHEDULER"] = ""
    return Mode("xsched", True, env=env)


def build_priority_spec(cfg: Config, roles: Sequence[RoleSpec], *, sched: SchedChoice,
                        configs: Sequence[str] = CONFIGS, repeats: int = 3,
                        primary: Sequence[str] | None = None, calibrate: str | None = None,
                        calibrate_fraction: float = 0.2, timeout_s: float = 900.0,
                        solo_s: float = 10.0,
                        name: str | None = None, allow_unproven: bool = False):
    """Standalone (each role alone), native co-located and XSched co-located configurations.

    ``primary``: roles whose end ends a trial (default: the periodic ones, or all when none is
    periodic); the others run flat out until told to stop. ``calibrate``: a periodic role whose
    rate is set to ``calibrate_fraction`` x its flat-out peak, measured once before the plan."""
    from xsched_tui.core.experiment import (
        Calibration,
        ExperimentSpec,
        Mode,
        Role,
        Slo,
        _workload_argv,
    )

    if len(roles) < 2:
        raise ValueError("a priority experiment needs at least two roles")
    if len({r.name for r in roles}) != len(roles):
        raise ValueError("role names must be unique")
    bad = [c for c in configs if c not in CONFIGS]
    if bad or not configs:
        raise ValueError(f"configurations must be among {', '.join(CONFIGS)} (got {', '.join(bad)})")
    if not 1 <= repeats <= 1000:
        raise ValueError("repeats must be between 1 and 1000")
    if not (timeout_s > 0 and math.isfinite(timeout_s)):
        raise ValueError("the timeout must be a positive number of seconds")
    if not 0 < calibrate_fraction <= 1:
        raise ValueError("the calibration fraction must be in (0, 1]")
    python = resolve_python(cfg)
    for r in roles:
        _check_role(r)
    periodic = {r.name for r in roles if r.kind == "infer" and (
        r.options.get("rate") not in (None, 0, 0.0) or r.name == calibrate)}
    prim = set(primary) if primary is not None else (periodic or {r.name for r in roles})
    if prim - {r.name for r in roles}:
        raise ValueError(f"unknown primary roles: {', '.join(sorted(prim - {r.name for r in roles}))}")
    if calibrate is not None and calibrate not in periodic | {r.name for r in roles if r.kind == "infer"}:
        raise ValueError(f"--calibrate needs an infer role, got {calibrate!r}")
    out_roles = []
    for r in roles:
        opts = dict(r.options)
        opts.setdefault("stream", cfg.stream)
        if r.name == calibrate:
            opts.setdefault("rate", 1.0)  # replaced by the calibration before any trial
        if r.name not in prim and "iters" not in opts and "duration" not in opts:
            opts["duration"] = solo_s  # what it measures alone; co-located it runs until told
        if r.argv is None:
            try:
                _workload_argv(python, r.kind, opts)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"role {r.name}: workload options: {exc}") from None
        slo = None
        if r.p99_ms is not None or r.min_throughput_frac is not None or r.deadline_ms is not None:
            slo = Slo(r.p99_ms, r.min_throughput_frac, r.deadline_ms)
        out_roles.append(Role(r.name, r.kind, opts, argv=r.argv, xsched_env=role_xsched_env(r),
                              primary=r.name in prim, priority=r.priority, slo=slo))
    modes = []
    if "standalone" in configs:
        modes += [Mode(f"standalone-{r.name}", False, roles=(r.name,)) for r in roles]
    if "native" in configs:
        modes.append(Mode("native", False))
    if "xsched" in configs:
        require_install(cfg, "The xsched configuration needs one; --configs standalone,native "
                        "needs none.")
        modes.append(xsched_mode(sched))
    return ExperimentSpec(
        name=name or ("priority-" + "-".join(r.name for r in roles)), roles=tuple(out_roles),
        modes=tuple(modes), repeats=repeats, timeout_s=timeout_s, python=python, kind="priority",
        allow_unproven=allow_unproven,
        calibration=Calibration(calibrate, calibrate_fraction) if calibrate else None)


def parse_role(text: str, default_name: str) -> RoleSpec:
    """``name=fg,kind=infer,priority=1,rate=100,p99_ms=5,model=mlp`` -> RoleSpec. Keys that are not
    RoleSpec fields are workload options."""
    fields_: dict[str, Any] = {"name": default_name}
    opts: dict[str, Any] = {}
    ints = ("priority", "level", "threshold", "batch_size", "utilization")
    floats = ("p99_ms", "min_throughput_frac", "deadline_ms")
    for part in filter(None, (p.strip() for p in text.split(","))):
        k, eq, v = part.partition("=")
        k = k.strip().replace("-", "_")
        if not eq:
            opts[k] = True
            continue
        try:
            if k in ("name", "kind"):
                fields_[k] = v
            elif k in ints:
                fields_[k] = int(v)
            elif k in floats:
                fields_[k] = float(v)
            else:
                opts[k] = _opt_value(v)
        except ValueError:
            raise ValueError(f"role {text!r}: {k}={v!r} is not a number") from None
    if "kind" not in fields_:
        raise ValueError(f"role {text!r}: kind=matmul|launch|infer is required")
    return RoleSpec(options=opts, **fields_)


def _opt_value(v: str) -> Any:
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    return v
