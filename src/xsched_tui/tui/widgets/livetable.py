"""A DataTable whose cell updates repaint and re-render only what changed.

Textual's ``DataTable.update_cell`` refreshes the whole widget and bumps one counter,
``_update_count``, that keys every render cache (cells, rows, lines, row order). One changed
counter then re-renders every visible cell (~0.3 ms each), rebuilds the row order (O(rows) per
update) and re-sends every row to the terminal. At 1 Hz with a few values changing per row that
was most of the app's CPU and ~16 KiB/s of terminal output over SSH
(benchmarks/bench_procs_app.py).

``set_cell`` leaves that counter alone, so every structural change (rows added, cleared,
sorted, columns...) still invalidates everything exactly as in DataTable. A value change bumps a
version of its cell and of its row instead, and:

- the cell render cache is keyed by (counter, cell version): other cells stay cached;
- the row render cache by (counter, row version): other rows stay cached;
- the row renderables (formatted cell values) by (counter, row version), here;
- the line cache is cleared (cheap: lines are rebuilt from cached rows);
- only the cell's region is refreshed, so only it is sent to the terminal.

This leans on DataTable internals (textual>=8,<9 is pinned); tests/test_livetable.py checks the
drawn text after updates, and without the internals ``set_cell`` falls back to ``update_cell``.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual._types import SegmentLines
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets._data_table import CellType, ColumnKey, RowKey

_INTERNALS = ("_data", "_row_locations", "_column_locations", "_update_count", "_line_cache",
              "_compute_row_renderables", "_cell_render_cache", "_get_styles_to_render_cell",
              "_show_hover_cursor", "_pseudo_class_state")


class LiveTable(DataTable):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._cell_ver: dict[tuple[RowKey, ColumnKey], int] = {}
        self._row_ver: dict[RowKey, int] = {}
        self._renderables: dict[tuple[int, int, int], object] = {}
        self._real = 0  # the real _update_count while a version is swapped in
        self._live_ok = all(hasattr(self, n) for n in _INTERNALS)

    def set_cell(self, row_key: str, column_key: str, value: CellType) -> None:
        rk, ck = RowKey(row_key), ColumnKey(column_key)
        if not self._live_ok or rk not in self._row_locations or ck not in self._column_locations:
            self.update_cell(row_key, column_key, value)  # raises CellDoesNotExist when missing
            return
        self._data[rk][ck] = value
        self._cell_ver[(rk, ck)] = self._cell_ver.get((rk, ck), 0) + 1
        self._row_ver[rk] = self._row_ver.get(rk, 0) + 1
        self._line_cache.clear()
        row = self._row_locations.get(rk)
        top = int(self.scroll_offset.y)
        # A row scrolled out of view (64 log sources in a 9-row table) is not repainted now: its
        # bumped version re-renders it when it scrolls in. Computing and sending the region of
        # every changed cell was most of the sources table's cost.
        if (row is not None and not self.fixed_rows and self._total_row_height == self.row_count
                and not top - 1 <= row <= top + self.size.height):  # rows of one line each
            return
        self.refresh_coordinate(Coordinate(row, self._column_locations.get(ck)))

    def set_cells(self, updates: list[tuple[str, str, CellType]]) -> None:
        """``set_cell`` for many cells at once (a pane's refresh): the visible range, the line
        cache and the regions are dealt with once per call, and a row with several changed cells
        is refreshed as one region. The sources table of 64 busy logs changes ~120 cells twice a
        second; one ``set_cell`` each was a third of the UI thread's own time at 100k lines/s."""
        if not updates:
            return
        if not self._live_ok:
            for row_key, column_key, value in updates:
                self.update_cell(row_key, column_key, value)
            return
        rows, cols = self._row_locations, self._column_locations
        data, cell_ver, row_ver = self._data, self._cell_ver, self._row_ver
        top = int(self.scroll_offset.y)
        bottom = top + self.size.height
        one_line = not self.fixed_rows and self._total_row_height == self.row_count
        touched: dict[int, list[int]] = {}
        for row_key, column_key, value in updates:
            rk, ck = RowKey(row_key), ColumnKey(column_key)
            if rk not in rows or ck not in cols:
                self.update_cell(row_key, column_key, value)  # raises CellDoesNotExist
                continue
            data[rk][ck] = value
            cell_ver[(rk, ck)] = cell_ver.get((rk, ck), 0) + 1
            row_ver[rk] = row_ver.get(rk, 0) + 1
            row = rows.get(rk)
            if row is None or (one_line and not top - 1 <= row <= bottom):
                continue  # out of view: its bumped version re-renders it when it scrolls in
            touched.setdefault(row, []).append(cols.get(ck))
        self._line_cache.clear()
        for row, columns in touched.items():
            if len(columns) > 1:
                self.refresh_row(row)
            else:
                self.refresh_coordinate(Coordinate(row, columns[0]))

    def _count(self) -> int:
        c = self._update_count
        return c if isinstance(c, int) else self._real

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                     cursor: bool = False, hover: bool = False) -> SegmentLines:
        if not self._live_ok or row_index < 0 or column_index < 0:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        real = self._count()
        rk = self._row_locations.get_key(row_index)
        ck = self._column_locations.get_key(column_index)
        saved, self._real = self._update_count, real
        self._update_count = (real, self._cell_ver.get((rk, ck), 0))  # type: ignore[assignment]
        try:
            fast = self._plain_cell(row_index, column_index, rk, ck, base_style, width, cursor,
                                    hover)
            if fast is not None:
                return fast
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        finally:
            self._update_count = saved

    def _plain_cell(self, row_index: int, column_index: int, rk: RowKey | None,
                    ck: ColumnKey | None, base_style: Style, width: int, cursor: bool,
                    hover: bool) -> SegmentLines | None:
        """DataTable._render_cell's lines for a one-line cell of plain text that fits its
        column (a counter, a pid, a name), made directly; None for anything else.

        DataTable renders every cell through Rich (markup parse, Padding, Styled, render_lines,
        split and crop): ~0.2 ms a cell under cProfile, and the Logs pane's sources table changes
        most of its visible cells at every refresh while logs stream (at 2 Hz the table cost
        ~5 % of a core more than at 0.2 Hz, at 100k lines/s: bench_logs_app). The same segments,
        text for text and style for style, are four Segment constructors here
        (tests/test_livetable.py compares both routes)."""
        cache = self._cell_render_cache
        key = (rk, ck, base_style, cursor, hover, self._show_hover_cursor, self._update_count,
               self._pseudo_class_state)
        got = cache.get(key)
        if got is not None:
            return got
        row = self.rows.get(rk) if rk is not None else None
        if row is None or row.height != 1 or ck is None:
            return None
        value = self._data.get(rk, {}).get(ck)
        if isinstance(value, str):
            # DataTable parses a str as markup (and :emoji: codes): only text without "[" or
            # ":" is certainly plain.
            plain, text_style = value, None
            if "[" in plain or ":" in plain:
                return None
        elif type(value) is Text and not value.spans and value.justify in (None, "default", "left"):
            plain, text_style = value.plain, value.style
        else:
            return None
        pad = self.cell_padding
        fill = width - 2 * pad - len(plain)
        if fill < 0 or not plain.isascii() or not (plain.isprintable() or not plain):
            return None  # cropped, or wide / control characters: Rich measures those
        component_style, post_style = self._get_styles_to_render_cell(
            False, False, row_index < self.fixed_rows or column_index < self.fixed_columns,
            hover, cursor, self.show_cursor, self._show_hover_cursor,
            self.cursor_foreground_priority == "css", self.cursor_background_priority == "css")
        pre = base_style + Style.from_meta({"row": row_index, "column": column_index})
        pre = pre + component_style
        around = pre + post_style
        if text_style:
            inner = pre + self.app.console.get_style(text_style, default=Style.null()) + post_style
        else:
            inner = around
        line = [Segment(" " * pad, around)] if pad else []
        line.append(Segment(plain, inner))
        if fill:
            line.append(Segment(" " * fill, around))
        if pad:
            line.append(Segment(" " * pad, around))
        lines = [line]
        cache[key] = lines
        return lines

    def _render_line_in_row(self, row_key, *args, **kwargs):
        if not self._live_ok:
            return super()._render_line_in_row(row_key, *args, **kwargs)
        real = self._count()
        saved, self._real = self._update_count, real
        self._update_count = (real, self._row_ver.get(row_key, 0))  # type: ignore[assignment]
        try:
            return super()._render_line_in_row(row_key, *args, **kwargs)
        finally:
            self._update_count = saved

    def _get_row_renderables(self, row_index: int):
        if not self._live_ok:
            return super()._get_row_renderables(row_index)
        real = self._count()
        rk = self._row_locations.get_key(row_index) if row_index >= 0 else None
        key = (real, self._row_ver.get(rk, 0) if rk is not None else -1, row_index)
        got = self._renderables.get(key)
        if got is None:
            saved = self._update_count
            self._update_count = real  # computing them may read the real counter
            try:
                got = self._compute_row_renderables(row_index)
            finally:
                self._update_count = saved
            if len(self._renderables) > 4096:  # bounded: stale versions are never asked again
                self._renderables.clear()
            self._renderables[key] = got
        return got

    def cursor_key_int(self) -> int | None:
        """The highlighted row's key as an int (pids and handles are the row keys), else None."""
        if self.row_count == 0:
            return None
        try:
            return int(str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value))
        except Exception:  # no row under the cursor, or a key that is not a number
            return None

    def clear(self, columns: bool = False):
        self._cell_ver.clear()
        self._row_ver.clear()
        self._renderables.clear()
        return super().clear(columns)
