"""`LogView`: one Line-API widget for every log view of the app (STYLE.md rules 18-19).

It draws from a :class:`~xsched_tui.core.linesource.LineSource`: records in memory (live tail,
merged timeline, filter results: :class:`ListLineSource`) or a big file through its background
index (:class:`FileLineSource`). Only visible lines are parsed and rendered (``render_line`` with an
LRU of strips), never one widget per line, so a 1 GiB file or 100k appended lines a second cost
what the 40 visible rows cost.

Callers that append to a source call :meth:`LogView.lines_changed` (at most ~10 Hz); the view
re-renders only when the visible region changed. A file source shows its tail at once, is indexed in
a thread worker (progress in ``index_progress``; :class:`LogPanel` shows it as a ProgressBar), then
its ERRO/WARN index is built for ``next_problem``, and the file is polled for growth.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.cache import LRUCache
from textual.containers import Vertical
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive, var
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer
from textual.widgets import ProgressBar
from textual.worker import get_current_worker

from xsched_tui.core.linesource import (
    FileLineSource,
    LineSource,
    ListLineSource,
    next_problem_records,
    search_records,
)
from xsched_tui.core.logindex import Change, LogFileError
from xsched_tui.core.logparse import Kind, Level, LogRecord

__all__ = ["LogPanel", "LogView"]

_LABEL_COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "bright_cyan", "bright_magenta",
                  "bright_green", "bright_blue", "bright_yellow")
_PROBLEM_SCAN_LIMIT = 50_000  # lines scanned per keypress when no level index exists yet


@dataclass(frozen=True)
class _Styles:
    base: Style
    cursor: Style
    cursor_line: Style  # base + cursor
    match: Style
    mark: Style
    dim: Style
    label: Style
    status: Style
    error_text: Style
    level: dict[Level, Style]
    message: dict[Level, Style]


class LogView(ScrollView, can_focus=True):
    """Scrollable, searchable view of log lines from a :class:`LineSource`."""

    BINDINGS = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup,ctrl+b", "page_up", "Page up", show=False),
        Binding("pagedown,ctrl+f,space", "page_down", "Page down", show=False),
        Binding("home,g", "home", "Top", show=False),
        Binding("end,G", "end", "End", show=False),
        Binding("m", "toggle_mark", "Mark", show=False),
        Binding("n", "next_match", "Next match", show=False),
        Binding("N", "prev_match", "Prev match", show=False),
        Binding("e", "next_problem", "Next ERRO/WARN"),
        Binding("E", "prev_problem", "Prev ERRO/WARN", show=False),
        Binding("f", "toggle_follow", "Follow"),
        Binding("c", "toggle_compact", "Compact", show=False),
    ]

    COMPONENT_CLASSES = {
        "logview--cursor",
        "logview--match",
        "logview--mark",
        "logview--dim",
        "logview--label",
        "logview--status",
        "logview--erro",
        "logview--warn",
        "logview--info",
        "logview--debg",
    }

    DEFAULT_CSS = """
    LogView {
        background: $surface;
        color: $foreground;
    }
    LogView > .logview--cursor { background: $boost; }
    LogView:focus > .logview--cursor { background: $accent 25%; }
    LogView > .logview--match { background: $warning 45%; text-style: bold; }
    LogView > .logview--mark { color: $accent; text-style: bold; }
    LogView > .logview--dim { color: $text-muted; }
    LogView > .logview--label { text-style: bold; }
    LogView > .logview--status { color: $text-muted; text-style: italic; }
    LogView > .logview--erro { color: $error; text-style: bold; }
    LogView > .logview--warn { color: $warning; text-style: bold; }
    LogView > .logview--info { color: $success; }
    LogView > .logview--debg { color: $text-muted; }
    """

    follow: reactive[bool] = reactive(True)
    """Keep the last line in view (and the cursor on it) as lines arrive."""
    compact: reactive[bool] = reactive(True)
    """XSched lines as ``time LEVL Ttid message`` instead of the raw line."""
    cursor_line: var[int] = var(-1)
    index_progress: var[float | None] = var(None)
    """0..1 while a file source is being indexed, None otherwise."""
    status: reactive[str] = reactive("")
    """A one-line description of what the view is doing (indexing, searching, errors)."""

    @dataclass
    class CursorMoved(Message):
        log_view: LogView
        line: int

        @property
        def control(self) -> LogView:
            return self.log_view

    @dataclass
    class SourceFailed(Message):
        """A file source could not be read; ``error`` is a sentence for the user."""

        log_view: LogView
        error: str

        @property
        def control(self) -> LogView:
            return self.log_view

    def __init__(self, source: LineSource | None = None, *, follow: bool = True,
                 poll_interval: float | None = 0.25, name: str | None = None, id: str | None = None,
                 classes: str | None = None, disabled: bool = False) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self.set_reactive(LogView.follow, follow)
        self.poll_interval = poll_interval
        self._source: LineSource = source if source is not None else ListLineSource()
        self._count = 0
        self._src_gen = 0
        self._src_trimmed = 0
        self._data_gen = 0
        self._search_gen = 0
        self._regex: re.Pattern[str] | None = None
        self.marks: set[int] = set()
        self._cache: LRUCache[tuple, tuple[list[Segment], int]] = LRUCache(1024)  # text of a line
        self._gutter_cache: LRUCache[tuple, tuple[list[Segment], int]] = LRUCache(256)
        self._line_cache: LRUCache[tuple, Strip] = LRUCache(512)  # finished rows
        self._styles: _Styles | None = None
        # (id of the _Styles, cursor line, level, compact) -> the styles of _plain_segments
        self._plain_styles: dict[tuple[int, bool, Level, bool], tuple[Style, ...]] = {}
        self._max_width = 0
        self._width_dirty = False
        self._error: str | None = None
        self._progress_timer: Timer | None = None
        self._poll_timer: Timer | None = None
        self._size_timer: Timer | None = None
        self._refreshing = False
        self._adopted = False

    # -- source ------------------------------------------------------------------------------

    @property
    def source(self) -> LineSource:
        return self._source

    @property
    def line_count(self) -> int:
        return self._count

    def on_mount(self) -> None:
        super().on_mount()
        self._adopt(self._source)
        self.call_after_refresh(self._follow_end)  # the first layout decides the height

    def on_resize(self) -> None:
        self._follow_end()

    def _follow_end(self) -> None:
        if self.follow:
            self._flush_size()
            self._set_cursor(self._count - 1, scroll=False)
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)

    def set_source(self, source: LineSource) -> None:
        """Show another source (a filter result, another file). Marks are cleared."""
        self.workers.cancel_group(self, "logview-file")
        self.workers.cancel_group(self, "logview-search")
        for t in (self._progress_timer, self._poll_timer):
            if t is not None:
                t.stop()
        self._progress_timer = self._poll_timer = None
        self._source = source
        self._error = None
        self.marks = set()
        self.set_reactive(LogView.cursor_line, -1)
        self._count = 0
        self._max_width = 0
        if self._adopted:
            self._adopt(source)

    def _adopt(self, source: LineSource) -> None:
        self._adopted = True
        self._src_gen = getattr(source, "generation", 0)
        self._src_trimmed = getattr(source, "trimmed", 0)
        self._invalidate()
        self.lines_changed()
        if isinstance(source, FileLineSource):
            self._start_file(source)

    def _invalidate(self) -> None:
        self._data_gen += 1
        self._cache.clear()
        self._line_cache.clear()

    def lines_changed(self) -> None:
        """Call after the source gained (or dropped) lines. Cheap: O(1) plus a repaint of the
        rows that changed on screen."""
        if not self._adopted:  # on_mount adopts the source as it is then
            return
        src = self._source
        n = len(src)
        gen = getattr(src, "generation", 0)
        trimmed = getattr(src, "trimmed", 0)
        old = self._count
        full = False
        if gen != self._src_gen:  # every position changed meaning
            self._src_gen, self._src_trimmed = gen, trimmed
            self._invalidate()
            self.marks = {m for m in self.marks if m < n}
            full = True
            old = 0
        elif trimmed != self._src_trimmed:  # the oldest lines were dropped: positions shift
            d = trimmed - self._src_trimmed  # (caches are keyed by absolute line: still valid)
            self._src_trimmed = trimmed
            self.marks = {m - d for m in self.marks if m >= d}
            if not self.follow:
                self.set_reactive(LogView.cursor_line, max(0, self.cursor_line - d))
                self.scroll_to(y=max(0, self.scroll_offset.y - d), animate=False, force=True)
            full = True
            old = max(0, old - d)
        elif old and n >= old and getattr(src, "last_line_mutable", False):
            self._invalidate()  # a file's former last line may have been incomplete
        self._count = n
        if self.follow or full or old <= self._visible()[1]:
            self._flush_size()
        elif self._size_timer is None:
            # Appends below the visible rows while not following: nothing on screen changes but
            # the scrollbar. A new virtual size re-lays out and repaints the whole widget, so it
            # is applied at most twice a second (PERFORMANCE.md: repaint only what changed).
            self._size_timer = self.set_timer(0.5, self._flush_size)
        if self.follow:
            self._follow_end()
        elif self.cursor_line >= n:
            self._set_cursor(n - 1)
        if full:
            self.refresh()
        else:
            self._refresh_range(max(0, old - 1), n)

    def _flush_size(self) -> None:
        if self._size_timer is not None:
            self._size_timer.stop()
            self._size_timer = None
        new = Size(self._virtual_width(), self._count)
        old = self.virtual_size
        if new == old:
            return
        h = self.scrollable_content_region.height
        if self.is_mounted and h and new.width == old.width and min(new.height, old.height) > h:
            # More lines, same width, the vertical scrollbar shown before and after: nothing
            # else on screen moves. Assigning virtual_size would re-lay out (and re-render) the
            # whole screen, ~70 ms with the footer and tables; at every paint of a growing log
            # that was most of the UI thread. Update the scrollbar and this widget only.
            self.set_reactive(LogView.virtual_size, new)
            self._scroll_update(new)
            self.refresh()
        else:
            self.virtual_size = new

    def _visible(self) -> tuple[int, int]:
        top = self.scroll_offset.y
        return top, top + self.scrollable_content_region.height

    def _refresh_range(self, start: int, stop: int) -> None:
        top, bottom = self._visible()
        a, b = max(start, top), min(stop, bottom)
        if a < b:
            self.refresh_lines(a, b - a)

    # -- file sources (thread worker) --------------------------------------------------------

    def _start_file(self, src: FileLineSource) -> None:
        if not src.ready:
            self.index_progress = 0.0
            self.status = "reading the end of the file…"
            self._progress_timer = self.set_interval(0.1, self._poll_progress)
        self.run_worker(partial(self._load_file, src), thread=True, exclusive=True,
                        group="logview-file", exit_on_error=False, description=f"index {src.path}")

    def _call(self, fn: Callable[..., object], *args: object) -> None:
        try:
            self.app.call_from_thread(fn, *args)
        except RuntimeError:  # the app is shutting down
            pass

    def _load_file(self, src: FileLineSource) -> None:
        worker = get_current_worker()

        def cancelled() -> bool:
            return worker.is_cancelled

        try:
            if not src.ready:
                src.load_tail()
                self._call(self._on_tail, src)
                src.build(cancel=cancelled)
                if cancelled():
                    return
                self._call(self._on_indexed, src)
            if not src.levels_ready:
                src.build_levels(cancel=cancelled)
                if not cancelled():
                    self._call(self._on_levels, src)
        except LogFileError as e:
            self._call(self._on_error, src, str(e))

    def _on_tail(self, src: FileLineSource) -> None:
        if src is not self._source:
            return
        src.show_tail()
        self.lines_changed()
        self.status = "indexing…"

    def _on_indexed(self, src: FileLineSource) -> None:
        if src is not self._source:
            return
        tail_len = len(src) if not src.ready else 0
        first = src.activate()
        if tail_len:  # carry marks and the cursor from the tail to the same lines of the file
            self.marks = {m + first for m in self.marks}
            if not self.follow:
                self.set_reactive(LogView.cursor_line, max(0, self.cursor_line) + first)
        self.lines_changed()
        if not self.follow:
            self._scroll_cursor(center=True)
        self._stop_progress()
        self.status = f"{len(src):,} lines; finding errors and warnings…"
        if self.poll_interval and self._poll_timer is None:
            self._poll_timer = self.set_interval(self.poll_interval, self._poll_file)

    def _on_levels(self, src: FileLineSource) -> None:
        if src is not self._source:
            return
        lv = src.index.levels
        if lv is not None:
            self.status = (f"{len(src):,} lines, {lv.count(Level.ERRO):,} ERRO, "
                           f"{lv.count(Level.WARN):,} WARN")

    def _on_error(self, src: FileLineSource, error: str) -> None:
        if src is not self._source:
            return
        self._error = error
        self.status = error
        self._stop_progress()
        self.refresh()
        self.post_message(self.SourceFailed(self, error))

    def _stop_progress(self) -> None:
        if self._progress_timer is not None:
            self._progress_timer.stop()
            self._progress_timer = None
        self.index_progress = None

    def _poll_progress(self) -> None:
        src = self._source
        if isinstance(src, FileLineSource) and not src.ready:
            self.index_progress = src.progress
        else:
            self._stop_progress()

    def _poll_file(self) -> None:
        src = self._source
        if self._refreshing or not isinstance(src, FileLineSource) or not src.ready:
            return
        if src.index.changed_on_disk():
            self._refreshing = True
            self.run_worker(partial(self._refresh_file, src), thread=True, group="logview-refresh",
                            exit_on_error=False, description=f"refresh {src.path}")

    def _refresh_file(self, src: FileLineSource) -> None:
        try:
            change = src.refresh_index()
            self._call(self._on_refreshed, src, change)
            if change is not Change.NONE:
                src.build_levels()
                self._call(self._on_levels, src)
        except LogFileError as e:
            self._call(self._on_error, src, str(e))
        finally:
            self._refreshing = False

    def _on_refreshed(self, src: FileLineSource, change: Change) -> None:
        if src is not self._source:
            return
        if src.sync(change) is not Change.NONE:
            self.lines_changed()

    # -- styles and rendering ----------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = None
        self._plain_styles.clear()
        self._cache.clear()
        self._gutter_cache.clear()
        self._line_cache.clear()

    def _part(self, name: str, *, fg: bool = True, bg: bool = False) -> Style:
        """Colours of a component class, blended against the widget (a partial style would keep
        ``$accent 25%`` at full strength), reduced to what a span should override."""
        full = self.get_component_rich_style(name, partial=False)
        return Style(color=full.color if fg else None, bgcolor=full.bgcolor if bg else None,
                     bold=full.bold or None, italic=full.italic or None)

    def _get_styles(self) -> _Styles:
        if self._styles is None:
            part = self._part
            cursor = part("logview--cursor", fg=False, bg=True)
            erro, warn = part("logview--erro"), part("logview--warn")
            self._styles = _Styles(
                base=self.rich_style,
                cursor=cursor,
                cursor_line=self.rich_style + cursor,
                match=part("logview--match", bg=True),
                mark=part("logview--mark"),
                dim=part("logview--dim"),
                label=part("logview--label", fg=False),
                status=part("logview--status"),
                error_text=erro,
                level={Level.ERRO: erro, Level.WARN: warn, Level.INFO: part("logview--info"),
                       Level.DEBG: part("logview--debg")},
                message={Level.ERRO: Style(color=erro.color), Level.WARN: Style(color=warn.color)},
            )
        return self._styles

    def _virtual_width(self) -> int:
        return self._gutter_width() + self._max_width

    def _gutter_width(self) -> int:
        lw = getattr(self._source, "label_width", 0) or 0
        return 1 + (lw + 1 if lw else 0)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        i = scroll_y + y
        width = self.scrollable_content_region.width
        st = self._get_styles()
        if i >= self._count or i < 0:
            if i == 0 and (self._error or self.status):
                msg = self._error or self.status
                style = st.error_text if self._error else st.status
                return Strip([*Text(" " + msg, style=style, end="").render(self.app.console)]
                             ).crop_extend(0, width, st.base)
            return Strip.blank(width, st.base)
        is_cursor = i == self.cursor_line
        marked = i in self.marks
        lw = getattr(self._source, "label_width", 0) or 0
        label = ""
        if lw:
            fn = getattr(self._source, "source_label", None)
            label = ((fn(i) if fn is not None else None) or "")[:lw]
        # Keyed by the line's absolute number (trimming a bounded source keeps hits valid).
        absolute = i + self._src_trimmed
        key = (absolute, self._data_gen, self._search_gen, self.compact, is_cursor, marked, label,
               lw, scroll_x, width)
        strip = self._line_cache.get(key)
        if strip is not None:
            return strip
        gutter, gw = self._gutter(label, lw, marked, is_cursor, st)
        text, tw = self._text_segments(i, absolute, is_cursor, st)
        avail = max(0, width - gw)
        line_style = st.cursor_line if is_cursor else st.base
        if scroll_x == 0 and tw <= avail:
            segs = [*gutter, *text]
            if tw < avail:
                segs.append(Segment(" " * (avail - tw), line_style))
            strip = Strip(segs, gw + avail)
        else:
            body = Strip(text, tw).crop_extend(scroll_x, scroll_x + avail, line_style)
            strip = Strip([*gutter, *body], gw + avail)
        if gw > width:
            strip = strip.crop(0, width)
        self._line_cache.set(key, strip)
        return strip

    def _gutter(self, label: str, lw: int, marked: bool, is_cursor: bool,
                st: _Styles) -> tuple[list[Segment], int]:
        key = (label, lw, marked, is_cursor)
        hit = self._gutter_cache.get(key)
        if hit is None:
            base = st.cursor_line if is_cursor else st.base
            parts = [("▌" if marked else " ", base + st.mark if marked else base)]
            if lw:
                colour = _LABEL_COLOURS[sum(label.encode()) % len(_LABEL_COLOURS)]
                parts.append((f"{label:<{lw}} ", base + st.label + Style(color=colour)))
            hit = (list(Text.assemble(*parts, end="").render(self.app.console)), 1 + (lw + 1 if lw else 0))
            self._gutter_cache.set(key, hit)
        return hit

    def _text_segments(self, i: int, absolute: int, is_cursor: bool,
                       st: _Styles) -> tuple[list[Segment], int]:
        key = (absolute, self._data_gen, self._search_gen, is_cursor, self.compact)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        rec = self._source.record(i)
        hit = self._plain_segments(rec, is_cursor, st)
        if hit is None:
            text = self.render_record(rec, st)
            text.stylize_before(st.cursor_line if is_cursor else st.base)
            hit = (list(text.render(self.app.console)), text.cell_len)
        cells = hit[1]
        self._cache.set(key, hit)
        if cells > self._max_width:
            self._max_width = cells
            if not self._width_dirty:
                self._width_dirty = True
                self.call_after_refresh(self._update_width)
        return hit

    def _update_width(self) -> None:
        self._width_dirty = False
        self._flush_size()

    def _plain_segments(self, rec: LogRecord, is_cursor: bool,
                        st: _Styles) -> tuple[list[Segment], int] | None:
        """The segments of render_record + Text.render for the common line, built directly: an
        XSched line of printable ASCII (no tab, no wide or control character), not cut, no
        search, compact or in full. A following view repaints a screen of new lines several
        times a second at high rates, and the Rich Text route cost several times this per line.
        Same segments, same styles (tests/test_logview.py compares them); None: use that route."""
        lv = rec.level
        if lv is None or rec.kind is not Kind.XSCHED or self._regex is not None or rec.truncated:
            return None
        compact = self.compact
        key = (id(st), is_cursor, lv, compact)
        styles = self._plain_styles.get(key)
        if styles is None:
            # Text.render combines a segment's spans in the order they were added: the line's
            # base first (stylize_before), then the part's own style (the full form's level word
            # lies inside the dim prefix: dim, then level).
            base = st.cursor_line if is_cursor else st.base
            dim = base + st.dim
            msg = st.message.get(lv)
            styles = (base, dim, (base if compact else dim) + st.level[lv],
                      base if msg is None else base + msg)
            if len(self._plain_styles) > 64:
                self._plain_styles.clear()
            self._plain_styles[key] = styles
        s_base, s_dim, s_level, s_msg = styles
        if compact:
            msg = rec.message
            sf = rec.src_file
            suffix = f" @ {sf}:{rec.src_line}" if sf else ""
            if not (msg.isascii() and msg.isprintable() and suffix.isascii() and suffix.isprintable()):
                return None
            tt = rec.time_text or ""
            segs = [Segment(tt, s_dim)] if tt else []
            tid = f" T{rec.tid} "
            segs += (Segment(" ", s_base), Segment(lv.value, s_level), Segment(tid, s_dim))
            if msg:
                segs.append(Segment(msg, s_msg))
            if suffix:
                segs.append(Segment(suffix, s_dim))
            return segs, len(tt) + 5 + len(tid) + len(msg) + len(suffix)
        raw = rec.text
        close = raw.find("]")
        if close <= 0 or not (raw.isascii() and raw.isprintable()):
            return None
        at = raw.find(lv.value, 0, close)
        end = close + 1
        if at < 0:
            segs = [Segment(raw[:end], s_dim)]
        else:
            segs = [Segment(raw[:at], s_dim)] if at else []
            segs.append(Segment(raw[at : at + 4], s_level))
            if end > at + 4:
                segs.append(Segment(raw[at + 4 : end], s_dim))
        if len(raw) > end:
            segs.append(Segment(raw[end:], s_msg))
        return segs, len(raw)

    def render_record(self, rec: LogRecord, st: _Styles | None = None) -> Text:
        """The line as shown (without cursor/gutter): level colour, dim time and thread,
        search matches highlighted."""
        st = st or self._get_styles()
        lv = rec.level
        if rec.kind is Kind.XSCHED and lv is not None:
            msg_style = st.message.get(lv)
            if self.compact:
                text = Text(end="", no_wrap=True)
                text.append(rec.time_text or "", st.dim)
                text.append(" ")
                text.append(lv.value, st.level[lv])
                text.append(f" T{rec.tid} ", st.dim)
                text.append(rec.message.replace("\t", "    "), msg_style)
                if rec.src_file:
                    text.append(f" @ {rec.src_file}:{rec.src_line}", st.dim)
            else:
                raw = rec.text.replace("\t", "    ")
                text = Text(raw, end="", no_wrap=True)
                close = raw.find("]")
                if close > 0:
                    text.stylize(st.dim, 0, close + 1)
                    at = raw.find(lv.value, 0, close)
                    if at >= 0:
                        text.stylize(st.level[lv], at, at + 4)
                    if msg_style is not None:
                        text.stylize(msg_style, close + 1)
        else:
            text = Text(rec.text.replace("\t", "    "), end="", no_wrap=True)
            if lv is not None and lv.rank <= Level.WARN.rank:
                text.stylize(st.level[lv])
            elif rec.kind is not Kind.PLAIN and lv is not None:
                text.stylize(st.level[lv], 0, min(len(text), 6))
        if rec.truncated:
            text.append(" …[line cut at 10 000 characters]", st.dim)
        rx = self._regex
        if rx is not None:
            plain = text.plain
            for m in rx.finditer(plain):
                if m.end() > m.start():
                    text.stylize(st.match, m.start(), m.end())
        return text

    # -- cursor ------------------------------------------------------------------------------

    def _set_cursor(self, line: int, *, scroll: bool = True, center: bool = False) -> None:
        line = max(-1 if self._count == 0 else 0, min(line, self._count - 1))
        self.cursor_line = line
        if scroll:
            self._scroll_cursor(center=center)

    def watch_cursor_line(self, old: int, new: int) -> None:
        for y in (old, new):
            if y >= 0:
                self._refresh_range(y, y + 1)
        if new >= 0:
            self.post_message(self.CursorMoved(self, new))

    def _scroll_cursor(self, *, center: bool = False) -> None:
        y = self.cursor_line
        if y < 0:
            return
        if self._size_timer is not None:
            self._flush_size()
        h = max(1, self.scrollable_content_region.height)
        top = self.scroll_offset.y
        if center and not top <= y < top + h:
            self.scroll_to(y=max(0, y - h // 2), animate=False, force=True)
        elif y < top:
            self.scroll_to(y=y, animate=False, force=True)
        elif y >= top + h:
            self.scroll_to(y=y - h + 1, animate=False, force=True)

    def move_cursor(self, line: int, *, center: bool = False) -> None:
        """Put the cursor on ``line`` (clamped); leaves follow mode unless it is the last line."""
        self.follow = line >= self._count - 1 and self.follow
        self._set_cursor(line, center=center)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if self.follow and round(new) < round(old) and round(new) < self.max_scroll_y:
            self.follow = False  # the user scrolled up: stop following

    def watch_follow(self, follow: bool) -> None:
        if follow and self.is_mounted:
            self._follow_end()

    def watch_compact(self) -> None:
        self._max_width = 0
        self.virtual_size = Size(self._virtual_width(), self._count)
        self.refresh()

    def on_click(self, event: events.Click) -> None:
        off = event.get_content_offset(self)
        if off is None:
            return
        line = self.scroll_offset.y + off.y
        if 0 <= line < self._count:
            self.move_cursor(line)

    def action_cursor_up(self) -> None:
        self.move_cursor(max(0, self.cursor_line - 1))

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor_line + 1)

    def action_page_up(self) -> None:
        h = max(1, self.scrollable_content_region.height)
        self.move_cursor(max(0, self.cursor_line - h))

    def action_page_down(self) -> None:
        h = max(1, self.scrollable_content_region.height)
        self.move_cursor(self.cursor_line + h)

    def action_home(self) -> None:
        self.move_cursor(0)

    def action_end(self) -> None:
        self.follow = True
        self._set_cursor(self._count - 1)

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow

    def action_toggle_compact(self) -> None:
        self.compact = not self.compact

    # -- marks -------------------------------------------------------------------------------

    def toggle_mark(self, line: int | None = None) -> bool:
        """Mark or unmark ``line`` (the cursor line by default). Returns True when now marked."""
        line = self.cursor_line if line is None else line
        if not 0 <= line < self._count:
            return False
        if line in self.marks:
            self.marks.discard(line)
            now = False
        else:
            self.marks.add(line)
            now = True
        self._refresh_range(line, line + 1)
        return now

    def action_toggle_mark(self) -> None:
        self.toggle_mark()

    def next_mark(self, forward: bool = True) -> int | None:
        c = self.cursor_line
        cands = [m for m in self.marks if (m > c if forward else m < c)]
        if not cands:
            return None
        line = min(cands) if forward else max(cands)
        self.move_cursor(line, center=True)
        return line

    # -- search ------------------------------------------------------------------------------

    @property
    def search(self) -> re.Pattern[str] | None:
        return self._regex

    def set_search(self, pattern: str | re.Pattern[str] | None, *, regex: bool = False,
                   ignore_case: bool = True) -> re.Pattern[str] | None:
        """Highlight ``pattern`` (plain text unless ``regex``; None or "" clears). A bad regex
        raises ``re.error`` (show its message to the user)."""
        if pattern is None or pattern == "":
            compiled = None
        elif isinstance(pattern, re.Pattern):
            compiled = pattern
        else:
            compiled = re.compile(pattern if regex else re.escape(pattern),
                                  re.IGNORECASE if ignore_case else 0)
        self._regex = compiled
        self._search_gen += 1
        self.refresh()
        return compiled

    def next_match(self, forward: bool = True) -> int | None:
        """Move the cursor to the next (previous) line matching the search. Returns the line, or
        None when there is none or when the search runs in the background (big files)."""
        rx = self._regex
        if rx is None or self._count == 0:
            return None
        src = self._source
        start = self.cursor_line
        if isinstance(src, FileLineSource) and src.ready:
            self.status = "searching…"
            self.run_worker(partial(self._search_file, src, rx, start, forward), thread=True,
                            exclusive=True, group="logview-search", exit_on_error=False)
            return None
        find = getattr(src, "find", None)
        hit = find(rx, start, forward) if find is not None else search_records(src, rx, start, forward)
        self._land(hit)
        return hit

    def prev_match(self) -> int | None:
        return self.next_match(False)

    def _search_file(self, src: FileLineSource, rx: re.Pattern[str], start: int, forward: bool) -> None:
        worker = get_current_worker()
        try:
            hit = src.find(rx, start, forward, cancel=lambda: worker.is_cancelled)
        except LogFileError as e:
            self._call(self._on_error, src, str(e))
            return
        if not worker.is_cancelled:
            self._call(self._search_done, src, hit)

    def _search_done(self, src: FileLineSource, hit: int | None) -> None:
        if src is self._source:
            self.status = "" if hit is not None else "no more matches"
            self._land(hit)

    def _land(self, hit: int | None) -> None:
        if hit is None:
            self.app.bell()
            return
        self.move_cursor(hit, center=True)

    def action_next_match(self) -> None:
        self.next_match(True)

    def action_prev_match(self) -> None:
        self.next_match(False)

    # -- problems (ERRO/WARN) ----------------------------------------------------------------

    def next_problem(self, forward: bool = True, level: Level = Level.WARN) -> int | None:
        """Move the cursor to the next (previous) line at ``level`` or worse."""
        if self._count == 0:
            return None
        src = self._source
        start = self.cursor_line
        fn = getattr(src, "next_problem", None)
        if isinstance(src, FileLineSource):
            hit = src.next_problem(start, forward, level, limit=_PROBLEM_SCAN_LIMIT)
        elif fn is not None:
            hit = fn(start, forward, level)
        else:
            hit = next_problem_records(src, start, forward, level)
        self._land(hit)
        return hit

    def prev_problem(self, level: Level = Level.WARN) -> int | None:
        return self.next_problem(False, level)

    def action_next_problem(self) -> None:
        self.next_problem(True)

    def action_prev_problem(self) -> None:
        self.next_problem(False)


class LogPanel(Vertical):
    """A :class:`LogView` with a ProgressBar above it while its file is being indexed."""

    DEFAULT_CSS = """
    LogPanel { height: 1fr; }
    LogPanel > ProgressBar { height: 1; padding: 0 1; }
    LogPanel > ProgressBar.-hidden { display: none; }
    LogPanel > LogView { height: 1fr; }
    """

    def __init__(self, source: LineSource | None = None, *, follow: bool = True,
                 poll_interval: float | None = 0.25, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.log_view = LogView(source, follow=follow, poll_interval=poll_interval)

    def compose(self) -> ComposeResult:
        bar = ProgressBar(total=1.0, show_eta=False, classes="-hidden")
        yield bar
        yield self.log_view

    def on_mount(self) -> None:
        self.watch(self.log_view, "index_progress", self._progress)

    def _progress(self, value: float | None) -> None:
        bar = self.query_one(ProgressBar)
        bar.set_class(value is None, "-hidden")
        if value is not None:
            bar.update(progress=value)
