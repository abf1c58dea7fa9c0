"""The headless CLI, run as a user runs it: a real subprocess of the installed entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "docs" / "check-report.schema.json").read_text())


def xt(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120):
    e = {k: v for k, v in os.environ.items()
         if not k.startswith("XSCHED_") and k not in ("LD_PRELOAD", "XLOG_LEVEL")}
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "xsched_tui", *args], cwd=cwd, env=e,
                          capture_output=True, text=True, timeout=timeout)


def test_check_on_this_machine_is_readable_and_exits_2(tmp_path):
    r = xt("check", "--no-live", cwd=tmp_path, env={"HOME": str(tmp_path)})
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert "FAIL  Build and install" in r.stdout
    assert "no XSched install found" in r.stdout
    assert "fix: git clone https://github.com/XpuOS/xsched" in r.stdout
    assert "(exit code 2)" in r.stdout.splitlines()[-1]


def test_json_report_matches_schema_and_exit_code(tmp_path):
    r = xt("check", "--no-live", "--json", cwd=tmp_path, env={"HOME": str(tmp_path)})
    doc = json.loads(r.stdout)
    jsonschema.validate(doc, SCHEMA)
    assert doc["summary"]["exit_code"] == r.returncode == 2
    ids = [c["id"] for c in doc["checks"]]
    assert ids[:2] == ["source", "install"] and "probe" in ids
    probe = next(c for c in doc["checks"] if c["id"] == "probe")
    assert probe["status"] == "SKIP"


def test_markdown_and_output_file(tmp_path):
    out = tmp_path / "report.md"
    r = xt("check", "--no-live", "--only", "env", "scheduler", "--output", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    md = out.read_text()
    assert md.startswith("# XSched environment check")
    assert "| 1 | Environment (`env`) | PASS |" in md
    assert "export XSCHED_POLICY=HPF" in md
    j = tmp_path / "r.json"
    xt("check", "--no-live", "--only", "scheduler", "-o", str(j), cwd=tmp_path)
    jsonschema.validate(json.loads(j.read_text()), SCHEMA)


def test_only_with_app_scheduler_fails_and_warn_gives_1(tmp_path):
    r = xt("check", "--only", "scheduler", "--env", "XSCHED_POLICY=", cwd=tmp_path)
    assert r.returncode == 2 and "XSched will load but schedule nothing" in r.stdout
    r = xt("check", "--only", "env", "--env", "XSCHED_LOG_LEVEL=DEBG", cwd=tmp_path)
    assert r.returncode == 1 and "did you mean XLOG_LEVEL" in r.stdout


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        (["check", "--only", "nope"], "unknown check id 'nope'"),
        (["--platform", "rocm", "config"], "unknown platform"),
        (["check", "--env", "NOEQUALS"], "expected NAME=VALUE"),
        (["--config", "/nonexistent.toml", "config"], "does not exist"),
        (["check", "--bogus"], "unrecognized arguments"),
    ],
)
def test_usage_errors_exit_64_without_traceback(tmp_path, args, msg):
    r = xt(*args, cwd=tmp_path)
    assert r.returncode == 64, r.stdout + r.stderr
    assert msg in r.stderr and "Traceback" not in r.stderr


def test_config_prints_origins(tmp_path):
    (tmp_path / "xsched-tui.toml").write_text('[xsched]\ninstall = "/opt/x/output"\n')
    r = xt("--xserver", "10.0.0.1:50001", "config", cwd=tmp_path,
           env={"XSCHED_TUI_PYTHON": "/usr/bin/python3"})
    assert r.returncode == 0
    lines = {ln.split()[0]: ln for ln in r.stdout.splitlines()[1:] if ln.strip()}
    assert lines["xsched.install"].endswith(f"file:{tmp_path / 'xsched-tui.toml'}")
    assert lines["workloads.python"].endswith("env:XSCHED_TUI_PYTHON")
    assert "10.0.0.1" in lines["xserver.host"] and lines["xserver.port"].endswith("flag:--port")
    j = json.loads(xt("config", "--json", cwd=tmp_path).stdout)
    assert j["values"]["xsched.install"]["value"] == "/opt/x/output"


def test_list_checks(tmp_path):
    r = xt("check", "--list", cwd=tmp_path)
    assert r.returncode == 0
    ids = [ln.split()[0] for ln in r.stdout.splitlines()]
    assert ids == ["source", "install", "env", "scheduler", "driver", "symbols", "gpu", "xserver",
                   "probe"]


def _samples() -> Path:
    from xsched_tui.data import samples_dir

    return samples_dir()


def test_logs_headless_text_and_level(tmp_path):
    r = xt("logs", str(_samples() / "misconfigured"), "--level", "ERRO", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1 and "cannot be preloaded" in lines[0]


def test_logs_ndjson_validates_and_is_merged_by_time(tmp_path):
    schema = json.loads((ROOT / "docs" / "log-record.schema.json").read_text())
    r = xt("logs", str(_samples() / "explicit-stream"), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    recs = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert len(recs) > 600
    for rec in recs[:50] + recs[-50:]:
        jsonschema.validate(rec, schema)
    times = [x["time"] for x in recs if x["time"]]
    assert times == sorted(times)
    assert {x["source"] for x in recs} >= {"xserver", "local-hpf"}


def test_logs_bad_paths_are_messages(tmp_path):
    (tmp_path / "bin.log").write_bytes(bytes(range(256)) * 64)
    r = xt("logs", str(tmp_path / "missing.log"), cwd=tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr and "missing.log" in r.stderr
    r = xt("logs", str(tmp_path / "bin.log"), "--level", "bogus", cwd=tmp_path)
    assert r.returncode == 64 and "unknown level" in r.stderr


def test_logs_follow_sees_appended_lines(tmp_path):
    log = tmp_path / "app-4242.stderr.log"
    log.write_text("")
    e = {k: v for k, v in os.environ.items() if not k.startswith("XSCHED_")}
    p = subprocess.Popen([sys.executable, "-m", "xsched_tui", "logs", str(log), "--follow",
                          "--json"], cwd=tmp_path, env=e, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        import time

        time.sleep(1.5)  # let it start watching (not an assertion on time)
        with log.open("a") as f:
            f.write("[XSCHED INFO @ T 4242 @ 10:00:00.000001] using app-managed scheduler\n")
        line = p.stdout.readline()
        rec = json.loads(line)
        assert rec["pid"] == 4242 and rec["event"]["scheduler"] == "app"
    finally:
        p.terminate()
        p.wait(timeout=10)


def test_replay_usage_errors(tmp_path):
    r = xt("replay", str(tmp_path / "nope"), cwd=tmp_path)
    assert r.returncode == 64 and "does not exist" in r.stderr
    r = xt("replay", "--speed", "0", cwd=tmp_path)
    assert r.returncode == 64 and "--speed must be > 0" in r.stderr
