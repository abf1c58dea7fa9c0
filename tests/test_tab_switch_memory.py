"""Switching tabs must not keep widgets alive. Every switch recomposes the Footer, and Textual's
FooterKeys each add a watcher to the Footer's ``compact`` reactive that Textual drops only when
``compact`` changes: the replaced keys stayed reachable (30 switches: ~930 FooterKeys alive, 7
attached). tui/footer.py prunes them after each recompose."""

from __future__ import annotations

import gc
from dataclasses import replace

from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from xsched_tui.core.config import Config
from xsched_tui.tui.app import XSchedApp
from xsched_tui.tui.footer import prune_closed_watchers


def _footer_keys() -> tuple[int, int]:
    gc.collect()
    keys = [o for o in gc.get_objects() if type(o) is FooterKey]
    return len(keys), sum(k.is_attached for k in keys)


async def test_tab_switches_do_not_keep_replaced_footer_keys(tmp_path):
    app = XSchedApp(replace(Config(), results=str(tmp_path / "res")), specs=[], hostname="h",
                    autorun=False, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.5)
        for _ in range(12):
            await pilot.press("]")
            await pilot.pause(0.05)
        await pilot.pause(0.5)
        alive, attached = _footer_keys()
        assert attached > 0
        # a recompose still in flight may hold one set of old keys; twelve sets is the leak
        assert alive <= 2 * attached + 10, (alive, attached)
        footer = app.query_one(Footer)
        watchers = getattr(footer, "__watchers")["compact"]
        assert len(watchers) <= 2 * attached + 10


def test_prune_keeps_open_watchers_and_ignores_nodes_without_any():
    class Node:
        def __init__(self, closing: bool = False, closed: bool = False) -> None:
            self._closing, self._closed = closing, closed

    class Watched:
        pass

    w = Watched()
    live, closing, closed = Node(), Node(closing=True), Node(closed=True)
    setattr(w, "__watchers", {"compact": [(live, print), (closing, print), (closed, print)]})
    assert prune_closed_watchers(w) == 2  # type: ignore[arg-type]
    assert getattr(w, "__watchers")["compact"] == [(live, print)]
    assert prune_closed_watchers(Watched()) == 0  # type: ignore[arg-type]
