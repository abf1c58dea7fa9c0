"""Build XSched-like install trees on disk for tests (real files, real softlinks, real ELF)."""

from __future__ import annotations

import os
from pathlib import Path

from xsched_tui.core.platforms import PLATFORMS

from cbuild import build_so, have_gcc, symlink


def make_install(root: Path, platform: str = "cuda", *, softlinks: bool = True,
                 bins: bool = True, real_elf: bool = True, version: str = "1.2.0") -> Path:
    """<root>/output/{lib,bin} as `make <platform>` leaves it. Returns the install folder."""
    p = PLATFORMS[platform]
    out = root / "output"
    lib = out / "lib"
    lib.mkdir(parents=True, exist_ok=True)
    for name in p.libraries:
        if real_elf and have_gcc():
            build_so(lib / name, f"int {name.replace('.', '_').replace('-', '_')}_marker = 1;\n")
            for ext in (".c",):
                (lib / (name + ext)).unlink(missing_ok=True)
        else:
            (lib / name).write_bytes(b"\x7fELF-not-really")
    if softlinks:
        for s in p.softlinks:
            symlink(p.shim, lib / s)
    if bins:
        (out / "bin").mkdir(exist_ok=True)
        for b in ("xserver", "xcli"):
            f = out / "bin" / b
            f.write_text("#!/bin/sh\nexit 0\n")
            os.chmod(f, 0o755)
    cm = lib / "cmake" / "XSched"
    cm.mkdir(parents=True, exist_ok=True)
    (cm / "XSchedConfigVersion.cmake").write_text(f'set(PACKAGE_VERSION "{version}")\n')
    return out


def make_source(root: Path, version: str = "1.2.0") -> Path:
    src = root / "xsched"
    (src / "preempt" / "src").mkdir(parents=True, exist_ok=True)
    (src / "CMakeLists.txt").write_text(
        f"cmake_minimum_required(VERSION 3.14)\n\nproject(XSched VERSION {version})\n")
    (src / "preempt" / "src" / "xqueue.cpp").write_text("// source\n")
    return src
