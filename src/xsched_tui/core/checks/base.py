"""Records and the small protocol every environment check follows."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xsched_tui.core.config import Config


class Status(str, enum.Enum):
    """Outcome of one check; ordered by severity so the worst can be computed with max()."""

    PASS = "PASS"
    SKIP = "SKIP"
    WARN = "WARN"
    FAIL = "FAIL"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Status.PASS: 0, Status.SKIP: 0, Status.WARN: 1, Status.FAIL: 2}


@dataclass(frozen=True)
class Evidence:
    """One fact a check saw, as a label/value pair (value is always printable text)."""

    label: str
    value: str
    status: Status | None = None  # set when this single fact is itself good/bad


@dataclass(frozen=True)
class Outcome:
    """What a check function returns: the verdict, one line, the facts and a copyable fix."""

    status: Status
    finding: str
    evidence: tuple[Evidence, ...] = ()
    fix: str = ""
    # Facts that dependant checks may read (e.g. the resolved install layout). Not reported.
    facts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckResult:
    """A finished check as every front end sees it."""

    id: str
    title: str
    status: Status
    finding: str
    evidence: tuple[Evidence, ...]
    fix: str
    duration_s: float
    requires: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status.value,
            "finding": self.finding,
            "evidence": [
                {"label": e.label, "value": e.value, "status": e.status.value if e.status else None}
                for e in self.evidence
            ],
            "fix": self.fix,
            "duration_s": round(self.duration_s, 6),
            "requires": list(self.requires),
        }


@dataclass
class CheckContext:
    """Shared, read-mostly state for one run of the checks.

    ``facts`` maps a check id to the facts its Outcome published, so dependants can use what
    a prerequisite found without redoing its I/O.
    """

    config: Config
    facts: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    live: bool = True  # False disables checks that start processes (the live probe)

    def fact(self, check_id: str, key: str, default: Any = None) -> Any:
        return self.facts.get(check_id, {}).get(key, default)


CheckFunc = Callable[[CheckContext], Outcome]


@dataclass(frozen=True)
class CheckSpec:
    """A registered check: its id, title, prerequisites and the function that runs it.

    ``requires`` lists ids that must not FAIL (or be skipped) for this check to run;
    ``after`` only orders (the check still runs whatever those found).
    """

    id: str
    title: str
    func: CheckFunc
    requires: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    live: bool = False  # starts processes; skipped when the context says live=False
    description: str = ""


def ev(label: str, value: object, status: Status | None = None) -> Evidence:
    """Shorthand used by check modules."""
    return Evidence(label, str(value), status)
