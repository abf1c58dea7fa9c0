"""The Processes pane: the tree of processes under test, what XSched is doing in each, and the
FACTS §8 diagnosis card of the highlighted one.

It draws records (``ProcSnapshot`` from the process collector, ``ProcLogFacts`` folded from the
logs, ``XQView`` from the xserver poller) and posts messages; the App owns the collectors, sends
signals and switches tabs. Rows are updated in the cells that changed only.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Mapping
from dataclasses import replace

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Static

from xsched_tui.core.checks.base import Status
from xsched_tui.core.diagnose import Diagnosis, diagnose
from xsched_tui.core.procrecords import LOG_ONLY, log_only_record
from xsched_tui.tui.messages import ShowLogsRequested, SignalRequested
from xsched_tui.tui.widgets.livetable import LiveTable

STATUS_STYLE = {Status.PASS: "bold green", Status.WARN: "bold yellow", Status.FAIL: "bold red",
                Status.SKIP: "dim"}
COLUMNS = ("pid", "proc", "origin", "state", "cpu", "rss", "thr", "age", "xsched", "sched", "prio",
           "xq", "gpu", "verdict")
COLUMN_SPECS = (("pid", "PID", 9), ("proc", "Process", 18), ("origin", "Origin", 7),
                ("state", "State", 9), ("cpu", "CPU%", 4), ("rss", "RSS", 5), ("thr", "Thr", 3),
                ("age", "Age", 5), ("xsched", "XSched", 13), ("sched", "Sched", 8),
                ("prio", "Prio", 4), ("xq", "XQ", 10), ("gpu", "GPU", 10), ("verdict", "Verdict", 11))
ORIGIN_SHOWN = {"discovered": "found"}  # the column is narrow; the card says it in full
_SIGNALS = {"int": signal.SIGINT, "term": signal.SIGTERM, "kill": signal.SIGKILL}


def set_static(w: Static, content: Text) -> None:
    """Update only when the text changed; skip the screen relayout when the height is the same
    (a relayout of the whole screen each second was most of the UI's cost at 1 Hz)."""
    old = getattr(w, "_xs_last", None)
    if old is not None and old == content:
        return
    same_height = old is not None and old.plain.count("\n") == content.plain.count("\n")
    w._xs_last = content  # type: ignore[attr-defined]
    w.update(content, layout=not same_height)


def human_bytes(n: int | None) -> str:
    if n is None:
        return ""
    for unit in ("B", "K", "M", "G"):
        if n < 1024:
            return f"{n:.0f}{unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n:.1f}T"


def human_age(s: float | None) -> str:
    if s is None:
        return ""
    s = int(s)
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    return f"{s // 3600}h{(s % 3600) // 60:02d}"


def _sched_cell(p, logs) -> Text:
    env = p.xsched.scheduler if p.xsched else None
    pol = p.xsched.policy if p.xsched else None
    log = logs.scheduler if logs is not None else None
    names = {"app": "APP", "local": "LCL", "global": "GLB"}
    logname = names.get(log[0], log[0]) if log else None
    shown = env or logname or ""
    if pol and shown == "LCL":
        shown += f" {pol}"
    if env and logname and env != logname:
        return Text(f"{env}≠{logname}", "bold yellow")  # env says one thing, its log another
    return Text(shown, "bold red" if shown == "APP" else "")


def _prio_cell(p, logs) -> str:
    if p.xsched and p.xsched.priority is not None:
        return str(p.xsched.priority)
    if logs is not None and logs.priorities:
        vals = sorted(set(logs.priorities.values()))
        return ",".join(map(str, vals[:3])) + ("…" if len(vals) > 3 else "")
    return ""


def _xq_cell(pid: int, logs, xq) -> Text:
    if xq is not None and (xq.reachable or xq.stale):
        pq = next((q for q in xq.processes if q.pid == pid), None)
        if pq is not None:
            if pq.queues == 0:
                return Text("0", "bold red")
            return Text(f"{pq.queues} ({pq.ever_ready} rdy)")
    if logs is not None and logs.xqueues_created:
        live = logs.xqueues_created - logs.xqueues_destroyed
        return Text(f"{max(live, 0)}/{logs.xqueues_created}")
    return Text("")


def _verdict_cell(p, d: Diagnosis | None) -> Text:
    if d is None:
        return Text("native", "dim") if p.origin != LOG_ONLY else Text("?", "dim")
    if d.scheduling:
        return Text("SCHEDULED", "bold green")
    if d.scheduling is False:
        word = "NOT LOADED" if d.items and d.items[0].status is Status.FAIL else (
            "APP SCHED" if "app-managed" in d.verdict else "0 XQUEUES")
        return Text(word, "bold red")
    return Text("UNKNOWN", "yellow")


def _xsched_cell(p) -> Text:
    x = p.xsched
    if x is None:
        return Text("")
    if x.shim is None:
        return Text(f"{x.platform or '?'} no shim", "bold red")
    how = {"LD_PRELOAD": "preload", "LD_LIBRARY_PATH": "libpath"}.get(x.enable or "", "?")
    style = "yellow" if x.two_runtimes or x.notes else ""
    return Text(f"{x.platform or '?'}·{how}", style)


def render_card(p, d: Diagnosis | None, logs, xq) -> Group:
    """Everything known about one process: diagnosis first, then facts."""
    what = " ".join(p.cmdline)[:300] or getattr(p, "label", None) or p.name
    head = Text.assemble((f"{p.pid}", "bold"), "  ", (what, ""))
    parts: list = [head]
    if d is not None:
        st = Status.FAIL if d.scheduling is False else d.status
        parts.append(Text.assemble((f" {st.value} ", f"reverse {STATUS_STYLE[st]}"), "  ",
                                   (d.verdict, "bold")))
        t = Table(box=None, show_header=False, pad_edge=False, expand=True)
        t.add_column("st", width=4, no_wrap=True)
        t.add_column("item", style="bold", ratio=1, overflow="fold")
        t.add_column("finding", ratio=3, overflow="fold")
        for it in d.items:
            body = Text(it.finding)
            for e in it.evidence:
                body.append("\n  " + e, "dim")
            if it.fix and it.status in (Status.FAIL, Status.WARN):
                body.append("\n  fix: " + it.fix, "cyan")
            t.add_row(Text(it.status.value, STATUS_STYLE[it.status]), it.title, body)
        parts.append(t)
    elif p.origin != LOG_ONLY:
        parts.append(Text("no XSched library mapped and no XSched variable: a native process", "dim"))
    facts = Table(box=None, show_header=False, pad_edge=False, expand=True)
    facts.add_column("k", style="bold", width=14)
    facts.add_column("v", ratio=1, overflow="fold")
    facts.add_row("origin", p.origin + (f" ({p.label})" if getattr(p, "label", None) else ""))
    facts.add_row("state", p.state + (f" — {p.exit_text}" if getattr(p, "exit_text", None) else ""))
    if p.error:
        facts.add_row("error", Text(p.error, "yellow"))
    x = p.xsched
    if x is not None:
        for role, lib in (("shim", x.shim), ("hal", x.hal), ("preempt", x.preempt)):
            if lib is not None:
                when = time.strftime("%Y-%m-%d %H:%M", time.localtime(lib.mtime)) if lib.mtime else ""
                facts.add_row(role, f"{lib.path}  {human_bytes(lib.size)}  {when}"
                              f"  sha256:{lib.sha or '?'}" + ("  (deleted on disk)" if lib.deleted else ""))
        for r in x.runtimes:
            facts.add_row("runtime", r)
        for n in x.notes:
            facts.add_row("note", Text(n, "yellow"))
    for n in getattr(p, "notes", ()):
        facts.add_row("note", Text(n, "yellow"))
    if p.gpu:
        for g in p.gpu:
            facts.add_row("gpu", f"device {g.device}: {human_bytes(g.memory_bytes)}"
                          + (f", {g.util_percent:.0f}% util" if g.util_percent is not None else ""))
    if logs is not None and logs.problems:
        for pr in logs.problems:
            facts.add_row("log", Text(pr, "yellow"))
    parts += [Text(""), facts,
              Text("l: its logs   I/T/K: SIGINT/SIGTERM/SIGKILL (asks first)", "dim")]
    return Group(*parts)


class ProcessesPane(Vertical):
    BINDINGS = [
        Binding("l", "logs", "Its logs"),
        Binding("I", "signal('int')", "SIGINT"),
        Binding("T", "signal('term')", "SIGTERM"),
        Binding("K", "signal('kill')", "SIGKILL"),
        Binding("enter", "toggle_card", "Card", show=False),
    ]

    def __init__(self, readonly: bool = False, **kw) -> None:
        super().__init__(**kw)
        self.readonly = readonly
        self.snapshot = None
        self.logs: Mapping[int, object] = {}
        self.xq = None
        self.diagnoses: dict[int, Diagnosis | None] = {}
        self.records: dict[int, object] = {}
        self.labels: Mapping[int, str] = {}  # pid -> log source label (names log-only rows)
        self._cells: dict[int, list[object]] = {}
        self._card_key: object = None
        self._gpu_shown = False

    def compose(self) -> ComposeResult:
        yield Static(id="procs-status")
        yield LiveTable(id="procs-table", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="proc-card-scroll"):
            yield Static(id="proc-card")

    def on_mount(self) -> None:
        self._setup_columns(False)
        self._render_status()
        self.query_one("#proc-card", Static).update(Text(
            "no process under test yet: start one from xsched-tui, give --pid, or run an XSched "
            "process on this host (discovered every few seconds)", "dim"))

    def _setup_columns(self, gpu: bool) -> None:
        """The GPU column exists only with a GPU sampler: never a faked or empty column."""
        t = self.query_one("#procs-table", DataTable)
        t.clear(columns=True)
        self._cells.clear()
        self._gpu_shown = gpu
        for key, label, width in COLUMN_SPECS:
            if key != "gpu" or gpu:
                t.add_column(label, key=key, width=width)

    # -- data in -------------------------------------------------------------------------------
    def update_data(self, snapshot=None, logs: Mapping[int, object] | None = None, xq=None,
                    labels: Mapping[int, str] | None = None) -> None:
        if labels is not None:
            self.labels = labels
        if snapshot is not None:
            self.snapshot = snapshot
        if logs is not None:
            self.logs = logs
        if xq is not None:
            self.xq = xq
        self._redraw()

    def _rows(self) -> list:
        recs = list(self.snapshot.procs) if self.snapshot is not None else []
        seen = {r.pid for r in recs}
        xq_cmd = {pq.pid: pq.cmdline for pq in self.xq.processes} if self.xq is not None else {}
        for pid, lf in sorted(self.logs.items()):
            if pid not in seen:  # known from its logs or xserver only
                cmdline = getattr(lf, "cmdline", None) or xq_cmd.get(pid) or ""
                recs.append(log_only_record(pid, cmdline.split(), label=self.labels.get(pid)))
                seen.add(pid)
        return recs

    def _redraw(self) -> None:
        t = self.query_one("#procs-table", LiveTable)
        recs = self._rows()
        gpu = self.snapshot is not None and self.snapshot.gpu_source is not None
        if gpu != self._gpu_shown:
            self._setup_columns(gpu)
        cols = [c for c in COLUMNS if c != "gpu" or gpu]
        self.records = {r.pid: r for r in recs}
        self.diagnoses = {}
        present = set(self._cells)
        order_changed = [r.pid for r in recs] != list(self._cells)
        cur = self.highlighted_pid
        if order_changed:  # a process came or went: rebuild in tree order, keep the cursor
            t.clear()
            self._cells.clear()
            present = set()
        updates: list[tuple[str, str, object]] = []
        for r in recs:
            lf = self.logs.get(r.pid)
            d = diagnose(r, lf, self.xq) if (r.xsched is not None or r.origin == LOG_ONLY) else None
            self.diagnoses[r.pid] = d
            cells = self._cells_for(r, lf, d, gpu)
            if r.pid not in present:
                t.add_row(*cells, key=str(r.pid))
            else:
                before = self._cells[r.pid]
                for i, (col, val) in enumerate(zip(cols, cells, strict=True)):
                    if before[i] != val:
                        updates.append((str(r.pid), col, val))
            self._cells[r.pid] = cells
        t.set_cells(updates)
        if order_changed and cur is not None and cur in self._cells:
            t.move_cursor(row=list(self._cells).index(cur))
        self._render_status()
        self._render_card()

    def _cells_for(self, r, lf, d, gpu: bool) -> list[object]:
        indent = "  " * min(r.depth, 6) + ("└ " if r.depth else "")
        cpu = "" if r.cpu_percent is None else f"{r.cpu_percent:.0f}"
        state = Text(r.state, "bold red" if r.exit_signal else ("dim" if r.exited else ""))
        if r.exit_signal:
            state = Text(r.exit_signal, "bold red")
        g = ""
        if gpu and r.gpu:
            mem = sum(u.memory_bytes or 0 for u in r.gpu)
            utils = [u.util_percent for u in r.gpu if u.util_percent is not None]
            g = human_bytes(mem) + (f" {max(utils):.0f}%" if utils else "")
        name = getattr(r, "label", None) or r.name
        if r.fork_gpu_child:
            name = "⚠ " + name
        cells: list[object] = [
            f"{indent}{r.pid}", name[:40], ORIGIN_SHOWN.get(r.origin, r.origin), state, cpu,
            human_bytes(r.rss),
            "" if r.threads is None else str(r.threads), human_age(r.age_s), _xsched_cell(r),
            _sched_cell(r, lf), _prio_cell(r, lf), _xq_cell(r.pid, lf, self.xq)]
        if gpu:
            cells.append(g)
        cells.append(_verdict_cell(r, d))
        return cells

    def _render_status(self) -> None:
        snap = self.snapshot
        n = len(self._cells)
        sched = sum(1 for d in self.diagnoses.values() if d is not None and d.scheduling)
        bad = sum(1 for d in self.diagnoses.values() if d is not None and d.scheduling is False)
        out = Text()
        out.append(f"{n} process{'es' if n != 1 else ''} under test", "bold")
        if sched:
            out.append(f" · {sched} scheduled by XSched", "green")
        if bad:
            out.append(f" · {bad} NOT scheduled", "bold red")
        if snap is not None:
            out.append(" · GPU: " + (snap.gpu_source or "no NVML/amdsmi (column hidden)"), "dim")
            for note in snap.notes[:2]:
                out.append("\n" + note, "yellow")
        if self.readonly:
            out.append(" · read-only", "yellow")
        set_static(self.query_one("#procs-status", Static), out)

    # -- selection -----------------------------------------------------------------------------
    @property
    def highlighted_pid(self) -> int | None:
        return self.query_one("#procs-table", LiveTable).cursor_key_int()

    @on(DataTable.RowHighlighted, "#procs-table")
    def _on_highlight(self, _e: DataTable.RowHighlighted) -> None:
        self._render_card()

    def _render_card(self) -> None:
        pid = self.highlighted_pid
        card = self.query_one("#proc-card", Static)
        if pid is None or pid not in self.records:
            return
        r, d, lf = self.records[pid], self.diagnoses.get(pid), self.logs.get(pid)
        # the card shows no CPU, age, RSS or thread count: those change every second
        key = (replace(r, cpu_percent=None, age_s=None, rss=None, threads=None), d, lf)
        if key == self._card_key:  # unchanged: don't re-render the card every second
            return
        self._card_key = key
        card.update(render_card(r, d, lf, self.xq))

    def action_toggle_card(self) -> None:
        sc = self.query_one("#proc-card-scroll")
        sc.display = not sc.display

    # -- actions -------------------------------------------------------------------------------
    def action_logs(self) -> None:
        pid = self.highlighted_pid
        if pid is not None:
            self.post_message(ShowLogsRequested(pid))

    def action_signal(self, which: str) -> None:
        from xsched_tui.tui.screens.confirm import ConfirmScreen

        pid = self.highlighted_pid
        if pid is None:
            return
        if self.readonly:
            self.notify("read-only: signals are disabled (--readonly)", severity="warning")
            return
        r = self.records.get(pid)
        if r is None or r.origin == LOG_ONLY or r.exited:
            self.notify(f"process {pid} is not running here", severity="warning")
            return
        sig = _SIGNALS[which]
        cmd = " ".join(r.cmdline)[:120] or r.name

        def done(yes: bool | None) -> None:
            if yes:
                self.post_message(SignalRequested(pid, int(sig), r.started))

        self.app.push_screen(ConfirmScreen(
            f"Send {sig.name} to process {pid}?", f"{cmd}\n(origin: {r.origin}, user: {r.user or '?'})"),
            done)
