"""The Textual app. It owns the workers; panes draw records and post messages."""

from __future__ import annotations

import datetime as _dt
import os
import socket
from collections.abc import Iterable
from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from xsched_tui.core.checks import CheckContext, registry, run_checks, run_one
from xsched_tui.core.checks.base import CheckResult, CheckSpec
from xsched_tui.core.checks.engine import RunSummary, order
from xsched_tui.core.config import Config
from xsched_tui.tui.messages import (
    CheckFinished,
    ChecksDone,
    ChecksStarted,
    CheckStarted,
    ReportSaved,
    RerunRequested,
)
from xsched_tui.tui.panes.checks import ChecksPane
from xsched_tui.tui.screens.help import HelpScreen

STYLES = Path(__file__).resolve().parent.parent / "styles"


class XSchedApp(App[int]):
    TITLE = "xsched-tui"
    CSS_PATH = [STYLES / "app.tcss"]
    BINDINGS = [
        Binding("c", "run_checks", "Run checks"),
        Binding("s", "save_report", "Save report"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        config: Config,
        *,
        specs: list[CheckSpec] | None = None,
        hostname: str | None = None,
        live: bool = True,
        autorun: bool = True,
    ) -> None:
        super().__init__()
        self.config = config
        self.specs = order(specs if specs is not None else registry())
        self.hostname = hostname or socket.gethostname()
        self.autorun = autorun
        self.ctx = CheckContext(config=config, live=live)
        self.results: dict[str, CheckResult] = {}
        self.last_summary: RunSummary | None = None
        self.running = False

    # -- layout ----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="tabs"), TabPane("Checks", id="tab-checks"):
            yield ChecksPane(self.specs, id="checks-pane")
        yield Static(id="status-line")
        yield Footer()

    def on_mount(self) -> None:
        self._update_subtitle()
        self.query_one("#checks-table").focus()
        if self.autorun:
            self.action_run_checks()

    def _update_subtitle(self) -> None:
        plat = self.ctx.fact("install", "platform") or (
            self.config.platform if self.config.platform != "auto" else "platform ?")
        cfg = self.config.file or "defaults"
        self.sub_title = f"{self.hostname} · {plat} · config: {cfg}"

    def _status(self, text: str) -> None:
        self.query_one("#status-line", Static).update(text)

    # -- checks ----------------------------------------------------------------------------
    def action_run_checks(self) -> None:
        if self.running:
            self.notify("checks are already running", severity="warning")
            return
        self.running = True
        ids = [s.id for s in self.specs]
        self.post_message(ChecksStarted(ids))
        self._run_all()

    @work(thread=True, exclusive=True, group="checks", exit_on_error=False,
          description="environment checks")
    def _run_all(self) -> None:
        summary = run_checks(
            self.specs, self.ctx,
            on_start=lambda s: self.post_message(CheckStarted(s.id)),
            on_result=lambda r: self.post_message(CheckFinished(r)),
        )
        self.post_message(ChecksDone(summary))

    @work(thread=True, exclusive=True, group="checks", exit_on_error=False,
          description="re-run one check")
    def _run_single(self, check_id: str) -> None:
        spec = next(s for s in self.specs if s.id == check_id)
        self.post_message(CheckStarted(check_id))
        res = run_one(spec, self.ctx, dict(self.results))
        self.post_message(CheckFinished(res))
        ordered = tuple(self.results.get(s.id) or res for s in self.specs if s.id in self.results
                        or s.id == check_id)
        self.post_message(ChecksDone(RunSummary(ordered, sum(r.duration_s for r in ordered))))

    @on(ChecksStarted)
    def _on_checks_started(self, msg: ChecksStarted) -> None:
        self.query_one(ChecksPane).mark_pending(msg.ids)
        self._status("running checks…")

    @on(CheckStarted)
    def _on_check_started(self, msg: CheckStarted) -> None:
        self.query_one(ChecksPane).mark_running(msg.check_id)

    @on(CheckFinished)
    def _on_check_finished(self, msg: CheckFinished) -> None:
        self.results[msg.result.id] = msg.result
        self.query_one(ChecksPane).set_result(msg.result)
        if msg.result.id == "install":
            self._update_subtitle()

    @on(ChecksDone)
    def _on_checks_done(self, msg: ChecksDone) -> None:
        self.running = False
        self.last_summary = msg.summary
        c = msg.summary.counts()
        self._status(f"{msg.summary.worst.value}: {c['PASS']} passed, {c['WARN']} warned, "
                     f"{c['FAIL']} failed, {c['SKIP']} skipped in {msg.summary.duration_s:.1f} s"
                     "   ·  c: run again  r: re-run one  s: save report")

    @on(RerunRequested)
    def _on_rerun(self, msg: RerunRequested) -> None:
        if self.running:
            self.notify("checks are already running", severity="warning")
            return
        self.running = True
        self._run_single(msg.check_id)

    # -- report ----------------------------------------------------------------------------
    def action_save_report(self) -> None:
        if self.last_summary is None or self.running:
            self.notify("no finished check run to save yet", severity="warning")
            return
        self._save(self.last_summary)

    @work(thread=True, group="io", exit_on_error=False, description="save report")
    def _save(self, summary: RunSummary) -> None:
        from xsched_tui.core import report
        from xsched_tui.core.atomic import write_text_atomic

        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        folder = self.config.results
        try:
            os.makedirs(folder, exist_ok=True)
            md = os.path.join(folder, f"check-{stamp}.md")
            js = os.path.join(folder, f"check-{stamp}.json")
            write_text_atomic(md, report.to_markdown(summary, self.config))
            write_text_atomic(js, report.dumps_json(summary, self.config))
        except OSError as exc:
            self.post_message(ReportSaved([], f"cannot write to {folder}: {exc.strerror or exc}"))
            return
        self.post_message(ReportSaved([md, js]))

    @on(ReportSaved)
    def _on_saved(self, msg: ReportSaved) -> None:
        if msg.error:
            self.notify(msg.error, severity="error", timeout=8)
        else:
            self.notify("report saved: " + ", ".join(msg.paths), timeout=8)

    # -- help and palette --------------------------------------------------------------------
    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Run all checks", "Run every environment check again",
                            self.action_run_checks)
        yield SystemCommand("Save check report", "Write Markdown and JSON to the results folder",
                            self.action_save_report)
        for s in self.specs:
            yield SystemCommand(f"Re-run check: {s.title}", s.description or s.id,
                                lambda cid=s.id: self.post_message(RerunRequested(cid)),
                                discover=False)
        yield SystemCommand("Help", "Keys and statuses", self.action_help)
