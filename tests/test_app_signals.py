"""The real app process, in a real pseudo-terminal, stopped mid-experiment by each way a user
(or an SSH drop) can stop it: SIGTERM, SIGINT, SIGHUP from a hung-up terminal, the q key and
Ctrl+C. Afterwards no child may survive (a leftover background model would keep a GPU busy),
result.json must say "cancelled" and keep the finished runs, and the terminal must be back in
its normal mode.

The experiment is an overhead experiment started from the Overhead tab with the form's
defaults; "XSched" is the C test double (NOT XSched) and the workload interpreter is a wrapper
that runs the protocol stand-in (tests/standin_workload.py), each run measuring for 1 s.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import termios
import time
from pathlib import Path

import jsonschema
import pytest

import test_cli_overhead
from ptyapp import PtyApp, descendants
from test_cli_overhead import BASE_ENV, ROOT, SCHEMA, alive, double_args

fakepy = test_cli_overhead.fakepy
lib = test_cli_overhead.lib

pytestmark = pytest.mark.slow


def _result(res: Path) -> dict | None:
    found = sorted(res.glob("*/result.json"))
    if not found:
        return None
    try:
        return json.loads(found[0].read_text())
    except (OSError, ValueError):  # being replaced right now
        return None


def _workload_running(pids: set[int]) -> bool:
    for p in pids:
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                if b"xsched_tui.workloads" in f.read():
                    return True
        except OSError:
            continue
    return False


def _start_experiment(tmp_path: Path, lib: Path, fakepy: str, done: int = 2,
                      **env: str) -> tuple[PtyApp, Path, set[int]]:
    """The app on the Overhead tab, an experiment started from its form, ``done`` runs
    finished and the next one running."""
    res = tmp_path / "r"
    argv = [sys.executable, "-m", "xsched_tui", "app", "--tab", "overhead", "--python", fakepy,
            "--results", str(res), *double_args(lib)]
    app = PtyApp(argv, {**BASE_ENV, "TERM": "xterm-256color", "STANDIN_MEASURE_S": "1.0",
                        "STANDIN_JITTER": "0", **env}, cwd=str(ROOT))
    seen: set[int] = set()
    try:
        app.wait_text("Overhead", timeout=60)
        # "n" opens the form once the runs table has focus (the app may still be starting:
        # try again, but slowly, so that a late form does not get an "n" typed into it)
        for _ in range(12):
            app.type("n")
            try:
                app.wait_text("New overhead experiment", timeout=5)
                break
            except AssertionError:
                continue
        app.type("\r")  # accept the form's defaults

        def progressed() -> bool:
            now = descendants(app.pid)
            seen.update(now)
            doc = _result(res)
            if doc is None or doc["counts"]["done"] < done or not _workload_running(now):
                return False
            # the running workload is past its start-up (its signal handling is in place)
            return done > 0 or any('"ready"' in p.read_text() for p in res.glob("*/runs/*/stdout.jsonl"))
        app.wait_for(progressed, timeout=60, what=f"{done} finished runs and one running")
    except BaseException:
        app.close()
        raise
    return app, res, seen


def _check_after(app: PtyApp, res: Path, seen: set[int], done: int = 2) -> dict:
    doc = _result(res)
    assert doc is not None
    jsonschema.validate(doc, SCHEMA)
    assert doc["status"] == "cancelled", doc["status"]
    assert doc["counts"]["done"] >= done
    report = (res / Path(doc["folder"]).name / "report.md").read_text()
    assert "**PARTIAL RESULT**: the experiment was cancelled" in report
    assert len(seen) >= 1, "no child process was ever seen"
    deadline = time.monotonic() + 5  # an orphan's reaper may need a moment for the zombie
    while any(alive(p) for p in seen) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = [p for p in seen if alive(p)]
    assert not survivors, f"children left running: {survivors}"
    return doc


STOPS = {
    "SIGTERM": (lambda a: os.kill(a.pid, signal.SIGTERM), 128 + signal.SIGTERM),
    "SIGINT": (lambda a: os.kill(a.pid, signal.SIGINT), 128 + signal.SIGINT),
    "q": (lambda a: a.type("q"), 0),
    "ctrl+c": (lambda a: a.type("\x03"), 0),
}


@pytest.mark.parametrize("how", list(STOPS))
def test_stopping_the_app_mid_experiment_leaves_no_child_and_keeps_the_result(
        how, lib, fakepy, tmp_path):
    app, res, seen = _start_experiment(tmp_path, lib, fakepy)
    try:
        stop, want = STOPS[how]
        stop(app)
        rc = app.wait(timeout=30)
        tail = app.raw()[-4000:]
        flags = app.termios_flags()
    finally:
        app.close()
    assert rc == want, app.text()[-2000:]
    _check_after(app, res, seen)
    # the terminal is back: normal screen, cursor shown, line editing and echo on
    assert b"\x1b[?1049l" in tail and b"\x1b[?25h" in tail
    assert flags & termios.ICANON and flags & termios.ECHO


def test_ssh_drop_hangs_up_the_terminal_and_the_app_still_cleans_up(lib, fakepy, tmp_path):
    """The master side of the pty closes (sshd after a dropped connection): the kernel sends
    SIGHUP; the app's last writes to the terminal fail. Exit 129, nothing left running."""
    app, res, seen = _start_experiment(tmp_path, lib, fakepy)
    try:
        app.hang_up()
        rc = app.wait(timeout=30)
    finally:
        app.close()
    assert rc == 128 + signal.SIGHUP
    _check_after(app, res, seen)


def test_a_workload_that_ignores_sigterm_is_killed(lib, fakepy, tmp_path):
    """The running workload never finishes and ignores SIGTERM: SIGKILL after the grace."""
    app, res, seen = _start_experiment(tmp_path, lib, fakepy, done=0, STANDIN_IGNORE_TERM="1",
                                       STANDIN_HANG="1")
    try:
        os.kill(app.pid, signal.SIGTERM)
        rc = app.wait(timeout=30)
    finally:
        app.close()
    assert rc == 128 + signal.SIGTERM
    doc = _check_after(app, res, seen, done=0)
    assert [r["exit_signal"] for r in doc["runs"]] == ["SIGKILL"], doc["runs"]
    assert doc["runs"][0]["cancelled"]
