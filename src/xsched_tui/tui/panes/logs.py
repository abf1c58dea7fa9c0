"""The Logs pane: sources with counters, a headline strip, and one Line-API view that shows the
merged timeline or one process, with level/regex filters, search, marks and export.

It draws the records of ``core.logmodel.LogModel`` and posts messages; the App owns the LogHub,
the replay player and every file write.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Input, Static

from xsched_tui.core.linesource import FileLineSource
from xsched_tui.core.logindex import LogFileError
from xsched_tui.core.logmodel import LEVEL_KEYS, LogModel, compile_user_regex
from xsched_tui.tui.messages import ExportRequested, ReplayControl
from xsched_tui.tui.widgets.livetable import LiveTable
from xsched_tui.tui.widgets.logview import LogPanel, LogView

ALL = "__all__"
SEV_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
BIG_FILE = 8 * 1024 * 1024  # a file source this big is viewed through the big-file index
# Counters in the sources table are a glance, not a stream: refreshed once a second, the
# default refresh of every process or GPU table (PERFORMANCE.md). At 2 Hz they cost ~5 % of a
# core more at 100k lines/s (benchmarks/bench_logs_app.py). New sources and new headlines are
# drawn at once; only changed counters wait.
SOURCES_HZ = 1
FLOOD_HZ = 4  # repaints per second of a view scrolled by a flood (nobody reads 10 screens/s)
COLUMNS = ("source", "pid", "lines", "rate", "warn", "err", "state", "last")


class LogsPane(Vertical):
    BINDINGS = [
        Binding("slash", "prompt('search')", "Search"),
        Binding("ampersand", "prompt('include')", "Only", show=False),
        Binding("exclamation_mark", "prompt('exclude')", "Hide", show=False),
        Binding("x", "clear_filters", "Clear filters"),
        Binding("1", "level('1')", "ERRO", show=False),
        Binding("2", "level('2')", "WARN+", show=False),
        Binding("3", "level('3')", "INFO+", show=False),
        Binding("4", "level('4')", "All", show=False),
        Binding("a", "show_all", "Merged"),
        Binding("w", "export", "Export"),
        Binding("p", "replay('toggle')", "Pause replay", show=False),
        Binding("plus", "replay('faster')", "Faster", show=False),
        Binding("minus", "replay('slower')", "Slower", show=False),
        Binding("full_stop", "replay('forward')", "+10 s", show=False),
        Binding("comma", "replay('back')", "-10 s", show=False),
        Binding("tab", "switch_focus", "Sources/Log", show=False),
    ]

    def __init__(self, model: LogModel | None = None, **kw) -> None:
        super().__init__(**kw)
        self.model = model or LogModel()
        self._prompt_mode = "search"
        self._file_view: FileLineSource | None = None
        self.replay_status = ""
        # The sources table is redrawn at most SOURCES_HZ times a second and only in the cells
        # that changed: at 100k lines/s every batch changes every row's counters, and
        # re-rendering 64 rows x 8 cells ten times a second was most of the UI thread's time.
        self._sources_dirty = False
        self._cells: dict[str, list[object]] = {}
        self._painted = 0.0
        self._paint_pending = False
        self._status_shown = ""
        self._view_timer = None
        self._sources_timer = None
        self._sources_painted = 0.0
        self._headlines_shown: Text | None = None
        self._headline_rows = -1
        self._headline_keys: set[tuple[str, str]] = set()  # every headline drawn so far
        self._headlines_dirty = False
        self._status_dirty = False

    def compose(self) -> ComposeResult:
        yield Static(id="headlines")
        with Vertical(id="logs-body"):
            table: DataTable = LiveTable(id="sources-table", cursor_type="row")
            yield table
            yield LogPanel(self.model.view(), id="log-panel")
        yield Input(id="log-prompt", placeholder="regex (Enter to apply, Esc to cancel)")
        yield Static(id="log-status")

    @property
    def log_view(self) -> LogView:
        return self.query_one(LogPanel).log_view

    def on_mount(self) -> None:
        t = self.query_one("#sources-table", DataTable)
        for key, label, width in (("source", "Source", 24), ("pid", "PID", 6), ("lines", "Lines", 6),
                                  ("rate", "L/s", 5), ("warn", "WARN", 4), ("err", "ERRO", 4),
                                  ("state", "State", 8), ("last", "Last event", 60)):
            t.add_column(label, key=key, width=width)
        t.add_row(Text("All (merged)", "bold"), "", "", "", "", "", "", "", key=ALL)
        self.query_one("#log-prompt", Input).display = False
        self._render_headlines()
        self._render_status()

    # Deferred paints are one-shot timers armed when there is something to paint: periodic
    # timers woke the UI loop 6 times a second with nothing to do (idle CPU).
    def _defer_view(self) -> None:
        if self._view_timer is None:
            # (a 0 s timer raises ZeroDivisionError inside Textual)
            wait = max(0.01, self._painted + 1 / FLOOD_HZ - time.monotonic())
            self._view_timer = self.set_timer(wait, self._flush_view)

    def _defer_sources(self) -> None:
        if self._sources_timer is None:
            wait = max(0.01, self._sources_painted + 1 / SOURCES_HZ - time.monotonic())
            self._sources_timer = self.set_timer(wait, self._flush_sources)

    def _flush_view(self) -> None:
        self._view_timer = None
        if self._paint_pending:
            self._paint_pending = False
            self._painted = time.monotonic()
            self.log_view.lines_changed()
            self._render_status()
        # The counters and headline counts, when due within half their period, are painted in
        # the same frame as the view (each frame costs a compositor pass of its own).
        if (self._sources_timer is not None
                and (self._sources_dirty or self._headlines_dirty or self._status_dirty)
                and time.monotonic() - self._sources_painted >= 0.5 / SOURCES_HZ):
            self._sources_timer.stop()
            self._flush_sources()

    def _flush_sources(self) -> None:
        self._sources_timer = None
        if self._headlines_dirty:
            self._headlines_dirty = False
            self._render_headlines()
        if self._status_dirty:
            self._status_dirty = False
            self._render_status()
        if self._sources_dirty:
            self._sources_dirty = False
            self._sources_painted = time.monotonic()
            self._render_sources()

    # -- data in ---------------------------------------------------------------------------------
    def ingest(self, batch) -> None:  # a core.logsources.LogBatch
        res = self.model.ingest(batch)
        if res.sources_changed:
            if self._cells.keys() - {ALL} != self.model.sources.keys():
                self._render_sources()  # a source came or went: show it at once
            else:
                self._sources_dirty = True
                self._defer_sources()
        if res.headlines_changed:
            # A headline never drawn before is drawn at once; repeats (a count grew, or the
            # latest of 64 processes' same warning took the top: nearly every batch of busy
            # logs) wait for the sources' paint (SOURCES_HZ): a frame of its own at every batch
            # was ~10 extra frames a second.
            if not self._headline_keys.issuperset(h.key for h in self.model.top_headlines(3)):
                self._headlines_dirty = False
                self._render_headlines()
            else:
                self._headlines_dirty = True
                self._defer_sources()
        view = self.log_view
        if view.source is not self.model.view():  # another source object (a new filter result)
            if self._file_view is None:
                view.set_source(self.model.view())
        elif res.rebuilt or res.appended:
            # The same source grew, or (merged view) got lines inserted from another process:
            # lines_changed() repaints what moved. A flood (a rebuilt merge, or more new lines
            # than fit on screen) moves everything; painting it at every batch (10 Hz) sent
            # ~240 KiB/s over SSH at 10k lines/s. Floods are painted at FLOOD_HZ, a few new
            # lines at once (write->screen latency).
            now = time.monotonic()
            flood = res.rebuilt or res.appended > max(8, view.size.height)
            if flood and now - self._painted < 1 / FLOOD_HZ:
                self._paint_pending = True
                self._defer_view()
            else:
                self._painted = now
                self._paint_pending = False
                view.lines_changed()
        if (res.rebuilt or res.appended) and not self._paint_pending:
            self._status_dirty = False
            self._render_status()  # a deferred flood's line count is shown with its paint
        elif batch.skipped:
            # Only the skipped count changed (an overloaded app: every batch): with the
            # sources' paint, not a frame of its own at 10 Hz.
            self._status_dirty = True
            self._defer_sources()

    def _render_sources(self) -> None:
        t = self.query_one("#sources-table", LiveTable)
        present = {str(k.value) for k in t.rows}
        updates: list[tuple[str, str, object]] = []
        for sid, info in self.model.sources.items():
            st = self.model.stats.get(sid)
            label = info.label + (
                " (xserver)" if info.role == "xserver" and "xserver" not in info.label else "")
            cells = [
                label, "" if info.pid is None else str(info.pid),
                str(st.lines) if st else "0",
                f"{st.lines_per_s:.0f}" if st else "",
                Text(str(st.warnings), "yellow" if st and st.warnings else "") if st else "",
                Text(str(st.errors), "bold red" if st and st.errors else "") if st else "",
                (st.state if st else "")[:8],
                (st.last_event or "") if st else "",
            ]
            if sid not in present:
                t.add_row(*cells, key=sid)
                self._cells[sid] = cells
            else:
                before = self._cells.get(sid)
                for i, (col, val) in enumerate(zip(COLUMNS, cells, strict=True)):
                    if before is None or before[i] != val:
                        updates.append((sid, col, val))
                self._cells[sid] = cells
        for sid in present - set(self.model.sources) - {ALL}:
            t.remove_row(sid)
            self._cells.pop(sid, None)
        stats = self.model.stats.values()
        totals = {"lines": str(sum(s.lines for s in stats)),
                  "rate": f"{sum(s.lines_per_s for s in stats):.0f}",
                  "warn": str(sum(s.warnings for s in stats)),
                  "err": str(sum(s.errors for s in stats))}
        before_all = self._cells.get(ALL)
        for col, val in totals.items():
            if before_all is None or before_all[COLUMNS.index(col)] != val:
                updates.append((ALL, col, val))
        t.set_cells(updates)
        self._cells[ALL] = [totals.get(c, "") for c in COLUMNS]

    def _render_headlines(self) -> None:
        hs = self.model.top_headlines(3)
        if len(self._headline_keys) > 4096:
            self._headline_keys.clear()
        self._headline_keys.update(h.key for h in hs)
        w = self.query_one("#headlines", Static)
        if not hs:
            out = Text("no problems seen in the logs so far", "dim")
        else:
            out = Text()
            for i, h in enumerate(hs):
                if i:
                    out.append("\n")
                out.append("● ", SEV_STYLE.get(h.severity, ""))
                out.append(h.display, SEV_STYLE.get(h.severity, ""))
        if out == self._headlines_shown:
            return
        # A layout pass re-renders every widget on screen (at 10 batches/s it was most of the
        # UI thread's time while tailing): only when the strip's height (1-3 lines) changes.
        relayout = len(hs) != self._headline_rows
        self._headlines_shown, self._headline_rows = out, len(hs)
        w.update(out, layout=relayout)

    def _render_status(self) -> None:
        m = self.model
        scope = m.scope_source()
        where = "all sources merged" if scope is None else f"{scope.label} (pid {scope.pid})"
        view = self.log_view
        bits = [where, m.describe_filters(), f"{len(view.source)} lines",
                "follow" if view.follow else "paused (f: follow)"]
        if view.search is not None:
            bits.append(f"search /{view.search.pattern}/ (n/N)")
        if view.marks:
            bits.append(f"{len(view.marks)} marked")
        if m.skipped:
            bits.append(f"{m.skipped} lines skipped")
        if self.replay_status:
            bits.append(self.replay_status)
        text = " · ".join(bits)
        if text != self._status_shown:  # one fixed-height line: never a layout pass
            self._status_shown = text
            self.query_one("#log-status", Static).update(text, layout=False)

    def set_replay_status(self, text: str) -> None:
        self.replay_status = text
        self._render_status()

    # -- selection -------------------------------------------------------------------------------
    @on(DataTable.RowSelected, "#sources-table")
    def _on_source_selected(self, event: DataTable.RowSelected) -> None:
        key = str(event.row_key.value)
        self.show_source(None if key == ALL else key)

    def show_source(self, source_id: str | None) -> None:
        """Show one source (or all merged); a big file is viewed through its full index."""
        self.model.set_scope(source_id)
        info = self.model.scope_source()
        if self._file_view is not None:
            self._file_view.close()
            self._file_view = None
        st = self.model.stats.get(source_id) if source_id else None
        if (info is not None and info.kind == "file" and info.path and not self.model.filtered
                and st is not None and (st.size or 0) >= BIG_FILE):
            try:
                self._file_view = FileLineSource(info.path, label=info.label)
            except (LogFileError, OSError) as exc:
                self.notify(f"{info.path}: {exc}; showing the lines already read", timeout=6)
                self.log_view.set_source(self.model.view())
            else:
                self.log_view.set_source(self._file_view)
        else:
            self.log_view.set_source(self.model.view())
        self._render_status()

    def show_pid(self, pid: int) -> bool:
        for sid, info in self.model.sources.items():
            if info.pid == pid:
                self.show_source(sid)
                return True
        return False

    # -- actions ---------------------------------------------------------------------------------
    def action_prompt(self, mode: str) -> None:
        self._prompt_mode = mode
        inp = self.query_one("#log-prompt", Input)
        inp.placeholder = {"search": "search regex (highlight; n/N next/prev)",
                           "include": "show only lines matching regex",
                           "exclude": "hide lines matching regex"}[mode] + "  · Enter applies, Esc cancels"
        inp.value = ""
        inp.display = True
        inp.focus()

    @on(Input.Submitted, "#log-prompt")
    def _on_prompt(self, event: Input.Submitted) -> None:
        value = event.value
        inp = self.query_one("#log-prompt", Input)
        inp.display = False
        if self._prompt_mode == "search":
            rx = compile_user_regex(value) if value else None
            if rx is not None and rx.pattern != value:
                self.notify(f"not a valid regex, searching the text {value!r}", timeout=4)
            self.log_view.set_search(rx)
            # forward from the cursor, else the latest match above it (a followed log's cursor
            # sits on the last line)
            if value and self.log_view.next_match() is None:
                self.log_view.prev_match()
        elif self._prompt_mode == "include":
            self.model.set_include(value or None)
            self._refresh_view()
        else:
            self.model.set_exclude(value or None)
            self._refresh_view()
        self.log_view.focus()
        self._render_status()

    def on_key(self, event) -> None:
        inp = self.query_one("#log-prompt", Input)
        if event.key == "escape" and inp.display:
            inp.display = False
            self.log_view.focus()
            event.stop()

    def _refresh_view(self) -> None:
        if self._file_view is not None and self.model.filtered:
            self._file_view.close()
            self._file_view = None
        self.log_view.set_source(self.model.view())
        self._render_status()

    def action_level(self, key: str) -> None:
        self.model.set_level(LEVEL_KEYS[key])
        self._refresh_view()

    def action_clear_filters(self) -> None:
        self.model.clear_filters()
        self.log_view.set_search(None)
        self._refresh_view()

    def action_show_all(self) -> None:
        self.show_source(None)

    def action_export(self) -> None:
        view = self.log_view
        what = f"{len(view.marks)} marked line(s)" if view.marks else f"{len(view.source)} line(s)"
        self.post_message(ExportRequested(view.source, sorted(view.marks), what))

    def action_replay(self, action: str) -> None:
        self.post_message(ReplayControl(action))

    def action_switch_focus(self) -> None:
        table = self.query_one("#sources-table", DataTable)
        (self.log_view if table.has_focus else table).focus()
