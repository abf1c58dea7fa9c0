"""LiveTable draws exactly what DataTable would after any mix of cell updates and structural
changes (its caches are keyed per cell/row version; a stale cell would be a lie on screen)."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets.data_table import CellDoesNotExist

from xsched_tui.tui.widgets.livetable import LiveTable


class T(App):
    def compose(self) -> ComposeResult:
        yield LiveTable(id="t")


def lines(t: LiveTable) -> list[str]:
    return [t.render_line(y).text for y in range(t.row_count + 1)]


async def test_updates_of_several_cells_in_one_row_are_all_drawn():
    app = T()
    async with app.run_test(size=(80, 12)) as pilot:
        t = app.query_one(LiveTable)
        for c in ("a", "b", "c"):
            t.add_column(c.upper(), key=c, width=6)
        for r in range(3):
            t.add_row(f"a{r}", f"b{r}", f"c{r}", key=f"r{r}")
        await pilot.pause()
        assert "a1" in lines(t)[2]
        t.set_cell("r1", "a", "A1")
        await pilot.pause()
        assert "A1" in lines(t)[2] and "b1" in lines(t)[2]
        t.set_cell("r1", "b", "B1")  # same row, another cell, same cell version (1)
        await pilot.pause()
        row = lines(t)[2]
        assert "A1" in row and "B1" in row and "c1" in row, row
        t.set_cell("r0", "c", "C0")
        t.set_cell("r1", "a", "AA")
        await pilot.pause()
        ls = lines(t)
        assert "C0" in ls[1] and "a0" in ls[1]
        assert "AA" in ls[2] and "B1" in ls[2]
        assert "a2" in ls[3] and "c2" in ls[3]
        # structural change after live updates: everything redrawn from the data
        t.add_row("a3", "b3", "c3", key="r3")
        t.move_cursor(row=3)
        await pilot.pause()
        ls = lines(t)
        assert "AA" in ls[2] and "a3" in ls[4]
        t.set_cell("r3", "b", "B3")
        await pilot.pause()
        assert "B3" in lines(t)[4]
        t.clear()
        t.add_row("x", "y", "z", key="r1")
        await pilot.pause()
        assert "x" in lines(t)[1] and "AA" not in lines(t)[1]
        assert t.get_row("r1") == ["x", "y", "z"]


async def test_a_row_updated_out_of_view_is_drawn_when_scrolled_in():
    app = T()
    async with app.run_test(size=(80, 8)) as pilot:  # a table of ~7 visible rows, 40 rows
        t = app.query_one(LiveTable)
        t.add_column("A", key="a", width=8)
        for r in range(40):
            t.add_row(f"v{r}", key=f"r{r}")
        await pilot.pause()
        t.set_cell("r30", "a", "NEW30")  # far below the visible rows: not repainted now
        t.set_cell("r1", "a", "NEW1")
        await pilot.pause()
        assert "NEW1" in t.render_line(2).text
        t.scroll_to(y=25, animate=False)
        await pilot.pause()
        y = 30 - int(t.scroll_offset.y) + 1  # + the header line
        assert "NEW30" in t.render_line(y).text
        assert "v29" in t.render_line(y - 1).text


async def test_set_cells_draws_what_set_cell_one_by_one_draws():
    # the batch form: several cells of one row (one region), cells of other rows, a row out of
    # view, the same cell twice (the last value wins), and a missing cell raising like set_cell
    async def drawn(batch: bool) -> list[str]:
        app = T()
        async with app.run_test(size=(80, 8)) as pilot:
            t = app.query_one(LiveTable)
            for c in ("a", "b"):
                t.add_column(c.upper(), key=c, width=8)
            for r in range(40):
                t.add_row(f"a{r}", f"b{r}", key=f"r{r}")
            await pilot.pause()
            ups = [("r1", "a", "X1"), ("r1", "b", "Y1"), ("r2", "b", "Y2"), ("r30", "a", "X30"),
                   ("r2", "b", "Z2")]
            if batch:
                t.set_cells(ups)
            else:
                for u in ups:
                    t.set_cell(*u)
            await pilot.pause()
            out = [t.render_line(y).text for y in range(1, 4)]
            t.scroll_to(y=25, animate=False)
            await pilot.pause()
            out.append(t.render_line(30 - int(t.scroll_offset.y) + 1).text)
            with pytest.raises(CellDoesNotExist):
                t.set_cells([("r1", "a", "ok"), ("nope", "a", "x")])
            return out

    one_by_one = await drawn(False)
    assert await drawn(True) == one_by_one
    assert "X1" in one_by_one[1] and "Y1" in one_by_one[1] and "Z2" in one_by_one[2]
    assert "X30" in one_by_one[3]


class SlowTable(LiveTable):
    """LiveTable without the plain-cell shortcut: every cell goes through Rich, as DataTable."""

    def _plain_cell(self, *args, **kwargs):
        return None


class Both(App):
    def compose(self) -> ComposeResult:
        yield LiveTable(id="fast", zebra_stripes=True)


CELLS = ["1234", "", "worker-2001.stderr.log", "x" * 12, "x" * 13, "[b]bold[/b]", "a:b",
         "ünï", "tab\there", "two\nlines", 7, Text("3", "yellow"), Text("0", ""),
         Text("12", "bold red"), Text.assemble(("a", "red"), ("b", "blue")),
         Text("r", justify="right"), Text("wide 漢字")]


async def test_plain_cells_are_drawn_exactly_as_datatable_draws_them():
    from textual.widgets import DataTable

    app = Both()
    async with app.run_test(size=(100, 30)) as pilot:
        fast = app.query_one("#fast", LiveTable)
        fast.add_column("A", key="a", width=14)
        fast.add_column("B", key="b")
        for i, v in enumerate(CELLS):
            fast.add_row(v, v, key=f"r{i}")
        await pilot.pause()
        made = 0
        for row in range(len(CELLS)):
            for col in (0, 1):
                for cursor, hover in ((False, False), (True, False), (False, True)):
                    base = fast.rich_style
                    fast._cell_render_cache.clear()
                    got = fast._plain_cell(row, col, fast._row_locations.get_key(row),
                                           fast._column_locations.get_key(col), base,
                                           fast.columns[fast._column_locations.get_key(col)]
                                           .get_render_width(fast), cursor, hover)
                    fast._cell_render_cache.clear()
                    want = DataTable._render_cell(
                        fast, row, col, base,
                        fast.columns[fast._column_locations.get_key(col)].get_render_width(fast),
                        cursor, hover)
                    if got is None:
                        continue
                    made += 1
                    assert [[(s.text, s.style) for s in ln] for ln in got] == \
                        [[(s.text, s.style) for s in ln] for ln in want], (row, col, CELLS[row])
        assert made >= 20  # the shortcut was taken for the plain cells


class One(App):
    def __init__(self, cls: type[LiveTable]) -> None:
        super().__init__()
        self.cls = cls

    def compose(self) -> ComposeResult:
        yield self.cls(id="t", zebra_stripes=True)


async def _drawn(cls: type[LiveTable]) -> list[list]:
    app = One(cls)
    async with app.run_test(size=(100, 30)) as pilot:
        t = app.query_one(LiveTable)
        t.add_column("A", key="a", width=14)
        t.add_column("B", key="b")
        for i, v in enumerate(CELLS):
            t.add_row(v, v, key=f"r{i}")
        await pilot.pause()
        first = [list(t.render_line(y)) for y in range(t.size.height)]
        t.move_cursor(row=3)
        t.set_cells([("r0", "a", "99"), ("r11", "b", Text("4", "yellow")), ("r2", "a", "[i]x")])
        await pilot.hover("#t", offset=(3, 6))
        await pilot.pause()
        return first + [list(t.render_line(y)) for y in range(t.size.height)]


async def test_a_table_of_plain_cells_is_drawn_as_datatable_draws_it():
    fast, slow = await _drawn(LiveTable), await _drawn(SlowTable)
    assert len(fast) == len(slow)
    for y, (a, b) in enumerate(zip(fast, slow, strict=True)):
        assert a == b, y
