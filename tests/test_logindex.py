"""LineIndex / LevelIndex / line sources against real files and brute-force answers."""

from __future__ import annotations

import os
import random
import re
from itertools import pairwise
from pathlib import Path

import pytest

from xsched_tui.core.linesource import FileLineSource, FilteredLineSource, ListLineSource
from xsched_tui.core.logindex import BLOCK, MAX_LINE, Change, LineIndex, LogFileError, line_level
from xsched_tui.core.logparse import Kind, Level, parse_line

SMALL_CHUNK = 2 * BLOCK  # many chunks even for small files: exercises every chunk boundary
INDEXED_KINDS = {Kind.XSCHED, Kind.USER_TAG, Kind.LOADER, Kind.TRACEBACK}


def xsched(level: str, i: int, tid: int = 1259) -> bytes:
    return (f"[XSCHED {level} @ T {tid} @ 02:34:{i % 60:02d}.{i % 1_000_000:06d}] "
            f"XQueue (0x{i:x}) from process 1268 created").encode()


def mixed_lines(n: int, seed: int = 7) -> list[bytes]:
    """XSched lines of every level in both formats, colour, tags, loader errors, tracebacks,
    empty lines and junk."""
    r = random.Random(seed)
    out: list[bytes] = []
    for i in range(n):
        x = r.random()
        if x < 0.70:
            out.append(xsched(r.choice(["INFO", "INFO", "DEBG", "WARN", "ERRO"]), i, r.randrange(1, 9999)))
        elif x < 0.74:
            lv = r.choice(["INFO", "WARN", "ERRO"])
            out.append(f"[{lv} @ T{r.randrange(1, 99999)} @ 09:05:23.278123] old format {i}".encode())
        elif x < 0.78:
            colour = {"WARN": b"33", "ERRO": b"31", "INFO": b"32"}
            lv = r.choice(["INFO", "WARN", "ERRO"])
            out.append(b"[XSCHED \x1b[" + colour[lv] + b"m" + lv.encode() + b"\x1b[0m @ T 1436 @ "
                       b"02:50:07.467712] coloured " + str(i).encode())
        elif x < 0.80:
            out.append(r.choice([b"[WARN] user tag line", b"[ERROR]: it broke", b"[INFO] fine",
                                 b"[RESULT] fg throughput 30.70 reqs/s"]))
        elif x < 0.81:
            out.append(b"Traceback (most recent call last):")
        elif x < 0.82:
            out.append(r.choice([
                b"python3: symbol lookup error: /opt/xsched/lib/libshimcuda.so: undefined symbol: cuFoo",
                b"ERROR: ld.so: object '/opt/x/libshim.so' from LD_PRELOAD cannot be preloaded "
                b"(cannot open shared object file): ignored.",
                b"python3: error while loading shared libraries: libpreempt.so: cannot open shared "
                b"object file: No such file or directory",
            ]))
        elif x < 0.86:
            out.append(b"")
        elif x < 0.90:
            out.append(b"  File \"wl.py\", line 12, in <module>  [XSCHED WARN @ T 1 @ 01:02:03.000004]")
        elif x < 0.95:
            junk = bytes(r.randrange(256) for _ in range(r.randrange(1, 120)))
            out.append(junk.replace(b"\n", b".").replace(b"\r", b"."))
        else:
            out.append(b"plain output " + b"x" * r.randrange(0, 3000))
    return out


def expected_lines(data: bytes) -> list[bytes]:
    """The line model: split on \\n, a trailing empty piece is not a line, CR stripped, capped."""
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    return [(p[:-1] if p.endswith(b"\r") else p)[:MAX_LINE] if len(p) <= MAX_LINE + 1 else p[:MAX_LINE]
            for p in parts]


def brute_levels(data: bytes) -> list[tuple[int, Level]]:
    """ERRO/WARN lines by parsing every line. Not indexed (documented): an XSched prefix glued
    behind other output on the same line, and HIP/MIOpen/custom-pattern levels."""
    out = []
    for i, line in enumerate(expected_lines(data)):
        rec = parse_line(line)
        glued = rec.kind is Kind.XSCHED and not rec.text.startswith("[")
        if rec.kind in INDEXED_KINDS and rec.level in (Level.ERRO, Level.WARN) and not glued:
            out.append((i, rec.level))
    return out


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def build(path: Path, chunk: int = SMALL_CHUNK) -> LineIndex:
    idx = LineIndex(path, chunk_size=chunk)
    idx.build()
    return idx


def check_all(idx: LineIndex, data: bytes) -> None:
    exp = expected_lines(data)
    assert idx.line_count == len(exp)
    assert [idx.get_line(i) for i in range(len(exp))] == exp


# -- the line index ---------------------------------------------------------------------------


def test_generated_file_counts_and_random_lines(tmp_path: Path) -> None:
    data = b"\n".join(mixed_lines(40_000)) + b"\n"
    p = write(tmp_path / "x.log", data)
    with build(p) as idx:
        exp = data.splitlines()  # no lone CR in this data: splitlines == our model
        assert exp == expected_lines(data)
        assert idx.line_count == len(exp) == len(idx)
        r = random.Random(3)
        for i in [0, 1, len(exp) - 1, *(r.randrange(len(exp)) for _ in range(2000))]:
            assert idx.get_line(i) == exp[i]
            assert idx.get_line(i - len(exp)) == exp[i]  # negative indices count from the end
            assert idx.line_at_offset(idx.line_offset(i)) == i
        with pytest.raises(IndexError):
            idx.get_line(len(exp))
        assert idx.progress == (len(data), len(data))
        assert idx.fraction == 1.0
        assert idx.nbytes <= 8 * (len(data) // BLOCK + 2)  # one checkpoint per 64 KiB block


def test_every_line_with_blocks_and_chunks_of_odd_lengths(tmp_path: Path) -> None:
    r = random.Random(11)
    lines = [b"y" * r.choice([0, 1, 63, 64, BLOCK - 1, BLOCK, BLOCK + 1, 500]) for _ in range(900)]
    data = b"\n".join(lines) + b"\n"
    with build(write(tmp_path / "odd.log", data)) as idx:
        check_all(idx, data)


def test_tail_is_available_before_any_indexing(tmp_path: Path) -> None:
    data = b"\n".join(mixed_lines(20_000)) + b"\n"
    with LineIndex(write(tmp_path / "t.log", data)) as idx:
        assert not idx.done.is_set() and idx.line_count == 0
        tail = idx.tail(100)
        exp = expected_lines(data)
        assert tail.lines == exp[-100:]
        assert idx.tail_lines(5) == exp[-5:]
        assert tail.end == len(data)
        idx.build()
        assert idx.line_at_offset(tail.start) == len(exp) - 100


def test_tail_of_short_and_partial_files(tmp_path: Path) -> None:
    with LineIndex(write(tmp_path / "s.log", b"a\nb\nc")) as idx:
        assert idx.tail_lines(10) == [b"a", b"b", b"c"]
        assert idx.tail(2).start == 2
    with LineIndex(write(tmp_path / "e.log", b"")) as idx:
        assert idx.tail_lines(10) == []


def test_background_thread_builds_and_reports_progress(tmp_path: Path) -> None:
    data = b"\n".join(mixed_lines(30_000)) + b"\n"
    seen: list[tuple[int, int]] = []
    with LineIndex(write(tmp_path / "bg.log", data), chunk_size=SMALL_CHUNK) as idx:
        idx.build(progress=lambda done, total: seen.append((done, total)))
        assert seen[-1] == (len(data), len(data))
        assert all(a <= b for (a, _), (b, _) in pairwise(seen))
    with LineIndex(tmp_path / "bg.log") as idx:
        idx.start()
        assert idx.wait(30)
        assert idx.error is None
        assert idx.line_count == len(expected_lines(data))


def test_growth_then_refresh_extends(tmp_path: Path) -> None:
    p = tmp_path / "grow.log"
    first = b"\n".join(mixed_lines(5000, seed=1)) + b"\n"
    write(p, first)
    with build(p) as idx:
        gen = idx.generation
        assert idx.refresh() is Change.NONE
        more = b"\n".join(mixed_lines(3000, seed=2))
        with open(p, "ab") as f:
            f.write(more[: len(more) // 2])  # a partial last line
        assert idx.changed_on_disk()
        assert idx.refresh() is Change.GREW
        check_all(idx, first + more[: len(more) // 2])
        with open(p, "ab") as f:
            f.write(more[len(more) // 2 :] + b"\n")
        assert idx.refresh() is Change.GREW
        assert idx.generation == gen
        check_all(idx, first + more + b"\n")
        assert not idx.changed_on_disk()


def test_truncation_resets(tmp_path: Path) -> None:
    p = tmp_path / "trunc.log"
    write(p, b"\n".join(mixed_lines(4000)) + b"\n")
    with build(p) as idx:
        gen = idx.generation
        new = b"\n".join(xsched("INFO", i) for i in range(10)) + b"\n"
        with open(p, "r+b") as f:  # same inode, shorter content
            f.truncate(0)
            f.write(new)
        assert idx.refresh() is Change.RESET
        assert idx.generation != gen
        check_all(idx, new)


def test_rewrite_in_place_and_replacement_reset(tmp_path: Path) -> None:
    p = tmp_path / "rw.log"
    old = b"\n".join(xsched("INFO", i) for i in range(100)) + b"\n"
    write(p, old)
    with build(p) as idx:
        # Rewritten through the same inode, longer than before: the head differs.
        new = b"\n".join(xsched("WARN", i) for i in range(300)) + b"\n"
        with open(p, "r+b") as f:
            f.write(new)
        assert idx.refresh() is Change.RESET
        check_all(idx, new)
        # Replaced by another file (logrotate, an editor's save): a new inode.
        other = tmp_path / "other.log"
        write(other, b"first\nsecond\n")
        os.replace(other, p)
        assert idx.changed_on_disk()
        assert idx.refresh() is Change.RESET
        check_all(idx, b"first\nsecond\n")
        # Deleted: keep what we have, report it.
        p.unlink()
        assert idx.refresh() is Change.NONE
        assert idx.missing
        assert idx.get_line(1) == b"second"


def test_crlf_lines(tmp_path: Path) -> None:
    data = b"".join(xsched("INFO", i) + b"\r\n" for i in range(2000))
    with build(write(tmp_path / "crlf.log", data)) as idx:
        check_all(idx, data)
        assert idx.get_line(0).endswith(b"created")
        assert idx.tail_lines(1)[0].endswith(b"created")


def test_no_trailing_newline(tmp_path: Path) -> None:
    data = b"\n".join(xsched("ERRO", i) for i in range(1000))
    with build(write(tmp_path / "nonl.log", data)) as idx:
        check_all(idx, data)
        assert idx.line_count == 1000
        lv = idx.level_index()
        assert list(lv.lines) + [ln for ln, _ in lv.pending] == list(range(1000))


def test_empty_file(tmp_path: Path) -> None:
    with build(write(tmp_path / "empty.log", b"")) as idx:
        assert idx.line_count == 0
        assert idx.tail_lines(100) == []
        with pytest.raises(IndexError):
            idx.get_line(0)
        assert len(idx.level_index()) == 0
        assert idx.search(re.compile(b"x"), -1) is None


def test_only_newlines(tmp_path: Path) -> None:
    data = b"\n" * 100_000
    with build(write(tmp_path / "nl.log", data)) as idx:
        check_all(idx, data)


def test_binary_junk(tmp_path: Path) -> None:
    r = random.Random(5)
    data = bytes(r.randrange(256) for _ in range(600_000))
    with build(write(tmp_path / "junk.bin", data)) as idx:
        check_all(idx, data)
        assert [ln for ln, _ in idx.level_index().items()] == [ln for ln, _ in brute_levels(data)]
        src = FileLineSource(tmp_path / "junk.bin", index=idx)
        src.load_tail()
        src.activate()
        for i in range(0, len(src), 97):
            assert not re.search(r"[\x00-\x08\x0a-\x1f\x7f]", src.record(i).text)


def test_one_mib_line_is_capped(tmp_path: Path) -> None:
    huge = b"[XSCHED WARN @ T 1 @ 01:02:03.000004] " + b"z" * (1024 * 1024)
    data = xsched("INFO", 1) + b"\n" + huge + b"\n" + xsched("ERRO", 2) + b"\n" + huge
    with build(write(tmp_path / "long.log", data)) as idx:
        assert idx.line_count == 4
        assert len(idx.get_line(1)) == MAX_LINE
        assert idx.get_line(1) == huge[:MAX_LINE]
        assert idx.get_line(2) == xsched("ERRO", 2)
        assert len(idx.get_line(3)) == MAX_LINE
        assert all(len(t) <= MAX_LINE for t in idx.tail_lines(3))
        assert idx.level_index().items() == [(1, Level.WARN), (2, Level.ERRO), (3, Level.WARN)]
        rec = parse_line(idx.get_line(1))
        assert rec.level is Level.WARN
    src = FileLineSource(tmp_path / "long.log", tail=3)
    src.load_tail()
    src.show_tail()
    assert [src.record(i).truncated for i in range(3)] == [True, False, True]
    assert len(src.line_bytes(0)) == MAX_LINE
    src.build()
    src.activate()
    recs = [src.record(i) for i in range(4)]
    assert [r.truncated for r in recs] == [False, True, False, True]
    assert recs[1].level is Level.WARN and len(recs[1].text) <= MAX_LINE
    src.close()


@pytest.mark.parametrize("chunk", [BLOCK, SMALL_CHUNK, 8 * 1024 * 1024])
def test_level_index_matches_brute_force(tmp_path: Path, chunk: int) -> None:
    data = b"\n".join(mixed_lines(30_000, seed=chunk)) + b"\n"
    with build(write(tmp_path / "lv.log", data), chunk) as idx:
        lv = idx.level_index()
        exp = brute_levels(data)
        assert lv.items() == exp
        assert len(lv) == len(exp)
        assert lv.count(Level.ERRO) == sum(1 for _, v in exp if v is Level.ERRO)
        errs = [ln for ln, v in exp if v is Level.ERRO]
        assert list(lv.line_numbers(Level.ERRO)) == errs
        assert list(lv.line_numbers()) == [ln for ln, _ in exp]
        assert lv.next(-1) == exp[0][0]
        assert lv.next(exp[0][0]) == exp[1][0]
        assert lv.next(exp[0][0], Level.ERRO) == next(ln for ln in errs if ln > exp[0][0])
        assert lv.prev(exp[-1][0]) == exp[-2][0]
        assert lv.prev(0) is None
        assert lv.level_of(exp[3][0]) is exp[3][1]
        by_line = dict(exp)
        for i, line in enumerate(expected_lines(data)[:3000]):
            assert line_level(line) is by_line.get(i)


def test_level_index_grows_incrementally(tmp_path: Path) -> None:
    p = tmp_path / "lvgrow.log"
    a = b"\n".join(mixed_lines(8000, seed=1)) + b"\n"
    b = b"\n".join(mixed_lines(8000, seed=2))  # ends without a newline
    write(p, a)
    with build(p) as idx:
        assert idx.level_index().items() == brute_levels(a)
        with open(p, "ab") as f:
            f.write(b + b"\n[XSCHED WARN @ T 3 @ 01:02:03.000004] half")
        idx.refresh()
        lv = idx.level_index()
        assert lv.items() == brute_levels(a + b + b"\n[XSCHED WARN @ T 3 @ 01:02:03.000004] half")
        assert lv.pending  # the last line has no newline yet
        with open(p, "ab") as f:
            f.write(b" done\n")
        idx.refresh()
        assert idx.level_index().items() == brute_levels(p.read_bytes())
        assert idx.levels is lv
        p.write_bytes(b"[XSCHED ERRO @ T 3 @ 01:02:03.000004] new file\n")  # shorter: reset
        assert idx.refresh() is Change.RESET
        assert idx.levels is None
        assert idx.level_index().items() == [(0, Level.ERRO)]


def test_search_forward_and_backward(tmp_path: Path) -> None:
    lines = [xsched("INFO", i) for i in range(20_000)]
    lines[123] += b" needle"
    lines[15_000] += b" needle"
    data = b"\n".join(lines) + b"\n"
    with build(write(tmp_path / "s.log", data)) as idx:
        rx = re.compile(rb"needle")
        assert idx.search(rx, -1) == 123
        assert idx.search(rx, 123) == 15_000
        assert idx.search(rx, 15_000) is None
        assert idx.search(rx, 19_999, forward=False) == 15_000
        assert idx.search(rx, 15_000, forward=False) == 123
        assert idx.search(rx, 123, forward=False) is None


# -- errors -----------------------------------------------------------------------------------


def test_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(LogFileError, match="no such file"):
        LineIndex(tmp_path / "missing.log")
    with pytest.raises(LogFileError, match="is a directory"):
        LineIndex(tmp_path)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(LogFileError, match="not a regular file"):
        LineIndex(fifo)
    err = None
    try:
        LineIndex(tmp_path / "missing.log")
    except LogFileError as e:
        err = e
    assert err is not None and err.path == str(tmp_path / "missing.log")


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = write(tmp_path / "secret.log", b"x\n")
    if os.geteuid() == 0:  # root reads files whatever their mode: fake the refusal
        def refuse(*a: object, **k: object) -> int:
            raise PermissionError(13, "Permission denied", str(p))

        monkeypatch.setattr("xsched_tui.core.logindex.os.open", refuse)
    else:
        p.chmod(0)
    with pytest.raises(LogFileError, match="permission denied"):
        LineIndex(p)


def test_closed_index_raises_a_clear_error(tmp_path: Path) -> None:
    idx = build(write(tmp_path / "c.log", b"a\nb\n"))
    idx.close()
    with pytest.raises(LogFileError, match="closed"):
        idx.tail(1)


# -- line sources -----------------------------------------------------------------------------


def test_file_source_tail_then_index(tmp_path: Path) -> None:
    data = b"\n".join(xsched("INFO", i) for i in range(5000)) + b"\n"
    src = FileLineSource(write(tmp_path / "f.log", data), tail=50, label="xserver")
    src.load_tail()
    src.show_tail()
    assert len(src) == 50 and not src.ready
    assert src.record(0).message.startswith(f"XQueue (0x{4950:x})")
    assert src.source_label(0) == "xserver"
    src.build()
    assert src.activate() == 4950
    assert len(src) == 5000 and src.ready and src.progress == 1.0
    assert src.record(4950).lineno == 4951
    assert src.find(re.compile(r"0x1f4\)"), -1) == 500
    assert src.next_problem(0) is None  # fallback scan: no WARN/ERRO anywhere
    with open(tmp_path / "f.log", "ab") as f:
        f.write(xsched("ERRO", 5000) + b"\n")
    assert src.refresh_index() is Change.GREW
    assert src.sync(Change.GREW) is Change.GREW and len(src) == 5001
    assert src.next_problem(0) == 5000
    src.build_levels()
    assert src.levels_ready and src.next_problem(10) == 5000 and src.next_problem(5000, False) is None
    probs = src.problems()
    assert probs is not None and len(probs) == 1 and probs.record(0).level is Level.ERRO
    src.close()


def test_list_source_trims_and_labels() -> None:
    src = ListLineSource(maxlen=100)
    src.extend((f"w{i % 3}", parse_line(xsched("WARN" if i % 10 == 0 else "INFO", i))) for i in range(250))
    assert len(src) == 100 and src.trimmed == 150
    assert src.record(0).message.startswith(f"XQueue (0x{150:x})")
    assert src.label_width == 2 and src.source_label(0) == "w0"
    assert src.next_problem(-1) == 0 and src.next_problem(0) == 10
    assert src.next_problem(10, forward=False) == 0
    assert src.find(re.compile(r"0xaa\)"), -1) == 20
    gen = src.generation
    src.clear()
    assert len(src) == 0 and src.generation == gen + 1


def test_filtered_source() -> None:
    base = ListLineSource([(None, parse_line(xsched("INFO", i))) for i in range(10)])
    f = FilteredLineSource(base, [2, 5, 7])
    assert len(f) == 3 and f.base_line(1) == 5 and f.index_of(6) == 2
    assert f.record(2) is base.record(7)
