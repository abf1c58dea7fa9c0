"""GPU sampler logic with small fake vendor modules (no GPU here), plus a real-NVML test."""

from __future__ import annotations

import os
import sys
from types import SimpleNamespace

import pytest

from xsched_tui.core.gpuproc import GpuSampler, GpuUnavailable, GpuUse
from xsched_tui.core.proctree import ProcessCollector

GONE_PID = 4_194_304 + 17  # above any pid_max: never exists in this /proc


class FakeNVML:
    """The pynvml calls the sampler uses, answering from plain data."""

    class NVMLError(Exception):
        pass

    def __init__(self, compute, graphics=None, util=None, fail_init=False, broken_dev=None):
        self.compute, self.graphics = compute, graphics or {}
        self.util = util or {}
        self.fail_init, self.broken_dev = fail_init, broken_dev
        self.util_calls: list[tuple[int, int]] = []
        self.shut = False

    def nvmlInit(self):
        if self.fail_init:
            raise self.NVMLError("Driver Not Loaded")

    def nvmlShutdown(self):
        self.shut = True

    def nvmlDeviceGetCount(self):
        return len(self.compute)

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def _procs(self, table, h):
        if h == self.broken_dev:
            raise self.NVMLError("GPU is lost")
        return [SimpleNamespace(pid=pid, usedGpuMemory=mem) for pid, mem in table.get(h, [])]

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        return self._procs(dict(enumerate(self.compute)), h)

    def nvmlDeviceGetGraphicsRunningProcesses(self, h):
        return self._procs(self.graphics, h)

    def nvmlDeviceGetProcessUtilization(self, h, last):
        self.util_calls.append((h, last))
        samples = [s for s in self.util.get(h, []) if s[1] > last]
        if not samples:
            raise self.NVMLError("Not Found")
        return [SimpleNamespace(pid=p, timeStamp=ts, smUtil=sm, memUtil=0) for p, ts, sm in samples]


def test_nvml_memory_util_and_unresolved_pids():
    me = os.getpid()
    nv = FakeNVML(
        compute=[[(me, 1 << 30), (GONE_PID, 5)], [(me, None)]],
        graphics={1: [(me, (1 << 64) - 1)]},  # NVML's "not available"
        util={0: [(me, 10, 20), (me, 20, 55), (GONE_PID, 20, 9)]},
    )
    s = GpuSampler("nvml", nv)
    assert s.source == "nvml" and s.devices == 2
    per, unresolved = s.sample()
    assert per[me] == (GpuUse(0, 1 << 30, 55.0), GpuUse(1, None, None))  # newest sample wins
    assert unresolved == {GONE_PID}
    # The next call asks only for samples newer than the last one seen.
    per2, _ = s.sample()
    assert (0, 20) in nv.util_calls and per2[me][0].util_percent is None
    s.close()
    assert nv.shut


def test_nvml_errors_cost_numbers_not_the_collector():
    me = os.getpid()
    nv = FakeNVML(compute=[[(me, 100)], [(me, 200)]], broken_dev=0)
    per, _ = GpuSampler("nvml", nv).sample()
    assert per[me] == (GpuUse(1, 200, None),)
    with pytest.raises(GpuUnavailable):
        GpuSampler("nvml", FakeNVML(compute=[], fail_init=True))


def test_amdsmi_dict_processes_and_util_from_busy_time():
    me = os.getpid()
    now = [100.0]
    busy = {"gfx": 0}

    class FakeAMD:
        class AmdSmiException(Exception):
            pass

        def amdsmi_init(self, *a):
            pass

        def amdsmi_shut_down(self):
            pass

        def amdsmi_get_processor_handles(self):
            return ["gpu0"]

        def amdsmi_get_gpu_process_list(self, h):
            return [{"pid": me, "name": "python", "mem": 7,
                     "memory_usage": {"vram_mem": 4096, "gtt_mem": 0, "cpu_mem": 0},
                     "engine_usage": {"gfx": busy["gfx"], "enc": 0}}]

    s = GpuSampler("amdsmi", FakeAMD(), clock=lambda: now[0])
    per, _ = s.sample()
    assert per[me] == (GpuUse(0, 4096, None),)  # no busy-time delta yet
    now[0] += 2.0
    busy["gfx"] = 500_000_000  # 0.5 s busy in 2 s
    per, _ = s.sample()
    assert per[me][0].util_percent == pytest.approx(25.0)


def test_open_without_any_library(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import raises ImportError
    monkeypatch.setitem(sys.modules, "amdsmi", None)
    assert GpuSampler.open() is None


def test_collector_gpu_column_and_namespace_note():
    me = os.getpid()
    nv = FakeNVML(compute=[[(me, 1 << 20), (GONE_PID, 1)]])
    col = ProcessCollector(gpu=GpuSampler("nvml", nv), discover_every=float("inf"))
    col.track(me, "pinned")
    snap = col.refresh()
    assert snap.gpu_source == "nvml"
    assert snap.get(me).gpu == (GpuUse(0, 1 << 20, None),)
    assert any("PID" in n and "namespace" in n and str(GONE_PID) in n for n in snap.notes)
    off = ProcessCollector(gpu="off", discover_every=float("inf"))
    off.track(me, "pinned")
    s2 = off.refresh()
    assert s2.gpu_source is None and s2.get(me).gpu is None


@pytest.mark.gpu
def test_real_nvml():
    pytest.importorskip("pynvml", reason="nvidia-ml-py is not installed (pip install xsched-tui[gpu])")
    s = GpuSampler.open()
    assert s is not None and s.source == "nvml" and s.devices >= 1
    try:
        per, unresolved = s.sample()
        assert isinstance(per, dict) and isinstance(unresolved, set)
    finally:
        s.close()
