"""Check: xserver reachable and its policy, when the global scheduler is configured."""

from __future__ import annotations

import os

from xsched_tui.core.checks.base import CheckContext, CheckSpec, Outcome, Status, ev
from xsched_tui.core.xenv import scheduler_verdict
from xsched_tui.core.xserver import POLICY_NAMES, XServerClient, XServerError


def check_xserver(ctx: CheckContext) -> Outcome:
    cfg = ctx.config
    v = scheduler_verdict(cfg.xsched_env)
    if v.scheduler != "global":
        return Outcome(Status.SKIP, f"not needed: the {v.scheduler} scheduler does not use xserver")
    client = XServerClient(cfg.xserver_host, cfg.xserver_port, timeout=2.0)
    bin_dir = ctx.fact("install", "bin_dir")
    start = (f"{os.path.join(bin_dir, 'xserver')} HPF {cfg.xserver_port} &" if bin_dir
             else f"<install>/bin/xserver HPF {cfg.xserver_port} &")
    try:
        pol = client.policy()
    except XServerError as exc:
        return Outcome(Status.FAIL, str(exc), (ev("url", client.base),),
                       fix=start + "   # GLB clients need a running xserver",
                       facts={"reachable": False})
    name = POLICY_NAMES.get(pol, f"unknown ({pol})")
    rows = [ev("url", client.base), ev("policy", f"{name} ({pol})",
                                       Status.PASS if pol in POLICY_NAMES else Status.WARN)]
    try:
        snap = client.xqueues()
        rows.append(ev("clients", f"{len(snap.processes)} process(es), {len(snap.xqueues)} XQueue(s)"))
    except XServerError as exc:
        rows.append(ev("/xqueues", str(exc), Status.WARN))
    status = Status.PASS if pol in POLICY_NAMES else Status.WARN
    return Outcome(status, f"xserver at {client.base} answers, policy {name}", tuple(rows),
                   facts={"reachable": True, "policy": name})


SPEC = CheckSpec("xserver", "xserver", check_xserver, after=("scheduler", "install"),
                 description="GET /policy when the global scheduler is configured.")
