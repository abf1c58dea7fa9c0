"""merge.py: the streaming k-way merge and the bounded live timeline, against a reference sort."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count, pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xsched_tui.core import merge
from xsched_tui.core.merge import MergedTimeline, entry_time_us, iter_merged, merge_streams


@pytest.fixture(autouse=True, params=["compiled", "python"])
def merge_impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs with the C merge (when built) and with the Python one."""
    if request.param == "python":
        monkeypatch.setattr(merge, "_merge_into", None)
        monkeypatch.setattr(merge, "_key_times", None)
    elif merge._merge_into is None:
        pytest.skip("the C scanner is not built here")
    return request.param

_ids = count()


@dataclass(frozen=True)
class Rec:
    tod_us: int | None
    timestamp: float | None = None
    uid: int = field(default_factory=lambda: next(_ids))


@dataclass(frozen=True)
class Entry:
    source_id: int
    seq: int
    record: Rec


NEG = float("-inf")

times = st.one_of(st.none(), st.integers(min_value=0, max_value=50))
streams_st = st.lists(st.lists(times, max_size=25), max_size=6)


def make_streams(spec: list[list[int | None]]) -> list[list[Entry]]:
    return [[Entry(i, n, Rec(t)) for n, t in enumerate(s)] for i, s in enumerate(spec)]


def reference_merge(streams: list[list[Entry]]) -> list[Entry]:
    """The documented order, computed the slow way: effective time, source index, position."""
    keyed = []
    for rank, s in enumerate(streams):
        eff = NEG
        for pos, e in enumerate(s):
            t = e.record.tod_us
            if t is not None and t > eff:
                eff = t
            keyed.append(((eff, rank, pos), e))
    return [e for _k, e in sorted(keyed, key=lambda kv: kv[0])]


@given(st.lists(st.lists(st.integers(min_value=0, max_value=40), max_size=30), max_size=7))
def test_sorted_streams_merge_equals_global_sort_and_is_stable(spec):
    streams = make_streams([sorted(s) for s in spec])
    out = list(merge_streams(streams))
    allrecs = [(e.record.tod_us, e.source_id, e.seq, e) for s in streams for e in s]
    assert out == [x[3] for x in sorted(allrecs, key=lambda x: x[:3])]
    # stable: equal times keep source order, then file order
    for a, b in pairwise(out):
        if a.record.tod_us == b.record.tod_us:
            assert (a.source_id, a.seq) < (b.source_id, b.seq)


@given(streams_st)
def test_any_streams_follow_the_documented_rules(spec):
    streams = make_streams(spec)
    out = list(merge_streams(streams))
    assert out == reference_merge(streams)
    # per-source order is never changed
    for i, s in enumerate(streams):
        assert [e for e in out if e.source_id == i] == s


def test_untimed_lines_stay_after_their_predecessor_and_leading_ones_come_first():
    a = [Entry(0, 0, Rec(None)), Entry(0, 1, Rec(10)), Entry(0, 2, Rec(None)), Entry(0, 3, Rec(30))]
    b = [Entry(1, 0, Rec(5)), Entry(1, 1, Rec(10)), Entry(1, 2, Rec(20))]
    out = [(e.source_id, e.seq) for e in merge_streams([a, b])]
    assert out == [(0, 0), (1, 0), (0, 1), (0, 2), (1, 1), (1, 2), (0, 3)]
    eff = [t for t, _r, _e in iter_merged([a, b])]
    assert eff == [None, 5, 10, 10, 10, 20, 30]


def test_dated_records_use_epoch_microseconds_and_streams_are_lazy():
    r = Rec(tod_us=1, timestamp=1795834252.803010)
    assert entry_time_us(r) == 1795834252803010
    assert entry_time_us(Entry(0, 0, r)) == 1795834252803010

    pulled = []

    def gen(i, n):
        for k in range(n):
            pulled.append((i, k))
            yield Entry(i, k, Rec(k * 10 + i))

    it = merge_streams([gen(0, 1000), gen(1, 1000)])
    first = [next(it) for _ in range(3)]
    assert [(e.source_id, e.seq) for e in first] == [(0, 0), (1, 0), (0, 1)]
    assert len(pulled) <= 5  # one pending item per source, never the whole input


# -- MergedTimeline ---------------------------------------------------------------------------

def timeline_reference(batches: list[list[Entry]]) -> list[Entry]:
    """Arrival-order effective times (untimed first entries take the high-water mark)."""
    last: dict[int, float] = {}
    rank: dict[int, int] = {}
    seq: dict[int, int] = {}
    hwm = NEG
    keyed = []
    for batch in batches:
        for e in batch:
            src = e.source_id
            rank.setdefault(src, len(rank))
            t = e.record.tod_us
            prev = last.get(src)
            if t is None:
                eff = hwm if prev is None else prev
            else:
                eff = t if prev is None or t > prev else prev
            last[src] = eff
            hwm = max(hwm, eff)
            s = seq.get(src, 0)
            seq[src] = s + 1
            keyed.append(((eff, rank[src], s), e))
    return [e for _k, e in sorted(keyed, key=lambda kv: kv[0])]


@st.composite
def live_batches(draw):
    spec = draw(streams_st)
    streams = make_streams(spec)
    # Interleave the sources in a random arrival order that keeps each source's own order.
    pos = [0] * len(streams)
    arrival = []
    live = [i for i, s in enumerate(streams) if s]
    while live:
        i = draw(st.sampled_from(live))
        arrival.append(streams[i][pos[i]])
        pos[i] += 1
        if pos[i] == len(streams[i]):
            live.remove(i)
    cuts = sorted(draw(st.lists(st.integers(0, len(arrival)), max_size=6)))
    batches, prev = [], 0
    for c in [*cuts, len(arrival)]:
        batches.append(arrival[prev:c])
        prev = c
    return batches


@settings(max_examples=200)
@given(live_batches(), st.integers(min_value=1, max_value=40))
def test_timeline_equals_reference_and_keeps_the_newest_maxlen(batches, maxlen):
    tl: MergedTimeline[Entry] = MergedTimeline(maxlen=maxlen)
    for b in batches:
        before = tl.entries()
        up = tl.extend(b)
        assert len(tl) <= maxlen
        if up.first_changed is not None and up.append_only:
            # append-only: what was there (minus trimmed) is untouched, new ones are at the end
            kept = before[up.trimmed:]
            assert tl.entries()[:len(kept)] == kept
    ref = timeline_reference(batches)
    assert tl.entries() == ref[-maxlen:] if ref else tl.entries() == []


def test_late_entries_are_inserted_by_bisect_and_reported():
    tl: MergedTimeline[Entry] = MergedTimeline(maxlen=100)
    a = [Entry(0, i, Rec(t)) for i, t in enumerate([10, 20, 30, 40])]
    up = tl.extend(a)
    assert (up.first_changed, up.appended, up.inserted) == (0, 4, 0) and up.append_only
    late = [Entry(1, 0, Rec(15)), Entry(1, 1, Rec(35)), Entry(1, 2, Rec(50))]
    up = tl.extend(late)
    assert [e.record.tod_us for e in tl] == [10, 15, 20, 30, 35, 40, 50]
    assert (up.first_changed, up.appended, up.inserted, up.trimmed) == (1, 1, 2, 0)
    assert not up.append_only
    # an untimed line from source 1 stays right after its predecessor (50), time carried
    up = tl.extend([Entry(0, 4, Rec(60)), Entry(1, 3, Rec(None))])
    assert [(e.source_id, e.record.tod_us) for e in tl][-3:] == [(1, 50), (1, None), (0, 60)]
    assert tl.time_us(len(tl) - 2) == 50
    assert tl.total_inserted == 2


def test_timeline_is_bounded_and_rejects_entries_older_than_a_full_window():
    tl: MergedTimeline[Entry] = MergedTimeline(maxlen=5)
    up = tl.extend([Entry(0, i, Rec(100 + i)) for i in range(8)])
    assert len(tl) == 5 and up.trimmed == 3 and up.first_changed == 0
    assert [e.record.tod_us for e in tl] == [103, 104, 105, 106, 107]
    up = tl.extend([Entry(1, 0, Rec(1))])  # older than everything kept
    assert up.rejected == 1 and up.first_changed is None and len(tl) == 5
    up = tl.extend([Entry(1, 1, Rec(104))])  # inside the window: inserted, oldest trimmed
    assert [e.record.tod_us for e in tl] == [104, 104, 105, 106, 107]
    assert up.inserted == 1 and up.trimmed == 1
    rev = tl.revision
    assert tl.extend([]).first_changed is None and tl.revision == rev
    tl.clear()
    assert len(tl) == 0 and tl.revision == rev + 1


def test_first_untimed_entry_of_a_new_source_goes_to_the_tail():
    tl: MergedTimeline[Entry] = MergedTimeline()
    tl.extend([Entry(0, 0, Rec(100)), Entry(0, 1, Rec(200))])
    tl.extend([Entry(7, 0, Rec(None)), Entry(7, 1, Rec(150))])
    # the loader line arrived last, so it is shown last; the source's later (older) timed line
    # keeps its source's order instead of jumping back
    assert [(e.source_id, e.seq) for e in tl] == [(0, 0), (0, 1), (7, 0), (7, 1)]


@given(st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=40),
       st.one_of(st.none(), st.integers(min_value=0, max_value=30)))
def test_running_max_is_accumulate_max(times, prev):
    from itertools import accumulate

    from xsched_tui.core.merge import _running_max

    want = list(accumulate(times, max, initial=prev))[1:] if prev is not None else list(
        accumulate(times, max))
    assert _running_max(list(times), prev) == want


@settings(max_examples=200)
@given(live_batches(), st.integers(min_value=1, max_value=40))
def test_timeline_given_runs_and_on_run_equals_plain_extend(batches, maxlen):
    """LogModel hands the timeline the batch's runs (batchscan) and takes each run's records
    back (on_run): the same window, the same updates, the records of every run in order."""
    from xsched_tui.core.batchscan import source_runs

    plain: MergedTimeline[tuple] = MergedTimeline(maxlen=maxlen)
    fast: MergedTimeline[tuple] = MergedTimeline(maxlen=maxlen)
    seen: list = []
    for b in batches:
        # LogEntry-like tuples (source_id, seq, record), dated records as the live tail makes
        tb = [_TEntry(e.source_id, e.seq, Rec(None, None if e.record.tod_us is None
                                               else 1e9 + e.record.tod_us / 1e6)) for e in b]
        seen.clear()
        runs = source_runs(tb)
        up = fast.extend(tb, runs=runs, on_run=lambda src, recs: seen.append((src, recs)))
        assert up == plain.extend(tb)
        assert seen == [(src, [e.record for e in tb[a:z]]) for src, a, z in runs]
        assert fast.entries() == plain.entries()
        assert [fast.time_us(i) for i in range(len(fast))] == [
            plain.time_us(i) for i in range(len(plain))]


class _TEntry(tuple):
    """A LogEntry-like tuple (the source id first, the record third), without the hub."""

    def __new__(cls, source_id, seq, record):
        return tuple.__new__(cls, (source_id, seq, record))

    source_id = property(lambda self: self[0])
    seq = property(lambda self: self[1])
    record = property(lambda self: self[2])
