"""What XSched installs per platform and how each platform's shim is enabled (FACTS §2, §3, §5.4)."""

from __future__ import annotations

import platform as _platform
from dataclasses import dataclass


@dataclass(frozen=True)
class Platform:
    name: str
    hal: str  # libhal<p>.so
    shim: str  # libshim<p>.so
    softlinks: tuple[str, ...]  # created in <install>/lib by SHIM_SOFTLINK=ON, all -> shim
    enable: str  # "LD_LIBRARY_PATH" or "LD_PRELOAD": how XSched's own docs enable it
    driver_env: str  # XSCHED_*_LIB naming the real driver
    driver_names: tuple[str, ...]  # names FindLibrary searches for the real driver
    search_dirs: tuple[str, ...] = ()  # platform-specific dirs searched before the fixed list
    api_prefixes: tuple[str, ...] = ()  # exported API symbol prefixes of the shim
    runtime_soname_prefix: str = ""  # the real runtime's file name prefix, for maps checks
    max_level: int = 1  # highest preemption level the HAL can reach (CUDA depends on the arch)

    @property
    def libraries(self) -> tuple[str, ...]:
        return ("libpreempt.so", self.hal, self.shim)


PLATFORMS: dict[str, Platform] = {
    p.name: p
    for p in (
        Platform(
            "cuda", "libhalcuda.so", "libshimcuda.so", ("libcuda.so.1", "libcuda.so"),
            "LD_LIBRARY_PATH", "XSCHED_CUDA_LIB", ("libcuda.so", "libcuda.so.1"),
            (), ("cu",), "libcuda.so", 3,
        ),
        Platform(
            "hip", "libhalhip.so", "libshimhip.so", ("libamdhip64.so.1", "libamdhip64.so"),
            "LD_PRELOAD", "XSCHED_HIP_LIB", ("libamdhip64.so",), ("/opt/rocm/lib",),
            ("hip",), "libamdhip64.so", 1,
        ),
        Platform(
            "levelzero", "libhallevelzero.so", "libshimlevelzero.so",
            ("libze_loader.so", "libze_loader.so.1", "libze_loader.so.1.22.1"),
            "LD_LIBRARY_PATH", "XSCHED_LEVELZERO_LIB", ("libze_loader.so",), (), ("ze",),
            "libze_loader.so", 2,
        ),
        Platform(
            "opencl", "libhalopencl.so", "libshimopencl.so",
            ("libOpenCL.so", "libOpenCL.so.1", "libOpenCL.so.1.0.0"),
            # The Linux OpenCL HAL reads XSCHED_CUDA_LIB (FACTS §3, a known XSched bug).
            "LD_PRELOAD", "XSCHED_CUDA_LIB", ("libOpenCL.so",), (), ("cl",), "libOpenCL.so", 1,
        ),
        Platform(
            "ascend", "libhalascend.so", "libshimascend.so", (), "LD_PRELOAD", "XSCHED_ASCEND_LIB",
            ("libascendcl.so",), ("/usr/local/Ascend/ascend-toolkit/latest/aarch64-linux/lib64",),
            ("acl", "aclrt"), "libascendcl.so", 1,
        ),
        Platform(
            "cudla", "libhalcudla.so", "libshimcudla.so", (), "LD_PRELOAD", "XSCHED_CUDLA_LIB",
            ("libcudla.so",), ("/usr/local/cuda/lib64",), ("cudla",), "libcudla.so", 1,
        ),
        Platform(
            "vpi", "libhalvpi.so", "libshimvpi.so", ("libnvvpi.so",), "LD_LIBRARY_PATH",
            "XSCHED_VPI_LIB", ("libnvvpi.so",), ("/opt/nvidia/vpi2/lib64",), ("vpi",),
            "libnvvpi.so", 1,
        ),
        Platform(
            "corex", "libhalcorex.so", "libshimcorex.so", (), "LD_PRELOAD", "XSCHED_COREX_LIB",
            ("libcuda.so",), ("/usr/local/corex/lib", "/usr/local/corex/lib64"), ("cu",),
            "libcuda.so", 1,
        ),
    )
}

PLATFORM_NAMES: tuple[str, ...] = tuple(PLATFORMS)


def fixed_search_dirs(arch: str | None = None) -> tuple[str, ...]:
    """XSched's FindLibrary fixed folder list, reproduced with its missing-slash typo (FACTS §5.4).

    LD_LIBRARY_PATH and ld.so.cache are *not* consulted by XSched.
    """
    a = arch or _linux_arch()
    return (
        f"/lib/{a}-linux-gnu",
        f"/usr/lib/{a}-linux-gnu",
        f"/usr/local/lib{a}-linux-gnu",
        "/lib/",
        "/usr/lib/",
        "/usr/lib64/",
        "/usr/local/lib",
    )


def _linux_arch() -> str:
    m = _platform.machine() or "x86_64"
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(m.lower(), m)


def cuda_max_level(major: int, minor: int, lv3_impl: str | None = None) -> int:
    """Highest preemption level XSched v1.2 reaches on an NVIDIA GPU of this compute capability.

    sm35 -> Lv2; sm70 and sm86 -> Lv3 (TRAP); anything else -> Lv1, unless
    XSCHED_CUDA_LV3_IMPL=TSG (exact case) which reaches Lv3 on any arch (FACTS §0.7, §8.6).
    """
    if lv3_impl == "TSG":
        return 3
    cc = (major, minor)
    if cc in ((7, 0), (8, 6)):
        return 3
    if cc == (3, 5):
        return 2
    return 1
