"""Device choice and stream set-up. torch is passed in (imported by the caller, never at module level)."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from typing import Any


class WorkloadError(Exception):
    """A failure the user can act on: becomes one ``error`` line and exit code 1."""


@dataclass(frozen=True)
class Device:
    torch_device: Any  # torch.device
    name: str  # "cuda:0" or "cpu"
    device_name: str  # "NVIDIA H100 80GB HBM3", "AMD EPYC (2 threads)"
    backend: str  # "cuda", "hip" or "cpu"

    @property
    def is_gpu(self) -> bool:
        return self.backend != "cpu"


def _cpu_name(torch: Any) -> str:
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    model = model or platform.processor() or platform.machine() or "cpu"
    return f"{model} ({torch.get_num_threads()} threads)"


def _no_gpu_reason(torch: Any) -> str:
    if torch.version.cuda is None and getattr(torch.version, "hip", None) is None:
        return f"torch {torch.__version__} is a CPU-only build"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", os.environ.get("HIP_VISIBLE_DEVICES"))
    if visible is not None and visible.strip() in ("", "-1"):
        return f"CUDA_VISIBLE_DEVICES/HIP_VISIBLE_DEVICES={visible!r} hides every GPU"
    return "torch.cuda.is_available() is False (no GPU, or the driver/runtime failed to load)"


def resolve(torch: Any, spec: str) -> Device:
    """``auto``/``cpu``/``cuda``/``cuda:N`` -> a Device; a GPU that is not there is a WorkloadError."""
    spec = spec.strip().lower()
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cpu":
        return Device(torch.device("cpu"), "cpu", _cpu_name(torch), "cpu")
    # ROCm builds of torch expose HIP devices under the "cuda" name; accept "hip" as a synonym.
    if spec.startswith("hip"):
        spec = "cuda" + spec[3:]
    if not spec.startswith("cuda"):
        raise WorkloadError(f"unknown device {spec!r}: use auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise WorkloadError(f"--device {spec}: no GPU visible to torch ({_no_gpu_reason(torch)})")
    try:
        dev = torch.device(spec)
    except RuntimeError as e:
        raise WorkloadError(f"bad device {spec!r}: {e}") from None
    index = dev.index if dev.index is not None else torch.cuda.current_device()
    count = torch.cuda.device_count()
    if index >= count:
        raise WorkloadError(f"--device {spec}: torch sees {count} GPU(s) (cuda:0..cuda:{count - 1})")
    torch.cuda.set_device(index)
    backend = "hip" if getattr(torch.version, "hip", None) else "cuda"
    return Device(torch.device("cuda", index), f"cuda:{index}", torch.cuda.get_device_name(index), backend)


def select_stream(torch: Any, device: Device, which: str) -> None:
    """Make the workload's stream current BEFORE any tensor is made, so every copy and kernel of the
    run (and the caching allocator's blocks) belong to it.

    XSched intercepts explicit streams only: PyTorch's default (legacy NULL) stream gets no XQueue
    (FACTS §11), so ``default`` exists to reproduce exactly that mistake.
    """
    if not device.is_gpu:
        return
    if which == "explicit":
        torch.cuda.set_stream(torch.cuda.Stream(device.torch_device))
    else:
        torch.cuda.set_stream(torch.cuda.default_stream(device.torch_device))
