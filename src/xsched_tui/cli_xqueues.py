"""``xsched-tui xqueues``: xserver's XQueues as an xcli-like table or JSON, once or watching.

Exit codes: 0 xserver answers (and schedules something, or nobody is connected); 1 clients are
connected but xserver lists no XQueue, so nothing is scheduled; 2 xserver is down, too slow or
answers garbage. Kept out of cli.py so that file stays a thin dispatcher.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the core modules load only when the command runs (cli.py imports us early)
    from xsched_tui.core.config import Config
    from xsched_tui.core.xqmonitor import XQView

EXIT_USAGE = 64
MIN_WATCH = 0.1  # s: PERFORMANCE.md's refresh floor
MAX_WATCH = 86400.0  # s: time.sleep() overflows on inf or 1e300
HTTP_TIMEOUT = 1.0  # s per socket operation (the client adds a total deadline of twice this)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true",
                   help="print the view as JSON (one object per line with --watch; "
                   "schema: docs/xqueues.schema.json)")
    p.add_argument("--watch", metavar="SECONDS", type=float,
                   help="poll again every SECONDS until Ctrl+C (or --count polls)")
    p.add_argument("--count", metavar="N", type=int, help="stop after N polls")


def _age(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s} s" if s < 120 else f"{s // 60} min" if s < 7200 else f"{s // 3600} h"


def render_text(view: XQView, now: float, width: int = 120) -> str:
    """An xcli-like table plus per-process counts, the policy and the verdict."""
    from xsched_tui.core.xqmonitor import verdict

    out: list[str] = []
    pol = f"{view.policy_name} ({view.policy})" if view.policy is not None else "unknown"
    if view.reachable:
        lat = f", answered in {view.latency_s * 1000:.0f} ms" if view.latency_s is not None else ""
        out.append(f"xserver policy {pol}{lat}")
        if view.status == "slow" and view.message:
            out.append(f"warning: {view.message}")
    else:
        dur = f" for {_age(now - view.since)}" if now - view.since >= 1 else ""
        out.append(f"xserver {view.status}{dur}: {view.message}")
        if view.last_good_at is None:
            return "\n".join(out)
        out.append(f"showing the last good answer, {_age(now - view.last_good_at)} old "
                   f"(policy {pol})")
    hdr = ("PID", "DEV", "XQUEUE", "STAT", "SCHED", "LV", "THR", "BATCH", "PRIO", "CMD")
    cmds = {p.pid: p.cmdline or "" for p in view.processes}
    rows = []
    for r in view.queues:
        i = r.info
        stat = "RDY" if i.ready else "BLK"
        sched = "SUS" if i.suspended else "RUN"
        if r.gone:
            stat, sched = "gone", ""
        prio = "" if r.priority is None else str(r.priority) + ("*" if r.priority_from and
                                                                 "env" in r.priority_from else "")
        rows.append((str(i.pid), i.device_text, i.handle_hex, stat, sched, str(i.level),
                     str(i.threshold), str(i.batch_size), prio, cmds.get(i.pid, "")))
    if rows:
        widths = [max(len(h), *(len(row[k]) for row in rows)) for k, h in enumerate(hdr[:-1])]
        fixed = sum(widths) + 2 * len(widths)
        cmd_w = max(10, width - fixed)

        def line(cells: tuple[str, ...]) -> str:
            body = "  ".join(c.ljust(w) for c, w in zip(cells[:-1], widths, strict=True))
            cmd = cells[-1].rstrip()
            return f"{body}  {cmd[:cmd_w]}".rstrip()

        out.append("")
        out.append(line(hdr))
        out.extend(line(row) for row in rows)
        if any(r.priority_from and "env" in r.priority_from for r in view.queues):
            out.append("(PRIO*: from the process's XSCHED_AUTO_XQUEUE_PRIORITY, not from xserver's log)")
    if view.processes:
        out.append("")
        out.append("PID      XQUEUES  READY  SUSPENDED  EVER-READY  CMD")
        for p in view.processes:
            flag = "   <- no XQueue: nothing of it is scheduled" if p.pid in view.zero_queue_pids else ""
            out.append(f"{p.pid:<8} {p.queues:>7}  {p.ready_now:>5}  {p.suspended_now:>9}  "
                       f"{p.ever_ready:>10}  {(p.cmdline or '').rstrip()[:60]}{flag}")
    out.append("")
    out.append(f"verdict: {verdict(view)[1]}")
    return "\n".join(out)


_LOOPBACK = ("127.0.0.1", "localhost", "::1", "0.0.0.0", "::")


def env_priorities(view: XQView, asked: set[int], proc_root: str = "/proc") -> dict[int, int]:
    """``XSCHED_AUTO_XQUEUE_PRIORITY`` of xserver's clients, read from their /proc environ.

    xserver exposes no priorities (FACTS §4.2); without its log (the TUI reads it) the client's
    own variable is what there is. Each pid is read once (``asked``), and only when the process
    here has the command line xserver reported for it, so a reused or foreign pid (xserver in
    another PID namespace) is never given someone else's priority.
    """
    from xsched_tui.core import procread, xenv

    out: dict[int, int] = {}
    for p in view.processes:
        if p.pid in asked or p.pid <= 0:
            continue
        asked.add(p.pid)
        want = (p.cmdline or "").strip()
        # xserver shrinks long command lines with a middle "...": those are not compared
        if want and "..." not in want and \
                " ".join(procread.read_cmdline(p.pid, proc_root)).strip() != want:
            continue
        raw, _err, _reason = procread.read_proc(p.pid, "environ", proc_root, procread.MAX_READ)
        if not raw:
            continue
        prio = xenv.parse_int(procread.interesting_environ(raw).get("XSCHED_AUTO_XQUEUE_PRIORITY"))
        if prio is not None:
            out[p.pid] = prio
    return out


def run(ns: argparse.Namespace, cfg: Config) -> int:
    from xsched_tui.core.xqmonitor import XQueueMonitor, verdict, view_to_json
    from xsched_tui.core.xserver import XServerClient

    if ns.watch is not None and not ns.watch >= MIN_WATCH:
        print(f"xsched-tui xqueues: --watch must be at least {MIN_WATCH} s", file=sys.stderr)
        return EXIT_USAGE
    if ns.watch is not None and not ns.watch <= MAX_WATCH:  # inf: time.sleep() would raise
        print(f"xsched-tui xqueues: --watch must be at most {MAX_WATCH:g} s", file=sys.stderr)
        return EXIT_USAGE
    if ns.count is not None and ns.count < 1:
        print("xsched-tui xqueues: --count must be 1 or more", file=sys.stderr)
        return EXIT_USAGE
    count = ns.count if ns.count is not None else (None if ns.watch is not None else 1)
    interval = ns.watch if ns.watch is not None else 1.0
    watching = count != 1
    client = XServerClient(cfg.xserver_host, cfg.xserver_port, timeout=HTTP_TIMEOUT)
    mon = XQueueMonitor(client)
    # PIDs in xserver's answer are this host's only when xserver runs here
    local = cfg.xserver_host.strip("[]").lower() in _LOOPBACK
    asked: set[int] = set()
    tty = sys.stdout.isatty()
    code = 2
    n = 0
    try:
        while True:
            started = time.monotonic()
            view = mon.poll()
            if local and view.reachable:
                for pid, prio in env_priorities(view, asked).items():
                    mon.set_env_priority(pid, prio)
                view = mon.view()
            n += 1
            code = verdict(view)[0]
            if ns.json:
                doc = view_to_json(view)
                print(json.dumps(doc) if watching else json.dumps(doc, indent=2), flush=True)
            else:
                width = shutil.get_terminal_size((120, 40)).columns
                text = render_text(view, time.time(), width)
                if watching and tty:
                    sys.stdout.write("\x1b[2J\x1b[H")  # like xcli top: redraw in place
                elif watching:
                    stamp = datetime.now().strftime("%H:%M:%S")
                    print(f"--- {stamp} poll {n} " + "-" * 40)
                print(text, flush=True)
            if not view.reachable and ns.json and not watching:
                print(f"xsched-tui xqueues: {view.message}", file=sys.stderr)
            if count is not None and n >= count:
                break
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
    except KeyboardInterrupt:  # Ctrl+C ends --watch: a normal way out
        if not ns.json:
            print()
    return code
