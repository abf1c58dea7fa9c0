from __future__ import annotations

import pytest

from xsched_tui.core.checks.base import CheckContext, CheckSpec, Outcome, Status
from xsched_tui.core.checks.engine import CheckOrderError, order, run_checks, select
from xsched_tui.core.config import Config


def _spec(cid, status=Status.PASS, requires=(), after=(), boom=False, facts=None):
    def f(ctx):
        if boom:
            raise RuntimeError("kaput")
        return Outcome(status, f"{cid} {status.value}", facts=facts or {})

    return CheckSpec(cid, cid.title(), f, requires=requires, after=after)


def test_dependants_of_failed_or_skipped_are_skipped():
    specs = [_spec("c", requires=("b",)), _spec("a", Status.FAIL), _spec("b", requires=("a",)),
             _spec("d", after=("a",))]
    s = run_checks(specs, CheckContext(Config()))
    by = {r.id: r for r in s.results}
    assert [r.id for r in s.results] == ["a", "b", "c", "d"]
    assert by["b"].status == Status.SKIP and "prerequisite 'a' is FAIL" in by["b"].finding
    assert by["c"].status == Status.SKIP and "'b' is SKIP" in by["c"].finding
    assert by["d"].status == Status.PASS  # "after" only orders
    assert s.exit_code == 2 and s.counts()["SKIP"] == 2


def test_exit_codes_and_facts():
    ctx = CheckContext(Config())
    s = run_checks([_spec("a", facts={"x": 1}), _spec("b", Status.WARN)], ctx)
    assert s.exit_code == 1 and ctx.fact("a", "x") == 1
    assert run_checks([_spec("a")], CheckContext(Config())).exit_code == 0


def test_a_crashing_check_is_a_clear_fail_not_a_traceback():
    s = run_checks([_spec("a", boom=True), _spec("b", requires=("a",))], CheckContext(Config()))
    assert s.results[0].status == Status.FAIL
    assert "internal error in check: RuntimeError: kaput" in s.results[0].finding
    assert s.results[1].status == Status.SKIP


def test_only_pulls_in_prerequisites_and_rejects_unknown():
    specs = [_spec("a"), _spec("b", requires=("a",)), _spec("c")]
    assert [s.id for s in select(specs, ["b"])] == ["a", "b"]
    with pytest.raises(CheckOrderError, match="unknown check id 'zz'"):
        select(specs, ["zz"])
    with pytest.raises(CheckOrderError, match="cycle"):
        order([_spec("a", requires=("b",)), _spec("b", requires=("a",))])


def test_live_checks_skip_when_disabled():
    spec = CheckSpec("p", "P", lambda c: Outcome(Status.PASS, "ran"), live=True)
    s = run_checks([spec], CheckContext(Config(), live=False))
    assert s.results[0].status == Status.SKIP and "--no-live" in s.results[0].finding


def test_registry_is_consistent():
    from xsched_tui.core.checks import registry

    specs = registry()
    ids = {s.id for s in specs}
    assert len(ids) == len(specs)
    for s in specs:
        assert set(s.requires) <= ids and set(s.after) <= ids, s.id
    assert next(s.id for s in order(specs)) == "source"
    # --only with an "after" dependency left out still orders and runs
    assert [s.id for s in order(select(specs, ["scheduler"]))] == ["scheduler"]
