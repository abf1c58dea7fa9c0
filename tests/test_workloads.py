"""The workloads as the runner uses them: real subprocesses of this interpreter with torch.

Every stdout line must be JSON that validates against docs/workload-output.schema.json. CPU runs
use tiny sizes; the GPU test runs on the device machine only.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from xsched_tui.core.workload_argv import (
    EXIT_USAGE,
    package_root,
    parse_line,
    workload_argv,
    workload_env,
)
from xsched_tui.workloads import base, peaks
from xsched_tui.workloads.cli import build_parser
from xsched_tui.workloads.device import Device
from xsched_tui.workloads.emit import nearest_rank, summarize
from xsched_tui.workloads.launch import Launch

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "docs" / "workload-output.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
PY = sys.executable
ENV = workload_env({k: v for k, v in os.environ.items()
                    if not k.startswith(("XSCHED_", "XLOG_")) and k not in ("LD_PRELOAD",)})
TORCH_MISSING = importlib.util.find_spec("torch") is None  # looked up, never imported here
needs_torch = pytest.mark.skipif(TORCH_MISSING, reason="torch is not installed for this interpreter")


def argv(kind: str, **options: Any) -> list[str]:
    return workload_argv(PY, kind, **options)


def start(cmd: list[str], **kw: Any) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                            start_new_session=True, **kw)


def parse_all(stdout: str) -> list[dict]:
    """Every line is a protocol line: strict here (parse_line would silently drop junk)."""
    lines = [json.loads(ln) for ln in stdout.splitlines()]
    for obj in lines:
        VALIDATOR.validate(obj)
    return lines


def finish(p: subprocess.Popen, timeout: float = 60) -> tuple[int, list[dict], str]:
    try:
        out, err = p.communicate(timeout=timeout)
    finally:
        kill(p)
    return p.returncode, parse_all(out), err


class Lines:
    """Reads a child's stdout line by line straight from the pipe, with a deadline.

    (select() on a text-mode file would miss lines already sitting in its buffer.)
    """

    def __init__(self, p: subprocess.Popen) -> None:
        self.p = p
        self.fd = p.stdout.fileno()
        self.buf = b""

    def _fill(self, deadline: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return False
        chunk = os.read(self.fd, 65536)
        assert chunk, f"workload closed stdout; stderr: {self.p.stderr.read()[-2000:]}"
        self.buf += chunk
        return True

    def next(self, timeout: float = 30) -> dict:
        """The next protocol line, or fail after ``timeout`` s (a hung child cannot hang the suite)."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            assert self._fill(deadline), f"no line from the workload within {timeout} s"
        line, self.buf = self.buf.split(b"\n", 1)
        obj = json.loads(line)
        VALIDATOR.validate(obj)
        return obj

    def quiet(self, seconds: float) -> bool:
        """Nothing at all arrives for ``seconds``."""
        return not self.buf and not select.select([self.fd], [], [], seconds)[0]

    def finish(self, timeout: float = 60) -> tuple[int, list[dict]]:
        """Read to EOF and reap: (exit code, remaining lines)."""
        deadline = time.monotonic() + timeout
        while True:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, f"workload still running after {timeout} s"
            chunk = os.read(self.fd, 65536)
            if not chunk:
                break
            self.buf += chunk
        rest = parse_all(self.buf.decode())
        self.buf = b""
        return self.p.wait(timeout=max(1.0, deadline - time.monotonic())), rest


def kill(p: subprocess.Popen) -> None:
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def result_of(lines: list[dict]) -> dict:
    types = [ln["type"] for ln in lines]
    assert types[0] == "start" and types[1] == "ready" and types[-1] == "result", types
    assert set(types[2:-1]) <= {"progress"}, types
    return lines[-1]


# ---------------------------------------------------------------- end to end on cpu

@pytest.fixture(scope="module")
def cpu_runs(tmp_path_factory) -> dict[str, tuple[int, list[dict], str]]:
    """The happy paths: the throughput runs started together (each is mostly torch's import
    time), the periodic one alone afterwards so that CPU contention cannot make it late."""
    if TORCH_MISSING:
        pytest.skip("torch is not installed for this interpreter")
    cmds = {
        "matmul": argv("matmul", device="cpu", size=48, dtype="bf16", iters=6, warmup=1, label="mm"),
        "launch": argv("launch", device="cpu", kernels=50, iters=4, warmup=1, stream="default",
                       label="storm"),
        "mlp": argv("infer", device="cpu", model="mlp", width=64, layers=3, batch=2, iters=8, warmup=1),
    }
    procs = {name: start(cmd) for name, cmd in cmds.items()}
    runs = {name: finish(p) for name, p in procs.items()}
    runs["cnn_periodic"] = finish(start(argv("infer", device="cpu", model="cnn", batch=1, image=16,
                                             rate=40.0, duration=0.5, warmup=3, jitter=0.2)))
    return runs


def test_matmul_cpu(cpu_runs):
    rc, lines, err = cpu_runs["matmul"]
    assert rc == 0, err
    assert "Traceback" not in err
    start_line, res = lines[0], result_of(lines)
    assert start_line["kind"] == "matmul" and start_line["args"]["size"] == 48
    assert start_line["timing"] == "cpu_clock" and start_line["device"] == "cpu"
    assert start_line["stream"] == "explicit" and start_line["label"] == "mm"
    assert res["metric"] == "tflops" and res["unit"] == "TFLOP/s"
    assert len(res["values"]) == res["summary"]["n"] == res["iterations"] == 6
    assert all(v > 0 for v in res["values"])
    assert res["correct"] is True and res["suspect"] is False and res["suspect_reason"] is None
    assert res["max_rel_error"] < res["tolerance"]
    assert res["tflops"] > 0 and res["tflops_median"] == pytest.approx(
        2 * 48**3 / (res["iter_ms_median"] * 1e-3) / 1e12)
    assert res["cpu_time_s"] >= 0 and res["wall_s"] > 0
    assert res["pid"] == start_line["pid"]


def test_launch_cpu_default_stream_recorded(cpu_runs):
    rc, lines, err = cpu_runs["launch"]
    assert rc == 0, err
    res = result_of(lines)
    assert lines[0]["stream"] == res["stream"] == "default"
    assert lines[0]["args"]["stream"] == "default" and res["label"] == "storm"
    assert res["metric"] == "iter_ms" and len(res["values"]) == 4
    assert res["correct"] is True and res["count_seen"] == res["count_expected"] == 4 * 50
    assert res["launches"] == 200 and res["us_per_launch_median"] > 0


def test_infer_mlp_flat_out(cpu_runs):
    rc, lines, err = cpu_runs["mlp"]
    assert rc == 0, err
    res = result_of(lines)
    assert res["metric"] == "req_per_s" and res["unit"] == "req/s"
    assert res["requests"] == len(res["values"]) == 8
    assert res["correct"] is True and res["model"] == "mlp" and res["dtype"] == "fp32"
    assert res["width"] == 64 and res["layers"] == 3 and res["flops_per_request"] == 2 * 2 * 64 * 64 * 3
    assert res["req_per_s"] > 0 and res["samples_per_s"] == pytest.approx(2 * res["req_per_s"])


def test_infer_periodic_keeps_the_rate(cpu_runs):
    rc, lines, err = cpu_runs["cnn_periodic"]
    assert rc == 0, err
    res = result_of(lines)
    assert res["metric"] == "latency_ms" and res["timing"] == "cpu_clock"
    # 40 Hz for 0.5 s: one request per 25 ms slot.
    assert 18 <= res["requests"] <= 22
    assert len(res["values"]) == len(res["device_ms"]) == res["requests"]
    # Pacing bounds only from above (a request never starts before its slot); how far a loaded
    # box falls behind is wall-clock, not asserted (CI saw 15 Hz under load).
    assert 0 < res["achieved_hz"] <= 60
    assert res["wall_s"] >= 0.3
    assert res["p50_ms"] <= res["p90_ms"] <= res["p99_ms"] <= res["max_ms"]
    assert res["correct"] is True and res["model"] == "cnn"
    progress = [ln for ln in lines if ln["type"] == "progress"]
    assert progress and progress[-1]["done"] == res["requests"]
    assert all(p["total"] == 20 for p in progress)


def test_progress_lines_are_throttled(cpu_runs):
    for _rc, lines, _err in cpu_runs.values():
        prog = [ln for ln in lines if ln["type"] == "progress"]
        # <= ~4/s plus the closing one; these runs last well under 2 s
        assert len(prog) <= 10


@needs_torch
def test_no_gpu_is_a_clear_error():
    # Hiding the GPUs makes this hold on the device machine too.
    env = {**ENV, "CUDA_VISIBLE_DEVICES": "", "HIP_VISIBLE_DEVICES": ""}
    p = subprocess.run(argv("matmul", device="cuda", size=8), capture_output=True, text=True, env=env,
                       timeout=60)
    assert p.returncode == 1, p.stderr
    lines = parse_all(p.stdout)
    assert [ln["type"] for ln in lines] == ["error"]
    assert "no GPU visible to torch" in lines[0]["message"]
    assert "Traceback" not in p.stdout


@pytest.mark.parametrize("args", [
    ["matmul", "--size", "0"],
    ["matmul", "--dtype", "int8"],
    ["matmul", "--iters", "3", "--duration", "1"],
    ["launch", "--kernels", "x"],
    ["infer", "--rate", "-1"],
    ["infer", "--jitter", "2"],
    ["launch", "--stream", "legacy"],
    ["matmul", "--model", "mlp"],  # an infer option
    ["nonsense"],
    [],
])
def test_bad_arguments_exit_64_without_stdout(args):
    p = subprocess.run([PY, "-m", "xsched_tui.workloads", *args], capture_output=True, text=True,
                       env=ENV, timeout=30)
    assert p.returncode == EXIT_USAGE == 64
    assert p.stdout == ""
    assert "usage:" in p.stderr


@needs_torch
def test_wait_stdin_and_ready_file(tmp_path):
    ready_file = tmp_path / "ready"
    p = start(argv("launch", device="cpu", kernels=10, iters=2, warmup=1, wait_stdin=True,
                   ready_file=str(ready_file)), stdin=subprocess.PIPE)
    out = Lines(p)
    try:
        assert out.next()["type"] == "start"
        ready = out.next()
        assert ready["type"] == "ready" and ready["waiting"] is True
        assert json.loads(ready_file.read_text())["pid"] == p.pid
        # Warmed up and waiting: nothing more until a line arrives.
        assert out.quiet(0.5) and p.poll() is None
        p.stdin.write("go\n")
        p.stdin.flush()
        rc, rest = out.finish()
    finally:
        kill(p)
    assert rc == 0
    assert rest[-1]["type"] == "result" and rest[-1]["correct"] is True


@needs_torch
def test_wait_stdin_eof_gives_up(tmp_path):
    p = start(argv("launch", device="cpu", kernels=10, iters=2, warmup=0, wait_stdin=True),
              stdin=subprocess.DEVNULL)
    rc, lines, _ = finish(p)
    assert rc == 1
    assert [ln["type"] for ln in lines] == ["start", "ready", "error"]
    assert "stdin closed" in lines[-1]["message"]


@needs_torch
def test_sigterm_during_measurement_exits_promptly():
    p = start(argv("infer", device="cpu", model="mlp", width=32, layers=2, batch=1, rate=20.0,
                   duration=120.0, warmup=1))
    out = Lines(p)
    try:
        while out.next()["type"] != "progress":  # measuring now
            pass
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        rc, rest = out.finish(timeout=10)
        took = time.monotonic() - t0
    finally:
        kill(p)
    assert rc == -signal.SIGTERM  # dies by the signal, as the runner expects of a killed child
    assert took < 5
    assert rest[-1]["type"] == "error"
    assert "SIGTERM" in rest[-1]["message"] and "during measurement" in rest[-1]["message"]
    with pytest.raises(ProcessLookupError):
        os.killpg(p.pid, 0)  # nothing of its group is left


@needs_torch
def test_orphaned_workload_stops_itself(tmp_path):
    """A runner killed with SIGKILL must not leave a workload keeping the GPU busy."""
    out = tmp_path / "out.jsonl"
    cmd = " ".join(f"'{a}'" for a in argv("infer", device="cpu", model="mlp", width=32, layers=2,
                                          batch=1, rate=20.0, duration=120.0))
    # The shell starts the workload, waits until it measures, then exits (re-parenting it).
    script = f"{cmd} >'{out}' 2>/dev/null & echo $!; while ! grep -q progress '{out}'; do sleep 0.1; done"
    sh = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=ENV, timeout=60)
    pid = int(sh.stdout.split()[0])
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        assert not _alive(pid), "the orphaned workload kept running"
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    lines = parse_all(out.read_text())
    assert lines[-1]["type"] == "error" and "parent process exited" in lines[-1]["message"]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@needs_torch
def test_wrong_results_are_caught():
    """Each kind's check fails on a planted fault (what a silently failed launch looks like)."""
    code = textwrap.dedent("""
        import json, torch
        torch.set_grad_enabled(False)
        from xsched_tui.workloads.device import resolve
        from xsched_tui.workloads.matmul import Matmul
        from xsched_tui.workloads.launch import Launch
        from xsched_tui.workloads.infer import Infer
        dev = resolve(torch, "cpu")
        out = {}
        m = Matmul(torch, dev, size=16, dtype="fp32")
        m.before_measure()
        out["stale"] = m.check(0).correct            # nothing ran after the NaN fill
        m.step(); out["good"] = m.check(1).correct
        m.c.zero_()
        out["zeros"] = m.check(1).correct
        l = Launch(torch, dev, kernels=5)
        l.step(); out["lost"] = l.check(2).correct
        i = Infer(torch, dev, model="mlp", batch=2, dtype=None, rate=0, width=16, layers=2, image=None)
        i.step(); out["infer_good"] = i.check(1).correct
        i.out = i.out * 1.5; out["infer_bad"] = i.check(1).correct
        print(json.dumps(out))
    """)
    p = subprocess.run([PY, "-c", code], capture_output=True, text=True, env=ENV, timeout=60)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout.splitlines()[-1])
    assert got == {"stale": False, "good": True, "zeros": False, "lost": False,
                   "infer_good": True, "infer_bad": False}


# ---------------------------------------------------------------- pieces without torch

def test_too_fast_is_suspect():
    h100 = Device(None, "cuda:0", "NVIDIA H100 80GB HBM3", "cuda")
    wl = base.Workload(None, h100)
    wl.flops_per_iter = 2.0 * 4096**3  # 137 GFLOP
    assert wl.too_fast([0.2], "bf16") is None  # ~690 TFLOP/s: real H100 speed
    reason = wl.too_fast([0.05], "bf16")  # ~2750 TFLOP/s
    assert reason and "1978" in reason
    storm = Launch.__new__(Launch)
    storm.device, storm.kernels = h100, 1000
    assert storm.too_fast([8.0], "fp32") is None
    assert "per launch" in (storm.too_fast([0.1], "fp32") or "")


def test_peaks_match_the_most_specific_name():
    assert peaks.known_peak("NVIDIA H200", "bf16") == 989.0  # not the H20's 148
    assert peaks.known_peak("NVIDIA H20", "bf16") == 148.0
    assert peaks.known_peak("NVIDIA A100-SXM4-80GB", "fp16") == 312.0  # not the A10
    assert peaks.known_peak("NVIDIA H100 PCIe", "fp32") == 378.0
    assert peaks.known_peak("Some Future GPU", "bf16") is None
    assert peaks.ceiling("Some Future GPU", "bf16", True)[0] == peaks.UNKNOWN_GPU_TFLOPS


def test_summary_statistics():
    vals = [float(v) for v in range(1, 101)]
    s = summarize(vals)
    assert s["n"] == 100 and s["median"] == 50.5 and s["mean"] == 50.5
    assert (s["p50"], s["p90"], s["p95"], s["p99"], s["min"], s["max"]) == (50, 90, 95, 99, 1, 100)
    assert summarize([3.0])["p99"] == 3.0
    assert summarize([])["n"] == 0 and summarize([])["median"] is None
    assert nearest_rank([1.0, 2.0], 50) == 1.0


def test_workload_argv_round_trips_through_the_parser():
    cmd = workload_argv("/opt/py/bin/python3", "infer", model="resnet18", batch=8, rate=30.5,
                        duration=10, device="cuda:1", stream="default", wait_stdin=True,
                        ready_file="/tmp/r", label="fg", jitter=None, no_parent_watch=False)
    assert cmd[:4] == ["/opt/py/bin/python3", "-m", "xsched_tui.workloads", "infer"]
    assert "--wait-stdin" in cmd and "--no-parent-watch" not in cmd and "--jitter" not in cmd
    ns = build_parser().parse_args(cmd[3:])
    assert (ns.kind, ns.model, ns.batch, ns.rate, ns.duration) == ("infer", "resnet18", 8, 30.5, 10.0)
    assert (ns.device, ns.stream, ns.wait_stdin, ns.ready_file, ns.label) == (
        "cuda:1", "default", True, "/tmp/r", "fg")


def test_workload_argv_rejects_what_the_child_would():
    with pytest.raises(ValueError, match="no option 'model'"):
        workload_argv("py", "matmul", model="mlp")
    with pytest.raises(ValueError, match="unknown workload kind"):
        workload_argv("py", "train")
    with pytest.raises(ValueError, match="one of"):
        workload_argv("py", "matmul", dtype="int8")
    with pytest.raises(ValueError, match="switch"):
        workload_argv("py", "launch", wait_stdin="yes")
    with pytest.raises(ValueError, match="finite"):
        workload_argv("py", "infer", rate=math.inf)


def test_parse_line_is_tolerant():
    assert parse_line('{"type": "ready", "t": 1.0}\n') == {"type": "ready", "t": 1.0}
    assert parse_line(b'{"type":"error","message":"x"}') == {"type": "error", "message": "x"}
    for junk in ("", "\n", "Warning: something", '{"type": "ready"', "[1, 2]", '{"type": "other"}',
                 '{"no": "type"}', b"\xff\xfe{", "[" * 100000):
        assert parse_line(junk) is None


def test_workload_env_puts_this_package_first():
    env = workload_env({"PYTHONPATH": f"/elsewhere{os.pathsep}{package_root()}", "A": "1"})
    assert env["PYTHONPATH"].split(os.pathsep) == [str(package_root()), "/elsewhere"]
    assert env["A"] == "1"
    assert (package_root() / "xsched_tui" / "workloads" / "__main__.py").is_file()


def test_the_app_side_never_imports_torch():
    code = ("import sys, xsched_tui.cli, xsched_tui.core.workload_argv, xsched_tui.workloads, "
            "xsched_tui.workloads.cli; print('torch' in sys.modules)")
    p = subprocess.run([PY, "-c", code], capture_output=True, text=True, env=ENV, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "False"


# ---------------------------------------------------------------- on a real GPU

@pytest.mark.gpu
def test_matmul_bf16_on_gpu():
    p = subprocess.run(argv("matmul", device="cuda", size=4096, dtype="bf16", duration=2.0, warmup=20),
                       capture_output=True, text=True, env=ENV, timeout=120)
    assert p.returncode == 0, p.stderr
    res = result_of(parse_all(p.stdout))
    print(json.dumps({k: res[k] for k in ("device_name", "tflops", "tflops_median", "iterations",
                                          "max_rel_error", "cpu_time_s", "wall_s")}))
    assert res["timing"] == "cuda_events" and res["stream"] == "explicit"
    assert res["correct"] is True and res["suspect"] is False
    assert res["tflops_median"] > 50 and res["tflops"] > 50


@pytest.mark.gpu
def test_launch_and_periodic_infer_on_gpu():
    runs = {
        "launch": argv("launch", device="cuda", kernels=1000, duration=1.0),
        "fg": argv("infer", device="cuda", model="mlp", batch=16, rate=100.0, duration=2.0),
        "bg": argv("infer", device="cuda", model="cnn", batch=16, duration=1.0, stream="default"),
    }
    results = {}
    for name, cmd in runs.items():
        p = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=120)
        assert p.returncode == 0, p.stderr
        res = results[name] = result_of(parse_all(p.stdout))
        keys = ("metric", "summary", "us_per_launch_median", "p99_ms", "device_ms_p99", "req_per_s",
                "max_rel_error", "cpu_time_s", "wall_s")
        print(name, json.dumps({k: res.get(k) for k in keys}))
        assert res["correct"] is True and res["suspect"] is False, res["suspect_reason"]
        assert res["device"].startswith("cuda:")
    assert results["launch"]["timing"] == results["bg"]["timing"] == "cuda_events"
    # Periodic latency is submit -> done on the host clock; the events' device time rides beside it.
    fg = results["fg"]
    assert fg["timing"] == "cpu_clock" and fg["device_timing"] == "cuda_events"
    assert 180 <= fg["requests"] <= 220
    assert all(d <= h + 0.5 for d, h in zip(fg["device_ms"], fg["values"], strict=True))
    assert results["bg"]["stream"] == "default"
