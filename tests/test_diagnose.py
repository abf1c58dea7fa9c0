"""The FACTS §8 diagnosis against real processes running the XSched test double (NOT XSched),
their real stderr through the real log hub, and a real HTTP xserver double on 127.0.0.1 whose
answers are the recorded H100 ones with the pid put in. Plus log-only diagnoses of the recorded
sample logs (what the replay shows)."""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path

import pytest

from xsched_tui.core.checks.base import Status
from xsched_tui.core.config import Config
from xsched_tui.core.diagnose import LOG_ONLY, diagnose
from xsched_tui.core.logfacts import LogFacts
from xsched_tui.core.logsources import LogHub
from xsched_tui.core.proctree import ProcessCollector
from xsched_tui.core.replay import Recording
from xsched_tui.core.xqmonitor import XQueueMonitor
from xsched_tui.core.xserver import XServerClient
from xsched_tui.data import samples_dir

from cbuild import have_gcc
from doubles.xsched_double import build_double_install
from xserver_double import XServerDouble, load_recorded

needs_gcc = pytest.mark.skipif(not have_gcc(), reason="gcc is required to build the XSched test double")
BASE_ENV = {k: v for k, v in os.environ.items()
            if not k.startswith(("XSCHED_", "XLOG_", "XSTD_")) and k not in ("LD_PRELOAD", "LD_LIBRARY_PATH")}
SAMPLES = samples_dir()


@pytest.fixture(scope="module")
def lib(tmp_path_factory) -> Path:
    if not have_gcc():
        pytest.skip("gcc is required to build the XSched test double")
    return build_double_install(tmp_path_factory.mktemp("xsched"), "cuda")


class Rig:
    """A log hub feeding LogFacts, a process collector, and (optionally) an xserver monitor."""

    def __init__(self, lib: Path) -> None:
        self.lib = lib
        self.facts = LogFacts()
        self.hub = LogHub(on_batch=lambda b: self.facts.ingest(b.entries, {s.id: s for s in b.sources}),
                          interval=0.05)
        self.coll = ProcessCollector(Config(install=str(lib.parent)), gpu=None)
        self.children = []

    def start(self, env: dict[str, str], preload: bool = True, argv=("sleep", "30")) -> int:
        e = {**BASE_ENV, **env}
        if preload:
            e["LD_PRELOAD"] = str(self.lib / "libshimcuda.so")
        child, _info = self.hub.launch(list(argv), env=e, label="wl")
        self.children.append(child)
        self.coll.track(child.pid, origin="started")
        return child.pid

    def wait_facts(self, pid: int, pred, timeout: float = 10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            f = self.facts.for_pid(pid)
            if f is not None and pred(f):
                return f
            time.sleep(0.05)
        return self.facts.for_pid(pid)

    def record(self, pid: int):
        snap = self.coll.refresh()
        rec = snap.get(pid)
        assert rec is not None, [p.pid for p in snap.procs]
        return rec

    def close(self) -> None:
        for c in self.children:
            c.stop(grace=0.5)
        self.hub.stop()
        self.coll.close()


@pytest.fixture
def rig(lib):
    r = Rig(lib)
    yield r
    r.close()


def glb_answers(pid: int, queues: int) -> dict:
    """The recorded explicit-stream answers, cut to ``queues`` XQueues of ``pid``."""
    rec = load_recorded(SAMPLES / "explicit-stream" / "xserver-http-during-run.txt")
    body = copy.deepcopy(rec["/xqueues"])
    qs = body["xqueues"][:queues]
    for i, q in enumerate(qs):
        q["pid"] = pid
        q["handle"] = (q["handle"] & ((1 << 48) - 1)) | ((pid & 0xFFFF) << 48)
        q["ready"] = i == 0
    body["xqueues"] = qs
    body["processes"] = [{"pid": pid, "cmdline": "sleep 30 "}]
    return {"/xqueues": body, "/policy": rec["/policy"]}


@needs_gcc
def test_local_scheduler_with_xqueues_is_scheduling(rig):
    pid = rig.start({"XSCHED_POLICY": "HPF", "XSCHED_AUTO_XQUEUE": "ON", "XSTD_XQUEUES": "3"})
    f = rig.wait_facts(pid, lambda f: f.xqueues_created >= 3)
    d = diagnose(rig.record(pid), f, None)
    assert d.scheduling is True, d
    assert d.verdict.startswith("XSched is scheduling this process")
    items = {i.id: i for i in d.items}
    assert items["libs"].status is Status.WARN  # the double maps no real driver: said, not hidden
    assert "real driver" in items["libs"].finding
    assert items["env"].status is Status.PASS
    assert items["logline"].status is Status.PASS
    assert items["xqueues"].status is Status.PASS and "3 XQueue" in items["xqueues"].finding
    assert items["xserver"].status is Status.SKIP


@needs_gcc
def test_xqueues_made_without_auto_xqueue_in_environ_are_scheduling(rig):
    """Regression: with XSCHED_AUTO_XQUEUE absent from /proc/PID/environ, the verdict said
    "will NOT schedule" (scheduling False, FAIL) although its log showed XQueues created."""
    import sys

    # The environ snapshot lacks XSCHED_AUTO_XQUEUE; the shim (loaded later) sees it ON, as
    # XSched does when the application sets it or creates XQueues itself.
    code = ("import ctypes, os, sys, time\n"
            "os.environ['XSCHED_AUTO_XQUEUE'] = 'ON'\n"
            "ctypes.CDLL(sys.argv[1]); time.sleep(30)\n")
    pid = rig.start({"XSCHED_POLICY": "HPF", "XSTD_XQUEUES": "2"}, preload=False,
                    argv=(sys.executable, "-c", code, str(rig.lib / "libshimcuda.so")))
    f = rig.wait_facts(pid, lambda f: f.xqueues_created >= 2)
    assert f is not None and f.xqueues_created == 2
    rec = rig.record(pid)
    assert rec.xsched is not None and rec.xsched.shim is not None
    assert "XSCHED_AUTO_XQUEUE" not in rec.xsched.env
    d = diagnose(rec, f, None)
    assert d.scheduling is True, d
    assert d.verdict.startswith("XSched is scheduling this process"), d.verdict
    items = {i.id: i for i in d.items}
    assert items["xqueues"].status is Status.PASS
    assert items["env"].status is Status.WARN and "creates them itself" in items["env"].finding


@needs_gcc
def test_app_managed_scheduler_is_not_a_pass(rig):
    pid = rig.start({"XSCHED_AUTO_XQUEUE": "ON"})
    f = rig.wait_facts(pid, lambda f: bool(f.scheduler_lines))
    d = diagnose(rig.record(pid), f, None)
    assert d.scheduling is False and d.status is Status.FAIL
    assert "will NOT schedule" in d.verdict and "app-managed" in d.verdict
    items = {i.id: i for i in d.items}
    assert items["logline"].status is Status.FAIL
    assert "not a pass" in items["logline"].finding
    assert "XSCHED_SCHEDULER=GLB" in items["env"].fix


@needs_gcc
def test_legacy_policy_name_is_caught(rig):
    pid = rig.start({"XSCHED_POLICY": "GBL", "XSCHED_AUTO_XQUEUE": "ON"})
    f = rig.wait_facts(pid, lambda f: bool(f.scheduler_lines))
    d = diagnose(rig.record(pid), f, None)
    assert d.scheduling is False
    env = next(i for i in d.items if i.id == "env")
    assert env.status is Status.FAIL and any("legacy" in e for e in env.evidence)


@needs_gcc
def test_level4_failures_mean_nothing_scheduled(rig):
    pid = rig.start({"XSCHED_POLICY": "HPF", "XSCHED_AUTO_XQUEUE": "ON",
                     "XSCHED_AUTO_XQUEUE_LEVEL": "4", "XSTD_LEVEL4": "1", "XSTD_XQUEUES": "2"})
    f = rig.wait_facts(pid, lambda f: f.auto_xqueue_failures >= 2)
    d = diagnose(rig.record(pid), f, None)
    items = {i.id: i for i in d.items}
    assert items["level"].status is Status.FAIL
    assert items["xqueues"].status is Status.FAIL and "0 XQueues" in items["xqueues"].finding
    assert d.scheduling is False and "NOTHING is scheduled" in d.verdict


@needs_gcc
def test_xsched_env_without_the_shim_is_not_loaded(rig):
    pid = rig.start({"XSCHED_SCHEDULER": "GLB", "XSCHED_AUTO_XQUEUE": "ON"}, preload=False)
    time.sleep(0.2)
    d = diagnose(rig.record(pid), rig.facts.for_pid(pid), None)
    assert d.scheduling is False and d.verdict.startswith("XSched is NOT loaded")
    libs = d.items[0]
    assert libs.status is Status.FAIL and "shim is not mapped" in libs.finding


@needs_gcc
def test_preload_of_a_missing_file_is_not_loaded(rig, tmp_path):
    missing = tmp_path / "nope" / "libshimcuda.so"
    pid = rig.start({"XSCHED_SCHEDULER": "GLB", "XSCHED_AUTO_XQUEUE": "ON",
                     "LD_PRELOAD": str(missing)}, preload=False)
    time.sleep(0.3)
    d = diagnose(rig.record(pid), rig.facts.for_pid(pid), None)
    assert d.scheduling is False
    env = next(i for i in d.items if i.id == "env")
    assert any("does not exist" in e for e in env.evidence)


@needs_gcc
@pytest.mark.parametrize("queues", [0, 4])
def test_global_scheduler_judged_by_xserver(rig, queues):
    pid = rig.start({"XSCHED_SCHEDULER": "GLB", "XSCHED_AUTO_XQUEUE": "ON"})
    f = rig.wait_facts(pid, lambda f: bool(f.scheduler_lines))
    with XServerDouble(glb_answers(pid, queues)) as srv:
        mon = XQueueMonitor(XServerClient("127.0.0.1", srv.port, timeout=2.0))
        view = mon.poll()
        view = mon.poll()
    assert view.reachable
    d = diagnose(rig.record(pid), f, view)
    items = {i.id: i for i in d.items}
    assert items["xserver"].status is Status.PASS
    if queues:
        assert d.scheduling is True
        assert items["xqueues"].status is Status.PASS and "4 XQueue(s) live" in items["xqueues"].finding
        assert items["work"].status is Status.PASS
    else:
        assert d.scheduling is False and d.status is Status.FAIL
        assert "0 XQueues" in items["xqueues"].finding
        assert "explicit stream" in items["xqueues"].fix


@needs_gcc
def test_global_scheduler_with_xserver_down(rig):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    pid = rig.start({"XSCHED_SCHEDULER": "GLB", "XSCHED_AUTO_XQUEUE": "ON"})
    f = rig.wait_facts(pid, lambda f: bool(f.scheduler_lines))
    view = XQueueMonitor(XServerClient("127.0.0.1", port, timeout=0.5)).poll()
    d = diagnose(rig.record(pid), f, view)
    xs = next(i for i in d.items if i.id == "xserver")
    assert xs.status is Status.FAIL and "xserver" in xs.fix
    assert d.scheduling is None and "cannot be told" in d.verdict


# -- log-only: the recorded runs, as the replay shows them ------------------------------------------

def _facts_of(scenario: str) -> LogFacts:
    from xsched_tui.core.logsources import LogEntry, SourceInfo

    facts = LogFacts()
    rec = Recording(SAMPLES)
    infos: dict[str, SourceInfo] = {}
    entries = []
    for e in rec.records(scenario):
        s = e.source
        role = "xserver" if "xserver" in s.name else None
        infos.setdefault(s.name, SourceInfo(s.name, s.label, "replay", str(s.path), s.pid,
                                            s.pid_from, role))
        entries.append(LogEntry(s.name, len(entries) + 1, e.record))
    facts.ingest(entries, infos)
    return facts


def _log_only(pid: int):
    from xsched_tui.core.procrecords import log_only_record

    rec = log_only_record(pid, ())
    assert rec.origin == LOG_ONLY
    return rec


def test_recorded_runs_diagnosed_from_their_logs():
    facts = _facts_of("misconfigured")
    verdicts = {pid: diagnose(_log_only(pid), f, None) for pid, f in facts.snapshot().items()}
    assert verdicts, "the misconfigured recording has processes"
    # tty-stderr-with-colour.raw.log (pid 1435) is a correct local run recorded on a terminal;
    # every other run in the folder scheduled nothing
    assert verdicts.pop(1435).scheduling is True
    for d in verdicts.values():
        assert d.scheduling is not True, d
    app = [d for d in verdicts.values() if "app-managed" in d.verdict]
    assert len(app) >= 2  # app_managed_default and legacy_policy_GBL
    lv4 = [d for d in verdicts.values() if any(i.id == "level" and i.status is Status.FAIL
                                               for i in d.items)]
    assert lv4, "level4_invalid is caught"


def test_recorded_explicit_stream_is_scheduling_and_default_stream_is_not():
    ex = _facts_of("explicit-stream").snapshot()
    local = [diagnose(_log_only(pid), f, None) for pid, f in ex.items()]
    assert any(d.scheduling for d in local)
    ds = _facts_of("default-stream").snapshot()
    # the GLB clients 866 and 884: connected, but xserver never created an XQueue for them
    for pid in (866, 884):
        d = diagnose(_log_only(pid), ds[pid], None)
        assert d.scheduling is False and "0 XQueues" in d.verdict, d


def test_diagnosis_json_is_plain_data():
    ds = _facts_of("default-stream").snapshot()
    d = diagnose(_log_only(866), ds[866], None)
    text = json.dumps(d.to_json())
    assert '"scheduling": false' in text


def test_recorded_refused_preload_is_not_loaded():
    """misconfigured/preload_missing_file: the loader's 'cannot be preloaded' line is proof that
    XSched is not loaded, even with nothing else known about the process."""
    facts = _facts_of("misconfigured").snapshot()
    refused = [pid for pid, f in facts.items() if any("cannot be preloaded" in p for p in f.problems)]
    assert refused
    d = diagnose(_log_only(refused[0]), facts[refused[0]], None)
    assert d.scheduling is False and d.verdict.startswith("XSched is NOT loaded")
