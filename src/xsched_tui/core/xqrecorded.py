"""xserver answers recorded during a run, served to the XQueues monitor during a replay.

A recording's scenario folder may hold ``xserver-http-during-run.txt``: blocks of the form
``/xqueues {json}``, ``/policy {json}``, ``/xqueue/<handle> {json}`` (samples/h100-cuda13). While
the replay plays that scenario, :class:`RecordedXServer` answers ``xqueues()`` and ``policy()``
with them, so the XQueues and Processes panes show what xserver really said in that run. Outside
such a scenario it answers like an xserver that is not there ("down"), with the reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xsched_tui.core.xserver import XQueuesSnapshot, XServerError, parse_xqueues

HTTP_FILE = "xserver-http-during-run.txt"
_BLOCK = re.compile(r"^(/\S*) (?=\{)", re.MULTILINE)


def load_recorded(path: str | Path) -> dict[str, Any]:
    """{"/xqueues": {...}, "/policy": {...}, "/xqueue/<handle>": {...}} from a recorded file.

    Raises ValueError with the block's route when a block is not JSON.
    """
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    starts = [(m.start(), m.group(1)) for m in _BLOCK.finditer(text)]
    out: dict[str, Any] = {}
    for i, (pos, route) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        try:
            out[route] = json.loads(text[pos + len(route) + 1: end])
        except ValueError as exc:
            raise ValueError(f"{path}: the {route} block is not JSON ({exc})") from None
        except RecursionError:
            raise ValueError(f"{path}: the {route} block is not JSON (nested too deeply)") from None
    return out


def recorded_answers(root: str | Path) -> dict[str, dict[str, Any]]:
    """Scenario name -> its recorded answers, for every scenario folder that has them."""
    base = Path(root)
    out: dict[str, dict[str, Any]] = {}
    if base.is_file():
        base = base.parent
    for f in sorted(base.glob(f"*/{HTTP_FILE}")) + sorted(base.glob(HTTP_FILE)):
        try:
            out[f.parent.name if f.parent != base else base.name] = load_recorded(f)
        except (OSError, ValueError):
            continue  # a broken recorded file is just not shown; the logs still replay
    return out


class RecordedXServer:
    """Quacks like XServerClient's read side: ``xqueues()`` and ``policy()``.

    ``current`` returns the scenario being played now (None between scenarios).
    """

    def __init__(self, answers: dict[str, dict[str, Any]], current: Callable[[], str | None],
                 label: str = "recorded") -> None:
        self.answers = answers
        self.current = current
        self.label = label
        self.host, self.port = "recorded", 0

    def _now(self) -> dict[str, Any]:
        scen = self.current()
        got = self.answers.get(scen or "")
        if got is None:
            where = f"scenario {scen}" if scen else "this part of the replay"
            raise XServerError(f"no xserver answers were recorded in {where}", kind="down")
        return got

    def xqueues(self) -> XQueuesSnapshot:
        body = self._now().get("/xqueues")
        if body is None:
            raise XServerError("the recording has no /xqueues answer here", kind="down")
        return parse_xqueues(body, 0.0, 0.0)

    def policy(self) -> int:
        body = self._now().get("/policy")
        if not isinstance(body, dict) or not isinstance(body.get("policy"), int):
            raise XServerError("the recording has no /policy answer here", kind="down")
        return body["policy"]


def scenario_at(spans, position: float) -> str | None:
    """The scenario whose span holds ``position`` (Player.spans, Player.position)."""
    for s in spans:
        if s.start <= position <= s.end:
            return s.name
    return None
