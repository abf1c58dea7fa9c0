"""Parse the stderr of XSched processes (and what shares it) into typed records.

What it understands (FACTS §1, FIELD-NOTES §3):

* XSched's own XLOG lines in every historic shape: ``[INFO @ T58880 @ 09:05:23.278123] msg``
  (AE … v1.1) and ``[XSCHED INFO @ T 58880 @ ...] msg`` (v1.2+, the level word wrapped in ANSI
  colour on a TTY), with an optional `` @ file:line`` suffix. Known messages become typed events
  (scheduler choice, XQueue lifecycle, priorities, level fallbacks, driver errors, ...).
* glibc loader errors (``cannot be preloaded``, ``symbol lookup error``, ``version `x' not found``,
  ``no version information available``, ``error while loading shared libraries``).
* Python tracebacks, grouped into one record by :class:`LogParser`.
* AMD_LOG_LEVEL trace lines, MIOpen errors, users' own ``[TAG] key=value`` printf lines and
  user-defined regular expressions (:class:`CustomPattern`).

Everything else is a PLAIN record. Parsing never raises: bytes are decoded as UTF-8 with
replacement, NUL and other control bytes are removed, ANSI sequences are stripped, and lines longer
than :data:`MAX_PARSE` characters are cut (and marked ``truncated``), never dropped.

Speed: the hot path (an XSched INFO line) is one precompiled regex match; that same match also
recognises the three most frequent messages (XQueue created/destroyed, set priority, utilization).
Other messages are dispatched on their first word to one small regex each. Records are frozen
slotted dataclasses; the parser builds them through a private fast constructor (a mutable twin
class with the same slot layout whose instances are re-classed), because a frozen dataclass
``__init__`` costs ~2 µs for 17 fields.

This module must not import textual.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from dataclasses import fields as _dc_fields
from enum import Enum
from functools import lru_cache
from itertools import compress, repeat
from operator import attrgetter, is_not
from typing import Any, ClassVar

__all__ = [
    "EVENT_TYPES",
    "MAX_GROUP_LINES",
    "MAX_PARSE",
    "AssertionFailed",
    "AutoXQueueFailed",
    "ClientClosed",
    "ClientConnected",
    "CustomPattern",
    "DriverError",
    "Event",
    "HttpListening",
    "Kind",
    "Level",
    "LevelFallback",
    "LibraryNotFound",
    "LoaderError",
    "LogParser",
    "LogRecord",
    "Other",
    "PolicyChanged",
    "PriorityOverridden",
    "PrioritySet",
    "Result",
    "SchedulerChosen",
    "ServerPolicy",
    "UtilizationSet",
    "XQueueCreated",
    "XQueueDestroyed",
    "event_types",
    "parse_line",
    "parse_lines",
    "parser_impl",
]

MAX_PARSE = 10_000
"""Characters of a line that are parsed and kept; the rest is cut and ``truncated`` is set."""
MAX_GROUP_LINES = 1_000
"""A traceback group longer than this is emitted as it is (memory bound for junk input)."""

_MAX_PARSE_BYTES = MAX_PARSE * 4  # UTF-8: at most 4 bytes per character
_HALF_DAY_US = 12 * 3600 * 1_000_000
_DAY_US = 24 * 3600 * 1_000_000


# --------------------------------------------------------------------------------------------
# Levels and kinds


class Level(str, Enum):
    """XSched's four log levels (XLOG). ``rank`` is XSched's number: 0 = ERRO (most severe)."""

    ERRO = "ERRO"
    WARN = "WARN"
    INFO = "INFO"
    DEBG = "DEBG"

    @property
    def rank(self) -> int:
        """0 ERRO, 1 WARN, 2 INFO, 3 DEBG: a record passes a threshold T when ``rank <= T.rank``."""
        return _LEVEL_RANK[self]

    def at_least(self, threshold: Level) -> bool:
        """True when this level is as severe as ``threshold`` or more (ERRO.at_least(WARN))."""
        return _LEVEL_RANK[self] <= _LEVEL_RANK[threshold]

    @classmethod
    def from_str(cls, name: str | None) -> Level | None:
        """Lenient name lookup: ``erro``/``error``/``e``, ``warn``/``warning``/``w``, ``info``/``i``,
        ``debg``/``debug``/``d`` (any case). None for anything else."""
        if not name:
            return None
        return _LEVEL_ALIASES.get(name.strip().upper())


_LEVEL_RANK = {Level.ERRO: 0, Level.WARN: 1, Level.INFO: 2, Level.DEBG: 3}
_LEVEL_ALIASES = {
    "ERRO": Level.ERRO, "ERROR": Level.ERRO, "ERR": Level.ERRO, "E": Level.ERRO, "FATAL": Level.ERRO,
    "WARN": Level.WARN, "WARNING": Level.WARN, "W": Level.WARN,
    "INFO": Level.INFO, "I": Level.INFO,
    "DEBG": Level.DEBG, "DEBUG": Level.DEBG, "D": Level.DEBG,
}
# Bare bracket tags of users' printf lines that carry a level ([WARN] ..., [ERRO] ...).
_TAG_LEVELS = {
    "ERRO": Level.ERRO, "ERROR": Level.ERRO, "WARN": Level.WARN, "WARNING": Level.WARN,
    "INFO": Level.INFO, "DEBG": Level.DEBG, "DEBUG": Level.DEBG,
}
_XLEVEL = {"ERRO": Level.ERRO, "WARN": Level.WARN, "INFO": Level.INFO, "DEBG": Level.DEBG}


class Kind(str, Enum):
    """What produced a line."""

    XSCHED = "XSCHED"  # XSched's own XLOG line
    LOADER = "LOADER"  # glibc ld.so error
    TRACEBACK = "TRACEBACK"  # a whole Python traceback (LogParser groups it)
    HIP_TRACE = "HIP_TRACE"  # AMD_LOG_LEVEL trace line
    MIOPEN = "MIOPEN"  # MIOpen error / log line
    USER_TAG = "USER_TAG"  # a user's own [TAG] printf line
    CUSTOM = "CUSTOM"  # matched a user-defined CustomPattern
    PLAIN = "PLAIN"  # anything else


# Hot-path aliases (a module global is cheaper to load than an Enum class attribute).
_K_XSCHED = Kind.XSCHED
_K_TRACEBACK = Kind.TRACEBACK
_L_INFO = Level.INFO
_L_DEBG = Level.DEBG


# --------------------------------------------------------------------------------------------
# Fast construction of frozen slotted dataclasses


def _fast_new(cls: type) -> Callable[..., Any]:
    """A positional constructor for frozen slotted dataclass ``cls`` that skips the frozen
    ``__setattr__`` calls: a mutable twin with the same ``__slots__`` (hence the same layout) fills
    the slots, then the object is re-classed to ``cls``. Arguments in field order, all required."""
    names = tuple(f.name for f in _dc_fields(cls))
    assert tuple(cls.__slots__) == names, cls  # same layout, or __class__ assignment fails
    body = "".join(f"    self.{n} = {n}\n" for n in names)
    src = f"def __init__(self, {', '.join(names)}):\n{body}    self.__class__ = _cls\n"
    ns: dict[str, Any] = {"_cls": cls}
    exec(src, ns)  # generated code only: field names of our own dataclasses
    # Same bases (Event has empty __slots__ and no __setattr__), so the layouts match exactly.
    return type(f"_Mutable{cls.__name__}", cls.__bases__, {"__slots__": names, "__init__": ns["__init__"]})


# --------------------------------------------------------------------------------------------
# Events


def _jsonable(v: Any) -> Any:
    if isinstance(v, Enum):
        return v.value
    if isinstance(v, tuple):
        if v and all(isinstance(p, tuple) and len(p) == 2 for p in v):
            return {str(k): _jsonable(x) for k, x in v}
        return [_jsonable(x) for x in v]
    return v


class Event:
    """Base of the typed events found in XSched messages and loader errors.

    Each subclass has a class-level ``type`` name used in JSON (``{"type": "xqueue_created", ...}``).
    """

    __slots__ = ()
    type: ClassVar[str] = "event"

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type}
        for f in _dc_fields(self):  # type: ignore[arg-type]
            d[f.name] = _jsonable(getattr(self, f.name))
        return d


@dataclass(frozen=True, slots=True)
class SchedulerChosen(Event):
    """``using app-managed scheduler`` / ``using local scheduler with policy X`` /
    ``using global scheduler``. scheduler is "app", "local" or "global"."""

    type: ClassVar[str] = "scheduler_chosen"
    scheduler: str
    policy: str | None = None


@dataclass(frozen=True, slots=True)
class PolicyChanged(Event):
    """``policy changed from X to Y``."""

    type: ClassVar[str] = "policy_changed"
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class XQueueCreated(Event):
    """``XQueue (0x..) from process N created`` (AE/v1.0: ``(N)``). Logged by the LocalScheduler's
    process: the app itself (local policy) or xserver (GLB)."""

    type: ClassVar[str] = "xqueue_created"
    handle: int
    pid: int


@dataclass(frozen=True, slots=True)
class XQueueDestroyed(Event):
    """``XQueue (0x..) from process N destroyed``."""

    type: ClassVar[str] = "xqueue_destroyed"
    handle: int
    pid: int


@dataclass(frozen=True, slots=True)
class PrioritySet(Event):
    """``set priority P for XQueue 0x..`` (HPF/HHPF), ``CFS: set priority P (weight ..) for XQueue``,
    and MLFQ promotion/demotion ``... for 0x.. to P``."""

    type: ClassVar[str] = "priority_set"
    priority: int
    handle: int


@dataclass(frozen=True, slots=True)
class PriorityOverridden(Event):
    """``priority P not in range [L, H], overide priority for XQueue 0x.. to T`` (sic)."""

    type: ClassVar[str] = "priority_overridden"
    requested: int
    low: int
    high: int
    handle: int
    to: int


@dataclass(frozen=True, slots=True)
class UtilizationSet(Event):
    """``utilization of process N set to U`` (PUP)."""

    type: ClassVar[str] = "utilization_set"
    pid: int
    utilization: int


@dataclass(frozen=True, slots=True)
class ClientConnected(Event):
    """xserver: ``client process N connected[, cmdline: ...]``; cmdline is verbatim (v1.2 leaves a
    trailing space) and None before v1.2."""

    type: ClassVar[str] = "client_connected"
    pid: int
    cmdline: str | None = None


@dataclass(frozen=True, slots=True)
class ClientClosed(Event):
    """xserver: ``client process N closed``."""

    type: ClassVar[str] = "client_closed"
    pid: int


@dataclass(frozen=True, slots=True)
class ServerPolicy(Event):
    """xserver: ``scheduler created with policy X``."""

    type: ClassVar[str] = "server_policy"
    policy: str


@dataclass(frozen=True, slots=True)
class HttpListening(Event):
    """xserver: ``HTTP server listening on port N``."""

    type: ClassVar[str] = "http_listening"
    port: int


@dataclass(frozen=True, slots=True)
class LevelFallback(Event):
    """A preemption level was refused, lowered or could not be changed (FACTS §1.2 "level fallback /
    unsupported"). requested/supported are the levels when the message names them."""

    type: ClassVar[str] = "level_fallback"
    message: str
    requested: int | None = None
    supported: int | None = None


@dataclass(frozen=True, slots=True)
class AutoXQueueFailed(Event):
    """XSCHED_AUTO_XQUEUE could not create (or configure) an XQueue / HwQueue."""

    type: ClassVar[str] = "auto_xqueue_failed"
    level: int | None
    hwqueue: int | None
    err: int | None
    message: str


@dataclass(frozen=True, slots=True)
class LibraryNotFound(Event):
    """``lib X not found``, ``lib set by env VAR = PATH not found, fallback to dir search``,
    ``fail to dlopen PATH for dlsym``."""

    type: ClassVar[str] = "library_not_found"
    name: str
    env_var: str | None = None
    path: str | None = None


@dataclass(frozen=True, slots=True)
class AssertionFailed(Event):
    """``Assertion failed: ...`` (XASSERT: fatal, the process exits with code 1)."""

    type: ClassVar[str] = "assertion_failed"
    message: str


@dataclass(frozen=True, slots=True)
class DriverError(Event):
    """``cuda error 700: ...``, ``hip error 709: ...``, ``levelzero error 0x..``, ... (fatal).
    api is one of cuda, hip, cupti, acl, levelzero, opencl, vpi, cudla, corex."""

    type: ClassVar[str] = "driver_error"
    api: str
    code: int
    text: str


@dataclass(frozen=True, slots=True)
class LoaderError(Event):
    """A glibc loader complaint. problem: cannot_preload, symbol_lookup, version_not_found,
    no_version_info (a warning, not fatal) or cannot_open. detail: the symbol (``sym@version`` when
    glibc names one), the version node, or the loader's reason text."""

    type: ClassVar[str] = "loader_error"
    problem: str
    library: str | None = None
    detail: str | None = None
    required_by: str | None = None
    program: str | None = None


@dataclass(frozen=True, slots=True)
class Result(Event):
    """``[RESULT] fg throughput 30.70 reqs/s, latency avg ... p99 7400.33 us`` (artifacts): the
    numbers as (name, value-string) pairs, in order."""

    type: ClassVar[str] = "result"
    fields: tuple[tuple[str, str], ...]
    text: str = ""


@dataclass(frozen=True, slots=True)
class Other(Event):
    """An XSched message this parser does not model."""

    type: ClassVar[str] = "other"
    message: str


EVENT_TYPES: dict[str, type[Event]] = {
    c.type: c
    for c in (
        SchedulerChosen, PolicyChanged, XQueueCreated, XQueueDestroyed, PrioritySet,
        PriorityOverridden, UtilizationSet, ClientConnected, ClientClosed, ServerPolicy,
        HttpListening, LevelFallback, AutoXQueueFailed, LibraryNotFound, AssertionFailed,
        DriverError, LoaderError, Result, Other,
    )
}

_new_created = _fast_new(XQueueCreated)
_new_destroyed = _fast_new(XQueueDestroyed)
_new_prio = _fast_new(PrioritySet)
_new_util = _fast_new(UtilizationSet)
_new_other = _fast_new(Other)


# --------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One parsed line (or one grouped traceback).

    text: the line with CR, NUL/control bytes and ANSI codes removed, at most MAX_PARSE chars (for a
    traceback: its final ``SomeError: msg`` line). message: for XSched lines the text after the
    prefix with the `` @ file:line`` suffix split off into src_file/src_line; for tag lines the text
    after the tag; otherwise the text. tod_us: microseconds since local midnight (XSched stamp);
    timestamp: epoch seconds once LogParser attached a date. raw_len: len() of the line as passed
    (bytes or characters, terminator included). lines: a traceback's lines, else empty.
    """

    kind: Kind
    text: str
    level: Level | None = None
    tid: int | None = None
    tod_us: int | None = None
    message: str = ""
    src_file: str | None = None
    src_line: int | None = None
    event: Event | None = None
    tag: str | None = None
    fields: tuple[tuple[str, str], ...] = ()
    lines: tuple[str, ...] = ()
    raw_len: int = 0
    truncated: bool = False
    lineno: int | None = None
    timestamp: float | None = None
    ansi: bool = False

    def get_field(self, name: str, default: str | None = None) -> str | None:
        """The value of the first field called ``name``."""
        for k, v in self.fields:
            if k == name:
                return v
        return default

    @property
    def time_text(self) -> str | None:
        """``HH:MM:SS.uuuuuu`` of tod_us (as XSched printed it), or None."""
        t = self.tod_us
        if t is None:
            return None
        s, us = divmod(t, 1_000_000)
        m, s = divmod(s, 60)
        h, m = divmod(m, 60)
        return f"{h:02d}:{m:02d}:{s:02d}.{us:06d}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict with stable keys; fields become an object, the event a dict with "type"."""
        return {
            "kind": self.kind.value,
            "lineno": self.lineno,
            "level": self.level.value if self.level is not None else None,
            "tid": self.tid,
            "tod_us": self.tod_us,
            "timestamp": self.timestamp,
            "text": self.text,
            "message": self.message,
            "src_file": self.src_file,
            "src_line": self.src_line,
            "tag": self.tag,
            "fields": {k: v for k, v in self.fields},
            "event": self.event.to_json() if self.event is not None else None,
            "lines": list(self.lines),
            "raw_len": self.raw_len,
            "truncated": self.truncated,
            "ansi": self.ansi,
        }


_new_record = _fast_new(LogRecord)
_LAZY_FIELDS = ("message", "src_file", "src_line", "event")
# LogRecord's own slot descriptors of those fields: they store a lazy record's values.
_LAZY_SLOTS = tuple(LogRecord.__dict__[name] for name in _LAZY_FIELDS)


class _LazyField:
    """A field of :class:`_LazyRecord` not computed yet: reading it fills the record. (A descriptor
    per lazy field rather than ``__getattr__``: a class with ``__getattr__`` reads every attribute
    through a slow Python-level hook, ~4x the cost of a slot read, and consumers read ``level`` or
    ``timestamp`` of every line.)"""

    __slots__ = ("name", "slot")

    def __init__(self, name: str) -> None:
        self.name = name
        self.slot = LogRecord.__dict__[name]

    def __get__(self, obj: Any, cls: Any = None) -> Any:
        if obj is None:
            return self
        _fill(obj)
        return self.slot.__get__(obj, cls)

    def __set__(self, obj: Any, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {self.name!r}")


class _LazyRecord(LogRecord):
    """A LogRecord whose message, src_file, src_line and event are not computed yet.

    The live tail (``LogParser(lazy=True)``, what the LogHub uses) makes these for XSched INFO and
    DEBG lines whose message is not one this parser models (its first word is no key of the
    event dispatcher), so their event can only be :class:`Other`: at 100k lines/s nearly every line,
    and nearly none of them is ever drawn, searched or exported. Everything a live consumer looks
    at per line (kind, text, level, tid, tod_us, timestamp, lineno, raw_len, ...) is set at once.
    Reading a missing field runs the general parse of the line (:func:`_xsched`, the path
    :func:`parse_line` takes) and turns the object into a plain LogRecord in place: the record is
    then the one the eager parser makes, field for field (tests prove it on every sample line).
    Equality, hashing, repr, pickling and copying fill it first. Use :func:`event_types` for a
    batch's event types without filling anything.
    """

    __slots__ = ()
    message = _LazyField("message")
    src_file = _LazyField("src_file")
    src_line = _LazyField("src_line")
    event = _LazyField("event")

    def __eq__(self, other: object) -> bool:
        _fill(self)
        return self == other  # a LogRecord now (fills `other` too when it is lazy)

    def __hash__(self) -> int:
        _fill(self)
        return hash(self)

    def __repr__(self) -> str:
        _fill(self)
        return repr(self)

    def __reduce_ex__(self, protocol: Any) -> Any:  # pickle, copy: a plain LogRecord
        _fill(self)
        return self.__reduce_ex__(protocol)


def _fill(rec: LogRecord) -> None:
    """Compute a lazy record's message, source suffix and event; make it a LogRecord."""
    if type(rec) is not _LazyRecord:
        return
    s = rec.text
    m = _prefix_match(s)
    if m is None:  # cannot happen (_HOT matched it); keep the record sane anyway
        values: tuple[Any, ...] = (s, None, None, Other(s))
    else:
        full = _xsched(m, s, 0, False, None, False, (), None)
        values = (full.message, full.src_file, full.src_line, full.event)
    for slot, v in zip(_LAZY_SLOTS, values, strict=True):
        slot.__set__(rec, v)
    object.__setattr__(rec, "__class__", LogRecord)


_get_event = attrgetter("event")


def event_types(recs: Sequence[LogRecord]) -> list[type]:
    """``type(r.event)`` of every record, without filling lazy records (their event is Other).
    C-level passes; the Python loop runs only over the non-lazy records of a mixed batch."""
    classes = list(map(type, recs))
    k = classes.count(_LazyRecord)
    if not k:
        return list(map(type, map(_get_event, recs)))
    n = len(recs)
    out: list[type] = [Other] * n
    if k != n:
        pos = list(compress(range(n), map(is_not, classes, repeat(_LazyRecord))))
        for i, t in zip(pos, map(type, map(_get_event, map(recs.__getitem__, pos))), strict=True):
            out[i] = t
    return out


# --------------------------------------------------------------------------------------------
# Custom patterns


@dataclass(frozen=True)
class CustomPattern:
    """A user-defined line pattern (Python ``re`` syntax, searched anywhere in the cleaned line).

    Named groups become the record's fields. Special group names: ``level`` (ERRO/WARN/INFO/DEBG,
    error/warning/...) sets the level when ``level`` is not given here; ``message``/``msg`` sets the
    message. Lines from XSched itself keep kind XSCHED; a match there only adds fields and the tag.
    """

    name: str
    regex: str
    level: Level | None = None

    def __post_init__(self) -> None:
        lv = self.level
        if lv is not None and not isinstance(lv, Level):
            norm = Level.from_str(str(lv))
            if norm is None:
                raise ValueError(
                    f"custom pattern {self.name!r}: unknown level {lv!r} (use ERRO, WARN, INFO or DEBG)"
                )
            object.__setattr__(self, "level", norm)

    def compile(self) -> re.Pattern[str]:
        """The compiled regex; ValueError with a readable sentence when it is invalid."""
        return _compile_pattern(self.name, self.regex)


@lru_cache(maxsize=256)
def _compile_pattern(name: str, regex: str) -> re.Pattern[str]:
    if not isinstance(regex, str) or regex == "":
        raise ValueError(f"custom pattern {name!r}: the regular expression is empty")
    try:
        return re.compile(regex)
    except re.error as e:
        where = f" at position {e.pos}" if e.pos is not None else ""
        raise ValueError(
            f"custom pattern {name!r}: invalid regular expression {regex!r}: {e.msg}{where}"
        ) from None
    except (TypeError, ValueError, RecursionError, OverflowError) as e:
        raise ValueError(f"custom pattern {name!r}: invalid regular expression {regex!r}: {e}") from None


_Compiled = tuple[tuple[CustomPattern, "re.Pattern[str]"], ...]


@lru_cache(maxsize=64)
def _compile_all(patterns: tuple[CustomPattern, ...]) -> _Compiled:
    return tuple((p, p.compile()) for p in patterns)


def _prepare(patterns: Sequence[CustomPattern] | None) -> _Compiled:
    if not patterns:
        return ()
    pats = tuple(patterns)
    try:
        return _compile_all(pats)
    except TypeError:  # unhashable user subclass: compile without the cache
        return tuple((p, p.compile()) for p in pats)


# --------------------------------------------------------------------------------------------
# Regexes

# XSched prefix, every version (ANSI removed beforehand). Microseconds are %06ld; accept 1-9 digits.
# Groups 1-4: level, tid, HH:MM:SS, sub-second digits. The optional lookahead then recognises the three
# messages that make up nearly all of a busy log (XQueue created/destroyed, set priority, utilization)
# in the same C pass (groups 5-11, told apart by ``lastindex``); m.end() is the message start either way.
# They are the exact patterns of _M_XQ, _M_SETPRIO and _M_UTIL, anchored at the end of the line.
_PREFIX = re.compile(
    r"\[(?:XSCHED )?(ERRO|WARN|INFO|DEBG) @ T ?(\d+) @ (\d\d:\d\d:\d\d)\.(\d{1,9})\] ?"
    r"(?:(?=XQueue \((?:0x)?([0-9a-fA-F]+)\) from process \(?(\d+)\)? (?:(c)reated|destroyed)$"  # 5-7
    r"|set priority (-?\d+) for XQueue (?:0x)?([0-9a-fA-F]+)$"  # 8-9
    r"|utilization of process \(?(\d+)\)? set to (-?\d+)$)|)"  # 10-11
)
_prefix_match = _PREFIX.match
# The same match for LogParser's hot loop, which only ever sees clean ASCII lines (so re.ASCII
# changes nothing; "(?:X|)" is just faster than "(?:X)?" in re). Group 1 is the whole head before
# the sub-second digits (level, tid and second: shared by many lines, so parsed once, into _HEADS),
# 2 the digits, 3-9 the three frequent messages (lastindex 5 created, 4 destroyed, 7 set priority,
# 9 utilization) and otherwise 10 the message's first word (lastindex 10: the _DISPATCH key).
_HOT = re.compile(
    r"\[((?:XSCHED |)(?:ERRO|WARN|INFO|DEBG) @ T ?\d+ @ \d\d:\d\d:\d\d)\.(\d{1,9})\] ?"
    r"(?:(?=XQueue \((?:0x|)([0-9a-fA-F]+)\) from process \(?(\d+)\)? (?:(c)reated|destroyed)$"  # 3-5
    r"|set priority (-?\d+) for XQueue (?:0x|)([0-9a-fA-F]+)$"  # 6-7
    r"|utilization of process \(?(\d+)\)? set to (-?\d+)$)|(?=([^ ]*)))",  # 8-9 | 10
    re.ASCII,
)
_hot_match = _HOT.match
_HEAD = re.compile(r"(?:XSCHED )?(ERRO|WARN|INFO|DEBG) @ T ?(\d+) @ (\d\d:\d\d:\d\d)")
_HEADS: dict[str, tuple[Level, int, int]] = {}  # head -> (level, tid, microseconds of the second)


def _head(head: str) -> tuple[Level, int, int]:
    """Parse (and remember) a head captured by _HOT's group 1 (so _HEAD matches it)."""
    lvl, tid, hms = _HEAD.fullmatch(head).groups()  # type: ignore[union-attr]
    v = (_XLEVEL[lvl], int(tid), _hms_us(hms))
    if len(_HEADS) >= 4096:
        _HEADS.clear()
    _HEADS[head] = v
    return v


# message text (after the prefix) -> (message, src_file, src_line, event, fields) for XSched
# lines the hot loop parses in full (warnings, errors, dispatched messages): a busy log repeats the
# same warning thousands of times, and splitting its suffix and running its handler cost ~4 us.
# Events are frozen, so records may share them. Bounded: cleared when full.
_MSG_CACHE: dict[str, tuple[str, str | None, int | None, Event, tuple[tuple[str, str], ...]]] = {}
_MSG_CACHE_MAX = 4096
_CHUNK_LINES = 4096  # feed_many works on at most this many lines at a time (bounded temporaries)
# bytes.translate table: printable ASCII and "\n" map to themselves, every other byte to 0x80, so
# that ``.isascii()`` of the result says "clean" (no control, DEL, ANSI escape, CR, tab or non-ASCII).
_UNCLEAN_TO_HIGH = bytes(b if 0x20 <= b < 0x7F or b == 0x0A else 0x80 for b in range(256))
_UNCLEAN_LINE = _UNCLEAN_TO_HIGH.replace(b"\n", b"\x80")  # the same for one line: "\n" is unclean
_HMS_US: dict[str, int] = {}  # "HH:MM:SS" -> microseconds since midnight (many lines share a second)


def _hms_us(hms: str) -> int:
    v = ((int(hms[0:2]) * 60 + int(hms[3:5])) * 60 + int(hms[6:8])) * 1_000_000
    if len(_HMS_US) >= 4096:
        _HMS_US.clear()
    _HMS_US[hms] = v
    return v
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -/]*[0-~]|$)")
_CTRL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")
_TAG = re.compile(r"\[([A-Za-z][\w.\-]{0,47}(?: [\w.\-]{1,16}){0,3})\](?::)?(?: +|$)")
_KV = re.compile(r"(?<![\w.\-=])([A-Za-z_][\w.\-]*)=(?!=)(\([^()\s]*\)|[^\s,;()\[\]]+)")
_HIP = re.compile(r":(\d):(\S+?)\s*:\s*(\d+)\s*:\s*(\d+) us:\s*(.*)")
_HIP_LEVELS = {"1": Level.ERRO, "2": Level.WARN, "3": Level.INFO}
_HIP_RET = re.compile(r"(\w+): Returned (\w+)")
_MIOPEN_ERR = re.compile(r"MIOpen Error: (.+?):(\d+): (.*)")
_MIOPEN_LOG = re.compile(r"MIOpen(?:\([^)]*\))?: (Error|Warning|Info\w*|Trace|Debug\w*)\b")
_EXC_LINE = re.compile(r"[A-Za-z_][\w.]*(?::|$)")
_TB_FILE = re.compile(r'\s*File "(.+)", line (\d+)')

_L_PRELOAD = re.compile(
    r"ERROR: ld\.so: object '(.*)' from (\S+) cannot be preloaded(?: \((.*)\))?: ignored\.?"
)
_L_SYMBOL = re.compile(
    r"(?:(.*?): )??symbol lookup error: (.+?): undefined symbol: ([^\s,]+)(?:, version (\S+))?"
)
_L_VERSION = re.compile(
    r"(?:([^:\s]+): )?([^:\s]+): version [`'‘]([^'’]*)['’] not found(?: \(required by (.+)\))?"
)
_L_NOVERSION = re.compile(
    r"(?:([^:\s]+): )?([^:\s]+): no version information available(?: \(required by (.+)\))?"
)
_L_CANNOT_OPEN = re.compile(r"(?:(.*?): )?error while loading shared libraries: ([^:]+): (.*)")

# XSched messages.
_HEX = r"(?:0x)?([0-9a-fA-F]+)"
_M_XQ = re.compile(r"XQueue \(" + _HEX + r"\) from process \(?(\d+)\)? (created|destroyed)")
_M_SETPRIO = re.compile(r"set priority (-?\d+) for XQueue " + _HEX)
_M_CFS = re.compile(r"CFS: set priority (-?\d+) \([^)]*\) for XQueue " + _HEX)
_M_MLFQ = re.compile(r"MLFQ: .* for " + _HEX + r" to (-?\d+)")
_M_OVERRIDE = re.compile(
    r"priority (-?\d+) not in range \[(-?\d+), ?(-?\d+)\], overr?ide priority for XQueue "
    + _HEX + r" to (-?\d+)"
)
_M_UTIL = re.compile(r"utilization of process \(?(\d+)\)? set to (-?\d+)")
_M_CLIENT = re.compile(r"client process \(?(\d+)\)? (connected|closed)(?:, cmdline: ?(.*))?", re.S)
_M_POLICY_CHANGED = re.compile(r"policy changed from (\S+) to (\S+)")
_M_USING = re.compile(r"using (app-managed|local|global) scheduler(?: with policy (\S+))?")
_M_SERVER_POLICY = re.compile(r"scheduler created with policy (\S+)")
_M_HTTP = re.compile(r"HTTP server listening on port (\d+)")
_M_LEVEL_UNSUP = re.compile(
    r"preempt level (-?\d+) is not supported by the HwQueue, max supported level is (-?\d+)"
)
_M_GRAPH = re.compile(
    r"CUDA graph cannot support (?:trap-based )?level-(\d+) preemption, falling back to level-(\d+)"
)
_M_SETLEVEL = re.compile(r"XQueueSetPreemptLevel failed, xq: \S+, level: (-?\d+)")
_M_AUTO_XQ = re.compile(
    r"fail to auto-create XQueue \(level-(-?\d+)\) for HwQueue " + _HEX + r"(?:, err: (-?\d+))?"
)
_M_AUTO_HWQ = re.compile(r"fail to auto-create HwQueue(?:, err: (-?\d+))?")
_M_AUTO_SET = re.compile(r"fail to auto-set .*?(?:, err: (-?\d+))?$")
_M_HWQ = re.compile(r"HwQueue (?:\(|with handle )" + _HEX)
_M_FAIL_HWQ = re.compile(r"Fail to create HwQueue with handle " + _HEX)
_M_LIB_ENV = re.compile(r"lib set by env (\S+) = (.*) not found, fallback to dir search")
_M_LIB = re.compile(r"lib (.+) not found$")
_M_DLOPEN = re.compile(r"fail to dlopen (.*) for dlsym")
_M_DRIVER = re.compile(
    r"(cuda|cupti|hip|acl|levelzero|opencl|vpi|cudla|corex driver|corex) error "
    r"(-?0x[0-9a-fA-F]+|-?\d+)(?:\(([^)]*)\))?(?::\s?(.*))?$",
    re.S,
)
_M_RESULT_KV = re.compile(r"([A-Za-z_]\w*)(?:\s*[=:]\s*|\s+)(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)")


# --------------------------------------------------------------------------------------------
# XSched message -> event


def _h_xqueue(msg: str) -> Event | None:
    m = _M_XQ.match(msg)
    if m is not None:
        h, pid, what = m.groups()
        if what == "created":
            return _new_created(int(h, 16), int(pid))
        return _new_destroyed(int(h, 16), int(pid))
    if msg.startswith("XQueue with handle") and "dynamic level" in msg:
        return LevelFallback(msg)
    return None


def _h_set(msg: str) -> Event | None:
    m = _M_SETPRIO.match(msg)
    if m is None:
        return None
    prio, h = m.groups()
    return _new_prio(int(prio), int(h, 16))


def _h_cfs(msg: str) -> Event | None:
    m = _M_CFS.match(msg)
    return PrioritySet(int(m.group(1)), int(m.group(2), 16)) if m else None


def _h_mlfq(msg: str) -> Event | None:
    m = _M_MLFQ.match(msg)
    return PrioritySet(int(m.group(2)), int(m.group(1), 16)) if m else None


def _h_priority(msg: str) -> Event | None:
    m = _M_OVERRIDE.match(msg)
    if m is None:
        return None
    r, lo, hi, h, to = m.groups()
    return PriorityOverridden(int(r), int(lo), int(hi), int(h, 16), int(to))


def _h_util(msg: str) -> Event | None:
    m = _M_UTIL.match(msg)
    if m is None:
        return None
    pid, util = m.groups()
    return _new_util(int(pid), int(util))


def _h_client(msg: str) -> Event | None:
    m = _M_CLIENT.match(msg)
    if m is None:
        return None
    pid, what, cmd = m.groups()
    if what == "connected":
        return ClientConnected(int(pid), cmd)
    return ClientClosed(int(pid))


def _h_policy(msg: str) -> Event | None:
    m = _M_POLICY_CHANGED.match(msg)
    return PolicyChanged(m.group(1), m.group(2)) if m else None


_SCHED_NAMES = {"app-managed": "app", "local": "local", "global": "global"}


def _h_using(msg: str) -> Event | None:
    m = _M_USING.match(msg)
    if m is None:
        return None
    return SchedulerChosen(_SCHED_NAMES[m.group(1)], m.group(2))


def _h_scheduler(msg: str) -> Event | None:
    m = _M_SERVER_POLICY.match(msg)
    return ServerPolicy(m.group(1)) if m else None


def _h_http(msg: str) -> Event | None:
    m = _M_HTTP.match(msg)
    return HttpListening(int(m.group(1))) if m else None


def _h_preempt(msg: str) -> Event | None:
    m = _M_LEVEL_UNSUP.match(msg)
    return LevelFallback(msg, int(m.group(1)), int(m.group(2))) if m else None


def _h_cuda_graph(msg: str) -> Event | None:
    m = _M_GRAPH.match(msg)
    return LevelFallback(msg, int(m.group(1)), int(m.group(2))) if m else None


def _h_unknown(msg: str) -> Event | None:
    if msg.startswith("unknown CUDA Level-3 implementation"):
        return LevelFallback(msg)
    return None


def _h_setlevel(msg: str) -> Event | None:
    m = _M_SETLEVEL.match(msg)
    return LevelFallback(msg, int(m.group(1)), None) if m else LevelFallback(msg)


def _h_setthreshold(msg: str) -> Event | None:
    return LevelFallback(msg) if msg.startswith("XQueueSetThreshold failed") else None


def _int_or_none(s: str | None, base: int = 10) -> int | None:
    return int(s, base) if s is not None else None


def _h_fail(msg: str) -> Event | None:
    m = _M_AUTO_XQ.match(msg)
    if m is not None:
        return AutoXQueueFailed(int(m.group(1)), int(m.group(2), 16), _int_or_none(m.group(3)), msg)
    m = _M_AUTO_HWQ.match(msg)
    if m is not None:
        return AutoXQueueFailed(None, None, _int_or_none(m.group(1)), msg)
    if msg.startswith("fail to auto-"):
        m = _M_AUTO_SET.match(msg)
        return AutoXQueueFailed(None, None, _int_or_none(m.group(1)) if m else None, msg)
    m = _M_DLOPEN.match(msg)
    if m is not None:
        path = m.group(1)
        return LibraryNotFound(os.path.basename(path) or path, None, path or None)
    return None


def _h_hwqueue(msg: str) -> Event | None:
    m = _M_HWQ.match(msg)
    if m is not None and ("already" in msg):
        return AutoXQueueFailed(None, int(m.group(1), 16), None, msg)
    return None


def _h_fail_cap(msg: str) -> Event | None:
    m = _M_FAIL_HWQ.match(msg)
    return AutoXQueueFailed(None, int(m.group(1), 16), None, msg) if m else None


def _h_queue_create(msg: str) -> Event | None:
    if "QueueCreate failed" in msg:
        return AutoXQueueFailed(None, None, None, msg)
    return None


def _h_lib(msg: str) -> Event | None:
    m = _M_LIB_ENV.match(msg)
    if m is not None:
        var, path = m.groups()
        return LibraryNotFound(os.path.basename(path) or path, var, path)
    m = _M_LIB.match(msg)
    return LibraryNotFound(m.group(1)) if m else None


def _h_assert(msg: str) -> Event | None:
    if msg.startswith("Assertion failed:"):
        return AssertionFailed(msg[17:].strip())
    return None


def _h_driver(msg: str) -> Event | None:
    m = _M_DRIVER.match(msg)
    if m is None:
        return None
    api, code, paren, text = m.groups()
    if api.startswith("corex"):
        api = "corex"
    try:
        c = int(code, 0) if "x" in code else int(code)
    except ValueError:
        return None
    text = (text or "").strip()
    if paren:
        text = f"{paren}: {text}" if text else paren
    return DriverError(api, c, text)


def _h_result(msg: str) -> Event | None:
    if not msg.startswith("[RESULT]"):
        return None
    body = msg[8:].strip()
    return Result(tuple(_M_RESULT_KV.findall(body)), body)


_DISPATCH: dict[str, Callable[[str], Event | None]] = {
    "XQueue": _h_xqueue,
    "set": _h_set,
    "CFS:": _h_cfs,
    "MLFQ:": _h_mlfq,
    "priority": _h_priority,
    "utilization": _h_util,
    "client": _h_client,
    "policy": _h_policy,
    "using": _h_using,
    "scheduler": _h_scheduler,
    "HTTP": _h_http,
    "preempt": _h_preempt,
    "CUDA": _h_cuda_graph,
    "unknown": _h_unknown,
    "XQueueSetPreemptLevel": _h_setlevel,
    "XQueueSetThreshold": _h_setthreshold,
    "fail": _h_fail,
    "Fail": _h_fail_cap,
    "HwQueue": _h_hwqueue,
    "CudaQueueCreate": _h_queue_create,
    "HipQueueCreate": _h_queue_create,
    "CorexQueueCreate": _h_queue_create,
    "lib": _h_lib,
    "Assertion": _h_assert,
    "cuda": _h_driver,
    "cupti": _h_driver,
    "hip": _h_driver,
    "acl": _h_driver,
    "levelzero": _h_driver,
    "opencl": _h_driver,
    "vpi": _h_driver,
    "cudla": _h_driver,
    "corex": _h_driver,
    "[RESULT]": _h_result,
}


def _xsched_event(msg: str) -> Event | None:
    """The typed event of an XSched message, or None when it is not one we model."""
    h = _DISPATCH.get(msg.partition(" ")[0])
    if h is None:
        return None
    try:
        return h(msg)
    except (ValueError, OverflowError):  # absurd numbers: keep the line, drop the event
        return None


def _split_src(msg: str) -> tuple[str, str | None, int | None]:
    """Split a trailing `` @ <path>:<line>`` off msg, only when it looks like path:number."""
    i = msg.rfind(" @ ")
    if i < 0:
        return msg, None, None
    tail = msg[i + 3 :]
    c = tail.rfind(":")
    if c <= 0:
        return msg, None, None
    num = tail[c + 1 :]
    path = tail[:c]
    if not (num.isdigit() and num.isascii()) or len(num) > 9 or " " in path or "\t" in path:
        return msg, None, None
    return msg[:i], path, int(num)


# --------------------------------------------------------------------------------------------
# Cleaning


def _ctrl_repl(m: re.Match[str]) -> str:
    c = m.group()
    return "\ufffd" if "\ud800" <= c <= "\udfff" else ""


def _sanitize(s: str) -> tuple[str, bool]:
    """Remove ANSI sequences, CR (keeping what a terminal would show last), NUL and other control
    characters (tab kept), lone surrogates -> U+FFFD. Returns (clean, had_escape)."""
    ansi = "\x1b" in s
    if ansi:
        s = _ANSI.sub("", s)
    if "\r" in s:
        parts = s.split("\r")
        s = ""
        for p in reversed(parts):
            if p.strip():
                s = p
                break
    if "\n" in s:
        s = s.replace("\n", " ")
    if _CTRL.search(s) is not None:
        s = _CTRL.sub(_ctrl_repl, s)
    return s, ansi


def _clean(line: Any) -> tuple[str, int, bool, bool]:
    """(text, raw_len, truncated, ansi) of one line of any input type."""
    if type(line) is str:
        raw_len = len(line)
        s = line.rstrip("\r\n")
        truncated = False
    else:
        if isinstance(line, (bytearray, memoryview)):
            line = bytes(line)
        if isinstance(line, bytes):
            raw_len = len(line)
            b = line.rstrip(b"\r\n")
            truncated = len(b) > _MAX_PARSE_BYTES
            if truncated:
                b = b[:_MAX_PARSE_BYTES]
            s = b.decode("utf-8", "replace")
        else:
            try:
                s = str(line) if line is not None else ""
            except Exception:  # never raise on odd input
                s = "<unprintable>"
            raw_len = len(s)
            s = s.rstrip("\r\n")
            truncated = False
    if len(s) > MAX_PARSE:
        s = s[:MAX_PARSE]
        truncated = True
    if s.isprintable():
        return s, raw_len, truncated, False
    s, ansi = _sanitize(s)
    return s, raw_len, truncated, ansi


# --------------------------------------------------------------------------------------------
# Non-XSched kinds


def _parse_loader(s: str) -> LoaderError | None:
    if "ld.so: object" in s:
        m = _L_PRELOAD.search(s)
        if m is not None:
            return LoaderError("cannot_preload", m.group(1), m.group(3), None, None)
    if "symbol lookup error" in s:
        m = _L_SYMBOL.match(s)
        if m is not None:
            prog, lib, sym, ver = m.groups()
            return LoaderError("symbol_lookup", lib, f"{sym}@{ver}" if ver else sym, None, prog)
    if "' not found" in s or "’ not found" in s:
        m = _L_VERSION.match(s)
        if m is not None:
            prog, lib, ver, req = m.groups()
            return LoaderError("version_not_found", lib, ver, req, prog)
    if "no version information available" in s:
        m = _L_NOVERSION.match(s)
        if m is not None:
            prog, lib, req = m.groups()
            return LoaderError("no_version_info", lib, None, req, prog)
    if "error while loading shared libraries" in s:
        m = _L_CANNOT_OPEN.match(s)
        if m is not None:
            prog, lib, reason = m.groups()
            return LoaderError("cannot_open", lib, reason, None, prog)
    return None


def _kv_fields(msg: str) -> tuple[tuple[str, str], ...]:
    if "=" not in msg:
        return ()
    return tuple(_KV.findall(msg))


def _custom_fields(m: re.Match[str]) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in m.groupdict().items() if v is not None)


def _traceback_fields(lines: Sequence[str]) -> tuple[str, str | None, int | None, tuple]:
    """(summary, src_file, src_line, fields) of a traceback's lines."""
    last = lines[-1] if lines else ""
    fields: tuple[tuple[str, str], ...] = ()
    summary = lines[0] if lines else ""
    if len(lines) > 1 and last and not last[0].isspace() and _EXC_LINE.match(last):
        summary = last
        name, _, text = last.partition(":")
        fields = (("exception", name), ("message", text.strip()))
    src_file = src_line = None
    for ln in reversed(lines):
        fm = _TB_FILE.match(ln)
        if fm is not None:
            src_file, src_line = fm.group(1), int(fm.group(2))
            break
    return summary, src_file, src_line, fields


_TB_HEAD = "Traceback (most recent call last):"


def _other(s: str, raw_len: int, truncated: bool, lineno: int | None, ansi: bool,
           cpats: _Compiled) -> LogRecord:
    """Every line that does not start with an XSched prefix."""
    for p, rx in cpats:
        cm = rx.search(s)
        if cm is not None:
            gd = cm.groupdict()
            level = p.level or Level.from_str(gd.get("level"))
            msg = gd.get("message") or gd.get("msg") or s
            return _new_record(Kind.CUSTOM, s, level, None, None, msg, None, None, None, p.name,
                               _custom_fields(cm), (), raw_len, truncated, lineno, None, ansi)
    if not s:
        return _new_record(Kind.PLAIN, s, None, None, None, s, None, None, None, None, (), (),
                           raw_len, truncated, lineno, None, ansi)
    if s.endswith(_TB_HEAD):
        return _new_record(Kind.TRACEBACK, s, Level.ERRO, None, None, s, None, None, None, None,
                           (), (s,), raw_len, truncated, lineno, None, ansi)
    c0 = s[0]
    if c0 == "[":
        tm = _TAG.match(s)
        if tm is not None:
            tag = tm.group(1)
            msg = s[tm.end():]
            level = _TAG_LEVELS.get(tag)
            src_file = src_line = event = None
            if level is not None:  # a user's copy of XLOG: [WARN] msg @ file:line
                if " @ " in msg:
                    msg, src_file, src_line = _split_src(msg)
                event = _xsched_event(msg)
            return _new_record(Kind.USER_TAG, s, level, None, None, msg, src_file, src_line, event,
                               tag, _kv_fields(msg), (), raw_len, truncated, lineno, None, ansi)
    elif c0 == ":":
        hm = _HIP.match(s)
        if hm is not None:
            lv, f, ln, us, msg = hm.groups()
            msg = msg.strip()
            level = _HIP_LEVELS.get(lv, Level.DEBG)
            fields: tuple[tuple[str, str], ...] = (("us", us),)
            rm = _HIP_RET.search(msg)
            if rm is not None:
                fields += (("api", rm.group(1)), ("result", rm.group(2)))
                res = rm.group(2)
                if res.startswith("hipError") and res != "hipErrorNotReady" and level.rank > 1:
                    level = Level.WARN  # a failing HIP call; NotReady is a normal query answer
            return _new_record(Kind.HIP_TRACE, s, level, None, None, msg, f, int(ln), None, None,
                               fields, (), raw_len, truncated, lineno, None, ansi)
    elif c0 == "M" and s.startswith("MIOpen"):
        mm = _MIOPEN_ERR.match(s)
        if mm is not None:
            return _new_record(Kind.MIOPEN, s, Level.ERRO, None, None, mm.group(3), mm.group(1),
                               int(mm.group(2)), None, None, (), (), raw_len, truncated, lineno,
                               None, ansi)
        lm = _MIOPEN_LOG.match(s)
        level = None
        if lm is not None:
            w = lm.group(1)
            level = (Level.ERRO if w == "Error" else Level.WARN if w == "Warning"
                     else Level.INFO if w.startswith("Info") else Level.DEBG)
        return _new_record(Kind.MIOPEN, s, level, None, None, s, None, None, None, None, (), (),
                           raw_len, truncated, lineno, None, ansi)
    if ": " in s and ("ld.so" in s or "symbol lookup" in s or "version" in s
                      or "shared libraries" in s):
        ev = _parse_loader(s)
        if ev is not None:
            level = Level.WARN if ev.problem == "no_version_info" else Level.ERRO
            return _new_record(Kind.LOADER, s, level, None, None, s, None, None, ev, None, (), (),
                               raw_len, truncated, lineno, None, ansi)
    if " @ T" in s:  # an XSched line glued behind other output (no newline before it)
        xm = _PREFIX.search(s)
        if xm is not None:
            return _xsched(xm, s, raw_len, truncated, lineno, ansi, cpats, None)
    return _new_record(Kind.PLAIN, s, None, None, None, s, None, None, None, None, (), (),
                       raw_len, truncated, lineno, None, ansi)


def _xsched(m: re.Match[str], s: str, raw_len: int, truncated: bool, lineno: int | None,
            ansi: bool, cpats: _Compiled, clock: LogParser | None) -> LogRecord:
    """The record of an XSched line whose prefix ``m`` matched (the hot path: keep it lean)."""
    lvl, tid, hms, frac, xq, pid, _c, prio, pxq, upid, util = m.groups()
    tod = _HMS_US.get(hms)
    if tod is None:
        tod = _hms_us(hms)
    tod += int(frac) if len(frac) == 6 else int((frac + "00000")[:6])
    msg = s[m.end():]
    src_file = src_line = None
    li = m.lastindex
    event = None
    if li == 9:
        event = _new_prio(int(prio), int(pxq, 16))
    elif li == 7:
        event = _new_created(int(xq, 16), int(pid))
    elif li == 6:
        event = _new_destroyed(int(xq, 16), int(pid))
    elif li == 11:
        event = _new_util(int(upid), int(util))
    else:
        if " @ " in msg:
            msg, src_file, src_line = _split_src(msg)
        h = _DISPATCH.get(msg.partition(" ")[0])
        if h is not None:
            try:
                event = h(msg)
            except (ValueError, OverflowError):  # absurd numbers: keep the line, drop the event
                event = None
    fields: tuple[tuple[str, str], ...] = ()
    if event is None:
        event = _new_other(msg)
    elif type(event) is Result:
        fields = event.fields
    tag = None
    if cpats:
        for p, rx in cpats:
            cm = rx.search(s)
            if cm is not None:
                tag = p.name
                fields = fields + _custom_fields(cm)
                break
    ts = None
    if clock is not None:
        last = clock._last_tod
        if last is not None and clock._regular and last - _HALF_DAY_US <= tod <= last + _HALF_DAY_US:
            if tod > last:
                clock._last_tod = tod
            ts = clock._cur_mid + tod / 1e6
        else:
            ts = clock._stamp(tod)
    return _new_record(_K_XSCHED, s, _XLEVEL[lvl], int(tid), tod, msg, src_file, src_line, event,
                       tag, fields, (), raw_len, truncated, lineno, ts, ansi)


def _clean_chunk(lines: list[Any]) -> list[str] | None:
    """The lines as str when every one is clean (printable ASCII, no CR/LF in it; bytes or str,
    not mixed), with a few C calls over the whole chunk; None otherwise (or when empty)."""
    if not lines:
        return None
    t = type(lines[0])
    try:
        if t is bytes:
            joined = b"\n".join(lines)
        elif t is str:
            text = "\n".join(lines)
            if not text.isascii():
                return None
            joined = text.encode("ascii")
        else:
            return None
    except (TypeError, ValueError, BufferError):  # mixed types, odd buffers: line by line
        return None
    if not joined.translate(_UNCLEAN_TO_HIGH).isascii():
        return None
    strs = joined.decode("ascii").split("\n")
    if len(strs) != len(lines):  # a line held "\n" (several lines in one item): feed() splits it
        return None
    return strs


def _parse(line: Any, lineno: int | None, cpats: _Compiled, clock: LogParser | None) -> LogRecord:
    if type(line) is str and len(line) <= MAX_PARSE:
        raw_len = len(line)
        s = line.rstrip("\r\n")
        truncated = ansi = False
        if not s.isprintable():
            s, ansi = _sanitize(s)
    else:
        s, raw_len, truncated, ansi = _clean(line)
    m = _prefix_match(s)
    if m is not None:
        return _xsched(m, s, raw_len, truncated, lineno, ansi, cpats, clock)
    return _other(s, raw_len, truncated, lineno, ansi, cpats)


def _safe_parse(line: Any, lineno: int | None, cpats: _Compiled, clock: LogParser | None) -> LogRecord:
    try:
        return _parse(line, lineno, cpats, clock)
    except Exception as e:  # a parser bug must not kill a tail; keep the text
        try:
            text = _clean(line)[0]
        except Exception:
            text = ""
        return _error_record(text, e, lineno)


def _error_record(text: str, e: Exception, lineno: int | None) -> LogRecord:
    return LogRecord(Kind.PLAIN, text, message=f"(parse error: {type(e).__name__})", lineno=lineno)


def parse_line(line: str | bytes, lineno: int | None = None,
               patterns: Sequence[CustomPattern] = ()) -> LogRecord:
    """Parse one line, statelessly (no date: ``timestamp`` stays None; no traceback grouping).

    Never raises for any line. Invalid ``patterns`` raise ValueError (checked before parsing).
    """
    return _safe_parse(line, lineno, _prepare(patterns), None)


# --------------------------------------------------------------------------------------------
# Stateful parser


class LogParser:
    """Parse one source (one process's stderr) line by line.

    * Counts line numbers (1-based, one per ``\\n``-terminated line).
    * Dates XSched's time-of-day stamps: the first stamped line is on ``base_date`` (default:
      today); a stamp more than 12 h earlier than the latest one means the next day (midnight
      roll-over); a stamp more than 12 h later right after a roll-over is a late line of the previous
      day. Small backward jumps (threads racing) are not roll-overs. ``timestamp`` is local-time
      epoch seconds (DST-correct).
    * ``lazy=True`` (the live tail): INFO/DEBG XSched lines without a modelled message get their
      message, source suffix and (Other) event computed when first read; the records are equal to
      the eager ones (see :class:`_LazyRecord`). :func:`event_types` reads a batch's event types
      without computing them.
    * Groups ``Traceback (most recent call last):`` + indented lines + the final ``SomeError: msg``
      line into one TRACEBACK record. While a traceback is open ``feed`` may return nothing;
      ``flush`` returns what is held. XSched lines written into the middle of a traceback (another
      thread) are emitted at once.
    """

    __slots__ = (
        "_cpats", "_cur_mid", "_day_off", "_group", "_last_tod", "_lazy", "_lineno", "_mid",
        "_regular", "base_date",
    )

    def __init__(self, base_date: _dt.date | None = None,
                 patterns: Sequence[CustomPattern] = (), *, lazy: bool = False) -> None:
        self.base_date: _dt.date = base_date if base_date is not None else _dt.date.today()
        self._cpats = _prepare(patterns)
        self._lazy = lazy
        self._lineno = 0
        self._day_off = 0
        self._last_tod: int | None = None
        self._mid: dict[int, tuple[float, bool]] = {}
        self._cur_mid, self._regular = self._midnight(0)
        self._group: list[LogRecord] | None = None

    @property
    def lineno(self) -> int:
        """Lines seen so far."""
        return self._lineno

    @property
    def current_date(self) -> _dt.date:
        """The date that the latest stamped line was put on."""
        return self.base_date + _dt.timedelta(days=self._day_off)

    @property
    def pending(self) -> bool:
        """True while a traceback is being grouped (``flush`` returns it)."""
        return self._group is not None

    # -- dates

    def _midnight(self, off: int) -> tuple[float, bool]:
        """(epoch of local midnight of base_date + off days, whether that day has 86400 s)."""
        got = self._mid.get(off)
        if got is None:
            try:
                d = self.base_date + _dt.timedelta(days=off)
                a = _dt.datetime.combine(d, _dt.time()).timestamp()
                b = _dt.datetime.combine(d + _dt.timedelta(days=1), _dt.time()).timestamp()
                got = (a, b - a == 86400.0)
            except (OverflowError, ValueError, OSError):
                got = (0.0, True)
            if len(self._mid) > 64:
                self._mid.clear()
            self._mid[off] = got
        return got

    def _epoch(self, off: int, tod: int) -> float:
        mid, regular = self._midnight(off)
        if regular or tod >= _DAY_US:
            return mid + tod / 1e6
        s, us = divmod(tod, 1_000_000)  # a DST change day: let the C library place the time
        mi, s = divmod(s, 60)
        h, mi = divmod(mi, 60)
        try:
            d = self.base_date + _dt.timedelta(days=off)
            return _dt.datetime.combine(d, _dt.time(h, mi, s, us)).timestamp()
        except (OverflowError, ValueError, OSError):
            return mid + tod / 1e6

    def _stamp(self, tod: int) -> float:
        """Epoch seconds of a time of day, tracking roll-overs (the slow path of _xsched)."""
        last = self._last_tod
        off = self._day_off
        if last is None:
            self._last_tod = tod
        elif tod < last - _HALF_DAY_US:
            off += 1
            self._day_off = off
            self._last_tod = tod
            self._cur_mid, self._regular = self._midnight(off)
        elif tod > last + _HALF_DAY_US and off > 0:
            return self._epoch(off - 1, tod)  # a late line from before midnight
        elif tod > last:
            self._last_tod = tod
        return self._epoch(off, tod)

    # -- feeding

    def feed(self, line: str | bytes) -> list[LogRecord]:
        """Parse one line (its terminator optional). A chunk holding several ``\\n``-separated lines
        is split. Returns the records that are complete now (possibly none). Never raises."""
        if type(line) is str:
            i = line.find("\n")
            if i < 0 or i == len(line) - 1:
                return self._one(line)
            sep: Any = "\n"
        elif isinstance(line, (bytes, bytearray, memoryview)):
            try:
                line = bytes(line)
            except (TypeError, ValueError):
                line = b""
            i = line.find(b"\n")
            if i < 0 or i == len(line) - 1:
                return self._one(line)
            sep = b"\n"
        else:
            return self._one(line)
        out: list[LogRecord] = []
        parts = line.split(sep)
        ends = not parts[-1]
        if ends:
            parts.pop()
        last = len(parts) - 1
        for k, p in enumerate(parts):
            out.extend(self._one(p + sep if k < last or ends else p))
        return out

    def feed_many(self, lines: Iterable[str | bytes]) -> list[LogRecord]:
        """feed() every line; returns the records complete so far (call flush() at the end).

        Fast path (the live tail's chunks): a chunk of clean lines (printable ASCII, no terminator:
        what :class:`~xsched_tui.core.logsources.FileTailer` produces) is checked, decoded and split
        with a few C calls over the whole chunk and parsed in one loop (:meth:`_run`); any other
        line goes through :meth:`feed`, with the same result either way."""
        if type(lines) is not list:
            lines = list(lines)
        out: list[LogRecord] = []
        n = len(lines)
        step = _CHUNK_LINES
        for i in range(0, n, step):
            chunk = lines[i : i + step] if n > step else lines
            strs = _clean_chunk(chunk)
            if strs is not None:
                self._run(strs, out)
            else:
                self._mixed(chunk, out)
        return out

    def _mixed(self, lines: list[Any], out: list[LogRecord]) -> None:
        """feed_many for a chunk that is not all clean: runs of clean lines (printable ASCII, the
        same line terminator) go to :meth:`_run`, every other line to :meth:`feed`."""
        run: list[str] = []
        run_extra = 0
        for line in lines:
            t = type(line)
            if t is str and line.isascii():
                b = line.encode("ascii")
            elif t is bytes:
                b = line
            else:
                b = None
            if b is not None and len(b) <= MAX_PARSE and b.find(b"\n") in (-1, len(b) - 1):
                body = b.rstrip(b"\r\n")
                if body.translate(_UNCLEAN_LINE).isascii():
                    extra = len(b) - len(body)
                    if extra != run_extra and run:
                        self._run(run, out, run_extra)
                        run = []
                    run_extra = extra
                    run.append(body.decode("ascii"))
                    continue
            if run:
                self._run(run, out, run_extra)
                run = []
            out.extend(self.feed(line))
        if run:
            self._run(run, out, run_extra)

    def _run(self, strs: list[str], out: list[LogRecord], extra: int = 0) -> None:
        """Parse clean lines: printable ASCII without their terminator, which was ``extra`` bytes
        (raw_len is len + extra). With the compiled scanner (``_logscan``), the scanner makes the
        records of runs of the three frequent messages, of messages whose full parse _MSG_CACHE
        holds and (``lazy``) the lazy records of unmodelled INFO/DEBG lines, and :meth:`_run_py`
        parses every other line; without it :meth:`_run_py` parses them all (the same records
        either way)."""
        if _scan is None or self._cpats:
            self._run_py(strs, out, extra)
            return
        scan = _scan
        lazy = self._lazy
        run_py = self._run_py
        count = len(strs)
        i = 0
        step = 1  # lines given to the Python loop after a scan took none (grows on such misses)
        while i < count:
            last = self._last_tod
            if last is not None and self._regular:
                try:
                    j, self._lineno, self._last_tod = scan(strs, i, out, self._lineno, last,
                                                           self._cur_mid, extra, lazy)
                except (OverflowError, TypeError):  # a clock beyond C's range: the Python loop
                    j = i
                if j > i:
                    step = 1
                i = j
                if i >= count:
                    break
            # strs[i] is a line the scanner does not take: the Python loop parses it. A log of
            # mostly such lines (modelled events, other programs' output) would pay a scanner call
            # per line, so after each miss the next run given to the Python loop doubles (<= 64).
            run_py(strs[i : i + step], out, extra)
            i += step
            step = min(step * 2, 64)

    def _run_py(self, strs: list[str], out: list[LogRecord], extra: int = 0) -> None:
        """The hot loop in Python: _parse, _xsched and the grouping of _one inlined for an XSched
        line. With ``lazy``, an INFO/DEBG line whose message is not modelled becomes a
        :class:`_LazyRecord` (its message and Other event are computed when read)."""
        app = out.append
        match = _hot_match
        head_get = _HEADS.get
        dispatch_get = _DISPATCH.get
        onew = object.__new__
        mut = _new_record
        xkind = _K_XSCHED
        mut_other = _new_other
        new_prio = _new_prio
        new_created = _new_created
        new_destroyed = _new_destroyed
        new_util = _new_util
        cpats = self._cpats
        lazy = self._lazy
        lazy_cls = _LazyRecord
        info = _L_INFO
        debg = _L_DEBG
        group = self._group
        n = self._lineno
        last = self._last_tod
        regular = self._regular
        cur_mid = self._cur_mid
        half = _HALF_DAY_US
        max_parse = MAX_PARSE
        msg_cache = _MSG_CACHE
        msg_get = msg_cache.get
        synced = False  # True while self's clock is newer than the locals (a call into self)
        for s in strs:
            n += 1
            try:
                raw_len = len(s)
                m = match(s) if raw_len <= max_parse else None
                raw_len += extra
                if m is None or cpats:  # not XSched, too long, or custom patterns: the general path
                    self._lineno = n
                    self._last_tod = last
                    synced = True
                    truncated = len(s) > max_parse
                    if truncated:
                        s = s[:max_parse]
                    # _HOT and _PREFIX match the same ASCII lines: no second try when _HOT failed.
                    xm = _prefix_match(s) if m is not None or truncated else None
                    if xm is None:
                        rec = _other(s, raw_len, truncated, n, False, cpats)
                    else:
                        rec = _xsched(xm, s, raw_len, truncated, n, False, cpats, self)
                    last = self._last_tod
                    regular = self._regular
                    cur_mid = self._cur_mid
                    synced = False
                    if group is None:
                        if rec.kind is _K_TRACEBACK:
                            self._group = group = [rec]
                        else:
                            app(rec)
                    elif rec.kind is _K_XSCHED:
                        app(rec)  # another thread wrote into the middle of a traceback
                    else:
                        out.extend(self._grouping(group, rec))
                        group = self._group
                    continue
                head, frac, xq, pid, _c, prio, pxq, upid, util, word = m.groups()
                h3 = head_get(head)
                if h3 is None:
                    h3 = _head(head)
                level, tid, tod = h3
                tod += int(frac) if len(frac) == 6 else int((frac + "00000")[:6])
                # the timestamp first: both the lazy and the full record need it
                if last is not None and regular and last - half <= tod <= last + half:
                    if tod > last:
                        last = tod
                    ts = cur_mid + tod / 1e6
                else:
                    self._last_tod = last
                    synced = True
                    ts = self._stamp(tod)
                    last = self._last_tod
                    regular = self._regular
                    cur_mid = self._cur_mid
                    synced = False
                li = m.lastindex
                if (li == 10 and lazy and (level is info or level is debg)
                        and dispatch_get(word) is None):
                    # An INFO/DEBG message this parser does not model: its event can only be
                    # Other. Message, suffix and event are computed when first read (_LazyRecord).
                    r = onew(mut)
                    r.kind = xkind
                    r.text = s
                    r.level = level
                    r.tid = tid
                    r.tod_us = tod
                    r.tag = None
                    r.fields = ()
                    r.lines = ()
                    r.raw_len = raw_len
                    r.truncated = False
                    r.lineno = n
                    r.timestamp = ts
                    r.ansi = False
                    r.__class__ = lazy_cls
                    app(r)
                    continue
                msg = s[m.end():]
                src_file = src_line = None
                fields: tuple[tuple[str, str], ...] = ()
                if li == 10:
                    got = msg_get(msg)
                    if got is not None:
                        msg, src_file, src_line, event, fields = got
                    else:
                        key = msg
                        if " @ " in msg:
                            msg, src_file, src_line = _split_src(msg)
                        h = dispatch_get(word)
                        event = None
                        if h is not None:
                            try:
                                event = h(msg)
                            except (ValueError, OverflowError):  # absurd numbers: keep the line
                                event = None
                        if event is None:
                            event = onew(mut_other)
                            event.message = msg
                            event.__class__ = Other
                        elif type(event) is Result:
                            fields = event.fields
                        if len(msg_cache) >= _MSG_CACHE_MAX:
                            msg_cache.clear()
                        msg_cache[key] = (msg, src_file, src_line, event, fields)
                elif li == 7:
                    event = new_prio(int(prio), int(pxq, 16))
                elif li == 5:
                    event = new_created(int(xq, 16), int(pid))
                elif li == 4:
                    event = new_destroyed(int(xq, 16), int(pid))
                else:
                    event = new_util(int(upid), int(util))
                r = onew(mut)
                r.kind = xkind
                r.text = s
                r.level = level
                r.tid = tid
                r.tod_us = tod
                r.message = msg
                r.src_file = src_file
                r.src_line = src_line
                r.event = event
                r.tag = None
                r.fields = fields
                r.lines = ()
                r.raw_len = raw_len
                r.truncated = False
                r.lineno = n
                r.timestamp = ts
                r.ansi = False
                r.__class__ = LogRecord
                app(r)
            except Exception as e:  # a parser bug must not kill a tail; keep the text
                self._lineno = n
                if synced:
                    last = self._last_tod
                    regular = self._regular
                    cur_mid = self._cur_mid
                    synced = False
                rec = _error_record(s, e, n)
                group = self._group
                if group is None:
                    app(rec)
                else:
                    out.extend(self._grouping(group, rec))
                    group = self._group
        self._lineno = n
        self._last_tod = last

    def flush(self) -> list[LogRecord]:
        """Return whatever is held (an unfinished traceback)."""
        if self._group is None:
            return []
        return [self._close_group()]

    def _one(self, line: Any) -> list[LogRecord]:
        n = self._lineno = self._lineno + 1
        rec = _safe_parse(line, n, self._cpats, self)
        group = self._group
        if group is None:
            if rec.kind is Kind.TRACEBACK:
                self._group = [rec]
                return []
            return [rec]
        return self._grouping(group, rec)

    def _grouping(self, group: list[LogRecord], rec: LogRecord) -> list[LogRecord]:
        t = rec.text
        if rec.kind is Kind.XSCHED:  # another thread wrote in the middle of the traceback
            return [rec]
        if t and t[0] in " \t":  # frame / source / caret line
            group.append(rec)
            if len(group) >= MAX_GROUP_LINES:
                return [self._close_group()]
            return []
        if len(group) > 1 and rec.kind is not Kind.TRACEBACK and _EXC_LINE.match(t):
            group.append(rec)  # the final "SomeError: message" line
            return [self._close_group()]
        # Not part of it: emit the group as it is, then take the line on its own.
        out = [self._close_group()]
        if rec.kind is Kind.TRACEBACK:
            self._group = [rec]
        else:
            out.append(rec)
        return out

    def _close_group(self) -> LogRecord:
        group = self._group or []
        self._group = None
        lines = tuple(r.text for r in group)
        summary, src_file, src_line, fields = _traceback_fields(lines)
        return _new_record(
            Kind.TRACEBACK, summary, Level.ERRO, None, None, summary, src_file, src_line, None,
            None, fields, lines, sum(r.raw_len for r in group), any(r.truncated for r in group),
            group[0].lineno if group else None, None, any(r.ansi for r in group),
        )


def parse_lines(lines: Iterable[str | bytes], base_date: _dt.date | None = None,
                patterns: Sequence[CustomPattern] = ()) -> list[LogRecord]:
    """Parse a whole sequence of lines of one source (LogParser + flush)."""
    p = LogParser(base_date, patterns)
    out = p.feed_many(lines)
    out.extend(p.flush())
    return out


# The compiled scanner (src/xsched_tui/core/_logscan.c, built when a C compiler is available;
# XSCHED_TUI_PURE_PARSER=1 ignores it): it makes LogParser._run's lazy records, those of the
# three frequent messages, and those of messages whose full parse _MSG_CACHE holds, in C.
_scan: Callable[..., tuple[int, int, int]] | None = None
if os.environ.get("XSCHED_TUI_PURE_PARSER", "") in ("", "0"):
    try:
        from xsched_tui.core import _logscan
    except ImportError:
        pass
    else:
        try:
            _logscan.configure(_LazyRecord, LogRecord, dict(LogRecord.__dict__), _K_XSCHED,
                               (Level.ERRO, Level.WARN, _L_INFO, _L_DEBG), _DISPATCH, MAX_PARSE,
                               _HALF_DAY_US,
                               (XQueueCreated, XQueueDestroyed, PrioritySet, UtilizationSet),
                               _MSG_CACHE)
            _scan = _logscan.scan
        except (TypeError, AttributeError):  # a record layout the scanner does not know
            _scan = None


def parser_impl() -> str:
    """Which hot loop the live tail uses: "compiled" (the C scanner) or "python"."""
    return "compiled" if _scan is not None else "python"


def compiled(name: str) -> Callable[..., Any] | None:
    """``_logscan.<name>`` (the live tail's other C loops: LogEntry tuples, timeline keys and
    merge) when the C scanner is in use, else None: the callers' Python passes. None with
    XSCHED_TUI_PURE_PARSER=1 too, so that one switch turns all of the C off."""
    if _scan is None:
        return None
    from xsched_tui.core import _logscan

    return getattr(_logscan, name, None)
