"""First paint of the app in a real pseudo-terminal (budget: <= 0.5 s, PERFORMANCE.md).

Measures wall time from exec to the first frame that shows the tab bar (the default screen:
Logs replaying the bundled run), with the checks left to run in their worker (they never block
the first paint).

    python -m benchmarks.bench_startup [-n 10]
"""

from __future__ import annotations

import argparse
import os
import pty
import select
import signal
import sys
import time

from benchmarks.stats import Summary, machine, summarize

MARKER = b"Checks"  # the tab bar: the first frame is on screen


def first_paint(timeout: float = 10.0, cols: int = 120, rows: int = 40) -> float:
    pid, fd = pty.fork()
    if pid == 0:  # child: the app, in a 120x40 terminal
        os.environ.update({"COLUMNS": str(cols), "LINES": str(rows), "TERM": "xterm-256color"})
        os.execv(sys.executable, [sys.executable, "-m", "xsched_tui", "--probe-timeout", "5"])
    t0 = time.perf_counter()
    import fcntl
    import struct
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    buf = b""
    elapsed = float("nan")
    try:
        while time.perf_counter() - t0 < timeout:
            r, _, _ = select.select([fd], [], [], 0.05)
            if r:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                buf += chunk
                if MARKER in buf:
                    elapsed = time.perf_counter() - t0
                    break
    finally:
        os.kill(pid, signal.SIGTERM)
        deadline = time.time() + 5
        while time.time() < deadline:
            try:
                os.read(fd, 65536)
            except OSError:
                pass
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.02)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    return elapsed


def run(n: int) -> Summary:
    first_paint()  # warm the page cache once; not counted
    return summarize([first_paint() for _ in range(n)])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=10)
    s = run(ap.parse_args().n)
    print(f"first paint (120x40 pty): {s.fmt('s')}  budget <= 0.5 s  [{machine()}]")


if __name__ == "__main__":
    main()
