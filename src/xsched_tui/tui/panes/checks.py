"""The Checks pane: live status of every environment check, its evidence and its fix.

The pane only draws records and posts messages; the App runs the checks in a worker.
"""

from __future__ import annotations

import time

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widgets import DataTable, Static

from xsched_tui.core.checks.base import CheckResult, CheckSpec, Status
from xsched_tui.tui.messages import RerunRequested

STATUS_STYLE = {
    Status.PASS: "bold green",
    Status.WARN: "bold yellow",
    Status.FAIL: "bold red",
    Status.SKIP: "dim",
}
COLUMNS = ("status", "check", "time", "finding")


def status_text(status: Status | None, running: bool = False) -> Text:
    if running:
        return Text("RUN…", style="bold cyan")
    if status is None:
        return Text("····", style="dim")
    return Text(status.value, style=STATUS_STYLE[status])


def _line(*parts: Text | str) -> Text:
    out = Text()
    for i, p in enumerate(parts):
        if i:
            out.append("  ")
        out.append_text(p if isinstance(p, Text) else Text(p))
    return out


def render_detail(spec: CheckSpec, result: CheckResult | None) -> Group:
    head = Text.assemble((spec.title, "bold"), "  ", (f"({spec.id})", "dim"))
    if result is None:
        return Group(head, Text(spec.description or "", style="dim"), Text("not run yet", "dim"))
    parts: list = [
        head,
        _line(status_text(result.status), result.finding,
              Text(f"   {result.duration_s * 1000:.0f} ms", "dim")),
    ]
    if result.evidence:
        t = Table(box=None, show_header=False, pad_edge=False, expand=True)
        t.add_column("", width=4, no_wrap=True)
        t.add_column("label", style="bold", ratio=1, overflow="fold")
        t.add_column("value", ratio=4, overflow="fold")
        for e in result.evidence:
            t.add_row(status_text(e.status) if e.status else Text(""), e.label, e.value)
        parts.append(t)
    if result.fix:
        parts.append(Text("fix:", style="bold"))
        parts.append(Text(result.fix, style="cyan"))
    return Group(*parts)


class ChecksPane(Vertical):
    """Table of checks (one row each) above the details of the highlighted check."""

    BINDINGS = [
        Binding("enter", "toggle_detail", "Details"),
        Binding("r", "rerun", "Re-run check"),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    show_detail: reactive[bool] = reactive(True)

    def __init__(self, specs: list[CheckSpec], **kw) -> None:
        super().__init__(**kw)
        self._specs = {s.id: s for s in specs}
        self._order = [s.id for s in specs]
        self.results: dict[str, CheckResult] = {}
        self._run_started: dict[str, float] = {}

    def compose(self) -> ComposeResult:
        table: DataTable = DataTable(id="checks-table", cursor_type="row", zebra_stripes=True)
        yield table
        with VerticalScroll(id="check-detail-scroll"):
            yield Static(id="check-detail")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("Status", key="status", width=6)
        table.add_column("Check", key="check", width=18)
        table.add_column("Time", key="time", width=8)
        table.add_column("Finding", key="finding")
        for cid in self._order:
            table.add_row(status_text(None), self._specs[cid].title, "", Text("", "dim"), key=cid)
        self.set_interval(0.25, self._tick_running)  # only touches rows that are running
        self._refresh_detail()

    # -- data in -------------------------------------------------------------------------
    def set_specs(self, specs: list[CheckSpec]) -> None:
        self._specs = {s.id: s for s in specs}

    def mark_pending(self, ids: list[str]) -> None:
        table = self.query_one(DataTable)
        for cid in ids:
            self.results.pop(cid, None)
            table.update_cell(cid, "status", status_text(None))
            table.update_cell(cid, "time", "")
            table.update_cell(cid, "finding", Text("queued", "dim"))
        self._refresh_detail()

    def mark_running(self, check_id: str) -> None:
        self._run_started[check_id] = time.monotonic()
        table = self.query_one(DataTable)
        table.update_cell(check_id, "status", status_text(None, running=True))
        table.update_cell(check_id, "finding", Text("running…", "cyan"))

    def set_result(self, result: CheckResult) -> None:
        self._run_started.pop(result.id, None)
        self.results[result.id] = result
        table = self.query_one(DataTable)
        table.update_cell(result.id, "status", status_text(result.status))
        table.update_cell(result.id, "time", f"{result.duration_s * 1000:.0f} ms")
        table.update_cell(result.id, "finding", self._finding_cell(result), update_width=True)
        if self.highlighted_id == result.id:
            self._refresh_detail()

    def _finding_width(self) -> int:
        # Status, Check and Time columns plus cell padding; the detail view shows the rest.
        return max(20, self.size.width - (6 + 18 + 8) - 2 * 4 - 4)

    def _finding_cell(self, result: CheckResult) -> Text:
        t = Text(result.finding.replace("\n", " "))
        t.truncate(self._finding_width(), overflow="ellipsis")
        return t

    def on_resize(self) -> None:
        if not self.is_mounted:
            return
        table = self.query_one(DataTable)
        for cid, res in self.results.items():
            table.update_cell(cid, "finding", self._finding_cell(res), update_width=True)

    def _tick_running(self) -> None:
        if not self._run_started:
            return
        table = self.query_one(DataTable)
        now = time.monotonic()
        for cid, t0 in self._run_started.items():
            table.update_cell(cid, "time", f"{now - t0:.1f} s")

    # -- selection and details ---------------------------------------------------------------
    @property
    def highlighted_id(self) -> str | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        try:
            return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        except Exception:
            return None

    @on(DataTable.RowHighlighted)
    def _on_highlight(self, _event: DataTable.RowHighlighted) -> None:
        self._refresh_detail()

    @on(DataTable.RowSelected)
    def _on_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_toggle_detail()

    def _refresh_detail(self) -> None:
        cid = self.highlighted_id
        detail = self.query_one("#check-detail", Static)
        if cid is None or cid not in self._specs:
            detail.update("")
            return
        detail.update(render_detail(self._specs[cid], self.results.get(cid)))

    def watch_show_detail(self, show: bool) -> None:
        self.query_one("#check-detail-scroll").display = show

    def action_toggle_detail(self) -> None:
        self.show_detail = not self.show_detail

    def action_rerun(self) -> None:
        cid = self.highlighted_id
        if cid is not None:
            self.post_message(RerunRequested(cid))

    def action_cursor_down(self) -> None:
        self.query_one(DataTable).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one(DataTable).action_cursor_up()
