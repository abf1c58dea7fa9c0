"""Check: GPUs visible, their architecture, and the highest preemption level XSched reaches."""

from __future__ import annotations

from xsched_tui.core import gpu as gpu_scan
from xsched_tui.core.checks.base import CheckContext, CheckSpec, Outcome, Status, ev
from xsched_tui.core.platforms import PLATFORMS, cuda_max_level
from xsched_tui.core.xenv import parse_int

VENDOR_PLATFORMS = {"nvidia": ("cuda",), "amd": ("hip", "opencl")}


def max_level(dev: gpu_scan.GpuDevice, platform: str | None, lv3_impl: str | None) -> int:
    if dev.vendor == "nvidia" and dev.compute_capability and platform in (None, "cuda"):
        return cuda_max_level(*dev.compute_capability, lv3_impl=lv3_impl)
    if platform in PLATFORMS:
        return 1 if platform != "levelzero" else PLATFORMS[platform].max_level
    return 1


def check_gpu(ctx: CheckContext) -> Outcome:
    s = gpu_scan.scan()
    rows = [ev("probe", n) for n in s.notes]
    platform = ctx.fact("install", "platform")
    env = ctx.config.xsched_env
    lv3 = env.get("XSCHED_CUDA_LV3_IMPL")
    if not s.devices:
        return Outcome(
            Status.FAIL, "no GPU visible to this process: nothing can be scheduled here",
            tuple(rows),
            fix="Run on the GPU host; in a container pass the devices: docker run --gpus all ... "
                "(NVIDIA) or --device=/dev/kfd --device=/dev/dri (AMD)",
            facts={"devices": 0, "max_level": None},
        )
    status = Status.PASS
    fixes: list[str] = []
    levels = []
    for d in s.devices:
        lvl = max_level(d, platform, lv3)
        levels.append(lvl)
        cc = f", compute capability {d.compute_capability[0]}.{d.compute_capability[1]}" \
            if d.compute_capability else ""
        rows.append(ev(f"GPU {d.index}", f"{d.name} ({d.arch}{cc}"
                       + (f", driver {d.driver}" if d.driver else "") + f"): max level {lvl}"))
    top = min(levels)
    if platform and not any(platform in VENDOR_PLATFORMS.get(v, ()) for v in s.vendors):
        rows.append(ev("platform", f"install is {platform}, GPUs are {', '.join(sorted(s.vendors))}",
                       Status.FAIL))
        status = Status.FAIL
        fixes.append("build XSched for this GPU: make cuda (NVIDIA) or make hip (AMD)")
    want = parse_int(env.get("XSCHED_AUTO_XQUEUE_LEVEL"))
    if want is not None and want > top:
        rows.append(ev("XSCHED_AUTO_XQUEUE_LEVEL", f"{want} requested, hardware reaches {top}: "
                       "XSched v1.2 accepts it silently and preempts at Level 1", Status.WARN))
        if status != Status.FAIL:
            status = Status.WARN
        fixes.append(f"export XSCHED_AUTO_XQUEUE_LEVEL={top}"
                     + ("   # or XSCHED_CUDA_LV3_IMPL=TSG for Level 3 on any NVIDIA arch"
                        if "nvidia" in s.vendors else ""))
    names = ", ".join(sorted({d.name for d in s.devices}))
    finding = f"{len(s.devices)} GPU(s): {names}; highest preemption level {top}"
    if status == Status.WARN:
        finding += f", but level {want} is configured"
    return Outcome(status, finding, tuple(rows), "\n".join(fixes),
                   facts={"devices": len(s.devices), "max_level": top,
                          "vendors": sorted(s.vendors)})


SPEC = CheckSpec("gpu", "GPU", check_gpu, after=("install",),
                 description="Devices visible; compute capability or gfx arch; the highest "
                             "preemption level the hardware supports.")
