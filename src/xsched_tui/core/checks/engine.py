"""Runs checks in dependency order; a failed or skipped prerequisite skips its dependants."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from xsched_tui.core.checks.base import CheckContext, CheckResult, CheckSpec, Outcome, Status, ev


class CheckOrderError(ValueError):
    """The registry names an unknown prerequisite or contains a cycle."""


def order(specs: Sequence[CheckSpec]) -> list[CheckSpec]:
    """Topological order that keeps registry order where dependencies allow (stable Kahn)."""
    by_id = {s.id: s for s in specs}
    for s in specs:
        for dep in s.requires:
            if dep not in by_id:
                raise CheckOrderError(f"check {s.id!r} requires unknown check {dep!r}")
    done: set[str] = set()
    out: list[CheckSpec] = []
    pending = list(specs)
    while pending:
        for i, s in enumerate(pending):
            # "after" only orders among the checks that run (--only may leave them out)
            if all(d in done for d in s.requires) and all(
                d in done or d not in by_id for d in s.after
            ):
                out.append(s)
                done.add(s.id)
                del pending[i]
                break
        else:
            raise CheckOrderError("dependency cycle among: " + ", ".join(s.id for s in pending))
    return out


def select(specs: Sequence[CheckSpec], only: Iterable[str] | None) -> list[CheckSpec]:
    """The checks named in ``only`` plus everything they need, in registry order."""
    if not only:
        return list(specs)
    by_id = {s.id: s for s in specs}
    wanted: set[str] = set()
    stack = list(only)
    while stack:
        cid = stack.pop()
        if cid not in by_id:
            known = ", ".join(by_id)
            raise CheckOrderError(f"unknown check id {cid!r} (known: {known})")
        if cid in wanted:
            continue
        wanted.add(cid)
        stack.extend(by_id[cid].requires)
    return [s for s in specs if s.id in wanted]


@dataclass(frozen=True)
class RunSummary:
    results: tuple[CheckResult, ...]
    duration_s: float

    @property
    def worst(self) -> Status:
        worst = Status.PASS
        for r in self.results:
            if r.status.severity > worst.severity:
                worst = r.status
        return worst

    @property
    def exit_code(self) -> int:
        """0 all pass (or skipped), 1 at least one WARN, 2 at least one FAIL."""
        return self.worst.severity

    def counts(self) -> dict[str, int]:
        c = {s.value: 0 for s in Status}
        for r in self.results:
            c[r.status.value] += 1
        return c


def run_one(spec: CheckSpec, ctx: CheckContext, prior: dict[str, CheckResult]) -> CheckResult:
    """Run a single check (used by the engine and by "re-run this check" in the app)."""
    t0 = time.perf_counter()
    blocked = [d for d in spec.requires if d in prior and prior[d].status in (Status.FAIL, Status.SKIP)]
    if blocked:
        dep = prior[blocked[0]]
        outcome = Outcome(
            Status.SKIP,
            f"skipped: prerequisite {dep.id!r} is {dep.status.value}",
            (ev(f"{dep.id}", dep.finding),),
        )
    elif spec.live and not ctx.live:
        outcome = Outcome(Status.SKIP, "skipped: live checks disabled (--no-live)")
    else:
        try:
            outcome = spec.func(ctx)
        except Exception as exc:  # a bug in a check must never take the report down
            tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
            outcome = Outcome(
                Status.FAIL,
                f"internal error in check: {tb}",
                (ev("traceback", "".join(traceback.format_exc(limit=4)).strip()[-2000:]),),
                fix="This is a bug in xsched-tui; please report it with this report attached.",
            )
    ctx.facts[spec.id] = dict(outcome.facts)
    return CheckResult(
        id=spec.id,
        title=spec.title,
        status=outcome.status,
        finding=outcome.finding,
        evidence=tuple(outcome.evidence),
        fix=outcome.fix,
        duration_s=time.perf_counter() - t0,
        requires=spec.requires,
    )


def run_checks(
    specs: Sequence[CheckSpec],
    ctx: CheckContext,
    *,
    only: Iterable[str] | None = None,
    on_start: Callable[[CheckSpec], None] | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> RunSummary:
    t0 = time.perf_counter()
    results: dict[str, CheckResult] = {}
    for spec in order(select(specs, only)):
        if cancelled is not None and cancelled():
            break
        if on_start is not None:
            on_start(spec)
        res = run_one(spec, ctx, results)
        results[spec.id] = res
        if on_result is not None:
            on_result(res)
    return RunSummary(tuple(results.values()), time.perf_counter() - t0)
