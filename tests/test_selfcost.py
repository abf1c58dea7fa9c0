"""The app's own cost on screen (PERFORMANCE.md "Observer effect") and the refresh interval."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace

import pytest
from textual.widgets import Static

from xsched_tui.core.config import Config
from xsched_tui.core.selfcost import SelfMeter, check_interval, next_interval
from xsched_tui.tui.app import XSchedApp

from pilot import text_of, wait_until


def test_meter_sees_its_own_cpu_and_memory():
    m = SelfMeter()
    end = time.process_time() + 0.2
    while time.process_time() < end:  # burn ~0.2 s of CPU
        pass
    c = m.sample(refresh_ms=1.5)
    assert c.cpu_percent is not None and c.cpu_percent > 20
    assert c.rss_bytes is not None and c.rss_bytes > 10 * 2**20 and c.threads >= 1
    text = c.text(1.0, skipped_lines=3)
    assert "self " in text and "% CPU" in text and "MiB" in text and "refresh ≤2 ms" in text
    assert "3 log lines skipped" in text and "every 1 s" in text


def test_interval_ladder_and_bounds():
    assert next_interval(1.0, 1) == 2.0 and next_interval(1.0, -1) == 0.5
    assert next_interval(0.1, -1) == 0.1 and next_interval(10.0, 1) == 10.0
    assert next_interval(0.3, -1) == 0.25  # off-ladder values snap to the next step
    with pytest.raises(ValueError, match=r"0\.1-10"):
        check_interval(0.01)
    with pytest.raises(ValueError):
        check_interval(float("nan"))


def test_cli_rejects_a_bad_interval():
    p = subprocess.run([sys.executable, "-m", "xsched_tui", "--interval", "0.01"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 64 and "refresh interval must be 0.1-10 s" in p.stderr


async def test_app_shows_its_own_cost_and_changes_the_interval(tmp_path):
    cfg = replace(Config(), results=str(tmp_path / "res"))
    app = XSchedApp(cfg, specs=[], hostname="gpu-host", autorun=False, start_tab="tab-procs",
                    poll=True, interval=0.5)
    async with app.run_test(size=(150, 40)) as pilot:
        w = app.query_one("#self-cost", Static)
        await wait_until(pilot, lambda: "% CPU" in text_of(w))
        assert "every 0.5 s" in text_of(w) and "MiB" in text_of(w) and "refresh" in text_of(w)
        await pilot.press("greater_than_sign")
        assert app.interval == 1.0
        await wait_until(pilot, lambda: "every 1 s" in text_of(w), tries=300, step=0.05)
        await pilot.press("less_than_sign", "less_than_sign")
        assert app.interval == 0.25
        app._stop_polls.set()
