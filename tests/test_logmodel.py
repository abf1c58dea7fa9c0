from __future__ import annotations

import os
from dataclasses import replace

from xsched_tui.core.logmodel import LogModel, export_lines
from xsched_tui.core.logparse import Level

from logs_snapshot_app import recorded_batch


def test_filters_scope_and_zero_xqueue_verdicts():
    m = LogModel()
    res = m.ingest(recorded_batch())
    assert res.sources_changed and res.headlines_changed
    total = len(m.view())
    m.set_level(Level.ERRO)
    assert len(m.view()) == 1 and "cannot be preloaded" in m.view().record(0).text
    m.clear_filters()
    m.set_exclude("XQueue")
    assert 0 < len(m.view()) < total
    m.set_include("(")  # invalid regex: matched literally, never raises
    assert all("(" in m.view().record(i).text for i in range(len(m.view())))
    m.clear_filters()
    sid = next(k for k, s in m.sources.items() if s.pid == 1262)
    m.set_scope(sid)
    assert len(m.view()) == 129
    zero = {h.pid for h in m.headlines.values() if "0 XQueues" in h.text}
    assert 1262 in zero and 1435 not in zero


def test_removed_sources_leave_the_merged_timeline():
    m = LogModel()
    b = recorded_batch()
    m.ingest(b)
    n = len(m.timeline)
    gone = next(s for s in b.sources if s.pid == 1435)
    mine = tuple(e for e in b.entries if e.source_id == gone.id)
    keep = tuple(s for s in b.sources if s is not gone)
    m.ingest(replace(b, entries=(), sources=keep, stats=(), headlines=()))  # a replay rewind
    assert len(m.timeline) == n - len(mine)
    assert all(e.source_id != gone.id for e in m.timeline)
    # the rewound replay delivers that source again: nothing is duplicated
    m.ingest(replace(b, entries=mine, stats=(), headlines=()))
    assert len(m.timeline) == n


def test_export_streams_marked_or_all_lines(tmp_path):
    m = LogModel()
    m.ingest(recorded_batch())
    p = str(tmp_path / "x.log")
    assert export_lines(m.view(), [0, 2, 10_000], p) == 2
    assert export_lines(m.view(), [], p) == len(m.view())
    assert os.path.getsize(p) > 0


def test_per_process_lists_share_one_budget():
    # 64 busy processes kept 20k records each (1.28M, ~700 MiB in the soak benchmark): the lists
    # now share total_max; a new source shrinks every list, and the oldest records go first.
    from xsched_tui.core import logmodel

    b = recorded_batch()
    from collections import Counter

    sids = [sid for sid, _n in Counter(e.source_id for e in b.entries).most_common()]
    assert len(sids) >= 3
    m = LogModel(per_source_max=20_000, total_max=3 * logmodel.MIN_PER_SOURCE)
    assert m.list_cap(1) == 3 * logmodel.MIN_PER_SOURCE and m.list_cap(3) == logmodel.MIN_PER_SOURCE
    assert m.list_cap(100) == logmodel.MIN_PER_SOURCE  # the floor: a process keeps some history
    mine = tuple(e for e in b.entries if e.source_id == sids[0])
    many = mine * (4 * logmodel.MIN_PER_SOURCE // len(mine) + 1)
    m.ingest(replace(b, entries=many))
    first = m.per_source[sids[0]]
    assert len(first) == 3 * logmodel.MIN_PER_SOURCE and first.trimmed == len(many) - len(first)
    newest = many[-1].record
    assert first.record(len(first) - 1) is newest
    for sid in sids[1:3]:
        m.ingest(replace(b, entries=tuple(e for e in b.entries if e.source_id == sid)))
    assert len(m.per_source) == 3
    assert all(lst.maxlen == logmodel.MIN_PER_SOURCE for lst in m.per_source.values())
    assert len(first) == logmodel.MIN_PER_SOURCE and first.record(len(first) - 1) is newest
    assert sum(len(x) for x in m.per_source.values()) <= m.total_max
