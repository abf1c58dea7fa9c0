"""LogView driven through Pilot in a tiny test App (no wall-clock assertions)."""

from __future__ import annotations

import re
import threading
from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import ProgressBar

from xsched_tui.core.linesource import FileLineSource, LineSource, ListLineSource
from xsched_tui.core.logindex import BLOCK, LineIndex
from xsched_tui.core.logparse import Level, parse_line
from xsched_tui.tui.widgets.logview import LogPanel, LogView

SIZE = (100, 12)


def line(level: str, i: int, extra: str = "") -> str:
    return (f"[XSCHED {level} @ T {1000 + i % 7} @ 02:34:{i % 60:02d}.{i:06d}] "
            f"XQueue (0x{i:x}) from process 1268 created{extra}")


def records(n: int, start: int = 0, problems: dict[int, str] | None = None,
            label: str | None = None) -> list[tuple[str | None, object]]:
    problems = problems or {}
    return [(label, parse_line(line(problems.get(i, "INFO"), i))) for i in range(start, start + n)]


class LogApp(App[None]):
    def __init__(self, source: LineSource, **kw: object) -> None:
        super().__init__()
        self.source = source
        self.kw = kw

    def compose(self) -> ComposeResult:
        yield LogPanel(self.source, **self.kw)  # type: ignore[arg-type]

    @property
    def view(self) -> LogView:
        return self.query_one(LogView)


def rows(view: LogView) -> list[str]:
    return [view.render_line(y).text for y in range(view.scrollable_content_region.height)]


async def until(pilot, cond, tries: int = 500) -> None:
    """Let the app run until ``cond()`` holds (bounded by iterations, not asserted on time)."""
    for _ in range(tries):
        if cond():
            return
        await pilot.pause(0.01)
    assert cond()


async def test_renders_lines_with_level_colour() -> None:
    src = ListLineSource(records(30, problems={29: "ERRO", 27: "WARN"}))
    app = LogApp(src)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        view = app.view
        assert view.line_count == 30
        shown = rows(view)
        assert "XQueue (0x1d) from process 1268 created" in shown[-1]  # followed to the end
        assert "02:34:29.000029 ERRO T1001" in shown[-1]  # compact: time, level, thread
        strip = view.render_line(len(shown) - 1)
        erro = [s for s in strip if s.text == "ERRO"]
        assert erro and erro[0].style is not None and erro[0].style.bold
        assert erro[0].style.color is not None
        view.compact = False
        await pilot.pause()
        assert rows(view)[-1].lstrip().startswith("[XSCHED ERRO @ T 1001 @")


async def test_follow_scrolls_on_append_and_stops_when_scrolled_up() -> None:
    src = ListLineSource(records(5))
    app = LogApp(src)
    async with app.run_test(size=SIZE) as pilot:
        view = app.view
        view.focus()
        await pilot.pause()
        assert view.follow and view.cursor_line == 4
        src.extend(records(200, start=5))
        view.lines_changed()
        await pilot.pause()
        assert view.line_count == 205 and view.cursor_line == 204
        assert view.scroll_offset.y == view.max_scroll_y > 0
        assert "(0xcc)" in rows(view)[-1]
        await pilot.press("k")  # the user moves up: stop following
        assert not view.follow and view.cursor_line == 203
        top = view.scroll_offset.y
        src.extend(records(50, start=205))
        view.lines_changed()
        await pilot.pause()
        assert view.line_count == 255 and view.cursor_line == 203 and view.scroll_offset.y == top
        await pilot.press("end")
        assert view.follow and view.cursor_line == 254
        assert view.scroll_offset.y == view.max_scroll_y
        await pilot.press("f")
        assert not view.follow


async def test_bounded_source_shifts_cursor_and_marks() -> None:
    src = ListLineSource(records(100), maxlen=100)
    app = LogApp(src, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        view = app.view
        view.focus()
        await pilot.pause()
        view.move_cursor(50)
        view.toggle_mark()
        src.extend(records(10, start=100))  # drops the 10 oldest
        view.lines_changed()
        await pilot.pause()
        assert view.cursor_line == 40 and view.marks == {40}
        assert view.source.record(40).message.startswith("XQueue (0x32)")


async def test_search_highlight_and_next_prev_match() -> None:
    items = records(60)
    for i in (7, 30, 55):
        items[i] = (None, parse_line(line("INFO", i, " needle")))
    app = LogApp(ListLineSource(items), follow=False)
    async with app.run_test(size=SIZE) as pilot:
        view = app.view
        view.focus()
        await pilot.press("home")
        assert view.cursor_line == 0
        view.set_search("NEEDLE")  # plain text, case-insensitive by default
        await pilot.press("n")
        assert view.cursor_line == 7
        y = 7 - view.scroll_offset.y
        hits = [s for s in view.render_line(y) if s.text == "needle"]
        assert hits and hits[0].style is not None and hits[0].style.bgcolor is not None
        plain = [s for s in view.render_line(y) if "from process" in s.text]
        assert plain and all(s.style is None or s.style.bgcolor != hits[0].style.bgcolor for s in plain)
        await pilot.press("n")
        assert view.cursor_line == 30
        await pilot.press("n")
        assert view.cursor_line == 55
        await pilot.press("n")  # no more: stays
        assert view.cursor_line == 55
        await pilot.press("N", "N")
        assert view.cursor_line == 7
        view.set_search(r"0x1[ef]\)", regex=True)
        await pilot.press("n")
        assert view.cursor_line == 30
        view.set_search(None)
        assert view.search is None


async def test_mark_toggling() -> None:
    app = LogApp(ListLineSource(records(40)), follow=False)
    async with app.run_test(size=SIZE) as pilot:
        view = app.view
        view.focus()
        await pilot.press("home", "j", "j", "m")
        assert view.marks == {2}
        assert view.render_line(2).text.startswith("▌")
        assert not view.render_line(1).text.startswith("▌")
        await pilot.press("j", "j", "m")
        assert view.marks == {2, 4}
        await pilot.press("home")
        assert view.next_mark() == 2 and view.next_mark() == 4 and view.next_mark() is None
        await pilot.press("m")
        assert view.marks == {2}
        assert not view.render_line(4).text.startswith("▌")


async def test_next_problem_jumps_to_warn_and_erro() -> None:
    src = ListLineSource(records(80, problems={10: "WARN", 33: "ERRO", 70: "WARN"}))
    app = LogApp(src, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        view = app.view
        view.focus()
        await pilot.press("home", "e")
        assert view.cursor_line == 10
        await pilot.press("e")
        assert view.cursor_line == 33
        assert view.source.record(view.cursor_line).level is Level.ERRO
        await pilot.press("e", "e")
        assert view.cursor_line == 70
        await pilot.press("E")
        assert view.cursor_line == 33
        assert view.next_problem(level=Level.ERRO) is None
        assert view.next_problem(forward=False, level=Level.ERRO) is None  # 33 is the only ERRO


async def test_source_labels_column() -> None:
    src = ListLineSource([*records(3, label="xserver"), *records(3, start=3, label="app")])
    app = LogApp(src)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        shown = [r for r in rows(app.view) if r.strip()]
        assert shown[0][1:9] == "xserver " and shown[-1][1:9] == "app     "


class GatedIndex(LineIndex):
    """Holds its scan after the first chunk until the test opens the gate."""

    def __init__(self, *a: object, **k: object) -> None:
        super().__init__(*a, **k)  # type: ignore[arg-type]
        self.gate = threading.Event()

    def _on_chunk(self, scanned: int) -> None:
        self.gate.wait(30)


def big_file(path: Path, n: int) -> Path:
    with open(path, "w") as f:
        for i in range(n):
            f.write(line("ERRO" if i % 1000 == 999 else "WARN" if i % 100 == 42 else "INFO", i) + "\n")
    return path


async def test_big_file_shows_tail_at_once_then_indexes(tmp_path: Path) -> None:
    p = big_file(tmp_path / "big.log", 40_000)  # ~3.4 MB, 27 chunks of 128 KiB
    index = GatedIndex(p, chunk_size=2 * BLOCK)
    src = FileLineSource(p, index=index, tail=300)
    app = LogApp(src)
    async with app.run_test(size=SIZE) as pilot:
        view = app.view
        await until(pilot, lambda: view.line_count > 0)
        # The tail is on screen while the scan is held after its first chunk.
        assert not src.ready and not index.done.is_set()
        assert view.line_count == 300
        assert "(0x9c3f)" in rows(view)[-1]  # line 39 999
        bar = app.query_one(ProgressBar)
        await until(pilot, lambda: not bar.has_class("-hidden"))
        assert view.index_progress is not None and view.index_progress < 1.0
        index.gate.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert src.ready and src.levels_ready
        assert view.line_count == 40_000
        assert view.cursor_line == 39_999 and "(0x9c3f)" in rows(view)[-1]
        assert bar.has_class("-hidden") and view.index_progress is None
        assert "40 ERRO" in view.status and "400 WARN" in view.status
        view.focus()
        await pilot.press("home", "e")
        assert view.cursor_line == 42
        await pilot.press("e", "e", "e", "e", "e", "e", "e", "e", "e", "e")
        assert view.cursor_line == 999  # 142, 242, ... 942, then the first ERRO
        await pilot.press("E")
        assert view.cursor_line == 942
        # Level filtering: a view of only the ERRO/WARN lines, from the level index.
        problems = src.problems()
        assert problems is not None
        view.set_source(problems)
        await pilot.pause()
        assert view.line_count == 440
        assert {problems.record(i).level for i in range(440)} == {Level.WARN, Level.ERRO}
        assert problems.base_line(0) == 42
        errors = src.problems(Level.ERRO)
        assert errors is not None and len(errors) == 40


async def test_big_file_search_and_growth(tmp_path: Path) -> None:
    p = big_file(tmp_path / "grow.log", 20_000)
    src = FileLineSource(p)
    app = LogApp(src, poll_interval=0.02)
    async with app.run_test(size=SIZE) as pilot:
        view = app.view
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert view.line_count == 20_000
        view.focus()
        await pilot.press("home")
        view.set_search("(0x4e1f)")  # line 19 999
        await pilot.press("n")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert view.cursor_line == 19_999
        await pilot.press("end")
        with open(p, "a") as f:
            f.write(line("ERRO", 20_000, " appended") + "\n")
        await until(pilot, lambda: view.line_count == 20_001)
        await until(pilot, lambda: " appended" in rows(view)[-1])
        assert view.cursor_line == 20_000
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("home", "E")  # no problem before line 0
        assert view.cursor_line == 0
        view.move_cursor(19_999)
        await pilot.press("e")
        assert view.cursor_line == 20_000


async def test_big_file_truncated_while_followed(tmp_path: Path) -> None:
    p = big_file(tmp_path / "trunc.log", 5_000)
    app = LogApp(FileLineSource(p), poll_interval=0.02)
    async with app.run_test(size=SIZE) as pilot:
        view = app.view
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert view.line_count == 5_000 and view.follow
        view.toggle_mark(4_990)
        with open(p, "w") as f:  # truncated and rewritten (same inode), shorter
            f.write(line("ERRO", 1, " after truncation") + "\n")
        await until(pilot, lambda: view.line_count == 1)
        await until(pilot, lambda: " after truncation" in "".join(rows(view)))
        assert view.follow and view.cursor_line == 0 and view.marks == set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert view.source.next_problem(-1) == 0  # type: ignore[attr-defined]


async def test_plain_line_segments_equal_the_rich_text_route(samples: Path) -> None:
    # _plain_segments builds the segments of the common line directly; they must be what
    # render_record + Text.render give, segment for segment and style for style, with and
    # without the cursor, for every level and prefix shape, and fall back where it cannot
    recs = []
    for f in sorted(samples.rglob("*.stderr.log"))[:6]:
        recs += [parse_line(x) for x in f.read_text().splitlines()[:200]]
    for lv in ("ERRO", "WARN", "INFO", "DEBG"):
        recs += [parse_line(line(lv, 7)), parse_line(f"[{lv} @ T58880 @ 09:05:23.278123] old prefix"),
                 parse_line(f"[XSCHED {lv} @ T 1 @ 09:05:23.278123]"),
                 parse_line(f"[XSCHED {lv} @ T 1 @ 09:05:23.278123] tab\there"),
                 parse_line(f"[XSCHED {lv} @ T 1 @ 09:05:23.278123] wide \u4e2d\u6587"),
                 parse_line(f"junk [XSCHED {lv} @ T 1 @ 09:05:23.278123] glued")]
    recs += [parse_line("plain text"), parse_line("[TRACE_KERNEL] a=1"), parse_line("")]
    recs += [parse_line("[XSCHED WARN @ T 3 @ 10:00:00.000001] fail x @ /opt/x.cpp:12"),
             parse_line("[XSCHED INFO @ T 3 @ 10:00:00.000001] caf\u00e9 @ /opt/x.cpp:12"),
             parse_line("[XSCHED INFO @ T 3 @ 10:00:00.000001] x @ /opt/caf\u00e9.cpp:12")]
    app = LogApp(ListLineSource([(None, r) for r in recs]))
    async with app.run_test(size=SIZE):
        view = app.view
        st = view._get_styles()
        for compact in (True, False):
            view.compact = compact
            fast = 0
            for rec in recs:
                for cursor in (False, True):
                    text = view.render_record(rec, st)
                    text.stylize_before(st.cursor_line if cursor else st.base)
                    want = (list(text.render(app.console)), text.cell_len)
                    got = view._plain_segments(rec, cursor, st)
                    if got is not None:
                        fast += 1
                        assert got == want, (compact, rec.text)
            assert fast > 100, compact
        view._regex = re.compile("x")  # a search highlights: the Text route
        assert view._plain_segments(recs[0], False, st) is None
