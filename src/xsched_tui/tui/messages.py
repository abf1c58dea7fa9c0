"""Every custom message of the app, in one place. Data flows down, events flow up."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from xsched_tui.core.checks.base import CheckResult
from xsched_tui.core.checks.engine import RunSummary


@dataclass
class ChecksStarted(Message):
    ids: list[str]


@dataclass
class CheckStarted(Message):
    check_id: str


@dataclass
class CheckFinished(Message):
    result: CheckResult


@dataclass
class ChecksDone(Message):
    summary: RunSummary


@dataclass
class RerunRequested(Message):
    """A pane asks the app to run one check again."""

    check_id: str


@dataclass
class ReportSaved(Message):
    paths: list[str]
    error: str | None = None


@dataclass
class LogBatchArrived(Message):
    """A LogHub batch (posted from the hub's thread, at most ~10 per second)."""

    batch: object  # xsched_tui.core.logsources.LogBatch


@dataclass
class ExportRequested(Message):
    """The Logs pane asks the app to write lines to a file (the app does the I/O)."""

    source: object  # the LineSource shown (read in a worker)
    marks: list[int]  # marked lines, or empty for every line
    what: str


@dataclass
class ReplayControl(Message):
    """pause / resume / faster / slower / forward / back / restart."""

    action: str


@dataclass
class ProcessesUpdated(Message):
    """A process-collector snapshot (posted from its worker, about once a second)."""

    snapshot: object  # xsched_tui.core.procrecords.ProcSnapshot


@dataclass
class XQueuesUpdated(Message):
    """An xserver poll result (posted from its worker, about once a second)."""

    view: object  # xsched_tui.core.xqmonitor.XQView


@dataclass
class SignalRequested(Message):
    """A pane asks the app to send a signal to a process under test (already confirmed)."""

    pid: int
    signum: int
    started: float | None = None  # the process's start (epoch s) when confirmed: pid reuse check


@dataclass
class XServerActionRequested(Message):
    """A pane asks the app to change something in xserver (already confirmed).

    ``action``: "priority" | "utilization" | "policy" | "config"; ``args`` its keyword arguments
    for the matching ``XServerClient`` method; ``what``: the sentence shown in the result.
    """

    action: str
    args: dict
    what: str


@dataclass
class ShowLogsRequested(Message):
    """Switch to the Logs tab, scoped to this process."""

    pid: int


@dataclass
class ExperimentRequested(Message):
    """The Overhead pane asks the app to start an overhead experiment."""

    workload: str
    options: dict
    pairs: int
    threshold: float
    aa: bool


@dataclass
class ExperimentCancelRequested(Message):
    """Stop the running experiment (finished runs are kept)."""


@dataclass
class ExperimentEventArrived(Message):
    """An event of core.experiment (posted from the runner's worker thread)."""

    event: object


@dataclass
class PriorityRequested(Message):
    """The Priority pane asks the app to start a priority experiment (the form's values, the
    same fields as `xsched-tui priority`)."""

    values: dict

