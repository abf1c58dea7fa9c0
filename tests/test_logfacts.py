"""logfacts.py: per-process facts from the real H100 logs, fed through the real parser."""

from __future__ import annotations

from pathlib import Path

from xsched_tui.core.logfacts import LogFacts
from xsched_tui.core.logparse import Level, parse_line, parse_lines
from xsched_tui.core.logsources import LogEntry, SourceInfo


def entries(path: Path, sid: str) -> list[LogEntry]:
    recs = parse_lines(path.read_text(errors="replace").splitlines())
    return [LogEntry(sid, i, r) for i, r in enumerate(recs, 1)]


def xserver_src(sid: str = "x", pid: int | None = 1257) -> SourceInfo:
    return SourceInfo(sid, "xserver", "file", None, pid, "content", "xserver")


def app_src(sid: str, pid: int | None) -> SourceInfo:
    return SourceInfo(sid, sid, "file", None, pid, "name" if pid else None, None)


def test_explicit_stream_xserver_log_two_clients_256_queues(samples):
    f = LogFacts()
    es = entries(samples / "explicit-stream" / "xserver.stderr.log", "x")
    # fed in two halves, as batches arrive
    assert f.ingest(es[:200], {"x": xserver_src()})
    assert f.ingest(es[200:], {"x": xserver_src()})
    snap = f.snapshot()
    assert set(snap) == {1268, 1291}
    bg, fg = snap[1268], snap[1291]
    assert bg.xqueues_created == fg.xqueues_created == 128
    assert set(bg.priorities.values()) == {0} and len(bg.priorities) == 128
    assert set(fg.priorities.values()) == {1} and len(fg.priorities) == 128
    assert bg.connected is True and bg.closed is True
    assert bg.cmdline == "python3 acceptance/device/wl.py bg 18 bg"
    # xserver logs no `destroyed` lines: the queues die with the client's `closed` line
    assert bg.xqueues_destroyed == 0 and bg.live_handles == ()
    assert bg.problems == () and bg.scheduler_lines == ()
    assert bg.last_seen is not None
    h = 0x4F4000031981B00
    assert f.priority_of(h) == 0 and f.priority_of(0x50B0000482AF4A0) == 1
    assert f.priority_of(12345) is None
    assert f.for_pid(1291) is fg and f.for_pid(4242) is None
    # immutable snapshot, and nothing changes when nothing new comes
    v = f.version
    assert not f.ingest([], {"x": xserver_src()}) and f.version == v


def test_live_handles_while_clients_run(samples):
    lines = (samples / "explicit-stream" / "xserver.stderr.log").read_text().splitlines()
    running = [ln for ln in lines if "closed" not in ln]
    f = LogFacts()
    recs = parse_lines(running)
    f.ingest([LogEntry("x", i, r) for i, r in enumerate(recs, 1)], {"x": xserver_src()})
    bg = f.for_pid(1268)
    assert bg is not None and len(bg.live_handles) == 128 and bg.closed is False


def test_priority_attributed_by_handle_top_bits_when_created_line_was_missed(samples):
    lines = (samples / "explicit-stream" / "xserver.stderr.log").read_text().splitlines()
    no_created = [ln for ln in lines if "created" not in ln]
    f = LogFacts()
    recs = parse_lines(no_created)
    f.ingest([LogEntry("x", i, r) for i, r in enumerate(recs, 1)], {"x": xserver_src()})
    assert len(f.for_pid(1268).priorities) == 128  # 0x4f4 == 1268 & 0xffff
    assert f.for_pid(1268).xqueues_created == 0


def test_bandwidth_partition_utilization(samples):
    f = LogFacts()
    f.ingest(entries(samples / "bandwidth-partition" / "xserver.stderr.log", "x"),
             {"x": xserver_src(pid=1591)})
    snap = f.snapshot()
    assert snap[1602].utilization == 25 and snap[1603].utilization == 75
    assert snap[1602].cmdline.endswith("bg25")


def test_default_stream_clients_without_queues(samples):
    f = LogFacts()
    f.ingest(entries(samples / "default-stream" / "xserver.stderr.log", "x"), {"x": xserver_src(pid=855)})
    snap = f.snapshot()
    assert set(snap) == {866, 884}
    assert all(p.xqueues_created == 0 and p.connected for p in snap.values())


def test_misconfigured_app_logs(samples):
    d = samples / "misconfigured"
    f = LogFacts()
    srcs = {"lv4": app_src("lv4", 1262), "app": app_src("app", 586),
            "gbl": app_src("gbl", 777)}
    f.ingest(entries(d / "level4_invalid.stderr.log", "lv4"), srcs)
    f.ingest(entries(d / "app_managed_default.stderr.log", "app"), srcs)
    f.ingest(entries(d / "legacy_policy_GBL.stderr.log", "gbl"), srcs)
    lv4 = f.for_pid(1262)
    assert lv4.scheduler_lines == (("local", "HPF"),)
    assert lv4.auto_xqueue_failures > 0 and lv4.xqueues_created == 0
    assert any("auto-XQueue creation failed" in p and "level-4" in p for p in lv4.problems)
    assert f.for_pid(586).scheduler_lines == (("app", None),)
    assert f.for_pid(777).scheduler_lines == (("app", None),)


def test_local_hpf_app_log_owns_its_queues(samples):
    f = LogFacts()
    es = entries(samples / "explicit-stream" / "local-hpf.stderr.log", "a")
    f.ingest(es, {"a": app_src("a", None)})  # pid unknown: queues go to the pid they name
    snap = f.snapshot()
    assert len(snap) == 1
    (p,) = snap.values()
    assert p.xqueues_created == 128 and p.scheduler_lines == ()  # no pid: the scheduler line is dropped
    g = LogFacts()
    pid = next(iter(snap))
    g.ingest(es, {"a": app_src("a", pid)})
    q = g.for_pid(pid)
    assert q.xqueues_created == 128 and q.scheduler_lines == (("local", "HPF"),)


def test_problem_sentences_from_synthetic_lines():
    lines = [
        "[XSCHED WARN @ T 9 @ 10:00:00.000001] lib libcuda.so not found @ /x/lib.h:65",
        "[XSCHED WARN @ T 9 @ 10:00:00.000002] CUDA graph cannot support level-2 preemption, "
        "falling back to level-1 @ /x/cuda_queue.cpp:59",
        "./app: /opt/rocm/lib/libamdhip64.so: version `hip_4.2' not found (required by ./app)",
        "[XSCHED ERRO @ T 9 @ 10:00:00.000003] cuda error 700: an illegal memory access @ /x/q.cpp:47",
        "[XSCHED ERRO @ T 9 @ 10:00:00.000004] Assertion failed: failed to send event to server"
        " @ /x/g.cpp:47",
    ]
    f = LogFacts()
    recs = parse_lines(lines)
    f.ingest([LogEntry("a", i, r) for i, r in enumerate(recs, 1)], {"a": app_src("a", 9)})
    probs = f.for_pid(9).problems
    text = "\n".join(probs)
    assert "library not found: libcuda.so" in text
    assert "level fallback: CUDA graph cannot support level-2" in text
    assert "version hip_4.2 not found in /opt/rocm/lib/libamdhip64.so" in text
    assert "assertion failed: failed to send event to server" in text
    assert "2 ERRO lines" in text


def test_bounded_pids_and_handles():
    f = LogFacts(max_pids=3, max_handles=4)
    lines = [f"[XSCHED INFO @ T 1 @ 10:00:00.{i:06d}] XQueue (0x{(7 << 48) | i:x}) from process 7 created"
             for i in range(10)]
    lines += [f"[XSCHED INFO @ T 1 @ 10:00:01.{p:06d}] client process {p} connected, cmdline: x"
              for p in range(100, 105)]
    recs = parse_lines(lines)
    f.ingest([LogEntry("x", i, r) for i, r in enumerate(recs, 1)], {"x": xserver_src()})
    snap = f.snapshot()
    assert set(snap) == {102, 103, 104}  # least recently updated dropped
    g = LogFacts(max_handles=4)
    g.ingest([LogEntry("x", i, r) for i, r in enumerate(recs[:10], 1)], {"x": xserver_src()})
    p7 = g.for_pid(7)
    assert p7.xqueues_created == 10 and len(p7.live_handles) == 4
    assert p7.live_handles[-1] == (7 << 48) | 9


def test_unknown_source_is_ignored(samples):
    f = LogFacts()
    assert not f.ingest(entries(samples / "default-stream" / "xserver.stderr.log", "x"), {})
    assert f.snapshot() == {}


def _reference_ingest(f: LogFacts, entries, sources) -> bool:
    """The per-record fold (every record with an event or an ERRO level goes through _one): what
    ingest's run-at-a-time fast path must be equivalent to."""
    changed = False
    with f._lock:
        for e in entries:
            rec, ev = e.record, e.record.event
            if ev is None and rec.level is not Level.ERRO:
                continue
            info = sources.get(e.source_id)
            if info is not None and f._one(info, rec, ev):
                changed = True
        if changed:
            f.version += 1
    return changed


def _state(f: LogFacts):
    return (dict(f.snapshot()), list(f._procs), list(f._owner.items()), list(f._prio.items()),
            f.version, {p: f._procs[p].last_seen for p in f._procs})


def test_fast_fold_equals_the_per_record_fold(samples):
    """Every sample log (and a synthetic mix with ERRO lines carrying no event, pid-less lines and
    untimed lines), interleaved as hub batches over sources of every kind: same facts, same LRU
    order, same last_seen, same return values, for several batch sizes and a small pid cap."""
    from xsched_tui.core.logparse import LogParser

    logs = sorted([*samples.rglob("*.stderr.log"), *samples.rglob("*.raw.log")])
    streams = [LogParser().feed_many(p.read_bytes().splitlines()) for p in logs]
    streams.append(parse_lines(writer_mix(3000)))
    streams.append(parse_lines(["[XSCHED ERRO @ T 7 @ 00:00:01.000000] boom", "plain line",
                                "[XSCHED INFO @ T 7 @ 00:00:02.000000] hello", "Traceback x",
                                "[ERRO] user error line", "[XSCHED INFO @ T 7 @ 00:00:03.0] bye"]))
    streams.append([parse_line("[XSCHED INFO @ T 9 @ 00:00:01.000000] untimed"),
                    parse_line("[XSCHED ERRO @ T 9 @ 00:00:01.000000] untimed error")])
    kinds = [xserver_src, lambda sid: app_src(sid, None), lambda sid: app_src(sid, 4000)]
    sources = {}
    for i in range(len(streams)):
        sid = f"s{i}"
        k = kinds[i % 3]
        sources[sid] = k(sid) if k is not xserver_src else xserver_src(sid, 1257 if i % 2 else None)
        sources[sid] = SourceInfo(sid, sid, "file", None, None if sources[sid].pid is None
                                  else sources[sid].pid + i, sources[sid].pid_from, sources[sid].role)
    entries_all = []
    pos = [0] * len(streams)
    step = 0
    while any(pos[i] < len(s) for i, s in enumerate(streams)):
        for i, s in enumerate(streams):
            take = 1 + (step * 7 + i * 13) % 157
            part = s[pos[i]:pos[i] + take]
            entries_all += [LogEntry(f"s{i}", pos[i] + k + 1, r) for k, r in enumerate(part)]
            pos[i] += take
        step += 1
    entries_all.append(LogEntry("unknown", 1, streams[0][0]))
    for batch in (1, 10, 997, len(entries_all)):
        for max_pids in (3, 4096):
            a, b = LogFacts(max_pids=max_pids), LogFacts(max_pids=max_pids)
            for i in range(0, len(entries_all), batch):
                chunk = entries_all[i:i + batch]
                assert a.ingest(chunk, sources) == _reference_ingest(b, chunk, sources)
            assert _state(a) == _state(b)


def writer_mix(n: int) -> list[str]:
    """Lines like the benchmarks' writer: 80 % INFO, 15 % DEBG with a source suffix, 4 % WARN
    (auto-XQueue failure), 1 % ERRO (driver error); the clock advances 10 us a line."""
    warn = ("fail to auto-create XQueue (level-4) for HwQueue 0x461c5f70, err: 2 "
            "@ /opt/xsched/preempt/src/xqueue/xqueue.cpp:136")
    erro = "cuda error 700: an illegal memory access was encountered @ /opt/xsched/cuda_queue.cpp:47"
    out = []
    for k in range(n):
        us = 3600_000_000 + 10 * k
        tod = (f"{us // 3600_000_000:02d}:{us // 60_000_000 % 60:02d}:{us // 1_000_000 % 60:02d}."
               f"{us % 1_000_000:06d}")
        r = k % 100
        if r < 80:
            out.append(f"[XSCHED INFO @ T 2001 @ {tod}] bench w={us} seq={k}")
        elif r < 95:
            out.append(f"[XSCHED DEBG @ T 2001 @ {tod}] bench w={us} seq={k} @ /x/y.cpp:1")
        elif r < 99:
            out.append(f"[XSCHED WARN @ T 2001 @ {tod}] {warn}")
        else:
            out.append(f"[XSCHED ERRO @ T 2001 @ {tod}] {erro}")
    return out
