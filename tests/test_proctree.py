"""The process collector on real processes: the XSched test double preloaded, real trees,
real crashes, real forks. No mocks of /proc."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from xsched_tui.core import runner
from xsched_tui.core.config import Config
from xsched_tui.core.proctree import ProcessCollector, ProcSnapshot

from cbuild import build_so, have_gcc

needs_gcc = pytest.mark.skipif(not have_gcc(), reason="gcc is required to build the XSched test double")
BASE_ENV = {k: v for k, v in os.environ.items()
            if not k.startswith(("XSCHED_", "XLOG_")) and k not in ("LD_PRELOAD", "LD_LIBRARY_PATH")}
PY = sys.executable


@pytest.fixture
def spawn(request):
    """Start a real process in its own process group; the whole group dies after the test."""
    procs: list[subprocess.Popen] = []

    def start(argv, env=None, **kw) -> subprocess.Popen:
        p = subprocess.Popen(argv, env={**BASE_ENV, **(env or {})}, start_new_session=True,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, **kw)
        procs.append(p)
        return p

    def finish():
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    request.addfinalizer(finish)
    return start


def wait_for(pred, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def mapped(pid: int, name: str) -> bool:
    try:
        return name in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def children_of(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@pytest.fixture(scope="module")
def xlib(tmp_path_factory) -> Path:
    if not have_gcc():
        pytest.skip("gcc is required to build the XSched test double")
    from doubles.xsched_double import build_double_install

    return build_double_install(tmp_path_factory.mktemp("xinstall"))


def fake_cuda(folder: Path, marker: str = "a") -> Path:
    """A tiny library named libcuda.so.1 (a stand-in for the real driver; NOT the shim)."""
    return build_so(folder / "libcuda.so.1", f"int fake_cuda_{marker}(void) {{ return 1; }}\n")


def collector(**kw) -> ProcessCollector:
    kw.setdefault("gpu", "off")
    return ProcessCollector(**kw)


def xsched_env(xlib: Path, **extra: str) -> dict[str, str]:
    return {"LD_PRELOAD": str(xlib / "libshimcuda.so"), "XSTD_SILENT": "1", **extra}


# -- discovery ----------------------------------------------------------------------------------
@needs_gcc
def test_discovers_process_with_mapped_shim(spawn, xlib):
    env = xsched_env(xlib, XSCHED_SCHEDULER="GLB", XSCHED_AUTO_XQUEUE="ON",
                     XSCHED_AUTO_XQUEUE_PRIORITY="1", CUDA_VISIBLE_DEVICES="0")
    x = spawn(["sleep", "30"], env)
    plain = spawn(["sleep", "30"])
    wait_for(lambda: mapped(x.pid, "libshimcuda.so"), what="the shim to be mapped")
    col = collector()
    found = col.discover()
    assert x.pid in found and plain.pid not in found
    snap = col.refresh()
    rec = snap.get(x.pid)
    assert rec is not None and snap.get(plain.pid) is None
    assert rec.origin == "discovered" and rec.depth == 0 and not rec.exited
    xs = rec.xsched
    assert xs is not None and xs.platform == "cuda"
    assert os.path.samefile(xs.shim.path, xlib / "libshimcuda.so")
    assert xs.hal is not None and xs.preempt is not None
    assert len(xs.shim.sha) == 12 and xs.shim.size == (xlib / "libshimcuda.so").stat().st_size
    assert xs.enable == "LD_PRELOAD" and xs.scheduler == "GLB" and xs.priority == 1
    assert xs.auto_xqueue is True and xs.env["CUDA_VISIBLE_DEVICES"] == "0"
    assert "PATH" not in xs.env
    # LD_PRELOAD of the CUDA shim without the softlink folder is bypassed by libcudart (FACTS §11).
    assert any("softlink folder" in n for n in xs.notes)
    assert rec.state in ("sleeping", "running") and rec.rss and rec.threads == 1
    assert rec.user and rec.started and rec.age_s is not None and rec.age_s >= 0
    assert rec.cpu_percent is None  # first sample
    snap2 = col.refresh()
    assert snap2.get(x.pid).cpu_percent is not None
    assert snap.gpu_source is None and rec.gpu is None


@needs_gcc
def test_softlink_folder_enable_and_app_managed_note(spawn, xlib, tmp_path):
    # LD_LIBRARY_PATH=<install>/lib and a program that loads libcuda.so.1 by name: the softlink
    # makes the loader map libshimcuda.so, as XSched's CUDA documentation does it.
    env = {"LD_LIBRARY_PATH": str(xlib), "XSTD_SILENT": "1"}
    code = "import ctypes, time; ctypes.CDLL('libcuda.so.1'); time.sleep(30)"
    p = spawn([PY, "-c", code], env)
    wait_for(lambda: mapped(p.pid, "libshimcuda.so"), what="the softlinked shim")
    col = collector()
    assert p.pid in col.discover()
    xs = col.refresh().get(p.pid).xsched
    assert xs.enable == "LD_LIBRARY_PATH" and xs.scheduler == "APP" and xs.auto_xqueue is None
    assert any("app-managed" in n for n in xs.notes)


@needs_gcc
def test_discovered_by_environ_only(spawn, tmp_path):
    missing = tmp_path / "gone" / "libshimcuda.so"
    a = spawn(["sleep", "30"], {"LD_PRELOAD": str(missing), "XSCHED_POLICY": "HPF"})
    b = spawn(["sleep", "30"], {"XSCHED_POLICY": "GBL"})  # legacy spelling, nothing preloaded
    wait_for(lambda: mapped(a.pid, "sleep") and mapped(b.pid, "sleep"), what="sleep to run")
    col = collector()
    found = col.discover()
    assert a.pid in found and b.pid in found
    snap = col.refresh()
    xa = snap.get(a.pid).xsched
    assert xa.shim is None and xa.platform == "cuda" and xa.enable == "LD_PRELOAD"
    assert any("does not exist" in n and str(missing) in n for n in xa.notes)
    assert any("no XSched shim is mapped" in n for n in xa.notes)
    xb = snap.get(b.pid).xsched
    assert xb.shim is None and xb.scheduler == "APP" and xb.enable is None
    assert any("legacy" in n for n in xb.notes)


def test_plain_processes_are_not_discovered(spawn):
    p = spawn(["sleep", "30"], {"XLOG_LEVEL": "INFO"})  # XLOG alone is no XSched trace
    wait_for(lambda: mapped(p.pid, "sleep"), what="sleep")
    assert p.pid not in collector().discover()


def test_xserver_found_by_name(spawn, tmp_path):
    exe = tmp_path / "xserver"
    shutil.copy(shutil.which("sleep"), exe)
    p = spawn([str(exe), "30"])
    wait_for(lambda: mapped(p.pid, "xserver"), what="xserver to run")
    col = collector()
    assert p.pid in col.discover()
    rec = col.refresh().get(p.pid)
    assert rec.origin == "xserver" and rec.name == "xserver"


# -- trees --------------------------------------------------------------------------------------
def test_tracked_process_children_with_depth(spawn):
    p = spawn(["sh", "-c", "sleep 30 & sleep 30 & sh -c 'sleep 31' & wait"])
    wait_for(lambda: len(children_of(p.pid)) == 3, what="three children")
    inner = next(c for c in children_of(p.pid) if Path(f"/proc/{c}/comm").read_text().strip() == "sh")
    wait_for(lambda: children_of(inner), what="a grandchild")
    col = collector(discover_every=float("inf"))
    col.track(p.pid, label="tree")
    snap = col.refresh()
    pids = [r.pid for r in snap.procs]
    assert pids[0] == p.pid
    root = snap.get(p.pid)
    assert root.origin == "started" and root.depth == 0 and root.label == "tree"
    kids = [r for r in snap.procs if r.ppid == p.pid]
    assert len(kids) == 3 and all(r.depth == 1 and r.origin == "child" for r in kids)
    grand = snap.get(children_of(inner)[0])
    assert grand.depth == 2 and grand.name == "sleep"
    # pre-order: the grandchild directly follows its parent
    assert pids.index(grand.pid) == pids.index(inner) + 1
    col.untrack(p.pid)
    assert col.refresh().procs == ()


def test_cap_on_followed_processes(spawn):
    p = spawn(["sh", "-c", "for i in 1 2 3 4 5 6; do sleep 30 & done; wait"])
    wait_for(lambda: len(children_of(p.pid)) == 6, what="six children")
    col = collector(discover_every=float("inf"), max_procs=4)
    col.track(p.pid)
    snap = col.refresh()
    assert len(snap.procs) == 4
    assert any("more than 4 processes" in n for n in snap.notes)
    assert not any(r.exited for r in col.refresh().procs)  # over the cap is not "exited"


@needs_gcc
def test_exit_between_discovery_and_refresh(spawn, xlib):
    p = spawn(["sleep", "30"], xsched_env(xlib))
    wait_for(lambda: mapped(p.pid, "libshimcuda.so"), what="the shim")
    col = collector()
    assert p.pid in col.discover()
    col.refresh()
    os.killpg(p.pid, signal.SIGKILL)
    p.wait(timeout=10)
    rec = col.refresh().get(p.pid)
    assert rec.exited and rec.state == "exited"
    assert rec.exit_code is None and rec.exit_signal is None
    assert "unknown" in rec.exit_text
    assert rec.xsched is not None  # what we knew stays visible


@needs_gcc
def test_exited_before_first_refresh_and_expiry(spawn, xlib):
    now = [1000.0]
    col = collector(discover_every=float("inf"), keep_exited_s=10.0, clock=lambda: now[0])
    p = spawn(["true"])
    p.wait(timeout=10)
    col.track(p.pid, label="quick")
    col.record_exit(p.pid, runner.ExitStatus(3))
    rec = col.refresh().get(p.pid)
    assert rec.exited and rec.exit_code == 3 and rec.label == "quick"
    now[0] += 11
    assert col.refresh().get(p.pid) is None


def test_segv_crash_recorded(spawn):
    code = "import os, signal, time; time.sleep(0.3); os.kill(os.getpid(), signal.SIGSEGV)"
    child = runner.Child([PY, "-c", code])
    try:
        col = collector(discover_every=float("inf"))
        col.track(child.pid, "started", label="crasher")
        first = col.refresh().get(child.pid)
        assert first is not None and not first.exited
        status = child.wait(timeout=20)
        col.record_exit(child.pid, status)
        rec = col.refresh().get(child.pid)
    finally:
        child.stop()
    assert rec.exited and rec.exit_signal == "SIGSEGV" and rec.exit_code is None
    assert "SIGSEGV" in rec.exit_text and rec.label == "crasher"


def test_record_exit_arriving_after_refresh_saw_the_exit(spawn):
    child = runner.Child([PY, "-c", "import sys; sys.exit(7)"])
    col = collector(discover_every=float("inf"))
    col.track(child.pid)
    status = child.wait(timeout=20)
    assert col.refresh().get(child.pid).exit_code is None  # not reported yet
    col.record_exit(child.pid, status)
    assert col.refresh().get(child.pid).exit_code == 7


def test_permission_denied_sentence():
    if os.geteuid() == 0:
        pytest.skip("running as root: /proc of other users is readable; the real denial is "
                    "tested in test_cli_ps.py::test_permission_denied_as_nobody")
    col = collector(discover_every=float("inf"))
    col.track(1, "pinned")
    rec = col.refresh().get(1)
    assert rec.error is not None and rec.error.startswith("permission denied: process of user")


# -- forks and runtimes -------------------------------------------------------------------------
@needs_gcc
def test_fork_gpu_child_flagged_spawn_child_not(spawn, tmp_path):
    cuda = fake_cuda(tmp_path / "drv")
    code = (
        "import ctypes, multiprocessing as mp, os, sys, time\n"
        "ctypes.CDLL(sys.argv[1])\n"
        "if os.fork() == 0:\n"
        "    time.sleep(30); os._exit(0)\n"
        "p = mp.get_context('spawn').Process(target=time.sleep, args=(30,)); p.start()\n"
        "time.sleep(30)\n"
    )
    parent = spawn([PY, "-c", code, str(cuda)])
    def spawn_child_running() -> bool:
        for c in children_of(parent.pid):
            try:
                if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes():
                    return True
            except OSError:
                pass
        return False

    wait_for(lambda: len(children_of(parent.pid)) >= 2 and spawn_child_running(),
             what="fork and spawn children")
    col = collector(discover_every=float("inf"))
    col.track(parent.pid)
    snap = col.refresh()
    kids = [r for r in snap.procs if r.ppid == parent.pid]
    forked = [r for r in kids if r.cmdline == snap.get(parent.pid).cmdline]
    spawned = [r for r in kids if any("spawn_main" in a for a in r.cmdline)]
    assert len(forked) == 1 and forked[0].fork_gpu_child
    assert any("spawn" in n for n in forked[0].notes)
    assert spawned and not any(r.fork_gpu_child for r in spawned)
    assert not snap.get(parent.pid).fork_gpu_child


@needs_gcc
def test_two_runtimes(spawn, xlib, tmp_path):
    a = fake_cuda(tmp_path / "a", "a")
    b = fake_cuda(tmp_path / "b", "b")
    code = "import ctypes, sys, time; ctypes.CDLL(sys.argv[1]); ctypes.CDLL(sys.argv[2]); time.sleep(30)"
    p = spawn([PY, "-c", code, str(a), str(b)], xsched_env(xlib, XSCHED_POLICY="HPF"))
    wait_for(lambda: mapped(p.pid, str(b)), what="both runtimes")
    col = collector(discover_every=float("inf"))
    col.track(p.pid)
    xs = col.refresh().get(p.pid).xsched
    assert set(xs.two_runtimes) == {str(a), str(b)}
    assert set(xs.runtimes) == {str(a), str(b)}
    assert any("two different cuda runtimes" in n for n in xs.notes)


# -- shim identity ------------------------------------------------------------------------------
@needs_gcc
def test_shim_differs_from_configured_install(spawn, xlib, tmp_path):
    from doubles.xsched_double import build_double_install

    other = build_double_install(tmp_path / "other")
    with open(other / "libshimcuda.so", "ab") as f:
        f.write(b"\0another build")
    p = spawn(["sleep", "30"], xsched_env(xlib))
    wait_for(lambda: mapped(p.pid, "libshimcuda.so"), what="the shim")
    col = collector(config=Config(install=str(other.parent)), discover_every=float("inf"))
    col.track(p.pid)
    xs = col.refresh().get(p.pid).xsched
    assert any("differs from the configured install" in n for n in xs.notes)
    same = collector(config=Config(install=str(xlib.parent)), discover_every=float("inf"))
    same.track(p.pid)
    assert not any("configured install" in n for n in same.refresh().get(p.pid).xsched.notes)


@needs_gcc
def test_shim_changed_since_previous_run_and_hash_cache(spawn, tmp_path):
    from doubles.xsched_double import build_double_install

    lib = build_double_install(tmp_path / "x")
    argv = ["sleep", "29.5"]
    col = collector(discover_every=float("inf"))
    p1 = spawn(argv, xsched_env(lib))
    # the loader maps the shim's DT_NEEDED libraries one after the other: wait for all three
    wait_for(lambda: all(mapped(p1.pid, n) for n in ("libshimcuda.so", "libhalcuda.so",
                                                     "libpreempt.so")), what="the XSched libraries")
    col.track(p1.pid)
    col.refresh()
    calls = col._ctx.hash_calls
    assert calls == 3  # shim, hal, preempt: hashed once ...
    col.refresh()
    col.refresh()
    assert col._ctx.hash_calls == calls  # ... and never again while nothing changed
    assert not any("shim changed" in n for n in col.refresh().get(p1.pid).xsched.notes)
    os.killpg(p1.pid, signal.SIGKILL)
    p1.wait(timeout=10)
    with open(lib / "libshimcuda.so", "ab") as f:  # a rebuild between two runs
        f.write(b"\0rebuilt")
    p2 = spawn(argv, xsched_env(lib))
    wait_for(lambda: mapped(p2.pid, "libshimcuda.so"), what="the shim")
    col.track(p2.pid)
    xs = col.refresh().get(p2.pid).xsched
    assert any("shim changed since the previous run" in n and str(p1.pid) in n for n in xs.notes)


@needs_gcc
def test_shim_changed_note_survives_a_later_mapping_change(spawn, tmp_path):
    """Regression: the note compared with the latest history entry, which after the first
    build is this very run, so it vanished as soon as the run's mappings changed (the real
    driver is dlopen'ed after the shim)."""
    from doubles.xsched_double import build_double_install

    lib = build_double_install(tmp_path / "x")
    cuda = fake_cuda(tmp_path / "drv")
    go = tmp_path / "go"
    code = ("import ctypes, os, sys, time\n"
            "while not os.path.exists(sys.argv[1]): time.sleep(0.01)\n"
            "ctypes.CDLL(sys.argv[2]); time.sleep(30)\n")
    argv = [PY, "-c", code, str(go), str(cuda)]
    col = collector(discover_every=float("inf"))
    p1 = spawn(argv, xsched_env(lib))
    wait_for(lambda: mapped(p1.pid, "libshimcuda.so"), what="the shim")
    col.track(p1.pid)
    col.refresh()
    os.killpg(p1.pid, signal.SIGKILL)
    p1.wait(timeout=10)
    with open(lib / "libshimcuda.so", "ab") as f:
        f.write(b"\0rebuilt")
    p2 = spawn(argv, xsched_env(lib))
    wait_for(lambda: mapped(p2.pid, "libshimcuda.so"), what="the shim")
    col.track(p2.pid)
    assert any("shim changed since the previous run" in n
               for n in col.refresh().get(p2.pid).xsched.notes)
    go.touch()
    wait_for(lambda: mapped(p2.pid, str(cuda)), what="the driver")
    xs = col.refresh().get(p2.pid).xsched
    assert str(cuda) in xs.runtimes  # the facts were rebuilt ...
    assert any("shim changed since the previous run" in n and str(p1.pid) in n for n in xs.notes)


# -- robustness ---------------------------------------------------------------------------------
def test_snapshot_is_immutable_and_indexed():
    snap = ProcSnapshot(0.0, (), (), None, 0.0)
    assert snap.get(1) is None
    with pytest.raises(AttributeError):
        snap.taken_at = 1.0  # type: ignore[misc]


def test_track_rejects_unknown_origin():
    with pytest.raises(ValueError):
        collector().track(os.getpid(), origin="child")


def test_threads_track_while_refreshing(spawn):
    procs = [spawn(["sleep", "30"]) for _ in range(6)]
    col = collector(discover_every=float("inf"))
    errors: list[BaseException] = []
    stop = threading.Event()

    def refresher():
        try:
            while not stop.is_set():
                col.refresh()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    t = threading.Thread(target=refresher)
    t.start()
    try:
        for p in procs:
            col.track(p.pid)
            col.record_exit(p.pid + 10_000_000, runner.ExitStatus(0))
            col.untrack(p.pid)
            col.track(p.pid)
    finally:
        stop.set()
        t.join(timeout=20)
    assert not errors
    snap = col.refresh()
    assert {p.pid for p in procs} <= {r.pid for r in snap.procs}
