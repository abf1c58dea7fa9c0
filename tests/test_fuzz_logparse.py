"""Fuzzing the log parser with structured mutations of REAL XSched lines (the bundled H100 samples).

Each real line is cut at random points, gets random bytes, ANSI sequences, CR and NUL inserted,
fields duplicated, and huge numbers for the thread id and the time stamp; it then goes through
every public entry point (``parse_line`` with str and bytes, ``LogParser.feed``/``feed_many``/
``flush``, ``parse_lines``). Nothing raises, no record hides a parser failure behind
"(parse error: ...)", and every record keeps the line's text.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import bundled_samples
from xsched_tui.core.logparse import MAX_PARSE, LogParser, LogRecord, parse_line, parse_lines

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DAY = dt.date(2026, 11, 28)
ANSI = ["\x1b[31m", "\x1b[0m", "\x1b[1;33;40m", "\x1b]0;title\x07", "\x1b[2K", "\x1b[", "\x1b"]
CONTROL = ["\r", "\x00", "\t", "\x0b", "\x7f", "\r\r", "\x1a", "\u2028", "\ufeff", "\ud800"]
NUMBER = re.compile(r"\d+")


def _real_lines() -> list[str]:
    root = bundled_samples()
    out: dict[str, None] = {}
    for f in sorted(root.rglob("*.log")):
        for line in f.read_text(encoding="utf-8", errors="replace").splitlines():
            if "XSCHED" in line or "Traceback" in line or "Error" in line:
                out.setdefault(line)
    return list(out)


REAL = _real_lines()
pytestmark = pytest.mark.skipif(not REAL, reason="recorded XSched samples not found")


@st.composite
def mutated(draw: st.DrawFn) -> str:
    s = draw(st.sampled_from(REAL or ["[XSCHED INFO @ T 1 @ 00:00:00.000000] x"]))
    for _ in range(draw(st.integers(1, 5))):
        op = draw(st.sampled_from(["cut", "cut-head", "insert", "ansi", "control", "dup", "huge",
                                   "digits", "repeat", "case"]))
        i = draw(st.integers(0, len(s)))
        if op == "cut":
            s = s[:i]
        elif op == "cut-head":
            s = s[i:]
        elif op == "insert":
            s = s[:i] + draw(st.text(max_size=6)) + s[i:]
        elif op == "ansi":
            s = s[:i] + draw(st.sampled_from(ANSI)) + s[i:]
        elif op == "control":
            s = s[:i] + draw(st.sampled_from(CONTROL)) + s[i:]
        elif op == "dup" and s:  # a field written twice: "@ T 12 @ T 12 @", "] msg] msg"
            j = draw(st.integers(0, len(s)))
            a, b = min(i, j), max(i, j)
            s = s[:b] + s[a:b] + s[b:]
        elif op in ("huge", "digits"):  # the thread id / stamp / handle replaced by a huge number
            nums = list(NUMBER.finditer(s))
            if nums:
                m = draw(st.sampled_from(nums))
                new = ("9" * draw(st.integers(20, 5000)) if op == "huge"
                       else str(draw(st.integers(-(2**70), 2**70))))
                s = s[:m.start()] + new + s[m.end():]
        elif op == "repeat":
            s = s * draw(st.integers(2, 40))
        elif op == "case":
            s = s.swapcase()
    return s


def _to_bytes(s: str, junk: bytes) -> bytes:
    b = s.encode("utf-8", "surrogatepass")
    mid = len(b) // 2
    return b[:mid] + junk + b[mid:]


def _ok(rec: LogRecord, line: str | bytes) -> None:
    assert isinstance(rec, LogRecord)
    assert not rec.message.startswith("(parse error"), (line, rec)  # a parser failure, hidden
    assert isinstance(rec.text, str) and "\n" not in rec.text
    assert len(rec.text) <= MAX_PARSE + 100
    assert rec.raw_len == len(line)
    for v in (rec.timestamp,):
        assert v is None or math.isfinite(v)
    assert rec.tod_us is None or 0 <= rec.tod_us < 86_400 * 10**6, rec
    json.dumps(rec.to_json())


def _keeps_text(rec: LogRecord, line: str) -> None:
    """A printable line is kept as is; otherwise the record shows what a terminal would."""
    if line.isprintable() and len(line) <= MAX_PARSE:
        assert rec.text == line, (line, rec.text)
    else:
        visible = re.sub(r"\x1b\[[0-9;]*[A-Za-z]?|\x1b\][^\x07]*\x07?|[^\w]", "", line.split("\r")[-1])
        kept = re.sub(r"[^\w]", "", rec.text)
        assert visible[:40] == "" or visible[:20] in kept or len(line) > MAX_PARSE, (line, rec.text)


@FUZZ
@given(mutated())
def test_mutated_real_lines_as_str(line: str) -> None:
    rec = parse_line(line)
    _ok(rec, line)
    if "\ud800" not in line:
        _keeps_text(rec, line)


@FUZZ
@given(mutated(), st.binary(max_size=8))
def test_mutated_real_lines_as_bytes(line: str, junk: bytes) -> None:
    data = _to_bytes(line, junk)
    _ok(parse_line(data), data)


@settings(FUZZ, max_examples=100)
@given(st.lists(st.one_of(mutated(), st.tuples(mutated(), st.binary(max_size=6))), min_size=1,
                max_size=12))
def test_mutated_streams_through_the_stateful_parser(items: list) -> None:
    lines: list[str | bytes] = [x if isinstance(x, str) else _to_bytes(*x) for x in items]
    p = LogParser(base_date=DAY)
    recs: list[LogRecord] = []
    for ln in lines:
        recs += p.feed(ln + ("\n" if isinstance(ln, str) else b"\n"))  # type: ignore[operator]
    recs += p.flush()
    for r in recs:
        assert not r.message.startswith("(parse error"), r
        assert r.timestamp is None or math.isfinite(r.timestamp)
        json.dumps(r.to_json())
    # the same stream in one go, and as feed_many's chunks
    many = LogParser(base_date=DAY)
    got = many.feed_many(lines) + many.flush()
    assert all(not r.message.startswith("(parse error") for r in got)
    again = parse_lines(lines, base_date=DAY)
    assert all(not r.message.startswith("(parse error") for r in again)


def test_huge_thread_id_and_stamp() -> None:
    line = "[XSCHED INFO @ T " + "9" * 5000 + " @ 99:99:99." + "9" * 400 + "] scheduler created"
    for x in (line, line.encode()):
        _ok(parse_line(x), x)
    p = LogParser(base_date=DAY)
    recs = p.feed(line + "\n") + p.feed("[XSCHED INFO @ T 1 @ 23:59:59.999999] x\n") + p.flush()
    assert recs and all(not r.message.startswith("(parse error") for r in recs)
