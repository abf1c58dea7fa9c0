"""Textual's Footer without the watcher leak of its recompose.

Every ``FooterKey`` the Footer composes calls ``data_bind(compact=Footer.compact)``, which adds a
``(key, setter)`` watcher to the Footer's ``compact`` reactive. The Footer recomposes whenever
the bindings change (every tab switch, every focus move between panes), and Textual drops the
watchers of closed nodes only when the watched value changes, which ``compact`` never does: the
replaced keys stayed reachable from the Footer, with their styles, caches and message queues
(30 tab switches: ~930 FooterKeys alive, 7 attached; tests/test_tab_switch_memory.py). Found
with the soak (benchmarks/bench_soak.py) and benchmarks/memtrace.
"""

from __future__ import annotations

from textual.dom import DOMNode
from textual.widgets import Footer


def prune_closed_watchers(node: DOMNode) -> int:
    """Drop the watchers of ``node``'s reactives whose watching node has closed (what Textual does
    itself when the value changes); returns how many were dropped."""
    watchers = getattr(node, "__watchers", None)  # textual.reactive._watch's per-object table
    if not isinstance(watchers, dict):
        return 0
    dropped = 0
    for name, entries in watchers.items():
        if not isinstance(entries, list):
            continue
        keep = [(r, cb) for r, cb in entries
                if not (getattr(r, "_closing", False) or getattr(r, "_closed", False))]
        dropped += len(entries) - len(keep)
        watchers[name][:] = keep
    return dropped


class AppFooter(Footer):
    async def recompose(self) -> None:
        await super().recompose()
        prune_closed_watchers(self)
