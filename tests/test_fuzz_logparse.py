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
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import bundled_samples
from xsched_tui.core.logparse import MAX_PARSE, LogParser, LogRecord, parse_line, parse_lines
from xsched_tui.core.ndjson import record_to_ndjson

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DAY = dt.date(2026, 11, 28)
ANSI = ["\x1b[31m", "\x1b[0m", "\x1b[1;33;40m", "\x1b]0;title\x07", "\x1b[2K", "\x1b[", "\x1b"]
CONTROL = ["\r", "\x00", "\t", "\x0b", "\x7f", "\r\r", "\x1a", "\u2028", "\ufeff", "\ud800"]
NUMBER = re.compile(r"\d+")
SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "docs" / "log-record.schema.json")
                    .read_text())
VALIDATOR = jsonschema.validators.validator_for(SCHEMA)(SCHEMA)


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
                                   "digits", "repeat", "case", "handle"]))
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
                # (up to 4000 digits: beyond Python's 4300-digit int() limit see the xfail below)
                new = ("9" * draw(st.integers(20, 4000)) if op == "huge"
                       else str(draw(st.integers(-(2**70), 2**70))))
                s = s[:m.start()] + new + s[m.end():]
        elif op == "repeat":
            s = s * draw(st.integers(2, 40))
        elif op == "case":
            s = s.swapcase()
        elif op == "handle":  # an XQueue handle of thousands of hex digits
            s = re.sub(r"0x[0-9a-f]+", "0x" + "f" * draw(st.integers(17, 4000)), s, count=1)
    # Digit runs over 4300 (Python's int() limit; reached by cuts, dups and repeats of huge
    # numbers) are the known logparse bug xfailed below: keep the property about the rest.
    return re.sub(r"\d{4001,}", lambda m: m.group()[:4000], s)


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
    _ndjson_ok(rec)


def _keeps_text(rec: LogRecord, line: str) -> None:
    """A printable line is kept as is (a non-printable one shows what a terminal would)."""
    if line.isprintable() and len(line) <= MAX_PARSE:
        assert rec.text == line, (line, rec.text)


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
        _ndjson_ok(r)
    # the same stream in one go, and as feed_many's chunks
    many = LogParser(base_date=DAY)
    got = many.feed_many(lines) + many.flush()
    assert all(not r.message.startswith("(parse error") for r in got)
    again = parse_lines(lines, base_date=DAY)
    assert all(not r.message.startswith("(parse error") for r in again)
    # the live tail's lazy parser: fields are computed when first read
    lazy = LogParser(base_date=DAY, lazy=True)
    for r in lazy.feed_many(lines) + lazy.flush():
        assert not r.message.startswith("(parse error"), r
        _ndjson_ok(r)


def test_huge_thread_id_and_stamp() -> None:
    line = "[XSCHED INFO @ T " + "9" * 5000 + " @ 99:99:99." + "9" * 400 + "] scheduler created"
    for x in (line, line.encode()):
        _ok(parse_line(x), x)
    p = LogParser(base_date=DAY)
    recs = p.feed(line + "\n") + p.feed("[XSCHED INFO @ T 1 @ 23:59:59.999999] x\n") + p.flush()
    assert recs and all(not r.message.startswith("(parse error") for r in recs)


HUGE = "9" * 5000
OVER_LIMIT = [
    "[XSCHED INFO @ T 1602 @ 02:50:12.524903] set priority " + HUGE + " for XQueue 0x1",
    "[XSCHED INFO @ T " + HUGE + " @ 02:50:12.524903] using global scheduler",
]


@pytest.mark.xfail(strict=True, reason=(
    "logparse: a number of more than 4300 digits (Python's int_max_str_digits) in a thread id or "
    "an event field makes int() raise ValueError inside the parser; _safe_parse turns the XSched "
    "line into a PLAIN record whose message is '(parse error: ValueError)' (text kept)"))
@pytest.mark.parametrize("line", OVER_LIMIT, ids=["priority", "thread-id"])
def test_thousands_of_digits_keep_the_xsched_record(line: str) -> None:
    for x in (line, line.encode()):
        rec = parse_line(x)
        assert rec.text == line  # the text is kept even now
        assert not rec.message.startswith("(parse error"), rec.message
        assert rec.kind.value == "XSCHED"


@pytest.mark.xfail(strict=True, reason=(
    "logparse: a stamp with hour >= 24 or minute/second >= 60 is accepted; tod_us, documented as "
    "microseconds since local midnight, then exceeds a day (23:99:99.524903 -> 88839524903)"))
@pytest.mark.parametrize("stamp", ["24:50:12.524903", "23:99:99.524903", "99:99:99.999999"])
def test_stamp_out_of_range_is_not_a_time_of_day(stamp: str) -> None:
    rec = parse_line(f"[XSCHED INFO @ T 1602 @ {stamp}] using global scheduler")
    assert rec.tod_us is None or 0 <= rec.tod_us < 86_400 * 10**6, rec.tod_us


def _ndjson_ok(rec: LogRecord) -> None:
    line = record_to_ndjson(rec, {"label": "fuzz", "pid": 1, "path": "fuzz.log"})
    assert "\n" not in line
    VALIDATOR.validate(json.loads(line))


@FUZZ
@given(mutated())
def test_mutated_lines_as_ndjson(line: str) -> None:
    """What ``xsched-tui logs --json`` prints: one valid line per record, whatever the input."""
    _ndjson_ok(parse_line(line))
    p = LogParser(base_date=DAY)
    for rec in p.feed(line + "\n") + p.flush():
        _ndjson_ok(rec)


def test_found_by_fuzzing_ndjson() -> None:
    """A 3700-hex-digit XQueue handle made json.dumps raise (an int over 4300 decimal digits), and
    a 99:99:99 stamp gave a tod outside the schema's HH:MM:SS pattern."""
    line = "[XSCHED INFO @ T 1593 @ 99:99:99.247112] XQueue (0x" + "f" * 3700 + ") from process 1 created"
    _ndjson_ok(parse_line(line))
    obj = json.loads(record_to_ndjson(parse_line(line)))
    assert obj["tod"] is None and obj["event"]["handle"] is None and obj["text"] == line


def test_cli_logs_json_on_mutated_lines(tmp_path: Path) -> None:
    lines = [REAL[i % len(REAL)] for i in range(0, 400, 7)] if REAL else []
    lines += ["[XSCHED INFO @ T 1593 @ 02:50:17.247112] XQueue (0x" + "f" * 3700 + ") from process 1 created",
              "[XSCHED INFO @ T 1 @ 99:99:99.999999] x", "[XSCHED\x1b[ INFO @ T 1 @ 02:50:12.5] \r\x00y",
              "[XSCHED INFO @ T " + "9" * 5000 + " @ 02:50:12.524903] using global scheduler"]
    f = tmp_path / "fuzz.stderr.log"
    f.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass") + b"\xff\xfe garbage\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("XSCHED")}
    done = subprocess.run([sys.executable, "-m", "xsched_tui", "logs", "--json", str(f)],
                          capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    out = done.stdout.splitlines()
    assert len(out) == len(lines)  # (the garbage bytes end the last line)
    for ln in out:
        VALIDATOR.validate(json.loads(ln))
