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
