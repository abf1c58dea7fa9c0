"""Recorded XSched runs: discover the per-process logs of a folder and play them back. No Textual.

A *recording* is a folder of per-process XSched stderr captures (``*.stderr.log``, ``*.raw.log``,
any ``*.log``) plus optional workload results (``*.stdout.jsonl``, one JSON object per line with a
``pid``). Other files (``*.txt``, ``*.jsonl`` that are not results, ...) are not logs and are
ignored. The bundled real run (``xsched_tui.data.samples_dir()``) is one.

Sources
-------
Every log file becomes a :class:`RecordedSource` with a label, a pid and a kind:

* **label**: the file name without ``.log`` and a ``.stderr``/``.raw``/``.err`` suffix
  (``local-hpf.stderr.log`` -> ``local-hpf``). A log that is xserver's (by name, or by content:
  ``scheduler created with policy``, ``HTTP server listening``, ``client process N connected`` ...)
  has kind ``"xserver"`` and is labelled ``xserver``. Duplicate labels in one scenario get ``#2``,
  ``#3``.
* **pid**, first that applies: a client process's own ``XQueue (0x..) from process N created`` line
  (N is the pid; not used for xserver, whose such lines name its clients); a pid in the file name
  (``app.1234.stderr.log``, ``worker-pid1234.log``, ``884.log``); the thread id of the first
  ``using ... scheduler`` line (printed by the main thread while the shim loads, so tid == pid) or,
  for xserver, of ``using default:``/``scheduler created with policy`` (its main thread); the
  ``pid`` of the sibling ``<name>.stdout.jsonl`` result. ``pid_from`` says which kind of evidence
  was used: ``"content"``, ``"name"`` or ``"results"``. Only the first :data:`HEAD_LINES` lines are
  read for this.

Scenarios
---------
Each folder that holds logs is a *scenario*, named by its path relative to the recording (``""`` for
the recording folder itself). The bundled samples have ``default-stream``, ``explicit-stream``,
``misconfigured`` and ``bandwidth-partition``. Scenarios are ordered by their first time of day, then
by name. Playing several scenarios **concatenates** them in that order with ``scenario_gap``
seconds between them (each is merged by its own timestamps). Concatenation was chosen over one
merged timeline because scenarios are separate runs: their processes never ran together, and the
concatenated order stays right even when sub-folders were recorded on different days.

Times
-----
Lines are parsed with :class:`~xsched_tui.core.logparse.LogParser`; XSched stamps carry no date, so
the base date is the one given, else the date of the recording folder's mtime (the same date for
every file; a stamp more than 12 h earlier than the previous one of the same file is the next
day, as in the parser). Within a scenario,
sources are merged with :func:`~xsched_tui.core.merge.iter_merged` (see merge.py for the rules:
untimed lines stay after their predecessor; lines before a source's first timestamp come first).

Playback (:class:`Player`)
--------------------------
Positions are *replay seconds*: recorded time from the start of the first played scenario, with
every idle gap between consecutive lines longer than ``max_gap`` (default 5 s) shortened to
``max_gap``, and ``scenario_gap`` (default 2 s) between scenarios. ``speed`` divides replay seconds
into wall seconds (10 = ten times faster; :data:`FASTEST` = no waiting). A background thread sleeps
on a condition variable until the next line is due (or a pause/seek/speed change wakes it), then
pushes every line due within the next ``coalesce`` wall seconds into the LogHub in one
``push_lines`` call per run of lines from one source. Sources are added to the hub just before their
first line, with their pid, and ended (with a note) when their scenario's last line has been played,
since a recorded file has no exit time; the scenario's results are handed to ``on_result`` then.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

from xsched_tui.core.logparse import (
    ClientClosed,
    ClientConnected,
    HttpListening,
    LogParser,
    LogRecord,
    Other,
    SchedulerChosen,
    ServerPolicy,
    XQueueCreated,
    parse_line,
)
from xsched_tui.core.merge import iter_merged

__all__ = [
    "FASTEST",
    "LOG_SUFFIX",
    "MAX_LINE_BYTES",
    "RESULT_SUFFIX",
    "LogDescription",
    "Player",
    "RecordedResult",
    "RecordedSource",
    "Recording",
    "RecordingError",
    "ReplayEntry",
    "ScenarioSpan",
    "describe_log",
    "log_label",
    "pid_from_name",
    "read_lines",
    "sniff_text",
]

FASTEST = math.inf
"""``speed`` value for "as fast as possible"."""

MAX_LINE_BYTES = 64 * 1024
"""Lines longer than this are cut when read (the parser caps what it parses at 10 kB anyway)."""

HEAD_LINES = 200  # lines read to derive kind/pid/first time of a log
DAY_US = 86_400_000_000
_ROLLOVER_US = DAY_US // 2  # a time of day this much earlier than the previous one: next day

LOG_SUFFIX = ".log"
RESULT_SUFFIX = ".stdout.jsonl"
_LABEL_SUFFIXES = (".stderr", ".raw", ".err", ".stdout", ".out")

# The same file-name pid patterns as logsources.pid_from_name (kept here so that replay and the
# headless `logs` command do not pull in the live-tail machinery).
_PID_NAME_RES = (
    re.compile(r"(?:^|[^a-z0-9])pid[-_.]?(\d+)(?!\d)", re.I),  # pid884, pid-884, app.pid_884.log
    re.compile(r"^(\d+)(?:\.[a-z]+)*$", re.I),  # 884.log, 884.stderr.log
    re.compile(r"[-_.](\d+)(?:\.(?:stderr|stdout|err|out|log|txt))+$", re.I),  # x-884.stderr.log
)
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")


class RecordingError(Exception):
    """A recording can't be used (missing, or nothing playable). ``str(err)`` is for the user."""


# -- files ---------------------------------------------------------------------------------------

def read_lines(path: str | os.PathLike[str], max_bytes: int = MAX_LINE_BYTES
               ) -> Iterator[tuple[int, str]]:
    """``(lineno, text)`` of a file, 1-based, without the line end (``\\n`` or ``\\r\\n``).

    Bytes are decoded as UTF-8 with replacement; a line longer than ``max_bytes`` is cut there and
    the rest skipped, so a 1 GiB line never sits in memory. OSError propagates.
    """
    with open(path, "rb") as f:
        yield from _iter_file_lines(f, max_bytes)


def _iter_file_lines(f: BinaryIO, max_bytes: int) -> Iterator[tuple[int, str]]:
    readline = f.readline
    n = 0
    while True:
        raw = readline(max_bytes)
        if not raw:
            return
        n += 1
        if raw.endswith(b"\n"):
            raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        elif len(raw) >= max_bytes:  # overlong: skip to the end of this line
            while True:
                rest = readline(max_bytes)
                if not rest or rest.endswith(b"\n"):
                    break
        yield n, raw.decode("utf-8", "replace")


def sniff_text(path: str | os.PathLike[str], size: int = 8192) -> str | None:
    """None when ``path`` looks like a text log; else why not (binary, unreadable, not a file).

    Never raises. Binary means: more than 30 % of the first ``size`` bytes are NUL, control
    characters or invalid UTF-8 (a stray NUL in a log is survived, as the parser does).
    """
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            return "not a regular file"
        with open(path, "rb") as f:
            head = f.read(size)
    except OSError as e:
        return f"unreadable ({e.strerror or e})"
    text = head.decode("utf-8", "replace")
    bad = text.count("\ufffd") + len(_CONTROL.findall(text))
    if text and bad > 0.3 * len(text):
        return "binary file (not UTF-8 text)"
    return None


def pid_from_name(path: str | os.PathLike[str]) -> int | None:
    """The pid a log file's name claims (``x.884.log``, ``pid884``, ``x-884.stderr.log``,
    ``884.log``), or None."""
    name = os.path.basename(os.fspath(path))
    for rx in _PID_NAME_RES:
        m = rx.search(name)
        if m:
            pid = int(m.group(1))
            if pid > 1:
                return pid
    return None


def log_label(path: str | os.PathLike[str]) -> str:
    """``a/local-hpf.stderr.log`` -> ``local-hpf``; ``tty.raw.log`` -> ``tty``."""
    name = Path(path).name
    if name.endswith(LOG_SUFFIX):
        name = name[: -len(LOG_SUFFIX)]
    changed = True
    while changed:
        changed = False
        for suf in _LABEL_SUFFIXES:
            if name.endswith(suf) and len(name) > len(suf):
                name = name[: -len(suf)]
                changed = True
    return name or Path(path).name


@dataclass(frozen=True)
class LogDescription:
    """What the first lines of a log say about it (see :func:`describe_log`)."""

    label: str
    kind: str
    pid: int | None
    pid_from: str | None
    first_tod_us: int | None


def describe_log(path: str | os.PathLike[str], *, result_pid: int | None = None,
                 head_lines: int = HEAD_LINES) -> LogDescription:
    """Derive label, kind (``process``/``xserver``), pid and first time of day of one log file.

    Reads at most ``head_lines`` lines; never raises (an unreadable file gives what the name says).
    """
    label = log_label(path)
    kind = "xserver" if "xserver" in label.lower() else "process"
    xq_pid = sched_tid = main_tid = first_tod = None
    try:
        for lineno, text in read_lines(path):
            if lineno > head_lines:
                break
            rec = parse_line(text, lineno)
            if rec.tod_us is None:  # only XSched's own lines say anything about the process
                continue
            if first_tod is None:
                first_tod = rec.tod_us
            ev = rec.event
            if isinstance(ev, (ServerPolicy, HttpListening, ClientConnected, ClientClosed)) or (
                    isinstance(ev, Other) and ev.message.startswith("using default: ")):
                kind = "xserver"
                if main_tid is None and not isinstance(ev, (HttpListening, ClientConnected,
                                                            ClientClosed)):
                    main_tid = rec.tid  # `using default:` / `scheduler created`: main thread
            elif sched_tid is None and isinstance(ev, SchedulerChosen):
                sched_tid = rec.tid
            elif xq_pid is None and isinstance(ev, XQueueCreated):
                xq_pid = ev.pid
            if xq_pid is not None or main_tid is not None:
                break
    except OSError:
        pass
    name_pid = pid_from_name(os.fspath(path))
    if kind == "xserver":
        if "xserver" not in label.lower():
            label = "xserver"
        candidates = [(name_pid, "name"), (main_tid, "content")]
    else:
        candidates = [(xq_pid, "content"), (name_pid, "name"), (sched_tid, "content"),
                      (result_pid, "results")]
    pid, pid_from = next(((p, w) for p, w in candidates if p is not None), (None, None))
    return LogDescription(label, kind, pid, pid_from, first_tod)


# -- recording -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RecordedSource:
    """One recorded process log."""

    path: Path
    scenario: str  # folder relative to the recording, "" for the recording folder itself
    label: str
    pid: int | None
    kind: str  # "process" or "xserver"
    pid_from: str | None  # "content", "name", "results" (as SourceInfo.pid_from, plus "results")
    first_tod_us: int | None = None

    @property
    def name(self) -> str:
        """Label qualified by the scenario (``explicit-stream/xserver``): unique in a recording."""
        return f"{self.scenario}/{self.label}" if self.scenario else self.label


@dataclass(frozen=True)
class RecordedResult:
    """One workload result line of a ``*.stdout.jsonl`` file."""

    path: Path
    scenario: str
    label: str  # file name without .stdout.jsonl
    lineno: int
    pid: int | None
    data: dict[str, Any]


@dataclass(frozen=True)
class ReplayEntry:
    """A parsed record of a recording, with its source (what :meth:`Recording.records` yields)."""

    source: RecordedSource
    record: LogRecord

    @property
    def source_id(self) -> str:
        return self.source.name

    @property
    def seq(self) -> int | None:
        return self.record.lineno


@dataclass
class _Scenario:
    name: str
    sources: list[RecordedSource] = field(default_factory=list)
    results: list[RecordedResult] = field(default_factory=list)


class Recording:
    """A folder (or a single file) of recorded per-process XSched logs. Never modifies it.

    Raises :class:`RecordingError` when the path is missing or holds no usable log; files that are
    skipped (binary, unreadable, bad JSON results) are listed in :attr:`problems` instead.
    """

    def __init__(self, path: str | os.PathLike[str], *, base_date: date | None = None,
                 patterns: Sequence[Any] = ()) -> None:
        self.path = Path(path)
        self.patterns = tuple(patterns)
        problems: list[str] = []
        try:
            st = self.path.stat()
        except OSError as e:
            raise RecordingError(f"recording not found: {self.path} ({e.strerror or e})") from None
        self.base_date = base_date or date.fromtimestamp(st.st_mtime)
        logs: list[tuple[str, Path]] = []
        results: list[tuple[str, Path]] = []
        others = 0
        if stat.S_ISDIR(st.st_mode):
            root = self.path
            for dirpath, dirnames, filenames in os.walk(root, onerror=lambda e: problems.append(
                    f"{e.filename}: unreadable folder ({e.strerror})")):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                rel = Path(dirpath).relative_to(root).as_posix()
                scen = "" if rel == "." else rel
                for fn in sorted(filenames):
                    if fn.startswith("."):
                        continue
                    if fn.endswith(RESULT_SUFFIX):
                        results.append((scen, Path(dirpath, fn)))
                    elif fn.endswith(LOG_SUFFIX):
                        logs.append((scen, Path(dirpath, fn)))
                    else:
                        others += 1
        else:
            logs.append(("", self.path))

        by_name: dict[str, _Scenario] = {}

        def scen(name: str) -> _Scenario:
            return by_name.setdefault(name, _Scenario(name))

        result_pid: dict[Path, int] = {}
        for sc, p in results:
            for r in self._load_results(sc, p, problems):
                scen(sc).results.append(r)
                if r.pid is not None:
                    result_pid.setdefault(p, r.pid)
        for sc, p in logs:
            why = sniff_text(p)
            if why:
                problems.append(f"{p}: skipped, {why}")
                continue
            sibling = p.with_name(log_label(p) + RESULT_SUFFIX)
            d = describe_log(p, result_pid=result_pid.get(sibling))
            scen(sc).sources.append(RecordedSource(p, sc, d.label, d.pid, d.kind, d.pid_from,
                                                   d.first_tod_us))
        for s in by_name.values():
            s.sources = _dedupe_labels(s.sources)

        self.problems: tuple[str, ...] = tuple(problems)
        playable = [s for s in by_name.values() if s.sources]
        if not playable:
            what = f"{len(logs)} log file(s) skipped" if logs else "no *.log files"
            extra = f", {len(results)} result file(s)" if results else ""
            extra += f", {others} other file(s)" if others else ""
            detail = ("; " + "; ".join(problems[:5])) if problems else ""
            raise RecordingError(
                f"no XSched logs to replay in {self.path}: {what}{extra} "
                f"(expected per-process stderr captures named *.log){detail}")

        def order(s: _Scenario) -> tuple[float, str]:
            tods = [x.first_tod_us for x in s.sources if x.first_tod_us is not None]
            return (min(tods) if tods else math.inf), s.name

        playable.sort(key=order)
        self._scenarios = {s.name: s for s in playable}
        # results of folders without logs are kept, outside any scenario's playback
        self._orphan_results = [r for s in by_name.values() if not s.sources for r in s.results]

    @staticmethod
    def _load_results(scenario: str, path: Path, problems: list[str]) -> list[RecordedResult]:
        out: list[RecordedResult] = []
        label = path.name[: -len(RESULT_SUFFIX)]
        if sniff_text(path):
            problems.append(f"{path}: skipped, {sniff_text(path)}")
            return out
        try:
            for lineno, text in read_lines(path):
                if not text.strip():
                    continue
                try:
                    data = json.loads(text)
                except ValueError:
                    problems.append(f"{path}:{lineno}: not a JSON object, ignored")
                    continue
                if not isinstance(data, dict):
                    problems.append(f"{path}:{lineno}: not a JSON object, ignored")
                    continue
                pid = data.get("pid")
                out.append(RecordedResult(path, scenario, label, lineno,
                                          pid if isinstance(pid, int) else None, data))
        except OSError as e:
            problems.append(f"{path}: unreadable ({e.strerror or e})")
        return out

    # -- what is in it ---------------------------------------------------------------------------
    @property
    def scenarios(self) -> tuple[str, ...]:
        """Scenario names in play order ("" is the recording folder itself)."""
        return tuple(self._scenarios)

    def sources(self, scenario: str | Sequence[str] | None = None) -> list[RecordedSource]:
        """Sources of one scenario, several, or all (None), in play order, then file name."""
        return [s for sc in self._select(scenario) for s in self._scenarios[sc].sources]

    def results(self, scenario: str | Sequence[str] | None = None) -> list[RecordedResult]:
        """Workload results (``*.stdout.jsonl``) of the chosen scenarios (all: also folders
        that have results but no logs)."""
        out = [r for sc in self._select(scenario) for r in self._scenarios[sc].results]
        if scenario is None:
            out += self._orphan_results
        return out

    def _select(self, scenario: str | Sequence[str] | None) -> list[str]:
        if scenario is None:
            return list(self._scenarios)
        wanted = [scenario] if isinstance(scenario, str) else list(scenario)
        unknown = [w for w in wanted if w not in self._scenarios]
        if unknown:
            known = ", ".join(repr(s) for s in self._scenarios)
            raise RecordingError(f"no scenario {unknown[0]!r} in {self.path} (scenarios: {known})")
        return [s for s in self._scenarios if s in wanted]  # play order, not argument order

    # -- offline ---------------------------------------------------------------------------------
    def records(self, scenario: str | Sequence[str] | None = None) -> Iterator[ReplayEntry]:
        """Every parsed record, scenario by scenario (play order), each merged by time.

        Streaming: one open file and one pending record per source of the current scenario.
        A file that becomes unreadable midway just ends (the error goes to :attr:`problems`).
        """
        for sc in self._select(scenario):
            srcs = self._scenarios[sc].sources
            streams = [self._record_stream(s) for s in srcs]
            for _eff, _rank, entry in iter_merged(streams):
                yield entry

    def _record_stream(self, src: RecordedSource) -> Iterator[ReplayEntry]:
        parser = LogParser(base_date=self.base_date, patterns=self.patterns)
        try:
            for _n, text in read_lines(src.path):
                for rec in parser.feed(text):
                    yield ReplayEntry(src, rec)
        except OSError as e:
            self.problems = (*self.problems, f"{src.path}: read error ({e.strerror or e})")
        for rec in parser.flush():
            yield ReplayEntry(src, rec)


def _dedupe_labels(sources: list[RecordedSource]) -> list[RecordedSource]:
    seen: dict[str, int] = {}
    out = []
    for s in sources:
        n = seen.get(s.label, 0) + 1
        seen[s.label] = n
        if n > 1:
            s = RecordedSource(s.path, s.scenario, f"{s.label}#{n}", s.pid, s.kind, s.pid_from,
                               s.first_tod_us)
        out.append(s)
    return out


# -- playback ------------------------------------------------------------------------------------

_LINE = 0
_END = 1


def _timed_lines(path: Path) -> Iterator[tuple[int | None, str]]:
    """(time in µs on the recording's day axis, raw text) per line; roll-over adds a day."""
    day = 0
    prev = None
    try:
        for lineno, text in read_lines(path):
            tod = parse_line(text, lineno).tod_us
            if tod is None:
                yield None, text
                continue
            if prev is not None and tod < prev - _ROLLOVER_US:
                day += 1
            prev = tod
            yield day * DAY_US + tod, text
    except OSError:
        return


def _first(x: tuple[int | None, str]) -> int | None:
    return x[0]


@dataclass
class _PlaySource:
    info: RecordedSource
    hub_label: str
    hub_id: Any = None
    ended: bool = False


@dataclass(frozen=True)
class ScenarioSpan:
    """Where a scenario lies on the replay axis (replay seconds)."""

    name: str
    start: float
    end: float
    lines: int


class Player:
    """Play a :class:`Recording` into a LogHub against a clock, in a background thread.

    ``hub`` needs ``add_stream(label, pid=None, kind=...) -> SourceInfo`` (with ``.id``),
    ``push_lines(source_id, lines)`` and ``end_source(source_id, note)``; ``base_date=`` is passed
    to ``add_stream`` when it accepts it (so the hub dates lines like the recording), and
    ``remove(source_id)`` is used on a backward seek when the hub has it. Sources are added with
    ``kind="replay"`` and their pid. Lines are pushed as read (without the line end; ANSI codes and
    CR inside a line are left to the hub's parser). Hub labels are the source labels when one
    scenario is played, ``scenario/label`` when several are.

    Construction reads the chosen scenarios once (streaming) to learn :attr:`duration`,
    :attr:`spans` and :attr:`total_lines`; :meth:`start` starts the thread.

    Control methods (:meth:`pause`, :meth:`resume`, :meth:`seek`, :attr:`speed`) may be called from
    any thread, including the hub's callbacks, and return at once; the player thread applies them
    (at most the run of lines being pushed at that moment completes). Use :meth:`wait_until` /
    :meth:`join` to wait for an effect. Seeking back removes the sources from the hub (or ends them
    with note ``"rewound"``), then delivers everything up to the target again from the start.
    ``clock`` (default ``time.monotonic``) maps wall time to positions; sleeping uses the real
    time of the condition variable.
    """

    def __init__(self, recording: Recording, hub: Any, *,
                 scenario: str | Sequence[str] | None = None, speed: float = 1.0,
                 paused: bool = False, max_gap: float = 5.0, scenario_gap: float = 2.0,
                 coalesce: float = 0.02, batch_lines: int = 512,
                 on_result: Callable[[RecordedResult], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_gap < 0 or scenario_gap < 0 or coalesce < 0 or batch_lines < 1:
            raise ValueError("max_gap, scenario_gap and coalesce must be >= 0, batch_lines >= 1")
        self.recording = recording
        self.hub = hub
        self.max_gap = float(max_gap)
        self.scenario_gap = float(scenario_gap)
        self.coalesce = float(coalesce)
        self.batch_lines = batch_lines
        self.on_result = on_result
        self._clock = clock
        self.scenarios: tuple[str, ...] = tuple(recording._select(scenario))
        qualify = len(self.scenarios) > 1
        self._srcs: list[_PlaySource] = []
        self._scen_idx: list[list[int]] = []
        for sc in self.scenarios:
            idx = []
            for s in recording.sources(sc):
                idx.append(len(self._srcs))
                self._srcs.append(_PlaySource(s, s.name if qualify else s.label))
            self._scen_idx.append(idx)
        self._scen_results = [recording.results(sc) for sc in self.scenarios]
        try:
            params = inspect.signature(hub.add_stream).parameters
            self._hub_takes_date = "base_date" in params or any(
                p.kind is p.VAR_KEYWORD for p in params.values())
        except (TypeError, ValueError, AttributeError):
            self._hub_takes_date = False

        # Pre-pass (streaming, O(1) memory): duration and scenario spans on the replay axis.
        spans = []
        start = 0.0
        lines = 0
        last = 0.0
        for due, kind, i, _text in self._events():
            if kind == _LINE:
                lines += 1
            else:
                spans.append(ScenarioSpan(self.scenarios[i], start, due, lines))
                start, lines = due + self.scenario_gap, 0
            last = due
        self.spans: tuple[ScenarioSpan, ...] = tuple(spans)
        self.duration: float = last
        self.total_lines = sum(s.lines for s in spans)

        self._cond = threading.Condition(threading.RLock())
        self._speed = self._check_speed(speed)
        self._paused = paused
        self._stop = False
        self._seek_to: float | None = None
        self._anchor_pos = 0.0
        self._anchor_wall = clock()
        self._last_due = 0.0
        self._finished = False
        self._busy = False
        self._error: BaseException | None = None
        self.delivered = 0
        self.results_delivered: list[RecordedResult] = []
        self._thread: threading.Thread | None = None
        self._iter: Iterator[tuple[float, int, int, Any]] | None = None
        self._pending: tuple[float, int, int, Any] | None = None

    # -- schedule --------------------------------------------------------------------------------
    def _events(self) -> Iterator[tuple[float, int, int, Any]]:
        """(due replay s, _LINE, source index, text) ... then (due, _END, scenario index, None)."""
        pos = 0.0
        for k, idx in enumerate(self._scen_idx):
            if k:
                pos += self.scenario_gap
            streams = [_timed_lines(self._srcs[i].info.path) for i in idx]
            prev = None
            for eff, rank, (_t, text) in iter_merged(streams, key=_first):
                if eff is not None:
                    if prev is not None and eff > prev:
                        pos += min((eff - prev) / 1e6, self.max_gap)
                    prev = eff
                yield pos, _LINE, idx[rank], text
            yield pos, _END, k, None

    def schedule(self) -> Iterator[tuple[float, str, str]]:
        """``(due replay seconds, hub label, raw line)`` for every line, in delivery order."""
        for due, kind, i, text in self._events():
            if kind == _LINE:
                yield due, self._srcs[i].hub_label, text

    # -- state -----------------------------------------------------------------------------------
    @staticmethod
    def _check_speed(speed: float | None) -> float:
        s = FASTEST if speed is None else float(speed)
        if not s > 0:
            raise ValueError("speed must be > 0 (use FASTEST for no waiting)")
        return s

    def _pos_locked(self) -> float:
        if self._seek_to is not None:
            return self._seek_to
        if self._finished:
            return self.duration
        if self._paused:
            return self._anchor_pos
        if self._speed == FASTEST:
            return max(self._anchor_pos, self._last_due)
        return min(self.duration, self._anchor_pos + (self._clock() - self._anchor_wall) * self._speed)

    @property
    def position(self) -> float:
        """Current replay position in seconds (0 .. :attr:`duration`)."""
        with self._cond:
            return self._pos_locked()

    @property
    def speed(self) -> float:
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        self.set_speed(value)

    def set_speed(self, value: float | None) -> None:
        """1.0 = recorded pace, 10/100 faster, :data:`FASTEST` (or None) without waiting."""
        s = self._check_speed(value)
        with self._cond:
            self._anchor_pos = self._pos_locked()
            self._anchor_wall = self._clock()
            self._speed = s
            self._cond.notify_all()

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def finished(self) -> bool:
        """Everything was delivered (a backward seek makes it play again)."""
        return self._finished

    @property
    def busy(self) -> bool:
        """The player thread is pushing lines or executing a seek right now."""
        with self._cond:
            return self._busy or self._seek_to is not None

    @property
    def error(self) -> BaseException | None:
        """The exception that stopped the player thread (for example from the hub), if any."""
        return self._error

    # -- control ---------------------------------------------------------------------------------
    def start(self) -> Player:
        with self._cond:
            if self._thread is None:
                self._anchor_wall = self._clock()
                self._thread = threading.Thread(target=self._run, name="xsched-replay", daemon=True)
                self._thread.start()
        return self

    def pause(self) -> None:
        with self._cond:
            if not self._paused:
                self._anchor_pos = self._pos_locked()
                self._paused = True
                self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            if self._paused:
                self._paused = False
                self._anchor_wall = self._clock()
                self._cond.notify_all()

    def seek(self, t: float) -> None:
        """Jump to replay second ``t``: every line due at or before ``t`` is delivered at once,
        in order, so views show the state at ``t``; playback (or the pause) continues from there."""
        with self._cond:
            self._seek_to = min(max(0.0, float(t)), self.duration)
            self._finished = False
            self._cond.notify_all()

    def close(self, timeout: float | None = 5.0) -> None:
        """Stop the thread (sources already in the hub are left as they are)."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        th = self._thread
        if th is not None and th is not threading.current_thread():
            th.join(timeout)

    def wait_until(self, predicate: Callable[[], bool], timeout: float | None = None) -> bool:
        """Wait (on the player's condition, no polling) until ``predicate()`` is true."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate() or self._error is not None, timeout) \
                and predicate()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until everything has been delivered; False on timeout or error."""
        return self.wait_until(lambda: self._finished and not self._busy
                               and self._seek_to is None, timeout)

    def __enter__(self) -> Player:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- thread ----------------------------------------------------------------------------------
    def _run(self) -> None:
        from xsched_tui.core.threadname import name_native

        name_native("xs-replay")
        try:
            self._restart()
            self._loop()
        except BaseException as e:  # reported through .error; never a silent dead thread
            with self._cond:
                self._error = e
                self._busy = False
                self._cond.notify_all()

    def _restart(self) -> None:
        self._iter = self._events()
        self._pending = next(self._iter, None)
        self._last_due = 0.0

    def _loop(self) -> None:
        cond = self._cond
        while True:
            with cond:
                while True:
                    if self._stop:
                        return
                    if self._seek_to is not None:
                        target = self._seek_to
                        self._busy = True
                        break
                    if self._pending is None:
                        if not self._finished:
                            self._finished = True
                            cond.notify_all()
                        cond.wait()
                        continue
                    if self._paused:
                        cond.wait()
                        continue
                    if self._speed == FASTEST:
                        limit = math.inf
                    else:
                        now = self._pos_locked()
                        ahead = self.coalesce * self._speed
                        due = self._pending[0]
                        if due > now + ahead:
                            cond.wait((due - now) / self._speed)
                            continue
                        limit = now + ahead
                    target = None
                    self._busy = True
                    break
            try:
                if target is not None:
                    self._do_seek(target)
                else:
                    self._deliver(limit, self.batch_lines, interruptible=True)
            finally:
                with cond:
                    self._busy = False
                    if self._pending is None and self._seek_to is None:
                        self._finished = True
                    cond.notify_all()

    def _do_seek(self, target: float) -> None:
        if self._last_due > target:  # something after the target was already delivered
            self._rewind()
        while self._pending is not None and self._pending[0] <= target:
            self._deliver(target, self.batch_lines, interruptible=False)
            with self._cond:
                if self._stop:
                    return
                if self._seek_to != target:  # a newer seek arrived: let the loop take it
                    return
        with self._cond:
            if self._seek_to == target:
                self._seek_to = None
                self._anchor_pos = target
                self._anchor_wall = self._clock()
                if self._speed == FASTEST:
                    self._last_due = max(self._last_due, target)

    def _rewind(self) -> None:
        remove = getattr(self.hub, "remove", None)
        for s in self._srcs:
            if s.hub_id is not None:
                if callable(remove):  # the views start over from an empty source list
                    remove(s.hub_id)
                elif not s.ended:
                    self.hub.end_source(s.hub_id, "rewound")
            s.hub_id = None
            s.ended = False
        with self._cond:
            self.results_delivered.clear()
            self.delivered = 0
        self._restart()

    def _deliver(self, limit: float, max_events: int, *, interruptible: bool) -> None:
        """Push pending events due at or before ``limit`` (at most ``max_events``)."""
        run_src: _PlaySource | None = None
        run: list[str] = []
        n = 0

        def flush() -> None:
            nonlocal run
            if run_src is not None and run:
                self.hub.push_lines(run_src.hub_id, run)
                with self._cond:
                    self.delivered += len(run)
                run = []

        while self._pending is not None and self._pending[0] <= limit and n < max_events:
            if interruptible and (self._paused or self._stop or self._seek_to is not None):
                break
            due, kind, i, payload = self._pending
            if kind == _LINE:
                src = self._srcs[i]
                if src is not run_src:
                    flush()
                    run_src = src
                if src.hub_id is None:
                    src.hub_id = self._add(src)
                run.append(payload)
            else:
                flush()
                run_src = None
                self._end_scenario(i)
            n += 1
            self._last_due = due
            self._pending = next(self._iter, None) if self._iter is not None else None
        flush()

    def _add(self, src: _PlaySource) -> Any:
        kw: dict[str, Any] = {"pid": src.info.pid, "kind": "replay"}
        if self._hub_takes_date:
            kw["base_date"] = self.recording.base_date
        info = self.hub.add_stream(src.hub_label, **kw)
        return getattr(info, "id", info)

    def _end_scenario(self, k: int) -> None:
        for r in self._scen_results[k]:
            with self._cond:
                self.results_delivered.append(r)
            if self.on_result is not None:
                self.on_result(r)
        name = self.scenarios[k] or self.recording.path.name
        for i in self._scen_idx[k]:
            src = self._srcs[i]
            if src.hub_id is None:  # an empty log: still show that the process was recorded
                src.hub_id = self._add(src)
            if not src.ended:
                self.hub.end_source(src.hub_id, f"end of recording ({name})")
                src.ended = True

