"""The one place that starts, watches and stops child processes (checks and workloads).

Every child is started from an argv list (never a shell), in its own process group, with its
stdout/stderr drained by reader threads into bounded buffers, and is registered so that
``kill_all()`` can stop every group on exit, Ctrl+C, SIGTERM or SIGHUP: no orphan may keep a
GPU busy.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

MAX_LINE = 64 * 1024  # bytes kept of one line (longer lines are cut and marked)
DEFAULT_KEEP_LINES = 20_000

_live: weakref.WeakSet[Child] = weakref.WeakSet()
_live_lock = threading.Lock()


def signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


@dataclass(frozen=True)
class ExitStatus:
    """How a child ended. ``returncode`` follows subprocess: negative = killed by a signal."""

    returncode: int | None
    timed_out: bool = False
    killed_by_us: bool = False

    @property
    def signal(self) -> int | None:
        if self.returncode is not None and self.returncode < 0:
            return -self.returncode
        # A shell-style 128+N exit is reported by some wrappers; keep it as an exit code.
        return None

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def describe(self) -> str:
        if self.timed_out:
            return "timed out (killed)"
        if self.returncode is None:
            return "still running"
        if self.signal is not None:
            return f"killed by {signal_name(self.signal)} (signal {self.signal})"
        return f"exit code {self.returncode}"


class StartError(RuntimeError):
    """The child could not be started at all (missing interpreter, permission...)."""


class Child:
    """A running child process in its own process group with bounded output capture."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        stdin: bool = False,
        keep_lines: int = DEFAULT_KEEP_LINES,
        on_stdout: Callable[[str], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
        max_stdout_line: int = MAX_LINE,
    ) -> None:
        if not argv:
            raise StartError("empty command")
        self.argv = tuple(str(a) for a in argv)
        self.started_at = time.time()
        try:
            self._p = subprocess.Popen(
                self.argv,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # own session => own process group, no terminal signals
            )
        except (OSError, ValueError) as exc:
            raise StartError(f"cannot start {self.argv[0]!r}: {exc.strerror or exc}") from exc
        self.pid = self._p.pid
        self.stdout_lines: deque[str] = deque(maxlen=keep_lines)
        self.stderr_lines: deque[str] = deque(maxlen=keep_lines)
        self.dropped = {"stdout": 0, "stderr": 0}
        self._killed_by_us = False
        self._timed_out = False
        self._readers = [
            threading.Thread(
                target=self._drain,
                args=(self._p.stdout, self.stdout_lines, "stdout", on_stdout, max_stdout_line),
                daemon=True, name=f"child-{self.pid}-stdout",
            ),
            threading.Thread(
                target=self._drain, args=(self._p.stderr, self.stderr_lines, "stderr", on_stderr),
                daemon=True, name=f"child-{self.pid}-stderr",
            ),
        ]
        for t in self._readers:
            t.start()
        with _live_lock:
            _live.add(self)

    # -- output -------------------------------------------------------------------------
    def _drain(self, stream, buf: deque[str], name: str, cb: Callable[[str], None] | None,
               cap: int = MAX_LINE) -> None:
        try:
            while True:
                raw = stream.readline(cap + 1)
                if not raw:
                    break
                if len(raw) > cap and not raw.endswith(b"\n"):
                    # Swallow the rest of an over-long line so it is reported once, cut.
                    rest = 0
                    while True:
                        more = stream.readline(MAX_LINE)
                        rest += len(more)
                        if not more or more.endswith(b"\n"):
                            break
                    raw = raw[:cap] + f" …[{rest} more bytes cut]".encode()
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if len(buf) == buf.maxlen:
                    self.dropped[name] += 1
                buf.append(line)
                if cb is not None:
                    try:
                        cb(line)
                    except Exception:  # a consumer bug must not stop draining (child would block)
                        pass
        except (OSError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError):
                stream.close()

    def write_stdin(self, text: str) -> bool:
        if self._p.stdin is None:
            return False
        try:
            self._p.stdin.write(text.encode())
            self._p.stdin.flush()
            return True
        except (OSError, ValueError):
            return False

    def close_stdin(self) -> None:
        if self._p.stdin is not None:
            with contextlib.suppress(OSError, ValueError):
                self._p.stdin.close()

    # -- lifecycle ------------------------------------------------------------------------
    def poll(self) -> int | None:
        return self._p.poll()

    @property
    def running(self) -> bool:
        return self._p.poll() is None

    def wait(self, timeout: float | None = None) -> ExitStatus:
        """Wait up to ``timeout`` s; on expiry the group is stopped and the status says so."""
        try:
            self._p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._timed_out = True
            self.stop()
        for t in self._readers:
            t.join(timeout=2.0)
        with _live_lock:
            _live.discard(self)
        return self.status()

    def status(self) -> ExitStatus:
        return ExitStatus(self._p.poll(), self._timed_out, self._killed_by_us)

    def signal_group(self, sig: int) -> bool:
        try:
            os.killpg(self.pid, sig)
            return True
        except (ProcessLookupError, PermissionError):
            return False

    def stop(self, grace: float = 2.0) -> ExitStatus:
        """SIGTERM the whole group, then SIGKILL it after ``grace`` seconds."""
        if self._p.poll() is None:
            self._killed_by_us = True
        self.signal_group(signal.SIGTERM)
        try:
            self._p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        # Kill the group even if the leader exited: grandchildren may still hold the GPU.
        self.signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._p.wait(timeout=grace)
        self.close_stdin()
        with _live_lock:
            _live.discard(self)
        return self.status()


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    pid: int
    exit: ExitStatus
    stdout: tuple[str, ...]
    stderr: tuple[str, ...]
    duration_s: float


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> Completed:
    """Run to completion with a hard timeout. Raises StartError if it cannot start."""
    t0 = time.perf_counter()
    child = Child(argv, env=env, cwd=cwd)
    status = child.wait(timeout=timeout)
    return Completed(
        child.argv, child.pid, status, tuple(child.stdout_lines), tuple(child.stderr_lines),
        time.perf_counter() - t0,
    )


def live_children() -> list[Child]:
    with _live_lock:
        return [c for c in _live if c.running]


def kill_all(grace: float = 2.0) -> int:
    """Stop every registered child group; returns how many were still running."""
    kids = live_children()
    for c in kids:
        c.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for c in kids:
        with contextlib.suppress(subprocess.TimeoutExpired):
            c._p.wait(timeout=max(0.0, deadline - time.monotonic()))
    for c in kids:
        c.signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            c._p.wait(timeout=1.0)
    return len(kids)
