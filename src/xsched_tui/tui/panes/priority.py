"""The Priority pane: a dual-model (or tenants) experiment watched live on one screen.

A banner says whether XSched is in play for the processes running now (their FACTS §8 diagnosis,
XQueues from xserver or their logs, loader errors), so "nothing is scheduled" is visible while it
happens, not only in the report. Below: the foreground's latency (sparkline, p99 so far per
configuration), the background's throughput, and every run of the experiment. The App runs the
experiment and feeds ``core.livexp.LiveExperiment``; this pane only draws it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from xsched_tui.core.livexp import LiveExperiment
from xsched_tui.tui.messages import ExperimentCancelRequested, PriorityRequested
from xsched_tui.tui.panes.overhead import refuse_new_experiment
from xsched_tui.tui.panes.procs import set_static
from xsched_tui.tui.widgets.livetable import LiveTable

BANNER = {"ok": ("XSched is in play", "bold green"),
          "problem": ("XSched is NOT in play", "bold white on red"),
          "waiting": ("XSched: not proven yet", "bold yellow"),
          "native": ("native configuration", "bold cyan"),
          "idle": ("no experiment process running", "dim")}
VERDICT_STYLE = {"XSCHED HELPS": "bold green", "SLOS MET": "bold green", "SPLIT REACHED": "bold green",
                 "NO EFFECT": "bold yellow", "INCONCLUSIVE": "bold yellow"}
COLUMNS = (("index", "#", 4), ("trial", "Trial", 5), ("mode", "Configuration", 18),
           ("role", "Role", 8), ("pid", "PID", 8), ("state", "State", 8), ("xq", "XQueues", 12),
           ("value", "Value", 10), ("why", "Why invalid", 60))
FORM = (("fg", "foreground role (key=value,...; rate=HZ fixes the rate)"),
        ("bg", "background role"),
        ("tenants", "OR tenants (Test 4), roles separated by ; each with priority= and an SLO "
         "(p99_ms=, min_throughput_frac=, deadline_ms=): replace fg/bg and the rate fields"),
        ("partition", "OR bandwidth partition A/B, e.g. 75/25 (policy PUP; both flat out)"),
        ("rate", "foreground rate: HZ or auto (fraction of its measured peak)"),
        ("requests", "foreground requests per run"),
        ("fraction", "fraction of the peak for rate auto (the paper: 0.2)"),
        ("seconds", "how long a flat-out role measures alone or in a partition"),
        ("configs", "configurations"),
        ("scheduler", "XSched scheduler: global (xserver started for you) or local"),
        ("policy", "policy (empty: HPF, PUP for a partition)"),
        ("port", "xserver port (empty: the configured one)"),
        ("repeats", "trials per configuration"),
        ("device", "device (empty: auto)"))


class PriorityPane(Vertical):
    BINDINGS = [Binding("n", "new", "New priority run"), Binding("x", "cancel", "Cancel")]

    def __init__(self, readonly: bool = False, **kw) -> None:
        super().__init__(**kw)
        self.readonly = readonly
        self.live = LiveExperiment()
        self.running = False
        self.banners: list[str] = []  # every banner state shown (tests, and the log of a run)
        self.events_seen: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static(id="pr-status")
        yield Static(id="pr-banner")
        yield Static(id="pr-events")
        yield Static(id="pr-fg")
        yield Sparkline([], id="pr-fg-spark")
        yield Static(id="pr-bg")
        yield Sparkline([], id="pr-bg-spark")
        yield LiveTable(id="pr-runs", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        t = self.query_one("#pr-runs", LiveTable)
        for key, label, width in COLUMNS:
            t.add_column(label, key=key, width=width)
        self.refresh_view({}, {})

    # -- data in -----------------------------------------------------------------------------
    def started(self, spec) -> None:
        self.live.start(spec)
        self.running = True
        self.query_one("#pr-runs", LiveTable).clear()

    def on_experiment_event(self, ev: Any) -> None:
        self.live.on_event(ev)
        from xsched_tui.core.experiment import ExperimentFinished

        if isinstance(ev, ExperimentFinished):
            self.running = False

    def refresh_view(self, diagnoses: Mapping[int, Any], logs: Mapping[int, Any]) -> None:
        """Redraw from the live model (the App calls this at most once a second)."""
        lv = self.live
        st = Text()
        if lv.status == "idle":
            st.append("No priority experiment yet: n starts one (standalone / native / XSched "
                      "co-located; a foreground at 20% of its peak rate against a flat-out "
                      "background).", "dim")
        else:
            done = sum(1 for r in lv.runs.values() if r.state != "running")
            st.append(f"{lv.name}: {lv.status}, {done}/{lv.total} runs", "bold")
            if lv.current_mode:
                st.append(f" · now: {lv.current_mode}")
            if lv.folder:
                st.append(f" · {lv.folder}", "dim")
            if lv.verdict:
                st.append("\n")
                st.append(lv.verdict, VERDICT_STYLE.get(lv.verdict, "bold red"))
                st.append(f": {lv.verdict_reason}")
        set_static(self.query_one("#pr-status", Static), st)

        state, lines = lv.in_play(diagnoses, logs)
        self.banners.append(state) if not self.banners or self.banners[-1] != state else None
        title, style = BANNER[state]
        b = Text(f" {title} ", style)
        for line in lines[:4]:
            b.append("\n  " + line, "red" if state == "problem" else "")
        set_static(self.query_one("#pr-banner", Static), b)

        ev = self._events(logs)
        if ev.plain not in self.events_seen[-1:]:
            self.events_seen.append(ev.plain)
        set_static(self.query_one("#pr-events", Static), ev)
        # one line per latency role (the foreground first; tenants apart), p99 so far per
        # configuration with its n; the sparkline follows the first of them
        fg = Text()
        lat_roles = lv.latency_roles()
        for i, role in enumerate(lat_roles or [lv.foreground or ""]):
            parts = []
            for mode in lv.modes_of(role):
                p99, n = lv.p99(mode, role)
                parts.append(f"{mode} p99 {p99:.3g} ms (n={n})" if p99 is not None else mode)
            label = "foreground" if role == lv.foreground or not role else role
            fg.append(("\n" if i else "") + f"{label} latency: ", "bold")
            fg.append(" · ".join(parts) or "no requests yet")
        set_static(self.query_one("#pr-fg", Static), fg)
        first = lat_roles[0] if lat_roles else None
        self.query_one("#pr-fg-spark", Sparkline).data = list(lv.recent.get(first or "", ())) \
            or [0.0]
        bg = Text("background throughput: " if lv.foreground else "throughput: ", "bold")
        bg.append(" · ".join(f"{role} last {ring[-1]:.4g}" for role, ring in lv.throughput.items()
                             if ring) or "no samples yet")
        set_static(self.query_one("#pr-bg", Static), bg)
        ring = next(iter(lv.throughput.values()), None)
        self.query_one("#pr-bg-spark", Sparkline).data = list(ring or ()) or [0.0]

        t = self.query_one("#pr-runs", LiveTable)
        present = {str(k.value) for k in t.rows}
        for r in lv.runs.values():
            q = lv.xqueues.get(r.pid) if r.pid else None
            lf = logs.get(r.pid) if r.pid else None
            # from xserver: "XQueues (ready, suspended) now"; else what its own log created
            xq = (f"{q[0]} ({q[1]}r {q[2]}s)" if q else
                  (str(lf.xqueues_created) if lf is not None else "—"))
            cells = [str(r.index), str(r.trial or ""), r.mode, r.role, str(r.pid or "—"),
                     r.state, xq if r.xsched else "—",
                     f"{r.value:.4g}" if r.value is not None else
                     (f"{r.last:.4g}" if r.last is not None else ""),
                     (r.reason or "")[:200]]
            key = str(r.index)
            if key not in present:
                t.add_row(*cells, key=key)
            else:
                for (col, _, _), val in zip(COLUMNS, cells, strict=True):
                    if t.get_cell(key, col) != val:
                        t.set_cell(key, col, val)

    def _events(self, logs: Mapping[int, Any]) -> Text:
        """What each running process's XSched log said so far (the log parser's facts)."""
        out = Text("XSched events: ", "bold")
        rows = []
        for r in self.live.running():
            lf = logs.get(r.pid) if r.pid else None
            if lf is None:
                continue
            bits = [", ".join(f"{s} {p}" if p else s for s, p in lf.scheduler_lines) or
                    "no scheduler line", f"{lf.xqueues_created} XQueues created"]
            if lf.priorities:
                bits.append("priority " + "/".join(str(p) for p in sorted(set(lf.priorities.values()))))
            if lf.problems:
                bits.append(lf.problems[-1][:120])
            rows.append(f"{r.mode}/{r.role} (pid {r.pid}): " + "; ".join(bits))
        out.append(" | ".join(rows) if rows else "none from the running processes yet", "")
        return out

    def experiment_pids(self) -> list[int]:
        return [r.pid for r in self.live.runs.values() if r.pid]

    # -- actions -------------------------------------------------------------------------------
    def action_new(self) -> None:
        from xsched_tui.core.xserver import ActionRejected
        from xsched_tui.tui.screens.confirm import FormScreen, rejects

        if refuse_new_experiment(self):
            return

        def parse(vals: dict[str, str]) -> dict[str, str]:
            from xsched_tui.cli_priority import form_namespace

            try:
                form_namespace(vals)  # the same checks the app applies when it starts it
            except ValueError as exc:
                raise ActionRejected(str(exc)) from None
            return vals

        def got(vals: dict[str, str] | None) -> None:
            if vals is not None:
                self.post_message(PriorityRequested(parse(vals)))

        from xsched_tui.cli_priority import FORM_DEFAULTS

        self.app.push_screen(FormScreen(
            "New priority experiment (foreground vs background, tenants, or a partition)",
            [(key, label, FORM_DEFAULTS[key]) for key, label in FORM],
            rejects(parse), "Same as `xsched-tui priority`; every run is a fresh process and "
            "everything is kept in the results folder."), got)

    def action_cancel(self) -> None:
        if not self.running:
            self.notify("no experiment is running", severity="warning")
            return
        self.post_message(ExperimentCancelRequested())
