"""The Textual app. It owns the workers; panes draw records and post messages."""

from __future__ import annotations

import contextlib
import datetime as _dt
import gc
import os
import socket
import threading
from collections.abc import Iterable
from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Header, Static, TabbedContent, TabPane

from xsched_tui.core.checks import CheckContext, registry, run_checks, run_one
from xsched_tui.core.checks.base import CheckResult, CheckSpec
from xsched_tui.core.checks.engine import RunSummary, order
from xsched_tui.core.config import Config
from xsched_tui.tui import stripcycles
from xsched_tui.tui.footer import AppFooter
from xsched_tui.tui.messages import (
    CheckFinished,
    ChecksDone,
    ChecksStarted,
    CheckStarted,
    ExperimentCancelRequested,
    ExperimentEventArrived,
    ExperimentRequested,
    ExportRequested,
    LogBatchArrived,
    PriorityRequested,
    ProcessesUpdated,
    ReplayControl,
    ReportSaved,
    RerunRequested,
    ShowLogsRequested,
    SignalRequested,
    XQueuesUpdated,
    XServerActionRequested,
)
from xsched_tui.tui.panes.checks import ChecksPane
from xsched_tui.tui.panes.logs import LogsPane
from xsched_tui.tui.panes.overhead import OverheadPane
from xsched_tui.tui.panes.priority import PriorityPane
from xsched_tui.tui.panes.procs import ProcessesPane
from xsched_tui.tui.panes.xqueues import XQueuesPane

STYLES = Path(__file__).resolve().parent.parent / "styles"
POLL_S = 1.0  # process refresh and xserver poll period (the 1 Hz)
SELF_COST_S = 5.0  # window of the on-screen self-cost (CPU %, slowest refresh)
DISCOVER_S = 5.0  # whole-host scan for XSched processes ("every few seconds")


class XSchedApp(App[int]):
    TITLE = "xsched-tui"
    CSS_PATH = [STYLES / "app.tcss"]
    BINDINGS = [
        Binding("c", "run_checks", "Run checks"),
        Binding("s", "save_report", "Save report"),
        Binding("right_square_bracket", "cycle_tab(1)", "Next tab"),
        Binding("left_square_bracket", "cycle_tab(-1)", "Prev tab", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("less_than_sign", "interval(-1)", "Faster refresh", show=False),
        Binding("greater_than_sign", "interval(1)", "Slower refresh", show=False),
        Binding("q", "quit", "Quit"),
        # Textual's default for Ctrl+C only says how to quit; in a monitor it means quit.
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        config: Config,
        *,
        specs: list[CheckSpec] | None = None,
        hostname: str | None = None,
        live: bool = True,
        autorun: bool = True,
        replay: str | None = None,
        replay_speed: float = 1.0,
        replay_scenario: str | None = None,
        log_files: list[str] | None = None,
        log_pids: list[int] | None = None,
        start_tab: str | None = None,
        poll: bool = True,
        interval: float = POLL_S,
        watchdog=None,
    ) -> None:
        super().__init__()
        stripcycles.install()  # drawn lines freed by refcount, not left to the cyclic collector
        # core.lifecycle.ShutdownWatchdog: when given (the real app, not Pilot tests), SIGTERM,
        # SIGHUP and SIGINT end the app in order, bounded by it.
        self.watchdog = watchdog
        self._shutting_down = False
        self.config = config
        self.specs = order(specs if specs is not None else registry())
        self.hostname = hostname or socket.gethostname()
        self.autorun = autorun
        self.ctx = CheckContext(config=config, live=live)
        self.results: dict[str, CheckResult] = {}
        self.last_summary: RunSummary | None = None
        self.running = False
        # Logs: a LogHub fed by files/folders, or by a replay of a recording.
        self.replay_path = replay
        self.replay_speed = replay_speed
        self.replay_scenario = replay_scenario
        self.log_files = list(log_files or [])
        self.log_pids = list(log_pids or [])
        self.start_tab = start_tab or ("tab-logs" if replay else "tab-checks")
        self.hub = None
        self.player = None
        self.last_export: str | None = None
        self._pending = 0
        # Processes and XQueues: collectors in worker threads, latest records kept here; a pane
        # is redrawn when its data changed and it is on screen (or becomes so).
        from xsched_tui.core.logfacts import LogFacts

        self.poll = poll
        # The refresh period of the process collector, the xserver poller and the panes they
        # feed (--interval; < and > change it at run time).
        self.interval = interval
        self.self_cost_text = ""
        self._skipped_lines = 0
        self.log_facts = LogFacts()
        self.collector = None
        self.xq_monitor = None
        self.proc_snapshot = None
        self.xq_view = None
        self._dirty: set[str] = set()
        self._stop_polls = threading.Event()
        self.experiment = None  # the running core.experiment.ExperimentRunner
        self._exp_kind = "overhead"
        self._exp_streams: dict[str, str] = {}
        self._procs_drawn = False

    # -- layout ----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="tabs"):
            with TabPane("Checks", id="tab-checks"):
                yield ChecksPane(self.specs, id="checks-pane")
            with TabPane("Processes", id="tab-procs"):
                yield ProcessesPane(readonly=self.config.readonly, id="procs-pane")
            with TabPane("XQueues", id="tab-xq"):
                yield XQueuesPane(self._xq_address(), readonly=self.config.readonly, id="xq-pane")
            with TabPane("Logs", id="tab-logs"):
                yield LogsPane(id="logs-pane")
            with TabPane("Overhead", id="tab-overhead"):
                yield OverheadPane(readonly=self.config.readonly, id="overhead-pane")
            with TabPane("Priority", id="tab-priority"):
                yield PriorityPane(readonly=self.config.readonly, id="priority-pane")
        with Horizontal(id="status-bar"):
            yield Static(id="status-line")
            yield Static(id="self-cost")
        yield AppFooter()

    def on_mount(self) -> None:
        if self.watchdog is not None:
            self._install_signal_handlers()
        self._update_subtitle()
        self._q(TabbedContent).active = self.start_tab
        focus = self.FOCUS.get(self.start_tab, "#checks-table")
        self.call_after_refresh(lambda: self._q(focus).focus())
        if self.autorun:
            self.action_run_checks()
        self._start_logs()
        if self.replay_path:
            self.set_interval(0.5, self._replay_tick)
        if self.poll:
            self._procs_loop()
            self._xq_loop()
        # log facts change with the logs (up to 10 batches a second): the visible pane takes
        # them at most once a second, through a one-shot timer armed when something changed
        # (a periodic one woke the idle app every second for nothing).
        self._redraw_timer = None
        self._redrawn_at = 0.0
        # Startup objects (widgets, modules, parsed stylesheets) live until exit: keep them out
        # of every later collection.
        self.call_after_refresh(gc.freeze)

    # -- logs ------------------------------------------------------------------------------
    def _hub_batch(self, batch) -> None:  # the hub's thread
        if self.log_facts.ingest(batch.entries, {s.id: s for s in batch.sources}, batch.scan):
            self._dirty.update(("facts", "prio"))
        self._pending += 1
        self.post_message(LogBatchArrived(batch))

    @work(thread=True, group="logs", exit_on_error=False, description="open log sources")
    def _start_logs(self) -> None:
        from xsched_tui.core.config import custom_patterns
        from xsched_tui.core.logsources import LogHub

        hub = LogHub(on_batch=self._hub_batch, pending=lambda: self._pending,
                     patterns=custom_patterns(self.config))
        self.hub = hub
        problems: list[str] = []
        if self.replay_path:
            from xsched_tui.core.replay import Player, Recording, RecordingError

            try:
                rec = Recording(self.replay_path)
                self.player = Player(rec, hub, scenario=self.replay_scenario,
                                     speed=self.replay_speed).start()
            except (RecordingError, ValueError) as exc:
                problems.append(f"replay: {exc}")
        if self.config.logs:
            try:
                hub.add_dir(self.config.logs)
            except (OSError, ValueError) as exc:
                problems.append(f"logs folder {self.config.logs}: {exc}")
        for f in self.log_files:
            try:
                hub.add_file(f)
            except (OSError, ValueError) as exc:
                problems.append(f"{f}: {exc}")
        for pid in self.log_pids:
            got = hub.add_proc_fd2(pid)
            if isinstance(got, str):  # a pipe or tty: say why and how to capture it
                problems.append(got)
        for p in problems:
            self.call_from_thread(self.notify, p, severity="error", timeout=10)

    @on(LogBatchArrived)
    def _on_log_batch(self, msg: LogBatchArrived) -> None:
        self._pending = max(0, self._pending - 1)
        logs = self._q(LogsPane)
        logs.ingest(msg.batch)
        self._skipped_lines = logs.model.skipped
        self._schedule_redraw()  # log facts changed with it (hub thread marked them dirty)

    def _replay_tick(self) -> None:
        p = self.player
        if p is None:
            return
        state = "finished" if p.finished else ("paused" if p.paused else f"{p.speed:g}x")
        try:
            self._q(LogsPane).set_replay_status(
                f"REPLAY {p.position:5.1f}/{p.duration:.1f} s {state} (p + - , .)")
        except NoMatches:  # a timer callback, not a message: it can race shutdown too
            if self.is_running:
                raise

    @on(ReplayControl)
    def _on_replay_control(self, msg: ReplayControl) -> None:
        p = self.player
        if p is None:
            self.notify("no replay running", severity="warning")
            return
        if msg.action == "toggle":
            if p.paused:
                p.resume()
            else:
                p.pause()
        elif msg.action == "faster":
            p.set_speed(min(1000.0, p.speed * 2))
        elif msg.action == "slower":
            p.set_speed(max(0.125, p.speed / 2))
        elif msg.action == "forward":
            p.seek(min(p.duration, p.position + 10))
        elif msg.action == "back":
            p.seek(max(0.0, p.position - 10))
        self._replay_tick()

    @on(ExportRequested)
    def _on_export(self, msg: ExportRequested) -> None:
        self._export(msg.source, msg.marks, msg.what)

    @work(thread=True, group="io", exit_on_error=False, description="export log lines")
    def _export(self, source, marks: list[int], what: str) -> None:
        from xsched_tui.core.logmodel import export_lines

        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        folder = self.config.results
        path = os.path.join(folder, f"logs-export-{stamp}.log")
        try:
            os.makedirs(folder, exist_ok=True)
            export_lines(source, marks, path)
        except (OSError, IndexError) as exc:
            self.call_from_thread(self.notify, f"cannot write {path}: {exc.strerror or exc}",
                                  severity="error")
            return
        self.last_export = path
        self.call_from_thread(self.notify, f"exported {what} to {path}")

    # -- processes and XQueues -----------------------------------------------------------------
    def _xq_address(self) -> str:
        if self.replay_path:
            return "(recorded answers of the replay)"
        return f"{self.config.xserver_host}:{self.config.xserver_port}"

    @work(thread=True, group="procs", exit_on_error=False, description="process collector")
    def _procs_loop(self) -> None:
        from xsched_tui.core.proctree import ProcessCollector
        from xsched_tui.core.threadname import name_native

        name_native("xs-procs")
        coll = ProcessCollector(self.config, discover_every=DISCOVER_S)
        self.collector = coll
        for pid in self.log_pids:
            coll.track(pid, origin="pinned")
        last = None
        import time as _time

        from xsched_tui.core.gcpolicy import GcPolicy
        from xsched_tui.core.selfcost import SelfMeter

        meter, sampled, refresh_max = SelfMeter(), _time.monotonic(), 0.0
        gc_policy = GcPolicy()
        while not self._stop_polls.is_set():
            snap = coll.refresh()
            key = (snap.procs, snap.notes, snap.gpu_source)
            if key != last:  # nothing under test and nothing new: no message, no UI work
                last = key
                self.proc_snapshot = snap
                self.post_message(ProcessesUpdated(snap))
            # The app's own cost: CPU over SELF_COST_S windows (the first after one refresh),
            # the slowest refresh in the window; drawn only when the text changes, so an idle
            # app repaints one line every few seconds at most.
            refresh_max = max(refresh_max, snap.refresh_ms)
            now = _time.monotonic()
            if now - sampled >= (SELF_COST_S if self.self_cost_text else self.interval):
                xq = self.xq_view
                poll_ms = xq.latency_s * 1000 if xq is not None and xq.latency_s is not None \
                    else None
                cost = meter.sample(refresh_max, poll_ms)
                # the full collections CPython's thresholds leave out (core/gcpolicy.py)
                gc_policy.maybe_collect()
                text = cost.text(self.interval, self._skipped_lines, gc_policy.text())
                sampled, refresh_max = now, 0.0
                if text != self.self_cost_text:
                    self.self_cost_text = text
                    self.call_from_thread(self._show_self_cost, text)
            self._stop_polls.wait(self.interval)

    @work(thread=True, group="xq", exit_on_error=False, description="xserver poller")
    def _xq_loop(self) -> None:
        from xsched_tui.core.threadname import name_native
        from xsched_tui.core.xqmonitor import XQueueMonitor
        from xsched_tui.core.xserver import XServerClient

        name_native("xs-xserver")

        if self.replay_path:
            from xsched_tui.core.xqrecorded import RecordedXServer, recorded_answers, scenario_at

            def current() -> str | None:
                p = self.player
                return scenario_at(p.spans, p.position) if p is not None else None

            client = RecordedXServer(recorded_answers(self.replay_path), current)
        else:
            client = XServerClient(self.config.xserver_host, self.config.xserver_port, timeout=1.0)
        # the pane draws the last 24 polls; a longer ring only costs copying every second
        mon = XQueueMonitor(client, history=32)  # type: ignore[arg-type]
        self.xq_monitor = mon
        last = None
        while not self._stop_polls.is_set():
            mon.ingest_log(self.log_facts)
            snap = self.proc_snapshot
            if snap is not None:
                for p in snap.procs:
                    if p.xsched is not None and p.xsched.priority is not None:
                        mon.set_env_priority(p.pid, p.xsched.priority)
            view = mon.poll()
            key = (view.status, view.message, view.policy, view.queues, view.processes)
            if key != last:  # an unchanged answer (or the same failure again) is not news
                last = key
                self.post_message(XQueuesUpdated(view))
            self._stop_polls.wait(self.interval)

    TABS = ("tab-checks", "tab-procs", "tab-xq", "tab-logs", "tab-overhead", "tab-priority")
    FOCUS = {"tab-checks": "#checks-table", "tab-procs": "#procs-table", "tab-xq": "#xq-procs",
             "tab-logs": "#log-panel LogView", "tab-overhead": "#ov-runs",
             "tab-priority": "#pr-runs"}

    def action_cycle_tab(self, step: int) -> None:
        tabs = self._q(TabbedContent)
        i = self.TABS.index(tabs.active) if tabs.active in self.TABS else 0
        tabs.active = self.TABS[(i + step) % len(self.TABS)]
        target = self.FOCUS[tabs.active]
        self.call_after_refresh(lambda: self._q(target).focus())

    async def _on_message(self, message) -> None:
        # Workers (log hub, collectors, experiments) post from their threads; a message that
        # lands while the app is shutting down finds its panes already removed. That race is
        # harmless (there is nothing left to draw), so it must not surface as an error; the
        # same miss while running is a real bug and still raises.
        try:
            await super()._on_message(message)
        except NoMatches:
            if self.is_running:
                raise

    def _q(self, selector, expect_type=None):
        """query_one on the main screen, also while a dialog or the help is on top."""
        base = self.screen_stack[0] if self.screen_stack else self.screen
        return base.query_one(selector, expect_type) if expect_type else base.query_one(selector)

    def _active_tab(self) -> str:
        return self._q(TabbedContent).active

    @on(ProcessesUpdated)
    def _on_procs(self, msg: ProcessesUpdated) -> None:
        # Drawn by the 1 Hz timer (one redraw a second whatever arrived: processes, xserver, log
        # facts); only the very first data is drawn at once.
        self.proc_snapshot = msg.snapshot
        self._dirty.update(("procs", "prio"))
        if not self._procs_drawn:
            self._procs_drawn = True
            self._redraw_visible()
        self._schedule_redraw()

    @on(XQueuesUpdated)
    def _on_xq(self, msg: XQueuesUpdated) -> None:
        first = self.xq_view is None
        self.xq_view = msg.view
        self._dirty.update(("xq", "procs"))
        if first:
            self._redraw_visible()
        self._schedule_redraw()

    @on(TabbedContent.TabActivated)
    def _on_tab(self, _e: TabbedContent.TabActivated) -> None:
        self._dirty.update(("procs", "xq"))
        self._redraw_visible()

    def _schedule_redraw(self) -> None:
        """Arm the one-shot redraw (at most one a second) when something is dirty."""
        needs = {"tab-procs": {"procs", "facts"}, "tab-xq": {"xq"},
                 "tab-priority": {"prio"}}.get(self._active_tab(), set())
        if self._dirty & needs and getattr(self, "_redraw_timer", 1) is None:
            import time as _time

            # (a 0 s timer raises ZeroDivisionError inside Textual)
            wait = max(0.01, self._redrawn_at + self.interval - _time.monotonic())
            self._redraw_timer = self.set_timer(wait, self._redraw_fire)

    def _redraw_fire(self) -> None:
        import time as _time

        self._redraw_timer = None
        self._redrawn_at = _time.monotonic()
        try:
            self._redraw_visible()
        except NoMatches:  # a timer, not a message: it can race shutdown like one
            if self.is_running:
                raise

    def _redraw_visible(self) -> None:
        """Only the pane on screen is drawn; the others catch up when they are shown."""
        tab = self._active_tab()
        if tab == "tab-procs" and self._dirty & {"procs", "facts"}:
            self._dirty -= {"procs", "facts"}
            model = self._q(LogsPane).model
            labels = {i.pid: i.label for i in model.sources.values()
                      if i.pid is not None and i.role != "xserver"}
            self._q(ProcessesPane).update_data(self.proc_snapshot, self.log_facts.snapshot(),
                                                      self.xq_view, labels)
        elif tab == "tab-xq" and "xq" in self._dirty:
            self._dirty.discard("xq")
            self._q(XQueuesPane).update_data(self.xq_view, self.log_facts.snapshot())
        elif tab == "tab-priority" and "prio" in self._dirty:
            self._dirty.discard("prio")
            self._refresh_priority()

    def _refresh_priority(self) -> None:
        """The Priority pane, for the experiment's processes only: their diagnosis (FACTS §8)
        from the latest process snapshot, their log facts and xserver's view."""
        from xsched_tui.core.diagnose import diagnose

        pane = self._q(PriorityPane)
        pids = pane.experiment_pids()
        facts = self.log_facts.snapshot()
        logs = {p: facts[p] for p in pids if p in facts}
        diags = {}
        snap = self.proc_snapshot
        for p in pids:
            rec = snap.get(p) if snap is not None else None
            if rec is not None and rec.xsched is not None:
                diags[p] = diagnose(rec, logs.get(p), self.xq_view)
            elif rec is not None and p in logs:
                from xsched_tui.core.procrecords import log_only_record

                diags[p] = diagnose(log_only_record(p, rec.cmdline), logs[p], self.xq_view)
        pane.refresh_view(diags, logs)

    @on(SignalRequested)
    def _on_signal(self, msg: SignalRequested) -> None:
        import signal as _signal

        name = _signal.Signals(msg.signum).name
        if self.config.readonly:
            self.notify("read-only: signals are disabled", severity="warning")
            return
        from xsched_tui.core.procread import same_process

        if msg.started is not None and not same_process(msg.pid, msg.started):
            self.notify(f"process {msg.pid} has exited (its pid now belongs to another process): "
                        "nothing sent", severity="warning")
            return
        try:
            os.kill(msg.pid, msg.signum)
        except ProcessLookupError:
            self.notify(f"process {msg.pid} has already exited", severity="warning")
        except PermissionError:
            self.notify(f"not allowed to signal process {msg.pid} (another user's process)",
                        severity="error")
        else:
            self.notify(f"sent {name} to process {msg.pid}")

    @on(XServerActionRequested)
    def _on_xserver_action(self, msg: XServerActionRequested) -> None:
        if self.config.readonly:
            self.notify("read-only: xserver changes are disabled", severity="warning")
            return
        if self.replay_path:
            self.notify("replay: the recorded xserver cannot be changed", severity="warning")
            return
        self._xserver_action(msg.action, dict(msg.args), msg.what)

    @work(thread=True, group="xq-actions", exit_on_error=False, description="xserver action")
    def _xserver_action(self, action: str, args: dict, what: str) -> None:
        from xsched_tui.core.xserver import ActionRejected, XServerClient, XServerError

        client = XServerClient(self.config.xserver_host, self.config.xserver_port, timeout=2.0)
        try:
            if action == "priority":
                answers = [client.set_priority(h, args["priority"]) for h in args["handles"]]
                answer = answers[-1] if answers else "nothing to do"
            elif action == "utilization":
                answer = client.set_utilization(handle=args.get("handle"), pid=args.get("pid"),
                                                utilization=args["utilization"])
            elif action == "policy":
                answer = client.set_policy(args["policy"])
            elif action == "config":
                answer = client.configure(args["handle"], args["level"], args["threshold"],
                                          args["batch_size"])
            else:
                raise ActionRejected(f"unknown action {action!r}")
        except (XServerError, ActionRejected) as exc:
            self.call_from_thread(self.notify, f"{what}: failed: {exc}", severity="error", timeout=8)
            return
        self.call_from_thread(self.notify, f"{what}: xserver says {answer}", timeout=6)

    # -- experiments ------------------------------------------------------------------------
    @on(ExperimentRequested)
    def _on_experiment_requested(self, msg: ExperimentRequested) -> None:
        if self.config.readonly:
            self.notify("read-only: experiments are disabled", severity="warning")
            return
        if self.experiment is not None:
            self.notify("an experiment is already running", severity="warning")
            return
        from xsched_tui.core.expspec import build_overhead_spec

        try:
            spec = build_overhead_spec(self.config, msg.workload, msg.options, pairs=msg.pairs,
                                       threshold_pct=msg.threshold, aa=msg.aa)
        except ValueError as exc:
            self.notify(f"cannot start: {exc}", severity="error", timeout=10)
            return
        self.start_experiment(spec)

    @on(PriorityRequested)
    def _on_priority_requested(self, msg: PriorityRequested) -> None:
        from xsched_tui.cli_priority import build_spec, form_namespace

        try:
            spec = build_spec(form_namespace(msg.values), self.config)
        except (ValueError, TypeError) as exc:
            self.notify(f"cannot start: {exc}", severity="error", timeout=10)
            return
        self.start_experiment(spec)

    def start_experiment(self, spec, environ=None) -> bool:
        """Run ``spec`` in a worker; its events go to the pane of its kind, its processes to the
        collector and their stderr (and xserver's) to the log hub, so every pane sees them."""
        if self.config.readonly:
            self.notify("read-only: experiments are disabled", severity="warning")
            return False
        if self.experiment is not None:
            self.notify("an experiment is already running", severity="warning")
            return False
        from xsched_tui.core.experiment import ExperimentRunner
        from xsched_tui.core.explock import refusal

        busy = refusal(self.config.results)  # another xsched-tui's experiment: not now
        if busy:
            self.notify(busy.replace(", or pass --allow-concurrent", ""), severity="error",
                        timeout=15)
            return False
        try:
            runner = ExperimentRunner(spec, self.config, results_dir=self.config.results,
                                      on_event=self._experiment_event, environ=environ,
                                      on_log=self._experiment_log)
        except OSError as exc:
            self.notify(f"cannot create the results folder under {self.config.results}: "
                        f"{exc.strerror or exc}", severity="error", timeout=15)
            return False
        if spec.kind == "priority":
            self._q(PriorityPane).started(spec)
            self._q(TabbedContent).active = "tab-priority"
        self._exp_streams: dict[str, str] = {}
        self.experiment = runner
        self._run_experiment(self.experiment)
        return True

    def _experiment_log(self, label: str, pid: int | None, line: str) -> None:  # reader threads
        hub = self.hub
        if hub is None:
            return
        sid = self._exp_streams.get(label)
        if sid is None:
            sid = self._exp_streams[label] = hub.add_stream(label, pid).id
        hub.push_lines(sid, [line])

    def _experiment_event(self, ev) -> None:  # the runner's thread
        from xsched_tui.core import experiment as ex

        coll = self.collector
        if coll is not None and isinstance(ev, ex.RunStarted) and ev.pid:
            coll.track(ev.pid, origin="started", label=f"{ev.mode}:{ev.role}")
        self.post_message(ExperimentEventArrived(ev))

    @work(thread=True, group="experiment", exit_on_error=False, description="experiment")
    def _run_experiment(self, runner) -> None:
        from xsched_tui.core.threadname import name_native

        name_native("xs-experiment")
        try:
            outcome = runner.run()
            coll = self.collector
            if coll is not None:
                from xsched_tui.core.runner import ExitStatus

                for r in outcome.runs:
                    if r.pid:
                        code = r.exit_code
                        if r.exit_signal:
                            import signal as _signal

                            code = -int(getattr(_signal, r.exit_signal, 0) or 0) or code
                        coll.record_exit(r.pid, ExitStatus(code, r.timed_out))
        except Exception as exc:  # the runner writes what it has; say why it stopped
            self.call_from_thread(self.notify, f"experiment stopped: {exc}", severity="error",
                                  timeout=10)
        finally:
            self.experiment = None

    @on(ExperimentEventArrived)
    def _on_experiment_event(self, msg: ExperimentEventArrived) -> None:
        from xsched_tui.core.experiment import ExperimentFinished, ExperimentStarted

        ev = msg.event
        runner = self.experiment
        kind = runner.spec.kind if runner is not None else self._exp_kind
        if runner is not None:
            self._exp_kind = kind
        if kind == "priority":
            self._q(PriorityPane).on_experiment_event(ev)
            self._dirty.add("prio")
            if isinstance(ev, ExperimentStarted | ExperimentFinished):
                self._redraw_visible()
            self._schedule_redraw()
        else:
            self._q(OverheadPane).on_experiment_event(ev)

    @on(ExperimentCancelRequested)
    def _on_experiment_cancel(self, _msg: ExperimentCancelRequested) -> None:
        if self.experiment is not None:
            self.experiment.cancel()
            self.notify("cancelling: the current run is stopped, finished runs are kept")

    @on(ShowLogsRequested)
    def _on_show_logs(self, msg: ShowLogsRequested) -> None:
        logs = self._q(LogsPane)
        if logs.show_pid(msg.pid):
            self._q(TabbedContent).active = "tab-logs"
            self.call_after_refresh(lambda: logs.log_view.focus())
        else:
            self.notify(f"no log source is tied to process {msg.pid}: start it from xsched-tui, "
                        "or follow its log file (app --file, or --pid when its stderr is a file)",
                        severity="warning", timeout=8)

    async def action_quit(self) -> None:
        self._begin_shutdown(0, "quit")

    # -- shutdown: quit, Ctrl+C, SIGTERM, SIGHUP ---------------------------------------------
    def _install_signal_handlers(self) -> None:
        """Through the event loop, so the handler runs as an ordinary callback on this thread
        (a plain signal handler could interrupt Textual half-way through a screen update)."""
        import asyncio
        import signal as _signal

        loop = asyncio.get_running_loop()
        for s in (_signal.SIGTERM, _signal.SIGHUP, _signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(s, self._on_os_signal, int(s))

    def _on_os_signal(self, signum: int) -> None:
        from xsched_tui.core.lifecycle import exit_code_for, signal_name

        self._begin_shutdown(exit_code_for(signum), signal_name(signum))

    def _begin_shutdown(self, code: int, what: str) -> None:
        """Cancel the experiment (its runner stops its run and writes result.json as
        "cancelled" with the finished runs), stop every child group, exit. The process waits
        for the experiment's thread before it ends (cli.cmd_app); the watchdog bounds all of it,
        and a second quit or signal forces it at once."""
        from xsched_tui.core import runner

        if self.watchdog is not None and not self.watchdog.arm(code, what):
            return  # forced: the process is gone
        if self._shutting_down:
            return
        self._shutting_down = True
        self._stop_polls.set()
        if self.experiment is not None:
            self.experiment.cancel()
            self.notify("stopping the experiment: finished runs are kept", timeout=5)
        # kill_all waits up to its grace for the children: not on the UI thread
        threading.Thread(target=runner.kill_all, kwargs={"grace": 1.0}, daemon=True,
                          name="xs-kill-children").start()
        self.exit(return_code=code)

    def on_unmount(self) -> None:
        self._stop_polls.set()
        if self.player is not None:
            self.player.close(timeout=2.0)
        if self.hub is not None:
            self.hub.stop(timeout=2.0)

    def _update_subtitle(self) -> None:
        plat = self.ctx.fact("install", "platform") or (
            self.config.platform if self.config.platform != "auto" else "platform ?")
        cfg = self.config.file or "defaults"
        replay = f" · REPLAY {os.path.basename(str(self.replay_path).rstrip('/'))}" \
            if self.replay_path else ""
        self.sub_title = f"{self.hostname} · {plat} · config: {cfg}{replay}"

    def _show_self_cost(self, text: str) -> None:
        self._q("#self-cost", Static).update(text, layout=False)

    def action_interval(self, step: int) -> None:
        from xsched_tui.core.selfcost import next_interval

        self.interval = next_interval(self.interval, step)
        self.notify(f"refresh every {self.interval:g} s", timeout=2)

    def _status(self, text: str) -> None:
        self._q("#status-line", Static).update(text)

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
        self._q(ChecksPane).mark_pending(msg.ids)
        self._status("running checks…")

    @on(CheckStarted)
    def _on_check_started(self, msg: CheckStarted) -> None:
        self._q(ChecksPane).mark_running(msg.check_id)

    @on(CheckFinished)
    def _on_check_finished(self, msg: CheckFinished) -> None:
        self.results[msg.result.id] = msg.result
        self._q(ChecksPane).set_result(msg.result)
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
        from xsched_tui.tui.screens.help import HelpScreen  # Markdown: not needed for first paint

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
