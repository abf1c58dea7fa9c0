"""The live probe against real subprocesses: the venv's Python (torch CPU) with the XSched test
double (tests/doubles/xsched_double.c, NOT XSched) really preloaded, a real HTTP server for the
global scheduler, and real failures (missing preload file, hang, crash, assertion, no torch)."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest

from xsched_tui.core.checks import probe
from xsched_tui.core.checks.base import CheckContext, Evidence, Outcome, Status
from xsched_tui.core.config import Config

from cbuild import have_gcc

pytestmark = pytest.mark.skipif(not have_gcc(), reason="gcc is required to build the XSched test double")

HPF = {"XSCHED_POLICY": "HPF", "XSCHED_AUTO_XQUEUE": "ON"}


@pytest.fixture(scope="session")
def lib(tmp_path_factory) -> Path:
    from doubles.xsched_double import build_double_install

    return build_double_install(tmp_path_factory.mktemp("xsched-double"))


def run_probe(lib: Path, env: dict[str, str], *, python: str = sys.executable, timeout: float = 90,
              enable: str = "LD_PRELOAD", stream: str = "explicit", port: int = 50000,
              lib_dir: Path | None = None, facts: dict | None = None) -> Outcome:
    from doubles.xsched_double import install_facts

    cfg = dataclasses.replace(Config(), python=python, xsched_env=dict(env), probe_timeout=timeout,
                              enable=enable, stream=stream, xserver_port=port)
    ctx = CheckContext(cfg)
    ctx.facts["install"] = install_facts(lib_dir or lib, "cuda", enable)
    ctx.facts.update(facts or {})
    out = probe.check_probe(ctx)
    # Whatever happened: every WARN/FAIL verdict comes with something to copy.
    if out.status in (Status.WARN, Status.FAIL):
        assert out.fix.strip(), out
    assert out.finding
    return out


def row(out: Outcome, label: str) -> Evidence:
    hits = [e for e in out.evidence if e.label == label]
    assert hits, f"no row {label!r} in {[e.label for e in out.evidence]}"
    return hits[0]


def probe_children() -> list[psutil.Process]:
    out = []
    for c in psutil.Process().children(recursive=True):
        try:
            if any("probe_payload" in a for a in c.cmdline()):
                out.append(c)
        except psutil.Error:
            pass
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- local scheduler ---------------------------------------------------------------------------------
def test_local_hpf_xqueues_no_gpu_is_warn_not_pass(lib):
    out = run_probe(lib, {**HPF, "XSTD_XQUEUES": "3", "XSTD_PRIORITY": "1"})
    assert row(out, "loader").status == Status.PASS
    shim = row(out, "shim mapped")
    assert shim.status == Status.PASS
    assert os.path.realpath(lib / "libshimcuda.so") in shim.value and "sha256:" in shim.value
    assert row(out, "libhalcuda.so mapped").status == Status.PASS
    assert row(out, "libpreempt.so mapped").status == Status.PASS
    assert row(out, "scheduler").value == "local, policy HPF"
    assert row(out, "expected scheduler").status == Status.PASS
    xq = row(out, "XQueues")
    assert xq.status == Status.PASS and xq.value.startswith("3 XQueue(s)")
    assert row(out, "torch").status == Status.PASS
    assert row(out, "device").status == Status.SKIP
    mm = row(out, "matmul")
    assert mm.status == Status.SKIP and "no GPU visible: matmul ran on CPU" in mm.value
    assert row(out, "exit").status == Status.PASS
    assert "XSCHED_POLICY=HPF" in row(out, "XSched env (process)").value
    # No GPU work ran, so this is not a PASS for "XSched is scheduling".
    assert out.status == Status.WARN
    assert out.finding == ("XSched loads and creates XQueues, but no GPU is visible, so no GPU work "
                           "was scheduled")
    f = out.facts
    assert f["scheduler"] == "local" and f["xqueues"] == 3 and f["shim_mapped"] is True
    assert f["loader_errors"] == [] and f["exit"] == "exit code 0" and isinstance(f["pid"], int)
    assert any("using local scheduler with policy HPF" in ln for ln in f["stderr_tail"])
    assert probe_children() == []


def test_default_stream_trace_lines_and_old_log_format(lib):
    env = {**HPF, "XSTD_FORMAT": "old", "XSTD_TRACE": "4", "XSTD_TRACE_NULL": "1"}
    out = run_probe(lib, env, stream="default")
    assert row(out, "scheduler").value == "local, policy HPF"  # pre-1.2 prefix parsed too
    st = row(out, "stream")
    assert st.status == Status.WARN and "not scheduled (FACTS §11)" in st.value
    tr = row(out, "interception")
    assert tr.status == Status.WARN
    assert "4 TRACE_MALLOC (4 ret=0), 4 TRACE_KERNEL, 1 (25%) on the null stream" in tr.value
    assert out.status == Status.WARN and "torch.cuda.Stream()" in out.fix


def test_local_without_xqueue_lines(lib):
    out = run_probe(lib, {**HPF, "XSTD_XQUEUES": "0"})
    xq = row(out, "XQueues")
    assert xq.status == Status.SKIP and "none expected" in xq.value
    assert out.status == Status.WARN
    assert out.finding.startswith("XSched loads (local HPF), but no GPU is visible")
    assert out.facts["xqueues"] == 0


def test_auto_xqueue_misspelled_is_fail(lib):
    # XSched's booleans take only 1/0/on/off: "true" means OFF, so the double (like XSched)
    # creates no XQueue.
    out = run_probe(lib, {"XSCHED_POLICY": "HPF", "XSCHED_AUTO_XQUEUE": "true"})
    xq = row(out, "XQueues")
    assert xq.status == Status.FAIL and "XSCHED_AUTO_XQUEUE is not ON" in xq.value
    assert out.status == Status.FAIL and "export XSCHED_AUTO_XQUEUE=ON" in out.fix


def test_app_managed_is_fail(lib):
    out = run_probe(lib, {"XSCHED_AUTO_XQUEUE": "ON"})
    sc = row(out, "scheduler")
    assert sc.status == Status.FAIL and "XSched loaded but schedules nothing" in sc.value
    assert row(out, "shim mapped").status == Status.PASS
    assert row(out, "XQueues").status == Status.FAIL
    assert out.status == Status.FAIL
    assert out.finding == "XSched loaded but schedules nothing (app-managed scheduler)"
    assert "export XSCHED_POLICY=HPF XSCHED_AUTO_XQUEUE=ON" in out.fix and "GLB" in out.fix
    assert out.facts["scheduler"] == "app"


# -- global scheduler --------------------------------------------------------------------------------
class _FakeXServer:
    """A real HTTP server on 127.0.0.1 answering /xqueues like xserver, listing every running
    probe child of this test process with two XQueues."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/policy":
                    body = {"policy": 1}
                elif self.path == "/xqueues":
                    procs, xqs = [], []
                    for c in probe_children():
                        procs.append({"pid": c.pid, "cmdline": " ".join(c.cmdline())})
                        for i in range(2):
                            xqs.append({"handle": ((c.pid & 0xFFFF) << 48) + i, "device": 8589934640,
                                        "level": 1, "pid": c.pid, "threshold": 16, "batch_size": 8,
                                        "ready": i == 0, "suspended": False})
                    body = {"processes": procs, "xqueues": xqs}
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                raw = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> _FakeXServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_global_scheduler_xserver_lists_the_probe(lib):
    with _FakeXServer() as xs:
        out = run_probe(lib, {"XSCHED_SCHEDULER": "GLB", "XSCHED_AUTO_XQUEUE": "ON"}, port=xs.port)
    assert row(out, "scheduler").value == "global (xserver)"
    xq = row(out, "XQueues")
    pid = out.facts["pid"]
    assert xq.status == Status.PASS
    assert xq.value == f"xserver lists 2 XQueue(s) of PID {pid} (ready 1, suspended 0)"
    assert out.facts["xqueues"] == 2 and out.facts["scheduler"] == "global"
    assert out.status == Status.WARN and "no GPU is visible" in out.finding


def test_global_scheduler_without_xserver_is_fail(lib):
    port = free_port()
    out = run_probe(lib, {"XSCHED_SCHEDULER": "glb", "XSCHED_AUTO_XQUEUE": "1"}, port=port)
    xq = row(out, "XQueues")
    assert xq.status == Status.FAIL and "not running" in xq.value and str(port) in xq.value
    assert out.status == Status.FAIL and "xserver is unreachable" in out.finding
    assert f"xserver HPF {port}" in out.fix
    assert out.facts["xqueues"] is None


# -- how it ended ------------------------------------------------------------------------------------
def test_segv_at_exit_is_reported_as_warn(lib):
    out = run_probe(lib, {**HPF, "XSTD_SEGV_AT_EXIT": "1"})
    ex = row(out, "exit")
    assert ex.status == Status.WARN
    assert "killed by SIGSEGV (signal 11) while exiting" in ex.value
    assert out.facts["signal"] == 11 and "SIGSEGV" in out.facts["exit"]
    assert out.status == Status.WARN and "crashed at exit" in out.finding
    assert row(out, "XQueues").status == Status.PASS  # the rest is still proven


def test_batch_above_threshold_assertion_exit_1(lib):
    env = {**HPF, "XSTD_ASSERT": "1", "XSCHED_AUTO_XQUEUE_THRESHOLD": "2",
           "XSCHED_AUTO_XQUEUE_BATCH_SIZE": "8"}
    out = run_probe(lib, env)
    assert out.status == Status.FAIL
    assert out.finding == ("XSched aborted the process: Assertion failed: command threshold (2) must "
                           "not be smaller than command batch size (8)")
    ex = row(out, "exit")
    assert ex.status == Status.FAIL and ex.value == "exit code 1 before Python started"
    assert row(out, "XSched assertion").status == Status.FAIL
    assert "XSCHED_AUTO_XQUEUE_BATCH_SIZE=1" in out.fix
    assert out.facts["returncode"] == 1 and out.facts["exit"] == "exit code 1"


def test_preload_of_missing_file_means_not_loaded(lib, tmp_path):
    empty = tmp_path / "output" / "lib"
    empty.mkdir(parents=True)
    out = run_probe(lib, HPF, lib_dir=empty)
    ld = row(out, "loader")
    assert ld.status == Status.FAIL and "could not preload" in ld.value
    assert str(empty / "libshimcuda.so") in ld.value
    assert row(out, "shim mapped").status == Status.FAIL
    assert row(out, "torch").status == Status.PASS  # a plain native run, exactly as on the H100
    assert row(out, "exit").status == Status.PASS
    assert out.status == Status.FAIL and out.finding.startswith("XSched not loaded")
    assert out.facts["shim_mapped"] is False and out.facts["loader_errors"]
    assert "cannot be preloaded" in out.facts["loader_errors"][0]


def test_hung_probe_is_killed_without_leftovers(lib):
    out = run_probe(lib, {**HPF, "XSTD_HANG": "1"}, timeout=2)
    assert out.status == Status.FAIL and out.finding == "probe hung for 2 s, killed"
    ex = row(out, "exit")
    assert ex.status == Status.FAIL and "before Python printed anything" in ex.value
    assert out.facts["hung"] is True
    # The scheduler line printed before the hang is still shown.
    assert row(out, "scheduler").value == "local, policy HPF"
    assert probe_children() == []
    assert not psutil.pid_exists(out.facts["pid"])


def test_interpreter_without_torch_still_reports_xsched(lib, tmp_path):
    venv = tmp_path / "no-torch"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   capture_output=True, timeout=120)
    py = str(venv / "bin" / "python")
    out = run_probe(lib, {**HPF, "XSTD_XQUEUES": "1"}, python=py)
    t = row(out, "torch")
    assert t.status == Status.FAIL and py in t.value and "No module named 'torch'" in t.value
    assert f"{py} -m pip install torch" in out.fix
    assert out.status == Status.FAIL and "cannot import torch" in out.finding
    # The XSched side is proven all the same.
    assert row(out, "shim mapped").status == Status.PASS
    assert row(out, "scheduler").status == Status.PASS
    assert row(out, "XQueues").status == Status.PASS
    assert out.facts["torch"] is False and out.facts["xqueues"] == 1


def test_missing_interpreter_is_clear_fail(lib, tmp_path):
    out = run_probe(lib, HPF, python=str(tmp_path / "nope" / "python3"))
    assert out.status == Status.FAIL
    assert out.finding == f"cannot run the probe: interpreter {tmp_path / 'nope' / 'python3'} does not exist"
    assert "--python" in out.fix


def test_ld_library_path_mode_soname_answers_with_the_shim(lib):
    out = run_probe(lib, HPF, enable="LD_LIBRARY_PATH")
    assert row(out, "enabled via").value.startswith(f"LD_LIBRARY_PATH={lib}")
    so = row(out, "libcuda.so.1 answers with")
    assert so.status == Status.PASS and "(the shim, loaded by the probe)" in so.value
    assert row(out, "shim mapped").status == Status.PASS
    assert row(out, "XQueues").status == Status.PASS
    assert out.status == Status.WARN and "no GPU is visible" in out.finding


def test_cpu_only_torch_on_a_gpu_host_is_fail(lib):
    # The GPU check saw a GPU, but the interpreter's torch (CPU build here) cannot use it.
    out = run_probe(lib, HPF, facts={"gpu": {"devices": 1}})
    dev = row(out, "device")
    assert dev.status == Status.FAIL and "CPU-only build, but this host has 1 GPU(s)" in dev.value
    assert out.status == Status.FAIL and "CPU-only build" in out.finding
    assert "-m pip install torch" in out.fix
