"""Live log sources against real files written by real processes while the hub runs.

Every wait is a poll with a deadline (never a fixed sleep used as an assertion) and nothing
asserts on wall-clock durations: timing budgets live in benchmarks/bench_tail.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from xsched_tui.core import logsources
from xsched_tui.core.headlines import HeadlineBook, headline_for, headline_for_exit
from xsched_tui.core.logparse import Kind, parse_line
from xsched_tui.core.logsources import (
    FileTailer,
    LogBatch,
    LogHub,
    SourceInfo,
    pid_from_name,
)
from xsched_tui.core.runner import ExitStatus

DEADLINE = 10.0


def wait_for(cond, what: str, timeout: float = DEADLINE):
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def xline(tid: int, msg: str, level: str = "INFO", t: str = "02:30:55.728004") -> str:
    return f"[XSCHED {level} @ T {tid} @ {t}] {msg}"


def writer(code: str, *args: str | os.PathLike[str]) -> None:
    """Run a separate Python process that writes the files (argv[1:] = args)."""
    subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)], check=True,
                   timeout=60)


class Collector:
    """on_batch target: keeps every batch; thread-safe reads for the waits."""

    def __init__(self) -> None:
        self.batches: list[LogBatch] = []
        self.lock = threading.Lock()

    def __call__(self, batch: LogBatch) -> None:
        with self.lock:
            self.batches.append(batch)

    def notices(self) -> list[str]:
        with self.lock:
            return [n for b in self.batches for n in b.notices]

    def texts(self, source_id: str | None = None) -> list[str]:
        with self.lock:
            return [e.record.text for b in self.batches for e in b.entries
                    if source_id is None or e.source_id == source_id]

    def last_stats(self, source_id: str):
        with self.lock:
            for b in reversed(self.batches):
                for s in b.stats:
                    if s.source_id == source_id:
                        return s
        return None

    def states(self, source_id: str) -> list[str]:
        with self.lock:
            return [s.state for b in self.batches for s in b.stats if s.source_id == source_id]


@pytest.fixture
def hub_factory():
    hubs: list[LogHub] = []

    def make(**kw) -> tuple[LogHub, Collector]:
        col = Collector()
        hub = LogHub(col, **kw)
        hubs.append(hub)
        return hub, col

    yield make
    for h in hubs:
        h.stop()


def stat_of(hub: LogHub, sid: str):
    return next(s for s in hub.stats() if s.source_id == sid)


def texts(hub: LogHub, sid: str) -> list[str]:
    return [e.record.text for e in hub.snapshot(sid)]


# ---------------------------------------------------------------------------------------------
# pid attribution


@pytest.mark.parametrize(("name", "pid"), [
    ("worker.884.log", 884),
    ("infer-884.stderr.log", 884),
    ("pid884.log", 884),
    ("app-pid-1291.txt", 1291),
    ("pid_77.err", 77),
    ("884.log", 884),
    ("4242.stderr.log", 4242),
    ("glb-bg-util25.stderr.log", None),
    ("glb-fg-prio1.stderr.log", None),
    ("xserver.stderr.log", None),
    ("local-hpf.stderr.log", None),
    ("app.log", None),
])
def test_pid_from_name(name, pid):
    assert pid_from_name(f"/var/log/x/{name}") == pid


def test_pid_from_name_and_content_and_launch(tmp_path, hub_factory, samples):
    hub, _col = hub_factory()
    by_name = tmp_path / "worker.884.log"
    by_name.write_text(xline(999, "using local scheduler with policy HPF") + "\n")
    by_tid = tmp_path / "anon.log"  # the scheduler line is printed on the main thread: tid == pid
    by_tid.write_text(xline(586, "using app-managed scheduler") + "\n")
    by_xq = tmp_path / "other.log"
    by_xq.write_text(xline(459, "XQueue (0x1ca00000ae8f990) from process 458 created") + "\n")
    xs = tmp_path / "xserver.stderr.log"
    shutil.copy(samples / "explicit-stream" / "xserver.stderr.log", xs)

    # An xserver log whose start-up lines were not seen (tail start): its first XQueue line names
    # a client; the client-connected line that follows shows whose log it is.
    xs_tail = tmp_path / "tail-of-server.log"
    xs_tail.write_text(xline(1259, "XQueue (0x4f4000031981b00) from process 1268 created") + "\n"
                       + xline(1257, "client process 1291 connected, cmdline: python3 fg.py") + "\n")
    xs_named = tmp_path / "xserver-1257.stderr.log"
    xs_named.write_text(xline(1257, "client process 1291 connected, cmdline: python3 fg.py") + "\n")
    a = hub.add_file(by_name)
    assert (a.pid, a.pid_from) == (884, "name")  # known at once, before any reading
    b = hub.add_file(by_tid)
    c = hub.add_file(by_xq)
    d = hub.add_file(xs)

    def info(sid: str) -> SourceInfo:
        return next(s for s in hub.sources() if s.id == sid)

    wait_for(lambda: info(b.id).pid == 586, "pid from the scheduler line's tid")
    assert info(b.id).pid_from == "content"
    wait_for(lambda: info(c.id).pid == 458, "pid from an XQueue line")
    wait_for(lambda: info(d.id).role == "xserver", "xserver log recognised")
    wait_for(lambda: stat_of(hub, d.id).lines == 520, "the whole xserver log")
    # xserver logs name their clients (1268, 1291): never the file's pid. 1257 is its main thread.
    assert info(d.id).pid == 1257
    assert info(a.id).pid == 884  # a name pid is not replaced by content
    f = hub.add_file(xs_tail)
    g = hub.add_file(xs_named)
    wait_for(lambda: info(f.id).role == "xserver" and info(g.id).role == "xserver", "xserver roles")
    assert (info(f.id).pid, info(f.id).pid_from) == (None, None)
    assert (info(g.id).pid, info(g.id).pid_from) == (1257, "name")

    # launch: the pid is the child's, whatever its log says.
    code = f"import sys; print({xline(1, 'using app-managed scheduler')!r}, file=sys.stderr)"
    child, e = hub.launch([sys.executable, "-c", code], label="tiny")
    assert (e.pid, e.pid_from, e.kind) == (child.pid, "launch", "process")
    wait_for(lambda: stat_of(hub, e.id).state == "ended", "launched process ended")
    assert info(e.id).pid == child.pid
    assert any(h.text == f"pid {child.pid}: using app-managed scheduler — nothing will be scheduled"
               for h in hub.headlines())


# ---------------------------------------------------------------------------------------------
# Following one file


def test_append_by_a_live_writer(tmp_path, hub_factory):
    p = tmp_path / "live.log"
    p.write_text("")
    hub, col = hub_factory()
    src = hub.add_file(p)
    n = 300
    w = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, time
        with open(sys.argv[1], "a", buffering=1) as f:
            for i in range(int(sys.argv[2])):
                f.write(f"[XSCHED INFO @ T 7 @ 01:02:03.{i:06d}] line {i}\\n")
                if i % 50 == 0:
                    time.sleep(0.05)
        """), str(p), str(n)])
    try:
        wait_for(lambda: stat_of(hub, src.id).lines == n, "all appended lines")
    finally:
        w.wait(30)
    wait_for(lambda: len(col.texts(src.id)) == n, "all lines delivered")
    got = col.texts(src.id)
    assert [t.rsplit(" ", 1)[1] for t in got] == [str(i) for i in range(n)]
    seqs = [e.seq for e in hub.snapshot(src.id)]
    assert seqs == list(range(1, n + 1))
    assert stat_of(hub, src.id).state == "live"


def test_truncate(tmp_path, hub_factory):
    p = tmp_path / "t.log"
    hub, col = hub_factory()
    writer("""
        import sys
        with open(sys.argv[1], "w") as f:
            f.writelines(f"before {i}\\n" for i in range(20))
        """, p)
    src = hub.add_file(p)
    wait_for(lambda: stat_of(hub, src.id).lines == 20, "first content")
    writer("""
        import sys
        with open(sys.argv[1], "r+") as f:
            f.truncate(0)
        with open(sys.argv[1], "a") as f:
            f.write("after 0\\nafter 1\\n")
        """, p)
    wait_for(lambda: texts(hub, src.id)[-2:] == ["after 0", "after 1"], "lines after the truncation")
    wait_for(lambda: any("truncated" in n for n in col.notices()), "a truncation notice")
    wait_for(lambda: "truncated" in col.states(src.id), "state truncated")


def test_rotate_rename_and_new_file(tmp_path, hub_factory):
    p = tmp_path / "app.log"
    p.write_text("old 0\nold 1\n")
    hub, col = hub_factory()
    src = hub.add_file(p)
    wait_for(lambda: stat_of(hub, src.id).lines == 2, "first content")
    # logrotate style, in one go: a last line to the old file, rename, a new file at the name.
    writer("""
        import os, sys
        p = sys.argv[1]
        with open(p, "a") as f:
            f.write("old 2 (last before rotation)\\n")
        os.rename(p, p + ".1")
        with open(p, "w") as f:
            f.write("new 0\\nnew 1\\n")
        """, p)
    wait_for(lambda: "new 1" in texts(hub, src.id), "the new file's lines")
    got = texts(hub, src.id)
    assert got == ["old 0", "old 1", "old 2 (last before rotation)", "new 0", "new 1"]
    wait_for(lambda: any("rotated" in n for n in col.notices()), "a rotation notice")
    wait_for(lambda: "rotated" in col.states(src.id), "state rotated")
    # The new file keeps being followed.
    writer("import sys; open(sys.argv[1], 'a').write('new 2\\n')", p)
    wait_for(lambda: texts(hub, src.id)[-1:] == ["new 2"], "appends to the new file")


def test_delete_keeps_what_was_read(tmp_path, hub_factory):
    p = tmp_path / "gone.log"
    p.write_text("a\nb\n")
    hub, col = hub_factory()
    src = hub.add_file(p)
    wait_for(lambda: stat_of(hub, src.id).lines == 2, "content")
    writer("import os, sys; open(sys.argv[1], 'a').write('c\\n'); os.unlink(sys.argv[1])", p)
    wait_for(lambda: stat_of(hub, src.id).state == "deleted", "state deleted")
    assert texts(hub, src.id) == ["a", "b", "c"]
    wait_for(lambda: any("deleted" in n for n in col.notices()), "a deletion notice")
    # The name comes back: followed again from its start.
    writer("import sys; open(sys.argv[1], 'w').write('reborn\\n')", p)
    wait_for(lambda: texts(hub, src.id)[-1:] == ["reborn"], "the file that came back")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files without permission bits")
def test_permission_denied(tmp_path, hub_factory):
    p = tmp_path / "secret.log"
    p.write_text("x\n")
    p.chmod(0)
    hub, col = hub_factory()
    src = hub.add_file(p)
    wait_for(lambda: stat_of(hub, src.id).state.startswith("error: permission denied"), "error state")
    wait_for(lambda: any("permission denied" in n for n in col.notices()), "notice")


def test_fifo_and_directory_named_log_are_reported_not_opened(tmp_path, hub_factory):
    d = tmp_path / "logs"
    d.mkdir()
    os.mkfifo(d / "pipe.log")  # opening a FIFO for reading would block the hub: never opened
    (d / "folder.log").mkdir()
    (d / "ok.log").write_text("fine\n")
    hub, col = hub_factory()
    hub.add_dir(d)
    wait_for(lambda: len(hub.sources()) == 3, "three entries found")
    by_label = {s.label: s.id for s in hub.sources()}
    wait_for(lambda: "FIFO" in stat_of(hub, by_label["pipe.log"]).state, "FIFO error state")
    wait_for(lambda: "directory" in stat_of(hub, by_label["folder.log"]).state, "directory error")
    wait_for(lambda: texts(hub, by_label["ok.log"]) == ["fine"], "the regular file still works")
    wait_for(lambda: any("FIFO" in n and "not a regular file" in n for n in col.notices()), "FIFO notice")
    wait_for(lambda: any("a directory" in n for n in col.notices()), "directory notice")


def test_file_that_appears_after_start(tmp_path, hub_factory):
    d = tmp_path / "logs"
    d.mkdir()
    hub, _col = hub_factory()
    hub.add_dir(d, pattern="*.stderr.log")
    wait_for(lambda: "inotify" in hub.status, "the folder watched")
    writer("""
        import sys
        with open(sys.argv[1] + "/infer-4242.stderr.log", "w") as f:
            f.write("[XSCHED INFO @ T 4242 @ 09:00:00.000100] using global scheduler\\n")
        with open(sys.argv[1] + "/ignored.txt", "w") as f:
            f.write("not a log\\n")
        """, d)
    src = wait_for(lambda: next(iter(hub.sources()), None), "the new file")
    assert (src.pid, src.pid_from, src.label) == (4242, "name", "infer-4242.stderr.log")
    wait_for(lambda: texts(hub, src.id) == [xline(4242, "using global scheduler", t="09:00:00.000100")],
             "its line")
    assert len(hub.sources()) == 1


def test_crlf_cr_binary_and_1mib_line(tmp_path, hub_factory):
    p = tmp_path / "odd.log"
    p.write_text("")
    hub, _col = hub_factory()
    src = hub.add_file(p)
    wait_for(lambda: stat_of(hub, src.id).state != "new" and hub.sources(), "opened")
    writer("""
        import os, sys, time
        fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
        os.write(fd, b"crlf one\\r\\ncrlf two\\r")   # the LF of "two" comes in the next write
        time.sleep(0.2)
        os.write(fd, b"\\nprogress 10%\\rprogress 20%\\n")
        os.write(fd, bytes(range(256)).replace(b"\\n", b"") + b"\\n")
        os.write(fd, b"L" * (1024 * 1024) + b"\\n")
        os.write(fd, b"after the long line\\n")
        os.close(fd)
        """, p)
    wait_for(lambda: "after the long line" in texts(hub, src.id), "the line after 1 MiB")
    recs = [e.record for e in hub.snapshot(src.id)]
    got = [r.text for r in recs]
    assert got[:4] == ["crlf one", "crlf two", "progress 10%", "progress 20%"]
    assert got[-1] == "after the long line"
    long = recs[-2]
    assert long.truncated and long.text.startswith("LLLL") and len(long.text) <= 10_000
    junk = recs[4]
    assert junk.kind is Kind.PLAIN and "\x00" not in junk.text
    assert stat_of(hub, src.id).truncated_lines == 1


def test_held_partial_line_and_over_long_partial(tmp_path):
    """The tailer alone: a line without newline is held, then flushed; a held line is capped."""
    p = tmp_path / "p.log"
    p.write_bytes(b"whole\nhalf a li")
    t = FileTailer(str(p), held_cap=1000)
    assert t.poll().lines == [b"whole"]
    assert t.partial_due() is not None
    with open(p, "ab") as f:
        f.write(b"ne\n" + b"x" * 5000)
    assert t.poll().lines == [b"half a line"]
    assert t.flush() == [b"x" * 1000] and t.cut_lines == 1
    with open(p, "ab") as f:
        f.write(b"yyy\nnext\n")  # the rest of the over-long line was given up at flush
    assert t.poll().lines == [b"yyy", b"next"]
    t.close()


def test_partial_line_flushed_when_quiet(tmp_path, hub_factory):
    p = tmp_path / "prompt.log"
    p.write_text("")
    hub, _col = hub_factory()
    src = hub.add_file(p)
    writer("import sys; open(sys.argv[1], 'a').write('Traceback-free last words without newline')", p)
    wait_for(lambda: texts(hub, src.id) == ["Traceback-free last words without newline"],
             "the partial line after the grace period")


def test_big_file_starts_near_the_tail(tmp_path, hub_factory):
    p = tmp_path / "big.log"
    writer("""
        import sys
        with open(sys.argv[1], "w") as f:
            for i in range(60_000):
                f.write(f"[XSCHED INFO @ T 5 @ 01:00:00.{i % 1000000:06d}] line number {i}\\n")
        """, p)
    size = p.stat().st_size
    assert size > 3 * 1024 * 1024
    hub, col = hub_factory(tail_bytes=256 * 1024)
    src = hub.add_file(p)
    wait_for(lambda: texts(hub, src.id)[-1:] and texts(hub, src.id)[-1].endswith("line number 59999"),
             "the last line")
    got = texts(hub, src.id)
    assert got[0].startswith("[XSCHED INFO @ T 5 @ ")  # starts at a line start
    first = int(got[0].rsplit(" ", 1)[1])
    assert first > 50_000 and len(got) == 60_000 - first
    st = stat_of(hub, src.id)
    assert 0 < st.skipped_bytes < size and st.size == size
    wait_for(lambda: any("started near the end" in n for n in col.notices()), "a notice")


# ---------------------------------------------------------------------------------------------
# /proc/PID/fd/2


def test_proc_fd2_regular_file_and_pipe(tmp_path, hub_factory):
    hub, _col = hub_factory()
    errf = tmp_path / "child.err"
    code = textwrap.dedent("""
        import sys, time
        for i in range(3):
            print(f"[XSCHED INFO @ T 1 @ 01:00:00.00000{i}] hello {i}", file=sys.stderr, flush=True)
        sys.stdin.readline()
        print("[XSCHED ERRO @ T 1 @ 01:00:01.000000] cuda error 700: an illegal memory access "
              "was encountered @ /x/cuda_queue.cpp:47", file=sys.stderr, flush=True)
        """)
    with open(errf, "w") as ef:
        child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stderr=ef)
    piped = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.readline()"],
                             stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        got = hub.add_proc_fd2(child.pid)
        assert isinstance(got, SourceInfo), got
        assert (got.kind, got.pid, got.path) == ("proc_fd", child.pid, str(errf))
        wait_for(lambda: len(texts(hub, got.id)) == 3, "the child's first lines")
        child.stdin.write(b"go\n")
        child.stdin.close()
        child.wait(30)
        wait_for(lambda: any("cuda error 700" in h.text for h in hub.headlines()), "driver headline")
        h = next(h for h in hub.headlines() if "cuda error 700" in h.text)
        assert h.severity == "error" and h.pid == child.pid and h.text.startswith(f"pid {child.pid}: ")
        wait_for(lambda: stat_of(hub, got.id).state == "ended", "ended once the process is gone")

        reason = hub.add_proc_fd2(piped.pid)
        assert isinstance(reason, str)
        assert "pipe" in reason and "capture it at launch" in reason and str(piped.pid) in reason
    finally:
        for p in (child, piped):
            if p.poll() is None:
                p.kill()
            p.wait(10)
    gone = hub.add_proc_fd2(child.pid)
    assert isinstance(gone, str) and "no such process" in gone


# ---------------------------------------------------------------------------------------------
# Headlines


def _samples_hub(hub: LogHub, tmp_path: Path, samples: Path, name: str) -> SourceInfo:
    dst = tmp_path / name
    shutil.copy(samples / "misconfigured" / name, dst)
    return hub.add_file(dst)


def test_headlines_of_recorded_samples(tmp_path, hub_factory, samples):
    hub, col = hub_factory()
    app = _samples_hub(hub, tmp_path, samples, "app_managed_default.stderr.log")
    pre = _samples_hub(hub, tmp_path, samples, "preload_missing_file.stderr.log")
    lv4 = _samples_hub(hub, tmp_path, samples, "level4_invalid.stderr.log")
    wait_for(lambda: stat_of(hub, lv4.id).lines == 129, "the level-4 sample")
    wait_for(lambda: stat_of(hub, pre.id).lines == 1 and stat_of(hub, app.id).lines == 1, "samples")

    hs = hub.headlines()
    app_h = [h for h in hs if h.source_id == app.id]
    assert [h.text for h in app_h] == ["pid 586: using app-managed scheduler — nothing will be scheduled"]
    assert app_h[0].severity == "error"  # nothing is scheduled: the strip ranks it first

    pre_h = [h for h in hs if h.source_id == pre.id]
    assert len(pre_h) == 1 and pre_h[0].severity == "error"
    assert "cannot be preloaded" in pre_h[0].text and "libshimnothere.so" in pre_h[0].text

    lv4_h = [h for h in hs if h.source_id == lv4.id and h.severity == "warning"]
    assert len(lv4_h) == 1, lv4_h  # 128 WARN lines, one per stream: one headline
    assert lv4_h[0].count == 128 and "level-4" in lv4_h[0].text and lv4_h[0].pid == 1262
    assert lv4_h[0].display.endswith("(x128)")
    assert stat_of(hub, lv4.id).warnings == 128
    # Delivered through batches too, with the final count.
    def delivered():
        return [h.count for b in col.batches for h in b.headlines
                if h.source_id == lv4.id and h.severity == "warning"]

    wait_for(lambda: delivered()[-1:] == [128], "the final count delivered")


def test_headline_rules_unit():
    src = SourceInfo("s:1", "x.log", "file", "/x.log", 884, "name")
    none = headline_for(parse_line(xline(884, "XQueue (0x1) from process 884 created")), src)
    assert none is None
    assert headline_for(parse_line("just some output"), src) is None
    assert headline_for(parse_line(xline(884, "using app-managed scheduler")), src).text == (
        "pid 884: using app-managed scheduler — nothing will be scheduled")
    a = headline_for(parse_line(xline(
        884, "Assertion failed: command threshold (2) must not be smaller than command batch size (8)"
        " @ /x/xqueue.cpp:9", level="ERRO")), src)
    assert a.severity == "error" and "threshold (2)" in a.text
    v = headline_for(parse_line("python3: /opt/x/libshimhip.so: version `hip_4.2' not found "
                                "(required by /opt/rocm/lib/libMIOpen.so.1)"), src)
    assert v.severity == "error" and "hip_4.2" in v.text
    book = HeadlineBook()
    for h in (0x1, 0x2, 0x3):
        book.add(headline_for(parse_line(xline(
            884, f"XQueue with handle {h:#x} does not support dynamic level @ /x:1", "WARN")), src))
    (only,) = book.all()
    assert only.count == 3
    crash = headline_for_exit(SourceInfo("p:1", "fg", "process", None, 1291, "launch"), ExitStatus(-11))
    assert (crash.text, crash.severity) == ("pid 1291: SIGSEGV", "error")
    assert headline_for_exit(src, ExitStatus(0)) is None
    assert headline_for_exit(src, ExitStatus(-15, killed_by_us=True)).severity == "info"


def test_traceback_from_a_stream_is_grouped(hub_factory):
    hub, col = hub_factory()
    s = hub.add_stream("replay of fg", pid=1291, kind="replay")
    hub.push_lines(s.id, [
        "Traceback (most recent call last):",
        '  File "fg.py", line 3, in <module>',
        "    boom()",
        "RuntimeError: CUDA error: an illegal memory access was encountered",
    ])
    hub.end_source(s.id, "replay finished")
    wait_for(lambda: stat_of(hub, s.id).state == "ended", "the stream ended")
    (rec,) = [e.record for e in hub.snapshot(s.id)]
    assert rec.kind is Kind.TRACEBACK and len(rec.lines) == 4
    (h,) = hub.headlines()
    assert h.text == "pid 1291: Python RuntimeError: CUDA error: an illegal memory access was encountered"
    wait_for(lambda: any("replay finished" in n for n in col.notices()), "end notice")


def test_crash_signal_of_a_launched_process(hub_factory):
    hub, col = hub_factory()
    code = "import os, signal, sys; print('about to crash', file=sys.stderr, flush=True); " \
           "os.kill(os.getpid(), signal.SIGSEGV)"
    child, info = hub.launch([sys.executable, "-c", code], label="fg")
    wait_for(lambda: stat_of(hub, info.id).state == "ended", "the process ended")
    assert texts(hub, info.id) == ["about to crash"]
    wait_for(lambda: any(h.text == f"pid {child.pid}: SIGSEGV" for b in col.batches for h in b.headlines),
             "the SIGSEGV headline delivered")
    wait_for(lambda: any("SIGSEGV" in n for n in col.notices()), "end notice")


# ---------------------------------------------------------------------------------------------
# Delivery: back-pressure, idleness, fallback, merge


def test_slow_consumer_gets_skipped_and_memory_stays_bounded(tmp_path, hub_factory):
    backlog = [100]  # the consumer says it is 100 batches behind
    hub, col = hub_factory(pending=lambda: backlog[0], max_pending=4, max_undelivered=500,
                           ring_size=1000)
    p = tmp_path / "flood.log"
    p.write_text("")
    src = hub.add_file(p)
    writer("""
        import sys
        with open(sys.argv[1], "a") as f:
            for i in range(5000):
                f.write(f"[XSCHED INFO @ T 9 @ 01:00:00.{i:06d}] flood {i}\\n")
        """, p)
    wait_for(lambda: stat_of(hub, src.id).lines == 5000, "all lines parsed")
    assert len(hub.snapshot(src.id)) == 1000  # ring bounded
    assert stat_of(hub, src.id).dropped == 4000
    n_before = len(col.batches)
    backlog[0] = 0  # the consumer caught up
    wait_for(lambda: any(b.skipped for b in col.batches[n_before:]), "a batch reporting skipped lines")
    b = next(b for b in col.batches[n_before:] if b.skipped)
    assert b.skipped >= 4500 and len(b.entries) <= 500
    assert b.entries[-1].record.text.endswith("flood 4999")  # the newest are kept
    total_delivered = sum(len(x.entries) for x in col.batches)
    total_skipped = sum(x.skipped for x in col.batches)
    assert total_delivered + total_skipped == 5000


def test_stream_inbox_is_bounded(hub_factory, monkeypatch):
    import xsched_tui.core.logsources as ls

    monkeypatch.setattr(ls, "INBOX_CAP", 100)
    gate = threading.Event()
    hub, col = hub_factory()

    def blocking(batch):  # the consumer blocks the worker: pushes must not grow without bound
        gate.wait(20)
        col(batch)

    hub.on_batch = blocking
    s = hub.add_stream("busy")
    hub.push_lines(s.id, ["first"])
    wait_for(lambda: hub.batches >= 1, "the worker inside on_batch")
    for i in range(1000):
        hub.push_lines(s.id, [f"l{i}"])
    gate.set()
    wait_for(lambda: stat_of(hub, s.id).lines == 101, "the capped inbox parsed")
    assert texts(hub, s.id)[-1] == "l999"
    assert stat_of(hub, s.id).dropped == 900


def test_idle_hub_does_not_call_on_batch(tmp_path, hub_factory):
    d = tmp_path / "quiet"
    d.mkdir()
    for i in range(8):
        (d / f"w{i}.log").write_text("")
    hub, col = hub_factory()
    hub.add_dir(d)
    wait_for(lambda: len(col.batches) >= 1 and len(col.batches[-1].sources) == 8, "first batch")
    # Settled: no more batches and no worker wake-ups while nothing changes.
    wait_for(lambda: hub.batches == len(col.batches), "delivery finished")
    b0, w0 = hub.batches, hub.wakeups
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        time.sleep(0.1)
    assert (hub.batches, hub.wakeups) == (b0, w0)
    # ...and it wakes up for a change.
    writer("import sys; open(sys.argv[1], 'a').write('wake up\\n')", d / "w3.log")
    wait_for(lambda: "wake up" in col.texts(), "the change delivered")


def test_polling_fallback_when_watchfiles_fails(tmp_path, hub_factory):
    class Broken:
        Change = __import__("watchfiles").Change

        @staticmethod
        def watch(*a, **k):
            raise OSError("OS file watch limit reached")

    d = tmp_path / "logs"
    d.mkdir()
    (d / "a.log").write_text("one\n")
    hub, col = hub_factory()
    hub._watchfiles = Broken()
    hub.add_dir(d)
    wait_for(lambda: "polling" in hub.status, "fallback status")
    assert "watch limit" in hub.status
    wait_for(lambda: any("polling instead" in n for n in col.notices()), "fallback notice")
    a = wait_for(lambda: next(iter(hub.sources()), None), "a.log")
    wait_for(lambda: texts(hub, a.id) == ["one"], "a.log read")
    writer("""
        import sys
        open(sys.argv[1] + "/a.log", "a").write("two\\n")
        open(sys.argv[1] + "/b.log", "w").write("bee\\n")
        """, d)
    wait_for(lambda: texts(hub, a.id) == ["one", "two"], "append seen by polling")
    wait_for(lambda: "bee" in col.texts(), "new file found by the folder poll")


def test_watch_false_polls(tmp_path, hub_factory):
    p = tmp_path / "x.log"
    p.write_text("a\n")
    hub, _col = hub_factory(watch=False)
    s = hub.add_file(p)
    wait_for(lambda: texts(hub, s.id) == ["a"], "read")
    assert "polling" in hub.status
    writer("import sys; open(sys.argv[1], 'a').write('b\\n')", p)
    wait_for(lambda: texts(hub, s.id) == ["a", "b"], "append")


def test_snapshot_merges_sources_by_time_and_remove(hub_factory):
    hub, _col = hub_factory()
    a = hub.add_stream("a", pid=10)
    b = hub.add_stream("b", pid=20)
    hub.push_lines(a.id, [xline(10, "a1", t="01:00:00.000001"), "a-plain",
                          xline(10, "a3", t="01:00:00.000005")])
    hub.push_lines(b.id, [xline(20, "b2", t="01:00:00.000003"), xline(20, "b4", t="01:00:00.000009")])
    wait_for(lambda: stat_of(hub, a.id).lines == 3 and stat_of(hub, b.id).lines == 2, "parsed")
    merged = [e.record.message for e in hub.snapshot()]
    assert merged == ["a1", "a-plain", "b2", "a3", "b4"]
    assert [e.record.message for e in hub.snapshot(limit=1)] == ["a3", "b4"]
    hub.remove(a.id)
    assert [s.id for s in hub.sources()] == [b.id]
    assert hub.snapshot(a.id) == []


def test_same_file_twice_is_one_source(tmp_path, hub_factory):
    p = tmp_path / "dup.log"
    p.write_text("x\n")
    hub, _ = hub_factory()
    s1 = hub.add_file(p)
    s2 = hub.add_file(str(tmp_path / "." / "dup.log"))
    assert s1 == s2 and len(hub.sources()) == 1


def test_fifo_never_blocks_the_tailer(tmp_path):
    f = tmp_path / "fifo.log"
    os.mkfifo(f)
    t = FileTailer(str(f))
    r = t.poll()
    assert r.lines == [] and "FIFO" in t.state and stat.S_ISFIFO(os.stat(f).st_mode)


def test_sigterm_of_launched_process_is_info(hub_factory):
    hub, _col = hub_factory()
    child, info = hub.launch([sys.executable, "-c", "import time; time.sleep(60)"], label="sleeper")
    child.stop(grace=5)
    wait_for(lambda: stat_of(hub, info.id).state == "ended", "ended")
    wait_for(lambda: hub.headlines(), "exit headline")
    (h,) = hub.headlines()
    assert h.severity == "info" and signal.Signals.SIGTERM.name in h.text


def test_writer_faster_than_parsing_skips_ahead_and_says_so(tmp_path, hub_factory, monkeypatch):
    import xsched_tui.core.logsources as ls

    monkeypatch.setattr(ls, "LAG_SKIP_TOTAL", 256 * 1024)
    monkeypatch.setattr(ls, "LAG_SKIP_MIN", 64 * 1024)
    p = tmp_path / "burst.log"
    p.write_text("start\n")
    hub, col = hub_factory()
    src = hub.add_file(p)
    wait_for(lambda: texts(hub, src.id) == ["start"], "opened and read")
    n = 100_000  # ~4.5 MiB in one write: far more than 256 KiB of lag
    writer("""
        import os, sys
        n = int(sys.argv[2])
        data = "".join(f"[XSCHED INFO @ T 9 @ 01:00:00.{i % 1000000:06d}] burst {i}\\n" for i in range(n))
        fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
        os.write(fd, data.encode())
        os.close(fd)
        """, p, str(n))
    last = f"[XSCHED INFO @ T 9 @ 01:00:00.{(n - 1):06d}] burst {n - 1}"
    wait_for(lambda: texts(hub, src.id)[-1:] == [last], "the last line")
    st = stat_of(hub, src.id)
    assert st.skipped_lines > 0 and st.skipped_bytes > 0
    assert st.lines + st.skipped_lines == n + 1  # every line is either parsed or counted as skipped
    wait_for(lambda: any("faster than it can be parsed" in x for x in col.notices()), "a notice")
    wait_for(lambda: sum(len(b.entries) + b.skipped for b in col.batches) == n + 1, "all accounted for")


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv") or not os.path.exists("/usr/bin/python3"),
    reason="needs root, setpriv and /usr/bin/python3 to run as an unprivileged user",
)
def test_permission_denied_as_unprivileged_user():
    """As root the permission case can't happen; run the hub as 'nobody' in a child instead."""
    import tempfile

    src_dir = Path(__file__).resolve().parent.parent / "src"
    d = tempfile.mkdtemp(prefix="xsched-perm-")
    try:
        os.chmod(d, 0o755)
        secret = Path(d) / "secret.log"
        secret.write_text("x\n")
        secret.chmod(0)
        code = textwrap.dedent("""
            import sys, time
            from xsched_tui.core.logsources import LogHub
            hub = LogHub(None, watch=False)
            s = hub.add_file(sys.argv[1])
            end = time.monotonic() + 10
            while time.monotonic() < end:
                st = [x for x in hub.stats() if x.source_id == s.id][0].state
                if st.startswith("error"):
                    break
                time.sleep(0.02)
            hub.stop()
            print(st)
            """)
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            "env", f"PYTHONPATH={src_dir}", "/usr/bin/python3", "-c", code, str(secret)],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0 and ("No module named" in r.stderr or "Permission denied" in r.stderr):
            pytest.skip(f"cannot run the package as nobody here: {r.stderr.strip()[-200:]}")
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "error: permission denied"
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_live_tail_records_equal_the_eager_parser(tmp_path, hub_factory, samples):
    """The hub parses lazily (plain INFO/DEBG messages are computed when read): whatever it
    delivers equals, record for record, what the eager parser makes of the same file, and the
    headlines and counters are those of the eager records."""
    import datetime as dt

    from xsched_tui.core.logparse import LogParser, _LazyRecord

    lines = []
    for f in sorted(samples.rglob("*.stderr.log")):
        lines += f.read_bytes().splitlines()
    lines += [xline(2000 + k % 3, f"bench seq={k}" + (" @ /x/y.cpp:1" if k % 2 else ""),
                    "DEBG" if k % 5 else "INFO", f"03:00:00.{k:06d}") for k in range(3000)]
    lines = [ln if isinstance(ln, bytes) else ln.encode() for ln in lines]
    path = tmp_path / "mixed.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    day = dt.date(2026, 11, 28)
    hub, col = hub_factory(base_date=day)
    info = hub.add_file(path)
    wait_for(lambda: len(col.texts(info.id)) >= 3000 and stat_of(hub, info.id).lines == len(
        [e for b in col.batches for e in b.entries]), "every line delivered")
    got = [e.record for b in col.batches for e in b.entries if e.source_id == info.id]
    p = LogParser(base_date=day)
    want = p.feed_many(lines) + p.flush()
    assert sum(type(r) is _LazyRecord for r in got) > 2000  # delivered unparsed...
    assert [r.to_json() for r in got] == [r.to_json() for r in want]  # ...and equal once read
    assert got == want


def test_quiet_sources_are_read_first_and_busy_ones_round_robin(hub_factory):
    """Under overload a tick stops at its work deadline: quiet sources (the process the user
    watches while others flood) lead every tick so their lines arrive within one; the busy ones
    take turns from a rotating start."""
    from xsched_tui.core.logsources import LIGHT_LINES

    hub, _ = hub_factory()
    infos = [hub.add_stream(f"s{i}") for i in range(5)]
    srcs = [hub._sources[i.id] for i in infos]
    now = 1000.5
    busy = {0, 2, 3}
    for i, s in enumerate(srcs):
        s.rate.clear()
        if i in busy:
            s.rate.extend([[998, 10_000], [999, LIGHT_LINES], [1000, 1]])  # 998 is too old to count
        elif i == 4:
            s.rate.extend([[999, LIGHT_LINES // 2], [1000, LIGHT_LINES // 2]])  # at the limit: light
    hub._rr = 0
    order, n_light, k = hub._read_order(srcs, now)
    assert [srcs.index(s) for s in order] == [1, 4, 0, 2, 3] and n_light == 2 and k == 0
    order, _, k = hub._read_order(srcs, now)
    assert [srcs.index(s) for s in order] == [1, 4, 2, 3, 0] and k == 1
    hub._rr = 2  # a tick that stopped at its deadline before the third busy one
    assert [srcs.index(s) for s in hub._read_order(srcs, now)[0]] == [1, 4, 3, 0, 2]
    for s in srcs:
        s.rate.clear()
    assert hub._read_order(srcs, now)[1] == 5  # all quiet: file order


def test_headline_cache_gives_the_same_book(samples, monkeypatch):
    """LogHub._headline_text remembers each source's headline texts: the book, the delivered
    headlines and each source's last event equal those of headline_for on every record, over
    every sample log (loader errors, tracebacks, xserver logs whose source info changes as the
    content reveals the role) and repeated warnings, in small and large runs."""
    import dataclasses

    from xsched_tui.core.headlines import Headline
    from xsched_tui.core.logparse import LogParser

    assert [f.name for f in dataclasses.fields(Headline)] == [  # built field by field in the hub
        "timestamp", "source_id", "pid", "severity", "text", "count", "first_timestamp"]
    logs = sorted([*samples.rglob("*.stderr.log"), *samples.rglob("*.raw.log")])
    streams = [LogParser(lazy=True).feed_many(p.read_bytes().splitlines()) for p in logs]
    warn = ("fail to auto-create XQueue (level-4) for HwQueue 0x461c5f70, err: 2 "
            "@ /opt/xsched/preempt/src/xqueue/xqueue.cpp:136")
    streams.append(LogParser(lazy=True).feed_many(
        [xline(7, warn if k % 3 else f"cuda error {700 + k % 2}: boom", "WARN" if k % 3 else "ERRO",
               f"01:00:{k // 100:02d}.{k % 100:06d}") for k in range(600)]))
    # Texts that differ only outside any event (tracebacks, loader lines), and a pid-less source
    # whose pid the content reveals between two equal warnings (its headline text changes).
    tb = ["Traceback (most recent call last):", '  File "a.py", line 1, in <module>']
    streams.append(LogParser(lazy=True).feed_many(
        [*tb, "ValueError: one", *tb, "KeyError: two", "x: symbol lookup error: libx.so: undefined "
         "symbol: a", "x: symbol lookup error: libx.so: undefined symbol: b",
         xline(41, "odd", "WARN"), xline(41, "using local scheduler with policy HPF"),
         xline(41, "odd", "WARN"), xline(41, "done")]))

    def run(plain: bool):
        hub = LogHub(None)
        hub.stop()  # no worker: it would clear the undelivered headlines (no consumer)
        if plain:
            def plain_text(s, r, ev):
                h = headline_for(r, s.info)
                if h is not None:  # what the hub builds from the text: headline_for's Headline
                    assert h == Headline(r.timestamp, s.info.id, s.info.pid, h.severity, h.text,
                                         1, r.timestamp)
                return None if h is None else (h.severity, h.text)

            monkeypatch.setattr(hub, "_headline_text", plain_text)
        infos = [hub.add_stream(f"s{i}", pid=None if i % 2 or i == len(streams) - 1 else 3000 + i)
                 for i in range(len(streams))]
        delivered = []
        for step in (1, 7, 500):
            for i, recs in enumerate(streams):
                s = hub._sources[infos[i].id]
                for k in range(0, len(recs), step):
                    hub._accept(s, recs[k:k + step], 1.0)
            delivered.append(sorted(hub._new_headlines.items()))
            hub._new_headlines.clear()
        state = [(s.info, s.last_event) for s in hub._sources.values()]
        assert sum(map(len, delivered)) > 20
        return hub._book.all(), delivered, state

    assert run(False) == run(True)


def test_busy_folder_pauses_its_watcher_and_resumes_when_quiet(tmp_path, hub_factory, monkeypatch):
    # A real writer process does one write() per line (as XSched's unbuffered stderr does) faster
    # than WATCH_PAUSE_LINES: the folder's inotify watcher stops (its thread exits) while the
    # files are busy; every line still arrives, a file created meanwhile is found by the folder
    # listing, a rotation is still seen; when quiet the watcher starts again and events work.
    monkeypatch.setattr(logsources, "WATCH_PAUSE_LINES", 300)
    monkeypatch.setattr(logsources, "WATCH_RESUME_AFTER", 1.0)
    d = tmp_path / "logs"
    d.mkdir()
    (d / "busy-101.log").write_text("")
    (d / "quiet-102.log").write_text("")
    hub, col = hub_factory()
    hub.add_dir(d)
    wait_for(lambda: len(hub.sources()) == 2 and "watching 1 folder" in hub.status, "watched")
    first = next(iter(hub._dirs.values())).thread
    w = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import os, sys, time
        fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
        end = time.monotonic() + 4.0
        n = 0
        while time.monotonic() < end:
            for _ in range(20):
                n += 1
                os.write(fd, f"[XSCHED INFO @ T 101 @ 10:00:00.{n % 1000000:06d}] line {n}\\n".encode())
            time.sleep(0.01)
        print(n)
        """), d / "busy-101.log"], stdout=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: "inotify paused" in hub.status, "the watcher paused", timeout=10)
        wait_for(lambda: not first.is_alive(), "the watcher thread gone")
        writer("""
            import os, sys
            open(sys.argv[1] + "/late-103.log", "w").write("late line\\n")
            open(sys.argv[1] + "/quiet-102.log", "a").write("quiet line\\n")
            """, d)
        wait_for(lambda: "late line" in col.texts(), "a new file found while paused")
        wait_for(lambda: "quiet line" in col.texts(), "an idle file polled while paused")
        written = int(w.communicate(timeout=30)[0])
    finally:
        if w.poll() is None:
            w.kill()
    busy = next(s for s in hub.sources() if s.label == "busy-101.log")
    wait_for(lambda: stat_of(hub, busy.id).lines == written, "every busy line")
    wait_for(lambda: "watching 1 folder" in hub.status and "paused" not in hub.status,
             "the watcher resumed", timeout=15)
    again = next(iter(hub._dirs.values())).thread
    assert again is not first and again.is_alive()
    assert all(not s.polled for s in hub._sources.values())
    # events work again: an append, a rotation, a new file
    writer("""
        import os, sys
        d = sys.argv[1]
        open(d + "/quiet-102.log", "a").write("after resume\\n")
        os.rename(d + "/late-103.log", d + "/late-103.log.1")
        open(d + "/late-103.log", "w").write("rotated new\\n")
        open(d + "/new-104.log", "w").write("newest\\n")
        """, d)
    wait_for(lambda: {"after resume", "rotated new", "newest"} <= set(col.texts()), "events after resume")


def test_new_headline_is_the_dataclass_constructor_s_headline():
    """The hub builds headlines with new_headline (cheaper): equal, same hash, same instance
    dict in the same order, same repr, copies and pickles alike, frozen all the same."""
    import copy
    import dataclasses
    import pickle

    from xsched_tui.core.headlines import Headline, new_headline

    for args in [(1.5, "s1", 42, "warning", "pid 42: x", 3, 1.25), (None, "s2", None, "error",
                                                                      "y", 1, None)]:
        a, b = Headline(*args), new_headline(*args)
        assert a == b and hash(a) == hash(b) and repr(a) == repr(b)
        assert list(vars(a).items()) == list(vars(b).items())
        assert pickle.loads(pickle.dumps(b)) == a and copy.copy(b) == a
        with pytest.raises(dataclasses.FrozenInstanceError):
            b.count = 9  # type: ignore[misc]
    assert new_headline(1.0, "s", 1, "info", "t") == Headline(1.0, "s", 1, "info", "t")
