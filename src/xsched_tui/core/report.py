"""Check reports: a stable JSON document (schema in docs/check-report.schema.json), Markdown
in the spirit of a hand-written evaluation report, and a plain-text table for terminals."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import socket
import sys
from typing import Any

from xsched_tui import __version__
from xsched_tui.core.checks.base import CheckResult, Status
from xsched_tui.core.checks.engine import RunSummary
from xsched_tui.core.config import Config

SCHEMA_ID = "xsched-tui/check-report/v1"
EXIT_MEANING = {0: "all checks passed", 1: "warnings", 2: "failures"}


def host_facts() -> dict[str, str]:
    return {
        "hostname": socket.gethostname(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "python": sys.version.split()[0],
        "in_container": str(os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv")),
    }


def to_json(summary: RunSummary, config: Config, created: _dt.datetime | None = None) -> dict[str, Any]:
    created = created or _dt.datetime.now(_dt.timezone.utc)
    return {
        "schema": SCHEMA_ID,
        "tool": {"name": "xsched-tui", "version": __version__},
        "created": created.isoformat(timespec="seconds"),
        "host": host_facts(),
        "config": config.to_json(),
        "workload_env": dict(sorted(config.xsched_env.items())),
        "summary": {
            "status": summary.worst.value,
            "exit_code": summary.exit_code,
            "counts": summary.counts(),
            "duration_s": round(summary.duration_s, 6),
        },
        "checks": [r.to_json() for r in summary.results],
    }


def dumps_json(summary: RunSummary, config: Config) -> str:
    return json.dumps(to_json(summary, config), indent=2, ensure_ascii=False) + "\n"


_ICON = {Status.PASS: "PASS", Status.WARN: "WARN", Status.FAIL: "FAIL", Status.SKIP: "SKIP"}


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def to_markdown(summary: RunSummary, config: Config) -> str:
    doc = to_json(summary, config)
    out = [
        "# XSched environment check",
        "",
        f"- **Verdict: {doc['summary']['status']}** (exit code {summary.exit_code}: "
        f"{EXIT_MEANING[summary.exit_code]})",
        f"- Created {doc['created']} on `{doc['host']['hostname']}` "
        f"(kernel {doc['host']['kernel']}, {doc['host']['machine']}), xsched-tui {__version__}",
        f"- Total time {summary.duration_s:.2f} s; "
        + ", ".join(f"{v} {k}" for k, v in summary.counts().items() if v),
        f"- Configuration: {config.file or 'no file (defaults, environment, flags)'}",
        "",
        "## Steps",
        "",
        "| # | Check | Status | Finding | Time |",
        "|---|---|---|---|---|",
    ]
    for i, r in enumerate(summary.results, 1):
        out.append(f"| {i} | {r.title} (`{r.id}`) | {_ICON[r.status]} | {_md_cell(r.finding)} "
                   f"| {r.duration_s * 1000:.0f} ms |")
    out.append("")
    for r in summary.results:
        out += [f"## {r.title}: {r.status.value}", "", r.finding, ""]
        if r.evidence:
            out += ["| Evidence | Value | |", "|---|---|---|"]
            for e in r.evidence:
                out.append(f"| {_md_cell(e.label)} | {_md_cell(e.value)} | "
                           f"{e.status.value if e.status else ''} |")
            out.append("")
        if r.fix:
            out += ["Fix:", "", "```sh", r.fix, "```", ""]
    out += ["## Environment applied to workloads", "", "```sh"]
    out += [f"export {k}={v}" for k, v in sorted(config.xsched_env.items())] or ["# (none)"]
    out += ["```", "", "## Configuration", "", "| Key | Value | From |", "|---|---|---|"]
    for k, v, o in config.effective():
        out.append(f"| {k} | {_md_cell(v)} | {o} |")
    out.append("")
    return "\n".join(out)


def to_text(summary: RunSummary, *, verbose: bool = False, width: int = 100) -> str:
    lines = []
    for r in summary.results:
        lines.append(f"{r.status.value:<4}  {r.title:<18} {r.duration_s * 1000:>6.0f} ms  "
                     f"{_clip(r.finding, width - 36)}")
        if verbose or r.status in (Status.FAIL, Status.WARN):
            for e in r.evidence:
                if verbose or (e.status in (Status.FAIL, Status.WARN)):
                    mark = e.status.value if e.status else "    "
                    lines.append(f"        {mark:<4} {e.label}: {_clip(e.value, width - 20)}")
            if r.fix:
                for fl in r.fix.splitlines():
                    lines.append(f"        fix: {fl}")
    c = summary.counts()
    lines.append("")
    lines.append(f"{summary.worst.value}: {c['PASS']} passed, {c['WARN']} warned, {c['FAIL']} failed, "
                 f"{c['SKIP']} skipped in {summary.duration_s:.2f} s (exit code {summary.exit_code})")
    return "\n".join(lines)


def _clip(s: str, n: int) -> str:
    s = s.replace("\n", " ")
    return s if len(s) <= n else s[: max(1, n - 1)] + "…"


def result_from_json(d: dict[str, Any]) -> CheckResult:
    """Inverse of CheckResult.to_json (used by tests and report comparison)."""
    from xsched_tui.core.checks.base import Evidence

    return CheckResult(
        id=d["id"], title=d["title"], status=Status(d["status"]), finding=d["finding"],
        evidence=tuple(Evidence(e["label"], e["value"], Status(e["status"]) if e["status"] else None)
                       for e in d["evidence"]),
        fix=d["fix"], duration_s=d["duration_s"], requires=tuple(d.get("requires", ())),
    )
