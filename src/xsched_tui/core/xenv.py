"""What XSched makes of an environment (FACTS §3): validation, the scheduler verdict, and the
environment xsched-tui applies to the workloads it starts.

The rules mirror XSched's own parsing, not what a user would guess: booleans accept only
1/0/on/off, XLOG_LEVEL is case-sensitive, XSCHED_POLICY wins over XSCHED_SCHEDULER when it
names a valid policy, and the artifacts' legacy GBL/AMG mean app-managed in v1.0+.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from xsched_tui.core.config import is_xsched_env_name
from xsched_tui.core.platforms import PLATFORMS, Platform

POLICIES = ("HPF", "HHPF", "CHPF", "UP", "PUP", "SPUP", "KEDF", "LAX", "AWF", "CFS", "MLFQ")
SCHEDULERS = ("APP", "LCL", "GLB")
LEGACY_POLICY = {"GBL": "XSCHED_SCHEDULER=GLB", "AMG": "XSCHED_SCHEDULER=APP"}
LOG_LEVELS = ("ERRO", "WARN", "INFO", "DEBG")

BOOL_VARS = (
    "XSCHED_AUTO_XQUEUE",
    "XSCHED_SCHEDULER_SUSPEND_SYNC_HWQ",
    "XSCHED_SCHEDULER_SUSPEND_WAIT_ALL",
    "XSCHED_SCHEDULER_SUSPEND_WAIT_IDLE",
    "XSCHED_CUDA_SINGLE_STREAM_PER_PROCESS",
)
INT_VARS = {
    "XSCHED_AUTO_XQUEUE_LEVEL": (1, 3),
    "XSCHED_AUTO_XQUEUE_THRESHOLD": (1, None),
    "XSCHED_AUTO_XQUEUE_BATCH_SIZE": (1, None),
    "XSCHED_AUTO_XQUEUE_PRIORITY": (-256, 255),
    "XSCHED_AUTO_XQUEUE_UTILIZATION": (0, 100),
    "XSCHED_AUTO_XQUEUE_TIMESLICE": (1, None),
    "XSCHED_AUTO_XQUEUE_DEADLINE": (0, None),
    "XSCHED_AUTO_XQUEUE_KDEADLINE": (0, None),
    "XSCHED_AUTO_XQUEUE_LAXITY": (0, None),
    "XSCHED_LEVELZERO_SLICE_CNT": (1, None),
}
LIB_VARS = (
    "XSCHED_CUDA_LIB", "XSCHED_CUPTI_LIB", "XSCHED_HIP_LIB", "XSCHED_HIP_COMGR_LIB",
    "XSCHED_ASCEND_LIB", "XSCHED_ACL_OP_COMPILER_LIB", "XSCHED_ACL_CBLAS_LIB",
    "XSCHED_ACL_NNOP_BASE_LIB", "XSCHED_ACL_OP_API_LIB", "XSCHED_COREX_LIB",
    "XSCHED_COREX_RT_LIB", "XSCHED_CUDLA_LIB", "XSCHED_CUDART_LIB", "XSCHED_LEVELZERO_LIB",
    "XSCHED_OPENCL_LIB", "XSCHED_VPI_LIB",
)
OTHER_VARS = ("XLOG_LEVEL", "XSCHED_SCHEDULER", "XSCHED_POLICY", "XSCHED_CUDA_LV3_IMPL")
KNOWN_VARS = frozenset((*BOOL_VARS, *INT_VARS, *LIB_VARS, *OTHER_VARS))
# Names users invent (FIELD-NOTES §4 row 13) mapped to the real one.
ALIASES = {
    "XSCHED_LOG_LEVEL": "XLOG_LEVEL",
    "XSCHED_LOGLEVEL": "XLOG_LEVEL",
    "XSCHED_LOG": "XLOG_LEVEL",
    "XSCHED_PRIORITY": "XSCHED_AUTO_XQUEUE_PRIORITY",
    "XSCHED_LEVEL": "XSCHED_AUTO_XQUEUE_LEVEL",
    "XSCHED_THRESHOLD": "XSCHED_AUTO_XQUEUE_THRESHOLD",
    "XSCHED_BATCH_SIZE": "XSCHED_AUTO_XQUEUE_BATCH_SIZE",
}


@dataclass(frozen=True)
class EnvFinding:
    """One problem (or note) about one variable. severity: "fail", "warn" or "info"."""

    severity: str
    var: str
    message: str
    fix: str = ""


@dataclass(frozen=True)
class SchedulerVerdict:
    scheduler: str  # "app", "local", "global"
    policy: str | None
    auto_xqueue: bool
    reason: str  # why XSched will pick this, in its own rules

    @property
    def schedules(self) -> bool:
        """Whether anything will be scheduled without the app calling XSched's APIs itself."""
        return self.scheduler != "app" and self.auto_xqueue


def parse_bool(value: str | None) -> bool | None:
    """XSched's GetEnvOption: 1/on -> True, 0/off -> False (any case); else None (default)."""
    if value is None:
        return None
    v = value.strip().lower()
    if v in ("1", "on"):
        return True
    if v in ("0", "off"):
        return False
    return None


def parse_int(value: str | None) -> int | None:
    """XSched's GetEnvInt64 (std::stoll): leading spaces and trailing junk are accepted."""
    if value is None:
        return None
    s = value.lstrip()
    i = 0
    if i < len(s) and s[i] in "+-":
        i += 1
    j = i
    while j < len(s) and s[j].isdigit():
        j += 1
    if j == i:
        return None
    return int(s[:j])


def scheduler_verdict(env: Mapping[str, str]) -> SchedulerVerdict:
    """Which scheduler XSched v1.x will choose for a process started with ``env``."""
    auto = parse_bool(env.get("XSCHED_AUTO_XQUEUE")) is True
    pol = env.get("XSCHED_POLICY")
    if pol is not None and pol.strip().upper() in POLICIES:
        p = pol.strip().upper()
        return SchedulerVerdict("local", p, auto, f"XSCHED_POLICY={pol} is a valid policy")
    sch = (env.get("XSCHED_SCHEDULER") or "").strip().upper()
    if sch == "GLB":
        return SchedulerVerdict("global", None, auto, "XSCHED_SCHEDULER=GLB")
    if sch == "LCL":
        return SchedulerVerdict(
            "app", None, auto, "XSCHED_SCHEDULER=LCL without a valid XSCHED_POLICY falls back"
        )
    if sch == "APP":
        return SchedulerVerdict("app", None, auto, "XSCHED_SCHEDULER=APP")
    if pol is not None:
        return SchedulerVerdict("app", None, auto, f"XSCHED_POLICY={pol} is not a policy")
    if sch:
        return SchedulerVerdict("app", None, auto, f"XSCHED_SCHEDULER={sch} is unknown")
    return SchedulerVerdict("app", None, auto, "no XSCHED_SCHEDULER or XSCHED_POLICY set")


def validate(env: Mapping[str, str]) -> list[EnvFinding]:
    """Every problem with the XSched variables in ``env``, in XSched's own parsing rules."""
    out: list[EnvFinding] = []
    names = [k for k in env if is_xsched_env_name(k)]
    for name in sorted(names):
        val = env[name]
        if name not in KNOWN_VARS:
            guess = ALIASES.get(name) or next(
                iter(difflib.get_close_matches(name, sorted(KNOWN_VARS), n=1, cutoff=0.75)), None
            )
            hint = f"; did you mean {guess}?" if guess else ""
            out.append(EnvFinding(
                "warn", name, f"{name} is not read by XSched{hint}",
                f"export {guess}={val}" if guess else f"unset {name}",
            ))
            continue
        if val.strip() == "":
            out.append(EnvFinding("warn", name, f"{name} is set but empty (XSched uses its default)",
                                  f"unset {name}"))
            continue
        if name in BOOL_VARS and parse_bool(val) is None:
            out.append(EnvFinding(
                "fail" if name == "XSCHED_AUTO_XQUEUE" else "warn", name,
                f"{name}={val} is not a boolean XSched understands (only 1/0/on/off): "
                "it counts as OFF",
                f"export {name}=ON",
            ))
        elif name in INT_VARS:
            lo, hi = INT_VARS[name]
            n = parse_int(val)
            if n is None:
                out.append(EnvFinding("warn", name, f"{name}={val} is not an integer: ignored",
                                      f"unset {name}"))
            else:
                if str(n) != val.strip():
                    out.append(EnvFinding("warn", name,
                                          f"{name}={val} is read as {n} (trailing text ignored)",
                                          f"export {name}={n}"))
                if (lo is not None and n < lo) or (hi is not None and n > hi):
                    rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
                    sev = "fail" if name == "XSCHED_AUTO_XQUEUE_LEVEL" else "warn"
                    what = ("XQueue creation fails for every stream (WARN per stream, then native)"
                            if name == "XSCHED_AUTO_XQUEUE_LEVEL" else "XSched rejects it")
                    out.append(EnvFinding(sev, name, f"{name}={n} is outside {rng}: {what}",
                                          f"export {name}={lo if n < lo else hi}"))
        elif name == "XLOG_LEVEL" and val not in LOG_LEVELS:
            up = val.strip().upper()
            fix = f"export XLOG_LEVEL={up}" if up in LOG_LEVELS else "export XLOG_LEVEL=INFO"
            out.append(EnvFinding("warn", name,
                                  f"XLOG_LEVEL={val} is not exactly ERRO/WARN/INFO/DEBG "
                                  "(case-sensitive): XSched uses INFO", fix))
        elif name == "XSCHED_POLICY":
            v = val.strip().upper()
            if v in LEGACY_POLICY:
                out.append(EnvFinding(
                    "fail", name,
                    f"XSCHED_POLICY={val} is the legacy AE/artifact spelling: XSched >= 1.0 does not "
                    "know it and falls back to the app-managed scheduler",
                    f"unset XSCHED_POLICY; export {LEGACY_POLICY[v]}",
                ))
            elif v not in POLICIES:
                out.append(EnvFinding("fail", name,
                                      f"XSCHED_POLICY={val} is not a policy "
                                      f"({', '.join(POLICIES)}): app-managed fallback",
                                      "export XSCHED_POLICY=HPF"))
        elif name == "XSCHED_SCHEDULER":
            v = val.strip().upper()
            if v in LEGACY_POLICY:
                out.append(EnvFinding("fail", name,
                                      f"XSCHED_SCHEDULER={val} is a legacy policy name, not a "
                                      "scheduler", f"export {LEGACY_POLICY[v]}"))
            elif v not in SCHEDULERS:
                out.append(EnvFinding("fail", name,
                                      f"XSCHED_SCHEDULER={val} is unknown (APP, LCL, GLB): "
                                      "app-managed fallback", "export XSCHED_SCHEDULER=GLB"))
        elif name == "XSCHED_CUDA_LV3_IMPL" and val not in ("TSG", "TRAP"):
            out.append(EnvFinding("warn", name,
                                  f"XSCHED_CUDA_LV3_IMPL={val} is not exactly TSG or TRAP "
                                  "(case-sensitive): TRAP is used",
                                  f"export XSCHED_CUDA_LV3_IMPL={val.strip().upper()}"))
        elif name in LIB_VARS:
            if not os.path.exists(val):
                out.append(EnvFinding("warn", name,
                                      f"{name}={val} does not exist: XSched falls back to its "
                                      "folder search", f"export {name}=<path of the real library>"))
            elif name == "XSCHED_OPENCL_LIB":
                out.append(EnvFinding("info", name,
                                      "XSCHED_OPENCL_LIB is not read by the Linux OpenCL platform "
                                      "(it reads XSCHED_CUDA_LIB)", ""))

    # The loader's variables, when the configuration sets them for workloads: a missing
    # preload file is "cannot be preloaded ... ignored" and a plain native run (FACTS §11).
    for part in re.split(r"[:\s]+", env.get("LD_PRELOAD", "")):
        if part and not os.path.exists(part):
            out.append(EnvFinding("fail", "LD_PRELOAD",
                                  f"LD_PRELOAD names {part}, which does not exist: the loader "
                                  "prints 'cannot be preloaded ... ignored' and the run is native",
                                  "fix the path, or leave LD_PRELOAD to xsched-tui (--enable)"))
    for part in env.get("LD_LIBRARY_PATH", "").split(":"):
        if part and not os.path.isdir(part):
            out.append(EnvFinding("warn", "LD_LIBRARY_PATH",
                                  f"LD_LIBRARY_PATH names {part}, which is not a folder", ""))

    # Cross-variable rules.
    pol = env.get("XSCHED_POLICY", "").strip().upper()
    sch = env.get("XSCHED_SCHEDULER", "").strip().upper()
    if pol in POLICIES and sch in ("GLB", "APP"):
        out.append(EnvFinding(
            "warn", "XSCHED_SCHEDULER",
            f"XSCHED_SCHEDULER={sch} is ignored: XSCHED_POLICY={pol} selects a local scheduler",
            "unset XSCHED_POLICY" if sch == "GLB" else "unset XSCHED_SCHEDULER",
        ))
    thr = parse_int(env.get("XSCHED_AUTO_XQUEUE_THRESHOLD"))
    bat = parse_int(env.get("XSCHED_AUTO_XQUEUE_BATCH_SIZE"))
    t_eff = thr if thr is not None else 16
    b_eff = bat if bat is not None else 8
    if (thr is not None or bat is not None) and b_eff > t_eff:
        out.append(EnvFinding(
            "fail", "XSCHED_AUTO_XQUEUE_BATCH_SIZE",
            f"batch size {b_eff} > threshold {t_eff}: XSched asserts 'command threshold "
            f"({t_eff}) must not be smaller than command batch size ({b_eff})' and exits 1",
            f"export XSCHED_AUTO_XQUEUE_BATCH_SIZE={max(1, t_eff // 2)}",
        ))
    elif (thr is not None or bat is not None) and b_eff == t_eff:
        out.append(EnvFinding(
            "info", "XSCHED_AUTO_XQUEUE_BATCH_SIZE",
            f"batch size equals threshold ({t_eff}): xcli/xserver config changes require "
            "batch < threshold", "",
        ))
    return out


def enable_mode(platform: Platform, configured: str) -> str:
    return platform.enable if configured == "auto" else configured


def workload_env(
    base: Mapping[str, str],
    xsched_env: Mapping[str, str],
    *,
    lib_dir: str | None,
    platform: str | None,
    enable: str = "auto",
    xsched: bool = True,
) -> dict[str, str]:
    """The environment of a workload or probe process that xsched-tui starts.

    The user's own LD_PRELOAD and XSched variables are never inherited (an exported
    LD_PRELOAD breaks every child, FIELD-NOTES §4 row 3); the configured XSched variables and
    the shim's enabling variable are set only when ``xsched`` is True (native runs get none).
    """
    env = {
        k: v for k, v in base.items()
        if k != "LD_PRELOAD" and not is_xsched_env_name(k) and not k.startswith("XSCHED_TUI_")
    }
    if not xsched:
        return env
    env.update({k: str(v) for k, v in xsched_env.items()})
    if lib_dir and platform in PLATFORMS:
        p = PLATFORMS[platform]
        mode = enable_mode(p, enable)
        if mode == "LD_PRELOAD":
            env["LD_PRELOAD"] = os.path.join(lib_dir, p.shim)
        else:
            old = env.get("LD_LIBRARY_PATH", "")
            env["LD_LIBRARY_PATH"] = lib_dir + (os.pathsep + old if old else "")
    return env
