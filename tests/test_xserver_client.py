from __future__ import annotations

import socket

import pytest

from xsched_tui.core.xserver import XServerClient, XServerError

from xserver_double import XServerDouble, load_recorded


@pytest.fixture
def explicit_answers(samples):
    return load_recorded(samples / "explicit-stream" / "xserver-http-during-run.txt")


def test_recorded_xqueues_parse(explicit_answers):
    with XServerDouble(explicit_answers) as srv:
        c = XServerClient("127.0.0.1", srv.port, timeout=2)
        snap = c.xqueues()
        assert {p.pid for p in snap.processes} == {1268, 1291}
        assert len(snap.xqueues) == len(explicit_answers["/xqueues"]["xqueues"])
        q = snap.xqueues[0]
        assert q.pid == 1268 and q.threshold == 4 and q.batch_size == 2 and q.level == 1
        # the handle's top 16 bits are the pid's low 16 bits (FACTS §4.2)
        assert all(x.handle >> 48 == x.pid & 0xFFFF for x in snap.xqueues)
        assert q.device_text == "GPU(0x200000030)"
        assert c.policy() == 1
        one, proc = c.xqueue(q.handle)
        assert one.handle == q.handle and proc is not None and proc.pid == 1268


def test_default_stream_has_no_xqueues(samples):
    answers = load_recorded(samples / "default-stream" / "xserver-http-during-run.txt")
    with XServerDouble(answers) as srv:
        snap = XServerClient("127.0.0.1", srv.port).xqueues()
    assert snap.xqueues == () and len(snap.processes) == 2


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_dead_server_message():
    with pytest.raises(XServerError, match="not running"):
        XServerClient("127.0.0.1", _free_port(), timeout=1).policy()


@pytest.mark.parametrize(
    ("mode", "pattern"),
    [("500", "HTTP 500"), ("garbage", "not JSON"), ("wrongtypes", "garbage"),
     ("slow", "did not answer")],
)
def test_broken_servers(explicit_answers, mode, pattern):
    with XServerDouble(explicit_answers, mode=mode, delay=2.0) as srv:
        c = XServerClient("127.0.0.1", srv.port, timeout=0.5)
        with pytest.raises(XServerError, match=pattern):
            c.xqueues()
