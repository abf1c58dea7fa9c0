"""Priority experiments (dual-model, tenants, partition) against real subprocesses: the workload
protocol stand-in (tests/standin_workload.py), the C test double of XSched (NOT XSched) preloaded
as the shim, a stand-in xserver process that serves the recorded H100 answers over real HTTP
(tests/standin_xserver.py), and real PyTorch (CPU) workloads through the CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

import test_experiment
from test_experiment import BASE_ENV, alive, double_config, load
from xsched_tui.core.config import Config
from xsched_tui.core.experiment import ExperimentRunner, RunRecord
from xsched_tui.core.priority import priority_from_runs
from xsched_tui.core.priospec import RoleSpec, SchedChoice, build_priority_spec, parse_role

import test_cli_overhead
from xserver_double import XServerDouble, load_recorded

lib = test_experiment.lib  # the C test double's install tree (a module-scoped fixture)
fakepy = test_cli_overhead.fakepy  # a workloads "interpreter" that runs the protocol stand-in

ROOT = Path(__file__).resolve().parent.parent
STANDIN = str(Path(__file__).with_name("standin_workload.py"))
XSERVER = str(Path(__file__).with_name("standin_xserver.py"))
SCHEMA = json.loads((ROOT / "docs" / "experiment-result.schema.json").read_text())


def standin(*args: str) -> tuple[str, ...]:
    return (sys.executable, STANDIN, *args)


def fg(value: float = 2.0, *extra: str, **kw) -> RoleSpec:
    return RoleSpec("fg", "infer", {"rate": 50}, priority=1, argv=standin(
        "--metric", "latency_ms", "--value", str(value), "--iters", "10", "--measure-s", "0.4",
        *extra), **kw)


def bg(*extra: str, **kw) -> RoleSpec:
    return RoleSpec("bg", "matmul", {}, priority=0, argv=standin(
        "--metric", "tflops", "--value", "600", "--iters", "10", "--measure-s", "0.3", *extra), **kw)


@pytest.fixture
def results(tmp_path: Path) -> str:
    return str(tmp_path / "results")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(spec, cfg, results, **kw):
    return ExperimentRunner(spec, cfg, results_dir=results, environ={**BASE_ENV, **kw}).run()


def test_dual_model_background_is_stopped_when_the_foreground_ends(results):
    spec = build_priority_spec(Config(), [fg(), bg()], sched=SchedChoice(),
                               configs=("standalone", "native"), repeats=2, primary=["fg"])
    assert [m.name for m in spec.modes] == ["standalone-fg", "standalone-bg", "native"]
    out = run(spec, Config(), results)
    assert out.status == "finished" and all(r.valid for r in out.runs), \
        [r.invalid_reason for r in out.runs]
    co = [r for r in out.runs if r.mode == "native"]
    bgs = [r for r in co if r.role == "bg"]
    fgs = [r for r in co if r.role == "fg"]
    # the background ran "until told": stopped by the stop line right after the foreground ended
    for b, f in zip(bgs, fgs, strict=True):
        assert b.trial == f.trial and b.told_stop is not None
        assert b.result["stopped_by"] == "stdin"
        assert "--until-stdin" in b.argv and "--wait-stdin" in f.argv
        assert b.told_stop >= f.result["measure_t1"]
    solo = next(r for r in out.runs if r.mode == "standalone-bg")
    assert solo.result["stopped_by"] == "limit" and solo.told_stop is None

    an = out.analysis
    assert an["variant"] == "dual" and an["foreground"] == "fg"
    assert an["overlap"] and all(o["ok"] for o in an["overlap"])
    assert all(o["coverage"]["bg"] > 0.95 for o in an["overlap"])
    st = {(s["role"], s["mode"]): s for s in an["stats"]}
    assert st[("fg", "native")]["p99_ratio"]["value"] == pytest.approx(1.0, abs=0.02)
    assert st[("bg", "native")]["throughput_ratio"]["value"] == pytest.approx(1.0, abs=0.02)
    assert st[("fg", "standalone-fg")]["requests"] == 20  # 10 requests x 2 repeats, pooled
    assert an["verdict"] == "INCONCLUSIVE" and "native p99 1.00x" in an["verdict_reason"]

    doc = load(out.folder)
    jsonschema.validate(doc, SCHEMA)
    report = (Path(out.folder) / "report.md").read_text()
    for text in ("## Per configuration", "## Foreground latency CDF", "![latency CDF](cdf.svg)",
                 "## Did the configurations overlap?", "**INCONCLUSIVE**"):
        assert text in report
    svg = (Path(out.folder) / "cdf.svg").read_text()
    assert svg.startswith("<svg") and "standalone-fg" in svg and "native" in svg


def test_xsched_local_scheduler_helps_and_is_proven_by_the_double(lib, results):
    # The stand-in's latencies drop to 0.6x whenever XSched variables are set; the double logs a
    # scheduler line, XQueue creations and their priority in every XSched process.
    spec = build_priority_spec(
        double_config(lib), [fg(4.0, "--xsched-factor", "0.6"), bg()],
        sched=SchedChoice("local", "HPF"), repeats=2, primary=["fg"])
    out = run(spec, double_config(lib), results, XSTD_PRIORITY="1")
    xs = [r for r in out.runs if r.mode == "xsched"]
    assert xs and all(r.valid for r in xs), [r.invalid_reason for r in xs]
    assert all(r.events.scheduling is True and r.events.xqueues_created == 2 for r in xs)
    f = next(r for r in xs if r.role == "fg")
    assert f.env["XSCHED_AUTO_XQUEUE_PRIORITY"] == "1" and f.env["XSCHED_POLICY"] == "HPF"
    assert f.env["XSCHED_AUTO_XQUEUE"] == "ON"
    b = next(r for r in xs if r.role == "bg")
    assert b.env["XSCHED_AUTO_XQUEUE_PRIORITY"] == "0"
    nat = next(r for r in out.runs if r.mode == "native" and r.role == "fg")
    assert not any(k.startswith("XSCHED_") for k in nat.env)  # native gets no XSched variables
    an = out.analysis
    assert an["verdict"] == "XSCHED HELPS", an["verdict_reason"]
    assert an["xsched_vs_native"]["ci_hi"] < 1
    assert "XSched p99 0.60x standalone" in an["verdict_reason"]
    jsonschema.validate(load(out.folder), SCHEMA)


def test_no_xqueues_makes_the_experiment_invalid_not_a_result(lib, results):
    spec = build_priority_spec(double_config(lib), [fg(), bg()], sched=SchedChoice("local"),
                               configs=("native", "xsched"), repeats=1, primary=["fg"])
    out = run(spec, double_config(lib), results, XSTD_XQUEUES="0")
    xs = [r for r in out.runs if r.mode == "xsched"]
    assert all(not r.valid and "0 XQueues" in r.invalid_reason for r in xs)
    assert out.analysis["verdict"] == "INVALID"
    assert "no valid run under XSched" in out.analysis["verdict_reason"]


def test_global_scheduler_starts_checks_and_stops_its_xserver(lib, results):
    port = free_port()
    sched = SchedChoice("global", "HPF", port, (sys.executable, XSERVER, "HPF", str(port)))
    spec = build_priority_spec(double_config(lib), [fg(), bg()], sched=sched,
                               configs=("xsched",), repeats=1, primary=["fg"])
    mode = spec.modes[0]
    assert mode.xserver is not None and mode.env["XSCHED_SCHEDULER"] == "GLB"
    out = run(spec, double_config(lib), results)
    folder = Path(out.folder)
    doc = json.loads((folder / "trials" / "001-xserver.json").read_text())
    assert doc["error"] is None and doc["polls"] >= 1 and doc["exit"] == "exit code 0"
    log = (folder / "trials" / "001-xserver.log").read_text()
    assert f"HTTP server listening on port {port}" in log and "xserver stopped" in log
    pid = doc["pid"]
    assert not os.path.exists(f"/proc/{pid}") or "Z" in Path(f"/proc/{pid}/stat").read_text()
    # The recorded answers list other pids' XQueues: these processes got none -> not a result.
    for r in out.runs:
        assert r.events.scheduler_lines == ("global",)
        assert r.xserver is not None and r.xserver["max_xqueues"] == 0
        assert not r.valid and "0 XQueues" in r.invalid_reason
    assert out.analysis["verdict"] == "INVALID"
    jsonschema.validate(load(out.folder), SCHEMA)


def test_a_port_already_answering_is_refused_and_runs_are_not_started(lib, results, samples):
    answers = load_recorded(samples / "explicit-stream" / "xserver-http-during-run.txt")
    with XServerDouble(answers) as srv:
        sched = SchedChoice("global", "HPF", srv.port,
                            (sys.executable, XSERVER, "HPF", str(srv.port)))
        spec = build_priority_spec(double_config(lib), [fg(), bg()], sched=sched,
                                   configs=("xsched",), repeats=1, primary=["fg"])
        out = run(spec, double_config(lib), results)
    assert all(r.pid is None and not r.valid for r in out.runs)
    assert all("already answers on port" in r.invalid_reason for r in out.runs)


def test_an_xserver_that_dies_at_start_is_reported(lib, results):
    port = free_port()
    sched = SchedChoice("global", "HPF", port, (sys.executable, XSERVER, "HPF", str(port)))
    spec = build_priority_spec(double_config(lib), [fg(), bg()], sched=sched,
                               configs=("xsched",), repeats=1, primary=["fg"])
    out = run(spec, double_config(lib), results, STANDIN_XSERVER_EXIT="1")
    assert all("xserver exited at start (exit code 1)" in r.invalid_reason for r in out.runs)


def test_crash_after_the_result_line_is_reported_with_its_signal(results):
    spec = build_priority_spec(Config(), [fg(2.0, "--crash-at-exit"), bg()], sched=SchedChoice(),
                               configs=("standalone", "native"), repeats=1, primary=["fg"])
    out = run(spec, Config(), results)
    crashes = out.analysis["crashes"]
    assert {c["mode"] for c in crashes} == {"standalone-fg", "native"}
    assert all(c["signal"] == "SIGSEGV" and c["result_written"] for c in crashes)
    assert any("SIGSEGV after writing its result" in n for n in out.analysis["notes"])
    assert "## Crashes" in (Path(out.folder) / "report.md").read_text()


def test_tenants_slo_accounting(results):
    roles = [
        RoleSpec("t1", "infer", {"rate": 50}, priority=3, p99_ms=100, argv=standin(
            "--metric", "latency_ms", "--value", "50", "--iters", "8", "--measure-s", "0.3")),
        RoleSpec("t2", "infer", {"rate": 50}, priority=2, p99_ms=500, deadline_ms=550,
                 argv=standin("--metric", "latency_ms", "--value", "600", "--jitter", "0.05",
                              "--iters", "8", "--measure-s", "0.3")),
        RoleSpec("t3", "matmul", {}, priority=1, min_throughput_frac=0.2, argv=standin(
            "--metric", "tflops", "--value", "100", "--iters", "5", "--measure-s", "0.2")),
    ]
    spec = build_priority_spec(Config(), roles, sched=SchedChoice(),
                               configs=("standalone", "native"), repeats=1)
    assert {r.name for r in spec.roles if r.primary} == {"t1", "t2"}
    out = run(spec, Config(), results)
    an = out.analysis
    assert an["variant"] == "tenants"
    st = {(s["role"], s["mode"]): s for s in an["stats"]}
    assert st[("t1", "native")]["slo_met"] is True
    t2 = st[("t2", "native")]
    assert t2["slo_met"] is False and t2["deadline_misses"] == 8
    assert st[("t3", "native")]["slo_met"] is True
    assert st[("t3", "native")]["throughput_ratio"]["value"] == pytest.approx(1.0, abs=0.05)
    assert an["verdict"] == "SLOS MISSED" and "t2: p99" in an["verdict_reason"]
    assert "2 of 3 tenants met their SLOs" in an["verdict_reason"]


def _rec(trial: int, mode: str, role: str, t0: float, t1: float, values) -> RunRecord:
    from xsched_tui.core.experiment import Fingerprint, RunEvents

    metric = "latency_ms" if role == "fg" else "tflops"
    res = {"metric": metric, "values": values, "measure_t0": t0, "measure_t1": t1,
           "summary": {"median": values[len(values) // 2]}}
    if role == "bg":
        res["tflops"] = 500.0
    return RunRecord(trial, 0, mode, role, 100 + trial, (), {}, t0, t1, 0, None, "exit code 0",
                     False, False, res, None, RunEvents((), 0, 0, (), None, None),
                     Fingerprint(True, None, None, None, None, ()), True, None, "x", trial=trial)


def test_roles_that_never_overlapped_make_the_comparison_invalid():
    spec = build_priority_spec(Config(), [fg(), bg()], sched=SchedChoice(),
                               configs=("standalone", "native"), repeats=1, primary=["fg"])
    runs = [_rec(1, "standalone-fg", "fg", 0, 10, [1.0] * 10),
            _rec(2, "standalone-bg", "bg", 10, 20, [500.0]),
            _rec(3, "native", "fg", 100, 110, [2.0] * 10),
            _rec(3, "native", "bg", 111, 120, [500.0])]  # the background started after the fg ended
    res = priority_from_runs(runs, spec)
    assert res.overlap[0].coverage["bg"] == 0 and not res.overlap[0].ok
    assert res.verdict == "INVALID" and "never ran at the same time" in res.verdict_reason


def test_role_syntax_and_bad_configurations():
    r = parse_role("name=a,kind=infer,priority=3,rate=100,p99_ms=5.5,model=mlp,level=2", "x")
    assert (r.name, r.priority, r.level, r.p99_ms) == ("a", 3, 2, 5.5)
    assert r.options == {"rate": 100, "model": "mlp"}
    with pytest.raises(ValueError, match="kind="):
        parse_role("priority=1", "x")
    with pytest.raises(ValueError, match="not a number"):
        parse_role("kind=infer,priority=high", "x")
    cfg = Config()
    with pytest.raises(ValueError, match="level must be 1, 2 or 3"):
        build_priority_spec(cfg, [fg(level=4), bg()], sched=SchedChoice())
    with pytest.raises(ValueError, match="Assertion failed"):
        build_priority_spec(cfg, [fg(threshold=2, batch_size=8), bg()], sched=SchedChoice())
    with pytest.raises(ValueError, match=r"no usable XSched install.*configuration needs one"):
        build_priority_spec(cfg, [fg(), bg()], sched=SchedChoice(), configs=("xsched",))
    with pytest.raises(ValueError, match="at least two roles"):
        build_priority_spec(cfg, [fg()], sched=SchedChoice())


def _torch_ok() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _torch_ok(), reason="PyTorch (CPU) is needed for the real workloads")
def test_cli_priority_with_real_pytorch_cpu_workloads_and_calibration(tmp_path):
    """`xsched-tui priority` end to end: real PyTorch CPU processes, the foreground's rate
    calibrated to 20% of its measured peak, the background stopped on stdin."""
    res = tmp_path / "res"
    # one intra-op thread per process: two torch processes on a 2-CPU runner otherwise spin
    # against each other and the calibrated rate means nothing
    env = {**BASE_ENV, "XSCHED_TUI_RESULTS": str(res), "OMP_NUM_THREADS": "1"}
    p = subprocess.run(
        [sys.executable, "-m", "xsched_tui", "priority", "--configs", "standalone,native",
         "--fg", "name=fg,kind=infer,priority=1,model=mlp,batch=16,width=256,layers=4,device=cpu",
         "--bg", "name=bg,kind=matmul,priority=0,size=128,device=cpu",
         "--requests", "200", "--seconds", "2", "--repeats", "1", "--json"],
        capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode in (0, 1, 2), p.stderr[-2000:]
    doc = json.loads(p.stdout)
    jsonschema.validate(doc, SCHEMA)
    assert doc["status"] == "finished", doc["message"]
    runs = doc["runs"]
    cal = runs[0]
    assert cal["mode"] == "calibrate" and cal["valid"], cal["invalid_reason"]
    rate = doc["spec"]["roles"][0]["options"]["rate"]
    assert rate == pytest.approx(0.2 * cal["result"]["req_per_s"], rel=0.01)
    assert all(r["valid"] for r in runs), [r["invalid_reason"] for r in runs]
    fgn = next(r for r in runs if r["mode"] == "native" and r["role"] == "fg")
    bgn = next(r for r in runs if r["mode"] == "native" and r["role"] == "bg")
    assert fgn["result"]["requests"] == 200 and fgn["result"]["metric"] == "latency_ms"
    assert bgn["result"]["stopped_by"] == "stdin" and bgn["result"]["tflops"] > 0
    an = doc["analysis"]
    assert an["overlap"][0]["ok"] and an["overlap"][0]["basis"] == "measurement"
    listed = subprocess.run([sys.executable, "-m", "xsched_tui", "runs"], capture_output=True,
                            text=True, env=env, timeout=60)
    assert listed.returncode == 0 and "fg p99 native" in listed.stdout, listed.stdout
    assert an["verdict"] in listed.stdout


def test_bandwidth_partition_reports_shares_against_targets(lib, results):
    # Both roles are primaries measuring a fixed time: 1 s windows keep a start skew on a loaded
    # runner well under the 5% of the window that would leave the trial uncounted (INVALID).
    a = RoleSpec("a", "matmul", {}, priority=0, utilization=75, argv=standin(
        "--metric", "tflops", "--value", "300", "--iters", "5", "--measure-s", "1"))
    b = RoleSpec("b", "matmul", {}, priority=0, utilization=25, argv=standin(
        "--metric", "tflops", "--value", "300", "--iters", "5", "--measure-s", "1"))
    spec = build_priority_spec(double_config(lib), [a, b], sched=SchedChoice("local", "PUP"),
                               repeats=1)
    assert all(r.primary for r in spec.roles)
    assert spec.roles[0].xsched_env["XSCHED_AUTO_XQUEUE_UTILIZATION"] == "75"
    out = run(spec, double_config(lib), results)
    an = out.analysis
    assert an["variant"] == "partition"
    assert an["shares"]["xsched"]["a"] == pytest.approx(0.5, abs=0.05)
    assert an["verdict"] == "SPLIT NOT REACHED" and "target 0.75" in an["verdict_reason"]
    assert all(t["counted"] for t in an["trials"]), an["trials"]


def test_sighup_mid_trial_stops_both_roles_and_keeps_what_finished(fakepy, tmp_path):
    """An SSH drop (SIGHUP) during a co-located trial: exit 129, every workload process gone,
    result.json says cancelled and keeps the finished runs."""
    import re
    import signal
    import time

    res = tmp_path / "r"
    p = subprocess.Popen(
        [sys.executable, "-m", "xsched_tui", "priority", "--configs", "standalone,native",
         "--python", fakepy, "--results", str(res), "--rate", "50", "--requests", "20",
         "--seconds", "1", "--repeats", "5"],
        env={**BASE_ENV, "STANDIN_MEASURE_S": "1.5", "STANDIN_METRIC": "latency_ms"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(ROOT))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.05)
            found = list(res.glob("*/result.json"))
            if found and json.loads(found[0].read_text())["counts"]["done"] >= 2:
                break
        time.sleep(0.6)  # the native trial (fg + bg) is running now
        p.send_signal(signal.SIGHUP)
        _out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)
    assert p.returncode == 128 + signal.SIGHUP, err
    doc = json.loads(next(res.glob("*/result.json")).read_text())
    jsonschema.validate(doc, SCHEMA)
    assert doc["status"] == "cancelled" and doc["counts"]["done"] >= 2
    pids = [int(x) for x in re.findall(r"started \(pid (\d+)\)", err)]
    assert len(pids) >= 3
    assert not any(alive(pid) for pid in pids)
