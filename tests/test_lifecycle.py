"""core.lifecycle: the bounded, forced end of the app when the orderly shutdown hangs."""

from __future__ import annotations

import os
import pty
import termios
import threading
import tty

from xsched_tui.core.lifecycle import (
    RESTORE_SEQUENCE,
    ShutdownWatchdog,
    TerminalGuard,
    exit_code_for,
    signal_name,
)


class _Calls:
    def __init__(self) -> None:
        self.kills: list[float] = []
        self.exits: list[int] = []
        self.exited = threading.Event()

    def kill(self, grace: float) -> None:
        self.kills.append(grace)

    def exit(self, code: int) -> None:
        self.exits.append(code)
        self.exited.set()


def test_exit_codes_and_names_follow_the_shell() -> None:
    assert exit_code_for(1) == 129 and exit_code_for(2) == 130 and exit_code_for(15) == 143
    assert signal_name(1) == "signal 1 (SIGHUP)"
    assert signal_name(250) == "signal 250"


def test_watchdog_forces_the_exit_when_the_orderly_path_hangs(capfd) -> None:
    c = _Calls()
    wd = ShutdownWatchdog(c.kill, deadline_s=0.05, exit=c.exit)
    assert not wd.armed
    assert wd.arm(143, "signal 15 (SIGTERM)") is True
    assert c.exited.wait(10)
    assert c.exits == [143] and c.kills == [0.5]
    assert "forced exit (not stopped 0.05 s after signal 15 (SIGTERM))" in capfd.readouterr().err


def test_watchdog_stays_quiet_when_disarmed_and_a_second_signal_forces_at_once() -> None:
    c = _Calls()
    wd = ShutdownWatchdog(c.kill, deadline_s=0.05, exit=c.exit)
    wd.arm(129, "signal 1 (SIGHUP)")
    wd.disarm()
    assert not c.exited.wait(0.3)
    c2 = _Calls()
    wd2 = ShutdownWatchdog(c2.kill, deadline_s=3600, exit=c2.exit)
    wd2.arm(0, "quit")
    assert wd2.arm(0, "quit") is False  # the second one forces, in the caller's thread
    assert c2.exits == [0] and wd2.exit_code == 0


def test_terminal_guard_puts_a_real_terminal_back() -> None:
    master, slave = pty.openpty()
    try:
        before = termios.tcgetattr(slave)
        guard = TerminalGuard(slave)
        tty.setraw(slave)  # what a TUI does
        assert not termios.tcgetattr(slave)[3] & termios.ICANON
        guard.restore()
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)


def test_terminal_guard_without_a_terminal_does_nothing(tmp_path) -> None:
    with open(tmp_path / "f", "w") as f:
        guard = TerminalGuard(f.fileno())
        assert guard.attrs is None
        guard.restore()  # no error
    assert RESTORE_SEQUENCE.startswith(b"\x1b[?1049l")
