"""Pilot tests of the Priority pane, driven by a real experiment run from the app: the workload
protocol stand-in as foreground and background, "XSched" being the C test double (NOT XSched)
preloaded as the shim, the app's own process collector and log hub watching them live."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from textual.widgets import Static

import test_experiment
from test_experiment import BASE_ENV
from xsched_tui.core.config import Config
from xsched_tui.core.priospec import RoleSpec, SchedChoice, build_priority_spec
from xsched_tui.tui.app import XSchedApp
from xsched_tui.tui.panes.priority import PriorityPane
from xsched_tui.tui.screens.confirm import FormScreen
from xsched_tui.tui.widgets.livetable import LiveTable

from pilot import text_of as _text
from pilot import wait_until as _wait

lib = test_experiment.lib  # the C test double's install tree (a module-scoped fixture)

STANDIN = str(Path(__file__).with_name("standin_workload.py"))


def _cfg(lib: Path, tmp_path: Path) -> Config:
    return replace(Config(), install=str(lib.parent), platform="cuda", enable="LD_PRELOAD",
                   results=str(tmp_path / "results"), python=sys.executable)


def _spec(cfg: Config, measure_s: str = "2.5"):
    fg = RoleSpec("fg", "infer", {"rate": 20}, priority=1, argv=(
        sys.executable, STANDIN, "--metric", "latency_ms", "--value", "3", "--iters", "20",
        "--measure-s", measure_s))
    bg = RoleSpec("bg", "matmul", {}, priority=0, argv=(
        sys.executable, STANDIN, "--metric", "tflops", "--value", "500", "--iters", "10",
        "--measure-s", "1"))
    return build_priority_spec(cfg, [fg, bg], sched=SchedChoice("local"),
                               configs=("native", "xsched"), repeats=1, primary=["fg"])


async def _run(lib: Path, tmp_path: Path, **env) -> tuple[XSchedApp, PriorityPane, list[str]]:
    cfg = _cfg(lib, tmp_path)
    app = XSchedApp(cfg, specs=[], hostname="gpu-host", autorun=False, start_tab="tab-priority",
                    poll=True)
    seen: list[str] = []
    async with app.run_test(size=(160, 50)) as pilot:
        pane = app.query_one(PriorityPane)
        await _wait(pilot, lambda: app.hub is not None)
        assert app.start_experiment(_spec(cfg), environ={**BASE_ENV, **env})
        assert app.query_one("TabbedContent").active == "tab-priority"

        def banner_seen() -> bool:
            seen.append(_text(app.query_one("#pr-banner", Static)))
            return pane.live.status in ("finished", "cancelled", "error")

        await _wait(pilot, banner_seen, tries=1200)
        await pilot.pause(1.2)  # the last 1 Hz redraw
        app._refresh_priority()
        seen.append(_text(app.query_one("#pr-status", Static)))
        seen.append(_text(app.query_one("#pr-fg", Static)))
        seen.extend(pane.events_seen)
        t = app.query_one("#pr-runs", LiveTable)
        assert t.row_count == 4  # native fg+bg, xsched fg+bg
        return app, pane, seen


async def test_live_screen_shows_xsched_in_play(lib, tmp_path):
    _app, pane, seen = await _run(lib, tmp_path, XSTD_PRIORITY="1")
    assert "native" in pane.banners and "ok" in pane.banners, pane.banners
    assert "problem" not in pane.banners
    assert any("XSched is in play" in s and "scheduled, 2 XQueues" in s for s in seen)
    assert any("native configuration" in s for s in seen)
    assert any("xsched/fg" in s and "local HPF; 2 XQueues created; priority 1" in s for s in seen)
    assert any("foreground latency: native p99 3" in s for s in seen), seen[-1]
    assert pane.live.p99("xsched")[1] > 0  # latencies streamed while it ran


async def test_live_screen_shows_nothing_scheduled_while_it_runs(lib, tmp_path):
    _app, pane, seen = await _run(lib, tmp_path, XSTD_XQUEUES="0")
    assert "problem" in pane.banners, pane.banners
    assert any("XSched is NOT in play" in s and "0 XQueues" in s for s in seen)
    assert pane.live.verdict == "INVALID"
    assert any("INVALID" in s for s in seen)


async def test_new_priority_form_validates(lib, tmp_path):
    app = XSchedApp(_cfg(lib, tmp_path), specs=[], hostname="gpu-host", autorun=False,
                    start_tab="tab-priority", poll=False)
    async with app.run_test(size=(160, 50)) as pilot:
        await _wait(pilot, lambda: app.focused is not None and app.focused.id == "pr-runs")
        await pilot.press("n")
        await _wait(pilot, lambda: isinstance(app.screen, FormScreen))
        app.screen.query_one("#f-repeats").value = "zero"
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert isinstance(app.screen, FormScreen)
        assert "repeats" in _text(app.screen.query_one("#dialog-error", Static))
        await pilot.press("escape")
        await _wait(pilot, lambda: not isinstance(app.screen, FormScreen))
