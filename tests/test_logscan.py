"""The compiled scanner of the parser's hot loop (core/_logscan.c) against the Python loop.

LogParser uses the scanner, when it was built, for runs of the three frequent messages (XQueue
created/destroyed, set priority, utilization) and, with lazy=True (the live tail), of unmodelled
XSched INFO/DEBG lines; with it or without it the records must be the same, field for field, lazy
or not, in the same order, whatever the chunking: on every recorded sample, on lines near the
format's edges and on generated streams (hypothesis) around midnight.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xsched_tui.core import logparse as lp
from xsched_tui.core.logparse import LogParser, LogRecord

needs_scanner = pytest.mark.skipif(
    lp._scan is None, reason="the C scanner was not built (no C compiler or Python headers at "
    "install time, or XSCHED_TUI_PURE_PARSER=1): the Python loop is tested everywhere else")

DAY = dt.date(2026, 11, 28)
EAGER = ("kind", "text", "level", "tid", "tod_us", "tag", "fields", "lines", "raw_len",
         "truncated", "lineno", "timestamp", "ansi")


def _run(lines: list, chunk: int, compiled: bool, base_date: dt.date | None = DAY,
         lazy: bool = True) -> list[LogRecord]:
    saved = lp._scan
    if not compiled:
        lp._scan = None
    try:
        p = LogParser(base_date=base_date, lazy=lazy)
        out: list[LogRecord] = []
        for i in range(0, len(lines), chunk):
            out += p.feed_many(lines[i : i + chunk])
        return out + p.flush()
    finally:
        lp._scan = saved


def _shape(recs: list[LogRecord]) -> list[tuple]:
    # the eagerly set fields and the class (lazy or not), read without filling lazy records
    return [(type(r).__name__, *(getattr(r, f) for f in EAGER)) for r in recs]


def _same(lines: list, chunks: tuple[int, ...] = (1, 7, 4096), base_date: dt.date | None = DAY) -> int:
    for lazy in (False, True):  # the eager parser (headless logs, replay) uses the scanner too
        want = _run(lines, 4096, compiled=False, base_date=base_date, lazy=lazy)
        shape = _shape(want)  # (comparing records fills lazy ones in place: take the shape first)
        for chunk in chunks:
            got = _run(lines, chunk, compiled=True, base_date=base_date, lazy=lazy)
            assert _shape(got) == shape, (chunk, lazy)
            assert got == want  # every field, lazy ones filled
    return sum(type(r) is lp._LazyRecord for r in _run(lines, 4096, compiled=True,
                                                          base_date=base_date))


@needs_scanner
def test_every_sample_file_gives_the_same_records(samples: Path) -> None:
    files = sorted([*samples.rglob("*.stderr.log"), *samples.rglob("*.raw.log")])
    assert files
    lazy = 0
    for f in files:
        text = f.read_text(errors="replace").splitlines()
        lazy += _same(text, chunks=(3, 4096))
        raw = f.read_bytes().splitlines(keepends=True)
        lazy += _same(raw, chunks=(4096,))
    assert lazy > 5  # the scanner had work to do (most sample lines carry a modelled event)


LINES = [
    "[XSCHED INFO @ T 58880 @ 09:05:23.278123] launch kernel 1",
    "[INFO @ T58880 @ 09:05:23.278124] launch kernel 2",
    "[XSCHED DEBG @ T 5 @ 09:05:23.5] short fraction",
    "[XSCHED DEBG @ T 5 @ 09:05:23.123456789] long fraction",
    "[XSCHED DEBG @ T 5 @ 09:05:23.1234567891] ten digits: not XSched",
    "[XSCHED INFO @ T 5 @ 09:05:23.000001]",  # no message
    "[XSCHED INFO @ T 5 @ 09:05:23.000001]  two spaces",
    "[XSCHED INFO @ T 5 @ 09:05:23.000002] sync @ /opt/xsched/a.cpp:12",
    "[XSCHED INFO @ T 5 @ 09:05:23.000003] using global scheduler with policy HPF",
    "[XSCHED INFO @ T 5 @ 09:05:23.000004] set priority 3 for XQueue 0x1",
    "[XSCHED INFO @ T 5 @ 09:05:23.000005] XQueue (0x1) from process 7 created",
    "[XSCHED INFO @ T 5 @ 09:05:23.000006] utilization of process (7) set to 50",
    "[XSCHED INFO @ T 5 @ 09:05:23.000007] setx priority",  # a near-key word: unmodelled
    "[XSCHED WARN @ T 5 @ 09:05:23.000008] fail to auto-create XQueue",
    "[XSCHED ERRO @ T 5 @ 09:05:23.000009] cuda error 700: x",
    "[XSCHED INFO @ T " + "9" * 30 + " @ 09:05:23.000010] huge tid",
    "[XSCHED INFO @ T 1 @ 99:99:99.999999] impossible time",
    "[XSCHED INFO @ T 1 @ 9:05:23.000010] one-digit hour: not XSched",
    "[XSCHED INFO @ T @ 09:05:23.000010] no tid",
    "[XSCHED INFO @ 1 @ 09:05:23.000010] no T",
    "[XSCHED INFOX @ T 1 @ 09:05:23.000010] bad level",
    "[XSCHED info @ T 1 @ 09:05:23.000010] lower case",
    "Traceback (most recent call last):",
    "[XSCHED INFO @ T 5 @ 09:05:23.000011] inside a traceback",
    '  File "x.py", line 3, in <module>',
    "ValueError: boom",
    "plain output of the program",
    "[TRACE_KERNEL] name=gemm us=12",
    "",
    "[XSCHED INFO @ T 5 @ 09:05:23.000012] " + "y" * (lp.MAX_PARSE + 5),
    "[XSCHED INFO @ T 5 @ 09:05:23.000013] after the long one",
    "[XSCHED INFO @ T 5 @ 09:05:2x.000013] broken time",
    "[XSCHED INFO @ T 5 @ 09:05:23.000014] caf\u00e9 (not ASCII)",
    "[XSCHED INFO @ T 5 @ 09:05:23.000015] tab\there",
    "[XSCHED INFO @ T 5 @ 09:05:23.000016] last",
    # the three frequent messages (made in C with their events) and near misses
    "[XSCHED INFO @ T 5 @ 09:05:23.000017] XQueue (0x7f3a2c000b70) from process 1603 created",
    "[XSCHED INFO @ T 5 @ 09:05:23.000017] XQueue (7f3a2c000b70) from process (1603) destroyed",
    "[XSCHED WARN @ T 5 @ 09:05:23.000017] XQueue (0xffffffffffffffff) from process 1) created",
    "[XSCHED INFO @ T 5 @ 09:05:23.000017] XQueue (0x1ffffffffffffffff) from process 1 created",
    "[XSCHED INFO @ T 5 @ 09:05:23.000017] XQueue (0x) from process 1 created",
    "[XSCHED INFO @ T 5 @ 09:05:23.000017] XQueue (0X1F) from process 1 created",
    "[XSCHED INFO @ T 5 @ 09:05:23.000017] XQueue (0x1) from process 1 created ",
    "[XSCHED INFO @ T 5 @ 09:05:23.000017] XQueue (0x1) from process 1 created @ /x.cpp:3",
    "[XSCHED INFO @ T 5 @ 09:05:23.000017] XQueue (0x1) from process  1 created",
    "[XSCHED ERRO @ T 5 @ 09:05:23.000018] set priority -3 for XQueue 0xAB",
    "[XSCHED DEBG @ T 5 @ 09:05:23.000018] set priority 3 for XQueue ab",
    "[XSCHED INFO @ T 5 @ 09:05:23.000018] set priority - for XQueue 0x1",
    "[XSCHED INFO @ T 5 @ 09:05:23.000018] set priority 1234567890123456789 for XQueue 0x1",
    "[XSCHED INFO @ T 5 @ 09:05:23.000018] set priority 123456789012345678 for XQueue 0x1",
    "[XSCHED INFO @ T 5 @ 09:05:23.000019] utilization of process (7 set to -50",
    "[XSCHED INFO @ T 5 @ 09:05:23.000019] utilization of process 7 set to 100",
    "[XSCHED INFO @ T 5 @ 09:05:23.000019] utilization of process 7 set to",
]


@needs_scanner
def test_edge_lines_in_every_order_and_chunking() -> None:
    assert _same(LINES, chunks=(1, 2, 5, 4096)) > 5
    assert _same(list(reversed(LINES)), chunks=(1, 3, 4096)) > 5
    assert _same([x.encode() + b"\r\n" for x in LINES], chunks=(1, 4096)) > 5
    assert _same(LINES, base_date=None) > 5  # no date: the clock is not regular, Python loop


@needs_scanner
def test_midnight_and_clock_jumps() -> None:
    def at(tod: str, msg: str = "tick") -> str:
        return f"[XSCHED INFO @ T 1 @ {tod}] {msg}"

    lines = [at("23:59:59.999990"), at("23:59:59.999999"), at("00:00:00.000001"),
             at("23:59:59.999995", "late, from before midnight"), at("00:00:01.000000"),
             at("12:00:01.000001"), at("00:00:02.000000", "12 h back"), at("11:59:59.000000")]
    _same(lines * 3, chunks=(1, 2, 4096))


_TOD = st.builds(lambda h, m, s, f: f"{h:02d}:{m:02d}:{s:02d}.{f}",
                 st.sampled_from([0, 11, 12, 23, 99]), st.integers(0, 59), st.integers(0, 59),
                 st.text("0123456789", min_size=0, max_size=11))
_WORD = st.sampled_from([*list(lp._DISPATCH)[:8], "launch", "sync", "", "XQueueX", "[RESULT]",
                         "caf\u00e9", "a\x1b[0m"])
_LINE = st.builds(
    lambda x, lv, sp, tid, tod, gap, word, rest: f"[{x}{lv} @ T{sp}{tid} @ {tod}]{gap}{word}{rest}",
    st.sampled_from(["XSCHED ", ""]), st.sampled_from(["INFO", "DEBG", "WARN", "ERRO", "INF"]),
    st.sampled_from([" ", ""]), st.text("0123456789", min_size=0, max_size=22), _TOD,
    st.sampled_from([" ", "", "  "]), _WORD, st.text(max_size=20))


@needs_scanner
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_LINE, _LINE, _LINE, st.text(max_size=30)), min_size=1, max_size=40),
       st.integers(1, 9))
def test_generated_streams(lines: list[str], chunk: int) -> None:
    lines = [x.replace("\n", " ").replace("\r", " ") for x in lines]
    for lazy in (False, True):
        want = _run(lines, 4096, compiled=False, lazy=lazy)
        got = _run(lines, chunk, compiled=True, lazy=lazy)
        assert _shape(got) == _shape(want)
        assert got == want


def test_pure_parser_switch() -> None:
    # XSCHED_TUI_PURE_PARSER=1 makes the tail use the Python loop (comparisons, debugging)
    code = ("from xsched_tui.core.logparse import parser_impl; "
            "from xsched_tui.core import logsources, merge; "
            "print(parser_impl(), logsources._entries, merge._key_times, merge._merge_into)")
    env = {**os.environ, "XSCHED_TUI_PURE_PARSER": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["python", "None", "None", "None"]
    assert lp.parser_impl() == ("compiled" if lp._scan is not None else "python")


@needs_scanner
def test_scanner_refuses_bad_input_without_crashing() -> None:
    from xsched_tui.core import _logscan

    out: list = []
    with pytest.raises(TypeError):
        _logscan.scan("not a list", 0, out, 0, 0, 0.0, 0)
    # items that are not str, negative start, a start past the end
    assert _logscan.scan([b"[XSCHED INFO @ T 1 @ 00:00:00.000001] x", 3], 0, out, 0, 0, 0.0, 0) \
        == (0, 0, 0)
    assert _logscan.scan(["[XSCHED INFO @ T 1 @ 00:00:00.000001] x"], -5, out, 0, 0, 0.0, 0) \
        == (1, 1, 1)
    assert _logscan.scan(["x"], 9, out, 4, 0, 0.0, 0) == (9, 4, 0)
    assert len(out) == 1 and out[0].lineno == 1 and out[0].text.endswith("] x")
    with pytest.raises(OverflowError):
        _logscan.scan(["x"], 0, out, 0, 1 << 70, 0.0, 0)


@needs_scanner
def test_compiled_entries_equal_the_python_map() -> None:
    # LogHub._accept's LogEntry tuples: _logscan.entries vs the map over tuple.__new__
    from itertools import count, repeat

    from xsched_tui.core import _logscan
    from xsched_tui.core.logsources import LogEntry

    recs = lp.parse_lines(["[XSCHED INFO @ T 7 @ 10:00:00.000001] a", "plain", "x" * 300])
    for seq0 in (0, 41, (1 << 40) - 1):
        got = _logscan.entries(LogEntry, "src", seq0, recs)
        want = list(map(tuple.__new__, repeat(LogEntry), zip(repeat("src"), count(seq0 + 1), recs)))
        assert got == want and all(type(e) is LogEntry for e in got)
        assert [e.record for e in got] == recs and all(a.record is b for a, b in zip(got, recs, strict=True))
    assert _logscan.entries(LogEntry, "src", 0, []) == []
    with pytest.raises(TypeError):
        _logscan.entries(dict, "src", 0, recs)  # not a tuple subclass
    with pytest.raises(TypeError):
        _logscan.entries(LogEntry, "src", 0, tuple(recs))  # not a list
    with pytest.raises(OverflowError):
        _logscan.entries(LogEntry, "src", 1 << 70, recs)
    before = sys.getallocatedblocks()
    for _ in range(200):
        _logscan.entries(LogEntry, "src", 5, recs)
    assert sys.getallocatedblocks() - before < 50  # nothing leaks per call


def _count_python_lines(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the lines the Python loop (LogParser._run_py) gets from now on: [count]."""
    to_python = [0]
    run_py = LogParser._run_py

    def counted(self, strs, out, extra=0):
        to_python[0] += len(strs)
        return run_py(self, strs, out, extra)

    monkeypatch.setattr(LogParser, "_run_py", counted)
    return to_python


@needs_scanner
def test_a_busy_xserver_log_is_nearly_all_scanned(samples: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # explicit-stream's xserver log: XQueue created/destroyed and set priority lines nearly all
    # of it: the scanner makes their records, the Python loop only the rest
    lines = (samples / "explicit-stream" / "xserver.stderr.log").read_text().splitlines()
    to_python = _count_python_lines(monkeypatch)
    recs = LogParser(base_date=DAY, lazy=True).feed_many(lines)
    assert len(recs) == len(lines) > 500
    assert to_python[0] < 0.05 * len(lines), to_python[0]


@needs_scanner
@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]),
                          st.one_of(st.none(), st.floats(1.7e9, 1.7e9 + 10),
                                    st.integers(0, 10**7).map(lambda k: 1.7e9 + k / 1e6 + 5e-7))),
                min_size=1, max_size=60),
       st.integers(1, 4))
def test_compiled_timeline_keys_equal_the_python_passes(items: list, batches: int) -> None:
    # merge._keyed uses _logscan.key_times for runs whose records all carry a float timestamp
    # (half-way values included: round half to even), else the Python passes, and
    # _logscan.merge_into merges them, else _py_merge_into; the timeline must be the same entry
    # for entry and key for key, batch after batch
    from xsched_tui.core import merge
    from xsched_tui.core.logsources import LogEntry

    entries = []
    for i, (src, ts) in enumerate(items):
        rec = lp.parse_line(f"[XSCHED INFO @ T 1 @ 10:00:00.{i:06d}] x {i}")
        rec = dataclasses.replace(rec, timestamp=ts)
        entries.append(LogEntry(src, i + 1, rec))
    step = max(1, len(entries) // batches)

    def run(compiled: bool) -> list:
        saved = merge._key_times, merge._merge_into
        if not compiled:
            merge._key_times = merge._merge_into = None
        try:
            t = merge.MergedTimeline(maxlen=40)
            for k, i in enumerate(range(0, len(entries), step)):
                batch = entries[i : i + step]
                t.extend(tuple(batch) if k % 2 else batch)  # LogBatch.entries is a tuple
            return [(t.time_us(k), t[k].source_id, t[k].seq) for k in range(len(t))]
        finally:
            merge._key_times, merge._merge_into = saved

    assert merge._key_times is not None and merge._merge_into is not None
    assert run(True) == run(False)


@needs_scanner
def test_a_repeated_warning_is_parsed_once_then_scanned(monkeypatch: pytest.MonkeyPatch) -> None:
    # the Python loop parses a warning (or any dispatched message) in full and caches that parse
    # by text; the scanner makes the repeats' records from the cache, the same records
    warn = "fail to auto-create XQueue (level-4) for HwQueue 0x461c5f70, err: 2 @ /x/xqueue.cpp:136"
    lines = [f"[XSCHED {'WARN' if i % 3 else 'ERRO'} @ T {i % 5} @ 10:00:{i // 1000:02d}."
             f"{i % 1000:06d}] {warn}{' ' * (i % 2)}" for i in range(600)]
    lines += [f"[XSCHED INFO @ T 1 @ 10:00:59.{i:06d}] cuda error {i % 3}: x" for i in range(300)]
    lp._MSG_CACHE.clear()
    to_python = _count_python_lines(monkeypatch)
    got = LogParser(base_date=DAY, lazy=True).feed_many(lines)
    assert to_python[0] < 20, to_python[0]
    monkeypatch.undo()
    lp._MSG_CACHE.clear()
    assert got == _run(lines, 4096, compiled=False)
    assert got[0].src_line == 136 and got[1].src_line is None  # (a trailing space: no suffix)


def _window(keys: list[tuple[int, int, int]]) -> tuple:
    from array import array

    keys = sorted(set(keys))
    return (array("q", [k[0] for k in keys]), array("q", [k[1] for k in keys]),
            array("q", [k[2] for k in keys]), [f"w{k}" for k in keys])


@needs_scanner
@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(-5, 40), st.integers(0, 3), st.integers(0, 30)),
                max_size=30),
       st.lists(st.tuples(st.integers(0, 6), st.lists(st.integers(-8, 50), max_size=12)),
                max_size=6),
       st.booleans())
def test_compiled_merge_into_equals_the_python_merge(window: list, runs: list, full: bool) -> None:
    # the window in key order, a batch of runs (distinct ranks, increasing seqs, sorted times;
    # their keys may collide with the window's only where rank and seq differ) merged both ways
    from array import array

    from xsched_tui.core import _logscan, merge

    results = []
    for fn in (_logscan.merge_into, merge._py_merge_into):
        t, r, s, e = _window(window)
        n = len(e)
        segs = []
        for k, (rank, times) in enumerate(runs):
            times = sorted(times)
            s0 = 100 + 20 * k  # seqs no window entry has: keys stay unique
            segs.append((array("q", times).tobytes() if k % 2 else array("q", times), rank + 10 * k,
                         s0, [f"b{k}.{i}" for i in range(len(times))]))
        m = sum(len(x[3]) for x in segs)
        for a in (t, r, s):
            a.frombytes(bytes(8 * m))
        e.extend([None] * m)
        got = fn(t, r, s, e, n, segs, full)
        results.append((got, list(t), list(r), list(s), list(e)))
    assert results[0] == results[1]
    (_pos, appended, inserted, rejected), t, r, s, e = results[0]
    kept = len(e) - rejected
    keys = list(zip(t[:kept], r[:kept], s[:kept], strict=True))
    assert keys == sorted(keys) and None not in e[:kept] and e[kept:] == [None] * rejected
    assert appended + inserted + rejected == sum(len(x[1]) for x in runs)


@needs_scanner
def test_compiled_merge_into_refuses_bad_input() -> None:
    from array import array

    from xsched_tui.core import _logscan

    t, r, s = array("q", [1, 0]), array("q", [0, 0]), array("q", [0, 0])
    seg = (array("q", [5]), 1, 0, ["x"])
    assert _logscan.merge_into(t, r, s, ["w", None], 1, [seg], False) == (1, 1, 0, 0)
    with pytest.raises(ValueError):  # a placeholder that is not None
        _logscan.merge_into(t, r, s, ["w", "y"], 1, [seg], False)
    with pytest.raises(ValueError):  # no room for the batch
        _logscan.merge_into(t, r, s, ["w"], 1, [seg], False)
    with pytest.raises(ValueError):  # times and entries of different lengths
        _logscan.merge_into(t, r, s, ["w", None], 1, [(array("q", [5, 6]), 1, 0, ["x"])], False)
    with pytest.raises(TypeError):
        _logscan.merge_into(t, r, s, ["w", None], 1, [("no",)], False)
    with pytest.raises((TypeError, BufferError)):  # a read-only window
        _logscan.merge_into(b"\0" * 16, r, s, ["w", None], 1, [seg], False)
    before = sys.getallocatedblocks()
    for _ in range(200):
        e = ["w", None]
        _logscan.merge_into(array("q", [1, 0]), array("q", [0, 0]), array("q", [0, 0]), e, 1,
                            [seg], False)
    assert sys.getallocatedblocks() - before < 50
