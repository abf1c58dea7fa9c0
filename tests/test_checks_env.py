from __future__ import annotations

import os
import stat
from dataclasses import replace

from xsched_tui.core import gpu
from xsched_tui.core.checks.base import CheckContext, Status
from xsched_tui.core.checks.environment import check_driver, check_env, check_scheduler
from xsched_tui.core.checks.gpu import check_gpu
from xsched_tui.core.checks.install import check_install
from xsched_tui.core.checks.xserver_check import check_xserver
from xsched_tui.core.config import Config

from layouts import make_install
from xserver_double import XServerDouble, load_recorded


def _ctx(**kw) -> CheckContext:
    return CheckContext(config=replace(Config(), **kw))


def test_env_default_is_clean():
    out = check_env(_ctx())
    assert out.status == Status.PASS and "all understood" in out.finding


def test_env_reports_typos_legacy_and_shell_preload(monkeypatch):
    monkeypatch.setenv("LD_PRELOAD", "/x/libshimhip.so")
    out = check_env(_ctx(xsched_env={"XSCHED_POLICY": "GBL", "XSCHED_LOG_LEVEL": "DEBG",
                                     "XSCHED_AUTO_XQUEUE": "yes"}))
    assert out.status == Status.FAIL
    labels = {e.label: e for e in out.evidence}
    assert labels["shell LD_PRELOAD"].status == Status.WARN and "XSched shim" in labels[
        "shell LD_PRELOAD"].value
    assert "did you mean XLOG_LEVEL" in labels["XSCHED_LOG_LEVEL"].value
    assert "unset LD_PRELOAD" in out.fix and "XSCHED_SCHEDULER=GLB" in out.fix


def test_env_garbage_values_never_raise():
    out = check_env(_ctx(xsched_env={"XSCHED_AUTO_XQUEUE_LEVEL": "\x00\xff", "XLOG_LEVEL": "",
                                     "XSCHED_AUTO_XQUEUE_THRESHOLD": "abc",
                                     "XSCHED_HIP_LIB": "/nonexistent/\n"}))
    assert out.status in (Status.WARN, Status.FAIL)
    assert len(out.evidence) >= 4


def test_scheduler_verdicts():
    app = check_scheduler(_ctx(xsched_env={}))
    assert app.status == Status.FAIL
    assert "XSched will load but schedule nothing" in app.finding
    assert "XSCHED_POLICY=HPF" in app.fix
    noq = check_scheduler(_ctx(xsched_env={"XSCHED_SCHEDULER": "GLB"}))
    assert noq.status == Status.FAIL and "no XQueue will be created" in noq.finding
    ok = check_scheduler(_ctx())
    assert ok.status == Status.PASS and ok.facts["scheduler"] == "local"
    dflt = check_scheduler(_ctx(stream="default"))
    assert dflt.status == Status.WARN and "default stream" in dflt.finding


def _install_ctx(tmp_path, platform="cuda", **kw) -> CheckContext:
    inst = make_install(tmp_path, platform)
    ctx = _ctx(install=str(inst), **kw)
    ctx.facts["install"] = dict(check_install(ctx).facts)
    return ctx


def test_driver_found_through_override(tmp_path):
    real = tmp_path / "nvidia" / "libcuda.so.1"
    real.parent.mkdir()
    real.write_bytes(b"\x7fELF")
    ctx = _install_ctx(tmp_path, xsched_env={"XSCHED_CUDA_LIB": str(real), "XSCHED_POLICY": "HPF"})
    out = check_driver(ctx)
    assert out.status in (Status.PASS, Status.WARN) and out.facts["path"] == str(real)


def test_driver_override_pointing_at_the_shim_is_caught(tmp_path):
    ctx = _install_ctx(tmp_path)
    shim_link = os.path.join(ctx.fact("install", "lib_dir"), "libcuda.so.1")
    ctx = replace(ctx, config=replace(ctx.config, xsched_env={"XSCHED_CUDA_LIB": shim_link}))
    out = check_driver(ctx)
    assert out.status == Status.FAIL and "its own shim" in out.finding


def test_driver_missing_override_falls_back(tmp_path):
    ctx = _install_ctx(tmp_path, "hip", xsched_env={"XSCHED_HIP_LIB": str(tmp_path / "no.so")})
    out = check_driver(ctx)
    labels = {e.label: e for e in out.evidence}
    assert labels["XSCHED_HIP_LIB"].status == Status.WARN
    if out.facts["path"] is None:  # no ROCm on this machine
        assert out.status == Status.FAIL and "will not find the real libamdhip64.so" in out.finding
        assert "XSCHED_HIP_LIB" in out.fix


def test_gpu_none_visible_is_a_clear_fail(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi
    monkeypatch.setattr(gpu, "scan_amd", lambda notes: [])
    monkeypatch.setattr(gpu, "device_files", lambda: [])
    out = check_gpu(_ctx())
    assert out.status == Status.FAIL and "no GPU visible" in out.finding
    assert "--gpus all" in out.fix


def _fake_nvidia_smi(tmp_path, rows: str, rc: int = 0):
    exe = tmp_path / "nvidia-smi"
    exe.write_text(f"#!/bin/sh\ncat <<'EOF'\n{rows}\nEOF\nexit {rc}\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


def test_gpu_h100_reaches_level_1_and_warns_on_level_3(tmp_path, monkeypatch):
    # a real executable on PATH that prints what nvidia-smi prints on the H100 machine
    _fake_nvidia_smi(tmp_path, "0, NVIDIA H100 80GB HBM3, 9.0, 580.159.04, 00000000:00:06.0")
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + os.environ["PATH"])
    ctx = _ctx(xsched_env={"XSCHED_AUTO_XQUEUE_LEVEL": "3"})
    ctx.facts["install"] = {"platform": "cuda"}
    out = check_gpu(ctx)
    assert out.facts["max_level"] == 1
    assert out.status == Status.WARN and "level 3 is configured" in out.finding
    assert "XSCHED_CUDA_LV3_IMPL=TSG" in out.fix
    ctx.facts["install"] = {"platform": "hip"}
    assert check_gpu(ctx).status == Status.FAIL  # hip install on an NVIDIA GPU


def test_gpu_v100_reaches_level_3(tmp_path, monkeypatch):
    _fake_nvidia_smi(tmp_path, "0, Tesla V100, 7.0, 535.1, 0:1:0.0")
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + os.environ["PATH"])
    ctx = _ctx(xsched_env={"XSCHED_AUTO_XQUEUE_LEVEL": "3"})
    out = check_gpu(ctx)
    assert out.status == Status.PASS and out.facts["max_level"] == 3


def test_gpu_nvidia_smi_failure_is_reported(tmp_path, monkeypatch):
    _fake_nvidia_smi(tmp_path, "NVIDIA-SMI has failed because it couldn't communicate", rc=9)
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + os.environ["PATH"])
    notes: list[str] = []
    assert gpu.scan_nvidia(notes) == [] and "exit code 9" in notes[0]


def test_amd_kfd_topology(tmp_path):
    node = tmp_path / "nodes" / "1"
    node.mkdir(parents=True)
    (node / "properties").write_text("simd_count 1216\ngfx_target_version 90402\n")
    (node / "name").write_text("MI308X\n")
    cpu = tmp_path / "nodes" / "0"
    cpu.mkdir()
    (cpu / "properties").write_text("simd_count 0\ngfx_target_version 0\n")
    devs = gpu.scan_amd([], root=str(tmp_path / "nodes"))
    assert [(d.name, d.arch) for d in devs] == [("MI308X", "gfx942")]


def test_xserver_check(samples, tmp_path):
    glb = {"XSCHED_SCHEDULER": "GLB", "XSCHED_AUTO_XQUEUE": "ON"}
    assert check_xserver(_ctx()).status == Status.SKIP
    answers = load_recorded(samples / "bandwidth-partition" / "../explicit-stream/"
                            "xserver-http-during-run.txt")
    with XServerDouble(answers) as srv:
        out = check_xserver(_ctx(xsched_env=glb, xserver_port=srv.port))
    assert out.status == Status.PASS and out.facts["policy"] == "HPF"
    assert "2 process(es)" in out.evidence[-1].value
    dead = check_xserver(_ctx(xsched_env=glb, xserver_port=srv.port))
    assert dead.status == Status.FAIL and "not running" in dead.finding
    assert "xserver HPF" in dead.fix
    with XServerDouble(answers, mode="garbage") as srv:
        bad = check_xserver(_ctx(xsched_env=glb, xserver_port=srv.port))
    assert bad.status == Status.FAIL and "not JSON" in bad.finding
