"""Per-process GPU use (memory, SM utilisation) from NVML or AMD SMI, when one is importable.

Neither library is a dependency (``pip install xsched-tui[gpu]`` adds nvidia-ml-py): without
one the GPU column is hidden, never faked. Every call into the vendor library is guarded: a GPU
library error costs a missing number, never a crash of the monitor. The library module is
passed to the sampler, so the logic is tested with a small fake module on machines without GPUs.

NVML reports the PIDs of the PID namespace the driver lives in. Inside a container with its own
PID namespace those PIDs do not exist in this /proc; ``sample()`` returns them as unresolved so
the caller can say why the GPU column is empty instead of showing "no such process".
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# NVML's "not available" for 64-bit values; nvidia-ml-py turns it into None, old pynvml does not.
_NVML_NA = (1 << 64) - 1


@dataclass(frozen=True)
class GpuUse:
    device: int  # the library's device index
    memory_bytes: int | None  # None: the driver does not report it (e.g. MIG, Windows WDDM)
    util_percent: float | None  # SM / GFX busy share over the last sample period


Sample = tuple[dict[int, tuple[GpuUse, ...]], set[int]]


class GpuSampler:
    """One vendor library, opened once. ``sample()`` is cheap enough for a 1 s refresh."""

    def __init__(self, backend: str, lib: Any, *, proc_root: str = "/proc",
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``backend`` is "nvml" or "amdsmi"; ``lib`` the module (pynvml / amdsmi) or a fake.

        Raises ``GpuUnavailable`` when the library cannot be initialised (no driver, no GPU).
        """
        if backend not in ("nvml", "amdsmi"):
            raise ValueError(f"unknown GPU backend {backend!r}")
        self.source = backend
        self._lib = lib
        self._proc_root = proc_root
        self._clock = clock
        self._closed = False
        # NVML: last utilisation timestamp per device (µs, the driver's clock).
        self._nvml_seen: dict[int, int] = {}
        # AMD SMI: previous cumulative GFX busy time per (device, pid), with our clock.
        self._amd_prev: dict[tuple[int, int], tuple[int, float]] = {}
        self._err: type[BaseException] | tuple[type[BaseException], ...]
        if backend == "nvml":
            self._err = _error_types(lib, "NVMLError")
            try:
                lib.nvmlInit()
                self._handles = [lib.nvmlDeviceGetHandleByIndex(i)
                                 for i in range(int(lib.nvmlDeviceGetCount()))]
            except self._err as exc:
                raise GpuUnavailable(f"NVML: {exc}") from None
        else:
            self._err = _error_types(lib, "AmdSmiException")
            try:
                flags = getattr(getattr(lib, "AmdSmiInitFlags", None), "INIT_AMD_GPUS", None)
                lib.amdsmi_init(flags) if flags is not None else lib.amdsmi_init()
                self._handles = list(lib.amdsmi_get_processor_handles())
            except self._err as exc:
                raise GpuUnavailable(f"AMD SMI: {exc}") from None
        self.devices = len(self._handles)

    # -- opening ----------------------------------------------------------------------------
    @classmethod
    def open(cls, proc_root: str = "/proc") -> GpuSampler | None:
        """NVML if nvidia-ml-py is installed and a driver answers, else AMD SMI, else None."""
        for backend, modname in (("nvml", "pynvml"), ("amdsmi", "amdsmi")):
            try:
                lib = __import__(modname)
            except Exception:  # ImportError, or a broken install raising anything at import
                continue
            try:
                s = cls(backend, lib, proc_root=proc_root)
            except GpuUnavailable:
                continue
            except Exception:  # a vendor library raising something unexpected at init
                continue
            if s.devices:
                return s
            s.close()
        return None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self.source == "nvml":
                self._lib.nvmlShutdown()
            else:
                self._lib.amdsmi_shut_down()
        except Exception:
            pass

    # -- sampling ---------------------------------------------------------------------------
    def sample(self) -> Sample:
        """({pid: uses per device}, pids the library reported that do not exist in proc_root)."""
        if self._closed:
            return {}, set()
        try:
            per = self._sample_nvml() if self.source == "nvml" else self._sample_amd()
        except Exception:  # never let a vendor library take the collector down
            per = {}
        out = {pid: tuple(sorted(uses.values(), key=lambda u: u.device)) for pid, uses in per.items()}
        unresolved = {pid for pid in out if not os.path.exists(os.path.join(self._proc_root, str(pid)))}
        return out, unresolved

    def _sample_nvml(self) -> dict[int, dict[int, GpuUse]]:
        lib = self._lib
        per: dict[int, dict[int, GpuUse]] = {}
        for dev, h in enumerate(self._handles):
            mem: dict[int, int | None] = {}
            for fn in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
                f = getattr(lib, fn, None)
                if f is None:
                    continue
                try:
                    procs = f(h) or ()
                except self._err:
                    continue
                for p in procs:
                    pid = _int(getattr(p, "pid", None))
                    if pid is None:
                        continue
                    used = _int(getattr(p, "usedGpuMemory", None))
                    if used is not None and used >= _NVML_NA:
                        used = None
                    # A process can be in both lists; keep the number when one list lacks it.
                    mem[pid] = used if mem.get(pid) is None else mem[pid]
            util: dict[int, float] = {}
            f = getattr(lib, "nvmlDeviceGetProcessUtilization", None)
            if f is not None:
                try:
                    samples = f(h, self._nvml_seen.get(dev, 0)) or ()
                except self._err:  # NVML_ERROR_NOT_FOUND: no sample since the last call
                    samples = ()
                newest: dict[int, tuple[int, float]] = {}
                for s in samples:
                    pid = _int(getattr(s, "pid", None))
                    ts = _int(getattr(s, "timeStamp", 0)) or 0
                    sm = getattr(s, "smUtil", None)
                    if pid is None or sm is None:
                        continue
                    if pid not in newest or ts >= newest[pid][0]:
                        newest[pid] = (ts, float(sm))
                    self._nvml_seen[dev] = max(self._nvml_seen.get(dev, 0), ts)
                util = {pid: v for pid, (_, v) in newest.items()}
            for pid in set(mem) | set(util):
                per.setdefault(pid, {})[dev] = GpuUse(dev, mem.get(pid), util.get(pid))
        return per

    def _sample_amd(self) -> dict[int, dict[int, GpuUse]]:
        lib = self._lib
        per: dict[int, dict[int, GpuUse]] = {}
        now = self._clock()
        seen: set[tuple[int, int]] = set()
        for dev, h in enumerate(self._handles):
            try:
                items = lib.amdsmi_get_gpu_process_list(h) or ()
            except self._err:
                continue
            for it in items:
                info = it
                if not isinstance(it, dict):  # amdsmi < 6.1 returns handles to look up
                    try:
                        info = lib.amdsmi_get_gpu_process_info(h, it)
                    except self._err:
                        continue
                if not isinstance(info, dict):
                    continue
                pid = _int(info.get("pid"))
                if pid is None:
                    continue
                mu = info.get("memory_usage") or {}
                mem = _int(mu.get("vram_mem")) if isinstance(mu, dict) else None
                if mem is None:
                    mem = _int(info.get("mem"))
                eu = info.get("engine_usage") or {}
                gfx = _int(eu.get("gfx")) if isinstance(eu, dict) else None  # cumulative ns
                util = None
                if gfx is not None:
                    key = (dev, pid)
                    seen.add(key)
                    prev = self._amd_prev.get(key)
                    if prev is not None and now > prev[1] and gfx >= prev[0]:
                        util = min(100.0, (gfx - prev[0]) / ((now - prev[1]) * 1e9) * 100.0)
                    self._amd_prev[key] = (gfx, now)
                per.setdefault(pid, {})[dev] = GpuUse(dev, mem, util)
        for key in list(self._amd_prev):  # forget processes that left the GPU
            if key not in seen:
                del self._amd_prev[key]
        return per


class GpuUnavailable(RuntimeError):
    """The vendor library is importable but has no driver or device to talk to."""


def _error_types(lib: Any, name: str) -> tuple[type[BaseException], ...]:
    err = getattr(lib, name, None)
    if isinstance(err, type) and issubclass(err, BaseException):
        return (err, OSError)
    return (Exception,)  # the library has no error class we can name: catch what it raises


def _int(v: Any) -> int | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None
