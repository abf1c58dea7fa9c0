"""xserver actions (POST /hint, /policy, /config) and the client's total deadline, against a real
HTTP server on 127.0.0.1 that answers like xserver v1.2.0 (tests/xserver_double.py)."""

from __future__ import annotations

import socket

import pytest

from xsched_tui.core.xserver import (
    ActionRejected,
    XServerClient,
    XServerError,
    device_pci,
    device_text,
    handle_matches_pid,
    handle_pid_bits,
    policy_number,
)

from xserver_double import XServerDouble, load_recorded


@pytest.fixture
def answers(samples):
    return load_recorded(samples / "explicit-stream" / "xserver-http-during-run.txt")


@pytest.fixture
def srv(answers):
    with XServerDouble(answers) as s:
        yield s


@pytest.fixture
def client(srv):
    return XServerClient("127.0.0.1", srv.port, timeout=2)


def _first(answers) -> dict:
    return answers["/xqueues"]["xqueues"][0]


def test_set_priority_posts_json_like_xcli_hint(client, srv, answers):
    h = _first(answers)["handle"]
    assert client.set_priority(h, 7) == "success"
    post = srv.posts[-1]
    assert post["path"] == "/hint" and post["content_type"] == "application/json"
    assert post["body"] == {"hint_type": 1, "handle": h, "priority": 7}


def test_set_utilization_by_pid_and_by_handle(client, srv, answers):
    assert client.set_utilization(pid=1268, utilization=25) == "success"
    assert srv.posts[-1]["body"] == {"hint_type": 2, "utilization": 25, "pid": 1268}
    h = _first(answers)["handle"]
    assert client.set_utilization(handle=h, utilization=100) == "success"
    assert srv.posts[-1]["body"] == {"hint_type": 2, "utilization": 100, "handle": h}


def test_set_timeslice_and_policy(client, srv):
    assert client.set_timeslice(5000) == "success"
    assert srv.posts[-1]["body"] == {"hint_type": 3, "timeslice": 5000}
    assert client.set_policy("pup") == "success"
    assert srv.posts[-1]["path"] == "/policy" and srv.posts[-1]["query"] == {"policy": ["5"]}
    assert client.policy() == 5
    assert client.set_policy(10) == "success" and client.policy() == 10


def test_configure_success_then_no_change(client, srv, answers):
    q = _first(answers)
    h = q["handle"]
    assert (q["level"], q["threshold"], q["batch_size"]) == (1, 4, 2)
    assert client.configure(h, 1, 4, 2) == "no change"
    post = srv.posts[-1]
    assert post["path"] == f"/config/{h:#x}"
    assert post["query"] == {"level": ["1"], "threshold": ["4"], "batch_size": ["2"]}
    assert client.configure(h, 2, 16, 8) == "success"
    one, _ = client.xqueue(h)
    assert (one.level, one.threshold, one.batch_size) == (2, 16, 8)


def test_server_side_400_and_404_carry_the_servers_text(client, srv, answers):
    # what the server itself refuses (bypassing the client's own check to reach it)
    h = _first(answers)["handle"]
    status, body, _ = client.request("POST", f"/config/{h:#x}?level=4&threshold=4&batch_size=2")
    assert status == 400 and body == {"error": "invalid level"}
    with pytest.raises(XServerError) as ei:
        client.configure(0xDEAD0000BEEF, 1, 4, 2)
    e = ei.value
    assert e.kind == "http" and e.status == 404 and e.server_message == "XQueue not found"
    assert "XQueue not found" in str(e) and "404" in str(e)
    with pytest.raises(XServerError, match="invalid handle") as ei:
        client._post("/hint", {"hint_type": 1, "handle": 0, "priority": 1})
    assert ei.value.status == 400


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda c: c.configure(0x1, 1, 4, 4), "batch size must be less than threshold"),
        (lambda c: c.configure(0x1, 1, 2, 8), "batch size must be less than threshold"),
        (lambda c: c.configure(0x1, 4, 4, 2), "invalid level 4"),
        (lambda c: c.configure(0x1, 0, 4, 2), "invalid level 0"),
        (lambda c: c.configure(0x1, 1, 0, 2), "invalid command threshold"),
        (lambda c: c.configure(0x1, 1, 4, 0), "invalid command batch size"),
        (lambda c: c.configure(0x1, 1, 4.0, 2), "whole number"),
        (lambda c: c.configure(0, 1, 4, 2), "not a valid handle"),
        (lambda c: c.set_priority(0x1, 256), "out of range"),
        (lambda c: c.set_priority(0x1, True), "whole number"),
        (lambda c: c.set_utilization(utilization=50), "either an XQueue handle or a process id"),
        (lambda c: c.set_utilization(handle=1, pid=2, utilization=50), "either"),
        (lambda c: c.set_utilization(pid=5, utilization=101), "0 to 100"),
        (lambda c: c.set_timeslice(0), "greater than 0"),
        (lambda c: c.set_policy("GBL"), "unknown policy 'GBL'"),
        (lambda c: c.set_policy(12), "unknown policy number 12"),
    ],
)
def test_client_side_rejections_send_nothing(client, srv, call, pattern):
    before = len(srv.requests)
    with pytest.raises(ActionRejected, match=pattern):
        call(client)
    assert isinstance(ActionRejected("x"), ValueError)
    assert len(srv.requests) == before


def test_policy_names():
    assert policy_number("HPF") == 1 and policy_number(" mlfq ") == 11 and policy_number("5") == 5


def test_device_and_handle_helpers():
    assert device_text(8589934640) == "GPU(0x200000030)"
    assert device_pci(8589934640) == "0000:00:06.0"
    # dom 1, bus 0x81, dev 0x1f, fn 7
    assert device_pci((2 << 32) | (1 << 16) | (0x81 << 8) | (0x1F << 3) | 7) == "0001:81:1f.7"
    assert handle_pid_bits(0x4C48011D5B0FDE70) == 19528  # FACTS §4.2's README sample
    assert handle_matches_pid(0x4F4000031981B00, 1268)
    assert not handle_matches_pid(0x4F4000031981B00, 1269)
    assert handle_matches_pid(0x4F4000031981B00, 1268 + 0x10000)  # only the low 16 bits


def test_drip_feeding_server_hits_the_total_deadline(answers):
    # One byte every 50 ms: no single read waits longer than the per-operation timeout, the whole
    # answer would take about an hour; only the total deadline ends it.
    with XServerDouble(answers, mode="drip", delay=0.05) as s:
        c = XServerClient("127.0.0.1", s.port, timeout=0.3)
        assert c.deadline == pytest.approx(0.6)
        with pytest.raises(XServerError, match="did not answer") as ei:
            c.xqueues()
        assert ei.value.kind == "timeout"


def test_drip_within_the_deadline_still_works(answers):
    with XServerDouble({"/policy": {"policy": 1}}, mode="drip", delay=0.0) as s:
        assert XServerClient("127.0.0.1", s.port, timeout=2).policy() == 1


def test_server_that_closes_without_answering():
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    port = lsock.getsockname()[1]
    import threading

    def accept_and_close() -> None:
        conn, _ = lsock.accept()
        conn.recv(1024)
        conn.close()

    t = threading.Thread(target=accept_and_close, daemon=True)
    t.start()
    try:
        with pytest.raises(XServerError, match="closed the connection without answering") as ei:
            XServerClient("127.0.0.1", port, timeout=2).policy()
        assert ei.value.kind == "down"
    finally:
        t.join(5)
        lsock.close()
