"""A real HTTP server on 127.0.0.1 that answers like a recorded xserver (a test double).

The answers come verbatim from samples/h100-cuda13/*/xserver-http-during-run.txt, which holds
blocks of the form ``/path {json...}``. Modes make it misbehave: "ok", "500", "garbage"
(not JSON), "wrongtypes" (valid JSON, wrong field types), "slow" (answers after a delay),
"drip" (sends its answer one byte every ``delay`` seconds: no single read times out).

POSTs are recorded in ``posts`` and answered like xserver v1.2.0 (FACTS §4.2): /hint with a JSON
body, /policy?policy=N, /config/0x..?level=&threshold=&batch_size= including the 400 and 404
bodies, ``{"warning": "no change"}`` and the change applied to later GET answers.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

_BLOCK = re.compile(r"^(/\S*) (?=\{)", re.MULTILINE)
POLICIES = range(1, 12)


def load_recorded(path: Path) -> dict[str, Any]:
    """{"/xqueues": {...}, "/policy": {...}, "/xqueue/<decimal handle>": {...}}"""
    text = path.read_text()
    starts = [(m.start(), m.group(1)) for m in _BLOCK.finditer(text)]
    out: dict[str, Any] = {}
    for i, (pos, route) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        body = text[pos + len(route) + 1 : end]
        out[route] = json.loads(body)
    return out


def _hex_handle(s: str) -> int | None:
    """xserver's std::stoull(s, &pos, 16) with the whole string consumed; 0 is invalid."""
    try:
        h = int(s, 16)
    except ValueError:
        return None
    return h or None


class XServerDouble:
    def __init__(self, answers: dict[str, Any], mode: str = "ok", delay: float = 3.0,
                 port: int = 0) -> None:
        self.answers = json.loads(json.dumps(answers))  # deep copy: POSTs change it
        self.mode = mode
        self.delay = delay
        self.requests: list[tuple[str, str]] = []
        # one dict per POST: path, query (dict of lists), content_type, body (parsed or raw text)
        self.posts: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def handle(self) -> None:
                # A client that hangs up early (a test's short timeout, an app that quits
                # mid-poll) is not a failure of the double: no traceback on stderr.
                try:
                    super().handle()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _send(self, status: int, body: Any) -> None:
                if double.mode == "garbage":
                    raw = b"<html>not json</html>"
                elif body is None:
                    raw = b""
                elif double.mode == "wrongtypes":
                    raw = json.dumps(_wrong_types(body)).encode()
                else:
                    raw = json.dumps(body, indent="\t").encode()
                if double.mode == "drip":
                    head = (f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                            f"Content-Length: {len(raw)}\r\n\r\n").encode()
                    try:
                        for b in head + raw:
                            self.wfile.write(bytes([b]))
                            self.wfile.flush()
                            time.sleep(double.delay)
                    except OSError:
                        pass  # the client gave up, as it should
                    self.close_connection = True
                    return
                self.send_response(status)
                if raw:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _answer(self, method: str) -> None:
                double.requests.append((method, self.path))
                if double.mode == "slow":
                    time.sleep(double.delay)
                if double.mode == "500":
                    self.send_response(500)
                    self.end_headers()
                    return
                path, _, query = self.path.partition("?")
                if method == "POST":
                    n = int(self.headers.get("Content-Length") or 0)
                    raw = self.rfile.read(n) if n > 0 else b""
                    with double.lock:
                        status, body = double._post(path, parse_qs(query), raw,
                                                    self.headers.get("Content-Type"))
                    self._send(status, body)
                    return
                if path.startswith("/xqueue/"):
                    h = _hex_handle(path.rsplit("/", 1)[1])
                    if h is None:
                        self._send(400, None)
                        return
                    path = f"/xqueue/{h}"
                with double.lock:
                    body = double.answers.get(path)
                if body is None:
                    self._send(404, None)
                    return
                self._send(200, body)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        # a short poll interval: shutdown() waits for it (0.5 s by default, per test)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    # -- xserver's POST handlers (lock held) ---------------------------------------------------

    def _queues(self) -> list[dict[str, Any]]:
        return self.answers.setdefault("/xqueues", {"xqueues": [], "processes": []})["xqueues"]

    def _find(self, handle: int) -> dict[str, Any] | None:
        return next((q for q in self._queues() if q.get("handle") == handle), None)

    def _post(self, path: str, query: dict[str, list[str]], raw: bytes,
              ctype: str | None) -> tuple[int, Any]:
        rec: dict[str, Any] = {"path": path, "query": query, "content_type": ctype}
        try:
            rec["body"] = json.loads(raw) if raw else None
        except ValueError:
            rec["body"] = raw.decode("utf-8", "replace")
        self.posts.append(rec)
        if path == "/hint":
            return self._hint(rec["body"])
        if path == "/policy":
            try:
                pol = int(query["policy"][0])
            except (KeyError, ValueError):
                return 400, {"error": "missing policy"}
            if pol not in POLICIES:
                return 400, {"error": "invalid policy"}
            self.answers["/policy"] = {"policy": pol}
            return 200, {"info": "success"}
        if path.startswith("/config/"):
            return self._config(path.rsplit("/", 1)[1], query)
        return 404, None

    def _hint(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            return 400, {"error": "invalid json"}
        t = body.get("hint_type")
        if t == 1:
            if "priority" not in body:
                return 400, {"error": "missing priority"}
            if not body.get("handle"):
                return 400, {"error": "invalid handle"}
            return 200, {"info": "success"}
        if t == 2:
            if not body.get("handle") and not body.get("pid"):
                return 400, {"error": "handle or pid is required"}
            if not 0 <= body.get("utilization", -1) <= 100:
                return 400, {"error": "invalid utilization"}
            return 200, {"info": "success"}
        if t == 3:
            if "timeslice" not in body:
                return 400, {"error": "missing timeslice"}
            return 200, {"info": "success"}
        return 400, {"error": "invalid hint type"}

    def _config(self, hs: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        h = _hex_handle(hs)
        if h is None:
            return 400, {"error": "invalid handle"}

        def arg(name: str, default: int) -> int:
            try:
                return int(query[name][0])
            except (KeyError, ValueError):
                return default

        level, threshold, batch = arg("level", 0), arg("threshold", -1), arg("batch_size", -1)
        if not 1 <= level <= 3:
            return 400, {"error": "invalid level"}
        if threshold <= 0:
            return 400, {"error": "invalid command threshold"}
        if batch <= 0:
            return 400, {"error": "invalid command batch size"}
        q = self._find(h)
        if q is None:
            return 404, {"error": "XQueue not found"}
        if batch >= threshold:
            return 400, {"error": "batch size must be less than threshold"}
        new = {"level": level, "threshold": threshold, "batch_size": batch}
        if all(q.get(k) == v for k, v in new.items()):
            return 200, {"warning": "no change"}
        q.update(new)
        one = self.answers.get(f"/xqueue/{h}")
        if isinstance(one, dict) and isinstance(one.get("xqueue"), dict):
            one["xqueue"].update(new)
        return 200, {"info": "success"}

    def __enter__(self) -> XServerDouble:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Close the listening socket: later connections are refused (the port may be reused)."""
        self.server.shutdown()
        self.server.server_close()


def _wrong_types(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: (str(v) if isinstance(v, (int, bool)) else _wrong_types(v)) for k, v in body.items()}
    if isinstance(body, list):
        return [_wrong_types(x) for x in body]
    return body
