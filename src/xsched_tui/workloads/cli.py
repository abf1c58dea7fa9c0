"""``python -m xsched_tui.workloads KIND [options]``: argument parsing, signals, exit codes.

Arguments are parsed before torch is imported, so a bad command line fails in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

from xsched_tui.workloads.options import KINDS, USAGE_EXIT, options_for

PARENT_POLL_S = 0.5
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(USAGE_EXIT, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m xsched_tui.workloads",
                description="GPU workloads for xsched-tui: JSON lines on stdout "
                            "(docs/workload-output.schema.json).")
    sub = p.add_subparsers(dest="kind", required=True, metavar="KIND", parser_class=_Parser)
    helps = {"matmul": "N x N matmul loop, TFLOP/s per iteration",
             "launch": "a storm of tiny kernels, ms per iteration and µs per launch",
             "infer": "model inference: --rate HZ periodic latency, or --rate 0 flat-out requests/s"}
    for kind in KINDS:
        sp = sub.add_parser(kind, help=helps[kind], description=helps[kind])
        how_long = sp.add_mutually_exclusive_group()
        for o in options_for(kind):
            target: Any = how_long if o.dest in ("iters", "duration") else sp
            if o.boolean:
                target.add_argument(o.flag, dest=o.dest, action="store_true", help=o.help)
            else:
                target.add_argument(o.flag, dest=o.dest, type=o.type, default=o.default,
                                    choices=o.choices, metavar=o.metavar, help=o.help)
    return p


class Terminated(BaseException):  # BaseException: no `except Exception` may swallow it
    """Raised in the main thread by a stop signal, wherever the run happens to be."""

    def __init__(self, signum: int, why: str) -> None:
        super().__init__(why)
        self.signum = signum
        self.why = why


_orphaned = threading.Event()


def _on_signal(signum: int, _frame: object) -> None:
    why = "the parent process exited" if _orphaned.is_set() else f"{signal.Signals(signum).name} received"
    raise Terminated(signum, why)


def _watch_parent(ppid: int) -> None:
    """Stop when re-parented: a runner killed with SIGKILL must not leave a GPU busy."""
    while not _orphaned.wait(PARENT_POLL_S):
        if os.getppid() != ppid:
            _orphaned.set()
            os.kill(os.getpid(), signal.SIGTERM)


def _die_by(signum: int) -> NoReturn:
    """Exit the way the signal would have ended us, so the parent sees e.g. -15, not 1."""
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    raise SystemExit(128 + signum)  # only reached if the signal is blocked


def main(argv: Sequence[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    # Imported after parsing: these modules are light, torch comes later inside run().
    from xsched_tui.workloads.device import WorkloadError
    from xsched_tui.workloads.emit import Emitter
    from xsched_tui.workloads.run import RunState, run

    em = Emitter.capture_stdout()
    state = RunState()
    for s in _STOP_SIGNALS:
        signal.signal(s, _on_signal)
    if not ns.no_parent_watch and os.getppid() > 1:
        threading.Thread(target=_watch_parent, args=(os.getppid(),), name="parent-watch", daemon=True).start()
    try:
        return run(ns, em, state)
    except Terminated as t:
        _safe_emit(em, f"stopped: {t.why} {state.describe()}")
        _die_by(t.signum)
    except WorkloadError as e:
        _safe_emit(em, str(e))
        return 1
    except (BrokenPipeError, ConnectionResetError):
        return 1  # nobody reads our lines any more
    except Exception as e:
        traceback.print_exc(file=sys.stderr)
        _safe_emit(em, f"{type(e).__name__}: {e} ({state.describe()})")
        return 1


def _safe_emit(em: Any, message: str) -> None:
    try:
        # A second signal while reporting the first must not leave a half-written line.
        for s in _STOP_SIGNALS:
            signal.signal(s, signal.SIG_IGN)
        em.emit("error", message=message)
    except OSError:
        pass
