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


def _accept_form(app: PtyApp, title: str, fields: dict[int, str] | None = None) -> None:
    """``n`` opens the tab's form once its table has focus (the app may still be starting: try
    again, but slowly, so that a late form does not get an "n" typed into it). ``fields``: the
    value to type into the form's field N (0 is the first; tab moves on and selects the next
    field's text, so typing replaces it); enter accepts the form."""
    for _ in range(12):
        app.type("n")
        try:
            app.wait_text(title, timeout=5)
            break
        except AssertionError:
            continue
    time.sleep(0.5)  # the form's first field takes focus after it is drawn
    at = 0
    for index, value in sorted((fields or {}).items()):
        app.type("\t" * (index - at))
        time.sleep(0.2)
        app.type(value)
        at = index
    time.sleep(0.2)
    app.type("\r")


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
        _accept_form(app, "New overhead experiment")

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
        tail = app.output()[-4000:]
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


def test_sigterm_during_an_xsched_trial_stops_the_workloads_and_the_xserver_it_started(tmp_path):
    """A priority experiment from the Priority tab's form (its defaults: calibration, then
    standalone / native / XSched with a global scheduler): SIGTERM while the XSched trial runs
    with the xserver the runner started. Nothing may survive, xserver included."""
    from test_priority import XSERVER, free_port

    from doubles.xsched_double import build_double_install

    lib = build_double_install(tmp_path / "xs", "cuda")
    xserver = lib.parent / "bin" / "xserver"  # the stand-in xserver (recorded answers), NOT XSched's
    xserver.parent.mkdir(exist_ok=True)
    xserver.write_text(f"#!{sys.executable}\nimport runpy, sys\nsys.argv = [{XSERVER!r}, *sys.argv[1:]]\n"
                       f"runpy.run_path({XSERVER!r}, run_name='__main__')\n")
    xserver.chmod(0o755)
    wrapper = tmp_path / "fakepy"
    standin = str(test_cli_overhead.STANDIN)
    wrapper.write_text(f"#!{sys.executable}\nimport runpy, sys\nsys.argv = [{standin!r}, *sys.argv[1:]]\n"
                       f"runpy.run_path({standin!r}, run_name='__main__')\n")
    wrapper.chmod(0o755)
    res = tmp_path / "r"
    argv = [sys.executable, "-m", "xsched_tui", "app", "--tab", "priority", "--python", str(wrapper),
            "--results", str(res), "--xserver", f"127.0.0.1:{free_port()}", *double_args(lib)]
    app = PtyApp(argv, {**BASE_ENV, "TERM": "xterm-256color", "STANDIN_MEASURE_S": "2",
                        "STANDIN_METRIC": "latency_ms"}, cwd=str(ROOT))
    seen: set[int] = set()
    try:
        app.wait_text("Priority", timeout=60)
        # form fields (tui/panes/priority.py FORM): 0 fg, 1 bg, 2 tenants, 3 partition, 4 rate,
        # 5 requests, 6 fraction, 7 seconds, 8 configs, 9 scheduler, 10 policy, 11 port,
        # 12 repeats, 13 device
        _accept_form(app, "New priority experiment", {8: "xsched", 12: "1"})

        def xsched_trial() -> bool:
            now = descendants(app.pid)
            seen.update(now)
            cmds = []
            for p in now:
                try:
                    with open(f"/proc/{p}/cmdline", "rb") as f:
                        cmds.append(f.read())
                except OSError:
                    continue
            return any(b"/bin/xserver\x00" in c for c in cmds) and _workload_running(now)
        app.wait_for(xsched_trial, timeout=120, what="the XSched trial with its xserver")
        os.kill(app.pid, signal.SIGTERM)
        rc = app.wait(timeout=30)
    finally:
        app.close()
    assert rc == 128 + signal.SIGTERM
    _check_after(app, res, seen, done=1)
