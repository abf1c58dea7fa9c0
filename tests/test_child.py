"""core.runner.Child: long output lines are cut on stderr but a workload's result line on stdout
survives whole when the caller raises the stdout cap (real subprocesses)."""

from __future__ import annotations

import json
import sys

from xsched_tui.core.runner import MAX_LINE, Child

CODE = ("import json, sys; sys.stdout.write(json.dumps({'values': list(range(40000))}) + '\\n'); "
        "sys.stderr.write('e' * 200000 + '\\n')")


def test_long_stdout_line_survives_with_a_raised_cap_and_stderr_is_cut():
    c = Child([sys.executable, "-c", CODE], max_stdout_line=8 * 1024 * 1024)
    assert c.wait(timeout=30).returncode == 0
    out = list(c.stdout_lines)
    assert len(out) == 1 and json.loads(out[0])["values"][-1] == 39999
    err = list(c.stderr_lines)
    assert len(err) == 1 and err[0].endswith("more bytes cut]") and len(err[0]) < MAX_LINE + 64


def test_default_cap_cuts_stdout_too():
    c = Child([sys.executable, "-c", CODE])
    c.wait(timeout=30)
    line = next(iter(c.stdout_lines))
    assert "more bytes cut" in line and len(line) < MAX_LINE + 64
