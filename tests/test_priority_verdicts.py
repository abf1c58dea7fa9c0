"""What a priority experiment may conclude, and from which runs (the audit of issue 6).

Real subprocesses: the workload protocol stand-in (tests/standin_workload.py), the C test double
of XSched (NOT XSched) preloaded as the shim, a stand-in xserver process on 127.0.0.1 that lists
XQueues for the experiment's own processes (tests/standin_xserver.py, STANDIN_XSERVER_DYNAMIC),
and the CLI end to end for every verdict's exit code. Synthetic run records where only the
arithmetic is under test (which trials count, CIs of shares and SLOs)."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest

import test_experiment
from test_experiment import BASE_ENV, double_config, load
from test_priority import SCHEMA, XSERVER, bg, fg, free_port
from xsched_tui.cli_priority import summary_text
from xsched_tui.core.config import Config
from xsched_tui.core.experiment import (
    ExperimentRunner,
    Fingerprint,
    Mode,
    RunEvents,
    RunRecord,
)
from xsched_tui.core.expreport import entry_of, to_markdown
from xsched_tui.core.prioreport import markdown
from xsched_tui.core.priority import priority_from_runs
from xsched_tui.core.priospec import RoleSpec, SchedChoice, build_priority_spec

import test_cli_overhead
from test_cli_overhead import cli, double_args

lib = test_experiment.lib  # the C test double's install tree (a module-scoped fixture)
fakepy = test_cli_overhead.fakepy  # a workloads "interpreter" that runs the protocol stand-in

FIXTURES = Path(__file__).with_name("fixtures") / "priority-v1"


@pytest.fixture
def results(tmp_path: Path) -> str:
    return str(tmp_path / "results")


def run(spec, cfg, results, **kw):
    return ExperimentRunner(spec, cfg, results_dir=results, environ={**BASE_ENV, **kw}).run()


def stats(an) -> dict:
    return {(s["role"], s["mode"]): s for s in an["stats"]}


# -- synthetic records: the arithmetic ------------------------------------------------------------

def rec(index: int, trial: int, mode: str, role: str, values, *, t0: float = 0.0, t1: float = 10.0,
        valid: bool = True, result: bool = True, metric: str | None = None,
        rate: float | None = None, reason: str | None = None) -> RunRecord:
    metric = metric or ("latency_ms" if role in ("fg", "t1") else "tflops")
    res = None
    if result:
        res = {"metric": metric, "values": list(values), "measure_t0": t0, "measure_t1": t1,
               "summary": {"median": sorted(values)[len(values) // 2]}}
        if metric == "tflops":
            res["tflops"] = float(sorted(values)[len(values) // 2])
        if rate is not None:
            res["req_per_s"] = rate
    return RunRecord(index, 0, mode, role, 1000 + index, (), {}, t0, t1, 0 if valid else 1, None,
                     "exit code 0" if valid else "exit code 1", False, False, res, None,
                     RunEvents((), 0, 0, (), None, None), Fingerprint(True, None, None, None, None, ()),
                     valid, None if valid else (reason or "exit code 1"), "x", trial=trial)


def dual_spec(xsched: bool = True):
    spec = build_priority_spec(Config(), [fg(), bg()], sched=SchedChoice(),
                               configs=("standalone", "native"), repeats=1, primary=["fg"])
    return replace(spec, modes=(*spec.modes, Mode("xsched", True))) if xsched else spec


def test_a_role_without_a_measurement_window_covers_nothing():
    """Gap 1: a background that wrote no result is not 'overlapped' by its process lifetime."""
    runs = [rec(1, 1, "standalone-fg", "fg", [1.0] * 10), rec(2, 2, "standalone-bg", "bg", [500]),
            rec(3, 3, "native", "fg", [2.0] * 10), rec(4, 3, "native", "bg", [500], result=False,
                                                       valid=False)]
    res = priority_from_runs(runs, dual_spec(xsched=False))
    o = res.overlap[0]
    assert o.coverage == {"bg": 0.0} and not o.ok and o.basis == "no measurement: bg"
    assert res.verdict == "INVALID" and "native" in res.verdict_reason
    assert "role bg" in res.verdict_reason  # named, with its reason
    assert res.stat("fg", "native").counted == 0


def test_only_trials_that_overlapped_with_every_role_valid_count():
    """Gap 2: a non-overlapping XSched trial (which alone would 'help') and a native trial whose
    background was invalid are left out, listed, and not pooled."""
    runs = [rec(1, 1, "standalone-fg", "fg", [1.0] * 100), rec(2, 2, "standalone-bg", "bg", [500]),
            rec(3, 3, "native", "fg", [2.0] * 100), rec(4, 3, "native", "bg", [500]),
            rec(5, 4, "xsched", "fg", [0.5] * 100, t0=100, t1=110),  # bg started after it ended
            rec(6, 4, "xsched", "bg", [500], t0=111, t1=120),
            rec(7, 5, "native", "fg", [9.0] * 100), rec(8, 5, "native", "bg", [1], valid=False),
            rec(9, 6, "xsched", "fg", [2.0] * 100), rec(10, 6, "xsched", "bg", [500])]
    res = priority_from_runs(runs, dual_spec())
    assert [(t.trial, t.counted) for t in res.trials] == [(3, True), (4, False), (5, False),
                                                          (6, True)]
    assert {e["run"] for e in res.excluded} == {5, 6, 7}
    assert any("overlap bg 0%" in e["reason"] for e in res.excluded if e["run"] == 5)
    assert any("bg invalid" in e["reason"] for e in res.excluded if e["run"] == 7)
    assert res.stat("fg", "xsched").requests == 100 and res.stat("fg", "native").requests == 100
    assert res.stat("fg", "native").p99_ms == 2.0  # trial 5's 9 ms requests are not pooled
    assert res.verdict == "NO EFFECT", res.verdict_reason
    assert any("2 of 4 co-located trials not counted" in n for n in res.notes)
    doc = res.to_json()
    assert doc["version"] == 2 and 5 not in doc["counted_runs"] and 9 in doc["counted_runs"]
    md = "\n".join(markdown(doc))
    assert "Valid runs left out because their trial does not count" in md
    assert "| 4 | xsched | measurement | bg 0.0% | **no** | **no**: overlap bg 0% < 95% |" in md


def test_an_xsched_configuration_with_no_overlapping_trial_is_invalid():
    """Gap 2 (the reviewer's ov.py): 0% overlap under XSched used to read XSCHED HELPS 0.50."""
    runs = [rec(1, 1, "standalone-fg", "fg", [1.0] * 100), rec(2, 2, "standalone-bg", "bg", [500]),
            rec(3, 3, "native", "fg", [2.0] * 100, t0=100, t1=110),
            rec(4, 3, "native", "bg", [500], t0=100, t1=110),
            rec(5, 4, "xsched", "fg", [1.0] * 100, t0=200, t1=210),
            rec(6, 4, "xsched", "bg", [500], t0=211, t1=220)]
    res = priority_from_runs(runs, dual_spec())
    assert res.verdict == "INVALID", res.verdict_reason
    assert "never ran at the same time under XSched" in res.verdict_reason


def _partition(values_a, values_b, sa=(300.0, 300.0)):
    a = RoleSpec("a", "matmul", {}, utilization=75, argv=("x",))
    b = RoleSpec("b", "matmul", {}, utilization=25, argv=("x",))
    spec = build_priority_spec(Config(), [a, b], sched=SchedChoice(),
                               configs=("standalone",), repeats=len(values_a))
    spec = replace(spec, modes=(*spec.modes, Mode("xsched", True)))
    runs, i, t = [], 0, 0
    for k, (va, vb) in enumerate(zip(values_a, values_b, strict=True)):
        for role, v in (("a", sa[k % 2]), ("b", sa[k % 2])):
            i, t = i + 1, t + 1
            runs.append(rec(i, t, f"standalone-{role}", role, [v]))
        t += 1
        runs += [rec(i + 1, t, "xsched", "a", [va]), rec(i + 2, t, "xsched", "b", [vb])]
        i += 2
    return priority_from_runs(runs, spec)


def test_partition_verdict_follows_the_ci_of_each_share():
    """Gap 6: shares get bootstrap CIs; REACHED only when each CI lies within target ± 0.10,
    INCONCLUSIVE when one straddles the band's edge."""
    res = _partition([225, 226, 224], [75, 74, 76])
    assert res.verdict == "SPLIT REACHED", res.verdict_reason
    lo, hi = res.shares_ci["xsched"]["a"]
    assert lo <= res.shares["xsched"]["a"] <= hi
    res = _partition([300, 140, 260], [40, 130, 60])  # a's share 0.88 / 0.52 / 0.81
    assert res.verdict == "INCONCLUSIVE", res.verdict_reason
    assert "straddles" in res.verdict_reason
    res = _partition([150, 151, 149], [150, 149, 151])
    assert res.verdict == "SPLIT NOT REACHED"


def _tenants(t1_values, p99_ms=10.0, t2_rate=50.0):
    roles = [RoleSpec("t1", "infer", {"rate": 50}, priority=2, p99_ms=p99_ms, argv=("x",)),
             RoleSpec("t2", "infer", {"rate": 50}, priority=1, min_throughput_frac=0.5,
                      argv=("x",))]
    spec = build_priority_spec(Config(), roles, sched=SchedChoice(), configs=("standalone",
                                                                              "native"), repeats=1)
    runs = [rec(1, 1, "standalone-t1", "t1", [1.0] * 200, rate=50),
            rec(2, 2, "standalone-t2", "t2", [1.0] * 50, metric="latency_ms", rate=50),
            rec(3, 3, "native", "t1", t1_values, rate=50),
            rec(4, 3, "native", "t2", [1.0] * 50, metric="latency_ms", rate=t2_rate)]
    return priority_from_runs(runs, spec)


def test_slo_p99_is_judged_by_its_ci_and_periodic_tenants_get_a_throughput_ratio():
    """Gap 6: a p99 whose CI straddles the limit is undecided, not met; gap 13: an infer tenant
    with min_throughput_frac is evaluated (its achieved request rate vs standalone)."""
    tail = [1.0] * 190 + [5.0, 8.0, 9.0, 9.5, 10.5, 11.0, 12.0, 13.0, 14.0, 15.0]
    res = _tenants(tail)
    t1 = res.stat("t1", "native")
    assert t1.p99_ci[0] <= 10.0 < t1.p99_ci[1]
    assert t1.slo[0].met is None and "straddles" in t1.slo[0].text
    t2 = res.stat("t2", "native")
    assert t2.throughput_ratio.value == pytest.approx(1.0)
    assert t2.slo[0].met is True, t2.slo
    assert res.verdict == "INCONCLUSIVE" and "t1 (p99" in res.verdict_reason
    res = _tenants([1.0] * 200, t2_rate=20.0)
    assert res.stat("t2", "native").slo[0].met is False
    assert res.verdict == "SLOS MISSED" and "t2:" in res.verdict_reason
    assert _tenants([1.0] * 200).verdict == "SLOS MET"


# -- real processes ------------------------------------------------------------------------------

def test_a_background_that_dies_at_start_is_not_counted(lib, results):
    """Gap 1 (scenario scen-bgdies): the double aborts the background with XSched's batch >
    threshold assertion under XSched only. Its end is when it died, its coverage 0, and the
    foreground's lone run is no co-located result."""
    spec = build_priority_spec(double_config(lib), [fg(), bg()], sched=SchedChoice("local"),
                               configs=("native", "xsched"), repeats=1, primary=["fg"])
    spec = replace(spec, roles=(spec.roles[0], replace(spec.roles[1], env={"XSTD_ASSERT": "1"})))
    out = run(spec, double_config(lib), results)
    f = next(r for r in out.runs if r.mode == "xsched" and r.role == "fg")
    b = next(r for r in out.runs if r.mode == "xsched" and r.role == "bg")
    assert f.valid and not b.valid and b.result is None
    assert b.ended < f.result["measure_t1"]  # when it died, not when the trial was wrapped up
    an = out.analysis
    ov = next(o for o in an["overlap"] if o["mode"] == "xsched")
    assert ov["coverage"]["bg"] == 0 and not ov["ok"] and ov["basis"] == "no measurement: bg"
    assert an["verdict"] == "INVALID", an["verdict_reason"]
    assert "no valid run under XSched (xsched) of role bg" in an["verdict_reason"]
    assert "Assertion" in an["verdict_reason"] or "exit code 1" in an["verdict_reason"]
    report = (Path(out.folder) / "report.md").read_text()
    assert "| 2 | xsched | no measurement: bg | bg 0.0% | **no** | **no**: bg invalid" in report
    jsonschema.validate(load(out.folder), SCHEMA)


def test_a_foreground_never_scheduled_under_xsched_makes_it_invalid(lib, results):
    """Gap 3 (scen-fgnoxq): only the foreground got no XQueue; it used to read INCONCLUSIVE."""
    spec = build_priority_spec(double_config(lib), [fg(), bg()], sched=SchedChoice("local"),
                               configs=("standalone", "native", "xsched"), repeats=1,
                               primary=["fg"])
    spec = replace(spec, roles=(replace(spec.roles[0], env={"XSTD_XQUEUES": "0"}), spec.roles[1]))
    out = run(spec, double_config(lib), results)
    an = out.analysis
    assert an["verdict"] == "INVALID", an["verdict_reason"]
    assert "of role fg" in an["verdict_reason"] and "0 XQueues" in an["verdict_reason"]
    assert "role bg" not in an["verdict_reason"]


def test_a_crash_at_exit_is_counted_labelled_and_worse_than_native_is_said(lib, results):
    """Gap 4 (scen-crash, the H100 case): the XSched foreground crashes with SIGSEGV after its
    result and is 1.6x slower than native: WORSE THAN NATIVE, with the crash shown."""
    spec = build_priority_spec(double_config(lib), [fg(2.0, "--xsched-factor", "1.6"), bg()],
                               sched=SchedChoice("local"), repeats=2, primary=["fg"])
    f0 = spec.roles[0]
    spec = replace(spec, roles=(replace(f0, xsched_env={**f0.xsched_env,
                                                        "STANDIN_CRASH_AT_EXIT": "1"}),
                                spec.roles[1]))
    out = run(spec, double_config(lib), results)
    xf = [r for r in out.runs if r.mode == "xsched" and r.role == "fg"]
    assert all(not r.valid and r.crash_at_exit and r.exit_signal == "SIGSEGV" for r in xf)
    nf = [r for r in out.runs if r.mode == "native" and r.role == "fg"]
    assert all(r.valid and not r.crash_at_exit for r in nf)
    an = out.analysis
    st = stats(an)[("fg", "xsched")]
    assert st["valid"] == 0 and st["counted"] == 2 and st["crashed_at_exit"] == 2
    assert an["verdict"] == "WORSE THAN NATIVE", an["verdict_reason"]
    assert an["xsched_vs_native"]["value"] == pytest.approx(1.6, rel=0.02)
    assert "crashed at exit (SIGSEGV)" in an["verdict_reason"]
    report = (Path(out.folder) / "report.md").read_text()
    assert "(**2 crashed at exit**)" in report and "**no** (crashed at exit)" in report
    assert "crashed at exit, its numbers are counted with this label" in report
    doc = load(out.folder)
    jsonschema.validate(doc, SCHEMA)
    assert "2 crashed at exit" in summary_text(doc)


def test_absolute_numbers_carry_their_spread_and_roles_their_settings(lib, results):
    """Gap 5: p99 with a CI and the per-run range, throughput with range, CI and n; gap 10: each
    role's priority and XSched settings and the priorities XSched logged; gap 9: the Runs table
    shows the number the analysis uses (the whole-run rate), not only the per-iteration median."""
    spec = build_priority_spec(double_config(lib),
                               [fg(2.0, "--jitter", "0.3"),
                                bg("--jitter", "0.2", threshold=4, batch_size=2)],
                               sched=SchedChoice("local"), repeats=2, primary=["fg"])
    out = run(spec, double_config(lib), results, XSTD_PRIORITY="1")
    an = out.analysis
    s = stats(an)[("fg", "native")]
    assert s["p99_ci"][0] <= s["p99_ms"] <= s["p99_ci"][1] and len(s["p99_per_run"]) == 2
    b = stats(an)[("bg", "standalone-bg")]
    assert b["throughput_min"] <= b["throughput_median"] <= b["throughput_max"]
    assert b["throughput_ci"][0] <= b["throughput_median"] <= b["throughput_ci"][1]
    assert b["throughput_basis"] == "whole-run rate"
    report = (Path(out.folder) / "report.md").read_text()
    lo, hi = min(s["p99_per_run"]), max(s["p99_per_run"])
    assert f"runs {lo:.3g}-{hi:.3g} (n=2)" in report
    assert f"runs {b['throughput_min']:.4g}-{b['throughput_max']:.4g} (n=2)" in report
    roles = {r["name"]: r for r in an["roles"]}
    assert roles["bg"]["xsched_env"]["XSCHED_AUTO_XQUEUE_THRESHOLD"] == "4"
    assert roles["fg"]["logged_priorities"] == [1]
    assert "| bg | matmul | no (told to stop) | 0 | `PRIORITY=0` `THRESHOLD=4` `BATCH_SIZE=2` | 1 |" \
        in report
    assert "value analysed" in report and "per-iteration median" in report
    text = summary_text(load(out.folder))
    assert f"run p99s {lo:.3g}-{hi:.3g}" in text and "(runs " in text


def test_global_scheduler_happy_path_with_a_stand_in_xserver_listing_our_pids(lib, results):
    """Gap 8: under the default global scheduler, a stand-in xserver that lists XQueues for the
    experiment's own processes (one ready, one suspended each): valid runs and a verdict."""
    port = free_port()
    sched = SchedChoice("global", "HPF", port, (sys.executable, XSERVER, "HPF", str(port)))
    spec = build_priority_spec(double_config(lib), [fg(4.0, "--xsched-factor", "0.6"), bg()],
                               sched=sched, repeats=2, primary=["fg"])
    out = run(spec, double_config(lib), results, STANDIN_XSERVER_DYNAMIC="1")
    xs = [r for r in out.runs if r.mode == "xsched"]
    assert all(r.valid for r in xs), [r.invalid_reason for r in xs]
    assert all(r.xserver["max_xqueues"] == 2 and r.xserver["max_suspended"] == 1 for r in xs)
    an = out.analysis
    assert an["verdict"] == "XSCHED HELPS", an["verdict_reason"]
    assert all(t["counted"] for t in an["trials"])
    jsonschema.validate(load(out.folder), SCHEMA)


# -- the CLI: every verdict's exit code, --partition, --tenant, refused combinations ----------------

def _cli(fakepy, lib, tmp_path, *args, **env):
    res = tmp_path / "res"
    p = cli("priority", *double_args(lib), "--python", fakepy, "--results", str(res),
            "--scheduler", "local", "--repeats", "2", "--json", *args,
            env={"STANDIN_METRIC": "by-kind", "STANDIN_JITTER": "0", "STANDIN_MEASURE_S": "0.2",
                 "STANDIN_VALUE_INFER": "2", "STANDIN_VALUE_MATMUL": "600", **env}, timeout=240)
    doc = json.loads(p.stdout) if p.stdout.strip().startswith("{") else None
    return p, doc


@pytest.mark.parametrize(("factor", "verdict", "code"), [
    ("1.6", "WORSE THAN NATIVE", 2), ("1", "NO EFFECT", 1), ("0.5", "XSCHED HELPS", 0)])
def test_cli_dual_verdicts_and_exit_codes(fakepy, lib, tmp_path, factor, verdict, code):
    p, doc = _cli(fakepy, lib, tmp_path, "--rate", "50", "--requests", "10",
                  STANDIN_XSCHED_FACTOR_INFER=factor)
    assert doc is not None, p.stderr[-2000:]
    assert doc["analysis"]["verdict"] == verdict, doc["analysis"]["verdict_reason"]
    assert p.returncode == code
    jsonschema.validate(doc, SCHEMA)


def test_cli_partition_split_reached(fakepy, lib, tmp_path):
    # two primaries measuring a fixed time each: 1 s windows keep start skew far below 5%
    p, doc = _cli(fakepy, lib, tmp_path, "--partition", "50/50", "--seconds", "1",
                  "--fg", "name=a,kind=matmul,priority=0", "--bg", "name=b,kind=matmul,priority=0",
                  STANDIN_MEASURE_S="1")
    assert doc is not None, p.stderr[-2000:]
    an = doc["analysis"]
    assert an["variant"] == "partition" and doc["spec"]["modes"][-1]["env"]["XSCHED_POLICY"] == "PUP"
    assert an["verdict"] == "SPLIT REACHED", an["verdict_reason"]
    assert p.returncode == 0
    listed = cli("runs", "--results", str(tmp_path / "res"))
    assert "shares xsched a 0.50, b 0.50" in listed.stdout, listed.stdout


def test_cli_tenants_slos_met(fakepy, lib, tmp_path):
    p, doc = _cli(fakepy, lib, tmp_path,
                  "--tenant", "name=t1,kind=infer,priority=2,rate=50,iters=10,p99_ms=100",
                  "--tenant", "name=t2,kind=matmul,priority=1,min_throughput_frac=0.2",
                  "--seconds", "0.5")
    assert doc is not None, p.stderr[-2000:]
    an = doc["analysis"]
    assert an["variant"] == "tenants" and an["verdict"] == "SLOS MET", an["verdict_reason"]
    assert p.returncode == 0
    assert "2 of 2 tenants met their SLOs" in an["verdict_reason"]
    listed = cli("runs", "--results", str(tmp_path / "res"))
    assert "SLOs met 2 of 2 under xsched" in listed.stdout, listed.stdout


@pytest.mark.parametrize(("args", "words"), [
    (["--tenant", "name=a,kind=infer,rate=5", "--tenant", "name=b,kind=matmul", "--rate", "100"],
     "--rate cannot be combined with --tenant"),
    (["--tenant", "name=a,kind=infer,rate=5", "--tenant", "name=b,kind=matmul", "--fg",
      "name=x,kind=infer", "--partition", "75/25"], "--fg, --partition cannot be combined"),
    (["--partition", "75/25", "--requests", "50"], "--requests cannot be combined with --partition"),
])
def test_cli_refuses_flags_the_variant_would_ignore(tmp_path, args, words):
    """Gap 11: --tenant used to ignore --partition, --rate and --requests silently."""
    p = cli("priority", "--configs", "standalone,native", "--results", str(tmp_path), *args)
    assert p.returncode == 64 and words in p.stderr, p.stderr


# -- old result.json files ----------------------------------------------------------------------

def test_version_1_results_still_load_list_and_render():
    """result.json written before analysis version 2 (no counted trials, no spreads): `runs`
    lists them, partition included (gap 12), and the report renders from them."""
    dual = entry_of(str(FIXTURES / "20261203-145658-dual"))
    assert dual.verdict == "XSCHED HELPS" and dual.headline == "fg p99 native 1.00x, xsched 0.60x"
    part = entry_of(str(FIXTURES / "20261203-153137-partition"))
    assert part.verdict == "SPLIT NOT REACHED"
    assert part.headline.startswith("shares xsched a 0.50, b 0.50")
    for d in ("20261203-145658-dual", "20261203-153137-partition"):
        doc = json.loads((FIXTURES / d / "result.json").read_text())
        assert "version" not in doc["analysis"]
        jsonschema.validate(doc, SCHEMA)
        md = to_markdown(doc)
        assert "## Per configuration" in md and "Written before spreads" in md
        summary_text(doc)
    listed = cli("runs", "--results", str(FIXTURES))
    assert listed.returncode == 0 and "shares xsched a 0.50" in listed.stdout, listed.stdout


def test_stderr_read_before_the_pid_is_known_reaches_the_live_view_with_its_pid(tmp_path):
    """The loader's `cannot be preloaded` line is printed at exec, and the reader thread can
    read it before Child() has returned: it used to reach the live log hub with pid None, so
    the banner could say 'not loaded' without the loader error. Held, then sent with the pid."""
    from xsched_tui.core.experiment import ExperimentSpec, Role
    from xsched_tui.core.runner import Child

    got: list[tuple[str, int | None, str]] = []
    role = Role("wl", "matmul", argv=(sys.executable, "-c", "pass"))
    spec = ExperimentSpec("early", (role,), (Mode("a", False),), repeats=1)
    runner = ExperimentRunner(spec, Config(), results_dir=str(tmp_path), environ=BASE_ENV,
                              on_log=lambda label, pid, line: got.append((label, pid, line)))
    lv = runner._start(1, 0, spec.modes[0], role, trial=1, refuse="started by the test")
    lv.error = None
    lv.on_stderr("ERROR: ld.so: object 'x.so' from LD_PRELOAD cannot be preloaded: ignored.")
    assert got == []  # no pid yet: held back
    child = Child([sys.executable, "-c", "import sys; sys.stderr.write('later\\n')"],
                  env=dict(BASE_ENV), on_stderr=lv.on_stderr)
    lv.set_child(child)
    child.wait(timeout=30)
    assert got[0] == ("a/wl#1", child.pid,
                      "ERROR: ld.so: object 'x.so' from LD_PRELOAD cannot be preloaded: ignored.")
    assert any(line == "later" and pid == child.pid for _, pid, line in got)
    lv.close_files()
