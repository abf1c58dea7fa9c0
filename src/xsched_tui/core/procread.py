"""Fast, never-raising readers of /proc for the process collector.

The collector's budget is 5 ms for a 100-process subtree (PERFORMANCE.md), so the per-refresh
path reads ``/proc/PID/stat`` directly (one read gives state, ppid, CPU ticks, threads, start
time and RSS, where psutil needs several calls) and finds children through
``/proc/PID/task/TID/children`` instead of a whole-/proc PPID map. ``maps`` is scanned with one
bytes regex that keeps only the libraries that matter (XSched's and the GPU runtimes), because
a PyTorch process maps hundreds of libraries.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass

from xsched_tui.core import procfacts
from xsched_tui.core.platforms import PLATFORMS
from xsched_tui.core.procfacts import MappedFile

MAX_READ = 1 << 20  # bytes read of a cmdline/environ (a pathological environ must not stall us)

# psutil's status names, by /proc/PID/stat state letter.
STATUS = {
    "R": "running", "S": "sleeping", "D": "disk-sleep", "Z": "zombie", "T": "stopped",
    "t": "tracing-stop", "X": "dead", "x": "dead", "K": "wake-kill", "W": "waking",
    "P": "parked", "I": "idle",
}

try:
    CLK_TCK = os.sysconf("SC_CLK_TCK")
    PAGE = os.sysconf("SC_PAGE_SIZE")
except (ValueError, OSError, AttributeError):  # pragma: no cover - non-Linux
    CLK_TCK, PAGE = 100, 4096


class Gone(Exception):
    """The process no longer exists."""


@dataclass(slots=True)  # not frozen: built 100 times a refresh, and frozen init is slower
class Stat:
    comm: str
    state: str  # one letter
    ppid: int
    ticks: int  # utime + stime, in CLK_TCK units
    threads: int
    start: int  # start time after boot, in CLK_TCK units: with the pid, the process identity
    rss: int  # bytes


def slurp(path: str, limit: int = MAX_READ) -> bytes:
    """The whole file (up to ``limit`` bytes) with raw os calls; OSError propagates."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        total = 0
        while total < limit:
            b = os.read(fd, min(65536, limit - total))
            if not b:
                break
            chunks.append(b)
            total += len(b)
        return b"".join(chunks) if len(chunks) != 1 else chunks[0]
    finally:
        os.close(fd)


def is_gone(exc: OSError) -> bool:
    return isinstance(exc, (FileNotFoundError, ProcessLookupError)) or exc.errno == errno.ESRCH


def parse_stat(data: bytes) -> Stat:
    """Parse /proc/PID/stat; the comm may itself contain spaces and parentheses."""
    r = data.rfind(b")")
    lp = data.find(b"(")
    if r < 0 or lp < 0:
        raise ValueError("not a stat line")
    f = data[r + 2:].split()
    return Stat(
        comm=data[lp + 1:r].decode("utf-8", "replace"),
        state=f[0].decode(),
        ppid=int(f[1]),
        ticks=int(f[11]) + int(f[12]),
        threads=int(f[17]),
        start=int(f[19]),
        rss=int(f[21]) * PAGE,
    )


def read_stat(pid: int, proc_root: str = "/proc") -> Stat:
    """Raises Gone when the process has exited (stat is world-readable, so nothing else)."""
    try:
        return parse_stat(slurp(f"{proc_root}/{pid}/stat", 4096))
    except OSError as exc:
        raise Gone(pid) from exc
    except (ValueError, IndexError) as exc:  # torn read of a dying process
        raise Gone(pid) from exc


def children(pid: int, threads: int, proc_root: str = "/proc") -> list[int]:
    """Direct children of every thread of ``pid`` (a child belongs to the thread that forked it).

    Returns [] for a process that vanished. Raises FileNotFoundError when the kernel has no
    ``children`` files at all (CONFIG_PROC_CHILDREN off): the caller falls back to a PPID map.
    """
    base = f"{proc_root}/{pid}/task"
    tids: list[str] = [str(pid)]
    if threads > 1:
        try:
            tids = os.listdir(base)
        except OSError:
            return []
    out: list[int] = []
    for tid in tids:
        try:
            data = slurp(f"{base}/{tid}/children", 1 << 20)
        except FileNotFoundError:
            if tid == str(pid) and os.path.isdir(f"{base}/{tid}"):
                raise  # the task exists but has no children file: kernel without the feature
            continue
        except OSError:
            continue
        if data:
            out.extend(int(x) for x in data.split())
    return out


def ppid_map(proc_root: str = "/proc") -> dict[int, list[int]]:
    """parent -> children from a walk of every /proc/PID/stat (the slow fallback)."""
    kids: dict[int, list[int]] = {}
    try:
        names = os.listdir(proc_root)
    except OSError:
        return kids
    for name in names:
        if not name.isdigit():
            continue
        try:
            st = read_stat(int(name), proc_root)
        except Gone:
            continue
        kids.setdefault(st.ppid, []).append(int(name))
    return kids


def read_cmdline(pid: int, proc_root: str = "/proc", max_bytes: int = 4096,
                 max_args: int = 256) -> tuple[str, ...]:
    """argv, cut to ``max_bytes``/``max_args`` (the cut is marked); () for kernel threads."""
    try:
        data = slurp(f"{proc_root}/{pid}/cmdline", max_bytes + 1)
    except OSError:
        return ()
    cut = len(data) > max_bytes
    data = data[:max_bytes]
    args = [a.decode("utf-8", "backslashreplace") for a in data.rstrip(b"\0").split(b"\0")] if data else []
    if len(args) > max_args:
        args, cut = args[:max_args], True
    if cut:
        args.append("…")
    return tuple(args)


def read_exe(pid: int, proc_root: str = "/proc") -> str | None:
    try:
        return os.readlink(f"{proc_root}/{pid}/exe")
    except OSError:  # another user's process, a kernel thread, or gone
        return None


def boot_time(proc_root: str = "/proc") -> float | None:
    try:
        for line in slurp(f"{proc_root}/stat", 1 << 16).splitlines():
            if line.startswith(b"btime "):
                return float(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


# Only the libraries the collector classifies: XSched's own and the real GPU runtimes.
_RUNTIME_ALT = "|".join(sorted({re.escape(p.runtime_soname_prefix) + r"(?:\.[0-9]+)*"
                                for p in PLATFORMS.values() if p.runtime_soname_prefix}))
_RELEVANT = re.compile(
    rb"^[0-9a-f]+-[0-9a-f]+ \S+ \S+ (\S+) (\d+) +(/[^\n]*?/(?:lib(?:shim|hal)[A-Za-z0-9_]+\.so"
    rb"|libpreempt\.so|" + _RUNTIME_ALT.encode() + rb"))( \(deleted\))?$",
    re.M,
)
# discover(): does this maps text hold any XSched library at all? (cheap pre-filter)
XSCHED_IN_MAPS = re.compile(rb"/lib(?:shim[A-Za-z0-9_]+|hal[A-Za-z0-9_]+|preempt)\.so(?: \(deleted\))?$",
                            re.M)


# One regex search (literal-prefix fast path) is ~6x cheaper than a loop of substring tests.
_ANY_RELEVANT = re.compile(b"/lib(?:shim|hal|preempt\\.so|" + "|".join(sorted(
    {re.escape(p.runtime_soname_prefix[3:]) for p in PLATFORMS.values()
     if p.runtime_soname_prefix})).encode() + b")")


def relevant_files(data: bytes) -> tuple[MappedFile, ...]:
    """XSched libraries and GPU runtimes mapped, distinct, in first-mapped order."""
    # Most processes map none of them: a few substring searches (C speed) settle that before
    # the line regex runs at all.
    if not _ANY_RELEVANT.search(data):
        return ()
    seen: set[bytes] = set()
    out: list[MappedFile] = []
    for m in _RELEVANT.finditer(data):
        path = m.group(3)
        if path in seen:
            continue
        seen.add(path)
        out.append(MappedFile(path.decode("utf-8", "backslashreplace"), m.group(4) is not None,
                              m.group(1).decode(), int(m.group(2))))
    return tuple(out)


# Environment variables the collector keeps (XSched's, the loader's, device masks).
_ENV_NEEDLES = (b"XSCHED_", b"XLOG_", b"LD_PRELOAD=", b"LD_LIBRARY_PATH=", b"_VISIBLE_DEVICES=")


def interesting_environ(raw: bytes) -> dict[str, str]:
    """The XSched-relevant part of a NUL-separated environ, without decoding the rest.

    Same rules as procfacts.parse_environ (first duplicate wins, junk entries skipped).
    """
    if not any(n in raw for n in _ENV_NEEDLES):
        return {}
    env: dict[str, str] = {}
    for entry in raw.split(b"\0"):
        if not (entry.startswith((b"XSCHED_", b"XLOG_", b"LD_PRELOAD=", b"LD_LIBRARY_PATH="))
                or b"_VISIBLE_DEVICES=" in entry[:40]):
            continue
        name, sep, value = entry.decode("utf-8", "backslashreplace").partition("=")
        if sep and name:
            env.setdefault(name, value)
    return env


def read_proc(pid: int, what: str, proc_root: str = "/proc",
              limit: int = 64 << 20) -> tuple[bytes | None, str | None, str | None]:
    """Like procfacts.read_proc_file (same sentences and reasons) with the raw os calls."""
    try:
        data = slurp(f"{proc_root}/{pid}/{what}", limit)
    except OSError:
        data = b""
    if data:
        return data, None, None
    return procfacts.read_proc_file(pid, what, proc_root)  # the error path: phrase it


def same_process(pid: int, started: float, proc_root: str = "/proc") -> bool:
    """Whether ``pid`` still belongs to the process that started at ``started`` (epoch s, as in
    ProcRecord.started): a pid reused since must not get a signal meant for the old process.
    True when that cannot be told (gone already: the kill itself will say so)."""
    boot = boot_time(proc_root)
    try:
        st = read_stat(pid, proc_root)
    except Gone:
        return True
    if boot is None:
        return True
    return abs(boot + st.start / CLK_TCK - started) < 0.5
