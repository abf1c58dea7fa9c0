"""Helpers for Pilot tests: the text a Static shows, and waiting for a condition."""

from __future__ import annotations

import os

from textual.widgets import Static


def text_of(static: Static, width: int = 200) -> str:
    from rich.console import Console

    con = Console(width=width, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    con.print(static.content)
    return con.export_text()


async def wait_until(pilot, cond, tries: int = 1200, step: float = 0.05) -> None:
    for _ in range(tries):
        if cond():
            return
        await pilot.pause(step)
    raise AssertionError("condition not reached")
