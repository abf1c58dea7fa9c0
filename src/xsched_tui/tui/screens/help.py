"""Key help as a Markdown modal."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# xsched-tui

Tells you whether XSched is **actually scheduling**, not just loaded.

## Checks tab

| Key | Action |
|---|---|
| `c` | run every check again |
| `r` | re-run the highlighted check |
| `enter` | show / hide the evidence and fix of the highlighted check |
| `s` | save the report (Markdown and JSON) to the results folder |
| `j` / `k`, arrows | move |
| `ctrl+p` | command palette |
| `?` | this help |
| `q` | quit (stops every process xsched-tui started) |

## Logs tab

| Key | Action |
|---|---|
| `1` `2` `3` `4` | ERRO only / WARN and worse / INFO and worse / everything |
| `/` | search (regex; invalid ones are searched as text), `n` / `N` next / previous |
| `&` / `!` | show only / hide lines matching a regex |
| `x` | clear filters and search |
| `e` / `E` | next / previous warning or error |
| `enter` on a source | that process only; `a`: all sources merged by time |
| `f` | follow the end / stop following |
| `m` | mark a line; `w` exports marked lines (or the whole view) |
| `p`, `+` / `-`, `.` / `,` | replay: pause, faster / slower, +10 s / -10 s |
| `tab` | sources table / log |

The headline strip shows what matters most: a preload that failed, the app-managed scheduler,
a process that ended with a scheduler but **0 XQueues** (it ran exactly like native).

## Processes tab

| Key | Action |
|---|---|
| `l` | the highlighted process's logs |
| `I` / `T` / `K` | SIGINT / SIGTERM / SIGKILL (asks first; off with `--readonly`) |
| `enter` | hide / show the diagnosis card (FACTS §8 for that process) |

Verdicts: **SCHEDULED** (XQueues exist), **0 XQUEUES** (loaded, nothing scheduled),
**APP SCHED** (app-managed scheduler: nothing scheduled), **NOT LOADED** (no shim mapped).

## XQueues tab

| Key | Action |
|---|---|
| `P` | priority hint: highlighted XQueue, or every XQueue of the highlighted process |
| `U` | utilisation hint (PUP policy) |
| `O` | switch xserver's policy |
| `C` | configure an XQueue (level, threshold, batch size) |
| `tab` | processes table / XQueues table |

History: `█` ready, `▒` suspended by the policy, `·` idle, one cell per poll.
`]` / `[` switch tabs anywhere; `<` / `>` refresh faster / slower (0.1-10 s; the status bar
shows the app's own CPU, memory and refresh cost).

## Overhead tab

| Key | Action |
|---|---|
| `n` | new experiment: workload, options, pairs, threshold, A/A |
| `x` | cancel (the current run is stopped; finished runs are kept) |

Runs alternate native / XSched; an XSched run in which XSched was not active is invalid and
excluded. The gauge: `●` median overhead, `═` its 95% CI, `│` threshold, `¦` the paper's Lv1 bound.

## Priority tab

| Key | Action |
|---|---|
| `n` | new priority experiment (the form scrolls; its fields are the CLI's options) |
| `x` | cancel (the current trial is stopped; finished runs are kept) |

The form: foreground and background roles, rate (or auto, with its fraction); or tenants
(`;`-separated roles with SLOs), or a bandwidth partition (A/B); configurations, scheduler,
policy, xserver port, seconds, repeats, device.

The banner says whether XSched is in play for the processes running now (their diagnosis,
XQueues, loader errors, app-managed scheduler); below: XSched events from their logs, each latency
role's p99 so far per configuration (the foreground first, each tenant on its own line), each
flat-out role's last throughput, every run. The verdict counts only trials in which every role
ran validly and the roles overlapped (README, *Which trials count*). `xsched-tui priority` runs
it headless.

## Statuses

- **PASS**: proven, with the evidence shown.
- **WARN**: works, but something will mislead you (read the finding).
- **FAIL**: XSched cannot work, or will load and schedule nothing.
- **SKIP**: not run, and the reason says why (e.g. a prerequisite failed).

`xsched-tui check` gives the same results headless (exit code 0 pass, 1 warn, 2 fail).
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Markdown(HELP)
