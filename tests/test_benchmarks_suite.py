"""The benchmark suite runs and its output has the documented shape. Never a timing assertion:
the figures depend on the machine and its load (PERFORMANCE.md: budgets are measured by the
commands in benchmarks/, not by unit tests). The long runs (full suite, the 8-minute soak, the
1 GiB file) are not run here; see README "Performance"."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KEYS = {"metric": str, "budget": str, "spread": str, "n": int, "verdict": str}
# The quick subset CI runs: every in-process benchmark, the app's first paint in a pty.
CI_SUBSET = "startup,check,parse,logmodel,proctree,tail"


def run_module(args: list[str], tmp_path: Path, timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "XSCHED_BENCH_LOCK": str(tmp_path / "bench.lock"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def check_rows(rows: list[dict]) -> None:
    assert rows
    for r in rows:
        for k, t in KEYS.items():
            assert isinstance(r[k], t), (k, r)
        assert r["median"] is None or isinstance(r["median"], (int, float)), r
        assert r["verdict"] != "ERROR", r
        if r["verdict"] in ("PASS", "MISS"):  # a verdict needs a budget and a measurement
            assert r["budget"] != "—" and r["median"] is not None and r["n"] > 0, r
        if r["median"] is not None:
            assert math.isfinite(r["median"]) and r["n"] > 0, r


@pytest.mark.slow
def test_quick_suite_writes_the_table_and_json_rows(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    p = run_module(["benchmarks", "--quick", "--skip-compare", "--only", CI_SUBSET, "--json", str(out)],
                   tmp_path, timeout=240)
    assert p.returncode == 0, p.stderr[-3000:]
    doc = json.loads(out.read_text())
    check_rows(doc["rows"])
    assert doc["quick"] is True and doc["machine"]
    groups = {r["metric"] for r in doc["rows"]}
    assert "first paint (pty, default screen)" in groups
    assert "process scan, 100-process subtree, per refresh" in groups
    assert any(m.startswith("64 idle files") for m in groups)
    # the printed table: header, one line per row, then the machine and the load average
    assert "| metric" in p.stdout and "| verdict" in p.stdout
    assert "machine: " in p.stdout and "load before: load average" in p.stdout


@pytest.mark.slow
def test_soak_smoke_keeps_memory_series(tmp_path: Path) -> None:
    """A 20 s soak: the app in a pty fed by the writer and test processes at a 0.1 s interval. The
    RSS series has one sample a second and the report parses; no bound on the slope is asserted
    (20 s is too short for the line buffers' caps to mean anything)."""
    out = tmp_path / "soak.json"
    p = run_module(["benchmarks.bench_soak", "--minutes", "0.34", "--files", "4", "--rate", "5000",
                    "--warmup", "10", "--cycle", "5", "--json", str(out)], tmp_path, timeout=150)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "growth per refresh" in p.stdout and "peak (VmHWM)" in p.stdout
    r = json.loads(out.read_text())
    series = r["series"]
    assert 15 <= len(series) <= 21
    ts = [s["t"] for s in series]
    assert ts == sorted(ts) and all(s["rss_kib"] > 0 for s in series)
    assert r["n"] == sum(1 for t in ts if t >= 10)
    assert r["ci_lo"] <= r["slope_b_per_refresh"] <= r["ci_hi"]
    assert r["peak_rss_kib"] >= max(s["rss_kib"] for s in series)
    assert r["xserver_requests"] > 0  # the app polled the xserver double while it ran
    assert r["verdict"] in ("PASS", "MISS")


def test_rows_verdicts_and_missing_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    """The verdict logic, and a comparison tool that is not installed is a row, not a failure."""
    from benchmarks import compare, suite
    from benchmarks.stats import summarize

    s = summarize([0.2, 0.3, 0.4, 0.9])
    assert suite.stat_row("g", "m", s, "s", limit=("<=", 0.5)).verdict == "PASS"
    assert suite.stat_row("g", "m", s, "s", limit=("<=", 0.5), on="p95").verdict == "MISS"
    assert suite.stat_row("g", "m", s, "ms", 1e3, limit=(">=", 400.0)).verdict == "MISS"
    assert suite.stat_row("g", "m", s, "s").verdict == "n/a"
    assert suite.stat_row("g", "m", None, "s", limit=("<=", 1.0)).verdict == "n/a"
    monkeypatch.setattr(compare, "find_htop", lambda: None)
    monkeypatch.setattr(compare, "find_toolong", lambda: None)
    rows = suite.c_htop(True, lambda _s: None, {}) + suite.c_toolong(True, lambda _s: None, {})
    assert [r.verdict for r in rows] == [f"not installed ({compare.HOW['htop']})",
                                         f"not installed ({compare.HOW['toolong']})"]
    text = suite.table(rows)
    assert "not installed" in text
    r = suite.cmp_row("htop", "x", summarize([1.0, 1.0]), summarize([2.0, 2.0]), "%", 1)
    assert r.other["ratio"] == 0.5 and r.verdict == "0.50x"
