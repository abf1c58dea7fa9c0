"""A real program in a real pseudo-terminal, as over SSH: the benchmarks' ``Pty`` (same fork,
window size and output drain) with what the lifecycle tests need besides: type keys, wait for
text or fail when the program exits, hang up the terminal (close the master side, as sshd does
when the connection drops: the kernel then sends SIGHUP to the session), collect the exit
status, read the terminal's mode."""

from __future__ import annotations

import contextlib
import os
import termios
import time
from collections.abc import Callable

from benchmarks.ptyapp import _ESC, Pty


class PtyApp(Pty):
    def __init__(self, argv: list[str], env: dict[str, str], cwd: str | None = None) -> None:
        super().__init__(argv, env, cwd, inherit_env=False)
        self.status: int | None = None

    # -- looking ----------------------------------------------------------------------------
    def output(self) -> bytes:
        with self.lock:
            return bytes(self.raw)

    def text(self) -> str:
        return _ESC.sub(b"", self.output()).decode("utf-8", "replace")

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

    def wait_text(self, needle: str, timeout: float = 30.0) -> None:  # type: ignore[override]
        self.wait_for(lambda: needle in self.text(), timeout, repr(needle))

    # -- acting -----------------------------------------------------------------------------
    def type(self, keys: str | bytes) -> None:
        self.send(keys.encode() if isinstance(keys, str) else keys)

    def hang_up(self) -> None:
        """Close the terminal's master side, as a dropped SSH connection does."""
        fd, self.fd = self.fd, -1  # the drain thread stops on the bad fd
        self._thread.join(timeout=2)
        with contextlib.suppress(OSError):
            os.close(fd)

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
        self._thread.join(timeout=2)
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
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            with contextlib.suppress(OSError):
                os.close(fd)


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
