"""A real program in a real pseudo-terminal, as over SSH: the test reads what it draws, types
keys, sends signals, and can hang up the terminal (close the master side, as sshd does when
the connection drops: the kernel then sends SIGHUP to the session)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import select
import struct
import termios
import threading
import time
from collections.abc import Callable

_ESC = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[ -/]*[0-~])")


class PtyApp:
    def __init__(self, argv: list[str], env: dict[str, str], cwd: str | None = None,
                 cols: int = 120, rows: int = 40) -> None:
        pid, fd = pty.fork()  # the child is a session leader with the pty as its terminal
        if pid == 0:  # child
            try:
                if cwd:
                    os.chdir(cwd)
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.out = bytearray()
        self.status: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while not self._stop.is_set():
            try:
                r, _, _ = select.select([self.fd], [], [], 0.05)
                if r:
                    data = os.read(self.fd, 65536)
                    if not data:
                        return
                    with self._lock:
                        self.out += data
            except OSError:  # EIO: the program closed its side (it exited)
                return

    # -- looking ----------------------------------------------------------------------------
    def text(self) -> str:
        with self._lock:
            return _ESC.sub(b"", bytes(self.out)).decode("utf-8", "replace")

    def raw(self) -> bytes:
        with self._lock:
            return bytes(self.out)

    def wait_for(self, cond: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            if self.poll() is not None:
                raise AssertionError(f"the app exited ({self.status}) while waiting for {what}:\n"
                                     f"{self.text()[-3000:]}")
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}:\n{self.text()[-3000:]}")

    def wait_text(self, needle: str, timeout: float = 30.0) -> None:
        self.wait_for(lambda: needle in self.text(), timeout, repr(needle))

    # -- acting -----------------------------------------------------------------------------
    def type(self, keys: str | bytes) -> None:
        os.write(self.fd, keys.encode() if isinstance(keys, str) else keys)

    def hang_up(self) -> None:
        """Close the terminal's master side, as a dropped SSH connection does."""
        self._stop.set()
        self._reader.join(timeout=2)
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self.fd = -1

    def poll(self) -> int | None:
        if self.status is None:
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(st)
        return self.status

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"the app did not exit within {timeout} s:\n{self.text()[-3000:]}")
            time.sleep(0.05)
        self._reader.join(timeout=2)
        return self.status  # type: ignore[return-value]

    def termios_flags(self) -> int:
        """The terminal's local flags (ICANON, ECHO...), read through the master side."""
        return termios.tcgetattr(self.fd)[3]

    def close(self) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, 9)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
        self._stop.set()
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1


def descendants(pid: int) -> set[int]:
    """Every living descendant of ``pid`` (by parent pid, across process groups and sessions)."""
    parent: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                parent[int(name)] = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    out: set[int] = set()
    frontier = [pid]
    while frontier:
        p = frontier.pop()
        for c, pp in parent.items():
            if pp == p and c not in out:
                out.add(c)
                frontier.append(c)
    return out
