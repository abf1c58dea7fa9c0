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


async def _run(lib: Path, tmp_path: Path, spec_fn=None, rows: int = 4,
               **env) -> tuple[XSchedApp, PriorityPane, list[str]]:
    cfg = _cfg(lib, tmp_path)
    spec = (spec_fn or _spec)(cfg)
    app = XSchedApp(cfg, specs=[], hostname="gpu-host", autorun=False, start_tab="tab-priority",
                    poll=True)
    seen: list[str] = []
    async with app.run_test(size=(160, 50)) as pilot:
        pane = app.query_one(PriorityPane)
        await _wait(pilot, lambda: app.hub is not None)
        assert app.start_experiment(spec, environ={**BASE_ENV, **env})
        assert app.query_one("TabbedContent").active == "tab-priority"

        def banner_seen() -> bool:
            seen.append(_text(app.query_one("#pr-banner", Static)))
            return pane.live.status in ("finished", "cancelled", "error")

        await _wait(pilot, banner_seen, tries=1200)
        await pilot.pause(1.2)  # the last 1 Hz redraw
        app._refresh_priority()
        seen.append(_text(app.query_one("#pr-status", Static)))
        seen.append(_text(app.query_one("#pr-fg", Static)))
        seen.append(_text(app.query_one("#pr-bg", Static)))
        seen.extend(pane.events_seen)
        t = app.query_one("#pr-runs", LiveTable)
        assert t.row_count == rows  # e.g. native fg+bg, xsched fg+bg
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


async def _open_form(app, pilot) -> None:
    """From the Priority tab's runs table, ``n`` opens the new-experiment form."""
    await _wait(pilot, lambda: app.focused is not None and app.focused.id == "pr-runs")
    await pilot.press("n")
    await _wait(pilot, lambda: isinstance(app.screen, FormScreen))


async def test_new_priority_form_validates(lib, tmp_path):
    app = XSchedApp(_cfg(lib, tmp_path), specs=[], hostname="gpu-host", autorun=False,
                    start_tab="tab-priority", poll=False)
    async with app.run_test(size=(160, 50)) as pilot:
        await _open_form(app, pilot)
        app.screen.query_one("#f-repeats").value = "zero"
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert isinstance(app.screen, FormScreen)
        assert "repeats" in _text(app.screen.query_one("#dialog-error", Static))
        await pilot.press("escape")
        await _wait(pilot, lambda: not isinstance(app.screen, FormScreen))


def _fg_xsched_env(**extra):
    def fn(cfg):
        spec = _spec(cfg)
        f = spec.roles[0]
        return replace(spec, roles=(replace(f, xsched_env={**f.xsched_env, **extra}),
                                    *spec.roles[1:]))
    return fn


async def test_live_banner_shows_a_loader_error(lib, tmp_path):
    """FACTS §11: a missing LD_PRELOAD file -> the loader's `cannot be preloaded ... ignored` and
    a plain native run; the banner says so while the XSched trial runs."""
    _app, pane, seen = await _run(lib, tmp_path, _fg_xsched_env(
        LD_PRELOAD="/nonexistent/xsched/libshimcuda.so"))
    assert "problem" in pane.banners, pane.banners
    assert any("XSched is NOT in play" in s and "xsched/fg): loader error" in s
               and "cannot be preloaded" in s for s in seen), seen
    assert pane.live.verdict == "INVALID"


async def test_live_banner_shows_the_app_managed_scheduler(lib, tmp_path):
    """No scheduler chosen -> `using app-managed scheduler`: nothing will be scheduled."""
    def app_managed(cfg):
        spec = _spec(cfg)
        return replace(spec, modes=tuple(replace(m, env={**m.env, "XSCHED_POLICY": ""})
                                         if m.xsched else m for m in spec.modes))
    _app, pane, seen = await _run(lib, tmp_path, app_managed)
    assert "problem" in pane.banners, pane.banners
    assert any("XSched is NOT in play" in s and "app-managed" in s for s in seen), seen


async def test_live_view_keeps_tenants_apart(lib, tmp_path):
    """Gap 7: each tenant's latency has its own ring per configuration (not one mixed p99), each
    flat-out role its own throughput series."""
    def tenants(cfg):
        def lat(name, value, prio, **kw):
            return RoleSpec(name, "infer", {"rate": 20}, priority=prio, p99_ms=100, argv=(
                sys.executable, STANDIN, "--metric", "latency_ms", "--value", value, "--iters",
                "10", "--measure-s", "1.5"), **kw)
        t3 = RoleSpec("t3", "matmul", {}, priority=1, min_throughput_frac=0.2, argv=(
            sys.executable, STANDIN, "--metric", "tflops", "--value", "500", "--iters", "10",
            "--measure-s", "1"))
        return build_priority_spec(cfg, [lat("t1", "3", 3), lat("t2", "40", 2), t3],
                                   sched=SchedChoice("local"), configs=("native", "xsched"),
                                   repeats=1)
    _app, pane, seen = await _run(lib, tmp_path, tenants, rows=6, XSTD_PRIORITY="1")
    p1, n1 = pane.live.p99("native", "t1")
    p2, n2 = pane.live.p99("native", "t2")
    assert p1 is not None and p2 is not None and p1 < 10 < p2 and n1 > 0 and n2 > 0
    assert pane.live.latency_roles() == ["t1", "t2"]
    assert list(pane.live.throughput) == ["t3"]
    assert any("foreground latency: native p99 3" in s and "t2 latency: native p99 40" in s
               for s in seen), seen[-3:]
    assert any("background throughput: t3 last " in s for s in seen), [s for s in seen if "throughput" in s]


async def test_new_priority_form_offers_tenants_and_partition(lib, tmp_path):
    app = XSchedApp(_cfg(lib, tmp_path), specs=[], hostname="gpu-host", autorun=False,
                    start_tab="tab-priority", poll=False)
    async with app.run_test(size=(160, 50)) as pilot:
        await _open_form(app, pilot)
        for key in ("tenants", "partition", "policy", "port", "fraction", "seconds"):
            assert app.screen.query_one(f"#f-{key}") is not None
        app.screen.query_one("#f-tenants").value = "name=a,kind=infer,rate=5;name=b,kind=matmul"
        app.screen.query_one("#f-partition").value = "75/25"
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert "tenants or partition, not both" in _text(app.screen.query_one("#dialog-error",
                                                                               Static))
        app.screen.query_one("#f-partition").value = ""
        app.screen.query_one("#f-port").value = "99999"
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert "port: a TCP port" in _text(app.screen.query_one("#dialog-error", Static))
        await pilot.press("escape")


def test_the_form_builds_the_same_experiments_as_the_cli(lib, tmp_path):
    """The form's tenants/partition fields go through the CLI's builder: no field is dropped."""
    from xsched_tui.cli_priority import FORM_DEFAULTS, build_spec, form_namespace

    cfg = _cfg(lib, tmp_path)
    ns = form_namespace({**FORM_DEFAULTS, "tenants": "name=a,kind=infer,priority=3,rate=50,"
                         "p99_ms=100; name=b,kind=matmul,priority=1,min_throughput_frac=0.2",
                         "scheduler": "local", "seconds": "5", "repeats": "2"})
    spec = build_spec(ns, cfg)
    assert [r.name for r in spec.roles] == ["a", "b"] and spec.repeats == 2
    assert spec.roles[0].slo.p99_ms == 100 and spec.roles[1].options["duration"] == 5
    ns = form_namespace({**FORM_DEFAULTS, "partition": "75/25", "port": "50123",
                         "fg": "name=a,kind=matmul", "bg": "name=b,kind=matmul"})
    spec = build_spec(ns, cfg)
    xs = next(m for m in spec.modes if m.xsched)
    assert xs.xserver.policy == "PUP" and xs.xserver.port == 50123
    assert spec.roles[0].xsched_env["XSCHED_AUTO_XQUEUE_UTILIZATION"] == "75"
