"""What a live process has loaded and was started with: ``/proc/PID/maps`` and ``/proc/PID/environ``.

Reading another process is full of ordinary failures (it exited, it belongs to another user,
it is a kernel thread with empty files). Every reader here returns a typed result whose
``error`` is a sentence a user can act on; nothing raises. The classifiers answer the
questions of FACTS §8: is the XSched shim mapped, which GPU runtime is mapped, and is the same
runtime mapped twice from two different files (two HIP runtimes, FACTS §5.2).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from xsched_tui.core.platforms import PLATFORMS

DELETED = " (deleted)"

# Why a read failed, for callers that branch on it.
GONE = "gone"  # the process no longer exists
DENIED = "denied"  # another user's process (or hidepid / ptrace restrictions)
EMPTY = "empty"  # kernel thread or zombie: the file exists but is empty
UNREADABLE = "unreadable"  # anything else (I/O error, bad pid...)


@dataclass(frozen=True)
class MappedFile:
    """One distinct file in a process's address space, as the kernel names it."""

    path: str  # without the " (deleted)" mark
    deleted: bool = False  # the file was replaced or removed on disk after it was mapped
    dev: str = ""  # "fd:01" as in maps
    inode: int = 0

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    @property
    def shown(self) -> str:
        """The path as maps shows it, with the deletion mark kept."""
        return self.path + (DELETED if self.deleted else "")

    @property
    def identity(self) -> tuple[str, int] | str:
        """Same file <=> same identity (device+inode when the kernel gave one, else the path)."""
        return (self.dev, self.inode) if self.inode else self.path


@dataclass(frozen=True)
class ProcMaps:
    pid: int
    files: tuple[MappedFile, ...] = ()
    error: str | None = None
    reason: str | None = None  # GONE, DENIED, EMPTY, UNREADABLE

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def paths(self) -> tuple[str, ...]:
        """Distinct mapped paths in first-mapped order, "(deleted)" marks kept."""
        return tuple(f.shown for f in self.files)


@dataclass(frozen=True)
class ProcEnviron:
    pid: int
    env: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


# -- parsing (pure) -----------------------------------------------------------------------------
def parse_maps(text: str) -> tuple[MappedFile, ...]:
    """Distinct file-backed mappings of a maps text, in order of first appearance.

    Anonymous mappings and pseudo entries (``[heap]``, ``[stack]``, ``[vdso]``, ``[anon:x]``)
    are skipped. Paths may contain spaces; the " (deleted)" mark is kept as a flag.
    """
    seen: set[str] = set()
    out: list[MappedFile] = []
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 6:
            continue  # anonymous mapping
        path = parts[5].strip()
        if not path or path.startswith("["):
            continue
        if path in seen:
            continue
        seen.add(path)
        deleted = path.endswith(DELETED)
        clean = path[: -len(DELETED)] if deleted else path
        try:
            inode = int(parts[4])
        except ValueError:
            inode = 0
        out.append(MappedFile(clean, deleted, parts[3], inode))
    return tuple(out)


def parse_environ(raw: bytes) -> dict[str, str]:
    """NUL-separated ``NAME=value`` entries; bytes that are not UTF-8 are kept as escapes."""
    env: dict[str, str] = {}
    for entry in raw.split(b"\0"):
        if not entry:
            continue
        text = entry.decode("utf-8", "backslashreplace")
        name, sep, value = text.partition("=")
        if not sep or not name:
            continue  # a program may scribble over its own environ area
        env.setdefault(name, value)  # the first of duplicates is what getenv() returns
    return env


# -- reading ------------------------------------------------------------------------------------
def _read(pid: int, what: str, proc_root: str) -> tuple[bytes | None, str | None, str | None]:
    path = os.path.join(proc_root, str(pid), what)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None, f"process {pid} no longer exists (it exited before {what} could be read)", GONE
    except ProcessLookupError:
        return None, f"process {pid} exited while its {what} was being read", GONE
    except PermissionError:
        return None, (f"permission denied reading {path}: process {pid} belongs to another user "
                      "(run xsched-tui as that user, or as root)"), DENIED
    except OSError as exc:
        # ESRCH can surface as a plain OSError while the process is being torn down.
        if exc.errno == 3:
            return None, f"process {pid} exited while its {what} was being read", GONE
        return None, f"cannot read {path}: {exc.strerror or exc}", UNREADABLE
    if not data:
        if not os.path.exists(os.path.join(proc_root, str(pid))):
            return None, f"process {pid} no longer exists", GONE
        return None, (f"{path} is empty: process {pid} is a kernel thread or a zombie "
                      "(it has no user address space)"), EMPTY
    return data, None, None


def read_proc_file(pid: int, what: str, proc_root: str = "/proc") -> tuple[bytes | None, str | None,
                                                                          str | None]:
    """(data, error sentence, reason) of /proc/PID/<what>; data is None when unreadable."""
    return _read(pid, what, proc_root)


def read_maps(pid: int, proc_root: str = "/proc") -> ProcMaps:
    data, err, reason = _read(pid, "maps", proc_root)
    if data is None:
        return ProcMaps(pid, (), err, reason)
    return ProcMaps(pid, parse_maps(data.decode("utf-8", "backslashreplace")))


def read_environ(pid: int, proc_root: str = "/proc") -> ProcEnviron:
    data, err, reason = _read(pid, "environ", proc_root)
    if data is None:
        return ProcEnviron(pid, {}, err, reason)
    return ProcEnviron(pid, parse_environ(data))


# -- classifying --------------------------------------------------------------------------------
_SHIM = re.compile(r"^libshim[A-Za-z0-9_]+\.so$")
_HAL = re.compile(r"^libhal[A-Za-z0-9_]+\.so$")
_PREEMPT = "libpreempt.so"
# Runtime file names by platform: libcuda.so, libcuda.so.1, libcuda.so.580.159.04 (not libcudart).
_RUNTIME = {
    name: re.compile("^" + re.escape(p.runtime_soname_prefix) + r"(\.[0-9]+)*$")
    for name, p in PLATFORMS.items() if p.runtime_soname_prefix
}


def xsched_role(name_or_path: str) -> str | None:
    """"shim", "hal" or "preempt" for XSched's own libraries (by file name), else None."""
    name = os.path.basename(name_or_path)
    if name == _PREEMPT:
        return "preempt"
    if _SHIM.match(name):
        return "shim"
    if _HAL.match(name):
        return "hal"
    return None


def lib_platform(name_or_path: str) -> str | None:
    """The platform of an XSched shim/HAL file name (libshimcuda.so -> "cuda"), if known."""
    name = os.path.basename(name_or_path)
    for pname, p in PLATFORMS.items():
        if name in (p.shim, p.hal):
            return pname
    return None


def runtime_platforms(name_or_path: str) -> tuple[str, ...]:
    """Platforms whose real runtime this file name is (libcuda.so.1 -> cuda, corex)."""
    name = os.path.basename(name_or_path)
    return tuple(p for p, rx in _RUNTIME.items() if rx.match(name))


def xsched_libs(files: Iterable[MappedFile]) -> list[tuple[str, MappedFile]]:
    """(role, file) for every mapped XSched library, in map order."""
    out = []
    for f in files:
        role = xsched_role(f.path)
        if role:
            out.append((role, f))
    return out


def runtime_libs(files: Iterable[MappedFile], platform: str) -> list[MappedFile]:
    """Mapped files that are the real runtime of ``platform`` (never the shim itself)."""
    rx = _RUNTIME.get(platform)
    if rx is None:
        return []
    return [f for f in files if rx.match(f.name)]


def distinct_runtimes(files: Iterable[MappedFile], platform: str) -> list[MappedFile]:
    """One entry per distinct runtime file (device+inode, else the real path)."""
    seen: set[object] = set()
    out: list[MappedFile] = []
    for f in runtime_libs(files, platform):
        key: object = f.identity if f.inode else os.path.realpath(f.path)
        if key in seen:
            continue
        seen.add(key)
        out.append(f)
    return out


def two_runtimes(files: Iterable[MappedFile], platform: str) -> tuple[str, ...]:
    """The paths when two or more different runtime files of ``platform`` are mapped, else ()."""
    d = distinct_runtimes(files, platform)
    return tuple(f.shown for f in d) if len(d) > 1 else ()
