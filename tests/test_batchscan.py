"""The live log path's fast paths for lazy records (batchscan.py, LogBatch.scan): the hub, LogFacts
and LogModel give the same results whether the records are lazy or eager and whether the batch
carries its scan or not, and the lazy records stay unparsed all the way."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from itertools import groupby

import pytest

from xsched_tui.core.batchscan import BatchScan, eager_positions, scan_entries, source_runs
from xsched_tui.core.logfacts import LogFacts
from xsched_tui.core.logmodel import LogModel
from xsched_tui.core.logparse import Level, LogParser, LogRecord, _LazyRecord
from xsched_tui.core.logsources import LogBatch, LogEntry, LogHub

DAY = dt.date(2026, 11, 28)
WARN = ("fail to auto-create XQueue (level-4) for HwQueue 0x461c5f70, err: 2 "
        "@ /opt/xsched/preempt/src/xqueue/xqueue.cpp:136")


def xl(tid: int, msg: str, level: str, us: int) -> bytes:
    s, u = divmod(us, 1_000_000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    return f"[XSCHED {level} @ T {tid} @ {h:02d}:{m:02d}:{s:02d}.{u:06d}] {msg}".encode()


def synthetic(pid: int, n: int, seed: int) -> list[bytes]:
    """A busy process's stderr: mostly plain INFO/DEBG lines (lazy), warnings, errors, typed
    events, untimed lines, tracebacks, loader errors, and times that race backwards."""
    rnd = random.Random(seed)
    t = 3_600_000_000 + seed * 1000
    out: list[bytes] = []
    for j in range(n):
        t += rnd.choice((0, 0, 1, 5, 40, -3))
        r = rnd.random()
        if r < 0.8:
            out.append(xl(pid, f"bench seq={j}", "INFO", t))
        elif r < 0.93:
            out.append(xl(pid, f"bench seq={j} @ /x/y.cpp:1", "DEBG", t))
        elif r < 0.96:
            out.append(xl(pid, WARN, "WARN", t))
        elif r < 0.97:
            out.append(xl(pid, f"cuda error {700 + j % 3}: boom", "ERRO", t))
        elif r < 0.975:
            out.append(xl(pid, "using local scheduler with policy HPF", "INFO", t))
        elif r < 0.98:
            out.append(xl(pid, f"XQueue (0x{j:x}) from process {pid} created", "INFO", t))
        elif r < 0.985:
            out.append(b"plain untimed line %d" % j)
        elif r < 0.99:
            out += [b"Traceback (most recent call last):", b'  File "a.py", line 1, in <module>',
                    b"ValueError: x%d" % (j % 4)]
        elif r < 0.995:
            out.append(b"x: symbol lookup error: libx.so: undefined symbol: a")
        else:
            out.append(xl(pid, f"set priority {j % 5} for XQueue 0x{j:x}", "INFO", t))
    return out


@pytest.fixture
def streams(samples) -> list[list[bytes]]:
    logs = sorted([*samples.rglob("*.stderr.log"), *samples.rglob("*.raw.log")])
    out = [p.read_bytes().splitlines() for p in logs]
    out += [synthetic(2000 + k, 1500, k) for k in range(4)]
    # a source whose first lines carry no time
    out.append([b"untimed first", b"untimed second"]
               + [xl(77, f"m{j}", "INFO", 3_600_000_000 + j) for j in range(200)])
    return out


def run_path(streams, *, lazy: bool, scan: bool, max_undelivered: int = 50_000,
             merged_max: int = 3000, steps=(1, 7, 156, 500)):
    """Feed the streams through hub._accept in shuffled rounds of varying sizes, deliver every
    other round, and fold the batches into LogFacts and LogModel; everything observable."""
    batches: list[LogBatch] = []
    hub = LogHub(None, max_undelivered=max_undelivered)
    hub.stop()  # no worker: batches are delivered by hand
    hub.on_batch = batches.append
    infos = [hub.add_stream(f"s{i}", pid=None if i % 3 == 1 else 3000 + i)
             for i in range(len(streams))]
    parsers = [LogParser(base_date=DAY, lazy=lazy) for _ in streams]
    model = LogModel(merged_max=merged_max, per_source_max=3000, total_max=20_000)
    facts = LogFacts(max_pids=40)
    rnd = random.Random(1)
    pos = [0] * len(streams)
    got: list = []
    delivered: list[LogRecord] = []
    one_by_one = LogFacts(max_pids=40)  # the reference: every entry its own batch

    def deliver(now: float) -> None:
        hub._last_delivery = 0.0
        hub._changed = True
        hub._deliver(now)
        while batches:
            b = batches.pop(0)
            if b.scan is not None:  # the hub's scan is the batch's
                assert b.scan == scan_entries(b.entries)
            if not scan:
                b = dataclasses.replace(b, scan=None)
            delivered.extend(e.record for e in b.entries)
            infos = {s.id: s for s in b.sources}
            for e in b.entries:
                one_by_one.ingest([e], infos)
            got.append((facts.ingest(b.entries, {s.id: s for s in b.sources}, b.scan),
                        facts.version, model.ingest(b), b.skipped))

    rounds = 0
    while any(pos[i] < len(s) for i, s in enumerate(streams)):
        order = list(range(len(streams)))
        rnd.shuffle(order)
        for i in order:
            st = rnd.choice(steps)
            chunk = streams[i][pos[i]:pos[i] + st]
            pos[i] += st
            if chunk:
                hub._accept(hub._sources[infos[i].id], parsers[i].feed_many(chunk), 1.0)
        rounds += 1
        if rounds % 2 == 0:
            deliver(5.0 + rounds)
    for i, p in enumerate(parsers):
        hub._accept(hub._sources[infos[i].id], p.flush(), 1.0)
    deliver(1e6)
    n_lazy = sum(type(r) is _LazyRecord for r in delivered)
    assert dict(facts.snapshot()) == dict(one_by_one.snapshot())
    assert list(facts._procs) == list(one_by_one._procs)
    state = {
        "results": got,
        "hub": [(s.info, s.lines, s.warnings, s.errors, s.truncated, s.dropped, s.last_event,
                 s.seq, len(s.ring), s.pid_guess) for s in hub._sources.values()],
        "book": hub._book.all(),
        "timeline": [(e.source_id, e.seq, model.timeline.time_us(i))
                     for i, e in enumerate(model.timeline)],
        "lists": {k: (len(v), v.trimmed) for k, v in model.per_source.items()},
        "facts": dict(facts.snapshot()),
        "facts_order": list(facts._procs),
        "priorities": dict(facts.priorities()),
        "headlines": sorted(model.headlines.items()),
        "verdicts": (dict(model.scheduler_of), dict(model.xqueues_by_pid)),
        "texts": [r.text for r in delivered],
    }
    return state, n_lazy


@pytest.mark.parametrize("merged_max, max_undelivered", [(3000, 50_000), (100_000, 400)])
def test_lazy_and_eager_records_give_the_same_hub_facts_and_model(streams, merged_max,
                                                                  max_undelivered):
    """Counters, headlines, pid attribution, facts, timeline order, per-process lists and
    verdicts are those of the eager records, with and without the hub's scan; with a small
    outbox (the oldest undelivered entries dropped) the scan is trimmed with it."""
    want, n = run_path(streams, lazy=False, scan=False, merged_max=merged_max,
                       max_undelivered=max_undelivered)
    assert n == 0
    got, n_lazy = run_path(streams, lazy=True, scan=True, merged_max=merged_max,
                           max_undelivered=max_undelivered)
    # the lazy records were never parsed on the way (the point of the fast paths)...
    assert n_lazy > len(got["texts"]) // 2
    # ...and nothing differs
    assert got == want
    assert run_path(streams, lazy=True, scan=False, merged_max=merged_max,
                    max_undelivered=max_undelivered)[0] == want
    if max_undelivered < 1000:
        assert sum(r[3] for r in want["results"]) > 0  # the outbox did drop entries


def test_eager_positions_and_source_runs_match_the_plain_definitions():
    p = LogParser(base_date=DAY, lazy=True)
    recs = p.feed_many(synthetic(5, 3000, 3)) + p.flush()
    rnd = random.Random(2)
    for _ in range(200):
        a = rnd.randrange(len(recs))
        sub = recs[a:a + rnd.choice((1, 5, 64, 65, 300))]
        assert eager_positions(sub) == [i for i, r in enumerate(sub) if type(r) is not _LazyRecord]
    assert eager_positions([]) == []

    class Other(LogRecord):  # records not made by LogParser: the general pass
        pass

    mixed = [recs[0], Other(kind=recs[0].kind, text="x"), *recs[1:40]]
    assert eager_positions(mixed) == [i for i, r in enumerate(mixed) if type(r) is not _LazyRecord]

    sids = [rnd.choice("abc") for _ in range(500)]
    entries = [LogEntry(s, i, recs[i]) for i, s in enumerate(sids)]
    want, at = [], 0
    for k, g in groupby(sids):
        n = len(list(g))
        want.append((k, at, at + n))
        at += n
    assert source_runs(entries) == want
    assert source_runs([]) == []
    assert scan_entries(entries) == BatchScan(want, eager_positions(recs[:500]))


def test_lazy_records_are_never_warnings_errors_or_facts():
    """What the fast paths rely on: the parser makes lazy records only of XSched INFO/DEBG
    lines that are not truncated, carry no tag or fields, and whose event is Other."""
    p = LogParser(base_date=DAY, lazy=True)
    recs = p.feed_many(synthetic(9, 3000, 4)) + p.flush()
    lazy = [r for r in recs if type(r) is _LazyRecord]
    assert len(lazy) > 2000
    for r in lazy:
        assert r.level in (Level.INFO, Level.DEBG) and not r.truncated
        assert r.tag is None and r.fields == () and r.lines == ()
    assert {type(r.event).__name__ for r in lazy} == {"Other"}  # (fills them)
