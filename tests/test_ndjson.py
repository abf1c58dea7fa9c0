"""ndjson.py: the `logs --json` objects, their schema, golden lines and bad-input messages."""

from __future__ import annotations

import json
import os
import time
from datetime import date
from pathlib import Path

import jsonschema
import pytest

from xsched_tui.core.logparse import Kind, LogParser, parse_line
from xsched_tui.core.logsources import LogEntry, SourceInfo
from xsched_tui.core.ndjson import (
    PathError,
    PathRecord,
    iter_paths_records,
    record_to_ndjson,
    to_ndjson_obj,
)

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "docs" / "log-record.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
DAY = date(2026, 11, 28)


@pytest.fixture
def utc(monkeypatch):
    """Golden times need a fixed zone: the parser and the ISO output use local time."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def lines_of(paths, **kw) -> list[str]:
    return [record_to_ndjson(x) for x in iter_paths_records(paths, **kw)]


def test_schema_is_valid_and_lists_every_parser_kind():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$id"] == "xsched-tui/log-record/v1"
    kinds = SCHEMA["$defs"]["record"]["properties"]["kind"]["enum"]
    assert sorted(kinds) == sorted(k.value for k in Kind)


def test_every_line_of_the_bundled_run_validates(samples, tmp_path):
    (tmp_path / "junk.log").write_bytes(bytes(range(32)) * 8)  # mostly control bytes
    out = lines_of([samples, tmp_path / "missing.log", tmp_path / "junk.log"], base_date=DAY)
    records = errors = 0
    for line in out:
        obj = json.loads(line)
        VALIDATOR.validate(obj)
        if "error" in obj:
            errors += 1
        else:
            records += 1
    assert errors == 2
    # 1445 lines in the 14 *.log files of the recording, one record each (no tracebacks there)
    assert records == 1445


def test_merged_by_time_across_files_with_untimed_lines_first(samples):
    recs = [x for x in iter_paths_records([samples / "default-stream"], base_date=DAY)]
    assert all(isinstance(x, PathRecord) for x in recs)
    order = [(x.source.label, x.record.lineno) for x in recs]
    assert order == [
        ("local-hpf", 1), ("example-app-local-hpf", 1), ("example-app-local-hpf", 2),
        ("xserver", 1), ("xserver", 2), ("xserver", 3), ("xserver", 4), ("glb-bg-prio0", 1),
        ("xserver", 5), ("glb-fg-prio1", 1), ("xserver", 6), ("xserver", 7), ("xserver", 8),
    ]
    ts = [x.record.timestamp for x in recs]
    assert ts == sorted(ts)
    # a folder given twice, or a file inside a given folder, is read once
    again = list(iter_paths_records([samples / "default-stream",
                                     samples / "default-stream" / "xserver.stderr.log"]))
    assert len(again) == len(recs)


GOLDEN = [
    '{"v":1,"source":"preload_missing_file","pid":1366,'
    '"path":"<S>/misconfigured/preload_missing_file.stderr.log","lineno":1,"time":null,"tod":null,'
    '"kind":"LOADER","level":"ERRO","tid":null,"message":"ERROR: ld.so: object '
    "'<install>/lib/libshimnothere.so' from LD_PRELOAD cannot be preloaded (cannot open shared "
    'object file): ignored.","event":{"type":"loader_error","problem":"cannot_preload",'
    '"library":"<install>/lib/libshimnothere.so","detail":"cannot open shared object file",'
    '"required_by":null,"program":null},"tag":null,"fields":{},"text":"ERROR: ld.so: object '
    "'<install>/lib/libshimnothere.so' from LD_PRELOAD cannot be preloaded (cannot open shared "
    'object file): ignored.","truncated":false,"src_file":null,"src_line":null}',
    '{"v":1,"source":"tty-stderr-with-colour","pid":1435,'
    '"path":"<S>/misconfigured/tty-stderr-with-colour.raw.log","lineno":1,'
    '"time":"2026-11-28T02:50:02.393997+00:00","tod":"02:50:02.393997","kind":"XSCHED",'
    '"level":"INFO","tid":1435,"message":"using local scheduler with policy HPF",'
    '"event":{"type":"scheduler_chosen","scheduler":"local","policy":"HPF"},"tag":null,'
    '"fields":{},"text":"[XSCHED INFO @ T 1435 @ 02:50:02.393997] using local scheduler with '
    'policy HPF","truncated":false,"src_file":null,"src_line":null}',
    '{"v":1,"source":"level4_invalid","pid":1262,"path":"<S>/misconfigured/level4_invalid.stderr.log",'
    '"lineno":2,"time":"2026-11-28T02:49:26.017870+00:00","tod":"02:49:26.017870","kind":"XSCHED",'
    '"level":"WARN","tid":1262,"message":"fail to auto-create XQueue (level-4) for HwQueue '
    '0x461c5f70, err: 2","event":{"type":"auto_xqueue_failed","level":4,"hwqueue":1176264560,'
    '"err":2,"message":"fail to auto-create XQueue (level-4) for HwQueue 0x461c5f70, err: 2"},'
    '"tag":null,"fields":{},"text":"[XSCHED WARN @ T 1262 @ 02:49:26.017870] fail to auto-create '
    'XQueue (level-4) for HwQueue 0x461c5f70, err: 2 @ /opt/xsched/preempt/src/xqueue/xqueue.cpp:136",'
    '"truncated":false,"src_file":"/opt/xsched/preempt/src/xqueue/xqueue.cpp","src_line":136}',
    '{"v":1,"source":"xserver","pid":1257,"path":"<S>/explicit-stream/xserver.stderr.log",'
    '"lineno":6,"time":"2026-11-28T02:34:23.501141+00:00","tod":"02:34:23.501141","kind":"XSCHED",'
    '"level":"INFO","tid":1259,"message":"XQueue (0x4f4000031981b00) from process 1268 created",'
    '"event":{"type":"xqueue_created","handle":356910271301163776,"pid":1268},"tag":null,'
    '"fields":{},"text":"[XSCHED INFO @ T 1259 @ 02:34:23.501141] XQueue (0x4f4000031981b00) '
    'from process 1268 created","truncated":false,"src_file":null,"src_line":null}',
]


def test_golden_lines(samples, utc):
    files = ["misconfigured/preload_missing_file.stderr.log",
             "misconfigured/tty-stderr-with-colour.raw.log",  # ANSI colour + CRLF on disk
             "misconfigured/level4_invalid.stderr.log",
             "explicit-stream/xserver.stderr.log"]
    out = lines_of([samples / f for f in files], base_date=DAY)
    got = {}
    for line in out:
        obj = json.loads(line)
        got.setdefault((obj["source"], obj["lineno"]), line.replace(str(samples), "<S>"))
    for g in GOLDEN:
        obj = json.loads(g)
        assert got[(obj["source"], obj["lineno"])] == g
    assert out[0].startswith('{"v":1,"source":"preload_missing_file"')  # untimed: first


def test_missing_paths_and_bad_inputs_give_messages_not_exceptions(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("hello\n")
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "zeros.log").write_bytes(b"\x00" * 100)
    (logs / "noise.log").write_bytes(bytes(range(1, 32)) * 50)
    (logs / "dead.log").symlink_to(tmp_path / "gone")
    os.mkfifo(logs / "pipe.log")  # must never be opened (it would block)
    (logs / "ok.log").write_text("[XSCHED INFO @ T 7 @ 01:02:03.000004] using global scheduler\n")
    items = list(iter_paths_records([tmp_path / "nope.log", tmp_path / "empty",
                                     tmp_path / "notes", logs], base_date=DAY))
    errs = {Path(e.path).name: e for e in items if isinstance(e, PathError)}
    assert errs["nope.log"].code == "not_found"
    assert str(errs["nope.log"]) == f"{tmp_path / 'nope.log'}: no such file or directory"
    assert errs["empty"].code == "no_logs" and "no *.log files" in errs["empty"].message
    assert "1 other file(s)" in errs["notes"].message
    assert errs["zeros.log"].code == "binary"
    assert errs["noise.log"].code == "binary"
    assert errs["dead.log"].code == "unreadable"
    assert errs["pipe.log"].code == "not_a_file"
    recs = [x for x in items if isinstance(x, PathRecord)]
    assert [r.record.message for r in recs] == ["using global scheduler"]
    assert recs[0].source.pid == 7  # main-thread tid of the scheduler line
    for x in items:
        VALIDATOR.validate(json.loads(record_to_ndjson(x)))
    # a named FIFO given directly is refused the same way
    (e,) = iter_paths_records(logs / "pipe.log")
    assert isinstance(e, PathError) and e.code == "not_a_file" and "FIFO" in e.message


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a chmod 000 file")
def test_unreadable_file(tmp_path):
    p = tmp_path / "secret.log"
    p.write_text("x\n")
    p.chmod(0)
    (e,) = iter_paths_records([p])
    assert e.code == "unreadable" and "secret.log" in e.message


def test_pathological_lines_are_capped_and_encodable(tmp_path):
    p = tmp_path / "huge.log"
    with open(p, "wb") as f:
        f.write(b"[XSCHED INFO @ T 1 @ 00:00:01.000000] " + b"x" * (2 << 20) + b"\n")
        f.write(b"tail \xff\xfe invalid utf-8\n")
    recs = list(iter_paths_records([p], base_date=DAY))
    assert [type(r) for r in recs] == [PathRecord, PathRecord]
    big = json.loads(record_to_ndjson(recs[0]))
    assert big["truncated"] is True and len(big["text"]) <= 10_000
    assert big["tod"] == "00:00:01.000000"
    assert "\ufffd" in json.loads(record_to_ndjson(recs[1]))["text"]


def test_plain_records_and_hub_style_sources():
    rec = parse_line("[XSCHED INFO @ T 22828 @ 15:16:11.706551] using app-managed scheduler", 3)
    obj = to_ndjson_obj(rec)
    VALIDATOR.validate(obj)
    assert (obj["source"], obj["pid"], obj["path"], obj["time"]) == (None, None, None, None)
    assert obj["tod"] == "15:16:11.706551" and obj["lineno"] == 3
    # any object with label/pid/path (a hub SourceInfo), or a mapping
    dated = LogParser(base_date=DAY).feed("[INFO @ T22828 @ 15:16:11.706551] using global scheduler")[0]
    obj = to_ndjson_obj(dated, {"label": "app", "pid": 22828, "path": "/x/app.log"})
    VALIDATOR.validate(obj)
    assert obj["time"].startswith("2026-11-28T15:16:11.706551")
    assert (obj["source"], obj["pid"], obj["path"]) == ("app", 22828, "/x/app.log")
    # a grouped traceback keeps its lines
    p = LogParser(base_date=DAY)
    recs = p.feed_many(["Traceback (most recent call last):", '  File "a.py", line 1, in <module>',
                        "RuntimeError: boom"]) + p.flush()
    obj = json.loads(record_to_ndjson(recs[0], {"label": "py"}))
    VALIDATOR.validate(obj)
    assert obj["kind"] == "TRACEBACK" and len(obj["lines"]) == 3


def test_hub_entries_with_their_source_info():
    rec = LogParser(base_date=DAY).feed("[XSCHED INFO @ T 9 @ 01:00:00.000001] using global scheduler")[0]
    entry = LogEntry("file:1", 1, rec)
    info = SourceInfo("file:1", "app", "file", "/logs/app.log", 9, "content")
    obj = json.loads(record_to_ndjson(entry, info))
    VALIDATOR.validate(obj)
    assert (obj["source"], obj["pid"], obj["path"], obj["lineno"]) == ("app", 9, "/logs/app.log", 1)


def test_lone_surrogates_fall_back_to_ascii_escapes():
    rec = parse_line("ok")
    line = record_to_ndjson(rec, {"label": "bad\udcff"})
    line.encode("utf-8")  # always writable
    assert json.loads(line)["source"] == "bad\udcff"
