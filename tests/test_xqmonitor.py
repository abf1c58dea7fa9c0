"""xqmonitor.py against a real HTTP server on 127.0.0.1 (tests/xserver_double.py).

Time inside the monitor comes from a fake clock; no wall-clock assertions.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import jsonschema
import pytest

from xsched_tui.core.logfacts import LogFacts
from xsched_tui.core.logparse import parse_lines
from xsched_tui.core.logsources import LogEntry, SourceInfo
from xsched_tui.core.xqmonitor import FROM_ENV, FROM_LOG, XQueueMonitor, verdict, view_to_json
from xsched_tui.core.xserver import XServerClient

from xserver_double import XServerDouble, load_recorded

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "docs" / "xqueues.schema.json").read_text())


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def explicit(samples):
    return load_recorded(samples / "explicit-stream" / "xserver-http-during-run.txt")


@pytest.fixture
def default_stream(samples):
    return load_recorded(samples / "default-stream" / "xserver-http-during-run.txt")


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def monitor(port: int, clock: Clock | None = None, **kw) -> XQueueMonitor:
    return XQueueMonitor(XServerClient("127.0.0.1", port, timeout=kw.pop("timeout", 2.0)),
                         clock=clock or Clock(), **kw)


def test_never_polled_view():
    m = monitor(_free_port())
    v = m.view()
    assert v.status == "never" and v.polls == 0 and v.queues == () and v.last_good_at is None
    assert verdict(v)[0] == 2
    jsonschema.validate(view_to_json(v), SCHEMA)


def test_recorded_explicit_stream(explicit):
    with XServerDouble(explicit) as srv:
        m = monitor(srv.port, slow_s=60)
        v = m.poll()
    assert v.status == "ok" and v.message is None and v.polls == 1 and v.failures == 0
    assert v.policy == 1 and v.policy_name == "HPF"
    assert len(v.queues) == 256 and v.live_queues == 256
    keys = [(r.info.pid, r.info.handle) for r in v.queues]
    assert keys == sorted(keys)
    assert {p.pid: p.queues for p in v.processes} == {1268: 128, 1291: 128}
    assert v.zero_queue_pids == ()
    assert all(r.handle_pid_ok for r in v.queues)
    assert v.queues[0].info.device_text == "GPU(0x200000030)"
    assert v.queues[0].info.device_pci == "0000:00:06.0"
    ready = sum(r.info.ready for r in v.queues)
    assert sum(p.ready_now for p in v.processes) == ready and ready > 0
    assert verdict(v) == (0, "256 XQueues in 2 processes")
    doc = view_to_json(v, history=True)
    jsonschema.validate(doc, SCHEMA)
    assert doc["queues"][0]["history"][0][1] is doc["queues"][0]["ready"]


def test_default_stream_zero_queue_pids(default_stream):
    with XServerDouble(default_stream) as srv:
        v = monitor(srv.port).poll()
    assert v.status in ("ok", "slow") and v.queues == ()
    assert v.zero_queue_pids == (866, 884)
    assert [(p.pid, p.queues) for p in v.processes] == [(866, 0), (884, 0)]
    assert v.processes[0].cmdline.startswith("python3 acceptance/device/wl.py bg")
    code, text = verdict(v)
    assert code == 1 and "nothing is scheduled" in text
    jsonschema.validate(view_to_json(v), SCHEMA)


def test_slow_answer_is_marked_slow(explicit):
    with XServerDouble(explicit) as srv:
        v = monitor(srv.port, slow_s=0.0).poll()  # every answer takes longer than 0 s
    assert v.status == "slow" and "slower than" in v.message
    assert verdict(v)[0] == 0 and len(v.queues) == 256


@pytest.mark.parametrize(
    ("mode", "status", "pattern"),
    [("500", "error", "HTTP 500"), ("garbage", "garbage", "not JSON"),
     ("wrongtypes", "garbage", "not an integer"), ("slow", "timeout", "did not answer")],
)
def test_broken_servers_never_raise(explicit, mode, status, pattern):
    with XServerDouble(explicit, mode=mode, delay=2.0) as srv:
        m = monitor(srv.port, timeout=0.3)
        v = m.poll()
    assert v.status == status and pattern in v.message
    assert v.failures == 1 and v.polls == 1 and v.last_good_at is None
    assert verdict(v)[0] == 2
    jsonschema.validate(view_to_json(v), SCHEMA)


def test_connection_refused_is_down():
    v = monitor(_free_port()).poll()
    assert v.status == "down" and "not running" in v.message


def test_server_dies_and_comes_back(explicit):
    clock = Clock(100.0)
    srv = XServerDouble(explicit).__enter__()
    port = srv.port
    m = monitor(port, clock, slow_s=60)
    try:
        v = m.poll()
        assert v.status == "ok" and v.since == 100.0 and v.last_good_at == 100.0
        srv.stop()
        clock.t = 105.0
        v = m.poll()
        assert v.status == "down" and v.since == 105.0 and "not running" in v.message
        assert v.last_good_at == 100.0 and len(v.queues) == 256 and v.stale  # last good data kept
        assert not any(r.gone for r in v.queues)
        clock.t = 110.0
        v = m.poll()
        assert v.status == "down" and v.since == 105.0 and v.failures == 2  # still down since 105
        srv = XServerDouble(explicit, port=port).__enter__()
        clock.t = 120.0
        v = m.poll()
        assert v.status == "ok" and v.since == 120.0 and v.last_good_at == 120.0 and not v.stale
        assert v.polls == 4 and v.failures == 2 and v.message is None
    finally:
        srv.stop()


def test_history_flips_gone_and_ring_bound(explicit):
    clock = Clock(0.0)
    with XServerDouble(explicit) as srv:
        m = monitor(srv.port, clock, history=5, keep_gone_s=30, slow_s=60)
        qs = srv.answers["/xqueues"]["xqueues"]
        h0 = qs[0]["handle"]
        qs[0]["ready"] = False
        for i in range(8):
            clock.t = float(i)
            qs[0]["ready"] = i % 2 == 1  # flips every poll after the first
            qs[0]["suspended"] = i >= 6
            v = m.poll()
        row = next(r for r in v.queues if r.info.handle == h0)
        assert len(row.history) == 5 and row.history[-1] == (7.0, True, True)
        assert row.ready_flips == 7 and row.ever_ready and row.suspended_polls == 2
        assert row.first_seen == 0.0 and row.last_seen == 7.0
        # a queue leaves the answer: kept as gone, then forgotten after keep_gone_s
        gone = qs.pop()
        clock.t = 10.0
        v = m.poll()
        grow = next(r for r in v.queues if r.info.handle == gone["handle"])
        assert grow.gone and grow.last_seen == 7.0 and v.live_queues == 255
        assert {p.pid: p.queues for p in v.processes}[gone["pid"]] == 127
        clock.t = 41.0
        v = m.poll()
        assert all(r.info.handle != gone["handle"] for r in v.queues) and len(v.queues) == 255


def test_policy_polled_every_few_polls(explicit):
    with XServerDouble(explicit) as srv:
        m = monitor(srv.port)
        for _ in range(6):
            m.poll()
        gets = [p for meth, p in srv.requests if p == "/policy"]
        assert len(gets) == 2  # the 1st and the 6th poll


def test_priorities_from_xserver_log_and_env(explicit, samples):
    facts = LogFacts()
    recs = parse_lines((samples / "explicit-stream" / "xserver.stderr.log").read_text().splitlines())
    src = SourceInfo("x", "xserver", "file", None, 1257, "content", "xserver")
    facts.ingest([LogEntry("x", i, r) for i, r in enumerate(recs, 1)], {"x": src})
    with XServerDouble(explicit) as srv:
        m = monitor(srv.port)
        m.set_env_priority(1268, 9)  # the log's priority wins over the env value
        v = m.poll()
        assert {r.priority_from for r in v.queues} == {FROM_ENV, None}
        m.ingest_log(facts)
        v = m.view()
    prio = {r.info.pid: {r.priority} for r in v.queues}
    assert prio == {1268: {0}, 1291: {1}}
    assert {r.priority_from for r in v.queues} == {FROM_LOG}
    jsonschema.validate(view_to_json(v), SCHEMA)


def test_monitor_survives_a_bug_in_the_client():
    class Broken(XServerClient):
        def xqueues(self):
            raise RuntimeError("boom")

    m = XQueueMonitor(Broken("127.0.0.1", 1), clock=Clock())
    v = m.poll()
    assert v.status == "error" and "RuntimeError: boom" in v.message
