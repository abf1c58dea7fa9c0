"""Checks: the XSched environment (validation), the scheduler verdict, and the real driver."""

from __future__ import annotations

import os

from xsched_tui.core.checks.base import CheckContext, CheckSpec, Evidence, Outcome, Status, ev
from xsched_tui.core.checks.install import ldconfig_paths
from xsched_tui.core.config import is_xsched_env_name
from xsched_tui.core.platforms import PLATFORMS, fixed_search_dirs
from xsched_tui.core.xenv import scheduler_verdict, validate

_SEV = {"fail": Status.FAIL, "warn": Status.WARN, "info": None}


def _worst(rows: list[Evidence]) -> Status:
    worst = Status.PASS
    for r in rows:
        if r.status is not None and r.status.severity > worst.severity:
            worst = r.status
    return worst


def check_env(ctx: CheckContext) -> Outcome:
    cfg = ctx.config
    rows: list[Evidence] = []
    fixes: list[str] = []
    for name, val in sorted(cfg.xsched_env.items()):
        rows.append(ev(f"workload {name}", f"{val}  ({cfg.origin.get('xsched.env.' + name, 'default')})"))
    if not cfg.xsched_env:
        rows.append(ev("workload env", "no XSched variables configured"))
    problems = validate(cfg.xsched_env)
    for f in problems:
        rows.append(ev(f.var, f.message, _SEV[f.severity]))
        if f.fix:
            fixes.append(f.fix)

    # The user's own shell: an exported LD_PRELOAD breaks every child (FIELD-NOTES §4 row 3).
    shell_preload = os.environ.get("LD_PRELOAD", "")
    if shell_preload:
        shim_like = any("libshim" in p or "libhal" in p for p in shell_preload.split(":"))
        rows.append(ev("shell LD_PRELOAD",
                       f"{shell_preload} is exported: every program started from this shell "
                       "(bash, grep, ldd...) loads it" + (" — an XSched shim" if shim_like else ""),
                       Status.WARN))
        fixes.append("unset LD_PRELOAD   # set it only on the workload's command line; "
                     "xsched-tui never passes your LD_PRELOAD on")
    shell_x = {k: v for k, v in os.environ.items() if is_xsched_env_name(k)}
    if shell_x:
        rows.append(ev("shell XSched vars", ", ".join(f"{k}={v}" for k, v in sorted(shell_x.items()))
                       + " (applied to workloads, see origins above)"))
    ld = os.environ.get("LD_LIBRARY_PATH", "")
    rows.append(ev("shell LD_LIBRARY_PATH", ld or "(unset)"))
    status = _worst(rows)
    n_fail = sum(1 for f in problems if f.severity == "fail")
    n_warn = sum(1 for f in problems if f.severity == "warn") + (1 if shell_preload else 0)
    if status == Status.PASS:
        finding = f"{len(cfg.xsched_env)} XSched variable(s), all understood by XSched"
    else:
        finding = f"{n_fail} error(s), {n_warn} warning(s) in the XSched environment"
        first = next((f for f in problems if f.severity == "fail"), None) or next(
            (f for f in problems if f.severity == "warn"), None)
        if first:
            finding += f": {first.message}"
        elif shell_preload:
            finding += ": LD_PRELOAD is exported in your shell"
    return Outcome(status, finding, tuple(rows), "\n".join(dict.fromkeys(fixes)))


def check_scheduler(ctx: CheckContext) -> Outcome:
    env = ctx.config.xsched_env
    v = scheduler_verdict(env)
    rows = [
        ev("scheduler", f"{v.scheduler}" + (f" (policy {v.policy})" if v.policy else "")),
        ev("because", v.reason),
        ev("auto XQueues", "ON" if v.auto_xqueue else
           f"OFF (XSCHED_AUTO_XQUEUE={env.get('XSCHED_AUTO_XQUEUE', 'unset')})"),
        ev("stream", ctx.config.stream),
    ]
    facts = {"scheduler": v.scheduler, "policy": v.policy, "auto_xqueue": v.auto_xqueue}
    if v.scheduler == "app":
        return Outcome(
            Status.FAIL,
            "XSched will load but schedule nothing: the app-managed scheduler drops every event "
            f"({v.reason})",
            tuple(rows),
            fix="export XSCHED_POLICY=HPF XSCHED_AUTO_XQUEUE=ON   # local, in-process\n"
                "# or: export XSCHED_SCHEDULER=GLB XSCHED_AUTO_XQUEUE=ON  and run bin/xserver HPF 50000",
            facts=facts,
        )
    if not v.auto_xqueue:
        return Outcome(
            Status.FAIL,
            f"{v.scheduler} scheduler, but no XQueue will be created: XSCHED_AUTO_XQUEUE is off "
            "(unless the application calls XQueueCreate itself)",
            tuple(rows), fix="export XSCHED_AUTO_XQUEUE=ON", facts=facts,
        )
    if ctx.config.stream == "default":
        return Outcome(
            Status.WARN,
            f"{v.scheduler} scheduler with auto XQueues, but workloads use the default stream, "
            "which XSched does not schedule",
            tuple(rows), fix="xsched-tui --stream explicit   # or [workloads] stream = \"explicit\"",
            facts=facts,
        )
    where = "in each process" if v.scheduler == "local" else "in xserver"
    return Outcome(
        Status.PASS,
        f"{v.scheduler} scheduler{' ' + v.policy if v.policy else ''} {where}, auto XQueues on",
        tuple(rows), facts=facts,
    )


def find_library(names: tuple[str, ...], env_path: str | None, search_dirs: tuple[str, ...],
                 ) -> tuple[str | None, list[str]]:
    """Reproduce XSched's FindLibrary (FACTS §5.4): env override, platform dirs, fixed list.

    Returns the path it would dlopen and the places it looked."""
    looked: list[str] = []
    if env_path:
        looked.append(env_path)
        if os.path.exists(env_path):
            return env_path, looked
    for d in (*search_dirs, *fixed_search_dirs()):
        for n in names:
            p = os.path.join(d, n)
            looked.append(p)
            if os.path.exists(p):
                return p, looked
    return None, looked


def check_driver(ctx: CheckContext) -> Outcome:
    plat_name = ctx.fact("install", "platform")
    plat = PLATFORMS[plat_name]
    env_path = ctx.config.xsched_env.get(plat.driver_env)
    found, looked = find_library(plat.driver_names, env_path, plat.search_dirs)
    rows = [ev("override", f"{plat.driver_env}={env_path}" if env_path else f"{plat.driver_env} unset")]
    lib_dir = ctx.fact("install", "lib_dir") or ""
    shim_real = os.path.realpath(os.path.join(lib_dir, plat.shim)) if lib_dir else None
    cache = ldconfig_paths((*plat.driver_names, plat.runtime_soname_prefix + ".1"))
    cached = [p for ps in cache.values() for p in ps]
    if cached:
        rows.append(ev("ld.so.cache", ", ".join(dict.fromkeys(cached))))
    if env_path and not os.path.exists(env_path):
        rows.append(ev(plat.driver_env, f"{env_path} does not exist: XSched warns "
                       f"'lib set by env ... not found, fallback to dir search'", Status.WARN))
    if found is None:
        hint = next((p for p in cached if os.path.exists(p)), None)
        fix = (f"export {plat.driver_env}={hint}" if hint else
               f"export {plat.driver_env}=<path of the real {plat.driver_names[0]}>")
        rows.append(ev("searched", f"{len(looked)} places: " + ", ".join(looked[:8])
                       + (" ..." if len(looked) > 8 else "")))
        finding = (f"XSched will not find the real {plat.driver_names[0]}: its search ignores "
                   "LD_LIBRARY_PATH and ld.so.cache" + (f" (the loader finds {hint})" if hint else ""))
        return Outcome(Status.FAIL, finding, tuple(rows), fix,
                       facts={"path": None})
    real = os.path.realpath(found)
    rows.append(ev("XSched would load", f"{found}" + (f" -> {real}" if real != found else ""),
                   Status.PASS))
    if shim_real and real == shim_real:
        rows[-1] = ev("XSched would load", f"{found} -> {real}, which is the shim itself", Status.FAIL)
        return Outcome(Status.FAIL, "the 'real driver' XSched finds is its own shim (endless "
                       "recursion)", tuple(rows),
                       f"export {plat.driver_env}=<path of the real {plat.driver_names[0]}>",
                       facts={"path": None})
    status = Status.PASS
    finding = f"real driver found: {found}"
    if cached and not any(os.path.realpath(p) == real for p in cached):
        rows.append(ev("mismatch", f"the loader resolves {cached[0]}, XSched loads {found}: "
                       "two different drivers", Status.WARN))
        status = Status.WARN
        finding += " (differs from what the loader uses)"
    return Outcome(status, finding, tuple(rows),
                   "" if status == Status.PASS else f"export {plat.driver_env}={cached[0]}",
                   facts={"path": found})


ENV_SPEC = CheckSpec(
    "env", "Environment", check_env,
    description="XSched variables in XSched's own parsing rules, legacy values, typos, "
                "LD_PRELOAD exported in the shell.",
)
SCHEDULER_SPEC = CheckSpec(
    "scheduler", "Scheduler verdict", check_scheduler, after=("env",),
    description="Which scheduler XSched will pick and whether anything will be scheduled.",
)
DRIVER_SPEC = CheckSpec(
    "driver", "Real driver", check_driver, requires=("install",), after=("env",),
    description="Where XSched's fixed search finds the real driver library.",
)
