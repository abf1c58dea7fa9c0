"""``xsched-tui ps``: the XSched processes of this host (or the given PIDs) as a table or JSON.

Exit code 0, or 1 when a ``--pid`` does not exist. Permission problems and processes that exit
while being read are facts in the output, never tracebacks.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

from xsched_tui.core.config import Config
from xsched_tui.core.fsfacts import human_size
from xsched_tui.core.procrecords import ProcRecord, ProcSnapshot, record_to_json

MAX_COMMAND = 60  # characters of the command line shown in the table


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true",
                   help="print a JSON list of process records (schema: docs/ps.schema.json)")
    p.add_argument("--pid", action="append", type=int, metavar="PID", default=[],
                   help="show this process and its descendants (repeatable); without "
                   "--all-xsched only these are shown")
    p.add_argument("--all-xsched", action="store_true",
                   help="with --pid: also discover every XSched process and xserver on this host "
                   "(the default without --pid)")
    p.add_argument("--diagnose", action="store_true",
                   help="also evaluate FACTS §8 for each XSched process (asks xserver once)")
    p.add_argument("--interval", type=float, default=0.5, metavar="S",
                   help="seconds between the two samples that give CPU%% (default 0.5)")


def run(ns: argparse.Namespace, cfg: Config) -> int:
    from xsched_tui.core.proctree import ProcessCollector

    if not 0 <= ns.interval <= 60:
        print("xsched-tui ps: --interval must be between 0 and 60 seconds", file=sys.stderr)
        return 64
    pins: list[int] = list(ns.pid or [])
    discover = not pins or ns.all_xsched
    col = ProcessCollector(cfg, discover_every=3.0 if discover else math.inf)
    missing = []
    for pid in pins:
        if pid <= 0 or not os.path.isdir(f"/proc/{pid}"):
            missing.append(pid)
            continue
        col.track(pid, "pinned")
    try:
        col.refresh()
        time.sleep(ns.interval)
        snap = col.refresh()
    finally:
        col.close()
    for pid in missing:
        print(f"xsched-tui ps: no process with PID {pid} on this host", file=sys.stderr)
    diags = diagnoses(snap, cfg) if ns.diagnose else {}
    if ns.json:
        out = []
        for r in snap.procs:
            rec = record_to_json(r)
            if ns.diagnose:
                d = diags.get(r.pid)
                rec["diagnosis"] = d.to_json() if d is not None else None
            out.append(rec)
        print(json.dumps(out, indent=2))
        for n in snap.notes:
            print(f"xsched-tui ps: note: {n}", file=sys.stderr)
    else:
        print_table(snap, discovered=discover)
        if ns.diagnose:
            print_diagnoses(snap, diags)
    return 1 if missing else 0


def diagnoses(snap: ProcSnapshot, cfg: Config) -> dict:
    """FACTS §8 per XSched process, from its /proc facts and one xserver answer (no logs here:
    the app and the experiment runner add what the process's own log says)."""
    from xsched_tui.core.diagnose import diagnose
    from xsched_tui.core.xqmonitor import XQueueMonitor
    from xsched_tui.core.xserver import XServerClient

    xq = None
    if any(r.xsched is not None or r.origin == "xserver" for r in snap.procs):
        mon = XQueueMonitor(XServerClient(cfg.xserver_host, cfg.xserver_port, timeout=0.5))
        xq = mon.poll()
    return {r.pid: diagnose(r, None, xq) for r in snap.procs if r.xsched is not None}


def print_diagnoses(snap: ProcSnapshot, diags: dict) -> None:
    for r in snap.procs:
        d = diags.get(r.pid)
        if d is None:
            continue
        print(f"\n{r.pid} {d.status.value}: {d.verdict}")
        for it in d.items:
            if it.status.value in ("FAIL", "WARN"):
                print(f"  {it.status.value} {it.title}: {it.finding}")
                if it.fix:
                    print(f"       fix: {it.fix}")


# -- table ----------------------------------------------------------------------------------
_CONTROL = {c: " " for c in range(32)} | {127: " "}


def fmt_age(s: float | None) -> str:
    if s is None:
        return "?"
    s = max(0, int(s))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def xsched_cell(r: ProcRecord) -> str:
    if r.origin == "xserver":
        return "xserver"
    x = r.xsched
    if x is None:
        return "-"
    parts = [x.platform or "?", "shim" if x.shim else "no shim"]
    if x.enable:
        parts.append("preload" if x.enable == "LD_PRELOAD" else "ld-path")
    if x.scheduler:
        parts.append(x.scheduler + (f"/{x.policy}" if x.policy else ""))
    if x.priority is not None:
        parts.append(f"prio {x.priority}")
    if x.auto_xqueue:
        parts.append("auto")
    return " ".join(parts)


def gpu_cell(r: ProcRecord) -> str:
    if not r.gpu:
        return "-"
    out = []
    for g in r.gpu:
        mem = human_size(g.memory_bytes) if g.memory_bytes is not None else "?"
        util = f" {g.util_percent:.0f}%" if g.util_percent is not None else ""
        out.append(f"{g.device}:{mem}{util}")
    return ",".join(out)


def print_table(snap: ProcSnapshot, *, discovered: bool) -> None:
    if not snap.procs:
        where = "on this host" if discovered else "for the given PIDs"
        print(f"no XSched process and no xserver found {where}")
    else:
        gpu = snap.gpu_source is not None
        rows = []
        for r in snap.procs:
            pid = ("  " * (r.depth - 1) + "└ " if r.depth else "") + str(r.pid)
            # a `python -c` program holds newlines: one table row must stay one line
            cmd = " ".join(r.cmdline).translate(_CONTROL) or f"[{r.name}]"
            row = [
                pid, (r.user or "?")[:10], r.state,
                f"{r.cpu_percent:.1f}" if r.cpu_percent is not None else "-",
                human_size(r.rss) if r.rss is not None else "-",
                str(r.threads) if r.threads is not None else "-",
                fmt_age(r.age_s),
            ]
            if gpu:
                row.append(gpu_cell(r))
            row += [xsched_cell(r), cmd if len(cmd) <= MAX_COMMAND else cmd[:MAX_COMMAND - 1] + "…"]
            rows.append((row, _row_notes(r)))
        head = ["PID", "USER", "STATE", "CPU%", "RSS", "THR", "AGE"] + (["GPU"] if gpu else []) + \
               ["XSCHED", "COMMAND"]
        widths = [max(len(h), *(len(row[i]) for row, _ in rows)) for i, h in enumerate(head)]
        right = {3, 4, 5, 6}
        def line(cells: list[str]) -> str:
            return "  ".join(c.rjust(widths[i]) if i in right else c.ljust(widths[i])
                             for i, c in enumerate(cells)).rstrip()
        print(line(head))
        for row, notes in rows:
            print(line(row))
            for mark, n in notes:
                print(f"    {mark} {n}")
    for n in snap.notes:
        print(f"note: {n}")
    sys.stdout.flush()


def _row_notes(r: ProcRecord) -> list[tuple[str, str]]:
    """("!", problem) and ("·", fact) lines printed under a row."""
    out = []
    if r.exited:
        sev = "!" if r.exit_signal or (r.exit_code or 0) != 0 else "·"
        out.append((sev, f"exited: {r.exit_text or 'exit status unknown'}"))
    if r.error:
        out.append(("!", r.error))
    if r.xsched is not None:
        out.extend(("!", n) for n in r.xsched.notes)
        if r.xsched.shim and r.xsched.shim.sha:
            out.append(("·", f"shim {r.xsched.shim.path} sha256 {r.xsched.shim.sha}"))
    out.extend(("!", n) for n in r.notes)
    return out
