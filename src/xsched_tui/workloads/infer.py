"""infer: one forward pass of a model per request; periodic (latency) or flat out (requests/s)."""

from __future__ import annotations

import copy
from typing import Any

from xsched_tui.workloads import models
from xsched_tui.workloads.base import Check, Workload, rel_error, torch_dtype
from xsched_tui.workloads.device import Device
from xsched_tui.workloads.emit import summarize

# Default shapes: the samples' foreground on a GPU, something that answers in ~ms on a small cpu.
GPU_DEFAULTS = {"width": 2048, "layers": 24, "image": 224, "dtype": "fp16"}
CPU_DEFAULTS = {"width": 512, "layers": 8, "image": 32, "dtype": "fp32"}
# Deep half-precision models drift further from a float32 reference than one matmul does.
INFER_TOLERANCE = {"bf16": 8e-2, "fp16": 5e-2, "fp32": 2e-2}


class Infer(Workload):
    kind = "infer"
    default_warmup = 10
    default_iters = 100

    def __init__(self, torch: Any, device: Device, *, model: str, batch: int, dtype: str | None,
                 rate: float, width: int | None, layers: int | None, image: int | None) -> None:
        super().__init__(torch, device)
        d = GPU_DEFAULTS if device.is_gpu else CPU_DEFAULTS
        self.model_name = model
        self.batch = batch
        self.dtype = d["dtype"] if dtype in (None, "auto") else dtype
        self.rate = rate
        self.metric, self.unit = ("latency_ms", "ms") if rate > 0 else ("req_per_s", "req/s")
        self.shape: dict[str, int] = {}
        if model == "mlp":
            self.shape = {"width": width or d["width"], "layers": layers or d["layers"]}
            net = models.mlp(torch, self.shape["width"], self.shape["layers"])
            x = torch.randn(batch, self.shape["width"])
            self.flops_per_iter = 2.0 * batch * self.shape["width"] ** 2 * self.shape["layers"]
        else:
            self.shape = {"image": image or d["image"]}
            net = models.cnn(torch) if model == "cnn" else models.torchvision_model(model)
            x = torch.randn(batch, 3, self.shape["image"], self.shape["image"])
        net.eval()
        self.params = sum(p.numel() for p in net.parameters())
        # Reference: a float32 copy on the cpu, one sample (eval mode: samples are independent).
        ref_net = copy.deepcopy(net).float()
        self.ref = ref_net(x[:1].float())
        del ref_net
        t = torch_dtype(torch, self.dtype)
        self.net = net.to(device.torch_device, t)
        self.x = x.to(device.torch_device, t)
        self.out: Any = None

    def step(self) -> None:
        self.out = self.net(self.x)

    def before_measure(self) -> None:
        self.out = None

    def check(self, iterations: int) -> Check:
        if self.out is None:
            return Check(False, "no request produced an output", {})
        err, finite = rel_error(self.torch, self.out[:1], self.ref)
        tol = INFER_TOLERANCE[self.dtype]
        fields = {"max_rel_error": err if finite else None, "tolerance": tol}
        if not finite:
            return Check(False, "the output holds NaN/inf", fields)
        if err > tol:
            return Check(False, f"output differs from the float32 cpu reference by {err:.3g} (> {tol:g})",
                         fields)
        return Check(True, None, fields)

    def value(self, ms: float) -> float:
        # Flat-out mode: each request's own rate; the periodic loop reports latencies directly.
        return 1000.0 / ms if ms > 0 else float("inf")

    def describe(self) -> dict[str, Any]:
        return {"model": self.model_name, "batch": self.batch, "dtype": self.dtype, "params": self.params,
                "rate_hz": self.rate, "flops_per_request": self.flops_per_iter, **self.shape}

    def extras(self, ms: list[float], wall_s: float, iterations: int) -> dict[str, Any]:
        med = summarize(ms)["median"]
        return {"requests": iterations,
                "req_per_s": iterations / wall_s if wall_s > 0 else None,  # whole run
                "req_per_s_median": self.value(med) if med else None,
                "samples_per_s": iterations * self.batch / wall_s if wall_s > 0 else None,
                "iter_ms_median": med}
