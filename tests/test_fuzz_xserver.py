"""Fuzzing the xserver client, the XQueues monitor and the recorded-answer reader.

Random JSON values go into the parsers; random bytes, garbage, truncated, slow and closed answers
come from REAL sockets on 127.0.0.1 (a raw TCP server answering each request with the bytes a test
chose, and tests/xserver_double.py's misbehaving modes). The client answers or raises XServerError
with a sentence; the monitor never reports an internal error; nothing else escapes.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xsched_tui.core.xqmonitor import XQueueMonitor, verdict, view_to_json
from xsched_tui.core.xqrecorded import RecordedXServer, load_recorded, recorded_answers
from xsched_tui.core.xserver import (
    XQueuesSnapshot,
    XServerClient,
    XServerError,
    parse_xqueue,
    parse_xqueues,
)

from xserver_double import XServerDouble
from xserver_double import load_recorded as double_load_recorded

FUZZ = settings(max_examples=100, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
NET = settings(max_examples=50, deadline=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
PYTHONISH = ("Traceback", "TypeError", "KeyError", "AttributeError", "IndexError",
             "RecursionError", "UnicodeDecodeError", "OverflowError", "internal error")
FIELDS = ("handle", "device", "level", "pid", "threshold", "batch_size", "ready", "suspended")

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=-(2**70), max_value=2**70),
              st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=6)),
                                            inner, max_size=5)),
    max_leaves=20,
)
# Near-valid xqueues: every real field present, each with a value that may be of the wrong type.
field_values = st.one_of(st.integers(min_value=-(2**65), max_value=2**65), st.booleans(), json_values)
xqueue_objs = st.fixed_dictionaries({f: field_values for f in FIELDS},
                                    optional={"extra": json_values})
bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({"xqueues": st.lists(st.one_of(xqueue_objs, json_values), max_size=4)},
                          optional={"processes": st.one_of(
                              st.lists(st.one_of(st.fixed_dictionaries(
                                  {"pid": field_values}, optional={"cmdline": json_values}),
                                  json_values), max_size=3),
                              json_values)}),
)


def _clear(exc: XServerError) -> str:
    msg = str(exc)
    assert msg and "\n" not in msg, repr(msg)
    assert not any(w in msg for w in PYTHONISH), msg
    assert exc.kind in ("down", "timeout", "http", "garbage"), exc.kind
    return msg


# -- the parsers ------------------------------------------------------------------------------

@FUZZ
@given(bodies)
def test_parse_xqueues_never_raises_anything_else(body: Any) -> None:
    try:
        snap = parse_xqueues(body, 1.0, 0.01)
    except XServerError as exc:
        assert _clear(exc).startswith("xserver answered garbage"), exc
        return
    assert isinstance(snap, XQueuesSnapshot)
    for q in snap.xqueues:  # what the panes and the CLI render of a queue
        assert q.handle_hex and q.device_text and q.device_pci
        assert isinstance(q.handle_pid_ok, bool)
    for p in snap.processes:
        assert isinstance(p.cmdline, str)
        snap.for_pid(p.pid)


@FUZZ
@given(st.one_of(xqueue_objs, json_values))
def test_parse_xqueue(obj: Any) -> None:
    try:
        parse_xqueue(obj)
    except XServerError as exc:
        _clear(exc)


# -- a real socket answering chosen bytes -------------------------------------------------------

class RawServer:
    """TCP on 127.0.0.1: reads one request per connection, sends ``answer`` (at ``drip`` seconds
    per byte when set), then closes unless ``hang``."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.answer = b""
        self.drip = 0.0
        self.hang = False
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        answer, drip, hang = self.answer, self.drip, self.hang
        try:
            conn.settimeout(2.0)
            got = b""
            while b"\r\n\r\n" not in got:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                got += chunk
            if drip:
                for i in range(len(answer)):
                    conn.sendall(answer[i:i + 1])
                    if self.stop.wait(drip):
                        break
            else:
                conn.sendall(answer)
            if hang:
                self.stop.wait(3.0)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        self.thread.join(timeout=2)


@pytest.fixture(scope="module")
def raw() -> Iterator[RawServer]:
    srv = RawServer()
    yield srv
    srv.close()


def _http(body: bytes, status: str = "200 OK", ctype: str = "application/json",
          length: int | None = None) -> bytes:
    n = len(body) if length is None else length
    return (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {n}\r\n\r\n").encode() + body


def _ask(srv: RawServer, answer: bytes, what: str = "xqueues", timeout: float = 1.0) -> Any:
    srv.answer, srv.drip, srv.hang = answer, 0.0, False
    c = XServerClient("127.0.0.1", srv.port, timeout=timeout)
    try:
        if what == "xqueues":
            return c.xqueues()
        if what == "policy":
            return c.policy()
        if what == "xqueue":
            return c.xqueue(0x4F0000000001)
        return c.set_priority(0x4F0000000001, 3)
    except XServerError as exc:
        _clear(exc)
        return exc


@NET
@given(st.binary(max_size=400), st.sampled_from(["xqueues", "policy", "xqueue", "hint"]))
def test_random_bytes_as_the_body(raw: RawServer, body: bytes, what: str) -> None:
    _ask(raw, _http(body), what)


@NET
@given(st.binary(max_size=300))
def test_random_bytes_as_the_whole_answer(raw: RawServer, answer: bytes) -> None:
    r = _ask(raw, answer)
    assert isinstance(r, (XServerError, XQueuesSnapshot))


@NET
@given(bodies, st.sampled_from(["xqueues", "policy", "xqueue", "hint"]))
def test_random_json_over_http(raw: RawServer, body: Any, what: str) -> None:
    _ask(raw, _http(json.dumps(body).encode()), what)


NESTED = b"[" * 100_000 + b"]" * 100_000
GARBAGE_ANSWERS = {
    "deeply-nested-json": _http(NESTED),
    "deeply-nested-object": _http(b'{"xqueues": ' + NESTED + b"}"),
    "huge-number": _http(b'{"policy": 1' + b"0" * 5000 + b"}"),
    "nan-policy": _http(b'{"policy": NaN}'),
    "html": _http(b"<html>502 Bad Gateway</html>", "502 Bad Gateway", "text/html"),
    "json-as-text-plain": _http(b'{"policy": 1}', ctype="text/plain"),
    "invalid-utf8": _http(b'{"policy": "\xff\xfe"}'),
    "utf16-bom": _http('{"policy": 1}'.encode("utf-16")),
    "truncated-body": _http(b'{"xqueues": [{"handle": 1', length=500),
    "negative-length": _http(b'{"policy": 1}', length=-5),
    "bad-length": b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n{}",
    "bad-chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n0\r\n\r\n",
    "no-status-line": b"\r\n\r\n",
    "http-0.9": b'{"policy": 1}',
    "status-999": _http(b"{}", "999 What"),
    "status-text": b"HTTP/1.1 abc OK\r\n\r\n",
    "huge-header": b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000 + b"\r\n\r\n{}",
    "many-headers": b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 200 + b"\r\n{}",
    "empty-200": _http(b""),
    "null-body": _http(b"null"),
    "error-object-500": _http(b'{"error": 5}', "500 Internal"),
    "list-of-everything": _http(b'[1, "a", null, {"xqueues": []}]'),
}


@pytest.mark.parametrize("name", sorted(GARBAGE_ANSWERS))
@pytest.mark.parametrize("what", ["xqueues", "policy", "xqueue", "hint"])
def test_garbage_answers(raw: RawServer, name: str, what: str) -> None:
    r = _ask(raw, GARBAGE_ANSWERS[name], what)
    if name in ("deeply-nested-json", "deeply-nested-object", "truncated-body", "html",
                "invalid-utf8", "no-status-line", "huge-header", "bad-chunked"):
        assert isinstance(r, XServerError), r


def test_closed_without_answer(raw: RawServer) -> None:
    r = _ask(raw, b"")
    assert isinstance(r, XServerError) and r.kind == "down" and "closed the connection" in str(r)


def test_half_an_answer_then_silence(raw: RawServer) -> None:
    raw.answer, raw.drip, raw.hang = _http(b'{"policy": 1}', length=100), 0.0, True
    try:
        with pytest.raises(XServerError) as err:
            XServerClient("127.0.0.1", raw.port, timeout=0.3).policy()
    finally:
        raw.hang = False
    assert err.value.kind == "timeout" and "did not answer" in _clear(err.value)


def test_drip_feed_hits_the_total_deadline(raw: RawServer) -> None:
    raw.answer, raw.drip, raw.hang = _http(b'{"policy": 1}'), 0.05, False
    try:
        with pytest.raises(XServerError) as err:
            XServerClient("127.0.0.1", raw.port, timeout=0.2, deadline=0.4).policy()
    finally:
        raw.drip = 0.0
    assert err.value.kind == "timeout"
    _clear(err.value)


# -- the monitor against every misbehaving mode of the xserver double -------------------------------

@pytest.fixture(scope="module")
def answers() -> dict[str, Any]:
    from conftest import bundled_samples

    p = bundled_samples() / "explicit-stream" / "xserver-http-during-run.txt"
    if not p.is_file():
        pytest.skip("recorded xserver answers not found")
    return double_load_recorded(p)


@pytest.mark.parametrize("mode", ["garbage", "wrongtypes", "500", "drip", "slow"])
def test_monitor_with_a_misbehaving_xserver(answers: dict[str, Any], mode: str) -> None:
    with XServerDouble(answers, mode=mode, delay=0.3) as srv:
        m = XQueueMonitor(XServerClient("127.0.0.1", srv.port, timeout=0.2, deadline=0.5))
        v = m.poll()
    assert v.status in ("garbage", "error", "timeout"), v
    assert v.message and not any(w in v.message for w in PYTHONISH), v.message
    code, text = verdict(v)
    assert code == 2 and text
    json.dumps(view_to_json(v))


@NET
@given(bodies)
def test_monitor_polls_random_json(raw: RawServer, body: Any) -> None:
    raw.answer, raw.drip, raw.hang = _http(json.dumps(body).encode()), 0.0, False
    m = XQueueMonitor(XServerClient("127.0.0.1", raw.port, timeout=1.0), slow_s=60)
    v = m.poll()
    assert v.status in ("ok", "garbage", "error"), v
    assert not (v.message and any(w in v.message for w in PYTHONISH)), v.message
    json.dumps(view_to_json(v, history=True))
    verdict(v)


@NET
@given(st.binary(max_size=200))
def test_monitor_polls_random_bytes(raw: RawServer, body: bytes) -> None:
    raw.answer, raw.drip, raw.hang = _http(body), 0.0, False
    v = XQueueMonitor(XServerClient("127.0.0.1", raw.port, timeout=1.0), slow_s=60).poll()
    assert not (v.message and any(w in v.message for w in PYTHONISH)), v.message


# -- recorded answers (the replay's stand-in for xserver) -------------------------------------------

@FUZZ
@given(st.lists(st.tuples(st.sampled_from(["/xqueues", "/policy", "/xqueue/1", "/x"]),
                          st.one_of(bodies.map(json.dumps), st.text(max_size=40),
                                    st.just("[" * 5000))),
                max_size=4))
def test_recorded_answers_files(tmp_path_factory, blocks: list[tuple[str, str]]) -> None:
    d: Path = tmp_path_factory.mktemp("rec")
    (d / "scen").mkdir()
    text = "".join(f"{route} {{{body}\n" if not body.startswith("{") else f"{route} {body}\n"
                   for route, body in blocks)
    f = d / "scen" / "xserver-http-during-run.txt"
    f.write_text(text)
    try:
        load_recorded(f)
    except ValueError as exc:
        assert str(f) in str(exc) and "\n" not in str(exc)
    got = recorded_answers(d)
    rec = RecordedXServer(got, lambda: "scen")
    for call in (rec.xqueues, rec.policy):
        try:
            call()
        except XServerError as exc:
            _clear(exc)


def test_found_by_fuzzing_deep_json(raw: RawServer, tmp_path: Path) -> None:
    """A deeply nested answer used to escape as RecursionError from json.loads."""
    r = _ask(raw, _http(NESTED))
    assert isinstance(r, XServerError) and r.kind == "garbage", r
    assert "nested too deeply" in str(r)
    f = tmp_path / "scen" / "xserver-http-during-run.txt"
    f.parent.mkdir()
    f.write_text("/xqueues {" + "[" * 100_000 + "\n")
    with pytest.raises(ValueError, match="is not JSON"):
        load_recorded(f)
    assert recorded_answers(tmp_path) == {}



@pytest.mark.parametrize("what", ["xqueues", "hint"])
def test_huge_garbage_gives_a_short_message(raw: RawServer, what: str) -> None:
    big = {"xqueues": [{f: "x" * 100_000 for f in FIELDS}], "x": ["y" * 100_000]}
    r = _ask(raw, _http(json.dumps(big).encode()), what)
    assert isinstance(r, XServerError) and len(str(r)) < 300, len(str(r))
