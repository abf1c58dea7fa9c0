"""Command line: argument parsing lives here, never in the App.

Exit codes: ``check`` returns 0 when every check passes (or is skipped), 1 on a warning, 2 on a
failure; 64 means the command line or the configuration is wrong; 130/143/129 mean the run was
interrupted by SIGINT/SIGTERM/SIGHUP (children are stopped first).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from xsched_tui import __version__
from xsched_tui.core.config import Config, ConfigError, load, parse_env_pairs

EXIT_USAGE = 64


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's default 2 would read as "FAIL"
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _common(p: argparse.ArgumentParser, suppress: bool) -> None:
    d: Any = argparse.SUPPRESS if suppress else None
    g = p.add_argument_group("configuration (overrides the config file and XSCHED_TUI_* vars)")
    g.add_argument("--config", metavar="FILE", default=d, help="TOML config file to read")
    g.add_argument("--source", metavar="DIR", default=d, help="XSched source folder")
    g.add_argument("--build", metavar="DIR", default=d, help="XSched build folder")
    g.add_argument("--install", metavar="DIR", default=d,
                   help="XSched install folder (make's output/)")
    g.add_argument("--platform", default=d,
                   help="cuda, hip, levelzero, opencl, ascend, cudla, vpi, corex (default: detect)")
    g.add_argument("--enable", default=d, choices=("auto", "LD_PRELOAD", "LD_LIBRARY_PATH"),
                   help="how workloads load the shim (default: the platform's documented way)")
    g.add_argument("--python", metavar="EXE", default=d,
                   help="interpreter that runs workloads and the probe (default: this one)")
    g.add_argument("--stream", default=d, choices=("explicit", "default"),
                   help="stream the workloads submit on (XSched ignores the default stream)")
    g.add_argument("--xserver", metavar="HOST:PORT", default=d, help="xserver address")
    g.add_argument("--logs", metavar="DIR", default=d, help="folder of per-process logs")
    g.add_argument("--results", metavar="DIR", default=d, help="results folder")
    g.add_argument("--probe-timeout", metavar="S", type=float, default=d,
                   help="hard limit for the live probe (seconds)")
    g.add_argument("--env", metavar="NAME=VALUE", action="append", default=d,
                   help="XSched variable for workloads (repeatable; NAME= removes it)")
    g.add_argument("--readonly", action="store_true", default=d,
                   help="disable every action that changes something (signals, xserver changes)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="xsched-tui", description=(
        "Check, watch and measure XSched. Without a command: open the app."))
    p.add_argument("--version", action="version", version=f"xsched-tui {__version__}")
    p.add_argument("--interval", type=float, default=1.0, metavar="S",
                   help="refresh period of processes, xserver and the panes (0.1-10 s, default "
                   "1; < and > change it in the app)")
    p.add_argument("--tab", choices=tuple(TAB_IDS), default=None,
                   help="open the app on this tab (default: checks; logs for a replay)")
    _common(p, suppress=False)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    c = sub.add_parser("check", help="run the environment checks headless",
                       description="Run the environment checks and print a table or a report. "
                       "Exit code 0: all pass, 1: warnings, 2: failures.")
    _common(c, suppress=True)
    fmt = c.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the JSON report on stdout")
    fmt.add_argument("--markdown", action="store_true", help="print the Markdown report on stdout")
    c.add_argument("--output", "-o", metavar="FILE",
                   help="also write the report to FILE (.json = JSON, else Markdown)")
    c.add_argument("--only", nargs="+", metavar="ID",
                   help="run only these checks (and what they need)")
    c.add_argument("--no-live", action="store_true", help="skip checks that start processes")
    c.add_argument("--verbose", "-v", action="store_true", help="show every evidence row")
    c.add_argument("--list", action="store_true", help="list the checks and exit")

    cf = sub.add_parser("config", help="print the effective configuration and its origins")
    _common(cf, suppress=True)
    cf.add_argument("--json", action="store_true", help="as JSON")

    lg = sub.add_parser("logs", help="print parsed XSched log records (NDJSON with --json)",
                        description="Parse log files or folders (*.log, recursively) and print "
                        "their records merged by time. --follow keeps tailing them.")
    _common(lg, suppress=True)
    lg.add_argument("paths", nargs="+", metavar="PATH", help="log files or folders")
    lg.add_argument("--json", action="store_true",
                    help="one JSON object per record (schema: docs/log-record.schema.json)")
    lg.add_argument("--follow", "-f", action="store_true", help="keep tailing (Ctrl+C stops)")
    lg.add_argument("--level", metavar="LEVEL",
                    help="only records at least this severe (ERRO, WARN, INFO, DEBG)")

    rp = sub.add_parser("replay", help="replay recorded per-process logs in the app",
                        description="Play recorded logs with their original timing. Without DIR: "
                        "the bundled real H100 session.")
    _common(rp, suppress=True)
    rp.add_argument("dir", nargs="?", metavar="DIR", help="folder (or file) of recorded logs")
    rp.add_argument("--speed", type=float, default=1.0, help="playback speed factor (default 1)")
    rp.add_argument("--scenario", help="play one sub-folder only (e.g. explicit-stream)")
    rp.add_argument("--interval", type=float, default=argparse.SUPPRESS, metavar="S",
                    help="refresh period (0.1-10 s, default 1)")
    rp.add_argument("--tab", choices=tuple(TAB_IDS), default=argparse.SUPPRESS,
                   help="open the app on this tab")

    a = sub.add_parser("app", help="open the app on live logs (no replay)")
    _common(a, suppress=True)
    a.add_argument("--file", action="append", metavar="FILE", default=[],
                   help="follow this log file too (repeatable; big files are indexed)")
    a.add_argument("--pid", action="append", type=int, metavar="PID", default=[],
                   help="follow /proc/PID/fd/2 of a running process when its stderr is a file")
    a.add_argument("--interval", type=float, default=argparse.SUPPRESS, metavar="S",
                   help="refresh period (0.1-10 s, default 1)")
    a.add_argument("--tab", choices=tuple(TAB_IDS), default=argparse.SUPPRESS,
                  help="open the app on this tab")

    from xsched_tui import cli_ps

    ps = sub.add_parser("ps", help="list XSched processes, their trees and XSched facts",
                        description="Find the XSched processes of this host (libraries in "
                        "/proc/PID/maps, XSched variables) and xserver, with their descendants. "
                        "Exit code 0, or 1 when a --pid does not exist.")
    _common(ps, suppress=True)
    cli_ps.add_arguments(ps)

    from xsched_tui import cli_xqueues

    xq = sub.add_parser("xqueues", help="list xserver's XQueues (xcli list, with more)",
                        description="Ask xserver (GET /xqueues) and print its XQueues per process. "
                        "Exit code 0: fine, 1: clients connected but no XQueue (nothing is "
                        "scheduled), 2: xserver down or answering garbage.")
    _common(xq, suppress=True)
    cli_xqueues.add_arguments(xq)

    from xsched_tui import cli_experiments

    ov = sub.add_parser("overhead", help="measure XSched's runtime overhead (native vs XSched pairs)",
                        description="Run the workload as interleaved native/XSched pairs (each a "
                        "fresh process), drop invalid runs, and judge the median overhead's bootstrap "
                        "95%% CI against the threshold. Exit code 0: PASS, 1: INCONCLUSIVE, 2: FAIL "
                        "or no valid pair, 64: bad usage, 130/143: stopped (finished runs kept).")
    _common(ov, suppress=True)
    cli_experiments.add_overhead_arguments(ov)
    pr = sub.add_parser("priority", help="run the dual-model priority experiment (or a "
                        "partition, or N tenants) under standalone/native/XSched",
                        description="A latency-sensitive foreground (periodic requests) against a "
                        "flat-out background, each configuration in fresh processes started "
                        "together; foreground p50/p99/CDF and background throughput normalised to "
                        "standalone, overlap proven, crashes reported. Exit code 0: XSched helps "
                        "(or SLOs met / split reached), 1: no effect or inconclusive, 2: worse "
                        "than native, SLOs missed or invalid, 64: bad usage, 130/143: stopped.")
    _common(pr, suppress=True)
    from xsched_tui import cli_priority

    cli_priority.add_arguments(pr)
    rn = sub.add_parser("runs", help="list past experiments, or compare two side by side",
                        description="List the experiments in the results folder (name, date, "
                        "verdict, valid/invalid runs); --compare A B prints two side by side.")
    _common(rn, suppress=True)
    cli_experiments.add_runs_arguments(rn)
    return p


def config_from_args(ns: argparse.Namespace) -> Config:
    flags: dict[str, Any] = {}
    for attr in ("source", "build", "install", "platform", "enable", "python", "stream", "logs",
                 "results"):
        flags[attr] = getattr(ns, attr, None)
    flags["probe_timeout"] = getattr(ns, "probe_timeout", None)
    if getattr(ns, "readonly", None):
        flags["readonly"] = True
    xs = getattr(ns, "xserver", None)
    if xs:
        host, sep, port = xs.rpartition(":")
        host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        if not sep or not host or any(c.isspace() for c in host) or not port.isdigit():
            raise ConfigError(f"--xserver {xs!r}: expected HOST:PORT (e.g. 127.0.0.1:50000)")
        flags["xserver_host"], flags["xserver_port"] = host, port
    return load(flags=flags, flag_env=parse_env_pairs(getattr(ns, "env", None)),
                config_path=getattr(ns, "config", None))


def _install_signal_handlers() -> None:
    """SIGTERM/SIGHUP (an SSH drop) stop every child group before we exit."""
    from xsched_tui.core import runner

    def handler(signum: int, _frame: object) -> None:
        runner.kill_all(grace=2.0)
        os._exit(128 + signum)

    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, handler)


def cmd_check(ns: argparse.Namespace, cfg: Config) -> int:
    from xsched_tui.core import report
    from xsched_tui.core.checks import CheckContext, registry, run_checks
    from xsched_tui.core.checks.engine import CheckOrderError

    specs = registry()
    if ns.list:
        for s in specs:
            req = f" (needs {', '.join(s.requires)})" if s.requires else ""
            print(f"{s.id:<10} {s.title:<18} {s.description}{req}")
        return 0
    ctx = CheckContext(config=cfg, live=not ns.no_live)
    progress = sys.stderr.isatty() and not (ns.json or ns.markdown)

    def on_start(spec: Any) -> None:
        if progress:
            print(f"\r\x1b[2K… {spec.title}", end="", file=sys.stderr, flush=True)

    try:
        summary = run_checks(specs, ctx, only=ns.only, on_start=on_start)
    except CheckOrderError as exc:
        print(f"xsched-tui check: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if progress:
        print("\r\x1b[2K", end="", file=sys.stderr, flush=True)
    if ns.json:
        sys.stdout.write(report.dumps_json(summary, cfg))
    elif ns.markdown:
        sys.stdout.write(report.to_markdown(summary, cfg))
    else:
        import shutil

        width = max(80, shutil.get_terminal_size((100, 24)).columns)
        print(report.to_text(summary, verbose=ns.verbose, width=width))
    if ns.output:
        as_json = ns.output.endswith(".json") or ns.json
        text = report.dumps_json(summary, cfg) if as_json else report.to_markdown(summary, cfg)
        try:
            from xsched_tui.core.atomic import write_text_atomic

            write_text_atomic(ns.output, text)
        except OSError as exc:
            print(f"xsched-tui check: cannot write {ns.output}: {exc.strerror or exc}",
                  file=sys.stderr)
            return EXIT_USAGE
        if not (ns.json or ns.markdown):
            print(f"report written to {ns.output}")
    return summary.exit_code


def cmd_config(ns: argparse.Namespace, cfg: Config) -> int:
    if ns.json:
        print(json.dumps(cfg.to_json(), indent=2))
        return 0
    none = "(none found: ./xsched-tui.toml, $XDG_CONFIG_HOME/xsched-tui/config.toml)"
    print(f"config file: {cfg.file or none}")
    rows = cfg.effective()
    kw = max(len(k) for k, _, _ in rows)
    vw = min(60, max(len(v) for _, v, _ in rows))
    for k, v, o in rows:
        print(f"{k:<{kw}}  {v:<{vw}}  {o}")
    return 0


def cmd_logs(ns: argparse.Namespace, cfg: Config) -> int:
    from xsched_tui.core.logparse import Level
    from xsched_tui.core.ndjson import PathError, iter_paths_records, record_to_ndjson

    level = None
    if ns.level:
        level = Level.from_str(ns.level)
        if level is None:
            print(f"xsched-tui logs: unknown level {ns.level!r} (ERRO, WARN, INFO, DEBG)",
                  file=sys.stderr)
            return EXIT_USAGE

    def wanted(rec) -> bool:
        return level is None or (rec.level is not None and rec.level.at_least(level))

    def show(item, source) -> None:
        if ns.json:
            print(record_to_ndjson(item, source), flush=False)
        else:
            rec = item.record
            lvl = rec.level.value if rec.level else "    "
            body = rec.message if rec.message else rec.text
            print(f"{source.label[:20]:<20} {rec.time_text or '':<15} {lvl} {body}")

    errors = 0
    if not ns.follow:
        from xsched_tui.core.config import custom_patterns

        for item in iter_paths_records(ns.paths, patterns=custom_patterns(cfg)):
            if isinstance(item, PathError):
                errors += 1
                if ns.json:
                    print(record_to_ndjson(item))
                print(f"xsched-tui logs: {item.message}", file=sys.stderr)
            elif wanted(item.record):
                show(item, item.source)
        sys.stdout.flush()
        return 1 if errors else 0
    return _follow_logs(ns, cfg, wanted, show)


def _follow_logs(ns: argparse.Namespace, cfg: Config, wanted, show) -> int:
    import threading

    from xsched_tui.core.logsources import LogHub

    lock = threading.Lock()
    infos: dict = {}

    def on_batch(batch) -> None:
        with lock:
            for s in batch.sources:
                infos[s.id] = s
            for e in batch.entries:
                if wanted(e.record):
                    show(e, infos[e.source_id])
            for n in batch.notices:
                print(f"xsched-tui logs: {n}", file=sys.stderr)
            sys.stdout.flush()

    from xsched_tui.core.config import custom_patterns

    hub = LogHub(on_batch=on_batch, patterns=custom_patterns(cfg))
    bad = 0
    for p in ns.paths:
        try:
            if os.path.isdir(p):
                hub.add_dir(p, recursive=True)
            else:
                hub.add_file(p)
        except (OSError, ValueError) as exc:
            bad += 1
            print(f"xsched-tui logs: {p}: {exc}", file=sys.stderr)
    if bad == len(ns.paths):
        hub.stop()
        return 1
    try:
        threading.Event().wait()
    finally:
        hub.stop()
    return 0


# --tab NAME -> the app's TabPane id suffix
TAB_IDS = {"checks": "checks", "processes": "procs", "xqueues": "xq", "logs": "logs",
           "overhead": "overhead", "priority": "priority"}


def cmd_app(cfg: Config, ns: argparse.Namespace | None = None) -> int:
    from xsched_tui.tui.app import XSchedApp

    replay = None
    speed, scenario, files, pids = 1.0, None, [], []
    if ns is not None and ns.command == "replay":
        from xsched_tui.data import samples_dir

        replay = ns.dir or str(samples_dir())
        if not os.path.exists(replay):
            print(f"xsched-tui replay: {replay} does not exist", file=sys.stderr)
            return EXIT_USAGE
        from xsched_tui.core.replay import Recording, RecordingError

        try:
            Recording(replay)
        except RecordingError as exc:
            print(f"xsched-tui replay: {exc}", file=sys.stderr)
            return EXIT_USAGE
        speed, scenario = ns.speed, ns.scenario
        if not speed > 0:
            print("xsched-tui replay: --speed must be > 0", file=sys.stderr)
            return EXIT_USAGE
    elif ns is not None and ns.command == "app":
        files, pids = list(ns.file), list(ns.pid)
    elif not cfg.logs:
        # The embedded default: replay the bundled real H100 session (checks run on this host).
        from xsched_tui.data import samples_dir

        replay = str(samples_dir())
    import gc

    # The log model keeps ~10^5 long-lived records. With CPython's default thresholds the
    # collector walks all of them often enough to stall the UI for up to a second at 10k lines/s
    # (benchmarks/bench_logs_app.py: write->screen p95 1.1 s with the defaults, 0.16 s with
    # 10k). The young threshold counts allocations minus frees: once the log buffers are full,
    # every new record frees an old one, so at 100k the count seldom reaches it and the young
    # collections (~1 us per line: 17-slot records) mostly stop; at 10k they ran 20 times a
    # second at 100k lines/s (lines shown 86 -> 92 %, bench_logs_app).
    if gc.get_threshold() == (700, 10, 10):  # CPython's defaults: nobody chose otherwise
        gc.set_threshold(100_000, 50, 100)
    from xsched_tui.core.selfcost import check_interval

    try:
        interval = check_interval(float(getattr(ns, "interval", 1.0) if ns is not None else 1.0))
    except ValueError as exc:
        print(f"xsched-tui: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from xsched_tui.core import runner
    from xsched_tui.core.lifecycle import ShutdownWatchdog, TerminalGuard

    # Quit, Ctrl+C, SIGTERM and SIGHUP go through the app's orderly path (the experiment writes
    # its cancelled result, children are stopped, Textual restores the terminal); the watchdog
    # bounds it and puts the terminal back itself if the orderly path hangs.
    watchdog = ShutdownWatchdog(lambda grace: runner.kill_all(grace=grace), TerminalGuard())
    tab = getattr(ns, "tab", None) if ns is not None else None
    app = XSchedApp(config=cfg, replay=replay, replay_speed=speed, replay_scenario=scenario,
                    log_files=files, log_pids=pids, interval=interval, watchdog=watchdog,
                    start_tab=f"tab-{TAB_IDS[tab]}" if tab else None)
    try:
        app.run()
    except OSError as exc:
        # SIGHUP after an SSH drop: the terminal is gone and Textual's last writes fail. The
        # shutdown itself (experiment, children) went on: report the signal, not the write.
        if not watchdog.armed:
            raise
        print(f"xsched-tui: terminal gone ({exc.strerror or exc})", file=sys.stderr)
    finally:
        _install_signal_handlers()  # the loop's handlers went with it
        runner.kill_all()
    if watchdog.armed and watchdog.exit_code:
        return watchdog.exit_code
    return app.return_code or 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    try:
        cfg = config_from_args(ns)
    except ConfigError as exc:
        print(f"xsched-tui: {exc}", file=sys.stderr)
        return EXIT_USAGE
    _install_signal_handlers()
    try:
        if ns.command == "check":
            return cmd_check(ns, cfg)
        if ns.command == "config":
            return cmd_config(ns, cfg)
        if ns.command == "logs":
            return cmd_logs(ns, cfg)
        if ns.command == "ps":
            from xsched_tui import cli_ps

            return cli_ps.run(ns, cfg)
        if ns.command == "xqueues":
            from xsched_tui import cli_xqueues

            return cli_xqueues.run(ns, cfg)
        if ns.command == "priority":
            from xsched_tui import cli_priority

            return cli_priority.run(ns, cfg)
        if ns.command in ("overhead", "runs"):
            from xsched_tui import cli_experiments

            return (cli_experiments.run_overhead if ns.command == "overhead"
                    else cli_experiments.run_runs)(ns, cfg)
        return cmd_app(cfg, ns)
    except BrokenPipeError:  # `xsched-tui logs ... | head`: the reader left, which is fine
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        from xsched_tui.core import runner

        runner.kill_all()
        print("\ninterrupted", file=sys.stderr)
        return 130
