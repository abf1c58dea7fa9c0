"""Immutable process records: what the process collector hands to the TUI, ``ps`` and tests.

Every front-end consumes these (STYLE.md: one collector, many front-ends); ``record_to_json``
is the ``xsched-tui ps --json`` shape, described by docs/ps.schema.json.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from xsched_tui.core.gpuproc import GpuUse

ORIGINS = ("started", "discovered", "child", "xserver", "pinned")
LOG_ONLY = "log"  # ProcRecord.origin of a process known only from logs (a replay, an ended run)


@dataclass(frozen=True)
class LibFile:
    """One mapped XSched library, as it is on disk now."""

    path: str
    size: int | None
    mtime: float | None
    sha: str | None  # short sha256 (12 hex), cached by (dev, inode, size, mtime)
    deleted: bool = False  # removed or replaced on disk after the process mapped it


@dataclass(frozen=True)
class XSchedProcFacts:
    platform: str | None  # from the mapped shim/hal name, else from env
    shim: LibFile | None
    hal: LibFile | None
    preempt: LibFile | None
    runtimes: tuple[str, ...]  # real runtime library paths mapped
    two_runtimes: tuple[str, ...]  # non-empty: two different runtime files of one platform mapped
    env: Mapping[str, str]  # XSCHED_*, XLOG_*, LD_PRELOAD, LD_LIBRARY_PATH, *_VISIBLE_DEVICES
    enable: str | None  # "LD_PRELOAD" | "LD_LIBRARY_PATH" | None: how the shim got in
    scheduler: str | None  # GLB / LCL / APP, effective by XSched's own rules
    policy: str | None
    priority: int | None
    level: int | None
    threshold: int | None
    batch_size: int | None
    utilization: int | None
    auto_xqueue: bool | None  # None: unset (XSched's default is off)
    notes: tuple[str, ...]  # sentences for the user
    maps_error: str | None
    env_error: str | None


@dataclass(frozen=True)
class ProcRecord:
    pid: int
    ppid: int | None
    name: str
    cmdline: tuple[str, ...]
    user: str | None
    origin: str  # one of ORIGINS
    depth: int  # tree depth for indentation
    state: str  # psutil status name, or "exited"
    cpu_percent: float | None  # of one core; None on the first sample
    rss: int | None
    threads: int | None
    started: float | None  # epoch seconds
    age_s: float | None
    exited: bool
    exit_code: int | None
    exit_signal: str | None  # "SIGSEGV"; known for processes the app started (record_exit)
    xsched: XSchedProcFacts | None  # None: no XSched trace at all
    gpu: tuple[GpuUse, ...] | None  # None: no GPU sampler (column hidden, never faked)
    fork_gpu_child: bool  # forked without exec and inherited a mapped GPU runtime
    error: str | None  # e.g. "permission denied: process of user X ..."
    # Added beyond the first interface:
    label: str | None = None  # the name the app gave a process it started (track(label=))
    exit_text: str | None = None  # "killed by SIGSEGV (signal 11)", "exit status unknown ..."
    notes: tuple[str, ...] = ()  # process-level advice (fork child, orphan...)


@dataclass(frozen=True)
class ProcSnapshot:
    taken_at: float  # epoch seconds
    procs: tuple[ProcRecord, ...]  # tree pre-order, roots sorted by pid
    notes: tuple[str, ...]  # e.g. NVML reports PIDs not visible here (container PID namespace)
    gpu_source: str | None  # "nvml" | "amdsmi" | None (column hidden)
    refresh_ms: float
    _index: dict[int, ProcRecord] = field(default_factory=dict, init=False, repr=False,
                                          compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {p.pid: p for p in self.procs})

    def get(self, pid: int) -> ProcRecord | None:
        return self._index.get(pid)


def _plain(v: Any) -> Any:
    if isinstance(v, (LibFile, XSchedProcFacts, GpuUse, ProcRecord)):
        return {f.name: _plain(getattr(v, f.name)) for f in fields(v)}
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    return v


def record_to_json(rec: ProcRecord) -> dict[str, Any]:
    """A JSON-ready dict of one record (docs/ps.schema.json)."""
    return _plain(rec)


def snapshot_to_json(snap: ProcSnapshot) -> dict[str, Any]:
    return {
        "taken_at": snap.taken_at,
        "notes": list(snap.notes),
        "gpu_source": snap.gpu_source,
        "refresh_ms": snap.refresh_ms,
        "procs": [record_to_json(p) for p in snap.procs],
    }


def log_only_record(pid: int, argv: Sequence[str], *, exited: bool = False, exit_code: int | None = None,
                    exit_signal: str | None = None, label: str | None = None) -> ProcRecord:
    """A record for a process known only from its logs (a replay, a run that ended before the
    collector saw it): what the diagnosis and the Processes tab need, every /proc fact unknown."""
    name = os.path.basename(argv[0]) if argv and argv[0] else "?"
    return ProcRecord(
        pid=pid, ppid=None, name=name, cmdline=tuple(argv), user=None, origin=LOG_ONLY, depth=0,
        state="exited" if exited else "logs only", cpu_percent=None, rss=None, threads=None,
        started=None, age_s=None, exited=exited, exit_code=exit_code, exit_signal=exit_signal,
        xsched=None, gpu=None, fork_gpu_child=False, error=None, label=label)
