"""Build the XSched test double (xsched_double.c, NOT XSched) into an XSched-like install tree.

<root>/output/lib/ gets libpreempt.so and libhal<p>.so (tiny real libraries), libshim<p>.so (the
double, linked against both so they are mapped like XSched's) and the platform's softlinks.
"""

from __future__ import annotations

from pathlib import Path

from xsched_tui.core.platforms import PLATFORMS

from cbuild import build_so, symlink

SOURCE = Path(__file__).with_name("xsched_double.c")
FLAVOUR = {"cuda": "-DXSTD_CUDA", "hip": "-DXSTD_HIP"}


def build_double_install(root: Path, platform: str = "cuda") -> Path:
    """Build the install and return its lib folder."""
    p = PLATFORMS[platform]
    lib = Path(root) / "output" / "lib"
    lib.mkdir(parents=True, exist_ok=True)
    hal = build_so(lib / p.hal, "int xstd_hal_marker(void) { return 1; }\n")
    preempt = build_so(lib / "libpreempt.so", "int xstd_preempt_marker(void) { return 1; }\n")
    extra = ["-DXSTD_LINK_MARKERS", "-Wall"]
    if platform in FLAVOUR:
        extra.append(FLAVOUR[platform])
    build_so(lib / p.shim, SOURCE.read_text(), link=(hal, preempt), extra=extra)
    for name in p.softlinks:
        symlink(p.shim, lib / name)
    for c in lib.glob("*.so.c"):
        c.unlink()
    return lib


def install_facts(lib: Path, platform: str = "cuda", enable: str = "LD_PRELOAD") -> dict:
    """What the install check would publish for this tree."""
    p = PLATFORMS[platform]
    lib = Path(lib)
    return {
        "install": str(lib.parent),
        "lib_dir": str(lib),
        "bin_dir": str(lib.parent / "bin"),
        "platform": platform,
        "libs": {n: str(lib / n) for n in p.libraries if (lib / n).exists()},
        "softlinks": {n: str(lib / n) for n in p.softlinks if (lib / n).is_symlink()},
        "enable": enable,
    }
