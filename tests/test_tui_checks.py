from __future__ import annotations

import json

from textual.widgets import DataTable, Static

from xsched_tui.tui.panes.checks import ChecksPane

from snapshot_app import CALLS, make_app


async def _settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def test_checks_run_at_start_and_show_status():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _settle(pilot)
        pane = app.query_one(ChecksPane)
        assert {k: r.status.value for k, r in pane.results.items()} == {
            "source": "SKIP", "install": "PASS", "scheduler": "FAIL", "gpu": "WARN", "probe": "SKIP"}
        table = app.query_one(DataTable)
        assert str(table.get_cell("scheduler", "status")) == "FAIL"
        assert "gpu-host · cuda" in app.sub_title
        assert "FAIL: 1 passed, 1 warned, 1 failed, 2 skipped" in str(
            app.query_one("#status-line", Static).content)


async def test_expand_shows_evidence_and_fix_and_toggles():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _settle(pilot)
        await pilot.press("down", "down")  # scheduler row
        detail = app.query_one("#check-detail", Static)
        text = "".join(seg.text for seg in app.console.render(detail.content))
        assert "app-managed" in text and "export XSCHED_POLICY=HPF" in text
        scroll = app.query_one("#check-detail-scroll")
        assert scroll.display
        await pilot.press("enter")
        assert not scroll.display
        await pilot.press("enter")
        assert scroll.display


async def test_rerun_one_check_runs_only_that_check():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _settle(pilot)
        before = dict(CALLS)
        await pilot.press("down", "down", "down")  # gpu
        await pilot.press("r")
        await _settle(pilot)
        assert CALLS["gpu"] == before["gpu"] + 1
        assert CALLS["install"] == before["install"]
        await pilot.press("c")  # everything again
        await _settle(pilot)
        assert CALLS["install"] == before["install"] + 1


async def test_save_report_from_the_app(tmp_path):
    app = make_app(str(tmp_path / "results"))
    async with app.run_test(size=(120, 40)) as pilot:
        await _settle(pilot)
        await pilot.press("s")
        await _settle(pilot)
    files = sorted(p.name for p in (tmp_path / "results").iterdir())
    assert len(files) == 2 and files[0].endswith(".json") and files[1].endswith(".md")
    doc = json.loads((tmp_path / "results" / files[0]).read_text())
    assert doc["summary"]["status"] == "FAIL" and len(doc["checks"]) == 5


async def test_help_and_palette():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _settle(pilot)
        await pilot.press("question_mark")
        assert app.screen.__class__.__name__ == "HelpScreen"
        await pilot.press("escape")
        assert app.screen.__class__.__name__ != "HelpScreen"
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Run all checks" in titles and "Re-run check: GPU" in titles


def test_checks_pane_snapshot(snap_compare):
    async def run_before(pilot) -> None:
        await _settle(pilot)
        await pilot.press("down", "down")

    assert snap_compare("snapshot_app.py", terminal_size=(120, 34), run_before=run_before)


async def test_quit_during_a_running_check_stops_its_child_at_once():
    import os
    import sys
    from dataclasses import replace

    from xsched_tui.core import runner
    from xsched_tui.core.checks.base import CheckSpec, Outcome, Status
    from xsched_tui.core.config import Config
    from xsched_tui.tui.app import XSchedApp

    started: list[int] = []

    def hangs(ctx):
        child = runner.Child([sys.executable, "-c", "import time; time.sleep(60)"])
        started.append(child.pid)
        st = child.wait(timeout=60)
        return Outcome(Status.FAIL, st.describe())

    app = XSchedApp(replace(Config(), results="/tmp/xsched-tui-q"), hostname="h",
                    specs=[CheckSpec("probe", "Live probe", hangs, live=True)], poll=False)
    async with app.run_test(size=(100, 30)) as pilot:
        for _ in range(100):
            if started:
                break
            await pilot.pause(0.05)
        await pilot.press("q")
    assert started
    import time

    for _ in range(50):  # the group is killed by quit, not by the 60 s timeout
        try:
            os.kill(started[0], 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("child survived quit")
