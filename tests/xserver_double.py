"""A real HTTP server on 127.0.0.1 that answers like a recorded xserver (a test double).

The answers come verbatim from samples/h100-cuda13/*/xserver-http-during-run.txt, which holds
blocks of the form ``/path {json...}``. Modes make it misbehave: "ok", "500", "garbage"
(not JSON), "wrongtypes" (valid JSON, wrong field types), "slow" (answers after a delay).
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_BLOCK = re.compile(r"^(/\S*) (?=\{)", re.MULTILINE)


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


class XServerDouble:
    def __init__(self, answers: dict[str, Any], mode: str = "ok", delay: float = 3.0) -> None:
        self.answers = dict(answers)
        self.mode = mode
        self.delay = delay
        self.requests: list[tuple[str, str]] = []
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def _answer(self, method: str) -> None:
                double.requests.append((method, self.path))
                if double.mode == "slow":
                    time.sleep(double.delay)
                if double.mode == "500":
                    self.send_response(500)
                    self.end_headers()
                    return
                path = self.path.split("?", 1)[0]
                if path.startswith("/xqueue/"):
                    h = path.rsplit("/", 1)[1]
                    try:
                        path = f"/xqueue/{int(h, 16)}"
                    except ValueError:
                        self.send_response(400)
                        self.end_headers()
                        return
                if method == "POST":
                    body = {"info": "success"}
                elif path in double.answers:
                    body = double.answers[path]
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                if double.mode == "garbage":
                    raw = b"<html>not json</html>"
                elif double.mode == "wrongtypes":
                    raw = json.dumps(_wrong_types(body)).encode()
                else:
                    raw = json.dumps(body, indent="\t").encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> XServerDouble:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _wrong_types(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: (str(v) if isinstance(v, (int, bool)) else _wrong_types(v)) for k, v in body.items()}
    if isinstance(body, list):
        return [_wrong_types(x) for x in body]
    return body
