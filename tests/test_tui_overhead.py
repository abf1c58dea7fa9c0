"""Pilot tests of the Overhead pane: a real experiment from the app, each run a real process of the
venv's interpreter running the real workloads module on the CPU (PyTorch CPU), "XSched" being
the C test double (NOT XSched) preloaded as the shim."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from textual.widgets import Static

from xsched_tui.core.config import Config
from xsched_tui.tui.app import XSchedApp
from xsched_tui.tui.panes.overhead import OverheadPane, gauge
from xsched_tui.tui.screens.confirm import FormScreen
from xsched_tui.tui.widgets.livetable import LiveTable

from cbuild import have_gcc
from pilot import text_of as _text
from pilot import wait_until as _wait

torch = pytest.importorskip("torch", reason="the workloads need PyTorch (pip install torch==2.13.0)")
needs_gcc = pytest.mark.skipif(not have_gcc(), reason="gcc is required to build the XSched test double")


def _app(tmp_path: Path, **cfg) -> XSchedApp:
    c = replace(Config(), results=str(tmp_path / "results"), python=sys.executable, **cfg)
    return XSchedApp(c, specs=[], hostname="gpu-host", autorun=False, start_tab="tab-overhead",
                     poll=False)


async def _start(pilot, app, workload="matmul", options="device=cpu size=64 iters=5 warmup=1",
                 pairs="3", aa="n") -> None:
    await _wait(pilot, lambda: app.focused is not None and app.focused.id == "ov-runs")
    await pilot.press("n")
    await _wait(pilot, lambda: isinstance(app.screen, FormScreen))
    form = app.screen
    for key, val in (("workload", workload), ("options", options), ("pairs", pairs), ("aa", aa)):
        form.query_one(f"#f-{key}").value = val
    await pilot.press("enter")


@needs_gcc
async def test_overhead_experiment_from_the_app_with_the_double_as_xsched(tmp_path):
    from doubles.xsched_double import build_double_install

    lib = build_double_install(tmp_path / "xs", "cuda")
    app = _app(tmp_path, install=str(lib.parent), platform="cuda", enable="LD_PRELOAD",
               xsched_env={"XSCHED_POLICY": "HPF", "XSCHED_AUTO_XQUEUE": "ON"})
    async with app.run_test(size=(140, 40)) as pilot:
        pane = app.query_one(OverheadPane)
        await _start(pilot, app)
        await _wait(pilot, lambda: pane.folder is not None and not pane.running)
        runs = app.query_one("#ov-runs", LiveTable)
        assert runs.row_count == 6
        modes = [str(runs.get_row(k)[2]) for k in [str(i) for i in range(1, 7)]]
        assert modes == ["native", "xsched"] * 3  # interleaved pairs
        assert all(str(runs.get_row(str(i))[6]) == "yes" for i in range(1, 7)), \
            [runs.get_row(str(i)) for i in range(1, 7)]
        assert pane.result is not None and pane.result.pairs_valid == 3
        g = _text(app.query_one("#ov-gauge", Static))
        assert "overhead (XSched vs native)" in g and "95% CI" in g
        assert pane.result.verdict in g
        doc = json.loads((Path(pane.folder) / "result.json").read_text())
        assert len(doc["runs"]) == 6


async def test_aa_experiment_and_an_invalid_xsched_run_is_excluded(tmp_path):
    app = _app(tmp_path)
    async with app.run_test(size=(140, 40)) as pilot:
        pane = app.query_one(OverheadPane)
        await _start(pilot, app, aa="y", pairs="2")
        await _wait(pilot, lambda: pane.folder is not None and not pane.running)
        assert pane.result is not None and pane.result.aa
        assert "A/A noise floor" in _text(app.query_one("#ov-gauge", Static))
        # without an install, an XSched experiment cannot start: said, nothing run
        await _start(pilot, app, aa="n", pairs="2")
        await pilot.pause(0.3)
        assert not pane.running
        assert any("cannot start" in n.message for n in app._notifications)


async def test_bad_form_values_stay_in_the_form(tmp_path):
    app = _app(tmp_path)
    async with app.run_test(size=(140, 40)) as pilot:
        await _wait(pilot, lambda: app.focused is not None and app.focused.id == "ov-runs")
        await pilot.press("n")
        await _wait(pilot, lambda: isinstance(app.screen, FormScreen))
        app.screen.query_one("#f-workload").value = "bogus"
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert isinstance(app.screen, FormScreen)
        assert "workload: one of" in _text(app.screen.query_one("#dialog-error", Static))


async def test_readonly_refuses_experiments(tmp_path):
    app = XSchedApp(replace(Config(), results=str(tmp_path), readonly=True), specs=[],
                    autorun=False, start_tab="tab-overhead", poll=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await _wait(pilot, lambda: app.focused is not None and app.focused.id == "ov-runs")
        await pilot.press("n")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, FormScreen)


def test_gauge_marks_threshold_ci_and_median():
    g = gauge(2.0, 1.0, 3.5, 10.0, 3.4, width=40).plain
    assert "●" in g and "│" in g and "═" in g and "¦" in g
    assert g.index("●") < g.index("│")  # the median sits left of the threshold
