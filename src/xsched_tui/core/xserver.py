"""Client of XSched's xserver HTTP API (FACTS §4) with timeouts and honest errors.

xserver answers pretty-printed JSON; handles and devices are decimal uint64 numbers. A dead,
slow or garbage-answering server raises XServerError with a sentence a user can act on.
"""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

POLICY_NAMES = {
    1: "HPF", 2: "HHPF", 3: "CHPF", 4: "UP", 5: "PUP", 6: "SPUP", 7: "KEDF", 8: "LAX",
    9: "AWF", 10: "CFS", 11: "MLFQ",
}
DEVICE_TYPES = {1: "CPU", 2: "GPU", 3: "NPU", 4: "FPGA", 5: "ASIC", 6: "MCA"}
MAX_BODY = 16 * 1024 * 1024  # a runaway answer must not eat the monitor's memory


class XServerError(Exception):
    """xserver could not be asked or answered something unusable; str() is user-facing."""


@dataclass(frozen=True)
class XQueueInfo:
    handle: int
    device: int
    level: int
    pid: int
    threshold: int
    batch_size: int
    ready: bool
    suspended: bool

    @property
    def handle_hex(self) -> str:
        return hex(self.handle)

    @property
    def device_text(self) -> str:
        """xcli's rendering: type name and the hex XDevice, e.g. GPU(0x200000030)."""
        kind = DEVICE_TYPES.get(self.device >> 32, "DEV")
        return f"{kind}(0x{self.device:x})"


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    cmdline: str


@dataclass(frozen=True)
class XQueuesSnapshot:
    xqueues: tuple[XQueueInfo, ...]
    processes: tuple[ProcessInfo, ...]
    fetched_at: float
    latency_s: float

    def for_pid(self, pid: int) -> tuple[XQueueInfo, ...]:
        return tuple(q for q in self.xqueues if q.pid == pid)


def _int(obj: dict[str, Any], key: str, where: str) -> int:
    v = obj.get(key)
    if isinstance(v, bool) or not isinstance(v, int):
        raise XServerError(f"xserver answered garbage: {where}.{key} is {v!r}, not an integer")
    return v


def _bool(obj: dict[str, Any], key: str, where: str) -> bool:
    v = obj.get(key)
    if not isinstance(v, bool):
        raise XServerError(f"xserver answered garbage: {where}.{key} is {v!r}, not true/false")
    return v


def parse_xqueue(obj: Any, where: str = "xqueue") -> XQueueInfo:
    if not isinstance(obj, dict):
        raise XServerError(f"xserver answered garbage: {where} is not an object")
    return XQueueInfo(
        handle=_int(obj, "handle", where), device=_int(obj, "device", where),
        level=_int(obj, "level", where), pid=_int(obj, "pid", where),
        threshold=_int(obj, "threshold", where), batch_size=_int(obj, "batch_size", where),
        ready=_bool(obj, "ready", where), suspended=_bool(obj, "suspended", where),
    )


def parse_xqueues(body: Any, fetched_at: float = 0.0, latency_s: float = 0.0) -> XQueuesSnapshot:
    if not isinstance(body, dict):
        raise XServerError("xserver answered garbage: /xqueues is not a JSON object")
    xqs = body.get("xqueues")
    procs = body.get("processes", [])
    if not isinstance(xqs, list):
        raise XServerError("xserver answered garbage: /xqueues has no 'xqueues' list")
    if not isinstance(procs, list):
        raise XServerError("xserver answered garbage: 'processes' is not a list")
    queues = tuple(parse_xqueue(q, f"xqueues[{i}]") for i, q in enumerate(xqs))
    plist = []
    for i, p in enumerate(procs):
        if not isinstance(p, dict):
            raise XServerError(f"xserver answered garbage: processes[{i}] is not an object")
        cmd = p.get("cmdline", "")
        plist.append(ProcessInfo(_int(p, "pid", f"processes[{i}]"), cmd if isinstance(cmd, str) else ""))
    return XQueuesSnapshot(queues, tuple(plist), fetched_at, latency_s)


class XServerClient:
    """Blocking client; call it from a worker thread. Every call has a hard timeout."""

    def __init__(self, host: str = "127.0.0.1", port: int = 50000, timeout: float = 1.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def request(self, method: str, path: str) -> tuple[int, Any, float]:
        """(status, parsed JSON or None, latency seconds)."""
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, headers={"Accept": "application/json"})
            resp = conn.getresponse()
            raw = resp.read(MAX_BODY + 1)
            status = resp.status
        except ConnectionRefusedError:
            raise XServerError(
                f"xserver is not running at {self.base} (connection refused)"
            ) from None
        except TimeoutError:
            raise XServerError(
                f"xserver at {self.base} did not answer {method} {path} within {self.timeout:g} s"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            raise XServerError(f"cannot talk to xserver at {self.base}: {exc}") from None
        finally:
            conn.close()
        latency = time.perf_counter() - t0
        if len(raw) > MAX_BODY:
            raise XServerError(f"xserver answer to {path} is larger than {MAX_BODY} bytes")
        body = None
        if raw.strip():
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                snippet = raw[:80].decode("utf-8", "replace")
                raise XServerError(
                    f"xserver answered {path} with HTTP {status} but not JSON: {snippet!r}"
                ) from None
        return status, body, latency

    def _get_ok(self, path: str) -> tuple[Any, float]:
        status, body, lat = self.request("GET", path)
        if status != 200:
            msg = body.get("error") if isinstance(body, dict) else None
            raise XServerError(f"xserver answered {path} with HTTP {status}" + (f": {msg}" if msg else ""))
        return body, lat

    def policy(self) -> int:
        body, _ = self._get_ok("/policy")
        if not isinstance(body, dict):
            raise XServerError("xserver answered garbage: /policy is not a JSON object")
        return _int(body, "policy", "policy")

    def xqueues(self) -> XQueuesSnapshot:
        t = time.time()
        body, lat = self._get_ok("/xqueues")
        return parse_xqueues(body, t, lat)

    def xqueue(self, handle: int) -> tuple[XQueueInfo, ProcessInfo | None]:
        body, _ = self._get_ok("/xqueue/" + quote(hex(handle)))
        if not isinstance(body, dict):
            raise XServerError("xserver answered garbage: /xqueue is not a JSON object")
        q = parse_xqueue(body.get("xqueue"))
        p = body.get("process")
        proc = None
        if isinstance(p, dict) and isinstance(p.get("pid"), int):
            proc = ProcessInfo(p["pid"], str(p.get("cmdline", "")))
        return q, proc
