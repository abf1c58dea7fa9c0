"""Golden and property tests of core/logparse.py (FACTS §1, FIELD-NOTES §3, the H100 samples)."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import pickle
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xsched_tui.core.logparse import (
    EVENT_TYPES,
    MAX_GROUP_LINES,
    MAX_PARSE,
    AssertionFailed,
    AutoXQueueFailed,
    ClientClosed,
    ClientConnected,
    CustomPattern,
    DriverError,
    Event,
    HttpListening,
    Kind,
    Level,
    LevelFallback,
    LibraryNotFound,
    LoaderError,
    LogParser,
    LogRecord,
    Other,
    PolicyChanged,
    PriorityOverridden,
    PrioritySet,
    Result,
    SchedulerChosen,
    ServerPolicy,
    UtilizationSet,
    XQueueCreated,
    XQueueDestroyed,
    parse_line,
    parse_lines,
)

ESC = "\x1b"
FIELD_NOTES = Path(__file__).resolve().parent.parent.parent / "shared" / "xsched" / "FIELD-NOTES.md"
DAY = dt.date(2026, 11, 28)  # the day the H100 samples were recorded
# XSched messages of the samples that no event models (they say nothing a monitor acts on).
KNOWN_OTHER = {"pidfd_open is supported, using pidfd_wait method", "events receiver started"}
XSCHED_LOOKING = re.compile(r"\[(?:XSCHED )?(?:ERRO|WARN|INFO|DEBG) @ T ?\d+ @ "
                            r"|XSCHED (?:ERRO|WARN|INFO|DEBG)")


def local_epoch(day: dt.date, tod_us: int) -> float:
    s, us = divmod(tod_us, 1_000_000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    return dt.datetime.combine(day, dt.time(h, m, s, us)).timestamp()


def sample_logs(samples: Path) -> list[Path]:
    return sorted([*samples.rglob("*.stderr.log"), *samples.rglob("*.raw.log")])


def parse_file(path: Path) -> list[LogRecord]:
    return parse_lines(path.read_bytes().splitlines(keepends=True), base_date=DAY)


def events(recs, cls):
    return [r.event for r in recs if isinstance(r.event, cls)]


# ---------------------------------------------------------------------------------------------
# Real recorded logs


def test_every_sample_line_parses_and_no_xsched_line_is_left_unrecognised(samples: Path) -> None:
    files = sample_logs(samples)
    assert len(files) >= 14
    total = 0
    for f in files:
        data = f.read_bytes()
        recs = parse_file(f)
        assert len(recs) == len(data.splitlines()), f
        assert [r.lineno for r in recs] == list(range(1, len(recs) + 1))
        for r in recs:
            total += 1
            assert "(parse error" not in r.message, (f, r)
            assert "\r" not in r.text and ESC not in r.text and "\n" not in r.text
            if r.kind is Kind.PLAIN:
                assert not XSCHED_LOOKING.search(r.text), (f, r.text)
            if r.kind is Kind.XSCHED:
                assert r.level is not None and r.tid is not None and r.tod_us is not None
                assert r.timestamp is not None and r.event is not None
                if isinstance(r.event, Other):
                    assert r.message in KNOWN_OTHER, (f, r.message)
            json.dumps(r.to_json())
    assert total >= 1400


def test_bytes_and_str_input_agree_on_every_sample_line(samples: Path) -> None:
    for f in sample_logs(samples):
        for raw in f.read_bytes().splitlines(keepends=True):
            a, b = parse_line(raw), parse_line(raw.decode())
            assert a == b


def test_default_stream_xserver(samples: Path) -> None:
    recs = parse_file(samples / "default-stream" / "xserver.stderr.log")
    assert [type(r.event) for r in recs] == [ServerPolicy, Other, Other, HttpListening, ClientConnected,
                                            ClientConnected, ClientClosed, ClientClosed]
    assert recs[0].event == ServerPolicy("HPF")
    assert recs[3].event == HttpListening(50000)
    assert recs[3].tid == 859 and recs[3].level is Level.INFO
    assert recs[4].event == ClientConnected(866, "python3 acceptance/device/wl.py bg 18 bg ")
    assert recs[5].event == ClientConnected(884, "python3 acceptance/device/wl.py infer 12 fg ")
    assert recs[6].event == ClientClosed(884) and recs[7].event == ClientClosed(866)
    r = recs[4]
    assert r.tod_us == ((2 * 60 + 30) * 60 + 52) * 1_000_000 + 803380
    assert r.time_text == "02:30:52.803380"
    assert r.timestamp == pytest.approx(local_epoch(DAY, r.tod_us), abs=1e-6)
    assert r.src_file is None and r.src_line is None  # Release INFO: no suffix


def test_explicit_stream_xserver_counts(samples: Path) -> None:
    path = samples / "explicit-stream" / "xserver.stderr.log"
    recs = parse_file(path)
    created = events(recs, XQueueCreated)
    prios = events(recs, PrioritySet)
    destroyed = events(recs, XQueueDestroyed)
    assert len(created) == 256 and len(prios) == 256
    # This xserver logs no "destroyed" line at all: the clients just close (README says otherwise).
    assert len(destroyed) == path.read_text().count(" destroyed") == 0
    assert len({c.handle for c in created}) == 256
    assert Counter(c.pid for c in created) == {1268: 128, 1291: 128}
    assert Counter(p.priority for p in prios) == {0: 128, 1: 128}
    # each "set priority" follows the creation of the same XQueue
    assert [p.handle for p in prios] == [c.handle for c in created]
    assert created[0] == XQueueCreated(0x4F4000031981B00, 1268)
    assert [e.pid for e in events(recs, ClientClosed)] == [1291, 1268]
    assert events(recs, ServerPolicy) == [ServerPolicy("HPF")]


def test_bandwidth_partition_utilization(samples: Path) -> None:
    recs = parse_file(samples / "bandwidth-partition" / "xserver.stderr.log")
    util = events(recs, UtilizationSet)
    assert len(util) == 256
    assert Counter((u.pid, u.utilization) for u in util) == {(1603, 75): 128, (1602, 25): 128}
    assert events(recs, ServerPolicy) == [ServerPolicy("PUP")]


def test_misconfigured_samples(samples: Path) -> None:
    m = samples / "misconfigured"
    for name in ("app_managed_default", "legacy_policy_GBL"):
        (r,) = parse_file(m / f"{name}.stderr.log")
        assert r.event == SchedulerChosen("app", None)
    recs = parse_file(m / "level4_invalid.stderr.log")
    assert recs[0].event == SchedulerChosen("local", "HPF")
    failed = recs[1:]
    assert len(failed) == 128
    for r in failed:
        assert r.kind is Kind.XSCHED and r.level is Level.WARN
        assert r.src_file == "/opt/xsched/preempt/src/xqueue/xqueue.cpp" and r.src_line == 136
        ev = r.event
        assert isinstance(ev, AutoXQueueFailed)
        assert ev.level == 4 and ev.err == 2 and ev.hwqueue is not None
        assert ev.message.startswith("fail to auto-create XQueue (level-4) for HwQueue 0x")
    assert failed[0].event.hwqueue == 0x461C5F70
    assert failed[0].message == "fail to auto-create XQueue (level-4) for HwQueue 0x461c5f70, err: 2"

    (r,) = parse_file(m / "preload_missing_file.stderr.log")
    assert r.kind is Kind.LOADER and r.level is Level.ERRO
    assert r.event == LoaderError("cannot_preload", "<install>/lib/libshimnothere.so",
                                  "cannot open shared object file", None)


def test_tty_colour_log_gives_the_same_records_as_without_colour(samples: Path) -> None:
    path = samples / "misconfigured" / "tty-stderr-with-colour.raw.log"
    raw = path.read_bytes()
    assert b"\r\n" in raw and ESC.encode() in raw
    lines = raw.splitlines(keepends=True)
    coloured = parse_lines(lines, base_date=DAY)
    plain_lines = [re.sub(rb"\x1b\[[0-9;]*m", b"", ln).replace(b"\r\n", b"\n") for ln in lines]
    plain = parse_lines(plain_lines, base_date=DAY)
    assert len(coloured) == len(plain) == 130
    for c, p in zip(coloured, plain, strict=True):
        assert dataclasses.replace(c, raw_len=0, ansi=False) == dataclasses.replace(p, raw_len=0)
        assert c.ansi is (ESC.encode() in lines[c.lineno - 1])
        assert "\r" not in c.text
    assert coloured[0].ansi and coloured[0].event == SchedulerChosen("local", "HPF")
    assert coloured[0].raw_len == len(lines[0])
    assert sum(isinstance(r.event, XQueueCreated) for r in coloured) == 128
    last = coloured[-1]
    assert last.kind is Kind.PLAIN and last.text.startswith('{"iters": 8720') and last.text.endswith("}")


def test_sample_timestamps_are_on_the_base_date(samples: Path) -> None:
    recs = parse_file(samples / "explicit-stream" / "local-hpf.stderr.log")
    stamps = [r.timestamp for r in recs]
    assert all(dt.datetime.fromtimestamp(t).date() == DAY for t in stamps)
    assert stamps == sorted(stamps)


# ---------------------------------------------------------------------------------------------
# FIELD-NOTES §3: every literal line (`\x1b` there is the real ESC byte here)

FIELD_NOTES_LINES = [
    # run_phase4_test1.sh.log (docker exec -it: CRLF)
    "[INFO @ T58880 @ 09:05:23.278123] using app-managed scheduler",
    "[TRACE_MALLOC] size=2097152 ptr=0x7fb378a00000 ret=0 (SUCCESS)",
    "[TRACE_KERNEL] func=0x7fb50403e330 stream=(nil)",
    "    PyTorch version: 2.7.1+rocm6.4.1.git2a215e4a",
    # 05_logic_trace_full.log
    "[INFO @ T6364 @ 06:03:45.107741] using local scheduler with policy HPF",
    "[INFO @ T6366 @ 06:03:45.442432] XQueue (0x18dc7f60309ab7b0) from process 6364 created",
    "[INFO @ T6366 @ 06:03:45.442455] set priority 10 for XQueue 0x18dc7f60309ab7b0",
    "[WARN @ T6372 @ 06:03:45.449612] Failed to enqueue command, continuing... "
    "@ /data/dockercode/xsched-official/platforms/hip/hal/src/hip_queue.cpp:53",
    "[HPF-SCHED] XQ=0x18dc7f60309ab7b0 prio=10 >= max=-255 -> RESUME",
    "[HPF-SCHED] XQ=0x18dc7f40200078b0 prio=0 < max=10 -> SUSPEND",
    "[XQUEUE-SUBMIT] XQ=0x18dc7f60309ab7b0 enqueued kernel idx=1",
    "[XQUEUE-PAUSE] Worker paused (pause_count=1)",
    "[APP-T0-P10] XQueueSetLaunchConfig(1,1) done",
    ":3:hip_stream.cpp           :279 : 6132802652 us:  \x1b[32m hipStreamCreate ( 0x7f603eddc4d8 ) \x1b[0m",
    ":3:hip_module.cpp           :745 : 6133044234 us:  hipLaunchKernel: Returned hipErrorInvalidValue "
    ": : duration: 418 us",
    # 09_systematic_test3a.log / systematic_test3a_3high_13low_xsched.log
    "[XSCHED-REGULAR-1] XLaunchKernel stream=0x7f0750460d70",
    "[WARN] KernelParamManager found 0 params for kernel 0x2012e0, using original params pointer",
    "[XQUEUE-LAUNCH] Launching kernel idx=1 to GPU",
    "rc/hip_queue.cpp:53",
    "[T0 P10]: Avg=1353.99 ms, P50=954.65 ms, P99=2014.98 ms, samples=10",
    "Low Priority  (P1) : Avg=0.86 ms, P50=0.91 ms, P99=2.26 ms, samples=130",
    "Latency Ratio (Low/High): 5.210x",
    # 01_8thread_full.log
    "[Thread 0 P10] Task 10/50, latency=0.18 ms",
    "[T0 P10] Avg=0.24 ms, P50=0.19 ms, P99=0.27 ms",
    # PyTorch test scripts (phase4_log/*)
    "  Latency P99: 3.47 ms",
    "[LOW] Progress: 10 iterations, 1.96 iter/s",
    "  P99 Latency (ms)       3.47          2.75       -20.9% ✅",
    "  P99 Latency (ms)                 19.38        20.45       +5.5% ✅",
    "✅ Results saved to /data/dockercode/test_results_phase4/baseline_intensive_result.json",
    "   LD_PRELOAD: /data/dockercode/xsched-build/output/lib/libhalhip.so:"
    "/data/dockercode/xsched-build/output/lib/libshimhip.so",
    # failure lines
    "ERROR: ld.so: object '/data/dockercode/xsched-build/output/lib/libshimhip.so' from LD_PRELOAD "
    "cannot be preloaded (cannot open shared object file): ignored.",
    "python3: symbol lookup error: /data/dockercode/xsched-build/output/lib/libshimhip.so: "
    "undefined symbol: _ZTIN6xsched3hip10HipCommandE",
    "MIOpen Error: /longer_pathname_so_that_rpms_can_support_packaging_the_debug_info_for_all_os_profiles"
    "/src/MIOpen/src/hipoc/hipoc_kernel.cpp:131: Failed to launch kernel: invalid device ordinal",
    # quoted only in their docs
    "[TRACE_FREE] ptr=0x7fc787e00000 ret=0",
    "[ERRO] hip error 709: context is destroyed @ "
    "/data/dockercode/xsched-official/platforms/hip/hal/src/hip_queue.cpp:67",
    "[XSched] Passthrough: /opt/rocm/lib/libhipblas.so",
    "[FIXED] Found original hipLaunchKernel at 0x7fb75ec18f30",
    "[DEBUG-LAUNCH] LaunchWrapper failed!",
    "[INFO @ T16173 @ 02:04:48.145872] Magic __CLANG_OFFLOAD_BUNDLE__",
]

HIP_LIB = "/data/dockercode/xsched-build/output/lib/libshimhip.so"
HIP_QUEUE = "/data/dockercode/xsched-official/platforms/hip/hal/src/hip_queue.cpp"

# line -> expected attributes (kind, level, tag, fields, event, plus extras)
GOLDEN: dict[str, dict] = {
    FIELD_NOTES_LINES[0]: dict(kind=Kind.XSCHED, level=Level.INFO, tid=58880,
                               tod_us=(9 * 3600 + 5 * 60 + 23) * 1_000_000 + 278123,
                               message="using app-managed scheduler",
                               event=SchedulerChosen("app", None)),
    FIELD_NOTES_LINES[1]: dict(kind=Kind.USER_TAG, level=None, tag="TRACE_MALLOC",
                               fields=(("size", "2097152"), ("ptr", "0x7fb378a00000"), ("ret", "0")),
                               message="size=2097152 ptr=0x7fb378a00000 ret=0 (SUCCESS)"),
    FIELD_NOTES_LINES[2]: dict(kind=Kind.USER_TAG, tag="TRACE_KERNEL",
                               fields=(("func", "0x7fb50403e330"), ("stream", "(nil)"))),
    FIELD_NOTES_LINES[3]: dict(kind=Kind.PLAIN, level=None, event=None),
    FIELD_NOTES_LINES[4]: dict(kind=Kind.XSCHED, level=Level.INFO, tid=6364,
                               event=SchedulerChosen("local", "HPF")),
    FIELD_NOTES_LINES[5]: dict(kind=Kind.XSCHED, tid=6366,
                               event=XQueueCreated(0x18DC7F60309AB7B0, 6364)),
    FIELD_NOTES_LINES[6]: dict(kind=Kind.XSCHED, event=PrioritySet(10, 0x18DC7F60309AB7B0)),
    FIELD_NOTES_LINES[7]: dict(kind=Kind.XSCHED, level=Level.WARN, tid=6372,
                               message="Failed to enqueue command, continuing...",
                               src_file=HIP_QUEUE, src_line=53,
                               event=Other("Failed to enqueue command, continuing...")),
    FIELD_NOTES_LINES[8]: dict(kind=Kind.USER_TAG, tag="HPF-SCHED", level=None,
                               fields=(("XQ", "0x18dc7f60309ab7b0"), ("prio", "10"), ("max", "-255"))),
    FIELD_NOTES_LINES[9]: dict(kind=Kind.USER_TAG, tag="HPF-SCHED",
                               fields=(("XQ", "0x18dc7f40200078b0"), ("prio", "0"), ("max", "10"))),
    FIELD_NOTES_LINES[10]: dict(kind=Kind.USER_TAG, tag="XQUEUE-SUBMIT",
                                fields=(("XQ", "0x18dc7f60309ab7b0"), ("idx", "1"))),
    FIELD_NOTES_LINES[11]: dict(kind=Kind.USER_TAG, tag="XQUEUE-PAUSE", fields=(("pause_count", "1"),),
                                message="Worker paused (pause_count=1)"),
    FIELD_NOTES_LINES[12]: dict(kind=Kind.USER_TAG, tag="APP-T0-P10", fields=(),
                                message="XQueueSetLaunchConfig(1,1) done"),
    FIELD_NOTES_LINES[13]: dict(kind=Kind.HIP_TRACE, level=Level.INFO, ansi=True,
                                src_file="hip_stream.cpp", src_line=279,
                                message="hipStreamCreate ( 0x7f603eddc4d8 )",
                                fields=(("us", "6132802652"),)),
    FIELD_NOTES_LINES[14]: dict(kind=Kind.HIP_TRACE, level=Level.WARN, ansi=False,
                                src_file="hip_module.cpp", src_line=745,
                                fields=(("us", "6133044234"), ("api", "hipLaunchKernel"),
                                        ("result", "hipErrorInvalidValue"))),
    FIELD_NOTES_LINES[15]: dict(kind=Kind.USER_TAG, tag="XSCHED-REGULAR-1",
                                fields=(("stream", "0x7f0750460d70"),)),
    FIELD_NOTES_LINES[16]: dict(kind=Kind.USER_TAG, tag="WARN", level=Level.WARN,
                                message="KernelParamManager found 0 params for kernel 0x2012e0, "
                                        "using original params pointer"),
    FIELD_NOTES_LINES[17]: dict(kind=Kind.USER_TAG, tag="XQUEUE-LAUNCH", fields=(("idx", "1"),)),
    FIELD_NOTES_LINES[18]: dict(kind=Kind.PLAIN, level=None, src_file=None),
    FIELD_NOTES_LINES[19]: dict(kind=Kind.USER_TAG, tag="T0 P10", level=None,
                                fields=(("Avg", "1353.99"), ("P50", "954.65"), ("P99", "2014.98"),
                                        ("samples", "10"))),
    FIELD_NOTES_LINES[20]: dict(kind=Kind.PLAIN),
    FIELD_NOTES_LINES[21]: dict(kind=Kind.PLAIN),
    FIELD_NOTES_LINES[22]: dict(kind=Kind.USER_TAG, tag="Thread 0 P10", fields=(("latency", "0.18"),)),
    FIELD_NOTES_LINES[23]: dict(kind=Kind.USER_TAG, tag="T0 P10",
                                fields=(("Avg", "0.24"), ("P50", "0.19"), ("P99", "0.27"))),
    FIELD_NOTES_LINES[24]: dict(kind=Kind.PLAIN),
    FIELD_NOTES_LINES[25]: dict(kind=Kind.USER_TAG, tag="LOW", level=None,
                                message="Progress: 10 iterations, 1.96 iter/s"),
    FIELD_NOTES_LINES[26]: dict(kind=Kind.PLAIN),
    FIELD_NOTES_LINES[27]: dict(kind=Kind.PLAIN),
    FIELD_NOTES_LINES[28]: dict(kind=Kind.PLAIN),
    FIELD_NOTES_LINES[29]: dict(kind=Kind.PLAIN, event=None),
    FIELD_NOTES_LINES[30]: dict(kind=Kind.LOADER, level=Level.ERRO,
                                event=LoaderError("cannot_preload", HIP_LIB,
                                                  "cannot open shared object file")),
    FIELD_NOTES_LINES[31]: dict(kind=Kind.LOADER, level=Level.ERRO,
                                event=LoaderError("symbol_lookup", HIP_LIB, "_ZTIN6xsched3hip10HipCommandE",
                                                  None, "python3")),
    FIELD_NOTES_LINES[32]: dict(kind=Kind.MIOPEN, level=Level.ERRO, src_line=131,
                                src_file="/longer_pathname_so_that_rpms_can_support_packaging_the_debug_info"
                                         "_for_all_os_profiles/src/MIOpen/src/hipoc/hipoc_kernel.cpp",
                                message="Failed to launch kernel: invalid device ordinal"),
    FIELD_NOTES_LINES[33]: dict(kind=Kind.USER_TAG, tag="TRACE_FREE",
                                fields=(("ptr", "0x7fc787e00000"), ("ret", "0"))),
    FIELD_NOTES_LINES[34]: dict(kind=Kind.USER_TAG, tag="ERRO", level=Level.ERRO,
                                message="hip error 709: context is destroyed",
                                src_file=HIP_QUEUE, src_line=67,
                                event=DriverError("hip", 709, "context is destroyed")),
    FIELD_NOTES_LINES[35]: dict(kind=Kind.USER_TAG, tag="XSched", level=None,
                                message="Passthrough: /opt/rocm/lib/libhipblas.so"),
    FIELD_NOTES_LINES[36]: dict(kind=Kind.USER_TAG, tag="FIXED"),
    FIELD_NOTES_LINES[37]: dict(kind=Kind.USER_TAG, tag="DEBUG-LAUNCH", level=None,
                                message="LaunchWrapper failed!"),
    FIELD_NOTES_LINES[38]: dict(kind=Kind.XSCHED, level=Level.INFO, tid=16173,
                                event=Other("Magic __CLANG_OFFLOAD_BUNDLE__")),
}

# Lines quoted in "Format variations a parser must survive".
VARIATIONS: list[tuple[str, dict]] = [
    ("[HPF-SCHED] === Scheduling cycle ===", dict(kind=Kind.USER_TAG, tag="HPF-SCHED")),
    ("[DIAGNOSE-Launch]", dict(kind=Kind.USER_TAG, tag="DIAGNOSE-Launch", message="")),
    ("  hipStreamQuery result: 600 (device not ready)", dict(kind=Kind.PLAIN)),
    ("[APP] start", dict(kind=Kind.USER_TAG, tag="APP")),
    ("[APP-T0-P10-Task1] done", dict(kind=Kind.USER_TAG, tag="APP-T0-P10-Task1")),
    ("[XQUEUE-RESUME] Worker resumed", dict(kind=Kind.USER_TAG, tag="XQUEUE-RESUME")),
    ("[HIGH]", dict(kind=Kind.USER_TAG, tag="HIGH")),
    ("[ERRO] something broke", dict(kind=Kind.USER_TAG, tag="ERRO", level=Level.ERRO,
                                    message="something broke", event=None)),
    ("High Priority (P10): Avg=1.00 ms", dict(kind=Kind.PLAIN)),
    ("Low Priority  (P1):  Avg=0.86 ms", dict(kind=Kind.PLAIN)),
    ("[ 89%] Linking CXX executable xserver", dict(kind=Kind.PLAIN)),
    ("-- Installing: /opt/xsched/lib/libpreempt.so", dict(kind=Kind.PLAIN)),
    ("测试开始: 高优先级任务", dict(kind=Kind.PLAIN)),
    ("ℹ️ note ⚠️ careful 🎉 🎯 ❌", dict(kind=Kind.PLAIN)),
    ("=" * 72, dict(kind=Kind.PLAIN)),
    ("[INFO @ T75775 @ 16:25:46.574199] using app-managed scheduler",
     dict(kind=Kind.XSCHED, tid=75775, tod_us=(16 * 3600 + 25 * 60 + 46) * 1_000_000 + 574199)),
]


def check(rec: LogRecord, want: dict) -> None:
    for k, v in want.items():
        got = getattr(rec, k)
        assert got == v, f"{k}: {got!r} != {v!r} in {rec}"
    assert "(parse error" not in rec.message


@pytest.mark.parametrize("line", FIELD_NOTES_LINES)
def test_field_notes_golden(line: str) -> None:
    rec = parse_line(line)
    check(rec, GOLDEN[line])
    assert rec.text == line.replace(ESC + "[32m", "").replace(ESC + "[0m", "")
    # the same through LogParser, with LF, CRLF and as bytes
    for variant in (line + "\n", line + "\r\n", (line + "\r\n").encode()):
        (r,) = parse_lines([variant])
        check(r, GOLDEN[line])
        assert r.text == rec.text and r.lineno == 1


@pytest.mark.parametrize(("line", "want"), VARIATIONS)
def test_format_variations(line: str, want: dict) -> None:
    check(parse_line(line), want)


def test_golden_table_has_the_esc_byte() -> None:
    assert ESC in FIELD_NOTES_LINES[13] and FIELD_NOTES_LINES[13].count(ESC) == 2
    assert len(GOLDEN) == len(FIELD_NOTES_LINES)


def test_golden_table_is_a_literal_copy_of_field_notes() -> None:
    if not FIELD_NOTES.is_file():
        pytest.skip("FIELD-NOTES.md not found")
    text = FIELD_NOTES.read_text()
    sec = text[text.index("## 3. Log formats"):text.index("### Format variations")]
    block = sec[sec.index("```\n") + 4:]
    block = block[:block.index("```")]
    lines = [ln.replace("\\x1b", ESC) for ln in block.splitlines() if not ln.startswith("# ")]
    quoted = re.findall(r"^- `(.+)`$", sec, re.M)
    assert lines + quoted == FIELD_NOTES_LINES


def test_crlf_app_managed_line() -> None:
    r = parse_line("[INFO @ T58880 @ 09:05:23.278123] using app-managed scheduler\r\n")
    assert r.text == "[INFO @ T58880 @ 09:05:23.278123] using app-managed scheduler"
    assert r.message == "using app-managed scheduler" and r.raw_len == 63
    assert r.event == SchedulerChosen("app")


# ---------------------------------------------------------------------------------------------
# FACTS §1.2 example lines (v1.2 shape; "..." times filled in) and the AE / v1.1 variants

T = "09:00:01.100000"
INFO, WARN, ERRO = Level.INFO, Level.WARN, Level.ERRO


def x12(msg: str, lv: str = "WARN", tid: int = 4243, t: str = T) -> str:
    """A v1.2 line (FACTS §1.2 writes "..." for the time of most WARN/ERRO examples)."""
    return f"[XSCHED {lv} @ T {tid} @ {t}] {msg}"


XQ = "0x1092000055501a40"
FACTS_EXAMPLES: list[tuple[str, Event, Level]] = [
    # the example block, in its order
    ("[XSCHED INFO @ T 22828 @ 15:16:11.706551] using app-managed scheduler",
     SchedulerChosen("app", None), INFO),
    ("[XSCHED INFO @ T 22828 @ 15:16:11.709107] using local scheduler with policy HPF",
     SchedulerChosen("local", "HPF"), INFO),
    ("[XSCHED INFO @ T 7976 @ 15:16:12.117797] XQueue (0x4c48011d5b0fde70) from process 19528 created",
     XQueueCreated(0x4C48011D5B0FDE70, 19528), INFO),
    ("[XSCHED INFO @ T 7976 @ 15:16:12.118742] set priority 2 for XQueue 0x4c48011d5b0fde70",
     PrioritySet(2, 0x4C48011D5B0FDE70), INFO),
    ("[XSCHED INFO @ T 7976 @ 15:16:12.988397] XQueue (0x4c48011d5b0fe730) from process 19528 created",
     XQueueCreated(0x4C48011D5B0FE730, 19528), INFO),
    ("[XSCHED INFO @ T 101 @ 09:00:00.000100] using global scheduler", SchedulerChosen("global"), INFO),
    ("[XSCHED INFO @ T 55 @ 09:00:00.000001] using default: ./xserver HPF 50000",
     Other("using default: ./xserver HPF 50000"), INFO),
    ("[XSCHED INFO @ T 55 @ 09:00:00.000300] scheduler created with policy HPF", ServerPolicy("HPF"), INFO),
    ("[XSCHED INFO @ T 55 @ 09:00:00.000400] pidfd_open is supported, using pidfd_wait method",
     Other("pidfd_open is supported, using pidfd_wait method"), INFO),
    ("[XSCHED INFO @ T 56 @ 09:00:00.000500] HTTP server listening on port 50000",
     HttpListening(50000), INFO),
    ("[XSCHED INFO @ T 55 @ 09:00:00.000600] events receiver started",
     Other("events receiver started"), INFO),
    ("[XSCHED INFO @ T 55 @ 09:00:01.000000] client process 4242 connected, cmdline: python3 infer.py --hp ",
     ClientConnected(4242, "python3 infer.py --hp "), INFO),
    (f"[XSCHED INFO @ T 57 @ 09:00:01.200000] XQueue ({XQ}) from process 4242 created",
     XQueueCreated(int(XQ, 16), 4242), INFO),
    (f"[XSCHED INFO @ T 57 @ 09:00:01.200100] set priority 1 for XQueue {XQ}",
     PrioritySet(1, int(XQ, 16)), INFO),
    (f"[XSCHED INFO @ T 57 @ 09:01:00.000000] XQueue ({XQ}) from process 4242 destroyed",
     XQueueDestroyed(int(XQ, 16), 4242), INFO),
    ("[XSCHED INFO @ T 58 @ 09:01:00.000100] client process 4242 closed", ClientClosed(4242), INFO),
    ("[XSCHED INFO @ T 57 @ 09:02:00.000000] policy changed from HPF to PUP",
     PolicyChanged("HPF", "PUP"), INFO),
    ("[XSCHED WARN @ T 4243 @ 09:00:01.100000] CUDA graph cannot support level-2 preemption, falling back "
     "to level-1 @ /src/xsched/platforms/cuda/hal/src/level2/cuda_queue.cpp:59",
     LevelFallback("CUDA graph cannot support level-2 preemption, falling back to level-1", 2, 1), WARN),
    (x12("preempt level 3 is not supported by the HwQueue, max supported level is 1"
         " @ .../preempt/src/xqueue/async_xqueue.cpp:162"),
     LevelFallback("preempt level 3 is not supported by the HwQueue, max supported level is 1", 3, 1), WARN),
    (x12(f"XQueue with handle {XQ} does not support dynamic level @ .../preempt/src/xqueue/xqueue.cpp:285"),
     LevelFallback(f"XQueue with handle {XQ} does not support dynamic level"), WARN),
    (x12(f"XQueueSetPreemptLevel failed, xq: {XQ}, level: 3, result: 5"
         " @ .../preempt/src/sched/executor.cpp:90"),
     LevelFallback(f"XQueueSetPreemptLevel failed, xq: {XQ}, level: 3, result: 5", 3, None), WARN),
    (x12("fail to auto-create XQueue (level-4) for HwQueue 0x55d0c0a0, err: 2"
         " @ .../preempt/src/xqueue/xqueue.cpp:136"),
     AutoXQueueFailed(4, 0x55D0C0A0, 2,
                      "fail to auto-create XQueue (level-4) for HwQueue 0x55d0c0a0, err: 2"),
     WARN),
    (x12("unknown CUDA Level-3 implementation: tsg, use default (TRAP) @ .../options.cpp:18"),
     LevelFallback("unknown CUDA Level-3 implementation: tsg, use default (TRAP)"), WARN),
    (x12("lib libcuda.so not found @ .../utils/include/xsched/utils/lib.h:65"),
     LibraryNotFound("libcuda.so"), WARN),
    (x12("lib set by env XSCHED_HIP_LIB = /bad/path not found, fallback to dir search @ ...lib.h:41"),
     LibraryNotFound("path", "XSCHED_HIP_LIB", "/bad/path"), WARN),
    (x12("Assertion failed: fail to dlopen  @ "
         ".../platforms/cuda/hal/include/xsched/cuda/hal/common/driver.h:24", "ERRO"),
     AssertionFailed("fail to dlopen"), ERRO),
    (x12("cuda error 700: an illegal memory access was encountered @ .../cuda_queue.cpp:47", "ERRO"),
     DriverError("cuda", 700, "an illegal memory access was encountered"), ERRO),
    (x12("Assertion failed: failed to send event to server @ .../sched/src/scheduler/global.cpp:47", "ERRO"),
     AssertionFailed("failed to send event to server"), ERRO),
    (x12("failed to get response, error: Could not establish connection"
         " @ .../service/common/src/client.cpp:34", tid=77),
     Other("failed to get response, error: Could not establish connection"), WARN),
    (x12('failed to list XQueues, response code: 400, message: {"error": "invalid level"} @ ...client.cpp:39',
         tid=77),
     Other('failed to list XQueues, response code: 400, message: {"error": "invalid level"}'), WARN),
    (x12("xsched error 6 @ .../service/cli/src/cli.cpp:...", "ERRO", 77),  # not path:number: no split
     Other("xsched error 6 @ .../service/cli/src/cli.cpp:..."), ERRO),
    (x12("psync fg warmup ready, waiting others", "INFO", 900),
     Other("psync fg warmup ready, waiting others"), INFO),
    (x12("[RESULT] fg throughput 30.70 reqs/s, latency avg 6123.10 us, min 5900.00 p50 6050.22 us, "
         "p90 6300.10 us, p99 7400.33 us", "INFO", 900),
     Result((("throughput", "30.70"), ("avg", "6123.10"), ("min", "5900.00"), ("p50", "6050.22"),
             ("p90", "6300.10"), ("p99", "7400.33")),
            "fg throughput 30.70 reqs/s, latency avg 6123.10 us, min 5900.00 p50 6050.22 us, p90 6300.10 us, "
            "p99 7400.33 us"),
     INFO),
    # AE / v1.0 (PIDs in parentheses, old prefix) and v1.1 (no cmdline)
    ("[INFO @ T7976 @ 15:16:12.117797] XQueue (0x4c48011d5b0fde70) from process (19528) created",
     XQueueCreated(0x4C48011D5B0FDE70, 19528), INFO),
    ("[INFO @ T7976 @ 15:16:13.117797] XQueue (0x4c48011d5b0fde70) from process (19528) destroyed",
     XQueueDestroyed(0x4C48011D5B0FDE70, 19528), INFO),
    ("[INFO @ T55 @ 09:00:01.000000] client process (19528) connected", ClientConnected(19528, None), INFO),
    ("[INFO @ T55 @ 09:00:02.000000] client process (19528) closed", ClientClosed(19528), INFO),
    ("[INFO @ T55 @ 09:00:01.000000] client process 4242 connected", ClientConnected(4242, None), INFO),
    # more of the §1.2 table
    (x12("CUDA graph cannot support trap-based level-3 preemption, falling back to level-1 @ /src/q.cpp:77"),
     LevelFallback("CUDA graph cannot support trap-based level-3 preemption, falling back to level-1", 3, 1),
     WARN),
    (x12(f"XQueueSetThreshold failed, xq: {XQ}, threshold: 4, result: 5"
         " @ .../preempt/src/sched/executor.cpp:99"),
     LevelFallback(f"XQueueSetThreshold failed, xq: {XQ}, threshold: 4, result: 5"), WARN),
    (x12("priority 9 not in range [0, 5], overide priority for XQueue 0xabc to 5 @ /h.cpp:1"),
     PriorityOverridden(9, 0, 5, 0xABC, 5), WARN),
    (x12("CFS: set priority 3 (weight 1.25) for XQueue 0xabc", "INFO"), PrioritySet(3, 0xABC), INFO),
    (x12("MLFQ: Time Slice Exhausted (Demotion) for 0xabc to 2", "INFO"), PrioritySet(2, 0xABC), INFO),
    (x12("utilization of process 77 set to 25", "INFO"), UtilizationSet(77, 25), INFO),
    (x12("fail to auto-create HwQueue, err: 3 @ /x/xqueue.cpp:115"),
     AutoXQueueFailed(None, None, 3, "fail to auto-create HwQueue, err: 3"), WARN),
    (x12("fail to auto-set priority 3 for XQueue 0xabc, err: 4 @ /x/xqueue.cpp:200"),
     AutoXQueueFailed(None, None, 4, "fail to auto-set priority 3 for XQueue 0xabc, err: 4"), WARN),
    (x12("HwQueue (0xa1) already has an XQueue (0xb2) @ /x/xqueue.cpp:120"),
     AutoXQueueFailed(None, 0xA1, None, "HwQueue (0xa1) already has an XQueue (0xb2)"), WARN),
    (x12("CudaQueueCreate failed: does not support default stream @ /x/cuda_queue.cpp:30"),
     AutoXQueueFailed(None, None, None, "CudaQueueCreate failed: does not support default stream"), WARN),
    (x12("hip error 709: context is destroyed @ /x/hip_queue.cpp:67", "ERRO"),
     DriverError("hip", 709, "context is destroyed"), ERRO),
    (x12("levelzero error 0x78000001 @ /x/ze.h:10", "ERRO"), DriverError("levelzero", 0x78000001, ""), ERRO),
    (x12("opencl error -5 @ /x/cl.h:10", "ERRO"), DriverError("opencl", -5, ""), ERRO),
    (x12("vpi error 3(VPI_ERROR_INVALID_ARGUMENT): bad @ /x/vpi.h:10", "ERRO"),
     DriverError("vpi", 3, "VPI_ERROR_INVALID_ARGUMENT: bad"), ERRO),
    (x12("corex driver error 12 @ /x/corex.h:10", "ERRO"), DriverError("corex", 12, ""), ERRO),
    (x12("cupti error 1: CUPTI_ERROR_INVALID_PARAMETER @ /x/cupti.h:10", "ERRO"),
     DriverError("cupti", 1, "CUPTI_ERROR_INVALID_PARAMETER"), ERRO),
    (x12("fail to dlopen /usr/lib/libcuda.so.1 for dlsym @ /x/symbol.h:10", "ERRO"),
     LibraryNotFound("libcuda.so.1", None, "/usr/lib/libcuda.so.1"), ERRO),
    (x12("Assertion failed: command threshold (2) must not be smaller than command batch size (8)"
         " @ /x/xqueue.cpp:50", "ERRO"),
     AssertionFailed("command threshold (2) must not be smaller than command batch size (8)"), ERRO),
]
RESULT_LINE = next(line for line, ev, _ in FACTS_EXAMPLES if isinstance(ev, Result))


@pytest.mark.parametrize(("line", "event", "level"), FACTS_EXAMPLES)
def test_facts_examples(line: str, event: Event, level: Level) -> None:
    r = parse_line(line, lineno=7)
    assert r.kind is Kind.XSCHED and r.level is level and r.lineno == 7
    assert r.event == event
    assert r.timestamp is None  # stateless: no date
    if level is not Level.INFO and not line.endswith("cli.cpp:..."):
        assert r.src_file is not None and r.src_line is not None
        assert " @ " not in r.message or "@" in event.to_json().get("message", "")
    # the same line as pre-1.2, and wrapped in TTY colour, gives the same record
    old = re.sub(r"^\[XSCHED (\w{4}) @ T (\d+)", r"[\1 @ T\2", line)
    tty = re.sub(r"^\[XSCHED (\w{4})", lambda m: f"[XSCHED {ESC}[3{1 + 'EWID'.index(m[1][0])}m{m[1]}{ESC}[0m",
                 line)
    assert parse_line(old).event == event and parse_line(old).tid == r.tid
    t = parse_line(tty, lineno=7)
    assert t.ansi is line.startswith("[XSCHED ")
    assert dataclasses.replace(t, ansi=False, raw_len=r.raw_len) == r


def test_hot_path_agrees_with_the_general_path(samples: Path) -> None:
    # The prefix regex recognises the most frequent messages itself; with a debug-build " @ file:line"
    # suffix the same messages go through the general dispatcher. Both must give the same event.
    n = 0
    for f in sample_logs(samples):
        for raw in f.read_text().splitlines():
            r = parse_line(raw)
            if r.kind is Kind.XSCHED and r.src_file is None:
                d = parse_line(raw + " @ /opt/xsched/sched/src/scheduler/local.cpp:280")
                assert d.event == r.event and d.message == r.message and d.src_line == 280
                n += 1
    assert n > 1000
    for msg in ("XQueue (0xab) from process 1 destroyed", "XQueue (0xab) from process (1) created",
                "set priority -3 for XQueue 0xAB", "utilization of process (7) set to 100"):
        line = f"[XSCHED INFO @ T 1 @ 00:00:00.000001] {msg}"
        assert parse_line(line).event == parse_line(line + " @ /x.cpp:1").event
        assert parse_line(line).event is not None and type(parse_line(line).event) is not Other


def test_xsched_suffix_split_only_for_path_number() -> None:
    r = parse_line("[XSCHED WARN @ T 1 @ 00:00:00.000001] mail me @ someone:here")
    assert r.message == "mail me @ someone:here" and r.src_file is None
    r = parse_line("[XSCHED WARN @ T 1 @ 00:00:00.000001] a @ b @ /x/y z.cpp:12")
    assert r.src_file is None  # a space in the "path": not a suffix
    r = parse_line("[XSCHED WARN @ T 1 @ 00:00:00.000001] a @ b @ /x/y.cpp:12")
    assert (r.message, r.src_file, r.src_line) == ("a @ b", "/x/y.cpp", 12)
    r = parse_line("[XSCHED ERRO @ T 1 @ 00:00:00.000001] x @ C:\\src\\a.cpp:9")
    assert (r.message, r.src_file, r.src_line) == ("x", "C:\\src\\a.cpp", 9)


def test_prefix_variants() -> None:
    base = parse_line("[XSCHED INFO @ T 58880 @ 09:05:23.278123] using global scheduler")
    for v in ("[INFO @ T58880 @ 09:05:23.278123] using global scheduler",
              "[INFO @ T 58880 @ 09:05:23.278123] using global scheduler",
              "[XSCHED INFO @ T58880 @ 09:05:23.278123] using global scheduler",
              f"[XSCHED {ESC}[32mINFO{ESC}[0m @ T 58880 @ 09:05:23.278123] using global scheduler",
              f"[{ESC}[32mINFO{ESC}[0m @ T58880 @ 09:05:23.278123] using global scheduler"):
        r = parse_line(v)
        assert (r.kind, r.level, r.tid, r.tod_us, r.event) == (base.kind, base.level, base.tid, base.tod_us,
                                                               base.event), v
    for lv in Level:
        assert parse_line(f"[XSCHED {lv.value} @ T 1 @ 00:00:00.000000] x").level is lv
    # other sub-second widths
    assert parse_line("[INFO @ T1 @ 00:00:01.5] x").tod_us == 1_500_000
    assert parse_line("[INFO @ T1 @ 00:00:01.123456789] x").tod_us == 1_123_456
    # an XSched line glued behind a progress bar (no newline before it)
    r = parse_line("epoch 3: 45%[XSCHED WARN @ T 9 @ 01:00:00.000000] lib libcuda.so not found @ /l.h:65")
    assert r.kind is Kind.XSCHED and r.event == LibraryNotFound("libcuda.so") and r.tid == 9
    # not XSched: wrong level word, missing pieces
    for v in ("[INFOX @ T1 @ 00:00:00.000000] x", "[INFO @ 1 @ 00:00:00.000000] x",
              "[INFO @ T1 @ 0:0:0.1] x"):
        assert parse_line(v).kind is not Kind.XSCHED, v


# ---------------------------------------------------------------------------------------------
# Loader, HIP, MIOpen, tags


LOADER_LINES = [
    ("ERROR: ld.so: object '<install>/lib/libshimnothere.so' from LD_PRELOAD cannot be preloaded "
     "(cannot open shared object file): ignored.",
     LoaderError("cannot_preload", "<install>/lib/libshimnothere.so", "cannot open shared object file"),
     Level.ERRO),
    ("python3: symbol lookup error: /x/libshimhip.so: undefined symbol: _ZTIN6xsched3hip10HipCommandE",
     LoaderError("symbol_lookup", "/x/libshimhip.so", "_ZTIN6xsched3hip10HipCommandE", None, "python3"),
     Level.ERRO),
    ("python3: symbol lookup error: /x/libshimcuda.so: undefined symbol: cuProfilerStart",
     LoaderError("symbol_lookup", "/x/libshimcuda.so", "cuProfilerStart", None, "python3"), Level.ERRO),
    ("./app: symbol lookup error: /x/libfoo.so: undefined symbol: hipMalloc, version hip_4.2",
     LoaderError("symbol_lookup", "/x/libfoo.so", "hipMalloc@hip_4.2", None, "./app"), Level.ERRO),
    ("python3: /x/libamdhip64.so: version `hip_4.2' not found (required by /y/libtorch_hip.so)",
     LoaderError("version_not_found", "/x/libamdhip64.so", "hip_4.2", "/y/libtorch_hip.so", "python3"),
     Level.ERRO),
    ("/x/libamdhip64.so: version 'hip_4.2' not found (required by /y/libtorch_hip.so)",
     LoaderError("version_not_found", "/x/libamdhip64.so", "hip_4.2", "/y/libtorch_hip.so"), Level.ERRO),
    ("/x/libamdhip64.so: no version information available (required by /y/lib.so)",
     LoaderError("no_version_info", "/x/libamdhip64.so", None, "/y/lib.so"), Level.WARN),
    ("python3: /x/libamdhip64.so: no version information available (required by /y/lib.so)",
     LoaderError("no_version_info", "/x/libamdhip64.so", None, "/y/lib.so", "python3"), Level.WARN),
    ("error while loading shared libraries: libfoo.so: cannot open shared object file",
     LoaderError("cannot_open", "libfoo.so", "cannot open shared object file"), Level.ERRO),
    ("./xserver: error while loading shared libraries: libpreempt.so: cannot open shared object file: "
     "No such file or directory",
     LoaderError("cannot_open", "libpreempt.so", "cannot open shared object file: No such file or directory",
                 None, "./xserver"), Level.ERRO),
]


@pytest.mark.parametrize(("line", "event", "level"), LOADER_LINES)
def test_loader_lines(line: str, event: LoaderError, level: Level) -> None:
    r = parse_line(line)
    assert (r.kind, r.level, r.event) == (Kind.LOADER, level, event)
    assert r.event.to_json()["type"] == "loader_error"


def test_not_loader_lines() -> None:
    for line in ("torch version: 2.11.0", "the version 'x' not found anywhere", "ld.so is the loader",
                 "python3: cannot open file 'x.py': [Errno 2] No such file or directory"):
        assert parse_line(line).kind is Kind.PLAIN, line


def test_hip_trace_levels() -> None:
    assert parse_line(":1:rocdevice.cpp            :2980: 1 us: failed").level is Level.ERRO
    assert parse_line(":2:hip_code_object.cpp      :1: 1 us: warn").level is Level.WARN
    r = parse_line(":4:rocvirtual.cpp           :100 : 5 us: dispatch")
    assert r.kind is Kind.HIP_TRACE and r.level is Level.DEBG and r.src_line == 100
    r = parse_line(":3:hip_stream.cpp           :400 : 7 us:  hipStreamQuery: Returned hipErrorNotReady : ")
    assert r.level is Level.INFO and r.get_field("result") == "hipErrorNotReady"
    r = parse_line(":3:hip_mem.cpp  :1 : 7 us:  hipMalloc: Returned hipSuccess : : duration: 3 us")
    assert r.level is Level.INFO and r.get_field("api") == "hipMalloc"


def test_miopen_lines() -> None:
    r = parse_line("MIOpen(HIP): Warning [IsEnoughWorkspace] Solver <GemmFwdRest>, workspace required: 1")
    assert r.kind is Kind.MIOPEN and r.level is Level.WARN
    r = parse_line("MIOpen(HIP): Error [Compile] 'hiprtcCompileProgram' failed")
    assert r.kind is Kind.MIOPEN and r.level is Level.ERRO


def test_user_tag_edge_cases() -> None:
    assert parse_line("[WARNING] careful").level is Level.WARN
    assert parse_line("[ERROR]: bad").level is Level.ERRO
    assert parse_line("[ERRO]").level is Level.ERRO
    assert parse_line("[W socket.cpp:663] [c10d] The client socket failed").kind is Kind.PLAIN
    assert parse_line("[2026-11-28 02:30:00] started").kind is Kind.PLAIN
    assert parse_line("[]").kind is Kind.PLAIN
    assert parse_line("[TAG]x").kind is Kind.PLAIN  # no space after the tag
    r = parse_line("[TRACE_KERNEL] a=1 a=2 b== c=(x y) d=[1]")
    assert r.fields == (("a", "1"), ("a", "2")) and r.get_field("a") == "1"
    assert r.to_json()["fields"] == {"a": "2"}


# ---------------------------------------------------------------------------------------------
# LogParser: dates, roll-over, line numbers


def hms(h: int, m: int, s: int, us: int = 0) -> int:
    return ((h * 60 + m) * 60 + s) * 1_000_000 + us


def xline(tod: int, tid: int = 1, msg: str = "using global scheduler") -> str:
    s, us = divmod(tod, 1_000_000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    return f"[XSCHED INFO @ T {tid} @ {h:02d}:{m:02d}:{s:02d}.{us:06d}] {msg}\n"


def test_midnight_rollover_and_thread_jitter() -> None:
    day = dt.date(2026, 3, 10)
    p = LogParser(base_date=day)
    tods = [hms(23, 59, 59, 900_000), hms(23, 59, 59, 800_000),  # small backward jump: same day
            "plain line\n",
            hms(0, 0, 0, 100_000),  # roll-over
            hms(23, 59, 59, 950_000),  # a late line of the previous day
            hms(0, 0, 1), hms(11, 0, 0), hms(23, 0, 0),  # the whole next day
            hms(1, 0, 0)]  # and another roll-over
    want_days = [0, 0, None, 1, 0, 1, 1, 1, 2]
    recs = []
    for t in tods:
        recs += p.feed(t if isinstance(t, str) else xline(t))
    recs += p.flush()
    assert [r.lineno for r in recs] == list(range(1, 10))
    for r, d in zip(recs, want_days, strict=True):
        if d is None:
            assert r.timestamp is None and r.kind is Kind.PLAIN
        else:
            assert r.timestamp == pytest.approx(local_epoch(day + dt.timedelta(days=d), r.tod_us), abs=1e-6)
    assert p.current_date == day + dt.timedelta(days=2) and p.lineno == 9


def test_default_base_date_is_today() -> None:
    p = LogParser()
    assert p.base_date == dt.date.today()
    (r,) = p.feed(xline(hms(12, 0, 0)))
    assert dt.datetime.fromtimestamp(r.timestamp).date() == dt.date.today()


def test_dst_day_timestamps_are_local_time() -> None:
    # Whatever the local zone: every timestamp equals the C library's local time of that day.
    for day in (dt.date(2026, 3, 8), dt.date(2026, 3, 29), dt.date(2026, 10, 25), dt.date(2026, 11, 1)):
        p = LogParser(base_date=day)
        for t in (hms(0, 30, 0), hms(4, 0, 0), hms(12, 0, 0, 5)):
            (r,) = p.feed(xline(t))
            assert r.timestamp == pytest.approx(local_epoch(day, t), abs=1e-6)


def test_feed_splits_chunks_and_counts_lines() -> None:
    p = LogParser(base_date=DAY)
    recs = p.feed("a\nb\r\n" + xline(hms(1, 0, 0)) + "tail-without-newline")
    assert [r.text for r in recs][:2] == ["a", "b"] and recs[2].kind is Kind.XSCHED
    assert recs[3].text == "tail-without-newline" and [r.lineno for r in recs] == [1, 2, 3, 4]
    recs = p.feed(b"x\ny\n")
    assert [(r.text, r.lineno) for r in recs] == [("x", 5), ("y", 6)]
    assert recs[0].raw_len == 2
    assert p.feed("")[0].text == "" and p.lineno == 7
    assert p.feed("\n")[0].lineno == 8


def test_carriage_return_keeps_what_a_terminal_shows() -> None:
    r = parse_line("progress 10%\rprogress 50%\rprogress 100%\r\n")
    assert r.text == "progress 100%"
    r = parse_line("\x1b[2K\rdone   \r")
    assert r.text == "done   " and r.ansi


def test_parse_lines_equals_feed() -> None:
    lines = [xline(hms(1, 0, i)) for i in range(5)] + ["x\n"]
    a = parse_lines(lines, base_date=DAY)
    p = LogParser(base_date=DAY)
    b = [r for ln in lines for r in p.feed(ln)] + p.flush()
    assert a == b


# ---------------------------------------------------------------------------------------------
# Tracebacks

TB = [
    "Traceback (most recent call last):\n",
    '  File "/w/infer.py", line 10, in <module>\n',
    "    main()\n",
    '  File "/w/infer.py", line 5, in main\n',
    "    x = 1 / 0\n",
    "        ~~^~~\n",
    "ZeroDivisionError: division by zero\n",
]


def test_traceback_grouped_into_one_record() -> None:
    p = LogParser(base_date=DAY)
    out = p.feed("before\n")
    assert len(out) == 1
    for ln in TB[:-1]:
        assert p.feed(ln) == []
        assert p.pending
    (tb,) = p.feed(TB[-1])
    assert not p.pending
    assert tb.kind is Kind.TRACEBACK and tb.level is Level.ERRO
    assert tb.lines == tuple(x.rstrip("\n") for x in TB)
    assert tb.text == tb.message == "ZeroDivisionError: division by zero"
    assert tb.lineno == 2 and (tb.src_file, tb.src_line) == ("/w/infer.py", 5)
    assert tb.fields == (("exception", "ZeroDivisionError"), ("message", "division by zero"))
    assert tb.raw_len == sum(len(x) for x in TB)
    (after,) = p.feed("after\n")
    assert after.lineno == 9
    j = tb.to_json()
    assert j["kind"] == "TRACEBACK" and len(j["lines"]) == 7


def test_traceback_edge_cases() -> None:
    # interleaved XSched line (another thread) comes out at once; the traceback stays whole
    p = LogParser(base_date=DAY)
    assert p.feed(TB[0]) == [] and p.feed(TB[1]) == []
    (x,) = p.feed(xline(hms(2, 0, 0), msg="client process 5 closed"))
    assert x.event == ClientClosed(5)
    recs = [r for ln in TB[2:] for r in p.feed(ln)]
    assert len(recs) == 1 and recs[0].lines == tuple(x.rstrip("\n") for x in TB)
    # unfinished at the end of input: flush gives it
    p = LogParser()
    p.feed(TB[0])
    p.feed(TB[1])
    (tb,) = p.flush()
    assert tb.kind is Kind.TRACEBACK and tb.text == TB[0].rstrip() and tb.fields == ()
    assert p.flush() == []
    # broken off by an ordinary line: the group is emitted, then the line
    recs = parse_lines([TB[0], TB[1], "hello world\n", "KeyboardInterrupt\n"])
    assert [r.kind for r in recs] == [Kind.TRACEBACK, Kind.PLAIN, Kind.PLAIN]
    # two in a row, and bare exception names
    recs = parse_lines([TB[0], TB[1], "KeyboardInterrupt\n", TB[0], TB[1], TB[0], TB[1], "a.b.Err: x\n"])
    assert [r.kind for r in recs] == [Kind.TRACEBACK] * 3
    assert [r.text for r in recs] == ["KeyboardInterrupt", TB[0].rstrip(), "a.b.Err: x"]
    # an endless traceback is cut at MAX_GROUP_LINES
    recs = parse_lines([TB[0]] + ["  x\n"] * (MAX_GROUP_LINES + 5))
    assert [len(r.lines) for r in recs if r.kind is Kind.TRACEBACK] == [MAX_GROUP_LINES]
    assert sum(len(r.lines) or 1 for r in recs) == MAX_GROUP_LINES + 6
    # stateless: a header alone
    r = parse_line(TB[0])
    assert r.kind is Kind.TRACEBACK and r.lines == (TB[0].rstrip(),)


# ---------------------------------------------------------------------------------------------
# Custom patterns


def test_custom_patterns() -> None:
    pat = CustomPattern("latency", r"\[T(?P<thread>\d+) P(?P<prio>\d+)\]:? Avg=(?P<avg>[\d.]+)", Level.INFO)
    r = parse_line("[T0 P10]: Avg=1353.99 ms, P50=954.65 ms", patterns=[pat])
    assert r.kind is Kind.CUSTOM and r.tag == "latency" and r.level is Level.INFO
    assert r.fields == (("thread", "0"), ("prio", "10"), ("avg", "1353.99"))
    assert r.message == r.text
    # level / message groups, level given as a string
    p2 = CustomPattern("mine", r"^(?P<level>error|warning): (?P<message>.*)$")
    r = parse_line("error: disk full", patterns=[p2])
    assert r.level is Level.ERRO and r.message == "disk full"
    assert CustomPattern("x", "y", "warn").level is Level.WARN  # type: ignore[arg-type]
    # an XSched line stays XSCHED; a matching pattern adds its fields and tag
    p3 = CustomPattern("handles", r"XQueue \((?P<xq>0x[0-9a-f]+)\)")
    line = "[XSCHED INFO @ T 1 @ 00:00:00.000001] XQueue (0xabc) from process 5 created"
    r = parse_line(line, patterns=[p3])
    assert r.kind is Kind.XSCHED and r.tag == "handles" and r.fields == (("xq", "0xabc"),)
    assert r.event == XQueueCreated(0xABC, 5)
    # LogParser uses them too
    (r,) = parse_lines(["[T1 P0] Avg=3.0\n"], patterns=[pat])
    assert r.kind is Kind.CUSTOM and r.get_field("thread") == "1"
    # the first matching pattern wins; no match -> the usual kind
    assert parse_line("[T1 P0] Avg=3.0", patterns=[p2, pat]).tag == "latency"
    assert parse_line("nothing here", patterns=[pat]).kind is Kind.PLAIN


def test_custom_pattern_errors() -> None:
    with pytest.raises(ValueError, match=r"custom pattern 'bad': invalid regular expression '\(unclosed'"):
        CustomPattern("bad", "(unclosed").compile()
    with pytest.raises(ValueError, match="empty"):
        CustomPattern("e", "").compile()
    with pytest.raises(ValueError, match="unknown level"):
        CustomPattern("l", "x", "LOUD")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'bad'"):
        LogParser(patterns=[CustomPattern("bad", "[")])
    assert CustomPattern("ok", r"(?P<a>\d+)").compile().groupindex == {"a": 1}


# ---------------------------------------------------------------------------------------------
# API details


def test_level_and_kind() -> None:
    assert [lv.value for lv in Level] == ["ERRO", "WARN", "INFO", "DEBG"]
    assert [lv.rank for lv in Level] == [0, 1, 2, 3]
    assert Level.ERRO.at_least(Level.WARN) and not Level.INFO.at_least(Level.WARN)
    assert Level.from_str("warning") is Level.WARN and Level.from_str("Error") is Level.ERRO
    assert Level.from_str("debug") is Level.DEBG and Level.from_str("nope") is None
    assert Level("INFO") is Level.INFO and Level.INFO == "INFO"
    assert {k.value for k in Kind} == {"XSCHED", "LOADER", "TRACEBACK", "HIP_TRACE", "MIOPEN", "USER_TAG",
                                       "CUSTOM", "PLAIN"}


def test_events_and_json() -> None:
    names = {c.type for c in EVENT_TYPES.values()}
    assert len(names) == len(EVENT_TYPES) == 19
    r = parse_line("[XSCHED INFO @ T 1 @ 00:00:00.000001] XQueue (0xabc) from process 5 created", lineno=3)
    j = r.to_json()
    assert list(j) == ["kind", "lineno", "level", "tid", "tod_us", "timestamp", "text", "message", "src_file",
                       "src_line", "tag", "fields", "event", "lines", "raw_len", "truncated", "ansi"]
    assert j["event"] == {"type": "xqueue_created", "handle": 0xABC, "pid": 5}
    assert j["level"] == "INFO" and j["kind"] == "XSCHED" and j["lineno"] == 3
    res = parse_line(RESULT_LINE)
    assert res.to_json()["event"]["fields"]["p99"] == "7400.33"
    assert res.get_field("throughput") == "30.70"
    for line, _ev, _lv in FACTS_EXAMPLES:
        json.dumps(parse_line(line).to_json())


def test_records_are_frozen_hashable_and_copyable() -> None:
    r = parse_line("[XSCHED INFO @ T 1 @ 00:00:00.000001] set priority 3 for XQueue 0xabc")
    assert type(r) is LogRecord and type(r.event) is PrioritySet
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.text = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.event.priority = 1  # type: ignore[union-attr]
    assert r.event == PrioritySet(3, 0xABC) and hash(r.event) == hash(PrioritySet(3, 0xABC))
    assert hash(r) == hash(dataclasses.replace(r))
    assert pickle.loads(pickle.dumps(r)) == r and copy.deepcopy(r) == r
    assert not hasattr(r, "__dict__")
    built = LogRecord(Kind.PLAIN, "x")
    assert built.level is None and built.fields == () and built.lines == ()


def test_logparse_does_not_import_textual() -> None:
    code = "import sys, xsched_tui.core.logparse; sys.exit('textual' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# ---------------------------------------------------------------------------------------------
# Robustness (property-based)


def assert_sane(r: LogRecord) -> None:
    assert isinstance(r, LogRecord) and isinstance(r.kind, Kind)
    assert len(r.text) <= MAX_PARSE
    assert not re.search(r"[\x00-\x08\x0a-\x1f\x7f]", r.text), repr(r.text)
    assert r.level is None or isinstance(r.level, Level)
    assert "(parse error" not in r.message
    json.dumps(r.to_json())


line_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=300)
fragments = st.sampled_from(["\r", "\n", "\r\n", "\x00", "\x1b[32m", "\x1b[0m", "\x1b", " @ T", " @ ", "[",
                             "]", ":", "[XSCHED INFO @ T 1 @ 00:00:00.000001] ",
                             "Traceback (most recent call last):", "  File", "Error: x", "\t", "\udcff",
                             "\x9b"])
mixed = st.lists(st.one_of(line_text, fragments), max_size=20).map("".join)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_random_bytes_never_raise(data: bytes) -> None:
    assert_sane(parse_line(data))
    p = LogParser(base_date=DAY)
    recs = p.feed(data) + p.flush()
    for r in recs:
        assert_sane(r)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(mixed)
def test_random_text_never_raises(text: str) -> None:
    assert_sane(parse_line(text))
    assert_sane(parse_line(text.encode("utf-8", "surrogatepass")))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(mixed, st.binary(max_size=100)), max_size=30))
def test_parser_accounts_for_every_line(chunks: list) -> None:
    p = LogParser(base_date=DAY)
    recs = []
    for c in chunks:
        recs += p.feed(c)
    recs += p.flush()
    for r in recs:
        assert_sane(r)
    # every line is in exactly one record (a traceback record holds several)
    assert sum(len(r.lines) if r.kind is Kind.TRACEBACK else 1 for r in recs) == p.lineno
    starts = [r.lineno for r in recs]
    assert len(set(starts)) == len(starts) and all(1 <= n <= p.lineno for n in starts)


FULL = ("[XSCHED WARN @ T 1262 @ 02:49:26.017870] fail to auto-create XQueue (level-4) for HwQueue "
        "0x461c5f70, err: 2 @ /opt/xsched/preempt/src/xqueue/xqueue.cpp:136\r\n")


@given(st.integers(min_value=0, max_value=len(FULL)), st.sampled_from(["", "\n", "\r\n", "\r"]))
def test_truncated_lines(cut: int, end: str) -> None:
    piece = FULL[:cut] + end
    r = parse_line(piece)
    assert_sane(r)
    if cut >= FULL.index("]") + 1:
        assert r.kind is Kind.XSCHED and r.level is Level.WARN and r.tod_us == hms(2, 49, 26, 17870)
    b = parse_line(piece.encode())
    assert b == r


def test_one_mib_lines() -> None:
    big = "x" * (1 << 20)
    for line in (big, big + "\n", big.encode(), ("[XSCHED INFO @ T 1 @ 00:00:00.000001] " + big).encode(),
                 "\x00" * (1 << 20), "é" * (1 << 20), ("\x1b[32m" * (1 << 18))):
        r = parse_line(line)
        assert_sane(r)
        assert r.truncated and r.raw_len == len(line)
        p = LogParser()
        (r2,) = p.feed(line)
        assert r2.truncated
    r = parse_line(("[XSCHED INFO @ T 1 @ 00:00:00.000001] " + big).encode())
    assert r.kind is Kind.XSCHED and len(r.text) == MAX_PARSE
    exact = "y" * MAX_PARSE
    assert not parse_line(exact + "\n").truncated and parse_line(exact + "y").truncated


def test_nul_and_control_bytes() -> None:
    r = parse_line(b"[XSCHED INFO @ T 1 @ 00:00:00.000001] using\x00 global scheduler\x07\n")
    assert r.text == "[XSCHED INFO @ T 1 @ 00:00:00.000001] using global scheduler"
    assert r.event == SchedulerChosen("global")
    assert parse_line("\x00\x00\x00").text == ""
    r = parse_line(b"caf\xe9 \xff\xfe")
    assert "\ufffd" in r.text and r.kind is Kind.PLAIN
    assert parse_line("a\tb").text == "a\tb"
    assert parse_line(None).kind is Kind.PLAIN  # type: ignore[arg-type]
    assert parse_line(bytearray(b"x\n")).text == "x"  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# The live tail's lazy records (LogParser(lazy=True)): equal to the eager ones, field for field

_LAZY_MSGS = [
    "bench w=1712345678.000010 seq=1", "bench seq=2 @ /x/y.cpp:1", "using default: HPF", "",
    "x", "mail me @ someone:here", "a @ b @ /x/y.cpp:12", "a @ b @ /x/y z.cpp:12", "  two spaces",
    " @ /only/suffix.cpp:3", "XQueueX (0x1) from process 1 created", "settle down", "[RESULTS] x",
    "usingx global scheduler", "Assertion", "Assertion failed: x @ a.cpp:1", "cuda error 700: x",
    "set priority 1 for XQueue 0x1 @ a.cpp:2", "XQueue (0xab) from process 1 destroyed",
    "using app-managed scheduler", "lib libfoo.so not found", "fail to auto-create HwQueue, err: 3",
    "client process 42 connected, cmdline: a b ", "policy changed from HPF to CBS", "[RESULT] p99 7.1",
    "unknown CUDA Level-3 implementation", "HTTP server listening on port 50000", "tab\there",
]


def _lazy_and_eager(lines):
    lazy = LogParser(base_date=DAY, lazy=True)
    eager = LogParser(base_date=DAY)
    a = lazy.feed_many(lines) + lazy.flush()
    b = eager.feed_many(lines) + eager.flush()
    return a, b


def _assert_same(a, b) -> int:
    """Lazy records `a` equal eager records `b`: event types read without filling first, then
    every field; returns how many records were lazy."""
    from xsched_tui.core.logparse import _LazyRecord, event_types

    assert len(a) == len(b)
    n_lazy = sum(type(r) is _LazyRecord for r in a)
    assert event_types(a) == [type(r.event) for r in b]
    assert sum(type(r) is _LazyRecord for r in a) == n_lazy  # event_types filled nothing
    for x, y in zip(a, b, strict=True):
        assert x.to_json() == y.to_json()
        assert type(x) is LogRecord and x == y and hash(x) == hash(y) and repr(x) == repr(y)
    return n_lazy


def test_lazy_records_equal_eager_records_on_every_sample_line(samples: Path) -> None:
    total = 0
    for f in sample_logs(samples):
        raw = f.read_bytes()
        text = raw.decode(errors="replace")
        for lines in (raw.splitlines(), raw.splitlines(keepends=True), text.splitlines()):
            total += _assert_same(*_lazy_and_eager(lines))
    lines = [f"[XSCHED {lv} @ T {7 + k} @ 23:59:59.{k:06d}] {msg}"
             for k, msg in enumerate(_LAZY_MSGS) for lv in ("INFO", "DEBG", "WARN", "ERRO")]
    lines += [f"[INFO @ T58880 @ 09:05:23.2781] {msg}" for msg in _LAZY_MSGS]  # AE prefix, 4 digits
    lines += [f"[XSCHED INFO @ T 1 @ 00:00:00.000001] {msg}" for msg in _LAZY_MSGS]  # midnight roll-over
    lines += ["Traceback (most recent call last):", "[XSCHED INFO @ T 1 @ 00:00:00.000002] bench",
              '  File "x.py", line 1, in <module>', "ValueError: x"]  # a lazy line inside a traceback
    lines += [f"[XSCHED {'DEBG' if k % 7 else 'INFO'} @ T 2001 @ 10:00:{k // 100:02d}.{k % 100:06d}] "
              f"bench seq={k}{' @ /x/y.cpp:1' if k % 3 else ''}" for k in range(1500)]
    total += _assert_same(*_lazy_and_eager(lines))
    total += _assert_same(*_lazy_and_eager([ln.encode() for ln in lines]))
    assert total > 3000  # the lazy path really ran


def test_lazy_record_behaves_like_a_record() -> None:
    from xsched_tui.core.logparse import _LazyRecord

    line = b"[XSCHED DEBG @ T 5 @ 01:02:03.000004] bench seq=2 @ /x/y.cpp:1"
    fresh = lambda: LogParser(base_date=DAY, lazy=True).feed_many([line])[0]  # noqa: E731
    (eager,) = LogParser(base_date=DAY).feed_many([line])
    r = fresh()
    assert type(r) is _LazyRecord and isinstance(r, LogRecord)
    assert r.level is Level.DEBG and r.tid == 5 and r.time_text == "01:02:03.000004"
    assert type(r) is _LazyRecord  # reading eager fields fills nothing
    assert r.src_line == 1 and type(r) is LogRecord and r == eager
    assert eager == fresh() and fresh() == eager and fresh() == fresh()
    assert (fresh() != eager) is False  # __ne__ of a lazy record
    assert hash(fresh()) == hash(eager) and repr(fresh()) == repr(eager)
    assert {fresh(): 1}[eager] == 1
    assert dataclasses.replace(fresh(), lineno=9) == dataclasses.replace(eager, lineno=9)
    assert pickle.loads(pickle.dumps(fresh())) == eager
    assert copy.copy(fresh()) == eager and copy.deepcopy(fresh()) == eager
    with pytest.raises(dataclasses.FrozenInstanceError):
        fresh().message = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        fresh().no_such_field  # noqa: B018
    assert fresh().to_json() == eager.to_json()


_msg_words = st.sampled_from(["XQueue", "set", "using", "fail", "lib", "Assertion", "cuda", "bench",
                              "@", "/x.cpp:1", "(0xab)", "from", "process", "created", "1", "-2",
                              "priority", "for", "[RESULT]", "failed:", "scheduler", "x=1", "\t"])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["INFO", "DEBG", "WARN", "ERRO"]),
                          st.lists(_msg_words, max_size=8).map(" ".join),
                          st.sampled_from(["", " @ /a/b.cpp:12", " @ x:y", " @ a b.cpp:1"])),
                min_size=1, max_size=20))
def test_lazy_and_eager_agree_on_random_xsched_lines(parts) -> None:
    lines = [f"[XSCHED {lv} @ T 3 @ 12:00:00.{k:06d}] {msg}{suffix}"
             for k, (lv, msg, suffix) in enumerate(parts)]
    _assert_same(*_lazy_and_eager(lines))


def test_repeated_messages_parse_like_the_general_path() -> None:
    # The hot loop caches the parse of a message text (suffix split, handler, event): repeats of
    # a warning, at another level or thread, and messages that differ only in the suffix must
    # still give what feed() (the uncached general path) gives, line for line.
    warn = "fail to auto-create XQueue (level-4) for HwQueue 0x461c5f70, err: 2 @ /x/xqueue.cpp:136"
    lines = [f"[XSCHED WARN @ T {t} @ 10:00:00.00000{t}] {warn}" for t in range(1, 4)]
    lines += [f"[XSCHED ERRO @ T 7 @ 10:00:00.000009] {warn}",
              f"[XSCHED ERRO @ T 7 @ 10:00:00.000010] {warn[:-3]}999",
              "[XSCHED INFO @ T 7 @ 10:00:01.000000] using local scheduler with policy HPF",
              "[XSCHED INFO @ T 8 @ 10:00:01.000001] using local scheduler with policy HPF",
              "[XSCHED WARN @ T 8 @ 10:00:01.000002] [RESULT] fg p99 7400.33 us",
              "[XSCHED WARN @ T 8 @ 10:00:01.000003] [RESULT] fg p99 7400.33 us",
              "[XSCHED INFO @ T 8 @ 10:00:01.000004] set priority 99999999999999999999999 x"] * 2
    hot = LogParser(base_date=DAY)
    got = hot.feed_many(lines) + hot.flush()
    general = LogParser(base_date=DAY)
    want = [r for ln in lines for r in general.feed(ln)] + general.flush()
    assert got == want
    assert got[0].event == got[1].event and got[0].src_line == 136 and got[4].src_line == 999
