"""Bounded shutdown of the app on quit, Ctrl+C, SIGTERM and SIGHUP (an SSH drop).

The orderly path lives in the front end (cancel the experiment so that it writes its
"cancelled" result, stop the children, let Textual restore the terminal). This module is the
part that must work even when the orderly path hangs: a hung-up terminal can block a write, a
workload can ignore SIGTERM, a thread can wedge. :class:`ShutdownWatchdog` waits a bounded time
after the first signal, then kills every child group, puts the terminal back as it found it
and exits the process. A second signal takes that path at once: the user means it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import termios
import threading
from collections.abc import Callable

# What Textual's driver switches on and must be switched off again when it cannot do it itself:
# leave the alternate screen, show the cursor, stop mouse reporting (every mode Textual enables),
# bracketed paste and focus events; then reset the attributes.
RESTORE_SEQUENCE = (b"\x1b[?1049l\x1b[?25h\x1b[?1000l\x1b[?1003l\x1b[?1015l\x1b[?1006l"
                    b"\x1b[?2004l\x1b[?1004l\x1b[0m\r\n")

DEFAULT_DEADLINE_S = 10.0


class TerminalGuard:
    """The terminal's settings as they were before the app started, to put back by force."""

    def __init__(self, fd: int | None = None) -> None:
        self.fd = sys.__stdin__.fileno() if fd is None and sys.__stdin__ is not None else fd
        self.attrs: list | None = None
        if self.fd is not None:
            with contextlib.suppress(OSError, termios.error, ValueError):
                if os.isatty(self.fd):
                    self.attrs = termios.tcgetattr(self.fd)

    def restore(self) -> None:
        """Best effort and never blocking for long: a hung-up terminal refuses both steps."""
        if self.attrs is None or self.fd is None:
            return
        with contextlib.suppress(OSError, termios.error, ValueError):
            termios.tcsetattr(self.fd, termios.TCSANOW, self.attrs)
        with contextlib.suppress(OSError, ValueError):
            out = sys.__stdout__.fileno() if sys.__stdout__ is not None else self.fd
            if os.isatty(out):
                os.write(out, RESTORE_SEQUENCE)


def exit_code_for(signum: int) -> int:
    """The shell's convention: 128 + the signal's number (SIGHUP 129, SIGINT 130, SIGTERM 143)."""
    return 128 + int(signum)


class ShutdownWatchdog:
    """Arms once; after ``deadline_s`` (or at once when armed again) kills and exits.

    ``kill`` stops the children (``runner.kill_all``); ``exit`` is ``os._exit`` (replaced in
    tests). The timer runs in a daemon thread so it never keeps a finished process alive.
    """

    def __init__(self, kill: Callable[[float], object], guard: TerminalGuard | None = None,
                 deadline_s: float = DEFAULT_DEADLINE_S,
                 exit: Callable[[int], object] = os._exit) -> None:
        self.kill, self.guard, self.deadline_s, self._exit = kill, guard, deadline_s, exit
        self.exit_code: int | None = None
        self.what = ""
        self._done = threading.Event()
        self._lock = threading.Lock()

    @property
    def armed(self) -> bool:
        return self.exit_code is not None

    def arm(self, exit_code: int, what: str) -> bool:
        """First call: start the countdown, return True. Later calls force the exit now (False).
        ``what`` names the cause for the message ("signal 1 (SIGHUP)", "quit")."""
        with self._lock:
            first = self.exit_code is None
            if first:
                self.exit_code, self.what = exit_code, what
        if not first:
            self.force(f"{what} again")
            return False
        threading.Thread(target=self._countdown, name="xs-shutdown-watchdog", daemon=True).start()
        return True

    def disarm(self) -> None:
        """The orderly path finished in time."""
        self._done.set()

    def _countdown(self) -> None:
        if not self._done.wait(self.deadline_s):
            self.force(f"not stopped {self.deadline_s:g} s after {self.what}")

    def force(self, why: str) -> None:
        with contextlib.suppress(Exception):
            self.kill(0.5)
        if self.guard is not None:
            self.guard.restore()
        with contextlib.suppress(Exception):
            sys.stderr.write(f"xsched-tui: forced exit ({why}): children killed; results "
                             "written so far are kept\n")
            sys.stderr.flush()
        self._exit(self.exit_code if self.exit_code is not None else 1)


def signal_name(signum: int) -> str:
    import signal

    try:
        return f"signal {signum} ({signal.Signals(signum).name})"
    except ValueError:
        return f"signal {signum}"
