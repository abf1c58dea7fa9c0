"""matmul: C = A @ B on N x N matrices, TFLOP/s per iteration (2 N^3 flop)."""

from __future__ import annotations

from typing import Any

from xsched_tui.workloads import peaks
from xsched_tui.workloads.base import TOLERANCE, Check, Workload, rel_error, torch_dtype
from xsched_tui.workloads.device import Device
from xsched_tui.workloads.emit import summarize


def _probe_indices(n: int) -> list[int]:
    """A few rows/columns spread over the matrix (corners and middle catch tiling bugs)."""
    return sorted({0, 1, n // 3, n // 2, (2 * n) // 3, n - 2, n - 1} & set(range(n)))


class Matmul(Workload):
    kind = "matmul"
    metric = "tflops"
    unit = "TFLOP/s"
    default_warmup = 10
    default_iters = 100

    def __init__(self, torch: Any, device: Device, *, size: int, dtype: str) -> None:
        super().__init__(torch, device)
        self.size = size
        self.dtype = dtype
        t = torch_dtype(torch, dtype)
        dev = device.torch_device
        self.a = torch.randn(size, size, device=dev, dtype=t)
        self.b = torch.randn(size, size, device=dev, dtype=t)
        self.c = torch.empty(size, size, device=dev, dtype=t)
        self.flops_per_iter = 2.0 * size**3

    def step(self) -> None:
        self.torch.mm(self.a, self.b, out=self.c)

    def describe(self) -> dict[str, Any]:
        return {"size": self.size, "dtype": self.dtype, "flops_per_iter": self.flops_per_iter}

    def before_measure(self) -> None:
        self.c.fill_(float("nan"))

    def check(self, iterations: int) -> Check:
        """A slice of C against float64 on the cpu from the same (rounded) inputs."""
        idx = _probe_indices(self.size)
        ix = self.torch.tensor(idx, device=self.device.torch_device)
        ref = self.a.index_select(0, ix).double().cpu() @ self.b.index_select(1, ix).double().cpu()
        got = self.c.index_select(0, ix).index_select(1, ix)
        err, finite = rel_error(self.torch, got, ref)
        tol = TOLERANCE[self.dtype]
        fields = {"max_rel_error": err if finite else None, "tolerance": tol}
        if not finite:
            return Check(False, "C holds NaN/inf: the measured matmuls did not write it", fields)
        if err > tol:
            return Check(False, f"C differs from the float64 reference by {err:.3g} (> {tol:g})", fields)
        return Check(True, None, fields)

    def value(self, ms: float) -> float:
        return self.flops_per_iter / (ms * 1e-3) / 1e12 if ms > 0 else float("inf")

    def extras(self, ms: list[float], wall_s: float, iterations: int) -> dict[str, Any]:
        s = summarize(ms)
        limit, _ = peaks.ceiling(self.device.device_name, self.dtype, self.device.is_gpu)
        peak = peaks.known_peak(self.device.device_name, self.dtype) if self.device.is_gpu else None
        return {
            "iterations": iterations,
            "tflops_median": self.value(s["median"]) if s["median"] else None,
            # Whole-run throughput, as the recorded H100 samples report "tflops".
            "tflops": iterations * self.flops_per_iter / wall_s / 1e12 if wall_s > 0 else None,
            "iter_ms_median": s["median"],
            "peak_tflops": peak,
            "ceiling_tflops": limit,
        }
