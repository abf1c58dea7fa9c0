"""Physical ceilings, so a run that is "too fast to be true" is marked suspect.

A kernel that silently did nothing (FIELD-NOTES §5 row 7: runs "finished" 220x faster because the
launches failed) looks like a spectacular speed-up. The check is deliberately loose: a run must be
more than SUSPECT_FACTOR x the datasheet's dense peak before it is flagged, so clocks, boost and
datasheet rounding never trip it.
"""

from __future__ import annotations

import os

SUSPECT_FACTOR = 2.0

# Dense (no sparsity) 16-bit tensor-core peak in TFLOP/s by device-name substring, most specific
# first. Where the vendor quotes fp16-with-fp16-accumulate higher than bf16, the higher is kept.
PEAK_16BIT_TFLOPS: tuple[tuple[str, float], ...] = (
    ("gb200", 2500.0), ("b200", 2250.0), ("b100", 1750.0),
    ("h100 pcie", 756.0), ("h100 nvl", 835.0), ("h100", 989.0), ("h200", 989.0), ("h800", 989.0),
    ("h20", 148.0),  # after "h200", which contains it
    ("a100", 312.0), ("a800", 312.0), ("a30", 165.0), ("a40", 150.0), ("a10", 125.0),
    ("l40s", 362.0), ("l40", 181.0), ("l4", 121.0),
    ("rtx 5090", 419.0), ("rtx 4090", 330.0), ("rtx 3090", 142.0),
    ("v100", 125.0), ("gv100", 125.0), ("t4", 65.0),
    ("mi355", 2500.0), ("mi350", 2300.0), ("mi325", 1307.0), ("mi300x", 1307.0), ("mi300a", 981.0),
    ("mi308", 1307.0), ("mi250x", 383.0), ("mi250", 362.0), ("mi210", 181.0), ("mi100", 184.0),
    ("mi50", 27.0), ("mi60", 30.0),
)

# Nothing shipping in 2026 reaches this: the ceiling for a GPU that is not in the table.
UNKNOWN_GPU_TFLOPS = 5000.0
# Generous per-core CPU ceiling: 5 GHz x 2048 flop/cycle (far above AVX-512/AMX reality).
CPU_TFLOPS_PER_CORE = 5e9 * 2048 / 1e12


def known_peak(device_name: str, dtype: str) -> float | None:
    """The datasheet peak for ``dtype`` (bf16/fp16/fp32) or None when the GPU is not known.

    fp32 may run as TF32 on tensor cores (torch's allow_tf32), which peaks at about half the 16-bit
    rate, so that is the fp32 bound.
    """
    low = device_name.lower()
    for key, peak in PEAK_16BIT_TFLOPS:
        if key in low:
            return peak / 2 if dtype == "fp32" else peak
    return None


def ceiling(device_name: str, dtype: str, is_gpu: bool) -> tuple[float, str]:
    """(TFLOP/s above which a run is suspect, why that number)."""
    if not is_gpu:
        cores = os.cpu_count() or 1
        return cores * CPU_TFLOPS_PER_CORE, f"{cores} CPU cores x {CPU_TFLOPS_PER_CORE:.1f} TFLOP/s"
    peak = known_peak(device_name, dtype)
    if peak is None:
        return UNKNOWN_GPU_TFLOPS, f"faster than any GPU known ({UNKNOWN_GPU_TFLOPS:.0f} TFLOP/s)"
    return SUSPECT_FACTOR * peak, f"{SUSPECT_FACTOR:g}x the {dtype} peak of {device_name} ({peak:g} TFLOP/s)"
