"""A stand-in for ``xserver POLICY PORT`` (NOT XSched's xserver; a test double).

A real process: it logs XSched-format lines to stderr like xserver does (scheduler created, HTTP
server listening, ...), serves the recorded H100 answers over real HTTP on 127.0.0.1:PORT
(tests/xserver_double.py), and stops on SIGINT like xserver (FACTS §4.1). Knobs (environment):
STANDIN_XSERVER_EXIT=1 (exit 1 at once, before listening), STANDIN_XSERVER_SILENT=1 (never
listen), STANDIN_XSERVER_ANSWERS=path (another recorded xserver-http-during-run.txt),
STANDIN_XSERVER_DYNAMIC=1 (list two XQueues, one ready and one suspended, for each of its sibling
processes, i.e. children of its own parent, that run with XSCHED_SCHEDULER=GLB: what xserver
shows of an experiment's own clients when XSched schedules them).
"""

from __future__ import annotations

import datetime
import os
import signal
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from xserver_double import XServerDouble, load_recorded


def sample() -> Path:
    from conftest import bundled_samples  # the package's bundled copy of the H100 recording

    return bundled_samples() / "explicit-stream" / "xserver-http-during-run.txt"


def log(msg: str) -> None:
    now = datetime.datetime.now()
    sys.stderr.write(f"[XSCHED INFO @ T {threading.get_native_id()} @ {now:%H:%M:%S}."
                     f"{now.microsecond:06d}] {msg}\n")
    sys.stderr.flush()


def glb_siblings() -> list[tuple[int, str]]:
    """(pid, cmdline) of the processes with our parent that run with XSCHED_SCHEDULER=GLB."""
    me, parent = os.getpid(), os.getppid()
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) != parent:
                continue
            env = Path(f"/proc/{d}/environ").read_bytes().split(b"\0")
            cmd = Path(f"/proc/{d}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
        if b"XSCHED_SCHEDULER=GLB" in env:
            out.append((int(d), cmd.strip()))
    return out


def dynamic_xqueues() -> dict:
    procs = glb_siblings()
    queues = [{"batch_size": 2, "device": 1, "handle": (pid << 48) + i + 1, "level": 1,
               "pid": pid, "ready": i == 0, "suspended": i == 1, "threshold": 4}
              for pid, _ in procs for i in range(2)]
    return {"xqueues": queues, "processes": [{"cmdline": c, "pid": p} for p, c in procs]}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: xserver <policy> <port>\n")
        return 1
    policy, port = argv[0], int(argv[1])
    if os.environ.get("STANDIN_XSERVER_EXIT") == "1":
        log(f"scheduler created with policy {policy}")
        sys.stderr.write("bind failed: address in use\n")
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log(f"scheduler created with policy {policy}")
    if os.environ.get("STANDIN_XSERVER_SILENT") == "1":
        while not stop.wait(0.1):
            pass
        return 0
    answers = load_recorded(Path(os.environ.get("STANDIN_XSERVER_ANSWERS") or sample()))
    dynamic = os.environ.get("STANDIN_XSERVER_DYNAMIC") == "1"
    with XServerDouble(answers, port=port) as srv:
        log(f"HTTP server listening on port {port}")
        while not stop.wait(0.05):
            if dynamic:
                srv.answers["/xqueues"] = dynamic_xqueues()
    log("xserver stopped")
    time.sleep(0.01)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
