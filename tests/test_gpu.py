"""On a real GPU (the device machine): the GPU check and the probe payload's GPU path.

Marked `gpu`: skipped cleanly wherever no GPU is visible (CI). XSched is not installed on the
GPU machine either, so these prove our own detection and measurement paths, natively.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from xsched_tui.core import gpu
from xsched_tui.core.checks.base import CheckContext, Status
from xsched_tui.core.checks.gpu import check_gpu
from xsched_tui.core.config import Config
from xsched_tui.core.platforms import cuda_max_level

PAYLOAD = (Path(__file__).resolve().parent.parent / "src" / "xsched_tui" / "core" / "payloads"
           / "probe_payload.py")
pytestmark = pytest.mark.gpu


def test_gpu_check_sees_the_device_and_its_level():
    scan = gpu.scan()
    assert scan.devices, scan.notes
    ctx = CheckContext(config=replace(Config(), xsched_env={"XSCHED_POLICY": "HPF",
                                                            "XSCHED_AUTO_XQUEUE": "ON"}))
    ctx.facts["install"] = {"platform": "cuda" if "nvidia" in scan.vendors else "hip"}
    out = check_gpu(ctx)
    print(out.finding)
    assert out.status == Status.PASS
    d = scan.devices[0]
    if d.vendor == "nvidia":
        assert d.compute_capability is not None
        assert out.facts["max_level"] == cuda_max_level(*d.compute_capability)


@pytest.mark.parametrize("stream", ["explicit", "default"])
def test_probe_payload_runs_a_correct_matmul_on_the_gpu(stream):
    pytest.importorskip("torch")
    r = subprocess.run([sys.executable, str(PAYLOAD), "--stream", stream, "--size", "1024",
                        "--wait", "0"], capture_output=True, text=True, timeout=300,
                       input="\n")
    steps = {}
    for line in r.stdout.splitlines():
        rec = json.loads(line)
        steps[rec["step"]] = rec
    print(json.dumps(steps, indent=1))
    assert r.returncode == 0, r.stderr
    assert steps["device"]["gpu"] is True
    mm = steps["matmul"]
    assert mm["ok"] is True and mm["suspect"] is False
    assert mm["device"].startswith("cuda") and mm["stream"] == stream


def test_process_collector_sees_the_gpu_memory_of_a_real_cuda_process():
    """NVML attributes GPU memory to the pid of a real PyTorch process; where the container's
    PID namespace hides it, the snapshot says so instead of showing nothing."""
    pytest.importorskip("pynvml", reason="nvidia-ml-py is not installed (pip install xsched-tui[gpu])")
    import time

    from xsched_tui.core import runner
    from xsched_tui.core.proctree import ProcessCollector

    code = ("import torch, time\n"
            "x = torch.empty(512 << 20, dtype=torch.uint8, device='cuda')\n"
            "y = torch.randn(4096, 4096, device='cuda')\n"
            "print('ready', flush=True)\n"
            "while True:\n"
            "    y = y @ y; y = y / y.norm(); torch.cuda.synchronize()\n")
    child = runner.Child([sys.executable, "-c", code])
    try:
        end = time.monotonic() + 120
        while "ready" not in child.stdout_lines and time.monotonic() < end and child.running:
            time.sleep(0.1)
        assert "ready" in child.stdout_lines, list(child.stderr_lines)[-5:]
        coll = ProcessCollector(None, gpu="auto")
        coll.track(child.pid, origin="started", label="matmul")
        rec = snap = None
        for _ in range(6):
            snap = coll.refresh()
            rec = snap.get(child.pid)
            if rec is not None and rec.gpu:
                break
            time.sleep(0.5)
        print("gpu source:", snap.gpu_source, "notes:", snap.notes, "record gpu:", rec.gpu if rec else None,
              "cpu %:", rec.cpu_percent if rec else None)
        assert snap.gpu_source == "nvml"
        if rec.gpu:
            assert sum(u.memory_bytes or 0 for u in rec.gpu) >= 512 << 20
        else:
            assert any("PID" in n or "namespace" in n for n in snap.notes), snap.notes
        coll.close()
    finally:
        child.stop(grace=2.0)
