"""Headlines: the few log events that decide whether XSched is really scheduling. No Textual here.

``headline_for(record, source)`` turns one parsed record into a :class:`Headline` (or None for the
thousands of lines that don't matter); ``headline_for_exit`` does the same for how a launched
process ended ("pid 1291: SIGSEGV"). :class:`HeadlineBook` deduplicates repeats: XSched prints the
same WARN once per stream (``fail to auto-create XQueue (level-4) for HwQueue 0x...``, 128 times
for one PyTorch process), which must be one headline with a count, not 128. Hex handles are
replaced by ``0x…`` before comparing, so lines that differ only in a handle are one headline.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from xsched_tui.core.logparse import (
    AssertionFailed,
    AutoXQueueFailed,
    ClientConnected,
    DriverError,
    Event,
    Kind,
    Level,
    LevelFallback,
    LibraryNotFound,
    LoaderError,
    LogRecord,
    Other,
    PolicyChanged,
    PriorityOverridden,
    SchedulerChosen,
    ServerPolicy,
    XQueueCreated,
    XQueueDestroyed,
)

if TYPE_CHECKING:
    from xsched_tui.core.logsources import SourceInfo
    from xsched_tui.core.runner import ExitStatus

__all__ = [
    "HEADLINE_EVENT_TYPES",
    "Headline",
    "HeadlineBook",
    "describe_event",
    "headline_for",
    "headline_for_exit",
    "new_headline",
]

ERROR, WARNING, INFO = "error", "warning", "info"
_SEVERITY_RANK = {ERROR: 0, WARNING: 1, INFO: 2}
_HEX = re.compile(r"0x[0-9a-fA-F]+")
_MAX_TEXT = 300


@dataclass(frozen=True)
class Headline:
    """One event that matters, for the headline strip.

    ``count`` is how many times the same headline (same source, same text) was seen; ``timestamp``
    is that of the latest one (epoch seconds, None when the line carried no time) and
    ``first_timestamp`` that of the first.
    """

    timestamp: float | None
    source_id: str
    pid: int | None
    severity: str  # "error" | "warning" | "info"
    text: str
    count: int = 1
    first_timestamp: float | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.source_id, self.text)

    @property
    def display(self) -> str:
        """The text with its repeat count, e.g. ``pid 1262: ... (x128)``."""
        return self.text if self.count <= 1 else f"{self.text} (x{self.count})"

    @property
    def rank(self) -> int:
        """0 for errors, 1 for warnings, 2 for info: sort key for the strip."""
        return _SEVERITY_RANK.get(self.severity, 3)


_new = object.__new__
_set = object.__setattr__


def new_headline(timestamp: float | None, source_id: str, pid: int | None, severity: str,
                 text: str, count: int = 1, first_timestamp: float | None = None) -> Headline:
    """``Headline(...)``, equal in every respect (fields, instance dict and its order, hash),
    at half the cost: the frozen dataclass's __init__ makes seven object.__setattr__ calls, this
    sets the instance dict once. The log hub makes one per repeated warning text per batch."""
    h = _new(Headline)
    _set(h, "__dict__", {"timestamp": timestamp, "source_id": source_id, "pid": pid,
                         "severity": severity, "text": text, "count": count,
                         "first_timestamp": first_timestamp})
    return h


def _who(source: SourceInfo) -> str:
    if source.role == "xserver":
        return f"xserver (pid {source.pid})" if source.pid is not None else "xserver"
    if source.pid is not None:
        return f"pid {source.pid}"
    return source.label


def _norm(text: str) -> str:
    text = _HEX.sub("0x…", text.strip())
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def _loader_text(ev: LoaderError, rec: LogRecord) -> tuple[str, str]:
    lib = ev.library or "?"
    if ev.problem == "cannot_preload":
        why = f" ({ev.detail})" if ev.detail else ""
        return ERROR, f"LD_PRELOAD {lib} cannot be preloaded{why}: ignored, XSched is not loaded"
    if ev.problem == "symbol_lookup":
        return ERROR, f"symbol lookup error: {lib}: undefined symbol {ev.detail or '?'}"
    if ev.problem == "version_not_found":
        req = f" (required by {ev.required_by})" if ev.required_by else ""
        return ERROR, f"version '{ev.detail or '?'}' not found in {lib}{req}"
    if ev.problem == "no_version_info":
        req = f" (required by {ev.required_by})" if ev.required_by else ""
        return WARNING, f"{lib}: no version information available{req}: a shim replaced it by soname"
    if ev.problem == "cannot_open":
        return ERROR, f"cannot load {lib}: {ev.detail or 'error while loading shared libraries'}"
    return (ERROR if rec.level is Level.ERRO else WARNING), rec.text


def _event_text(ev: Event, rec: LogRecord) -> tuple[str, str] | None:
    t = type(ev)
    if t is SchedulerChosen:
        if ev.scheduler == "app":
            return ERROR, "using app-managed scheduler — nothing will be scheduled"
        if ev.scheduler == "local":
            return INFO, f"local scheduler, policy {ev.policy or '?'}"
        return INFO, "global scheduler (GLB): connects to xserver (XQueues appear in its log)"
    if t is LoaderError:
        return _loader_text(ev, rec)
    if t is AssertionFailed:
        return ERROR, f"assertion failed: {ev.message} (the process exits)"
    if t is DriverError:
        text = f": {ev.text}" if ev.text else ""
        return ERROR, f"{ev.api} error {ev.code}{text}"
    if t is LevelFallback:
        return WARNING, f"preemption level: {ev.message}"
    if t is AutoXQueueFailed:
        if ev.level is not None:
            err = f", err {ev.err}" if ev.err is not None else ""
            return WARNING, (f"could not auto-create a level-{ev.level} XQueue{err}: "
                             "that stream is not scheduled")
        return WARNING, ev.message
    if t is LibraryNotFound:
        sev = ERROR if rec.level is Level.ERRO else WARNING
        if ev.env_var:
            return sev, f"{ev.env_var} = {ev.path} not found (falling back to a folder search)"
        return sev, f"library {ev.name} not found"
    if t is PriorityOverridden:
        return WARNING, f"priority {ev.requested} outside [{ev.low}, {ev.high}]: overridden to {ev.to}"
    if t is ClientConnected:
        cmd = f": {ev.cmdline.strip()}" if ev.cmdline and ev.cmdline.strip() else ""
        return INFO, f"client process {ev.pid} connected{cmd}"
    if t is ServerPolicy:
        return INFO, f"xserver started with policy {ev.policy}"
    if t is PolicyChanged:
        return INFO, f"policy changed from {ev.old} to {ev.new}"
    return None


# Event classes that can make a headline whatever their level (a pre-filter for hot loops).
HEADLINE_EVENT_TYPES = frozenset({
    SchedulerChosen, LoaderError, AssertionFailed, DriverError, LevelFallback, AutoXQueueFailed,
    LibraryNotFound, PriorityOverridden, ClientConnected, ServerPolicy, PolicyChanged,
})


def headline_for(record: LogRecord, source: SourceInfo) -> Headline | None:
    """A headline for ``record`` when it matters, else None (cheap for ordinary lines)."""
    ev = record.event
    kind = record.kind
    got: tuple[str, str] | None = None
    if ev is not None and type(ev) is not Other:
        got = _event_text(ev, record)
    if got is None:
        lvl = record.level
        if kind is Kind.TRACEBACK:
            got = ERROR, f"Python {record.text or 'traceback'}"
        elif kind is Kind.MIOPEN and lvl is Level.ERRO:
            got = ERROR, record.text
        elif kind is Kind.XSCHED and lvl is Level.ERRO:
            got = ERROR, record.message
        elif kind is Kind.XSCHED and lvl is Level.WARN:
            got = WARNING, record.message
        elif kind is Kind.LOADER:
            got = (ERROR if lvl is Level.ERRO else WARNING), record.text
        else:
            return None
    severity, text = got
    ts = record.timestamp
    return Headline(ts, source.id, source.pid, severity, _norm(f"{_who(source)}: {text}"), 1, ts)


def headline_for_exit(source: SourceInfo, exit_status: ExitStatus) -> Headline | None:
    """How a launched process ended, when that matters: a crash signal ("pid 1291: SIGSEGV"), a
    non-zero exit code, a timeout. None for a clean exit."""
    from xsched_tui.core.runner import signal_name

    who = _who(source)
    sig = exit_status.signal
    if exit_status.timed_out:
        sev, text = WARNING, f"{who}: timed out and was killed"
    elif sig is not None:
        if exit_status.killed_by_us:
            sev, text = INFO, f"{who}: stopped by us ({signal_name(sig)})"
        else:
            sev, text = ERROR, f"{who}: {signal_name(sig)}"
    elif exit_status.returncode not in (0, None):
        sev, text = ERROR, f"{who}: exit code {exit_status.returncode}"
    else:
        return None
    now = time.time()
    return Headline(now, source.id, source.pid, sev, text, 1, now)


class HeadlineBook:
    """Deduplicated headlines, bounded (the oldest are forgotten beyond ``limit``)."""

    def __init__(self, limit: int = 500) -> None:
        self.limit = limit
        self._items: OrderedDict[tuple[str, str], Headline] = OrderedDict()

    def add(self, h: Headline) -> Headline:
        """Record ``h``; returns the stored headline (with its count so far)."""
        old = self._items.get(h.key)
        if old is not None:  # (dataclasses.replace, without its per-call introspection)
            h = new_headline(h.timestamp if h.timestamp is not None else old.timestamp,
                             old.source_id, old.pid, old.severity, old.text, old.count + h.count,
                             old.first_timestamp)
        self._items[h.key] = h
        if len(self._items) > self.limit:
            self._items.popitem(last=False)
        return h

    def all(self) -> list[Headline]:
        """Every headline, errors first, then warnings, then info; newest first within each."""
        items = list(self._items.values())
        items.reverse()
        items.sort(key=lambda h: h.rank)
        return items

    def __len__(self) -> int:
        return len(self._items)


def describe_event(ev: Event | None) -> str | None:
    """A short text for a source's "last event" column, or None for untyped messages."""
    if ev is None or type(ev) is Other:
        return None
    t = type(ev)
    if t is SchedulerChosen:
        name = {"app": "app-managed"}.get(ev.scheduler, ev.scheduler)
        return f"scheduler: {name}" + (f" ({ev.policy})" if ev.policy else "")
    if t is XQueueCreated:
        return f"XQueue {ev.handle:#x} created (pid {ev.pid})"
    if t is XQueueDestroyed:
        return f"XQueue {ev.handle:#x} destroyed (pid {ev.pid})"
    if t is LoaderError:
        return f"loader: {ev.problem.replace('_', ' ')}"
    if t is DriverError:
        return f"{ev.api} error {ev.code}"
    return ev.type.replace("_", " ")
