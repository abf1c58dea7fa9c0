"""`xsched-tui xqueues`, run as a user runs it (a subprocess) against a real HTTP double."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from xserver_double import XServerDouble, load_recorded

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "docs" / "xqueues.schema.json").read_text())


def xt(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("XSCHED_", "XSCHED_TUI_")) and k not in ("LD_PRELOAD", "XLOG_LEVEL")}
    e["COLUMNS"] = "200"
    return subprocess.run([sys.executable, "-m", "xsched_tui", *args], cwd=cwd, env=e,
                          capture_output=True, text=True, timeout=timeout)


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def explicit(samples):
    return load_recorded(samples / "explicit-stream" / "xserver-http-during-run.txt")


@pytest.fixture
def default_stream(samples):
    return load_recorded(samples / "default-stream" / "xserver-http-during-run.txt")


def test_table_of_recorded_queues_exit_0(explicit, tmp_path):
    with XServerDouble(explicit) as srv:
        r = xt("xqueues", "--xserver", f"127.0.0.1:{srv.port}", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "xserver policy HPF (1)" in out
    header = next(ln for ln in out.splitlines() if ln.startswith("PID "))
    for col in ("DEV", "XQUEUE", "STAT", "SCHED", "LV", "THR", "BATCH", "PRIO", "CMD"):
        assert col in header
    rows = [ln for ln in out.splitlines() if "GPU(0x200000030)" in ln]
    assert len(rows) == 256
    assert rows[0].split()[:2] == ["1268", "GPU(0x200000030)"]
    assert any(" RDY " in ln for ln in rows) and any(" BLK " in ln for ln in rows)
    assert "verdict: 256 XQueues in 2 processes" in out
    assert "Traceback" not in r.stderr


def test_clients_without_queues_exit_1(default_stream, tmp_path):
    with XServerDouble(default_stream) as srv:
        r = xt("xqueues", "--xserver", f"127.0.0.1:{srv.port}", cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout.count("<- no XQueue: nothing of it is scheduled") == 2
    assert "nothing is scheduled" in r.stdout.splitlines()[-1]


def test_down_server_exit_2_without_traceback(tmp_path):
    r = xt("xqueues", "--xserver", f"127.0.0.1:{_free_port()}", cwd=tmp_path)
    assert r.returncode == 2
    assert "xserver down" in r.stdout and "connection refused" in r.stdout
    assert "Traceback" not in r.stdout + r.stderr


def test_garbage_server_exit_2_json(explicit, tmp_path):
    with XServerDouble(explicit, mode="garbage") as srv:
        r = xt("xqueues", "--json", "--xserver", f"127.0.0.1:{srv.port}", cwd=tmp_path)
    assert r.returncode == 2
    doc = json.loads(r.stdout)
    jsonschema.validate(doc, SCHEMA)
    assert doc["status"] == "garbage" and doc["exit_code"] == 2
    assert "not JSON" in r.stderr and "Traceback" not in r.stderr


def test_json_matches_schema(explicit, tmp_path):
    with XServerDouble(explicit) as srv:
        r = xt("xqueues", "--json", "--xserver", f"127.0.0.1:{srv.port}", cwd=tmp_path)
    assert r.returncode == 0
    doc = json.loads(r.stdout)
    jsonschema.validate(doc, SCHEMA)
    assert len(doc["queues"]) == 256 and doc["policy_name"] == "HPF"
    assert doc["queues"][0]["device_pci"] == "0000:00:06.0"


def test_json_default_stream_flags_zero_queue_processes(default_stream, tmp_path):
    with XServerDouble(default_stream) as srv:
        r = xt("xqueues", "--json", "--xserver", f"127.0.0.1:{srv.port}", cwd=tmp_path)
    doc = json.loads(r.stdout)
    jsonschema.validate(doc, SCHEMA)
    assert r.returncode == doc["exit_code"] == 1
    assert doc["zero_queue_pids"] == [866, 884]
    assert all(p["zero_queues"] for p in doc["processes"])


def test_watch_count_prints_one_object_per_poll(explicit, tmp_path):
    with XServerDouble(explicit) as srv:
        r = xt("xqueues", "--json", "--watch", "0.1", "--count", "3",
               "--xserver", f"127.0.0.1:{srv.port}", cwd=tmp_path)
        polls = [p for _, p in srv.requests if p == "/xqueues"]
    assert r.returncode == 0, r.stderr
    docs = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert [d["polls"] for d in docs] == [1, 2, 3] and len(polls) == 3
    for d in docs:
        jsonschema.validate(d, SCHEMA)


def test_watch_text_marks_each_poll(default_stream, tmp_path):
    with XServerDouble(default_stream) as srv:
        r = xt("xqueues", "--watch", "0.1", "--count", "2",
               "--xserver", f"127.0.0.1:{srv.port}", cwd=tmp_path)
    assert r.returncode == 1
    assert "poll 1 " in r.stdout and "poll 2 " in r.stdout


@pytest.mark.parametrize(("args", "msg"), [(["--watch", "0"], "--watch must be at least"),
                                            (["--count", "0"], "--count must be 1 or more"),
                                            (["--watch", "x"], "invalid float value"),
                                            # regression: time.sleep(inf) raised OverflowError
                                            (["--watch", "inf"], "--watch must be at most"),
                                            (["--watch", "1e300"], "--watch must be at most")])
def test_usage_errors_exit_64(tmp_path, args, msg):
    r = xt("xqueues", *args, cwd=tmp_path)
    assert r.returncode == 64 and msg in r.stderr and "Traceback" not in r.stderr


def test_priority_from_the_clients_environ_when_xserver_is_local(explicit, tmp_path):
    """Regression: headless xqueues never learned any priority (the PRIO column and the
    "PRIO*" footnote were unreachable): it now reads XSCHED_AUTO_XQUEUE_PRIORITY of clients
    running here, and only when the process here has xserver's command line for that pid."""
    import copy
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("XSCHED_")}
    mine = subprocess.Popen(["sleep", "30"], env={**env, "XSCHED_AUTO_XQUEUE_PRIORITY": "5"})
    other = subprocess.Popen(["sleep", "31"], env={**env, "XSCHED_AUTO_XQUEUE_PRIORITY": "9"})
    try:
        deadline = time.monotonic() + 10
        for p in (mine, other):  # until exec has replaced the forked python
            while Path(f"/proc/{p.pid}/cmdline").read_bytes().split(b"\0")[0] != b"sleep":
                assert time.monotonic() < deadline
                time.sleep(0.01)
        answers = copy.deepcopy(explicit)
        body = answers["/xqueues"]
        qs = []
        for pid, q in ((mine.pid, body["xqueues"][0]), (other.pid, body["xqueues"][1])):
            q = dict(q, pid=pid, handle=(q["handle"] & ((1 << 48) - 1)) | ((pid & 0xFFFF) << 48))
            qs.append(q)
        body["xqueues"] = qs
        # xserver's cmdline has a trailing space; the second one is not what runs under that pid
        body["processes"] = [{"pid": mine.pid, "cmdline": "sleep 30 "},
                             {"pid": other.pid, "cmdline": "python3 wl.py bg "}]
        with XServerDouble(answers) as srv:
            r = xt("xqueues", "--json", "--xserver", f"127.0.0.1:{srv.port}", cwd=tmp_path)
            t = xt("xqueues", "--xserver", f"127.0.0.1:{srv.port}", cwd=tmp_path)
    finally:
        for p in (mine, other):
            p.kill()
            p.wait(timeout=10)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    jsonschema.validate(doc, SCHEMA)
    by_pid = {q["pid"]: q for q in doc["queues"]}
    assert by_pid[mine.pid]["priority"] == 5
    assert "XSCHED_AUTO_XQUEUE_PRIORITY" in by_pid[mine.pid]["priority_from"]
    assert by_pid[other.pid]["priority"] is None  # pid here runs another command
    assert "PRIO*" in t.stdout and " 5* " in t.stdout
