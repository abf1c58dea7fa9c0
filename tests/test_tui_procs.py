"""Pilot tests of the Processes and XQueues panes: a real process running the XSched test double
(NOT XSched) with its stderr in a real file, a real HTTP xserver double on 127.0.0.1 answering
the recorded H100 JSON with that pid, and real signals behind the confirmations."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import replace

import pytest
from textual.widgets import DataTable, Static

from test_diagnose import BASE_ENV, glb_answers
from xsched_tui.core.config import Config
from xsched_tui.tui.app import XSchedApp
from xsched_tui.tui.panes.logs import LogsPane
from xsched_tui.tui.panes.procs import ProcessesPane
from xsched_tui.tui.panes.xqueues import XQueuesPane
from xsched_tui.tui.screens.confirm import ConfirmScreen, FormScreen

from cbuild import have_gcc
from doubles.xsched_double import build_double_install
from xserver_double import XServerDouble

pytestmark = pytest.mark.skipif(not have_gcc(), reason="gcc is required to build the XSched test double")


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    return build_double_install(tmp_path_factory.mktemp("xsched"), "cuda")


@pytest.fixture
def workload(lib, tmp_path):
    """A GLB process with the double preloaded, its stderr in a file (as users capture it)."""
    log = tmp_path / "fg.stderr.log"
    env = {**BASE_ENV, "LD_PRELOAD": str(lib / "libshimcuda.so"), "XSCHED_SCHEDULER": "GLB",
           "XSCHED_AUTO_XQUEUE": "ON", "XSCHED_AUTO_XQUEUE_PRIORITY": "1"}
    with open(log, "wb") as err:
        p = subprocess.Popen(["sleep", "60"], env=env, stderr=err, stdout=subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL, start_new_session=True)
    yield p, log
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait(timeout=10)


def _app(tmp_path, port: int, pid: int, log, readonly: bool = False, tab: str = "tab-procs") -> XSchedApp:
    cfg = replace(Config(), results=str(tmp_path / "res"), xserver_port=port, readonly=readonly)
    return XSchedApp(cfg, specs=[], hostname="gpu-host", autorun=False, start_tab=tab,
                     log_files=[str(log)], log_pids=[pid])


async def _wait(pilot, cond, tries: int = 600) -> None:
    for _ in range(tries):
        if cond():
            return
        await pilot.pause(0.05)
    app = pilot.app
    notes = [n.message for n in app._notifications]
    raise AssertionError(f"condition not reached: focus={app.focused} notes={notes}")


def _text(static: Static) -> str:
    """The plain text of whatever a Static shows (str, Text or a Rich Group)."""
    from rich.console import Console

    con = Console(width=150, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    con.print(static.content)
    return con.export_text()


def _select(table: DataTable, key: str) -> None:
    """Put the cursor on our row (other XSched-like processes on the host may be discovered too)."""
    table.focus()
    table.move_cursor(row=[str(k.value) for k in table.rows].index(key))


def _row(table: DataTable, key: str) -> list[str]:
    return [str(c) for c in table.get_row(key)]


async def test_process_row_card_and_sigterm_after_confirmation(tmp_path, workload):
    proc, log = workload
    with XServerDouble(glb_answers(proc.pid, 3)) as srv:
        app = _app(tmp_path, srv.port, proc.pid, log)
        async with app.run_test(size=(150, 45)) as pilot:
            pane = app.query_one(ProcessesPane)
            table = app.query_one("#procs-table", DataTable)
            key = str(proc.pid)
            # its log may name it before the collector's first snapshot does ("log" origin)
            await _wait(pilot, lambda: key in {str(k.value) for k in table.rows}
                        and "SCHEDULED" in _row(table, key)[-1] and _row(table, key)[2] == "pinned")
            row = _row(table, key)
            assert row[2] == "pinned"
            assert "cuda·preload" in row
            assert "GLB" in row and "1" in row  # scheduler and priority from its environ
            assert row[-2].startswith("3")  # XQueues from xserver
            d = pane.diagnoses[proc.pid]
            assert d.scheduling is True
            _select(table, key)  # the card is the highlighted process's
            await pilot.pause(0.2)
            card = _text(app.query_one("#proc-card", Static))
            assert "XSched is scheduling this process" in card and "libshimcuda.so" in card
            status = _text(app.query_one("#procs-status", Static))
            assert "1 scheduled by XSched" in status

            _select(table, key)
            await pilot.pause(0.1)
            await pilot.press("T")
            await _wait(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            assert "SIGTERM" in app.screen.question and str(proc.pid) in app.screen.question
            await pilot.press("n")
            await pilot.pause(0.2)
            assert proc.poll() is None, "No must not send anything"
            await pilot.press("T")
            await _wait(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            await _wait(pilot, lambda: proc.poll() is not None)
            assert proc.returncode == -signal.SIGTERM


async def test_readonly_refuses_signals_and_xserver_changes(tmp_path, workload):
    proc, log = workload
    with XServerDouble(glb_answers(proc.pid, 2)) as srv:
        app = _app(tmp_path, srv.port, proc.pid, log, readonly=True)
        async with app.run_test(size=(150, 45)) as pilot:
            table = app.query_one("#procs-table", DataTable)
            await _wait(pilot, lambda: str(proc.pid) in {str(k.value) for k in table.rows})
            _select(table, str(proc.pid))
            await pilot.pause(0.1)
            await pilot.press("K")
            await pilot.pause(0.2)
            assert not isinstance(app.screen, ConfirmScreen)
            assert proc.poll() is None
            await pilot.press("right_square_bracket")  # XQueues tab
            xq = app.query_one(XQueuesPane)
            await _wait(pilot, lambda: xq.view is not None and xq.view.reachable)
            await pilot.press("O")
            await pilot.pause(0.2)
            assert not isinstance(app.screen, FormScreen)
            assert "read-only" in _text(app.query_one("#xq-status", Static))
            assert srv.posts == []


async def test_xqueues_pane_priority_action_and_config_validation(tmp_path, workload):
    proc, log = workload
    with XServerDouble(glb_answers(proc.pid, 3)) as srv:
        app = _app(tmp_path, srv.port, proc.pid, log, tab="tab-xq")
        async with app.run_test(size=(150, 45)) as pilot:
            xq = app.query_one(XQueuesPane)
            qt = app.query_one("#xq-table", DataTable)
            await _wait(pilot, lambda: qt.row_count == 3)
            procs = app.query_one("#xq-procs", DataTable)
            assert _row(procs, str(proc.pid))[2] == "3"
            first = _row(qt, str(xq.view.queues[0].info.handle))
            assert "RDY" in first[3] and "RUN" in first[4] and first[6] == "4" and first[7] == "2"
            assert "GPU(0x200000030)" in first[1]
            # priority for the highlighted queue: values, then confirmation, then POST /hint
            qt.focus()
            await pilot.press("P")
            await _wait(pilot, lambda: isinstance(app.screen, FormScreen))
            await pilot.press("9", "9", "9", "enter")
            await pilot.pause(0.1)
            assert isinstance(app.screen, FormScreen), "out of range stays in the form"
            assert "between -255 and 255" in _text(app.screen.query_one("#dialog-error", Static))
            for _ in range(3):
                await pilot.press("backspace")
            await pilot.press("5", "enter")
            await _wait(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            await _wait(pilot, lambda: any(p["path"] == "/hint" for p in srv.posts))
            hint = next(p for p in srv.posts if p["path"] == "/hint")
            assert hint["body"] == {"hint_type": 1, "handle": xq.view.queues[0].info.handle,
                                    "priority": 5}
            # queue config: batch >= threshold is refused before anything is sent
            n_posts = len(srv.posts)
            await pilot.press("C")
            await _wait(pilot, lambda: isinstance(app.screen, FormScreen))
            form = app.screen
            form.query_one("#f-batch").value = "4"
            await pilot.press("enter")
            await pilot.pause(0.1)
            assert "batch size must be less than threshold" in _text(
                form.query_one("#dialog-error", Static))
            await pilot.press("escape")
            await pilot.pause(0.1)
            assert len(srv.posts) == n_posts


async def test_zero_xqueue_process_is_red_and_xserver_down_is_said(tmp_path, workload):
    proc, log = workload
    srv = XServerDouble(glb_answers(proc.pid, 0))
    srv.__enter__()
    try:
        app = _app(tmp_path, srv.port, proc.pid, log, tab="tab-xq")
        async with app.run_test(size=(150, 45)) as pilot:
            procs = app.query_one("#xq-procs", DataTable)
            await _wait(pilot, lambda: str(proc.pid) in {str(k.value) for k in procs.rows})
            assert "nothing scheduled" in _row(procs, str(proc.pid))[2]
            status = app.query_one("#xq-status", Static)
            assert "no XQueue: nothing is scheduled" in _text(status)
            srv.stop()
            await _wait(pilot, lambda: "DOWN" in _text(status), tries=100)
            assert "last good answer" in _text(status)
            # the Processes tab calls the same process NOT scheduled
            await pilot.press("left_square_bracket")
            table = app.query_one("#procs-table", DataTable)
            await _wait(pilot, lambda: str(proc.pid) in {str(k.value) for k in table.rows})
            await _wait(pilot, lambda: "0 XQUEUES" in _row(table, str(proc.pid))[-1]
                        or "UNKNOWN" in _row(table, str(proc.pid))[-1])
    finally:
        srv.stop()


async def test_l_shows_the_process_logs(tmp_path, workload):
    proc, log = workload
    with XServerDouble(glb_answers(proc.pid, 1)) as srv:
        app = _app(tmp_path, srv.port, proc.pid, log)
        async with app.run_test(size=(150, 45)) as pilot:
            table = app.query_one("#procs-table", DataTable)
            logs = app.query_one(LogsPane)
            await _wait(pilot, lambda: str(proc.pid) in {str(k.value) for k in table.rows}
                        and any(i.pid == proc.pid for i in logs.model.sources.values()))
            _select(table, str(proc.pid))
            await pilot.pause(0.1)
            await pilot.press("l")
            await _wait(pilot, lambda: app._active_tab() == "tab-logs")
            scope = logs.model.scope_source()
            assert scope is not None and scope.pid == proc.pid
            time.sleep(0)  # the view is scoped; its lines are the double's stderr
            assert any("global scheduler" in logs.log_view.source.record(i).text
                       for i in range(len(logs.log_view.source)))
