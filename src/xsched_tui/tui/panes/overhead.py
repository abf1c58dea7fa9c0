"""The Overhead pane: native vs XSched, run in pairs, with the overhead's CI against a threshold.

The App runs the experiment (core.experiment.ExperimentRunner in a worker) and forwards its
events here; the pane draws them: live progress, a gauge of the overhead % with its bootstrap CI
against the threshold (and the paper's Level-1 bound), per-pair overheads as a sparkline, and
every run with whether it counts and why not. Starting and cancelling post messages to the App.
"""

from __future__ import annotations

import math

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from xsched_tui.core.expspec import OVERHEAD_WORKLOADS as WORKLOADS
from xsched_tui.tui.messages import ExperimentCancelRequested, ExperimentRequested
from xsched_tui.tui.panes.procs import set_static
from xsched_tui.tui.widgets.livetable import LiveTable

VERDICT_STYLE = {"PASS": "bold green", "FAIL": "bold red", "INCONCLUSIVE": "bold yellow",
                 "INVALID": "bold red"}
GAUGE_WIDTH = 60


def gauge(median: float, lo: float, hi: float, threshold: float, paper: float | None = None,
          width: int = GAUGE_WIDTH) -> Text:
    """A one-line scale: 0, the paper's bound (¦), the threshold (|), the CI as ═ and the median ●."""
    left = min(-threshold / 2, lo, 0.0)
    right = max(threshold * 1.5, hi, 1.0)
    span = right - left or 1.0

    def col(v: float) -> int:
        return max(0, min(width - 1, round((v - left) / span * (width - 1))))

    cells = [("─", "dim")] * width
    for i in range(col(lo), col(hi) + 1):
        cells[i] = ("═", "cyan")
    cells[col(0.0)] = ("┼", "white")
    if paper is not None:
        cells[col(paper)] = ("¦", "magenta")
    cells[col(threshold)] = ("│", "bold red")
    cells[col(median)] = ("●", "bold cyan")
    out = Text(f"{left:+.0f}% ", "dim")
    for ch, st in cells:
        out.append(ch, st)
    out.append(f" {right:+.0f}%", "dim")
    return out


def refuse_new_experiment(pane) -> bool:
    """True (and the user told why) when a pane must not start an experiment now."""
    if pane.readonly:
        pane.notify("read-only: experiments are disabled (--readonly)", severity="warning")
        return True
    if pane.running:
        pane.notify("an experiment is running (x cancels it)", severity="warning")
        return True
    return False


class OverheadPane(Vertical):
    BINDINGS = [
        Binding("n", "new", "New experiment"),
        Binding("x", "cancel", "Cancel"),
    ]

    def __init__(self, readonly: bool = False, **kw) -> None:
        super().__init__(**kw)
        self.readonly = readonly
        self.running = False
        self.folder: str | None = None
        self.total = 0
        self.finished: dict[int, object] = {}  # run index -> RunFinished
        self.metric: str | None = None
        self.analysis: dict | None = None
        self.threshold = 10.0
        self.aa = False
        self.last_progress: str = ""
        self.result = None  # the live OverheadResult

    def compose(self) -> ComposeResult:
        yield Static(id="ov-status")
        yield Static(id="ov-gauge")
        yield Sparkline([], id="ov-spark")
        yield LiveTable(id="ov-runs", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        t = self.query_one("#ov-runs", LiveTable)
        for key, label, width in (("idx", "#", 4), ("rep", "Pair", 4), ("mode", "Mode", 8),
                                  ("role", "Role", 6), ("pid", "PID", 8), ("value", "Value", 16),
                                  ("valid", "Counts", 7), ("why", "Exit / why not", 60)):
            t.add_column(label, key=key, width=width)
        self.query_one("#ov-spark", Sparkline).display = False
        self._render_status()
        set_static(self.query_one("#ov-gauge", Static), Text(
            "n: start an overhead experiment (native vs XSched, interleaved pairs, each run a fresh "
            "process).\nThe verdict needs the CI of the median overhead below the threshold; an A/A "
            "run (native vs native) shows the noise floor.", "dim"))

    # -- events from the App -----------------------------------------------------------------
    def on_experiment_event(self, ev) -> None:
        from xsched_tui.core import experiment as ex

        if isinstance(ev, ex.ExperimentStarted):
            self.running, self.folder, self.total = True, ev.folder, ev.total_runs
            self.finished.clear()
            self.result = self.analysis = None
            self.query_one("#ov-runs", LiveTable).clear()
            self.last_progress = ""
        elif isinstance(ev, ex.RunStarted):
            t = self.query_one("#ov-runs", LiveTable)
            key = str(ev.index)
            if key not in {str(k.value) for k in t.rows}:
                t.add_row(str(ev.index), str(ev.repeat + 1), ev.mode, ev.role,
                          "" if ev.pid is None else str(ev.pid), Text("running…", "cyan"), "", "",
                          key=key)
                t.move_cursor(row=t.row_count - 1)
            self.last_progress = f"run {ev.index}/{ev.total}: {ev.mode} {ev.role}"
        elif isinstance(ev, ex.RunProgress):
            last = "" if ev.last is None else f", last {ev.last:.4g}"
            total = f"/{ev.total}" if ev.total else ""
            self.last_progress = (f"run {ev.index}/{self.total}: {ev.mode} {ev.role} "
                                  f"{ev.done}{total}{last}")
        elif isinstance(ev, ex.RunFinished):
            self.finished[ev.index] = ev
            if ev.metric:
                self.metric = ev.metric
            t = self.query_one("#ov-runs", LiveTable)
            key = str(ev.index)
            if key in {str(k.value) for k in t.rows}:
                val = "" if ev.value is None else f"{ev.value:.4g} {ev.metric or ''}"
                t.set_cell(key, "value", val)
                t.set_cell(key, "valid", Text("yes", "green") if ev.valid else Text("NO", "bold red"))
                t.set_cell(key, "why", Text(ev.invalid_reason or ev.exit_text,
                                            "red" if not ev.valid else "dim"))
            self._recompute()
        elif isinstance(ev, ex.ExperimentFinished):
            self.running = False
            self.analysis = dict(ev.analysis) if ev.analysis else None
            self.last_progress = (f"{ev.status}: {ev.runs} runs, {ev.valid} valid, {ev.invalid} "
                                  f"invalid · {ev.folder}" + (f" · {ev.message}" if ev.message else ""))
            self._recompute()
        self._render_status()

    def set_config(self, threshold: float, aa: bool) -> None:
        self.threshold, self.aa = threshold, aa

    # -- statistics so far ---------------------------------------------------------------------
    def _pairs(self):
        from xsched_tui.core.overhead import PairSample

        by: dict[int, dict[str, object]] = {}
        modes: list[str] = []
        for ev in self.finished.values():
            if ev.mode not in modes:
                modes.append(ev.mode)
            by.setdefault(ev.repeat, {})[ev.mode] = ev
        if len(modes) < 2:
            return [], modes
        a, b = modes[0], modes[1]
        pairs = []
        for rep in sorted(by):
            x, y = by[rep].get(a), by[rep].get(b)
            if (x is not None and y is not None and x.valid and y.valid
                    and x.value is not None and y.value is not None):
                pairs.append(PairSample(rep, float(x.value), float(y.value)))
        return pairs, modes

    def _recompute(self) -> None:
        from xsched_tui.core.overhead import HIGHER_IS_BETTER, compute_overhead

        pairs, modes = self._pairs()
        spark = self.query_one("#ov-spark", Sparkline)
        if not pairs or self.metric not in HIGHER_IS_BETTER:
            self.result = None
            spark.display = False
            self._render_gauge()
            return
        self.result = compute_overhead(pairs, self.metric, threshold_pct=self.threshold, aa=self.aa,
                                       labels=(modes[0], modes[1]))
        spark.data = list(self.result.overheads_pct)
        spark.display = len(pairs) >= 2
        self._render_gauge()

    # -- drawing -------------------------------------------------------------------------------
    def _render_status(self) -> None:
        out = Text()
        if self.running:
            out.append("RUNNING ", "bold cyan")
        elif self.folder:
            out.append("DONE ", "bold")
        else:
            out.append("no experiment yet · n: new · x: cancel a running one", "dim")
        out.append(self.last_progress)
        if self.readonly:
            out.append(" · read-only: experiments are off", "yellow")
        set_static(self.query_one("#ov-status", Static), out)

    def _render_gauge(self) -> None:
        r = self.result
        w = self.query_one("#ov-gauge", Static)
        if r is None:
            if self.finished:
                set_static(w, Text("waiting for a complete valid pair (both modes of one repeat)…",
                                   "dim"))
            return
        head = Text()
        what = "A/A noise floor" if r.aa else "overhead (XSched vs native)"
        head.append(f"{what}: ", "bold")
        if math.isfinite(r.median_pct):
            head.append(f"{r.median_pct:+.2f}% ", "bold cyan")
            head.append(f"(95% CI {r.ci_lo_pct:+.2f} … {r.ci_hi_pct:+.2f}), {r.pairs_valid} valid "
                        f"pair{'s' if r.pairs_valid != 1 else ''}", "")
        head.append("   ")
        head.append(f" {r.verdict} ", f"reverse {VERDICT_STYLE.get(r.verdict, '')}")
        head.append(f" {r.verdict_reason}", "dim")
        lines = [head]
        if math.isfinite(r.median_pct) and math.isfinite(r.ci_lo_pct) and math.isfinite(r.ci_hi_pct):
            lines.append(gauge(r.median_pct, r.ci_lo_pct, r.ci_hi_pct, r.threshold_pct,
                               None if r.aa else r.paper_pct))
            lines.append(Text(f"● median  ═ 95% CI  │ threshold {r.threshold_pct:g}%"
                              + ("" if r.aa else f"  ¦ paper Lv1 < {r.paper_pct:g}%")
                              + f"  · metric {r.metric} ({'higher' if r.higher_is_better else 'lower'}"
                              " is better)", "dim"))
        if r.cpu_overhead_pct is not None:
            lines.append(Text(f"CPU time per unit of work: {r.cpu_overhead_pct:+.1f}% "
                              f"(95% CI {r.cpu_ci_lo_pct:+.1f} … {r.cpu_ci_hi_pct:+.1f})", ""))
        if r.dropped:
            lines.append(Text(f"{len(r.dropped)} pair(s) dropped: " + "; ".join(r.dropped[:2]),
                              "yellow"))
        set_static(w, Text("\n").join(lines))

    # -- actions -------------------------------------------------------------------------------
    def action_new(self) -> None:
        from xsched_tui.core.xserver import ActionRejected
        from xsched_tui.tui.screens.confirm import FormScreen, rejects

        if refuse_new_experiment(self):
            return

        def parse(vals: dict[str, str]) -> dict:
            wl = vals["workload"].strip().lower()
            if wl not in WORKLOADS:
                raise ActionRejected(f"workload: one of {', '.join(WORKLOADS)}")
            try:
                pairs = int(vals["pairs"])
                thr = float(vals["threshold"])
            except ValueError:
                raise ActionRejected("pairs must be a whole number and threshold a number") from None
            if not 1 <= pairs <= 1000:
                raise ActionRejected("pairs: 1 to 1000")
            if not 0 < thr < 1000:
                raise ActionRejected("threshold: a percentage above 0")
            opts: dict[str, str] = {}
            for item in vals["options"].split():
                k, sep, v = item.partition("=")
                if not sep or not k:
                    raise ActionRejected(f"options are NAME=VALUE words, not {item!r}")
                opts[k.lstrip("-").replace("-", "_")] = v
            aa = vals["aa"].strip().lower() in ("y", "yes", "1", "true", "on")
            return {"workload": wl, "pairs": pairs, "threshold": thr, "options": opts, "aa": aa}

        def got(vals: dict[str, str] | None) -> None:
            if vals is None:
                return
            req = parse(vals)
            self.set_config(req["threshold"], req["aa"])
            self.post_message(ExperimentRequested(req["workload"], req["options"], req["pairs"],
                                                  req["threshold"], req["aa"]))

        self.app.push_screen(FormScreen(
            "New overhead experiment (native vs XSched)",
            [("workload", "workload: matmul, launch or infer", "matmul"),
             ("options", "workload options (NAME=VALUE ...), e.g. size=4096 dtype=bf16 iters=50", ""),
             ("pairs", "pairs (each pair: one native and one XSched run, interleaved)", "10"),
             ("threshold", "threshold, % (the paper claims < 3.4% at Level 1)", "10"),
             ("aa", "A/A noise floor instead (native vs native)? y/n", "n")],
            rejects(parse), "Each run is a fresh process of the configured interpreter; results and "
            "every run's output go to the results folder."), got)

    def action_cancel(self) -> None:
        if not self.running:
            self.notify("no experiment is running", severity="warning")
            return
        self.post_message(ExperimentCancelRequested())
