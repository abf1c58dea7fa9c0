"""A stand-in for ``xserver POLICY PORT`` (NOT XSched's xserver; a test double).

A real process: it logs XSched-format lines to stderr like xserver does (scheduler created, HTTP
server listening, ...), serves the recorded H100 answers over real HTTP on 127.0.0.1:PORT
(tests/xserver_double.py), and stops on SIGINT like xserver (FACTS §4.1). Knobs (environment):
STANDIN_XSERVER_EXIT=1 (exit 1 at once, before listening), STANDIN_XSERVER_SILENT=1 (never
listen), STANDIN_XSERVER_ANSWERS=path (another recorded xserver-http-during-run.txt).
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
    with XServerDouble(answers, port=port):
        log(f"HTTP server listening on port {port}")
        while not stop.wait(0.05):
            pass
    log("xserver stopped")
    time.sleep(0.01)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
