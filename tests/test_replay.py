"""replay.py: recordings (the bundled real H100 run), offline records and the Player into a LogHub.

No wall-clock assertions: every wait is a condition wait with a deadline.
"""

from __future__ import annotations

import os
import random
import threading
from datetime import date
from pathlib import Path

import pytest

from xsched_tui.core.logparse import parse_line
from xsched_tui.core.logsources import LogBatch, LogHub
from xsched_tui.core.merge import MergedTimeline
from xsched_tui.core.replay import (
    FASTEST,
    Player,
    Recording,
    RecordingError,
    describe_log,
    log_label,
)

DEADLINE = 20.0
TOTAL_LINES = 1445  # lines of the 14 *.log files of the recording


class Collector:
    """on_batch target: keeps every delivered entry; waits on a condition."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.entries: list = []
        self.sources: dict = {}
        self.states: dict = {}

    def __call__(self, batch: LogBatch) -> None:
        with self.cond:
            self.entries.extend(batch.entries)
            self.sources = {s.id: s for s in batch.sources}
            self.states = {s.source_id: s.state for s in batch.stats}
            self.cond.notify_all()

    def wait(self, pred, timeout: float = DEADLINE) -> bool:
        with self.cond:
            return self.cond.wait_for(pred, timeout)


class Spy:
    """A hub proxy that records what the player pushes (in the player's own order)."""

    def __init__(self, hub: LogHub, on_push=None) -> None:
        self.hub = hub
        self.pushed: list[tuple[str, str]] = []
        self.labels: dict[str, str] = {}
        self.ended: list[tuple[str, str]] = []
        self.on_push = on_push

    def add_stream(self, label, pid=None, kind="process", *, base_date=None):
        info = self.hub.add_stream(label, pid=pid, kind=kind, base_date=base_date)
        self.labels[info.id] = label
        return info

    def push_lines(self, source_id, lines):
        lines = list(lines)
        self.pushed.extend((self.labels[source_id], ln) for ln in lines)
        self.hub.push_lines(source_id, lines)
        if self.on_push:
            self.on_push(len(self.pushed))

    def end_source(self, source_id, note):
        self.ended.append((self.labels[source_id], note))
        self.hub.end_source(source_id, note)

    def remove(self, source_id):
        self.hub.remove(source_id)


@pytest.fixture
def hub():
    col = Collector()
    h = LogHub(on_batch=col, watch=False, interval=0.01)
    h.collector = col
    yield h
    h.stop()


@pytest.fixture
def recording(samples) -> Recording:
    return Recording(samples, base_date=date(2026, 11, 28))


@pytest.fixture
def players():
    made: list[Player] = []
    yield made
    for p in made:
        p.close()


# -- discovery ------------------------------------------------------------------------------------

def test_scenarios_sources_labels_and_pids(recording):
    r = recording
    assert r.scenarios == ("default-stream", "explicit-stream", "misconfigured", "bandwidth-partition")
    got = {s.name: (s.label, s.pid, s.kind, s.pid_from) for s in r.sources()}
    assert got["explicit-stream/xserver"] == ("xserver", 1257, "xserver", "content")
    assert got["default-stream/xserver"] == ("xserver", 855, "xserver", "content")
    assert got["bandwidth-partition/xserver"][1:3] == (1591, "xserver")
    assert got["misconfigured/app_managed_default"] == ("app_managed_default", 586, "process", "content")
    assert got["explicit-stream/local-hpf"][1] == 458  # "XQueue (..) from process 458 created"
    assert got["default-stream/local-hpf"][1] == 496  # tid of "using local scheduler ..."
    assert got["misconfigured/tty-stderr-with-colour"][:2] == ("tty-stderr-with-colour", 1435)
    # no XSched line at all: the pid comes from the workload's result
    assert got["misconfigured/preload_missing_file"][1:] == (1366, "process", "results")
    assert len(got) == 14  # *.txt, xcli-*.raw.txt and *.jsonl are not logs
    assert not any(n.endswith((".txt", "jsonl")) for n in got)
    assert r.problems == ()


def test_results_are_loaded_with_their_pid(recording):
    res = recording.results()
    assert len(res) == 16
    by = {(x.scenario, x.label): x for x in res}
    assert by[("explicit-stream", "glb-fg-prio1")].pid == 1291
    assert by[("explicit-stream", "glb-fg-prio1")].data["p99_ms"] == pytest.approx(5.020126)
    assert by[("bandwidth-partition", "glb-bg-util75")].data["tflops"] > 300
    assert [x.label for x in recording.results("misconfigured")] == [
        "app_managed_default", "legacy_policy_GBL", "level4_invalid", "preload_missing_file"]


def test_base_date_defaults_to_the_folder_mtime(samples):
    r = Recording(samples)
    assert r.base_date == date.fromtimestamp(samples.stat().st_mtime)
    assert Recording(samples, base_date=date(2020, 1, 2)).base_date == date(2020, 1, 2)


def test_label_and_describe_helpers(samples, tmp_path):
    assert log_label("a/local-hpf.stderr.log") == "local-hpf"
    assert log_label("tty.raw.log") == "tty"
    assert log_label("x.log") == "x"
    d = describe_log(samples / "explicit-stream" / "xserver.stderr.log")
    assert (d.label, d.kind, d.pid) == ("xserver", "xserver", 1257)
    # xserver recognised by content under another name; its clients' pids are not its own
    (tmp_path / "server.log").write_text(
        "[XSCHED INFO @ T 55 @ 09:00:00.000300] scheduler created with policy HPF\n"
        "[XSCHED INFO @ T 57 @ 09:00:01.000000] XQueue (0x1) from process 99 created\n")
    d = describe_log(tmp_path / "server.log")
    assert (d.label, d.kind, d.pid) == ("xserver", "xserver", 55)
    (tmp_path / "app.pid4242.log").write_text("no xsched lines\n")
    assert describe_log(tmp_path / "app.pid4242.log").pid == 4242


# -- offline records ------------------------------------------------------------------------------

def test_records_are_merged_per_scenario_in_play_order(recording):
    entries = list(recording.records())
    assert len(entries) == TOTAL_LINES
    order = []
    for e in entries:
        if not order or order[-1] != e.source.scenario:
            order.append(e.source.scenario)
    assert tuple(order) == recording.scenarios  # concatenated, each once
    for sc in recording.scenarios:
        ts = [e.record.timestamp for e in entries if e.source.scenario == sc]
        timed = [t for t in ts if t is not None]
        assert timed == sorted(timed)
    mis = list(recording.records("misconfigured"))
    assert {e.source.scenario for e in mis} == {"misconfigured"}
    assert mis[0].source.label == "preload_missing_file"  # untimed loader line comes first
    assert entries[0].record.timestamp is not None
    with pytest.raises(RecordingError, match="no scenario 'nope'"):
        list(recording.records("nope"))


# -- the player -----------------------------------------------------------------------------------

def _line_key(text: str) -> int | None:
    return parse_line(text).tod_us


def test_fastest_delivers_every_line_in_time_order_into_a_real_hub(recording, hub, players):
    spy = Spy(hub)
    results = []
    p = Player(recording, spy, speed=FASTEST, on_result=results.append)
    players.append(p)
    sched = list(p.schedule())
    assert len(sched) == p.total_lines == TOTAL_LINES
    assert [d for d, _l, _t in sched] == sorted(d for d, _l, _t in sched)
    p.start()
    assert p.join(DEADLINE), p.error
    assert p.finished and p.error is None and p.position == p.duration
    assert spy.pushed == [(label, text) for _d, label, text in sched]
    # time order within each scenario (untimed lines ride with their predecessor)
    for span in p.spans:
        prefix = span.name + "/"
        ts = [_line_key(t) for lab, t in spy.pushed if lab.startswith(prefix)]
        timed = [t for t in ts if t is not None]
        assert timed == sorted(timed) and len(ts) == span.lines
    col = hub.collector
    assert col.wait(lambda: len(col.entries) == TOTAL_LINES
                    and set(col.states.values()) == {"ended"} and len(col.states) == 14)
    by_label = {s.label: s for s in col.sources.values()}
    assert by_label["explicit-stream/xserver"].pid == 1257
    assert by_label["misconfigured/app_managed_default"].pid == 586
    assert by_label["misconfigured/tty-stderr-with-colour"].kind == "replay"
    # the hub's batches, merged live, give one time-ordered view of the whole run
    tl = MergedTimeline(maxlen=TOTAL_LINES)
    for k in range(0, len(col.entries), 97):
        tl.extend(col.entries[k:k + 97])
    ts = [e.record.timestamp for e in tl if e.record.timestamp is not None]
    assert len(tl) == TOTAL_LINES and ts == sorted(ts)
    # the hub parsed the lines with the recording's date
    e = next(e for e in col.entries if e.record.tod_us is not None)
    assert date.fromtimestamp(e.record.timestamp) == date(2026, 11, 28)
    assert len(results) == 16 and {r.pid for r in results} >= {586, 1291, 1366}
    assert {n for _l, n in spy.ended} == {f"end of recording ({s})" for s in recording.scenarios}


def test_one_scenario_keeps_plain_labels(recording, hub, players):
    spy = Spy(hub)
    p = Player(recording, spy, scenario="explicit-stream", speed=FASTEST)
    players.append(p)
    p.start()
    assert p.join(DEADLINE)
    assert set(spy.labels.values()) == {"local-hpf", "xserver"}
    assert len(spy.pushed) == 129 + 520
    assert [s.name for s in p.spans] == ["explicit-stream"]


def test_pause_stops_delivery_and_resume_finishes(recording, hub, players):
    box: dict[str, Player] = {}
    once = threading.Event()

    def pause_after_100(n: int) -> None:  # runs in the player thread, mid-batch
        if n >= 100 and not once.is_set():
            once.set()
            box["p"].pause()

    spy = Spy(hub, on_push=pause_after_100)
    p = Player(recording, spy, speed=FASTEST, batch_lines=64)
    box["p"] = p
    players.append(p)
    p.start()
    assert p.wait_until(lambda: p.paused and not p.busy, DEADLINE)
    stopped_at = len(spy.pushed)
    assert 100 <= stopped_at < TOTAL_LINES
    # nothing more arrives while paused (give a misbehaving thread time to show itself)
    assert not p.wait_until(lambda: len(spy.pushed) != stopped_at, 0.3)
    assert not p.finished
    pos = p.position
    assert p.position == pos  # the clock is frozen while paused
    p.resume()
    assert p.join(DEADLINE)
    assert len(spy.pushed) == TOTAL_LINES


def test_seek_delivers_everything_up_to_t_then_back_and_forth(recording, hub, players):
    spy = Spy(hub)
    p = Player(recording, spy, speed=1.0, paused=True)
    players.append(p)
    sched = list(p.schedule())
    p.start()
    assert not p.wait_until(lambda: len(spy.pushed) > 0, 0.2)  # paused from the start
    span = p.spans[1]  # explicit-stream
    t = (span.start + span.end) / 2
    p.seek(t)
    assert p.wait_until(lambda: not p.busy and p.position == t, DEADLINE)
    want = [(lab, text) for d, lab, text in sched if d <= t]
    assert spy.pushed == want and p.paused and not p.finished
    assert 0 < len(want) < TOTAL_LINES
    # back: the hub's sources are replaced, then everything up to t2 again
    t2 = p.spans[0].end
    p.seek(t2)
    assert p.wait_until(lambda: not p.busy and p.position == t2, DEADLINE)
    want2 = [(lab, text) for d, lab, text in sched if d <= t2]
    assert spy.pushed[len(want):] == want2
    assert p.delivered == len(want2)
    col = hub.collector
    assert col.wait(lambda: len(col.sources) == len({lab for lab, _ in want2}))
    # to the end: finished, everything delivered once since the rewind
    p.seek(p.duration)
    assert p.join(DEADLINE)
    assert spy.pushed[len(want):] == [(lab, text) for _d, lab, text in sched]


def test_speed_change_wakes_the_player(recording, hub, players):
    spy = Spy(hub)
    p = Player(recording, spy, speed=0.001)  # 5 s of recorded gap = 5000 s of wall time
    players.append(p)
    p.start()
    assert p.wait_until(lambda: len(spy.pushed) >= 1, DEADLINE)
    assert not p.wait_until(lambda: len(spy.pushed) > 1, 0.2)
    p.speed = 100.0
    assert p.speed == 100.0
    p.set_speed(FASTEST)
    assert p.join(DEADLINE)
    assert len(spy.pushed) == TOTAL_LINES
    with pytest.raises(ValueError):
        p.set_speed(0)


def test_idle_gaps_are_compressed_and_midnight_rolls_over(tmp_path, hub, players):
    (tmp_path / "a.stderr.log").write_text(
        "[XSCHED INFO @ T 10 @ 23:59:58.000000] using local scheduler with policy HPF\n"
        "[XSCHED INFO @ T 11 @ 00:00:01.000000] XQueue (0x1) from process 10 created\n"
        "[XSCHED INFO @ T 11 @ 00:10:00.000000] XQueue (0x1) from process 10 destroyed\n")
    rec = Recording(tmp_path, base_date=date(2026, 11, 27))
    p = Player(rec, Spy(hub), max_gap=5.0)
    players.append(p)
    assert [round(d, 6) for d, _l, _t in p.schedule()] == [0.0, 3.0, 8.0]
    assert p.duration == pytest.approx(8.0)
    ts = [e.record.timestamp for e in rec.records()]
    assert ts == sorted(ts)
    assert date.fromtimestamp(ts[-1]) == date(2026, 11, 28)


def test_folder_without_logs_is_a_clear_error(tmp_path):
    with pytest.raises(RecordingError, match="recording not found"):
        Recording(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("hi\n")
    (tmp_path / "r.stdout.jsonl").write_text('{"pid": 1}\n')
    with pytest.raises(RecordingError) as ei:
        Recording(tmp_path)
    msg = str(ei.value)
    assert "no XSched logs to replay" in msg and "no *.log files" in msg and "1 other file" in msg
    (tmp_path / "zeros.log").write_bytes(b"\x00" * 64)
    with pytest.raises(RecordingError, match=r"1 log file\(s\) skipped.*binary"):
        Recording(tmp_path)


def test_garbage_and_binary_files_never_raise(tmp_path, hub, players):
    rnd = random.Random(7)
    (tmp_path / "random.log").write_bytes(rnd.randbytes(20_000))
    (tmp_path / "nul.log").write_bytes(b"abc\x00def\n" * 10)
    (tmp_path / "huge-line.log").write_bytes(b"[XSCHED INFO @ T 1 @ 01:00:00.000000] " + b"y" * (3 << 20))
    (tmp_path / "latin1.log").write_bytes("caf\xe9 \xff\xfe still text\n".encode("latin-1") * 3)
    (tmp_path / "junk.stderr.log").write_text(
        "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: bad\n"
        "[XSCHED WARN @ T 9 @ 25:61:61.000000] impossible time\n"
        "[XSCHED INFO @ T 9 @ 01:00:00.5] short fraction\n\n\r\n")
    (tmp_path / "empty.log").write_bytes(b"")
    (tmp_path / "dead.log").symlink_to(tmp_path / "nowhere")
    os.mkfifo(tmp_path / "fifo.log")  # never opened
    (tmp_path / "junk.stderr.stdout.jsonl").write_text("not json\n[1, 2]\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "more.log").write_bytes(rnd.randbytes(500))
    rec = Recording(tmp_path)
    skipped = "\n".join(rec.problems)
    for name in ("random.log", "dead.log", "fifo.log", "sub/more.log"):
        assert name in skipped, name
    assert "nul.log" not in skipped  # a stray NUL is survived, as the live tail does
    assert "not a JSON object" in skipped
    assert len(list(rec.records())) > 0
    p = Player(rec, Spy(hub), speed=FASTEST)
    players.append(p)
    p.start()
    assert p.join(DEADLINE) and p.error is None
    labels = {s.label for s in rec.sources()}
    assert {"huge-line", "latin1", "junk", "empty"} <= labels


def test_single_file_recording_and_close(tmp_path, hub):
    f = tmp_path / "solo.log"
    f.write_text("[XSCHED INFO @ T 5 @ 01:00:00.000000] using app-managed scheduler\n")
    rec = Recording(f)
    assert [s.label for s in rec.sources()] == ["solo"] and rec.scenarios == ("",)
    p = Player(rec, hub, speed=1.0, paused=True).start()
    p.close()
    assert p._thread is not None and not p._thread.is_alive()


def test_recording_is_never_modified(samples):
    before = {p: p.stat().st_mtime_ns for p in Path(samples).rglob("*")}
    rec = Recording(samples)
    list(rec.records())
    assert {p: p.stat().st_mtime_ns for p in Path(samples).rglob("*")} == before
