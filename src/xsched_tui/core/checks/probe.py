"""Check: the live probe. Start a small PyTorch process with XSched enabled and prove, step by
step, what XSched really did in it (FACTS §8): the loader accepted the shim, the shim is mapped,
the runtime is mapped once, which scheduler was chosen, XQueues exist, GPU work ran and was right.

Nothing is assumed from the configuration alone: every row is read from the probe's stderr
(XSched and the loader log there), its /proc/PID/maps and environ while it is alive, xserver's
``GET /xqueues`` for the global scheduler, and the JSON steps the payload prints on stdout.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from xsched_tui.core import procfacts, runner, xenv
from xsched_tui.core.checks.base import CheckContext, CheckSpec, Evidence, Outcome, Status, ev
from xsched_tui.core.fsfacts import file_facts, human_size
from xsched_tui.core.logparse import (
    AssertionFailed,
    AutoXQueueFailed,
    DriverError,
    Kind,
    LibraryNotFound,
    LoaderError,
    SchedulerChosen,
    XQueueCreated,
    parse_lines,
)
from xsched_tui.core.platforms import PLATFORMS, Platform
from xsched_tui.core.xserver import XQueuesSnapshot, XServerClient, XServerError

PAYLOAD = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "payloads", "probe_payload.py")
TAIL_LINES = 30
XSERVER_POLL_S = 2.0  # how long to wait for xserver to list the probe (GLB)
NULL_STREAMS = ("(nil)", "0x0", "0", "nil", "null", "nullptr")
FIX_SCHEDULE = ("export XSCHED_POLICY=HPF XSCHED_AUTO_XQUEUE=ON   "
                "# or XSCHED_SCHEDULER=GLB XSCHED_AUTO_XQUEUE=ON with a running xserver")
FIX_STREAM = ("run GPU work on an explicit stream: s = torch.cuda.Stream(); "
              "with torch.cuda.stream(s): ...   # xsched-tui: workloads.stream = \"explicit\"")


@dataclass
class _Report:
    """Rows plus the candidate findings/fixes, ranked (lower rank = more important)."""

    rows: list[Evidence] = field(default_factory=list)
    # (-severity, rank, insertion number, text): the first of equals wins
    problems: list[tuple[int, int, int, str]] = field(default_factory=list)
    fixes: list[tuple[int, int, int, str]] = field(default_factory=list)

    def add(self, label: str, value: object, status: Status | None = None, *, fix: str = "",
            finding: str = "", rank: int = 50) -> None:
        self.rows.append(ev(label, value, status))
        sev = status.severity if status is not None else 0
        if status in (Status.WARN, Status.FAIL):
            n = len(self.rows)
            self.problems.append((-sev, rank, n, finding or f"{label}: {value}"))
            if fix:
                self.fixes.append((-sev, rank, n, fix))

    @property
    def worst(self) -> Status:
        worst = Status.PASS
        for r in self.rows:
            if r.status is not None and r.status.severity > worst.severity:
                worst = r.status
        return worst

    def finding(self) -> str:
        return min(self.problems)[3] if self.problems else ""

    def fix(self, limit: int = 4) -> str:
        out: list[str] = []
        for *_, f in sorted(self.fixes):
            if f not in out:
                out.append(f)
        return "\n".join(out[:limit])


@dataclass
class _Steps:
    """The payload's JSON steps, collected by the stdout reader thread."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    ready: threading.Event = field(default_factory=threading.Event)
    by_step: dict[str, dict[str, Any]] = field(default_factory=dict)
    sonames: list[dict[str, Any]] = field(default_factory=list)
    order: list[str] = field(default_factory=list)

    def feed(self, line: str) -> None:
        line = line.strip()
        if not line.startswith("{"):
            return
        try:
            rec = json.loads(line)
        except ValueError:
            return
        if not isinstance(rec, dict) or not isinstance(rec.get("step"), str):
            return
        step = rec["step"]
        with self.lock:
            self.order.append(step)
            if step == "soname":
                self.sonames.append(rec)
            else:
                self.by_step.setdefault(step, rec)
        if step == "ready":
            self.ready.set()

    def get(self, step: str) -> dict[str, Any] | None:
        with self.lock:
            return self.by_step.get(step)

    @property
    def last(self) -> str | None:
        with self.lock:
            return self.order[-1] if self.order else None


def _resolve_python(python: str) -> tuple[str | None, str]:
    """(path, problem) for the configured interpreter."""
    if not python:
        return None, "no interpreter is configured"
    if os.sep not in python:
        found = shutil.which(python)
        if not found:
            return None, f"interpreter {python!r} is not on PATH"
        python = found
    if not os.path.exists(python):
        return None, f"interpreter {python} does not exist"
    if os.path.isdir(python) or not os.access(python, os.X_OK):
        return None, f"interpreter {python} is not an executable file"
    return python, ""


def _fields(rec: Any) -> dict[str, str]:
    out = {str(k): str(v) for k, v in (getattr(rec, "fields", None) or ())}
    if not out:  # tolerate a parser that keeps only the text
        for m in re.finditer(r"(\w+)=(\([^)]*\)|\S+)", getattr(rec, "text", "") or ""):
            out.setdefault(m.group(1), m.group(2))
    return out


def _mapped_facts(path: str) -> str:
    ff = file_facts(path)
    if not ff.exists or ff.error:
        return ff.describe()
    parts = [human_size(ff.size or 0)]
    if ff.short_hash:
        parts.append(f"sha256:{ff.short_hash}")
    parts.append(ff.mtime_text)
    return ", ".join(parts)


def _same_file(a: str, b: str | None) -> bool:
    if not b:
        return False
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _xvars(env: Mapping[str, str]) -> str:
    names = sorted(k for k in env if k.startswith("XSCHED_") and not k.startswith("XSCHED_TUI_"))
    if "XLOG_LEVEL" in env:
        names.append("XLOG_LEVEL")
    return " ".join(f"{k}={env[k]}" for k in names) or "(none)"


def check_probe(ctx: CheckContext) -> Outcome:
    cfg = ctx.config
    if not ctx.live:
        return Outcome(Status.SKIP, "skipped: live checks disabled (--no-live)")
    plat_name = ctx.fact("install", "platform")
    lib_dir = ctx.fact("install", "lib_dir")
    libs: Mapping[str, str] = ctx.fact("install", "libs") or {}
    plat: Platform | None = PLATFORMS.get(plat_name) if isinstance(plat_name, str) else None
    if plat is None or not lib_dir:
        return Outcome(Status.SKIP, "skipped: no XSched install was found to probe",
                       (ev("platform", plat_name), ev("library folder", lib_dir)))
    mode = xenv.enable_mode(plat, cfg.enable)
    shim_path = libs.get(plat.shim) or os.path.join(lib_dir, plat.shim)

    python, problem = _resolve_python(cfg.python)
    if python is None:
        return Outcome(
            Status.FAIL, f"cannot run the probe: {problem}", (ev("interpreter", cfg.python, Status.FAIL),),
            fix="xsched-tui --python /path/to/python   # the interpreter your workload runs with",
            facts=_facts(None, None, None, None, None, [], [], gpu=None, torch=None),
        )
    if not os.path.isfile(PAYLOAD):
        return Outcome(Status.FAIL, f"probe payload missing: {PAYLOAD}",
                       fix="reinstall xsched-tui (its package data is incomplete)")

    env = xenv.workload_env(os.environ, cfg.xsched_env, lib_dir=lib_dir, platform=plat_name,
                            enable=cfg.enable)
    timeout = max(1.0, float(cfg.probe_timeout))
    argv = [python, PAYLOAD, "--stream", cfg.stream, "--wait", f"{max(5.0, min(30.0, timeout)):g}"]
    soname = plat.softlinks[0] if plat.softlinks else None
    if soname:
        argv += ["--soname", soname]
        if mode == "LD_LIBRARY_PATH":
            argv.append("--load-soname")

    rep = _Report()
    rep.add("interpreter", python)
    enabled = (f"LD_PRELOAD={env.get('LD_PRELOAD', '')}" if mode == "LD_PRELOAD"
               else f"LD_LIBRARY_PATH={env.get('LD_LIBRARY_PATH', '')}")
    rep.add("enabled via", enabled)

    steps = _Steps()
    t0 = time.monotonic()
    try:
        child = runner.Child(argv, env=env, stdin=True, on_stdout=steps.feed)
    except runner.StartError as exc:
        return Outcome(Status.FAIL, f"cannot start the probe: {exc}", tuple(rep.rows),
                       fix="xsched-tui --python /path/to/python   # an interpreter that runs here",
                       facts=_facts(None, None, None, None, None, [], [], gpu=None, torch=None))

    # -- run: wait for "ready", inspect the live process, release it, wait for its exit ------------
    deadline = t0 + timeout
    hung = False
    maps: procfacts.ProcMaps | None = None
    penv: procfacts.ProcEnviron | None = None
    snap: XQueuesSnapshot | None = None
    xs_error: str | None = None
    while not steps.ready.is_set() and child.running and time.monotonic() < deadline:
        steps.ready.wait(0.05)
    start = steps.get("start") or {}
    pid = int(start.get("pid") or child.pid)
    verdict_env = xenv.scheduler_verdict(env)
    if steps.ready.is_set() and child.running:
        maps = procfacts.read_maps(pid)
        penv = procfacts.read_environ(pid)
        if verdict_env.scheduler == "global":
            snap, xs_error = _poll_xserver(cfg.xserver_host, cfg.xserver_port, pid, child, deadline)
        child.write_stdin("release\n")
        child.close_stdin()
        # A little grace beyond the budget: a probe that reached "ready" must not be called hung
        # because its interpreter needs a moment to shut down.
        status = child.wait(timeout=max(2.0, deadline - time.monotonic()))
    elif child.running:
        hung = True
        child.stop()
        status = child.wait(timeout=1.0)  # reaped already; this joins the output readers
    else:
        status = child.wait(timeout=2.0)
    elapsed = time.monotonic() - t0

    stderr = list(child.stderr_lines)
    records = parse_lines(stderr)
    proc_env: Mapping[str, str] = penv.env if penv is not None and penv.ok else env
    verdict = xenv.scheduler_verdict(proc_env)

    # -- loader ---------------------------------------------------------------------------------
    loader = [r.event for r in records if isinstance(r.event, LoaderError)]
    loader_texts = [r.text for r in records if isinstance(r.event, LoaderError)]
    preload_failed = False
    for e in loader:
        lib = e.library or "?"
        if e.problem == "cannot_preload":
            preload_failed = preload_failed or (os.path.basename(lib) == plat.shim or "libshim" in lib)
            rep.add("loader", f"ld.so could not preload {lib} ({e.detail or 'no detail'}): "
                    "the process ran without it", Status.FAIL, rank=1,
                    finding=f"XSched not loaded: ld.so could not preload {lib}",
                    fix=f"ls -l {lib}   # LD_PRELOAD must name an existing file; "
                        f"rebuild with `make {plat.name}` if it is missing")
        elif e.problem == "symbol_lookup":
            rep.add("loader", f"symbol lookup error in {lib}: {e.detail}", Status.FAIL, rank=1,
                    finding=f"XSched broke the process: symbol lookup error in {lib}",
                    fix=f"nm -D --defined-only {lib_dir}/{plat.hal} | grep -c ' [TDB] '   "
                        "# a version map with `local: *;` hid symbols the shim needs: rebuild stock")
        elif e.problem == "version_not_found":
            rep.add("loader", f"{lib}: version {e.detail} not found"
                    + (f" (required by {e.required_by})" if e.required_by else ""), Status.FAIL,
                    rank=1, finding=f"the loader rejected {lib}: version {e.detail} not found",
                    fix=f"readelf -V {shim_path}   # the shim has a partial version map; "
                        "rebuild it without one or add the missing node (FACTS §5.2)")
        elif e.problem == "no_version_info":
            rep.add("loader", f"{lib}: no version information available"
                    + (f" (required by {e.required_by})" if e.required_by else "")
                    + " - the shim was substituted by soname", Status.WARN, rank=30,
                    fix=f"export LD_PRELOAD={shim_path}   # XSched's documented mode for "
                        f"{plat.name}; see FACTS §5.2")
        else:
            rep.add("loader", f"cannot open {lib}: {e.detail}", Status.FAIL, rank=2,
                    finding=f"the loader could not open {lib}",
                    fix=f"ldd {shim_path} | grep 'not found'")
    if not loader:
        rep.add("loader", "no 'cannot be preloaded', 'symbol lookup error', 'version ... not found' "
                "or 'no version information' lines", Status.PASS)

    # -- what is mapped -------------------------------------------------------------------------
    shim_mapped: bool | None = None
    mapped_files: tuple[procfacts.MappedFile, ...] = ()
    soname_rec = next((s for s in steps.sonames if s.get("name") == soname), None)
    gpu_step = steps.get("device") or {}
    gpu = bool(gpu_step.get("gpu")) if gpu_step else False
    if maps is not None and maps.ok:
        mapped_files = maps.files
        xl = procfacts.xsched_libs(mapped_files)
        shims = [f for role, f in xl if role == "shim"]
        ours = [f for f in shims if _same_file(f.path, shim_path)]
        shim_mapped = bool(ours)
        if ours:
            f = ours[0]
            if f.deleted:
                rep.add("shim mapped", f"{f.shown}: replaced on disk after it was loaded",
                        Status.WARN, rank=25,
                        fix="restart the workload: it runs an older build of the shim")
            else:
                rep.add("shim mapped", f"{f.path} ({_mapped_facts(f.path)})", Status.PASS)
        elif shims:
            others = ", ".join(f.shown for f in shims)
            shim_mapped = True
            rep.add("shim mapped", f"a different shim is mapped: {others} (expected {shim_path})",
                    Status.WARN, rank=20,
                    fix=f"remove the other XSched install from the library search path; "
                        f"the configured one is {lib_dir}")
        else:
            why = ""
            if mode == "LD_LIBRARY_PATH" and soname and not (soname_rec or {}).get("loaded"):
                why = f" (nothing loaded {soname}, so the softlink never answered)"
            rep.add("shim mapped", f"{plat.shim} is not mapped in PID {pid}{why}: "
                    "the process ran without XSched", Status.FAIL, rank=3,
                    finding=f"XSched not loaded: {plat.shim} is not mapped in the probe",
                    fix=(f"export LD_PRELOAD={shim_path}" if mode == "LD_PRELOAD"
                         else f"export LD_LIBRARY_PATH={lib_dir}:$LD_LIBRARY_PATH   "
                              f"# and check that {lib_dir}/{soname or plat.shim} exists"))
        if shims:
            for role, name in (("hal", plat.hal), ("preempt", "libpreempt.so")):
                hit = [f for r, f in xl if r == role]
                if hit:
                    rep.add(f"{name} mapped", hit[0].shown, Status.PASS)
                else:
                    rep.add(f"{name} mapped", "not mapped although the shim is", Status.WARN,
                            rank=28, fix=f"ldd {shim_path}   # the shim should pull in {name}")
        runtimes = procfacts.distinct_runtimes(mapped_files, plat.name)
        if len(runtimes) > 1:
            rep.add("runtime", "two runtimes mapped: " + ", ".join(f.shown for f in runtimes),
                    Status.WARN, rank=22,
                    finding=f"two different {plat.runtime_soname_prefix} runtimes in one process",
                    fix=f"export {plat.driver_env}=<the runtime your application loads>   "
                        "# one process must not load two runtimes (FACTS §5.2)")
        elif runtimes:
            rep.add("runtime", f"{runtimes[0].shown} (mapped once)", Status.PASS)
        elif gpu:
            rep.add("runtime", f"no {plat.runtime_soname_prefix}* mapped although a GPU was used",
                    Status.WARN, rank=40,
                    fix=f"export {plat.driver_env}=<path of the real {plat.runtime_soname_prefix}>")
        else:
            rep.add("runtime", f"no {plat.runtime_soname_prefix}* mapped (no GPU runtime was loaded)")
    elif maps is not None:
        rep.add("shim mapped", f"cannot tell: {maps.error}", Status.WARN, rank=45,
                fix="run xsched-tui as the same user as the workload")
    else:
        rep.add("shim mapped", "not inspected: the probe ended before it could be read"
                if not hung else "not inspected: the probe hung")

    # Which file answers to the runtime soname (the LD_LIBRARY_PATH substitution).
    if soname_rec is not None:
        _soname_row(rep, soname_rec, shim_path, plat, mode, gpu, lib_dir)

    # -- XSched's own lines ---------------------------------------------------------------------
    xsched_lines = sum(1 for r in records if r.kind == Kind.XSCHED)
    loaded = bool(shim_mapped) or xsched_lines > 0
    chosen = [r.event for r in records if isinstance(r.event, SchedulerChosen)]
    sched = chosen[-1].scheduler if chosen else None
    policy = chosen[-1].policy if chosen else None
    app_fix = FIX_SCHEDULE
    if (proc_env.get("XSCHED_POLICY") or "").strip().upper() == "GBL":
        app_fix = ("unset XSCHED_POLICY; export XSCHED_SCHEDULER=GLB XSCHED_AUTO_XQUEUE=ON   "
                   "# XSCHED_POLICY=GBL is the artifacts' legacy spelling")
    if chosen:
        label = {"app": "app-managed", "local": f"local, policy {policy}", "global": "global (xserver)"}
        if sched == "app":
            rep.add("scheduler", "app-managed: XSched loaded but schedules nothing", Status.FAIL,
                    rank=5, finding="XSched loaded but schedules nothing (app-managed scheduler)",
                    fix=app_fix)
        else:
            rep.add("scheduler", label.get(sched, sched), Status.PASS)
        if len(chosen) > 1:
            rep.add("scheduler lines", f"{len(chosen)} 'using ... scheduler' lines in one process",
                    Status.WARN, rank=35,
                    fix="check that the app does not re-exec itself under LD_PRELOAD (XSched issue #5) "
                        "or call XHintSetScheduler")
        if sched != verdict.scheduler:
            rep.add("expected scheduler", f"the environment says {verdict.scheduler} "
                    f"({verdict.reason}), the log says {sched}", Status.WARN, rank=15,
                    fix="check the spelling of XSCHED_POLICY / XSCHED_SCHEDULER and whether the "
                        "app changes the scheduler (XHintSetScheduler)")
        else:
            rep.add("expected scheduler", f"matches the environment ({verdict.reason})", Status.PASS)
    elif loaded:
        lvl = proc_env.get("XLOG_LEVEL")
        hidden = f"; XLOG_LEVEL={lvl} hides INFO lines" if lvl in ("ERRO", "WARN") else ""
        rep.add("scheduler", f"no 'using ... scheduler' line although XSched is loaded{hidden}",
                Status.WARN, rank=12,
                finding="XSched is loaded but did not say which scheduler it uses",
                fix="export XLOG_LEVEL=INFO   # an AE-era build prints no scheduler line at all")
    else:
        rep.add("scheduler", "no scheduler line (XSched not loaded)", Status.SKIP)
    rep.add("XSched env (process)", _xvars(proc_env))

    # -- the payload's own steps ----------------------------------------------------------------
    torch_step = steps.get("torch")
    torch_ok: bool | None = None
    if start:
        rep.add("python", f"{start.get('version', '?')} (PID {pid})", Status.PASS)
    if torch_step is None:
        rep.add("torch", "not reached (the probe ended before importing torch)"
                if not hung else "not reached (the probe hung)", Status.SKIP)
    elif not torch_step.get("ok"):
        torch_ok = False
        rep.add("torch", f"{python} cannot import torch: {torch_step.get('error')}", Status.FAIL,
                rank=8, finding=f"{python} cannot import torch, so no GPU work was tried",
                fix=f"{python} -m pip install torch   # or xsched-tui --python <an interpreter with torch>")
    else:
        torch_ok = True
        rep.add("torch", f"{torch_step.get('version')} imported in {torch_step.get('seconds', 0):.1f} s",
                Status.PASS)

    matmul = steps.get("matmul")
    if torch_ok:
        if gpu_step and not gpu_step.get("ok", True):
            rep.add("device", f"torch.cuda failed: {gpu_step.get('error')}", Status.WARN, rank=14,
                    fix="nvidia-smi   # or rocm-smi: is the driver usable by this user?")
        elif gpu:
            what = gpu_step.get("arch") or gpu_step.get("capability") or "?"
            rt = f"HIP {gpu_step.get('hip')}" if gpu_step.get("hip") else f"CUDA {gpu_step.get('cuda')}"
            rep.add("device", f"{rt}: {gpu_step.get('count')} x {gpu_step.get('name')} ({what})",
                    Status.PASS)
        elif gpu_step:
            gpu_build = gpu_step.get("cuda") or gpu_step.get("hip")
            build = (f"CUDA {gpu_step.get('cuda')} build" if gpu_step.get("cuda")
                     else f"HIP {gpu_step.get('hip')} build" if gpu_step.get("hip") else "CPU-only build")
            host_gpus = ctx.fact("gpu", "devices")
            if isinstance(host_gpus, int) and host_gpus > 0 and gpu_build:
                rep.add("device", f"torch ({build}) sees no GPU under XSched, but this host has "
                        f"{host_gpus} GPU(s): XSched breaks GPU initialisation", Status.FAIL, rank=3,
                        finding=f"torch sees no GPU under XSched although this host has {host_gpus}",
                        fix=f"export {plat.driver_env}=<path of the real {plat.runtime_soname_prefix}>   "
                            "# then read the probe's stderr tail for XSched's lib/dlopen lines")
            elif isinstance(host_gpus, int) and host_gpus > 0:
                rep.add("device", f"torch in {python} is a CPU-only build, but this host has "
                        f"{host_gpus} GPU(s)", Status.FAIL, rank=8,
                        finding=f"torch in {python} is a CPU-only build: no GPU work can run",
                        fix=f"{python} -m pip install torch   # a CUDA or ROCm build; this one is CPU-only")
            else:
                rep.add("device", f"no GPU visible (torch {build})", Status.SKIP)
        if matmul is not None:
            _matmul_row(rep, matmul, gpu)
    if cfg.stream == "default":
        rep.add("stream", "default stream: work on the default stream is not scheduled (FACTS §11)",
                Status.WARN, rank=11, fix=FIX_STREAM)
    elif gpu and matmul is not None:
        rep.add("stream", "explicit torch.cuda.Stream()", Status.PASS)

    # -- XQueues --------------------------------------------------------------------------------
    created = [r.event for r in records if isinstance(r.event, XQueueCreated)]
    mine = [e for e in created if e.pid in (None, pid)]
    failed = [r for r in records if isinstance(r.event, AutoXQueueFailed)]
    eff_sched = sched or (verdict.scheduler if loaded else None)
    xqueues: int | None = None
    if failed:
        rep.add("XQueue creation", f"{len(failed)} x '{failed[0].message}'", Status.WARN, rank=9,
                finding=f"XSched failed to create {len(failed)} XQueue(s)",
                fix="export XSCHED_AUTO_XQUEUE_LEVEL=1   # levels 1-3 only"
                if _bad_level(failed[0].event)
                else "read the WARN lines in the probe's stderr: XQueue creation failed")
    if eff_sched == "local" or (eff_sched is None and created):
        xqueues = len(mine)
        if mine:
            rep.add("XQueues", f"{len(mine)} XQueue(s) created by PID {pid} (its stderr)", Status.PASS)
        elif failed:
            rep.add("XQueues", f"none: all {len(failed)} XQueue creation(s) failed", Status.FAIL,
                    rank=5, finding=f"nothing scheduled: XSched failed to create its {len(failed)} "
                    f"XQueue(s) ({failed[0].message})",
                    fix="export XSCHED_AUTO_XQUEUE_LEVEL=1   # levels 1-3 only"
                    if _bad_level(failed[0].event) else "read the XQueue WARN lines in the stderr tail")
        else:
            _no_xqueue_row(rep, verdict.auto_xqueue, gpu, cfg.stream, "in its stderr")
    elif eff_sched == "global":
        client_lines = len(mine)
        if snap is not None:
            listed = snap.for_pid(pid)
            xqueues = len(listed)
            known = any(p.pid == pid for p in snap.processes)
            url = f"http://{cfg.xserver_host}:{cfg.xserver_port}"
            if listed:
                ready = sum(1 for q in listed if q.ready)
                susp = sum(1 for q in listed if q.suspended)
                rep.add("XQueues", f"xserver lists {len(listed)} XQueue(s) of PID {pid} "
                        f"(ready {ready}, suspended {susp})", Status.PASS)
            elif known:
                _no_xqueue_row(rep, verdict.auto_xqueue, gpu, cfg.stream,
                               f"at {url} (PID {pid} is connected)")
            else:
                rep.add("XQueues", f"xserver at {url} does not list PID {pid}: the probe did not "
                        "connect to it", Status.FAIL, rank=6,
                        finding="the global scheduler's xserver does not know the probe: "
                                "nothing scheduled",
                        fix="start xserver before the workload, in the same IPC/PID namespace "
                            "(FACTS §8.9)")
        elif xs_error is None:
            rep.add("XQueues", "xserver not asked: the probe ended before it was ready", Status.SKIP)
        else:
            xqueues = None
            bin_dir = ctx.fact("install", "bin_dir") or "<install>/bin"
            rep.add("XQueues", f"cannot ask xserver: {xs_error}", Status.FAIL, rank=6,
                    finding=f"XSched uses the global scheduler but xserver is unreachable ({xs_error})",
                    fix=f"{os.path.join(bin_dir, 'xserver')} HPF {cfg.xserver_port} &   "
                        "# GLB clients need a running xserver")
        if client_lines:
            rep.add("XQueue lines", f"{client_lines} 'XQueue ... created' line(s) in the probe's stderr")
    elif eff_sched == "app":
        xqueues = 0
        rep.add("XQueues", "none: the app-managed scheduler creates no XQueue", Status.FAIL, rank=5,
                fix=app_fix)

    # -- interception evidence from instrumented shims ([TRACE_*] lines) --------------------------
    _trace_row(rep, records)

    # -- other XSched errors --------------------------------------------------------------------
    for r in records:
        e = r.event
        if isinstance(e, AssertionFailed):
            m = re.search(r"threshold \((\d+)\).*batch size \((\d+)\)", e.message)
            fix = (f"export XSCHED_AUTO_XQUEUE_BATCH_SIZE={max(1, int(m.group(1)) // 2)}   "
                   "# batch size must not exceed XSCHED_AUTO_XQUEUE_THRESHOLD" if m
                   else "read the assertion: XSched exits with code 1 on it")
            rep.add("XSched assertion", f"Assertion failed: {e.message}", Status.FAIL, rank=2,
                    finding=f"XSched aborted the process: Assertion failed: {e.message}", fix=fix)
        elif isinstance(e, DriverError):
            rep.add("driver error", f"{e.api} error {e.code}: {e.text}", Status.FAIL, rank=4,
                    fix="rerun without XSched (xsched-tui native run) to see whether the error is XSched's")
        elif isinstance(e, LibraryNotFound):
            where = f" ({e.env_var} = {e.path})" if getattr(e, "env_var", None) else ""
            rep.add("XSched library search", f"{e.name} not found{where}", Status.WARN, rank=16,
                    fix=f"export {plat.driver_env}=<path of the real {plat.runtime_soname_prefix}>   "
                        "# XSched ignores LD_LIBRARY_PATH (FACTS §5.4)")

    # -- how it ended ---------------------------------------------------------------------------
    done = steps.get("done") is not None
    if hung:
        where = f" after step '{steps.last}'" if steps.last else " before Python printed anything"
        rep.add("exit", f"hung{where}; killed after {timeout:g} s", Status.FAIL, rank=0,
                finding=f"probe hung for {timeout:g} s, killed",
                fix=f"rerun with stderr visible: {python} {PAYLOAD}   # with the same environment; "
                    "a hang at import often means the shim's initialisation blocks")
    elif status.timed_out:
        rep.add("exit", f"did not exit after it was released; killed after {timeout:g} s",
                Status.FAIL, rank=7, finding="the probe hung while exiting, killed",
                fix="a hang at exit points at the shim's destructors; report it with the stderr tail")
    elif status.signal is not None:
        if done:
            rep.add("exit", f"{status.describe()} while exiting, after every step completed",
                    Status.WARN, rank=13, finding=f"the probe crashed at exit ({status.describe()})",
                    fix="results printed before the crash are valid; report the crash upstream "
                        "with the stderr tail (FACTS §11 saw the same)")
        else:
            rep.add("exit", f"{status.describe()} before the probe finished", Status.FAIL, rank=2,
                    finding=f"the probe crashed ({status.describe()})",
                    fix="rerun without XSched to see whether XSched causes the crash")
    elif status.returncode not in (0, None):
        stage = "before Python started" if not start else f"after step '{steps.last}'"
        rep.add("exit", f"{status.describe()} {stage}", Status.FAIL, rank=3,
                finding=f"the probe exited with code {status.returncode} {stage}",
                fix=f"read the stderr tail; rerun: {python} {PAYLOAD}")
    else:
        rep.add("exit", f"{status.describe()} ({elapsed:.1f} s)", Status.PASS)
    tail = stderr[-TAIL_LINES:]
    rep.add("stderr", f"{len(stderr)} line(s), {xsched_lines} from XSched"
            + (f"; last: {tail[-1][:160]}" if tail else ""))

    # -- verdict --------------------------------------------------------------------------------
    worst = rep.worst
    finding = rep.finding()
    ok_so_far = worst.severity < Status.WARN.severity
    if torch_ok and not gpu and loaded and not preload_failed:
        # No GPU: nothing could be scheduled; never claim PASS for "XSched is scheduling".
        n = xqueues or 0
        gpu_msg = ("XSched loads and creates XQueues, but no GPU is visible, so no GPU work was "
                   "scheduled" if n else
                   f"XSched loads ({_sched_text(sched, policy)}), but no GPU is visible, so no GPU "
                   "work was scheduled")
        if ok_so_far:
            worst, finding = Status.WARN, gpu_msg
            rep.fixes.append((-1, 99, 0, "run the probe on a machine with a visible GPU to prove scheduling"))
    if ok_so_far and worst == Status.PASS:
        where = (matmul or {}).get("device", "?")
        finding = (f"XSched is scheduling: {_sched_text(sched, policy)}, {xqueues or 0} XQueue(s), "
                   f"matmul correct on {where}")
    if not finding:
        finding = "the probe ran" if worst != Status.FAIL else "the probe failed"

    return Outcome(
        worst, finding, tuple(rep.rows), rep.fix(),
        facts=_facts(pid, status, sched, xqueues, shim_mapped, loader_texts, tail, gpu=gpu if
                     torch_ok else None, torch=torch_ok, policy=policy, hung=hung),
    )


def _bad_level(e: Any) -> bool:
    lvl = getattr(e, "level", None)
    return isinstance(lvl, int) and not 1 <= lvl <= 3


def _sched_text(sched: str | None, policy: str | None) -> str:
    if sched == "local":
        return f"local {policy}"
    if sched == "global":
        return "global scheduler"
    if sched == "app":
        return "app-managed"
    return "scheduler unknown"


def _facts(pid: int | None, status: runner.ExitStatus | None, sched: str | None,
           xqueues: int | None, shim_mapped: bool | None, loader: list[str], tail: list[str],
           **extra: Any) -> dict[str, Any]:
    return {
        "pid": pid,
        "exit": status.describe() if status is not None else None,
        "returncode": status.returncode if status is not None else None,
        "signal": status.signal if status is not None else None,
        "scheduler": sched,
        "xqueues": xqueues,
        "shim_mapped": shim_mapped,
        "loader_errors": list(loader),
        "stderr_tail": list(tail),
        **extra,
    }


def _poll_xserver(host: str, port: int, pid: int, child: runner.Child,
                  deadline: float) -> tuple[XQueuesSnapshot | None, str | None]:
    """Ask xserver for /xqueues until it lists the probe (or ~2 s pass)."""
    client = XServerClient(host, port, timeout=1.0)
    stop = min(deadline, time.monotonic() + XSERVER_POLL_S)
    settle = time.monotonic() + 0.5  # a connected client's XQueues may arrive a moment later
    snap: XQueuesSnapshot | None = None
    while True:
        try:
            snap = client.xqueues()
        except XServerError as exc:
            return None, str(exc)
        known = any(p.pid == pid for p in snap.processes)
        now = time.monotonic()
        if snap.for_pid(pid) or now >= stop or not child.running or (known and now >= settle):
            return snap, None
        time.sleep(0.2)


def _soname_row(rep: _Report, rec: Mapping[str, Any], shim_path: str, plat: Platform, mode: str,
                gpu: bool, lib_dir: str) -> None:
    name = rec.get("name")
    label = f"{name} answers with"
    if not rec.get("loaded"):
        err = f" ({rec['error']})" if rec.get("error") else ""
        if mode == "LD_LIBRARY_PATH" and gpu:
            rep.add(label, f"nothing: {name} was never loaded{err}", Status.WARN, rank=10,
                    fix=f"ls -l {lib_dir}/{name}   # the softlink to {plat.shim} must exist")
        elif mode == "LD_LIBRARY_PATH":
            rep.add(label, f"nothing: it could not be loaded{err}", Status.WARN, rank=10,
                    fix=f"ls -l {lib_dir}/{name}   # the softlink to {plat.shim} must exist")
        else:
            rep.add(label, f"not loaded by this process (no {plat.name} runtime was initialised)")
        return
    path = rec.get("path") or "?"
    real = rec.get("real_path") or path
    how = f", {rec['how']}" if rec.get("how") else ""
    if _same_file(real, shim_path):
        rep.add(label, f"{path} -> {real} (the shim{how})", Status.PASS)
    elif plat.name == "cuda":
        rep.add(label, f"{path} -> {real}, the real driver{how}: libcudart reaches the driver through "
                f"dlopen({name}) and cuGetProcAddress, bypassing the shim (FACTS §5.3, §11)",
                Status.FAIL, rank=4, finding=f"{name} is the real driver, not XSched's shim: "
                "CUDA work bypasses XSched",
                fix=f"export LD_LIBRARY_PATH={lib_dir}:$LD_LIBRARY_PATH   "
                    f"# {lib_dir}/{name} -> {plat.shim} must win the soname lookup")
    else:
        rep.add(label, f"{path} -> {real} (the real runtime{how}; the preloaded shim interposes it)")


def _matmul_row(rep: _Report, m: Mapping[str, Any], gpu: bool) -> None:
    n = m.get("n", "?")
    dev = m.get("device", "?")
    ms = float(m.get("seconds") or 0) * 1000
    if m.get("error"):
        rep.add("matmul", f"{n}x{n} on {dev} failed: {m['error']}", Status.FAIL, rank=4,
                finding=f"a {n}x{n} matmul failed on {dev} under XSched",
                fix="rerun without XSched to compare (xsched-tui native run)")
    elif not m.get("ok"):
        rep.add("matmul", f"{n}x{n} float32 on {dev}: WRONG result (max relative error "
                f"{m.get('max_error')}), suspect", Status.FAIL, rank=3,
                finding=f"a {n}x{n} matmul on {dev} gave a wrong result under XSched (suspect)",
                fix="rerun without XSched; wrong results mean kernels ran with bad parameters "
                    "(FIELD-NOTES §4 row 7)")
    elif gpu:
        rep.add("matmul", f"{n}x{n} float32 on {dev} ({m.get('stream')} stream): correct, {ms:.1f} ms",
                Status.PASS)
    else:
        rep.add("matmul", f"no GPU visible: matmul ran on CPU (correct, {ms:.1f} ms)", Status.SKIP)


def _no_xqueue_row(rep: _Report, auto: bool, gpu: bool, stream: str, where: str) -> None:
    if not auto:
        rep.add("XQueues", f"none {where}: XSCHED_AUTO_XQUEUE is not ON (only 1/on count), so no "
                "XQueue is created unless the app calls XQueueCreate", Status.FAIL, rank=5,
                finding="nothing scheduled: XSCHED_AUTO_XQUEUE is not ON",
                fix="export XSCHED_AUTO_XQUEUE=ON")
    elif gpu:
        rep.add("XQueues", f"none {where}: nothing scheduled", Status.FAIL, rank=5,
                finding="nothing scheduled: GPU work ran but no XQueue was created",
                fix=FIX_STREAM if stream == "default" else
                "read the probe's stderr for XQueue WARN lines (level, threshold, batch size)")
    else:
        rep.add("XQueues", f"none {where} (none expected: no GPU stream was created)", Status.SKIP)


def _trace_row(rep: _Report, records: list[Any]) -> None:
    mallocs = kernels = null = bad = 0
    for r in records:
        tag = (getattr(r, "tag", None) or "").upper()
        if tag not in ("TRACE_MALLOC", "TRACE_KERNEL", "TRACE_FREE"):
            continue
        f = _fields(r)
        if tag == "TRACE_KERNEL":
            kernels += 1
            if f.get("stream", "").lower() in NULL_STREAMS:
                null += 1
        elif tag == "TRACE_MALLOC":
            mallocs += 1
            if f.get("ret", "0") not in ("0",):
                bad += 1
    if not (mallocs or kernels):
        return
    text = f"{mallocs} TRACE_MALLOC ({mallocs - bad} ret=0), {kernels} TRACE_KERNEL"
    if kernels:
        text += f", {null} ({100 * null // kernels}%) on the null stream"
    text += " - debug instrumentation is active"
    if null:
        rep.add("interception", text + ": null-stream launches bypass XQueues (FACTS §0.6)",
                Status.WARN, rank=11, fix=FIX_STREAM)
    elif bad:
        rep.add("interception", text + f": {bad} allocation(s) failed", Status.WARN, rank=18,
                fix="read the TRACE_MALLOC lines with ret!=0 in the probe's stderr")
    else:
        rep.add("interception", text, Status.PASS)


SPEC = CheckSpec(
    id="probe", title="Live probe", func=check_probe, requires=("install",),
    after=("env", "scheduler", "symbols", "gpu", "xserver"), live=True,
    description="Start a small PyTorch process with XSched enabled and prove each step from its "
                "stderr, /proc/PID/maps and environ, xserver and a checked matmul.",
)
