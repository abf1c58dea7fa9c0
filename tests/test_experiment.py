"""The experiment runner against real subprocesses: the protocol stand-in (tests/standin_workload.py,
no torch) and the C test double of XSched (NOT XSched) preloaded as the shim."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import jsonschema
import pytest

from xsched_tui.core.config import Config
from xsched_tui.core.experiment import (
    ExperimentFinished,
    ExperimentRunner,
    ExperimentSpec,
    ExperimentStarted,
    Mode,
    Role,
    RunFinished,
    RunProgress,
    RunStarted,
)

from cbuild import have_gcc
from doubles.xsched_double import build_double_install

ROOT = Path(__file__).resolve().parent.parent
STANDIN = Path(__file__).with_name("standin_workload.py")
SCHEMA = json.loads((ROOT / "docs" / "experiment-result.schema.json").read_text())
BASE_ENV = {k: v for k, v in os.environ.items()
            if not k.startswith(("XSCHED_", "XLOG_", "XSTD_", "STANDIN_"))
            and k not in ("LD_PRELOAD", "LD_LIBRARY_PATH")}


def role(*args: str, name: str = "wl") -> Role:
    return Role(name, "matmul", argv=(sys.executable, str(STANDIN), *args))


def spec(modes, *args: str, repeats: int = 2, **kw) -> ExperimentSpec:
    return ExperimentSpec("t", (role(*args),), tuple(modes), repeats=repeats, **kw)


def validate(doc: dict) -> None:
    jsonschema.validate(doc, SCHEMA)


def load(folder: str) -> dict:
    with open(os.path.join(folder, "result.json"), encoding="utf-8") as f:
        return json.load(f)


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def results(tmp_path: Path) -> str:
    return str(tmp_path / "results")


def test_interleaved_order_repeats_and_files(results):
    events: list = []
    docs: list[dict] = []

    def on_event(ev):
        events.append(ev)
        if isinstance(ev, RunFinished):  # result.json is complete and valid after every run
            doc = load(runner.folder)
            validate(doc)
            docs.append(doc)

    runner = ExperimentRunner(spec([Mode("a", False), Mode("b", False)], "--measure-s", "0.05",
                                   repeats=3), Config(), results_dir=results, on_event=on_event,
                              environ=BASE_ENV)
    out = runner.run()
    assert out.status == "finished"
    assert [r.mode for r in out.runs] == ["a", "b", "a", "b", "a", "b"]
    assert [r.repeat for r in out.runs] == [0, 0, 1, 1, 2, 2]
    assert all(r.valid for r in out.runs), [r.invalid_reason for r in out.runs]
    assert len({r.pid for r in out.runs}) == 6  # a fresh process per run
    assert [d["counts"]["done"] for d in docs] == [1, 2, 3, 4, 5, 6]
    assert all(d["status"] == "running" for d in docs)
    final = load(out.folder)
    validate(final)
    assert final["status"] == "finished" and final["analysis"]["pairs_valid"] == 3
    kinds = [type(e) for e in events]
    assert kinds[0] is ExperimentStarted and kinds[-1] is ExperimentFinished
    assert kinds.count(RunStarted) == 6 and kinds.count(RunFinished) == 6 and RunProgress in kinds
    run1 = Path(out.folder) / "runs" / "001-a-wl"
    assert {p.name for p in run1.iterdir()} >= {"stdout.jsonl", "stderr.log", "run.json"}
    lines = [json.loads(x) for x in (run1 / "stdout.jsonl").read_text().splitlines()]
    assert lines[0]["type"] == "start" and lines[-1]["type"] == "result"
    assert json.loads((run1 / "run.json").read_text())["valid"] is True
    assert (Path(out.folder) / "spec.json").is_file() and (Path(out.folder) / "report.md").is_file()
    report = (Path(out.folder) / "report.md").read_text()
    assert "## Runs" in report and "## Verdict" in report


def test_blocked_order_without_interleave(results):
    out = ExperimentRunner(spec([Mode("a", False), Mode("b", False)], "--measure-s", "0.02",
                                repeats=2, interleave=False), Config(), results_dir=results,
                           environ=BASE_ENV).run()
    assert [r.mode for r in out.runs] == ["a", "a", "b", "b"]


def test_timeout_kills_the_whole_group(results):
    out = ExperimentRunner(spec([Mode("a", False)], "--spawn-sleeper", "--hang", repeats=1,
                                timeout_s=1.5, stop_grace_s=0.5),
                           Config(), results_dir=results, environ=BASE_ENV).run()
    (run,) = out.runs
    assert run.timed_out and not run.valid and "timed out" in run.invalid_reason
    notes = [json.loads(x) for x in (Path(out.folder) / run.folder / "stdout.jsonl").read_text().splitlines()]
    sleeper = next(n["sleeper_pid"] for n in notes if n.get("type") == "note")
    deadline = time.monotonic() + 10
    while alive(sleeper) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(sleeper), "the workload's grandchild survived the timeout"
    assert not alive(run.pid)


def test_cancel_mid_run_keeps_finished_runs(results):
    def on_event(ev):
        if isinstance(ev, RunProgress) and ev.index == 3:
            runner.cancel()  # from the child's reader thread, while run 3 measures

    runner = ExperimentRunner(spec([Mode("a", False), Mode("b", False)], "--measure-s", "1.5",
                                   "--iters", "10", repeats=3, stop_grace_s=0.5),
                              Config(), results_dir=results, on_event=on_event, environ=BASE_ENV)
    out = runner.run()
    assert out.status == "cancelled"
    assert [r.index for r in out.runs] == [1, 2, 3]
    assert out.runs[0].valid and out.runs[1].valid
    assert out.runs[2].cancelled and not out.runs[2].valid
    doc = load(out.folder)
    validate(doc)
    assert doc["status"] == "cancelled" and doc["counts"]["done"] == 3 and doc["counts"]["valid"] == 2
    assert not alive(out.runs[2].pid)


def test_cancel_from_another_thread_before_start(results):
    runner = ExperimentRunner(spec([Mode("a", False)], repeats=3), Config(), results_dir=results,
                              environ=BASE_ENV)
    t = threading.Thread(target=runner.cancel)
    t.start()
    t.join()
    out = runner.run()
    assert out.status == "cancelled" and out.runs == ()
    validate(load(out.folder))


def test_sigkill_of_the_runner_leaves_a_readable_result(tmp_path):
    results = tmp_path / "res"
    script = tmp_path / "drive.py"
    script.write_text(
        "import sys\n"
        "from xsched_tui.core.config import Config\n"
        "from xsched_tui.core.experiment import ExperimentRunner, ExperimentSpec, Mode, Role\n"
        f"role = Role('wl', 'matmul', argv=({sys.executable!r}, {str(STANDIN)!r}, '--measure-s', '0.05'))\n"
        "spec = ExperimentSpec('k', (role,), (Mode('a', False), Mode('b', False)), repeats=200)\n"
        f"ExperimentRunner(spec, Config(), results_dir={str(results)!r}).run()\n")
    p = subprocess.Popen([sys.executable, str(script)], env=BASE_ENV, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        done = 0
        while time.monotonic() < deadline and done < 3:
            time.sleep(0.02)
            found = list(results.glob("*/result.json"))
            if found:
                try:
                    done = json.loads(found[0].read_text())["counts"]["done"]
                except ValueError:  # never: writes are atomic
                    raise AssertionError("result.json was read half-written") from None
        assert done >= 3
        os.killpg(p.pid, signal.SIGKILL)  # the runner and the workload it was running
        p.wait(timeout=10)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)
    doc = json.loads(next(results.glob("*/result.json")).read_text())
    validate(doc)
    assert doc["status"] == "running" and doc["counts"]["done"] >= 3
    assert all(r["valid"] for r in doc["runs"])


def test_workload_failures_are_invalid(results):
    modes = [Mode("ok", False), Mode("fail", False, {"STANDIN_FAIL": "1"}),
             Mode("wrong", False, {"STANDIN_INCORRECT": "1"}),
             Mode("suspect", False, {"STANDIN_SUSPECT": "1"})]
    out = ExperimentRunner(spec(modes, "--measure-s", "0.02", repeats=1), Config(), results_dir=results,
                           environ=BASE_ENV).run()
    by = {r.mode: r for r in out.runs}
    assert by["ok"].valid
    assert not by["fail"].valid and "exit code 1" in by["fail"].invalid_reason
    assert "stand-in asked to fail" in by["fail"].invalid_reason
    assert "no result line" in by["fail"].invalid_reason
    assert not by["wrong"].valid and "wrong answer" in by["wrong"].invalid_reason
    assert not by["suspect"].valid and "suspect result" in by["suspect"].invalid_reason
    validate(load(out.folder))


def test_unstartable_command_is_an_invalid_run(results, tmp_path):
    r = Role("wl", "matmul", argv=(str(tmp_path / "no-such-interpreter"),))
    out = ExperimentRunner(ExperimentSpec("t", (r,), (Mode("a", False),), repeats=1), Config(),
                           results_dir=results, environ=BASE_ENV).run()
    (run,) = out.runs
    assert run.pid is None and not run.valid and "could not start" in run.invalid_reason
    validate(load(out.folder))


def test_spec_rejects_nonsense():
    with pytest.raises(ValueError):
        ExperimentSpec("t", (role(),), (Mode("a", False),), repeats=0)
    with pytest.raises(ValueError):
        ExperimentSpec("t", (role(),), (Mode("a", False), Mode("a", True)), repeats=1)
    with pytest.raises(ValueError):
        ExperimentSpec("t", (role(),), (Mode("a", False),), repeats=1, timeout_s=float("inf"))


# -- XSched modes with the C test double (NOT XSched) ------------------------------------------

@pytest.fixture(scope="module")
def lib(tmp_path_factory) -> Path:
    if not have_gcc():
        pytest.skip("gcc is required to build the XSched test double")
    return build_double_install(tmp_path_factory.mktemp("xsched"), "cuda")


def double_config(lib: Path, **kw) -> Config:
    # LD_PRELOAD: the stand-in never loads libcuda.so.1, so the softlink folder alone would not
    # bring the double in.
    return Config(install=str(lib.parent), platform="cuda", enable="LD_PRELOAD", **kw)


def test_xsched_validity_with_the_test_double(lib, results, tmp_path):
    shim = str(lib / "libshimcuda.so")
    modes = [
        Mode("native", False),
        Mode("xsched", True),
        Mode("app", True, {"XSCHED_POLICY": ""}),  # no scheduler: app-managed
        Mode("noxq", True, {"XSTD_XQUEUES": "0"}),
        Mode("missing", True, {"LD_PRELOAD": str(tmp_path / "nope" / "libshimcuda.so")}),
        Mode("crash", True, {"XSTD_SEGV_AT_EXIT": "1"}),
        Mode("leak", False, {"LD_PRELOAD": shim}),
    ]
    out = ExperimentRunner(spec(modes, "--measure-s", "0.3", repeats=1), double_config(lib),
                           results_dir=results, environ=BASE_ENV).run()
    by = {r.mode: r for r in out.runs}
    assert len(by) == len(modes)

    nat = by["native"]
    assert nat.valid, nat.invalid_reason
    assert nat.fingerprint.snapshot and nat.fingerprint.shim is None
    assert "LD_PRELOAD" not in nat.env and not any(k.startswith("XSCHED_") for k in nat.env)

    xs = by["xsched"]
    assert xs.valid, xs.invalid_reason
    assert xs.events.scheduling is True and xs.events.xqueues_created == 2
    assert xs.events.scheduler_lines == ("local HPF",)
    fp = xs.fingerprint
    assert fp.shim is not None and fp.shim.path.endswith("libshimcuda.so") and fp.shim.sha
    assert fp.hal is not None and fp.preempt is not None
    assert xs.env["LD_PRELOAD"] == shim and xs.env["XSCHED_POLICY"] == "HPF"

    assert not by["app"].valid and "app-managed" in by["app"].invalid_reason
    assert not by["noxq"].valid and "0 XQueues" in by["noxq"].invalid_reason
    miss = by["missing"]
    assert not miss.valid and "cannot be preloaded" in miss.invalid_reason
    assert miss.exit_code == 0  # the loader ignores it: a plain native run that "succeeds"
    crash = by["crash"]
    assert not crash.valid and crash.exit_signal == "SIGSEGV" and "crashed" in crash.invalid_reason
    assert crash.result is not None  # it measured, then died at exit: still not a result
    leak = by["leak"]
    assert not leak.valid and "mapped in this native run" in leak.invalid_reason

    doc = load(out.folder)
    validate(doc)
    report = (Path(out.folder) / "report.md").read_text()
    assert "## Evidence that XSched was active" in report and "libshimcuda.so" in report
    assert "local HPF" in report


def test_overhead_analysis_of_native_vs_double(lib, results):
    # The stand-in is 5% slower whenever XSched variables are set: the pairs must say so exactly.
    out = ExperimentRunner(
        spec([Mode("native", False), Mode("xsched", True)], "--measure-s", "0.05", repeats=3,
             threshold_pct=10.0),
        double_config(lib, xsched_env={"XSCHED_POLICY": "HPF", "XSCHED_AUTO_XQUEUE": "ON"}),
        results_dir=results, environ={**BASE_ENV, "STANDIN_JITTER": "0", "STANDIN_XSCHED_FACTOR": "0.95"},
    ).run()
    assert all(r.valid for r in out.runs), [r.invalid_reason for r in out.runs]
    an = out.analysis
    assert an["pairs_valid"] == 3 and an["metric"] == "tflops"
    assert an["median_pct"] == pytest.approx(100 * (1 / 0.95 - 1))
    assert an["verdict"] == "PASS"


def test_unproven_scheduling_is_invalid_unless_allowed(lib, results):
    # GLB without an xserver: the double logs "using global scheduler" and no XQueue line; with
    # no xserver to ask, whether anything is scheduled cannot be told.
    glb = Mode("glb", True, {"XSCHED_POLICY": "", "XSCHED_SCHEDULER": "GLB"})
    cfg = double_config(lib)
    out = ExperimentRunner(spec([glb], "--measure-s", "0.2", repeats=1), cfg, results_dir=results,
                           environ=BASE_ENV).run()
    (run,) = out.runs
    assert not run.valid and run.invalid_reason.startswith("XSched activity not proven")
    out2 = ExperimentRunner(spec([glb], "--measure-s", "0.2", repeats=1, allow_unproven=True), cfg,
                            results_dir=results, environ=BASE_ENV).run()
    assert out2.runs[0].valid, out2.runs[0].invalid_reason


def test_build_overhead_spec_checks_before_anything_runs(tmp_path):
    from xsched_tui.core.expspec import build_overhead_spec

    cfg = Config(python=sys.executable)
    s = build_overhead_spec(cfg, "matmul", {"size": 64}, pairs=4, aa=True)
    assert [m.name for m in s.modes] == ["native-a", "native-b"] and s.repeats == 4 and s.aa
    assert s.roles[0].options == {"size": 64, "stream": "explicit"}  # the configured stream
    for bad in (dict(workload="nope"), dict(pairs=0), dict(threshold_pct=-1.0),
                dict(options={"no_such_option": 1}), dict(aa=False)):  # aa=False: no install
        kw = {"workload": "matmul", "options": {}, "pairs": 2, "aa": True, **bad}
        with pytest.raises(ValueError):
            build_overhead_spec(cfg, kw.pop("workload"), kw.pop("options"), **kw)
    with pytest.raises(ValueError, match="interpreter"):
        build_overhead_spec(Config(python=str(tmp_path / "nope")), "matmul", {}, pairs=1, aa=True)
