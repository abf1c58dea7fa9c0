"""Compile real ELF shared libraries and programs with gcc inside tests.

Version scripts give real symbol versions (VERDEF in the library, VERNEED in its consumers), so
the ELF checks are exercised against what the loader itself reads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

GCC = shutil.which("gcc") or shutil.which("cc")


def have_gcc() -> bool:
    return GCC is not None


def build_so(
    out: Path,
    source: str,
    *,
    version_script: str | None = None,
    soname: str | None = None,
    link: Sequence[Path] = (),
    extra: Sequence[str] = (),
) -> Path:
    """Compile C ``source`` into the shared library ``out`` and return its path.

    ``link`` lists shared libraries to link against by path (their SONAME is recorded as
    DT_NEEDED, and their version nodes as VERNEED of the new library).
    """
    assert GCC, "gcc is required for this test"
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    src = out.with_suffix(out.suffix + ".c")
    src.write_text(source)
    cmd = [GCC, "-shared", "-fPIC", "-O0", "-o", str(out), str(src)]
    if version_script is not None:
        vs = out.with_suffix(out.suffix + ".map")
        vs.write_text(version_script)
        cmd.append(f"-Wl,--version-script={vs}")
    if soname:
        cmd.append(f"-Wl,-soname,{soname}")
    for lib in link:
        lib = Path(lib)
        cmd += [str(lib), f"-Wl,-rpath,{lib.parent}"]
    cmd += list(extra)
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60)
    return out


def build_exe(out: Path, source: str, *, link: Sequence[Path] = (), extra: Sequence[str] = ()) -> Path:
    assert GCC, "gcc is required for this test"
    out = Path(out)
    src = out.with_suffix(".c")
    src.write_text(source)
    cmd = [GCC, "-O0", "-o", str(out), str(src)]
    for lib in link:
        lib = Path(lib)
        cmd += [str(lib), f"-Wl,-rpath,{lib.parent}"]
    cmd += list(extra)
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60)
    return out


def symlink(target: str, link: Path) -> Path:
    link = Path(link)
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(target, link)
    return link
