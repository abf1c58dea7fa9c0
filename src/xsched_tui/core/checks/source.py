"""Check: the XSched source folder, its git state and version."""

from __future__ import annotations

import os
import re

from xsched_tui.core import runner
from xsched_tui.core.checks.base import CheckContext, CheckSpec, Outcome, Status, ev
from xsched_tui.core.fsfacts import dir_problem

# Known upstream commits (FACTS preamble) -> what they are.
KNOWN_COMMITS = {
    "bd494cb": "main (v1.2.0 + 2 commits)",
    "ed603ab": "v1.2.0 + 1 commit",
    "1dd3139": "v1.2.0",
    "6c881c2": "v1.1.0",
    "22b1b1d": "v1.0.0",
    "f7eb84e": "ae (artifact-evaluation version)",
}
_VERSION_RE = re.compile(r"project\s*\(\s*XSched\s+VERSION\s+([0-9][0-9.]*)", re.IGNORECASE)


def cmake_version(source: str) -> str | None:
    try:
        with open(os.path.join(source, "CMakeLists.txt"), encoding="utf-8", errors="replace") as f:
            m = _VERSION_RE.search(f.read(200_000))
    except OSError:
        return None
    return m.group(1) if m else None


def log_format_for(version: str | None) -> str:
    """Which log prefix this version prints (FACTS §1.1)."""
    if not version:
        return "unknown"
    try:
        parts = tuple(int(x) for x in version.split(".")[:2])
    except ValueError:
        return "unknown"
    return "[XSCHED LEVL @ T tid @ ...] (v1.2+)" if parts >= (1, 2) else "[LEVL @ Ttid @ ...] (pre-1.2)"


def _git(source: str, *args: str) -> str | None:
    try:
        res = runner.run(["git", "-C", source, *args], timeout=10)
    except runner.StartError:
        return None
    if not res.exit.ok:
        return None
    return "\n".join(res.stdout)


def check_source(ctx: CheckContext) -> Outcome:
    src = ctx.config.source
    if not src:
        return Outcome(
            Status.SKIP, "XSched source folder not configured (optional: install checks still run)",
            fix="xsched-tui --source ~/xsched check   # or [xsched] source = \"...\" in xsched-tui.toml",
        )
    problem = dir_problem(src, "XSched source folder")
    if problem:
        return Outcome(Status.FAIL, problem, (ev("source", src),),
                       fix="Point xsched.source at a clone of github.com/XpuOS/xsched")
    rows = [ev("folder", os.path.realpath(src))]
    status = Status.PASS
    version = cmake_version(src)
    if version is None:
        rows.append(ev("version", "no `project(XSched VERSION ...)` in CMakeLists.txt", Status.WARN))
        status = Status.WARN
    else:
        rows.append(ev("version", version, Status.PASS))
        rows.append(ev("log format", log_format_for(version)))
    head = _git(src, "rev-parse", "HEAD")
    dirty_files: list[str] = []
    if head is None:
        rows.append(ev("git", "not a git checkout (or git missing): the exact commit is unknown"))
    else:
        short = head.strip()[:7]
        desc = _git(src, "describe", "--tags", "--always", "--dirty") or short
        known = KNOWN_COMMITS.get(short)
        rows.append(ev("git commit", f"{short} ({desc.strip()})" + (f" = {known}" if known else "")))
        porcelain = _git(src, "status", "--porcelain", "--untracked-files=no") or ""
        dirty_files = [ln[3:] for ln in porcelain.splitlines() if ln.strip()]
        if dirty_files:
            status = Status.WARN
            shown = ", ".join(dirty_files[:5]) + (" ..." if len(dirty_files) > 5 else "")
            rows.append(ev("working tree", f"{len(dirty_files)} modified file(s): {shown}",
                           Status.WARN))
        else:
            rows.append(ev("working tree", "clean", Status.PASS))
    finding = f"XSched {version or '?'} source" + (
        f" with {len(dirty_files)} local modification(s)" if dirty_files else "")
    fix = ""
    if dirty_files:
        fix = f"git -C {src} diff --stat   # results from a modified XSched are not upstream's"
    return Outcome(status, finding, tuple(rows), fix,
                   facts={"version": version, "commit": (head or "").strip() or None,
                          "dirty": bool(dirty_files)})


SPEC = CheckSpec("source", "Source", check_source,
                 description="Folder exists; git commit and dirty state; version from CMakeLists.")
