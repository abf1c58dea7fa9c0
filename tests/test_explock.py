"""A second xsched-tui sees a running experiment and leaves it alone (core/explock.py): the
running process holds a flock on its folder; a second `overhead`/`priority` refuses to start
(exit 75) unless --allow-concurrent; `runs` tells a live experiment from an interrupted one
(its process died: SIGKILL here). Real processes, real files, the protocol stand-in workload."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from xsched_tui.core import explock
from xsched_tui.core.expreport import list_experiments

import test_cli_overhead
from test_cli_overhead import BASE_ENV, ROOT, alive, cli

fakepy = test_cli_overhead.fakepy


def test_the_lock_tells_alive_from_interrupted_in_this_process(tmp_path: Path) -> None:
    folder = tmp_path / "exp"
    folder.mkdir()
    lock = explock.FolderLock(str(folder), "demo")
    h = explock.holder(str(folder))
    assert h is not None and h.pid == os.getpid() and h.name == "demo"
    assert explock.state(str(folder), "running") == "running"
    assert explock.state(str(folder), "finished") == "finished"
    assert [x.folder for x in explock.running_experiments(str(tmp_path))] == [str(folder)]
    why = explock.refusal(str(tmp_path))
    assert why and f"pid {os.getpid()}" in why and str(folder) in why and "--allow-concurrent" in why
    lock.release()
    assert explock.holder(str(folder)) is None
    assert explock.state(str(folder), "running") == "interrupted"
    assert explock.refusal(str(tmp_path)) is None
    assert explock.refusal(str(tmp_path / "missing")) is None


def test_a_killed_holder_leaves_an_interrupted_folder(tmp_path: Path) -> None:
    folder = tmp_path / "exp"
    folder.mkdir()
    code = ("import sys, time; from xsched_tui.core.explock import FolderLock; "
            f"FolderLock({str(folder)!r}, 'x'); print('held', flush=True); time.sleep(60)")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                         env={**BASE_ENV, "PYTHONPATH": str(ROOT / "src")})
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "held"
        h = explock.holder(str(folder))
        assert h is not None and h.pid == p.pid
        p.kill()  # SIGKILL: no chance to clean up
        p.wait(timeout=10)
        assert (folder / explock.LOCK_NAME).exists()  # left over ...
        assert explock.holder(str(folder)) is None  # ... but nobody holds it
        assert explock.state(str(folder), "running") == "interrupted"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)


def test_garbage_lock_file_is_survived(tmp_path: Path) -> None:
    folder = tmp_path / "exp"
    folder.mkdir()
    (folder / explock.LOCK_NAME).write_bytes(b"\x00\xffnot json")
    assert explock.holder(str(folder)) is None
    lock = explock.FolderLock(str(folder))
    try:
        (folder / "other").write_text("")
        h = explock.holder(str(folder))
        assert h is not None and "exp" in h.describe()
    finally:
        lock.release()


def test_second_instance_refuses_while_the_first_runs_and_runs_tells_the_truth(fakepy, tmp_path):
    res = tmp_path / "r"
    first = subprocess.Popen(
        [sys.executable, "-m", "xsched_tui", "overhead", "--workload", "matmul", "--pairs", "50",
         "--aa", "--python", fakepy, "--results", str(res)],
        env={**BASE_ENV, "STANDIN_MEASURE_S": "0.5"}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, cwd=str(ROOT), start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not list(res.glob("*/result.json")) and time.monotonic() < deadline:
            time.sleep(0.05)
        (folder,) = [p.parent for p in res.glob("*/result.json")]
        before = sorted(p.name for p in res.iterdir())
        second = cli("overhead", "--workload", "matmul", "--pairs", "1", "--aa", "--python", fakepy,
                     "--results", str(res), env={"STANDIN_MEASURE_S": "0.05"})
        assert second.returncode == 75, second.stderr
        assert "another experiment is running" in second.stderr
        assert str(folder) in second.stderr and f"pid {first.pid}" in second.stderr
        assert "Traceback" not in second.stderr
        assert sorted(p.name for p in res.iterdir()) == before  # nothing created, nothing touched
        listed = cli("runs", "--results", str(res), "--json")
        assert [e["status"] for e in json.loads(listed.stdout)] == ["running"]
        # --allow-concurrent: the user's call; it gets a folder of its own
        both = cli("overhead", "--workload", "matmul", "--pairs", "3", "--aa", "--python", fakepy,
                   "--results", str(res), "--allow-concurrent", "--json",
                   env={"STANDIN_MEASURE_S": "0.05", "STANDIN_JITTER": "0"})
        assert both.returncode == 0, both.stderr
        assert json.loads(both.stdout)["folder"] != str(folder)
        # the first dies without a word (SIGKILL to its whole group): "interrupted", not running
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        entries = {Path(e.folder).name: e.status for e in list_experiments(str(res))}
        assert entries[folder.name] == "interrupted"
        assert sorted(entries.values()) == ["finished", "interrupted"]
        table = cli("runs", "--results", str(res)).stdout
        assert "interrupted" in table
        # and nothing blocks a new experiment any more
        again = cli("overhead", "--workload", "matmul", "--pairs", "3", "--aa", "--python", fakepy,
                    "--results", str(res), env={"STANDIN_MEASURE_S": "0.05", "STANDIN_JITTER": "0"})
        assert again.returncode == 0, again.stderr
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
    deadline = time.monotonic() + 5
    pids = [r["pid"] for r in json.loads((folder / "result.json").read_text())["runs"] if r.get("pid")]
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)


async def test_the_app_refuses_a_new_experiment_while_another_process_runs_one(tmp_path):
    from dataclasses import replace

    from xsched_tui.core.config import Config
    from xsched_tui.core.expspec import build_overhead_spec
    from xsched_tui.tui.app import XSchedApp

    res = tmp_path / "res"
    other = res / "20261203-000000-theirs"
    other.mkdir(parents=True)
    lock = explock.FolderLock(str(other), "theirs")
    cfg = replace(Config(), results=str(res), python=sys.executable)
    app = XSchedApp(cfg, specs=[], hostname="gpu-host", autorun=False, poll=False)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            spec = build_overhead_spec(cfg, "matmul", {}, pairs=1, threshold_pct=10, aa=True)
            assert app.start_experiment(spec) is False
            await pilot.pause()
            msgs = [n.message for n in app._notifications]
            assert any("another experiment is running" in m and "theirs" in m for m in msgs), msgs
            assert app.experiment is None
            assert sorted(p.name for p in res.iterdir()) == [other.name]  # nothing created
    finally:
        lock.release()
