"""A deterministic Logs pane for snapshots: the recorded misconfigured runs, fed as one batch."""

from __future__ import annotations

from dataclasses import replace

from textual import on

from xsched_tui.core.config import Config
from xsched_tui.core.headlines import headline_for
from xsched_tui.core.logsources import LogBatch, LogEntry, SourceInfo, SourceStats
from xsched_tui.core.replay import Recording
from xsched_tui.data import samples_dir
from xsched_tui.tui.app import XSchedApp
from xsched_tui.tui.messages import ChecksDone


def recorded_batch(scenario: str = "misconfigured") -> LogBatch:
    rec = Recording(samples_dir())
    infos: dict[str, SourceInfo] = {}
    entries: list[LogEntry] = []
    heads = {}
    for e in rec.records(scenario):
        s = e.source
        sid = s.name
        info = infos.setdefault(sid, SourceInfo(sid, s.label, "replay", str(s.path), s.pid,
                                                s.pid_from))
        entries.append(LogEntry(sid, len(entries) + 1, e.record))
        h = headline_for(e.record, info)
        if h is not None:
            old = heads.get(h.key)
            heads[h.key] = replace(h, count=(old.count + 1) if old else 1)
    stats = []
    for sid in infos:
        mine = [x.record for x in entries if x.source_id == sid]
        stats.append(SourceStats(sid, len(mine), 0.0,
                                 sum(1 for r in mine if r.level and r.level.value == "WARN"),
                                 sum(1 for r in mine if r.level and r.level.value == "ERRO"),
                                 None, 0, 0, "ended", None))
    return LogBatch(tuple(entries), tuple(stats), tuple(infos.values()), tuple(heads.values()),
                    (), 0)


class LogsSnapshotApp(XSchedApp):
    def __init__(self) -> None:
        super().__init__(replace(Config(), results="/tmp/xsched-tui-snap"), specs=[],
                         hostname="gpu-host", autorun=False, start_tab="tab-logs", poll=False)

    def _start_logs(self) -> None:  # no hub: one fixed batch instead
        from xsched_tui.tui.panes.logs import LogsPane

        self.query_one(LogsPane).ingest(recorded_batch())

    @on(ChecksDone)
    def _ignore(self, _m: ChecksDone) -> None:
        pass


app = LogsSnapshotApp()
