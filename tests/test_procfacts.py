"""procfacts: /proc/PID/maps and environ readers and the library classifiers, on real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xsched_tui.core import procfacts
from xsched_tui.core.procfacts import MappedFile

from cbuild import have_gcc

MAPS = """\
55d0c0a00000-55d0c0a21000 r--p 00000000 fd:01 1311 /usr/bin/python3.12
55d0c0a21000-55d0c0b00000 r-xp 00021000 fd:01 1311 /usr/bin/python3.12
55d0c1000000-55d0c1200000 rw-p 00000000 00:00 0                          [heap]
7f0000000000-7f0000021000 rw-p 00000000 00:00 0
7f0000100000-7f0000120000 r--p 00000000 fd:01 2001 /opt/x sched/output/lib/libshimcuda.so
7f0000120000-7f0000140000 r-xp 00020000 fd:01 2001 /opt/x sched/output/lib/libshimcuda.so
7f0000200000-7f0000210000 r--p 00000000 fd:01 2002 /opt/x sched/output/lib/libhalcuda.so
7f0000300000-7f0000310000 r--p 00000000 fd:01 2003 /opt/x sched/output/lib/libpreempt.so (deleted)
7f0000400000-7f0000410000 r--p 00000000 fd:01 3001 /usr/local/nvidia/lib64/libcuda.so.580.159.04
7f0000500000-7f0000510000 r--p 00000000 fd:01 3002 /venv/nvidia/cu13/lib/libcudart.so.13
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
7ffd00100000-7ffd00102000 r--p 00000000 00:00 0                          [vvar]
7ffd00102000-7ffd00104000 r-xp 00000000 00:00 0                          [vdso]
7ffd00200000-7ffd00201000 rw-p 00000000 00:00 0                          [anon:glibc.malloc]
"""


def test_parse_maps_distinct_ordered_and_marks_deleted():
    files = procfacts.parse_maps(MAPS)
    assert [f.shown for f in files] == [
        "/usr/bin/python3.12",
        "/opt/x sched/output/lib/libshimcuda.so",
        "/opt/x sched/output/lib/libhalcuda.so",
        "/opt/x sched/output/lib/libpreempt.so (deleted)",
        "/usr/local/nvidia/lib64/libcuda.so.580.159.04",
        "/venv/nvidia/cu13/lib/libcudart.so.13",
    ]
    pre = files[3]
    assert pre.deleted and pre.path.endswith("libpreempt.so") and pre.name == "libpreempt.so"
    assert files[1].inode == 2001 and files[1].dev == "fd:01"


def test_parse_maps_tolerates_junk():
    assert procfacts.parse_maps("") == ()
    assert procfacts.parse_maps("garbage\n\n1 2 3\n") == ()


def test_parse_environ_nul_separated_non_utf8_and_junk():
    raw = b"A=1\0PATH=/bin:/usr/bin\0BAD=\xff\xfe\0noequals\0=novalue\0A=2\0EMPTY=\0"
    env = procfacts.parse_environ(raw)
    assert env["A"] == "1"  # the first duplicate is what getenv() sees
    assert env["PATH"] == "/bin:/usr/bin"
    assert env["BAD"] == "\\xff\\xfe"
    assert env["EMPTY"] == ""
    assert "noequals" not in env and "" not in env


def test_classifiers():
    assert procfacts.xsched_role("/x/libshimcuda.so") == "shim"
    assert procfacts.xsched_role("libhalhip.so") == "hal"
    assert procfacts.xsched_role("/x/libpreempt.so") == "preempt"
    assert procfacts.xsched_role("libhal.so.1") is None  # freedesktop HAL, not XSched
    assert procfacts.xsched_role("libcuda.so.1") is None
    assert procfacts.lib_platform("libshimhip.so") == "hip"
    assert "cuda" in procfacts.runtime_platforms("libcuda.so.580.159.04")
    assert procfacts.runtime_platforms("libcudart.so.13") == ()
    assert procfacts.runtime_platforms("libamdhip64.so.6") == ("hip",)
    files = procfacts.parse_maps(MAPS)
    assert [r for r, _ in procfacts.xsched_libs(files)] == ["shim", "hal", "preempt"]
    assert [f.name for f in procfacts.runtime_libs(files, "cuda")] == ["libcuda.so.580.159.04"]
    assert procfacts.two_runtimes(files, "cuda") == ()
    assert procfacts.runtime_libs(files, "nope") == []


def test_two_runtimes_by_identity():
    two = (MappedFile("/opt/rocm/lib/libamdhip64.so.6.4", False, "fd:01", 10),
           MappedFile("/venv/torch/lib/libamdhip64.so", False, "fd:01", 11))
    assert procfacts.two_runtimes(two, "hip") == tuple(f.path for f in two)
    # Two names of one file (a hard link: same device and inode) are one runtime.
    same = (MappedFile("/a/libamdhip64.so.6", False, "fd:01", 10),
            MappedFile("/b/libamdhip64.so.6", False, "fd:01", 10))
    assert procfacts.two_runtimes(same, "hip") == ()


def test_read_own_process():
    maps = procfacts.read_maps(os.getpid())
    assert maps.ok and maps.error is None
    assert any("python" in os.path.basename(p) or "libpython" in p for p in maps.paths)
    env = procfacts.read_environ(os.getpid())
    assert env.ok and env.env.get("PATH") == os.environ.get("PATH")


def test_vanished_process_is_a_typed_result():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    maps = procfacts.read_maps(p.pid)
    env = procfacts.read_environ(p.pid)
    for r in (maps, env):
        assert not r.ok and r.reason == procfacts.GONE
        assert str(p.pid) in r.error and "no longer exists" in r.error


def test_kernel_thread_empty_files(tmp_path: Path):
    (tmp_path / "2").mkdir()
    (tmp_path / "2" / "maps").write_bytes(b"")
    (tmp_path / "2" / "environ").write_bytes(b"")
    maps = procfacts.read_maps(2, proc_root=str(tmp_path))
    assert maps.reason == procfacts.EMPTY and "kernel thread" in maps.error and maps.files == ()
    env = procfacts.read_environ(2, proc_root=str(tmp_path))
    assert env.reason == procfacts.EMPTY and env.env == {}


def test_permission_denied(monkeypatch, tmp_path: Path):
    # Tests may run as root, where /proc permissions do not bite: simulate the kernel's answer.
    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(procfacts, "open", denied, raising=False)
    maps = procfacts.read_maps(1)
    assert maps.reason == procfacts.DENIED and "another user" in maps.error
    env = procfacts.read_environ(1)
    assert env.reason == procfacts.DENIED and not env.ok


@pytest.mark.skipif(not have_gcc(), reason="gcc is required to build the XSched test double")
def test_real_process_with_preloaded_double(tmp_path: Path):
    from doubles.xsched_double import build_double_install

    lib = build_double_install(tmp_path)
    env = {**os.environ, "LD_PRELOAD": str(lib / "libshimcuda.so"), "XSCHED_POLICY": "HPF",
           "XSTD_SILENT": "1", "ODD": "caf\u00e9"}
    p = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.readline()"],
                         env=env, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Wait until the interpreter runs (the preload happens before main).
        for _ in range(200):
            maps = procfacts.read_maps(p.pid)
            if maps.ok and any("libshimcuda.so" in x for x in maps.paths):
                break
            time.sleep(0.02)
        roles = {r: f for r, f in procfacts.xsched_libs(maps.files)}
        assert set(roles) == {"shim", "hal", "preempt"}
        assert os.path.samefile(roles["shim"].path, lib / "libshimcuda.so")
        assert procfacts.lib_platform(roles["hal"].path) == "cuda"
        penv = procfacts.read_environ(p.pid)
        assert penv.env["XSCHED_POLICY"] == "HPF" and penv.env["ODD"] == "caf\u00e9"
        assert penv.env["LD_PRELOAD"].endswith("libshimcuda.so")
    finally:
        p.communicate(b"\n", timeout=10)
    assert p.returncode == 0
