"""The XQueues pane: what xserver's ``GET /xqueues`` says, like ``xcli top`` plus what it lacks.

Per process: XQueue count, ready / suspended now and ever, priorities learned from xserver's
``set priority`` log lines; processes with zero XQueues are red (nothing of theirs is scheduled).
Per queue: device, handle, RDY/BLK, SUS/RUN, level, threshold, batch size, priority and a
ready/suspended history of the last polls. Actions (priority, utilisation, policy, queue config)
ask for values, then for confirmation, then post a message; the App talks to xserver.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from xsched_tui.core.xserver import (
    POLICY_NAMES,
    ActionRejected,
    device_text,
    policy_number,
    validate_config,
    validate_priority,
    validate_utilization,
)
from xsched_tui.tui.messages import XServerActionRequested
from xsched_tui.tui.panes.procs import set_static
from xsched_tui.tui.widgets.livetable import LiveTable

HISTORY = 24  # polls shown per queue
Q_COLUMNS = ("pid", "dev", "handle", "stat", "sched", "lv", "thr", "batch", "prio", "hist")
P_COLUMNS = ("pid", "cmd", "xq", "rdy", "sus", "ever", "prio", "util")
_STATUS_STYLE = {"ok": "bold green", "slow": "bold yellow", "never": "dim"}


def history_text(history) -> Text:
    """One cell per poll, oldest left: █ ready and running, ▒ suspended, · idle. Runs of one
    kind are one span (fewer colour codes to send over SSH)."""
    out = Text()
    run_ch, run_style, n = "", "", 0
    for _t, ready, sus in history[-HISTORY:]:
        ch, style = ("▒", "red") if sus else (("█", "cyan") if ready else ("·", "dim"))
        if ch == run_ch:
            n += 1
            continue
        if n:
            out.append(run_ch * n, run_style)
        run_ch, run_style, n = ch, style, 1
    if n:
        out.append(run_ch * n, run_style)
    return out


def _int(v: str, what: str) -> int:
    try:
        return int(v, 0)
    except ValueError:
        raise ActionRejected(f"{what} must be a whole number, not {v!r}") from None


class XQueuesPane(Vertical):
    BINDINGS = [
        Binding("P", "priority", "Priority"),
        Binding("U", "utilization", "Utilisation"),
        Binding("O", "policy", "Policy"),
        Binding("C", "config", "Queue config"),
        Binding("tab", "switch_focus", "Processes/XQueues", show=False),
    ]

    def __init__(self, address: str = "127.0.0.1:50000", readonly: bool = False, **kw) -> None:
        super().__init__(**kw)
        self.address, self.readonly = address, readonly
        self.view = None
        self._pcells: dict[int, list[object]] = {}
        self._qcells: dict[int, list[object]] = {}
        self._priority_of: dict[int, int] = {}
        self._util_of: dict[int, int] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="xq-status")
        yield LiveTable(id="xq-procs", cursor_type="row", zebra_stripes=True)
        yield LiveTable(id="xq-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        p = self.query_one("#xq-procs", DataTable)
        for key, label, width in (("pid", "PID", 8), ("cmd", "Command", 40), ("xq", "XQueues", 8),
                                  ("rdy", "Ready", 6), ("sus", "Susp", 5), ("ever", "Ever rdy", 8),
                                  ("prio", "Prio", 8), ("util", "Util%", 6)):
            p.add_column(label, key=key, width=width)
        q = self.query_one("#xq-table", DataTable)
        for key, label, width in (("pid", "PID", 8), ("dev", "DEV", 16), ("handle", "XQUEUE", 19),
                                  ("stat", "STAT", 4), ("sched", "SCHED", 5), ("lv", "LV", 2),
                                  ("thr", "THR", 5), ("batch", "BATCH", 5), ("prio", "PRIO", 5),
                                  ("hist", f"last {HISTORY} polls", HISTORY)):
            q.add_column(label, key=key, width=width)
        self._render_status()

    # -- data in -------------------------------------------------------------------------------
    def update_data(self, view=None, log_facts=None) -> None:
        if log_facts is not None:
            self._util_of = {pid: f.utilization for pid, f in log_facts.items()
                             if getattr(f, "utilization", None) is not None}
        if view is not None:
            self.view = view
        self._redraw()

    def _redraw(self) -> None:
        v = self.view
        self._render_status()
        if v is None:
            return
        self._sync(self.query_one("#xq-procs", DataTable), self._pcells, P_COLUMNS,
                   [(pq.pid, self._proc_cells(pq, v)) for pq in v.processes])
        self._sync(self.query_one("#xq-table", DataTable), self._qcells, Q_COLUMNS,
                   [(r.info.handle, self._queue_cells(r)) for r in v.queues])

    @staticmethod
    def _sync(t: LiveTable, cache: dict[int, list[object]], cols, rows) -> None:
        """Update the table to ``rows`` touching only changed cells; rebuild when rows change."""
        keys = [k for k, _ in rows]
        if keys != list(cache):
            cur = t.cursor_row
            t.clear()
            cache.clear()
            for k, cells in rows:
                t.add_row(*cells, key=str(k))
                cache[k] = cells
            if keys:
                t.move_cursor(row=min(cur, len(keys) - 1))
            return
        updates: list[tuple[str, str, object]] = []
        for k, cells in rows:
            before = cache[k]
            for i, (col, val) in enumerate(zip(cols, cells, strict=True)):
                if before[i] != val:
                    updates.append((str(k), col, val))
            cache[k] = cells
        t.set_cells(updates)

    def _proc_cells(self, pq, v) -> list[object]:
        prios = sorted({r.priority for r in v.queues if r.info.pid == pq.pid and r.priority is not None})
        prio = ",".join(map(str, prios[:3])) + ("…" if len(prios) > 3 else "")
        zero = pq.queues == 0
        util = self._util_of.get(pq.pid)
        return [
            Text(str(pq.pid), "bold red" if zero else ""),
            Text((pq.cmdline or "").strip()[:60] or "?", ""),
            Text("0 — nothing scheduled" if zero else str(pq.queues), "bold red" if zero else ""),
            str(pq.ready_now), Text(str(pq.suspended_now), "red" if pq.suspended_now else ""),
            str(pq.ever_ready), prio, "" if util is None else str(util),
        ]

    @staticmethod
    def _queue_cells(r) -> list[object]:
        i = r.info
        dim = "dim" if r.gone else ""
        return [
            Text(str(i.pid), dim if r.handle_pid_ok else "yellow"),
            Text(device_text(i.device), dim),
            Text(i.handle_hex + (" gone" if r.gone else ""), dim),
            Text(" RDY" if i.ready else " BLK", "cyan" if i.ready else "yellow"),
            Text(" SUS" if i.suspended else " RUN", "red" if i.suspended else "green"),
            str(i.level), str(i.threshold), str(i.batch_size),
            "" if r.priority is None else str(r.priority),
            history_text(r.history),
        ]

    def _render_status(self) -> None:
        from xsched_tui.core.xqmonitor import verdict

        v = self.view
        out = Text()
        out.append(f"xserver {self.address} ", "bold")
        if v is None or v.status == "never":
            out.append("not asked yet", "dim")
        else:
            style = _STATUS_STYLE.get(v.status, "bold red")
            if v.reachable:
                out.append(v.status.upper(), style)
                if v.latency_s is not None and not self.address.startswith("("):  # not recorded
                    out.append(f" · {v.latency_s * 1000:.0f} ms", "dim")
                if v.policy_name:
                    out.append(f" · policy {v.policy_name}", "bold")
                code, text = verdict(v)
                out.append("\n" + text, "bold red" if code else "")
            else:
                since = time.strftime("%H:%M:%S", time.localtime(v.since))
                out.append(f"{v.status.upper()} since {since}", style)
                out.append(f": {v.message}" if v.message else "", "red")
                if v.stale and v.last_good_at:
                    out.append("\nshowing the last good answer, from "
                               + time.strftime("%H:%M:%S", time.localtime(v.last_good_at)), "yellow")
            if v.failures:
                out.append(f" · {v.failures} of {v.polls} polls failed", "dim")
        if self.readonly:
            out.append(" · read-only", "yellow")
        set_static(self.query_one("#xq-status", Static), out)

    # -- selection -----------------------------------------------------------------------------
    def _selected_queue(self):
        handle = self.query_one("#xq-table", LiveTable).cursor_key_int()
        if self.view is None or handle is None:
            return None
        return next((r for r in self.view.queues if r.info.handle == handle), None)

    def _selected_pid(self) -> int | None:
        return self.query_one("#xq-procs", LiveTable).cursor_key_int()

    def action_switch_focus(self) -> None:
        p, q = self.query_one("#xq-procs", DataTable), self.query_one("#xq-table", DataTable)
        (q if p.has_focus else p).focus()

    # -- actions: values, then confirmation, then a message to the App ---------------------------
    def _guard(self) -> bool:
        if self.readonly:
            self.notify("read-only: xserver changes are disabled (--readonly)", severity="warning")
            return False
        if self.view is None or not self.view.reachable:
            self.notify("xserver is not reachable", severity="error")
            return False
        return True

    def _ask(self, title: str, fields, build, help_text: str = "") -> None:
        """``build(values) -> (action, args, what)`` raising ActionRejected on bad values."""
        from xsched_tui.tui.screens.confirm import ConfirmScreen, FormScreen, rejects

        def got(vals: dict[str, str] | None) -> None:
            if vals is None:
                return
            action, args, what = build(vals)

            def confirmed(yes: bool | None) -> None:
                if yes:
                    self.post_message(XServerActionRequested(action, args, what))

            self.app.push_screen(ConfirmScreen(f"{what}?", f"xserver {self.address}", danger=False),
                                 confirmed)

        self.app.push_screen(FormScreen(title, fields, rejects(build), help_text), got)

    def _queue_or_pid(self):
        """The highlighted queue when the queue table has focus, else the highlighted process."""
        q = self.query_one("#xq-table", DataTable)
        if q.has_focus:
            r = self._selected_queue()
            if r is not None:
                return ("queue", r)
        pid = self._selected_pid()
        return ("pid", pid) if pid is not None else (None, None)

    def _target(self):
        """(kind, selection) for a hint, or (None, None) after saying why there is none."""
        if not self._guard():
            return None, None
        kind, sel = self._queue_or_pid()
        if kind is None:
            self.notify("select an XQueue or a process first", severity="warning")
        return kind, sel

    def action_priority(self) -> None:
        kind, sel = self._target()
        if kind is None:
            return
        handles = ([sel.info.handle] if kind == "queue" else
                   [r.info.handle for r in self.view.queues if r.info.pid == sel and not r.gone])
        if not handles:
            self.notify(f"process {sel} has no XQueue to prioritise", severity="warning")
            return
        target = (f"XQueue {hex(handles[0])}" if kind == "queue"
                  else f"the {len(handles)} XQueue(s) of process {sel}")

        def build(vals):
            p = validate_priority(_int(vals["priority"], "priority"))
            return "priority", {"handles": handles, "priority": p}, f"Set priority {p} for {target}"

        self._ask(f"Priority hint for {target}", [("priority", "priority (-255..255, higher wins)", "")],
                  build, "POST /hint {hint_type: 1}; xserver logs 'set priority' lines")

    def action_utilization(self) -> None:
        kind, sel = self._target()
        if kind is None:
            return
        args = {"handle": sel.info.handle} if kind == "queue" else {"pid": sel}
        target = f"XQueue {hex(sel.info.handle)}" if kind == "queue" else f"process {sel}"

        def build(vals):
            u = validate_utilization(_int(vals["util"], "utilisation"))
            return "utilization", {**args, "utilization": u}, f"Set utilisation {u}% for {target}"

        self._ask(f"Utilisation hint for {target}", [("util", "utilisation % (0..100)", "")], build,
                  "POST /hint {hint_type: 2}; used by the PUP policy")

    def action_policy(self) -> None:
        if not self._guard():
            return
        cur = self.view.policy_name or ""

        def build(vals):
            num = policy_number(vals["policy"])
            return "policy", {"policy": num}, f"Switch xserver's policy to {POLICY_NAMES[num]}"

        self._ask("Scheduling policy", [("policy", "policy name or number", cur)], build,
                  ", ".join(f"{k} {n}" for k, n in POLICY_NAMES.items()))

    def action_config(self) -> None:
        if not self._guard():
            return
        r = self._selected_queue()
        if r is None:
            self.notify("select an XQueue in the lower table first (tab)", severity="warning")
            return
        i = r.info

        def build(vals):
            lv, th, bs = validate_config(_int(vals["level"], "level"), _int(vals["threshold"], "threshold"),
                                         _int(vals["batch"], "batch size"))
            return ("config", {"handle": i.handle, "level": lv, "threshold": th, "batch_size": bs},
                    f"Configure XQueue {i.handle_hex}: level {lv}, threshold {th}, batch {bs}")

        self._ask(f"Configure XQueue {i.handle_hex}",
                  [("level", "level (1..3)", str(i.level)),
                   ("threshold", "threshold (> 0)", str(i.threshold)),
                   ("batch", "batch size (< threshold)", str(i.batch_size))], build,
                  "POST /config with all three values (xserver requires batch < threshold)")
