"""htop and toolong measured the same way as xsched-tui (the same 120x40 pty, output drained and
counted, CPU from /proc once a second), so the suite can print ratios next to our figures.

Neither tool is a dependency of xsched-tui. They are used where already installed: ``htop`` on
PATH (``apt-get install -y htop``), toolong's ``tl`` on PATH, in ``$XSCHED_BENCH_TOOLONG`` or in
/tmp/toolong-venv (toolong pins an old Textual, so it lives in its own venv:
``python3 -m venv /tmp/toolong-venv && /tmp/toolong-venv/bin/pip install toolong``).
``install()`` tries exactly those commands (the suite's ``--install-compare``); nothing else here
installs anything. Each tool runs with HOME in a temporary folder: its defaults, not anyone's config.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from benchmarks.ptyapp import Pty, Writer, first_text, make_log_dir, quiet, sample
from benchmarks.stats import Summary, summarize

TOOLONG_VENV = "/tmp/toolong-venv"
HOW = {
    "htop": "apt-get install -y htop",
    "toolong": f"python3 -m venv {TOOLONG_VENV} && {TOOLONG_VENV}/bin/pip install toolong",
}
Say = Callable[[str], None]


def find_htop() -> str | None:
    return shutil.which("htop")


def find_toolong() -> str | None:
    for c in (os.environ.get("XSCHED_BENCH_TOOLONG"), shutil.which("tl"), f"{TOOLONG_VENV}/bin/tl"):
        if c and os.access(c, os.X_OK):
            return c
    return None


def install(say: Say) -> None:
    """Try to install both tools (only with the suite's --install-compare); report what happened."""
    if find_htop() is None:
        cmd = (["apt-get", "install", "-y", "htop"] if os.geteuid() == 0
               else ["sudo", "-n", "apt-get", "install", "-y", "htop"])
        say(_try(cmd, "htop"))
    if find_toolong() is None:
        r = _try([sys.executable, "-m", "venv", TOOLONG_VENV], "toolong venv")
        if "failed" not in r:
            r = _try([f"{TOOLONG_VENV}/bin/pip", "install", "-q", "toolong"], "toolong")
        say(r)


def _try(cmd: list[str], what: str) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"install {what}: failed ({e})"
    if p.returncode:
        last = (p.stderr or p.stdout).strip().splitlines()[-1:] or [""]
        return f"install {what}: failed (exit {p.returncode}: {last[0][:200]})"
    return f"install {what}: done ({' '.join(cmd)})"


def _steady(tool: Pty, seconds: float, settle: float, limit: float = 30.0) -> dict:
    """Let the tool draw its first screens, then sample it: CPU % (Summary), tty bytes/s."""
    time.sleep(settle)
    quiet(tool, below=5.0, window=1.0, limit=limit)  # toolong scans its files for a while
    cpu, bps, whole = sample(tool, seconds)
    return {"cpu": summarize(cpu), "bps": summarize(bps), "whole": whole, "rss_kib": tool.rss_kib()}


def measure_htop(seconds: float, paints: int, say: Say) -> dict:
    """htop at its default delay (1.5 s) and at ``-d 10`` (1 s): CPU, tty bytes/s; first paint."""
    exe = find_htop()
    if exe is None:
        return {"missing": f"not installed ({HOW['htop']})"}
    out: dict = {"version": _version([exe, "--version"])}
    with tempfile.TemporaryDirectory(prefix="bench-htop-") as home:
        env = {"HOME": home, "XDG_CONFIG_HOME": home}
        for key, argv in (("default", [exe]), ("1hz", [exe, "-d", "10"])):
            tool = Pty(argv, env=env)
            try:
                if not tool.wait_text(b"Load average", 10):
                    say(f"htop {' '.join(argv[1:])}: no 'Load average' on screen")
                out[key] = _steady(tool, seconds, settle=2.0)
            finally:
                tool.stop()
        first_text([exe], b"Load average", env=env)  # warm the page cache; not counted
        out["first_paint"] = summarize([first_text([exe], b"Load average", env=env)
                                        for _ in range(paints)])
    out["nproc"] = sum(1 for d in os.listdir("/proc") if d.isdigit())
    return out


def measure_toolong(files: int, seconds: float, rate: float, paints: int, say: Say) -> dict:
    """toolong (``tl FILE...``, one tab per file) on ``files`` log files: first paint (its tab
    bar), idle, and while a writer appends ``rate`` lines/s in total to the same files; then the
    same rate into a single file (toolong tails one file at a time). ``drew`` says whether any log
    line reached the screen: toolong 1.5.0 given 64 files was seen drawing only its tab bar."""
    exe = find_toolong()
    if exe is None:
        return {"missing": f"not installed ({HOW['toolong']})"}
    out: dict = {"version": _version([exe, "--version"])}
    with tempfile.TemporaryDirectory(prefix="bench-toolong-") as d:
        home = os.path.join(d, ".home")
        os.makedirs(home)
        env = {"HOME": home, "XDG_CONFIG_HOME": home}
        paths = make_log_dir(d, files, marker=False)
        for i, p in enumerate(paths):  # a few lines each, like workers that already started
            with open(p, "w") as f:
                f.write(f"[XSCHED INFO @ T {2000 + i} @ 01:00:00.000001] using global scheduler\n" * 10)
        argv = [exe, *paths]
        first_text(argv, b"worker-2000", env=env)  # warm-up; not counted
        out["first_paint"] = summarize([first_text(argv, b"worker-2000", env=env) for _ in range(paints)])
        out["idle"], out["busy"] = _toolong_run(argv, env, d, files, seconds, rate, say)
        one = os.path.join(d, "one")
        os.makedirs(one)
        single = make_log_dir(one, 1, marker=False)
        _, out["single"] = _toolong_run([exe, *single], env, one, 1, seconds, rate, say)
    return out


def _toolong_run(argv: list[str], env: dict[str, str], d: str, files: int, seconds: float, rate: float,
                 say: Say) -> tuple[dict, dict]:
    tool = Pty(argv, env=env)
    try:
        if not tool.wait_text(b"worker-2000", 15):
            say("toolong: the first file's tab never showed")
        idle = _steady(tool, seconds, settle=3.0)
        w = Writer(d, rate, seconds, files)
        w.go()
        cpu, bps, whole = sample(tool, seconds)
        w.wait()
        time.sleep(0.5)
        with tool.lock:
            drew = b"bench w=" in tool.text_tail or b"seq=" in tool.text_tail
        written, elapsed, _ = w.done or (0, seconds, 0)
        busy = {"cpu": summarize(cpu), "bps": summarize(bps), "whole": whole, "drew": drew,
                "rate": written / elapsed if elapsed else 0.0, "rss_kib": tool.rss_kib()}
        if not drew:
            say(f"toolong on {files} file(s): no written line reached the screen")
        return idle, busy
    finally:
        tool.stop()


def _version(argv: list[str]) -> str:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        return (p.stdout or p.stderr).strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "?"


def ratio(ours: Summary | None, theirs: Summary | None) -> float | None:
    if ours is None or theirs is None or not theirs.median:
        return None
    return ours.median / theirs.median
