"""Who is running an experiment in a results folder, and is it still alive?

The process that runs an experiment holds an exclusive ``flock`` on ``<folder>/.running.lock``
for the experiment's whole life; the kernel drops it when that process ends, however it ends
(SIGKILL and OOM included), so no pid file can go stale and no reused pid can fool anyone. The
lock file also says who holds it (pid, host, command line) for the message a second instance
prints. A folder whose result.json still says "running" but whose lock nobody holds was
*interrupted*: its process died before it could write its end.

Two experiments on one GPU skew each other's numbers, so a second instance refuses to start
while another experiment is running under the same results folder (``--allow-concurrent``
overrides); it never writes into another experiment's folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from dataclasses import dataclass

LOCK_NAME = ".running.lock"


class FolderLock:
    """The running experiment's hold on its folder (``release`` at its end)."""

    def __init__(self, folder: str, name: str = "") -> None:
        self.path = os.path.join(folder, LOCK_NAME)
        # O_CLOEXEC (Python's default): a workload that outlives us must not keep the lock
        self.fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self.fd)
            self.fd = None
            raise
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
                 "name": name, "argv": [a[:200] for a in sys.argv[:20]]}
        os.ftruncate(self.fd, 0)
        os.write(self.fd, json.dumps(owner).encode())

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)  # first: a reader that opens it afterwards finds nothing
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self.fd = None


@dataclass(frozen=True)
class Holder:
    folder: str
    pid: int | None
    host: str
    started: float | None
    name: str

    def describe(self) -> str:
        who = f"pid {self.pid}" if self.pid else "a process"
        if self.host and self.host != socket.gethostname():
            who += f" on {self.host}"
        since = ""
        if self.started:
            since = time.strftime(" since %H:%M:%S", time.localtime(self.started))
        return f"{self.name or os.path.basename(self.folder)} ({who}{since}) in {self.folder}"


def holder(folder: str) -> Holder | None:
    """The live process holding ``folder``'s lock, or None (no lock file, or nobody holds it)."""
    path = os.path.join(folder, LOCK_NAME)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # held: alive
        except OSError:
            return None
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None  # nobody holds it: its owner died (the file is left over)
        try:
            raw = os.read(fd, 8192)
            doc = json.loads(raw.decode("utf-8", "replace")) if raw else {}
        except (OSError, ValueError):
            doc = {}
        if not isinstance(doc, dict):
            doc = {}
        pid = doc.get("pid")
        started = doc.get("started")
        return Holder(folder, pid if isinstance(pid, int) else None, str(doc.get("host") or ""),
                      float(started) if isinstance(started, (int, float)) else None,
                      str(doc.get("name") or ""))
    finally:
        os.close(fd)


def state(folder: str, status: str) -> str:
    """result.json's status as it really is: "running" only while its process lives, else
    "interrupted"; other statuses unchanged."""
    if status != "running":
        return status
    return "running" if holder(folder) is not None else "interrupted"


def running_experiments(results_dir: str) -> list[Holder]:
    """Experiments running right now under ``results_dir`` (any process, this one included)."""
    try:
        names = sorted(os.listdir(results_dir))
    except OSError:
        return []
    out = []
    for name in names:
        folder = os.path.join(results_dir, name)
        if os.path.exists(os.path.join(folder, LOCK_NAME)):
            h = holder(folder)
            if h is not None:
                out.append(h)
    return out


def refusal(results_dir: str) -> str | None:
    """Why a new experiment should not start now (another one is running), or None."""
    live = running_experiments(results_dir)
    if not live:
        return None
    return ("another experiment is running: " + "; ".join(h.describe() for h in live[:3])
            + ". Two experiments on one GPU skew each other's numbers: wait for it to finish, "
            "stop it, or pass --allow-concurrent")
