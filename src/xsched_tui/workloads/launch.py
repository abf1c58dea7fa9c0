"""launch: a storm of tiny kernels (x.add_(1), N per iteration); time per iteration and per launch."""

from __future__ import annotations

from typing import Any

from xsched_tui.workloads.base import Check, Workload
from xsched_tui.workloads.device import Device
from xsched_tui.workloads.emit import summarize

# Below this a launch did not happen: even CUDA graphs need ~1 µs per kernel on a GPU, and an
# eager add_ on a one-element cpu tensor costs ~1 µs of Python and dispatcher work.
FLOOR_US = {"gpu": 0.5, "cpu": 0.05}


class Launch(Workload):
    kind = "launch"
    metric = "iter_ms"
    unit = "ms"
    default_warmup = 3
    default_iters = 20

    def __init__(self, torch: Any, device: Device, *, kernels: int) -> None:
        super().__init__(torch, device)
        self.kernels = kernels
        # int64: the count stays exact however long the run (a float32 would stop at 2^24).
        self.x = torch.zeros(1, dtype=torch.int64, device=device.torch_device)

    def step(self) -> None:
        x = self.x
        for _ in range(self.kernels):
            x.add_(1)

    def describe(self) -> dict[str, Any]:
        return {"kernels": self.kernels}

    def before_measure(self) -> None:
        self.x.zero_()

    def check(self, iterations: int) -> Check:
        expected = iterations * self.kernels
        seen = int(self.x.item())
        fields = {"count_expected": expected, "count_seen": seen}
        if seen != expected:
            return Check(False, f"x = {seen} after {expected} add_(1) launches: kernels were lost", fields)
        return Check(True, None, fields)

    def too_fast(self, device_ms: list[float], dtype: str) -> str | None:
        if not device_ms:
            return None
        us = summarize(device_ms)["median"] * 1000 / self.kernels
        floor = FLOOR_US["gpu" if self.device.is_gpu else "cpu"]
        if us < floor:
            return f"median {us:.3f} µs per launch is below the {floor} µs a launch costs at least"
        return None

    def extras(self, ms: list[float], wall_s: float, iterations: int) -> dict[str, Any]:
        med = summarize(ms)["median"]
        launches = iterations * self.kernels
        return {
            "iterations": iterations, "launches": launches,
            "iter_ms_median": med,
            "us_per_launch_median": med * 1000 / self.kernels if med is not None else None,
            "us_per_launch": wall_s * 1e6 / launches if launches else None,  # whole run (samples' field)
        }
