"""Client of XSched's xserver HTTP API (FACTS §4) with timeouts and honest errors.

xserver answers pretty-printed JSON; handles and devices are decimal uint64 numbers. A dead,
slow or garbage-answering server raises XServerError with a sentence a user can act on.

Every request has two limits: ``timeout`` per socket operation and a total deadline
(``timeout * 2`` unless given). The total matters because a server that drips one byte at a
time never trips a per-operation timeout and would otherwise hold a worker thread forever.
The exchange is done on a raw socket (HTTP/1.1, ``Connection: close``) so that each read can be
bounded by what is left of the deadline; the collected bytes are then parsed by http.client.

Actions (``set_priority``, ``set_utilization``, ``set_timeslice``, ``set_policy``,
``configure``) validate their arguments exactly as xserver does and raise
:class:`ActionRejected` (a ValueError) before any request when the server would refuse them.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

POLICY_NAMES = {
    1: "HPF", 2: "HHPF", 3: "CHPF", 4: "UP", 5: "PUP", 6: "SPUP", 7: "KEDF", 8: "LAX",
    9: "AWF", 10: "CFS", 11: "MLFQ",
}
DEVICE_TYPES = {1: "CPU", 2: "GPU", 3: "NPU", 4: "FPGA", 5: "ASIC", 6: "MCA"}
MAX_BODY = 16 * 1024 * 1024  # a runaway answer must not eat the monitor's memory
_MAX_HEAD = 64 * 1024  # status line + headers
_U64 = (1 << 64) - 1

# hint_type values of XSched's HintType enum (FACTS §4.2)
HINT_PRIORITY, HINT_UTILIZATION, HINT_TIMESLICE = 1, 2, 3
PRIORITY_MIN, PRIORITY_MAX = -255, 255


class XServerError(Exception):
    """xserver could not be asked or answered something unusable; str() is user-facing.

    ``kind``: "down" (refused / unreachable), "timeout", "http" (a non-200 status: ``status``
    and the server's ``{"error": ...}`` text in ``server_message``), "garbage" (not JSON, wrong
    types, too big, not HTTP).
    """

    def __init__(self, message: str, *, kind: str = "garbage", status: int | None = None,
                 server_message: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.server_message = server_message


class ActionRejected(ValueError):
    """An action's arguments would be refused by xserver; nothing was sent. str() is user-facing."""


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
        return device_text(self.device)

    @property
    def device_pci(self) -> str:
        return device_pci(self.device)

    @property
    def handle_pid_ok(self) -> bool:
        return handle_matches_pid(self.handle, self.pid)


def device_text(device: int) -> str:
    """xcli's rendering of an XDevice ``(type << 32) | id``: ``GPU(0x200000030)``."""
    kind = DEVICE_TYPES.get(device >> 32, "DEV")
    return f"{kind}(0x{device:x})"


def device_pci(device: int) -> str:
    """The PCI address packed in an XDevice's id (``dom<<16 | bus<<8 | dev<<3 | fn``, FACTS §4.2),
    as ``dddd:bb:dd.f`` (0x200000030 -> ``0000:00:06.0``)."""
    pid = device & 0xFFFFFFFF
    return f"{pid >> 16:04x}:{(pid >> 8) & 0xFF:02x}:{(pid >> 3) & 0x1F:02x}.{pid & 0x7}"


def handle_pid_bits(handle: int) -> int:
    """The top 16 bits of an XQueue handle: ``pid & 0xffff`` of its process (FACTS §4.2,
    ``kHandle = this ^ (pid << 48)`` with user-space addresses below 2**48)."""
    return (handle >> 48) & 0xFFFF


def handle_matches_pid(handle: int, pid: int) -> bool:
    return handle_pid_bits(handle) == pid & 0xFFFF


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


def _short(v: Any, limit: int = 80) -> str:
    """repr() for a message: a garbage answer can hold megabytes."""
    text = repr(v)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _int(obj: dict[str, Any], key: str, where: str) -> int:
    v = obj.get(key)
    if isinstance(v, bool) or not isinstance(v, int):
        raise XServerError(f"xserver answered garbage: {where}.{key} is {_short(v)}, not an integer")
    return v


def _bool(obj: dict[str, Any], key: str, where: str) -> bool:
    v = obj.get(key)
    if not isinstance(v, bool):
        raise XServerError(f"xserver answered garbage: {where}.{key} is {_short(v)}, not true/false")
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


class _Deadline(Exception):
    pass


class _BufferSocket:
    """Just enough of a socket for http.client.HTTPResponse to parse bytes already read."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, *_a: object, **_k: object) -> io.BytesIO:
        return io.BytesIO(self._data)


def _complete(buf: bytearray) -> bool:
    """True when ``buf`` holds a whole response (so we need not wait for the server to close)."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False
    head = bytes(buf[:end]).lower()
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip()
        if name == b"content-length":
            try:
                return len(buf) >= end + 4 + int(value.strip())
            except ValueError:
                return False
        if name == b"transfer-encoding" and b"chunked" in value:
            return buf.endswith(b"0\r\n\r\n")
    status = head.split(b" ", 2)[1:2]
    return status in ([b"204"], [b"304"])


def _int_arg(name: str, v: object) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ActionRejected(f"{name} must be a whole number, not {v!r}")
    return v


def _handle_arg(h: object) -> int:
    h = _int_arg("the XQueue handle", h)
    if not 0 < h <= _U64:
        raise ActionRejected(f"XQueue handle {h} is not a valid handle (a non-zero 64-bit number)")
    return h


def policy_number(policy: int | str) -> int:
    """A policy enum from its number or name (any case); ActionRejected when unknown."""
    if isinstance(policy, str):
        s = policy.strip()
        if s.isdigit():
            return policy_number(int(s))
        for num, name in POLICY_NAMES.items():
            if name == s.upper():
                return num
        raise ActionRejected(
            f"unknown policy {policy!r}: one of {', '.join(POLICY_NAMES.values())}")
    num = _int_arg("the policy", policy)
    if num not in POLICY_NAMES:
        raise ActionRejected(f"unknown policy number {num}: 1-{max(POLICY_NAMES)} "
                             f"({', '.join(f'{k} {v}' for k, v in POLICY_NAMES.items())})")
    return num


def validate_priority(priority: object) -> int:
    """xserver's range for a priority hint (FACTS §4.2)."""
    p = _int_arg("priority", priority)
    if not PRIORITY_MIN <= p <= PRIORITY_MAX:
        raise ActionRejected(f"priority {p} is out of range: XSched accepts values between "
                             f"{PRIORITY_MIN} and {PRIORITY_MAX}")
    return p


def validate_utilization(utilization: object) -> int:
    u = _int_arg("utilization", utilization)
    if not 0 <= u <= 100:
        raise ActionRejected(f"utilization {u} is out of range: 0 to 100 (%)")
    return u


def validate_config(level: object, threshold: object, batch_size: object) -> tuple[int, int, int]:
    """xserver's own checks for POST /config (FACTS §4.2), with its wording where it has one."""
    lv = _int_arg("level", level)
    th = _int_arg("threshold", threshold)
    bs = _int_arg("batch size", batch_size)
    if not 1 <= lv <= 3:
        raise ActionRejected(f"invalid level {lv}: XSched preemption levels are 1, 2 and 3")
    if th <= 0:
        raise ActionRejected(f"invalid command threshold {th}: it must be greater than 0")
    if bs <= 0:
        raise ActionRejected(f"invalid command batch size {bs}: it must be greater than 0")
    if bs >= th:
        raise ActionRejected(
            f"batch size must be less than threshold (batch size {bs}, threshold {th})")
    return lv, th, bs


class XServerClient:
    """Blocking client; call it from a worker thread. Every call has a hard timeout.

    ``timeout``: seconds per connect/send/receive; ``deadline``: seconds for a whole request
    (default ``2 * timeout``).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 50000, timeout: float = 1.0,
                 deadline: float | None = None) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.deadline = deadline if deadline is not None else 2 * timeout

    @property
    def base(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _exchange(self, method: str, path: str, body: bytes | None,
                  content_type: str | None) -> bytes:
        end = time.monotonic() + self.deadline

        def left() -> float:
            r = end - time.monotonic()
            if r <= 0:
                raise _Deadline
            return min(self.timeout, r)

        sock = socket.create_connection((self.host, self.port), timeout=left())
        try:
            host = f"[{self.host}]" if ":" in self.host else self.host
            head = [f"{method} {path} HTTP/1.1", f"Host: {host}:{self.port}",
                    "Accept: application/json", "Connection: close",
                    "User-Agent: xsched-tui"]
            if body is not None or method == "POST":
                if content_type:
                    head.append(f"Content-Type: {content_type}")
                head.append(f"Content-Length: {len(body or b'')}")
            sock.settimeout(left())
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (body or b""))
            buf = bytearray()
            while True:
                sock.settimeout(left())
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
                if len(buf) > MAX_BODY + _MAX_HEAD:
                    raise XServerError(f"xserver answer to {path} is larger than {MAX_BODY} bytes")
                if _complete(buf):
                    break
            return bytes(buf)
        finally:
            sock.close()

    def request(self, method: str, path: str, json_body: Any = None) -> tuple[int, Any, float]:
        """(status, parsed JSON or None, latency seconds). ``json_body`` is sent as
        application/json."""
        t0 = time.perf_counter()
        what = f"{method} {path.split('?', 1)[0]}"
        payload = None if json_body is None else json.dumps(json_body).encode()
        try:
            raw = self._exchange(method, path, payload,
                                 "application/json" if payload is not None else None)
            if not raw:
                raise XServerError(f"xserver at {self.base} closed the connection without "
                                   f"answering {what}", kind="down")
            resp = http.client.HTTPResponse(_BufferSocket(raw), method=method)  # type: ignore[arg-type]
            resp.begin()
            data = resp.read()
            status = resp.status
        except ConnectionRefusedError:
            raise XServerError(
                f"xserver is not running at {self.base} (connection refused)", kind="down"
            ) from None
        except (TimeoutError, _Deadline):
            raise XServerError(
                f"xserver at {self.base} did not answer {what} within {self.timeout:g} s"
                + ("" if self.deadline <= self.timeout else f" (at most {self.deadline:g} s in all)"),
                kind="timeout") from None
        except socket.gaierror as exc:
            raise XServerError(f"cannot find xserver host {self.host!r}: {exc.strerror or exc}",
                               kind="down") from None
        except (http.client.HTTPException, ValueError) as exc:
            raise XServerError(
                f"xserver at {self.base} answered {what} with something that is not HTTP "
                f"({type(exc).__name__})", kind="garbage") from None
        except OSError as exc:
            raise XServerError(f"cannot talk to xserver at {self.base}: {exc.strerror or exc}",
                               kind="down") from None
        latency = time.perf_counter() - t0
        if len(data) > MAX_BODY:
            raise XServerError(f"xserver answer to {path} is larger than {MAX_BODY} bytes")
        parsed = None
        if data.strip():
            try:
                parsed = json.loads(data)
            except (ValueError, UnicodeDecodeError, RecursionError) as exc:
                snippet = data[:80].decode("utf-8", "replace")
                why = "JSON nested too deeply to read" if isinstance(exc, RecursionError) else "not JSON"
                raise XServerError(
                    f"xserver answered {path} with HTTP {status} but {why}: {snippet!r}",
                    kind="garbage" if status == 200 else "http", status=status,
                ) from None
        return status, parsed, latency

    @staticmethod
    def _http_error(what: str, status: int, body: Any) -> XServerError:
        msg = body.get("error") if isinstance(body, dict) else None
        msg = msg if isinstance(msg, str) else None
        return XServerError(f"xserver answered {what} with HTTP {status}" + (f": {msg}" if msg else ""),
                            kind="http", status=status, server_message=msg)

    def _get_ok(self, path: str) -> tuple[Any, float]:
        status, body, lat = self.request("GET", path)
        if status != 200:
            raise self._http_error(path, status, body)
        return body, lat

    def _post(self, path: str, json_body: Any = None) -> str:
        """POST and return xserver's info/warning sentence ("success", "no change")."""
        status, body, _ = self.request("POST", path, json_body)
        what = path.split("?", 1)[0]
        if status != 200:
            raise self._http_error(what, status, body)
        if isinstance(body, dict):
            for key in ("info", "warning"):
                if isinstance(body.get(key), str):
                    return body[key]
        raise XServerError(f"xserver answered {what} with HTTP 200 but no info/warning: {_short(body)}")

    # -- queries ------------------------------------------------------------------------------

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

    # -- actions (each returns the server's sentence, e.g. "success" or "no change") -----------

    def set_priority(self, handle: int, priority: int) -> str:
        h = _handle_arg(handle)
        p = validate_priority(priority)
        return self._post("/hint", {"hint_type": HINT_PRIORITY, "handle": h, "priority": p})

    def set_utilization(self, *, handle: int | None = None, pid: int | None = None,
                        utilization: int) -> str:
        if (handle is None) == (pid is None):
            raise ActionRejected("give either an XQueue handle or a process id for utilization")
        u = validate_utilization(utilization)
        body: dict[str, int] = {"hint_type": HINT_UTILIZATION, "utilization": u}
        if handle is not None:
            body["handle"] = _handle_arg(handle)
        else:
            p = _int_arg("pid", pid)
            if p <= 0:
                raise ActionRejected(f"process id {p} is not valid")
            body["pid"] = p
        return self._post("/hint", body)

    def set_timeslice(self, us: int) -> str:
        t = _int_arg("timeslice", us)
        if t <= 0:
            raise ActionRejected(f"timeslice {t} µs is not valid: it must be greater than 0")
        return self._post("/hint", {"hint_type": HINT_TIMESLICE, "timeslice": t})

    def set_policy(self, policy: int | str) -> str:
        return self._post("/policy?" + urlencode({"policy": policy_number(policy)}))

    def configure(self, handle: int, level: int, threshold: int, batch_size: int) -> str:
        """POST /config with all three values (xcli's unset defaults are refused by xserver)."""
        h = _handle_arg(handle)
        lv, th, bs = validate_config(level, threshold, batch_size)
        q = urlencode({"level": lv, "threshold": th, "batch_size": bs})
        return self._post(f"/config/{hex(h)}?{q}")
