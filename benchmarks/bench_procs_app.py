"""The whole app watching processes under test and xserver, in a real pseudo-terminal
(issue 4 budgets: "the app at 1 Hz with 8 processes and the XQueues pane <= 3 % of one core;
idle <= 0.5 %; terminal output <= 10 KiB/s at 1 Hz").

    python -m benchmarks.bench_procs_app [--seconds 20] [--procs 8] [--queues 4] [--active 1]

Setup (all real): the XSched test double (tests/doubles/xsched_double.c, NOT XSched) is built with
gcc into an XSched-like install; ``--procs`` ``sleep`` processes run with it preloaded and
``XSCHED_SCHEDULER=GLB XSCHED_AUTO_XQUEUE=ON`` (each writes its XSched lines to a file in the
logs folder); a real HTTP xserver double on 127.0.0.1 answers the recorded H100 ``/xqueues`` JSON
rewritten to ``--queues`` XQueues per process, ``--active`` of which (default all) change their
ready/suspended flags on every request.
``xsched-tui app --logs DIR --xserver 127.0.0.1:PORT`` runs in a 120x40 pty; the app discovers
the processes itself (its discovery scan) and polls xserver once a second.

Phases, each ``--seconds`` long after the app is quiet, CPU = utime + stime of the app (every
thread) sampled once a second, tty bytes/s drained from the pty:
  (a) idle: no process under test, no xserver, Checks tab on screen;
  (b) Processes tab on screen with the processes and xserver;
  (c) XQueues tab on screen.
The load average is printed: other load inflates CPU %.
"""

from __future__ import annotations

import argparse
import copy
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.ptyapp import App, load_line, quiet, sample, thread_cpu, thread_split
from benchmarks.stats import machine, summarize

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "doubles")]

CPU_BUDGET, IDLE_BUDGET, TTY_BUDGET = 3.0, 0.5, 10 * 1024


def start_workloads(lib: Path, logs: str, n: int) -> list[subprocess.Popen]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XSCHED_", "XLOG_"))}
    env.update(LD_PRELOAD=str(lib / "libshimcuda.so"), XSCHED_SCHEDULER="GLB", XSCHED_AUTO_XQUEUE="ON",
               XSCHED_AUTO_XQUEUE_PRIORITY="1")
    procs = []
    for i in range(n):
        with open(os.path.join(logs, f"wl{i}.stderr.log"), "wb") as err:
            procs.append(subprocess.Popen(["sleep", "3600"], env=env, stderr=err, stdout=subprocess.DEVNULL,
                                          stdin=subprocess.DEVNULL, start_new_session=True))
    return procs


def answers_for(pids: list[int], queues: int) -> dict:
    from xsched_tui.data import samples_dir

    from xserver_double import load_recorded

    rec = load_recorded(samples_dir() / "explicit-stream" / "xserver-http-during-run.txt")
    proto = rec["/xqueues"]["xqueues"][0]
    qs = []
    for pid in pids:
        for j in range(queues):
            q = copy.deepcopy(proto)
            q["pid"] = pid
            q["handle"] = ((pid & 0xFFFF) << 48) | (0x31981b00 + 0x1000 * j)
            qs.append(q)
    return {"/xqueues": {"processes": [{"pid": p, "cmdline": "sleep 3600 "} for p in pids], "xqueues": qs},
            "/policy": rec["/policy"]}


class Flipping:
    """An xserver double whose queues change ready/suspended on every GET (work is running)."""

    def __init__(self, answers: dict, active: int | None = None) -> None:
        from xserver_double import XServerDouble

        self.srv = XServerDouble(answers)
        self.n = 0
        orig = self.srv.answers

        class Live(dict):
            def get(inner, key, default=None):
                if key == "/xqueues":
                    self.n += 1
                    body = copy.deepcopy(orig["/xqueues"])
                    seen: dict[int, int] = {}
                    for i, q in enumerate(body["xqueues"]):
                        k = seen[q["pid"]] = seen.get(q["pid"], -1) + 1
                        if active is not None and k >= active:
                            continue  # an idle queue (PyTorch's stream pool: most never run)
                        q["ready"] = (i + self.n) % 3 != 0
                        q["suspended"] = (i + self.n) % 5 == 0
                    return body
                return dict.get(inner, key, default)

            def __getitem__(inner, key):
                got = inner.get(key)
                if got is None:
                    raise KeyError(key)
                return got

        self.srv.answers = Live(orig)

    def __enter__(self):
        self.srv.__enter__()
        return self.srv

    def __exit__(self, *exc):
        self.srv.__exit__(*exc)


def report(name: str, app: App, seconds: float, budget: float, say: Callable[[str], None] = print) -> dict:
    before = thread_cpu(app.pid)
    cpu, bps, whole = sample(app, seconds)
    rss = app.rss_kib()
    c, b = summarize(cpu), summarize(bps)
    # per-second samples are in 1 % steps (CLK_TCK=100): the verdict uses the whole window
    verdict = "PASS" if whole <= budget else "MISS"
    say(f"{name}: CPU whole window {whole:.2f} % [{verdict} <= {budget} %]; per second "
        f"{c.fmt('%', digits=3)}")
    say(f"    tty {b.fmt('KiB/s', 1 / 1024)} [{'PASS' if b.median <= TTY_BUDGET else 'MISS'} "
        f"<= {TTY_BUDGET // 1024} KiB/s]; RSS {(rss or 0) / 1024:.1f} MiB")
    say(f"    by thread: {thread_split(app.pid, before, seconds)}")
    return {"cpu": c, "bps": b, "whole": whole, "rss_kib": rss, "seconds": seconds}


def options(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--procs", type=int, default=8)
    ap.add_argument("--queues", type=int, default=4)
    ap.add_argument("--active", type=int, default=None,
                    help="queues per process whose state changes every poll (default: all)")
    return ap.parse_args(argv)


def kill_all(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait(timeout=5)


def run(a: argparse.Namespace, say: Callable[[str], None] = print) -> dict:
    """Phases (a)-(c); returns {"idle": ..., "procs": ..., "xqueues": ...}, each with CPU and tty
    bytes/s as Summary, the whole-window CPU % and the app's RSS at the end of the phase."""
    from doubles.xsched_double import build_double_install

    out: dict = {"procs_n": a.procs, "queues": a.queues}
    with tempfile.TemporaryDirectory() as tmp:
        lib = build_double_install(Path(tmp) / "xs", "cuda")
        idle_logs = os.path.join(tmp, "idle")
        os.makedirs(idle_logs)
        # (a) idle: nothing to watch (a closed port for xserver)
        app = App(idle_logs, extra=("--xserver", "127.0.0.1:9"))
        try:
            app.wait_text(b"Checks", 20)
            quiet(app, below=1.0, window=2.0)
            out["idle"] = report("(a) idle, nothing under test", app, a.seconds, IDLE_BUDGET, say)
        finally:
            app.stop()
        logs = os.path.join(tmp, "logs")
        os.makedirs(logs)
        procs = start_workloads(lib, logs, a.procs)
        try:
            with Flipping(answers_for([p.pid for p in procs], a.queues), a.active) as srv:
                app = App(logs, extra=("--xserver", f"127.0.0.1:{srv.port}"))
                try:
                    app.wait_text(b"Checks", 20)
                    quiet(app, below=3.0, window=2.0)
                    mark = app.offset
                    app.send(b"]")  # Processes tab
                    ok = app.wait_text(b"scheduled by XSched", 15, since=mark)
                    time.sleep(4)  # discovery every 3 s: all processes found
                    say(f"processes tab drawn: {ok}; xserver requests so far {len(srv.requests)}")
                    out["procs"] = report(f"(b) Processes tab, {a.procs} processes, 1 Hz", app,
                                          a.seconds, CPU_BUDGET, say)
                    out["procs"]["drawn"] = ok
                    mark = app.offset
                    app.send(b"]")  # XQueues tab
                    ok = app.wait_text(b"XQUEUE", 10, since=mark)
                    time.sleep(2)
                    say(f"xqueues tab drawn: {ok}")
                    act = a.queues if a.active is None else min(a.active, a.queues)
                    out["xqueues"] = report(f"(c) XQueues tab, {a.procs * a.queues} XQueues, "
                                            f"{a.procs * act} changing every poll, 1 Hz", app,
                                            a.seconds, CPU_BUDGET, say)
                    out["xqueues"]["drawn"] = ok
                finally:
                    app.stop()
        finally:
            kill_all(procs)
    return out


def main() -> None:
    a = options()
    print(machine(), load_line())
    run(a)
    print(f"after the run: {load_line()}")


if __name__ == "__main__":
    main()
