"""Fuzzing the JSON lines a workload prints on stdout (start, ready, progress, result, error).

The lines go through ``workload_argv.parse_line`` and the experiment runner's own handler (the
one the child's reader thread calls) and on into the run record, result.json, the report and the
analyses. Random text and bytes, random JSON, the real fields with wrong types, huge numbers,
NaN/Infinity, deep nesting and over-long lines must never raise: a bad line is ignored (as any
non-protocol line) and a bad result line makes the run invalid with a reason that says why.
A few of them are printed by real subprocesses run by the real ExperimentRunner.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xsched_tui.core import priority
from xsched_tui.core.config import Config
from xsched_tui.core.experiment import (
    MAX_LINE_DEPTH,
    ExperimentRunner,
    ExperimentSpec,
    Mode,
    Role,
    RunProgress,
    RunRecord,
    result_problem,
)
from xsched_tui.core.runner import Child, ExitStatus
from xsched_tui.core.workload_argv import LINE_TYPES, parse_line

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "docs" / "experiment-result.schema.json").read_text())
VALIDATOR = jsonschema.validators.validator_for(SCHEMA)(SCHEMA)
FUZZ = settings(max_examples=100, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
BASE_ENV = {k: v for k, v in os.environ.items()
            if not k.startswith(("XSCHED_", "XLOG_", "STANDIN_")) and k not in ("LD_PRELOAD",
                                                                               "LD_LIBRARY_PATH")}
GOOD_RESULT = {"type": "result", "kind": "matmul", "metric": "iter_ms", "unit": "ms",
               "values": [1.0, 1.1, 0.9], "summary": {"n": 3, "median": 1.0, "p99": 1.1},
               "correct": True, "suspect": False, "cpu_time_s": 0.1, "wall_s": 0.2}
FIELDS = ("type", "done", "total", "last", "recent", "message", "metric", "unit", "values",
          "summary", "correct", "suspect", "suspect_reason", "cpu_time_s", "wall_s", "req_per_s",
          "tflops", "iter_ms_median", "measure_t0", "measure_t1", "n", "median", "p99", "kind")
HUGE = st.sampled_from([10**400, -(10**400), 2**1024, 10**308 * 10, 1e308, 2**63, -(2**64)])
scalars = st.one_of(st.none(), st.booleans(), st.integers(), HUGE,
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
                    st.sampled_from(list(LINE_TYPES)))
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=5)),
                                            inner, max_size=5)),
    max_leaves=16,
)


def _nested(depth: int, leaf: Any = 1) -> Any:
    v = leaf
    for i in range(depth):
        v = [v] if i % 2 else {"summary": v}
    return v


# Protocol lines: a real type, the real fields, each value possibly of the wrong type.
protocol = st.builds(
    lambda t, fields, extra: {"type": t, **fields, **extra},
    st.sampled_from(list(LINE_TYPES)),
    st.fixed_dictionaries({}, optional={f: json_values for f in FIELDS if f != "type"}),
    st.one_of(st.just({}), st.fixed_dictionaries({"summary": st.one_of(
        st.fixed_dictionaries({}, optional={"n": json_values, "median": json_values}), json_values)}),
        st.integers(MAX_LINE_DEPTH - 2, MAX_LINE_DEPTH + 40).map(lambda d: {"x": _nested(d)})),
)


def _dump(v: Any) -> str:
    return json.dumps(v)  # NaN/Infinity come out as the bare words Python's json reads back


lines = st.one_of(
    protocol.map(_dump), protocol.map(_dump), json_values.map(_dump),
    st.text(max_size=200),
    st.binary(max_size=200).map(lambda b: b.decode("utf-8", "replace")),
    protocol.map(_dump).flatmap(lambda s: st.integers(0, len(s)).map(lambda i: s[:i])),  # cut
    st.sampled_from(['{"type": "result", "summary": ' + "[" * 50_000 + "]" * 50_000 + "}",
                     '{"type": "progress", "done": 1' + "0" * 5000 + "}",
                     '{"type": "progress", "last": NaN, "recent": [Infinity, -Infinity, NaN]}',
                     '{"type": "result", "summary": {"median": 1' + "0" * 400 + "}}"]),
)


# -- parse_line ------------------------------------------------------------------------------

@FUZZ
@given(st.one_of(lines, st.binary(max_size=300)))
def test_parse_line_never_raises(line: str | bytes) -> None:
    msg = parse_line(line)
    assert msg is None or (isinstance(msg, dict) and msg["type"] in LINE_TYPES)


# -- the runner's handler and everything downstream of it -------------------------------------

def _runner(tmp: str) -> ExperimentRunner:
    role = Role("wl", "matmul", argv=(sys.executable, "-c", "pass"))
    spec = ExperimentSpec("fuzz", (role,), (Mode("a", False), Mode("b", False)), repeats=1)
    return ExperimentRunner(spec, Config(), results_dir=tmp, environ=BASE_ENV,
                            on_event=_check_event)


def _check_event(ev: Any) -> None:
    if isinstance(ev, RunProgress):
        assert ev.last is None or isinstance(ev.last, float)
        assert all(isinstance(v, float) for v in ev.recent)


def _feed(runner: ExperimentRunner, mode: Mode, index: int, feed: list[str]) -> RunRecord:
    """One run whose stdout said ``feed`` and that exited 0, through the runner's own path."""
    role = runner.spec.roles[0]
    lv = runner._start(index, 0, mode, role, trial=index, refuse="not started: lines fed by the test")
    lv.error, lv.status = None, ExitStatus(0)  # as if the child ran and exited 0
    for line in feed:
        lv.on_stdout(line)  # what the child's stdout reader calls, exceptions included
    return runner._finish(lv)


@settings(FUZZ, max_examples=60)
@given(st.lists(lines, min_size=1, max_size=5))
def test_runner_handles_any_stdout(feed: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        runner = _runner(tmp)
        a, b = runner.spec.modes
        rec = _feed(runner, a, 1, feed)
        _feed(runner, b, 2, [json.dumps(GOOD_RESULT)])
        results = [parse_line(x) for x in feed]
        last_result = next((m for m in reversed(results) if m and m["type"] == "result"), None)
        if rec.result is None and last_result is not None:  # the result line was malformed
            assert not rec.valid and rec.invalid_reason, rec
            if parse_line(feed[-1]) == last_result:  # (a later error line replaces the reason)
                assert "malformed result line: " in rec.invalid_reason, rec
        if rec.result is not None:
            assert result_problem(rec.result) is None
            assert isinstance(rec.value, (float, type(None)))
        # What the analyses and reports read of a run.
        priority.latencies(rec)
        priority.throughput(rec)
        priority.window(rec)
        json.dumps(rec.to_json(), allow_nan=False)
        with open(runner.result_path, encoding="utf-8") as f:
            doc = json.load(f)
        VALIDATOR.validate(doc)
        assert len(doc["runs"]) == 2
        assert (Path(runner.folder) / "report.md").is_file()


@pytest.mark.parametrize(("line", "words"), [
    ('{"type": "result", "summary": [1, 2]}', "summary is [1, 2], not an object"),
    ('{"type": "result", "summary": "fast"}', "summary is 'fast', not an object"),
    ('{"type": "result", "metric": null, "summary": {"median": 1}}', "metric is None, not text"),
    ('{"type": "result", "correct": "yes", "summary": {"median": 1}}', "correct is 'yes'"),
    ('{"type": "result", "summary": {"n": "3", "median": 1}}', "summary.n is '3', not a number"),
    ('{"type": "result", "summary": {"median": 1' + "0" * 400 + "}}", "a number too large"),
    ('{"type": "result", "values": 5, "summary": {"median": 1}}', "values is 5, not a list"),
    ('{"type": "result", "metric": ["iter_ms"], "summary": {"median": 1}}', "metric is ['iter_ms']"),
    ('{"type": "result", "wall_s": "1", "summary": {"median": 1}}', "wall_s is '1', not a number"),
    ('{"type": "result", "x": ' + json.dumps(_nested(MAX_LINE_DEPTH + 5)) + "}", "nested deeper"),
])
def test_malformed_result_lines_make_the_run_invalid(tmp_path: Path, line: str, words: str) -> None:
    runner = _runner(str(tmp_path))
    rec = _feed(runner, runner.spec.modes[0], 1, [line])
    assert rec.result is None and not rec.valid
    assert rec.invalid_reason and words in rec.invalid_reason, rec.invalid_reason


def test_huge_and_non_finite_progress(tmp_path: Path) -> None:
    events: list[Any] = []
    runner = _runner(str(tmp_path))
    runner.on_event = events.append
    _feed(runner, runner.spec.modes[0], 1, [
        '{"type": "progress", "done": 4, "total": 4, "last": 1' + "0" * 400 + "}",  # ignored
        '{"type": "progress", "done": 5, "total": 5, "last": NaN, "recent": [2.5, NaN, Infinity]}',
        json.dumps(GOOD_RESULT)])
    prog = [e for e in events if isinstance(e, RunProgress)]
    assert [(p.done, p.last, p.recent) for p in prog] == [(5, None, (2.5,))]


# -- real subprocesses through the real runner --------------------------------------------------

PRINTER = "import os, sys; sys.stdout.write(open(os.environ['FUZZ_LINES']).read()); sys.stdout.flush()"
REAL_CASES = {
    "summary-is-a-list": ['{"type": "ready"}', '{"type": "result", "metric": "iter_ms", "summary": [1]}'],
    "huge-progress-then-good": ['{"type": "progress", "done": 1, "total": 1, "last": 1' + "0" * 400
                                + "}", json.dumps(GOOD_RESULT)],
    "deep-result": ['{"type": "result", "summary": ' + json.dumps(_nested(200)) + "}"],
    "garbage-and-binary": ["\x00\x1b[31m{not json", "{" * 100, '{"type": 5}', json.dumps(GOOD_RESULT)[:40]],
}


@pytest.mark.parametrize("name", sorted(REAL_CASES))
def test_real_workload_printing_bad_lines(tmp_path: Path, name: str) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(REAL_CASES[name]) + "\n")
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps(GOOD_RESULT) + "\n")
    roles = (Role("wl", "matmul", argv=(sys.executable, "-c", PRINTER)),)
    modes = (Mode("a", False, env={"FUZZ_LINES": str(bad)}),
             Mode("b", False, env={"FUZZ_LINES": str(good)}))
    out = ExperimentRunner(ExperimentSpec("fuzz", roles, modes, repeats=1, timeout_s=60),
                           Config(), results_dir=str(tmp_path / "results"), environ=BASE_ENV).run()
    assert out.status == "finished", out
    a, b = out.runs
    assert b.valid, b.invalid_reason
    if name == "huge-progress-then-good":
        assert a.valid, a.invalid_reason
    else:
        assert not a.valid and a.invalid_reason
        if name != "garbage-and-binary":
            assert "malformed result line" in a.invalid_reason, a.invalid_reason
    with open(out.result_path, encoding="utf-8") as f:
        VALIDATOR.validate(json.load(f))


def test_over_long_line_is_cut_and_ignored(tmp_path: Path) -> None:
    """A line over the reader's cap arrives cut and marked: not JSON, so not a protocol line."""
    got: list[str] = []
    line = json.dumps({**GOOD_RESULT, "values": [1.0] * 5000})
    child = Child([sys.executable, "-c", f"print({line!r}); print('{{\"type\": \"ready\"}}')"],
                  on_stdout=got.append, max_stdout_line=1000)
    assert child.wait(timeout=30).ok
    assert len(got) == 2 and "more bytes cut" in got[0]
    assert parse_line(got[0]) is None and parse_line(got[1]) == {"type": "ready"}
