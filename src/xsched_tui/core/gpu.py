"""Which GPUs this process can see, without importing any GPU library into the app.

NVIDIA: ``nvidia-smi`` (a bounded subprocess). AMD: the KFD topology in sysfs, which needs no
tool at all. Both are cheap and never raise; "none visible" is an answer, not an error.
"""

from __future__ import annotations

import glob
import os
import shutil
from dataclasses import dataclass

from xsched_tui.core import runner


@dataclass(frozen=True)
class GpuDevice:
    vendor: str  # "nvidia" or "amd"
    index: int
    name: str
    arch: str  # "sm_90" or "gfx942"
    compute_capability: tuple[int, int] | None = None
    driver: str | None = None
    bus_id: str | None = None


@dataclass(frozen=True)
class GpuScan:
    devices: tuple[GpuDevice, ...]
    notes: tuple[str, ...]  # what was tried and what it said, for the evidence table

    @property
    def vendors(self) -> set[str]:
        return {d.vendor for d in self.devices}


def parse_nvidia_smi(lines: list[str]) -> list[GpuDevice]:
    """Rows of ``--query-gpu=index,name,compute_cap,driver_version,pci.bus_id --format=csv,noheader``."""
    out = []
    for line in lines:
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 4 or not parts[0].isdigit():
            continue
        cc = None
        try:
            major, minor = parts[2].split(".", 1)
            cc = (int(major), int(minor))
        except ValueError:
            pass
        arch = f"sm_{cc[0]}{cc[1]}" if cc else "sm_?"
        out.append(GpuDevice("nvidia", int(parts[0]), parts[1], arch, cc, parts[3],
                             parts[4] if len(parts) > 4 else None))
    return out


def scan_nvidia(notes: list[str]) -> list[GpuDevice]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        notes.append("nvidia-smi: not on PATH")
        return []
    try:
        res = runner.run([exe, "--query-gpu=index,name,compute_cap,driver_version,pci.bus_id",
                          "--format=csv,noheader"], timeout=15)
    except runner.StartError as exc:
        notes.append(f"nvidia-smi: {exc}")
        return []
    if not res.exit.ok:
        tail = (res.stderr or res.stdout or ("",))[-1]
        notes.append(f"nvidia-smi: {res.exit.describe()} {tail}".strip())
        return []
    devs = parse_nvidia_smi(list(res.stdout))
    notes.append(f"nvidia-smi: {len(devs)} GPU(s)")
    return devs


def gfx_name(target_version: int) -> str:
    """KFD gfx_target_version (e.g. 90402) -> gfx942; the stepping is printed in hex."""
    major, rest = divmod(target_version, 10000)
    minor, step = divmod(rest, 100)
    return f"gfx{major}{minor}{step:x}"


def scan_amd(notes: list[str], root: str = "/sys/class/kfd/kfd/topology/nodes") -> list[GpuDevice]:
    out: list[GpuDevice] = []
    for props in sorted(glob.glob(os.path.join(root, "*", "properties"))):
        try:
            with open(props) as f:
                kv = dict(line.split(None, 1) for line in f if len(line.split(None, 1)) == 2)
        except OSError:
            continue
        try:
            gfx = int(kv.get("gfx_target_version", "0").strip())
            simd = int(kv.get("simd_count", "0").strip())
        except ValueError:
            continue
        if gfx == 0 or simd == 0:  # CPU nodes
            continue
        name_path = os.path.join(os.path.dirname(props), "name")
        try:
            with open(name_path) as f:
                name = f.read().strip() or "AMD GPU"
        except OSError:
            name = "AMD GPU"
        out.append(GpuDevice("amd", len(out), name, gfx_name(gfx)))
    if os.path.isdir(root):
        notes.append(f"KFD topology: {len(out)} GPU node(s)")
    else:
        notes.append("KFD topology: /sys/class/kfd absent (no ROCm driver visible)")
    return out


def device_files() -> list[str]:
    return sorted(glob.glob("/dev/nvidia[0-9]*") + glob.glob("/dev/kfd")
                  + glob.glob("/dev/dri/renderD*"))


def scan() -> GpuScan:
    notes: list[str] = []
    devs = scan_nvidia(notes) + scan_amd(notes)
    files = device_files()
    notes.append("device files: " + (", ".join(files) if files else "none (/dev/nvidia*, /dev/kfd)"))
    return GpuScan(tuple(devs), tuple(notes))
