"""What every workload kind provides to the measuring loops (run.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xsched_tui.workloads import peaks
from xsched_tui.workloads.device import Device
from xsched_tui.workloads.emit import summarize


@dataclass(frozen=True)
class Check:
    """The correctness verdict of the last measured iteration."""

    correct: bool
    reason: str | None = None  # why it is wrong (None when correct)
    fields: dict[str, Any] = field(default_factory=dict)  # e.g. max_rel_error, count_seen


def rel_error(torch: Any, got: Any, ref: Any) -> tuple[float, bool]:
    """(max |got - ref| / max |ref|, all values finite), both as float64 on cpu."""
    got = got.detach().to("cpu", torch.float64)
    ref = ref.detach().to("cpu", torch.float64)
    finite = bool(torch.isfinite(got).all())
    scale = float(ref.abs().max()) or 1.0
    err = float((got - ref).abs().max()) / scale if finite else float("inf")
    return err, finite


class Workload:
    """One kind. ``step`` submits one iteration (a request for infer) on the current stream."""

    kind = ""
    metric = ""  # of the throughput loop; infer's periodic mode reports latency_ms instead
    unit = ""
    default_warmup = 10
    default_iters = 100
    flops_per_iter: float | None = None  # when known, the physical ceiling applies

    def __init__(self, torch: Any, device: Device) -> None:
        self.torch = torch
        self.device = device

    def step(self) -> None:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """What was built (sizes, dtype): copied into the start and result lines."""
        return {}

    def before_measure(self) -> None:
        """Reset what check() inspects, so a stale warm-up result can never pass."""

    def check(self, iterations: int) -> Check:
        raise NotImplementedError

    def value(self, ms: float) -> float:
        """One iteration's metric value from its time."""
        return ms

    def extras(self, ms: list[float], wall_s: float, iterations: int) -> dict[str, Any]:
        """Kind-specific result fields of a throughput run."""
        return {}

    def too_fast(self, device_ms: list[float], dtype: str) -> str | None:
        """Why the run is faster than physics allows, or None. Uses the median iteration."""
        if self.flops_per_iter is None or not device_ms:
            return None
        med = summarize(device_ms)["median"]
        if not med or med <= 0:
            return "an iteration took no measurable time"
        tflops = self.flops_per_iter / (med * 1e-3) / 1e12
        limit, why = peaks.ceiling(self.device.device_name, dtype, self.device.is_gpu)
        if tflops > limit:
            return f"median {tflops:.1f} TFLOP/s is above the ceiling {limit:.0f} ({why})"
        return None


DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
# Normalised max error allowed against the float64 reference (fp32 may run as TF32 on a GPU).
TOLERANCE = {"bf16": 3e-2, "fp16": 1e-2, "fp32": 5e-3}


def torch_dtype(torch: Any, name: str) -> Any:
    return getattr(torch, DTYPES[name])
