"""``xsched-tui priority``: the dual-model priority experiment (Test 3), the bandwidth partition
variant and N tenants with SLOs (Test 4), headless.

Exit codes: 0 XSCHED HELPS / SLOS MET / SPLIT REACHED, 1 NO EFFECT / INCONCLUSIVE,
2 WORSE THAN NATIVE / SLOS MISSED / SPLIT NOT REACHED / INVALID, 64 bad usage,
75 another experiment is running under the same results folder (--allow-concurrent overrides),
128+N when stopped by signal N (finished runs kept).
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping
from typing import Any

from xsched_tui.core.config import Config

EXIT_USAGE = 64
VERDICT_EXIT = {"XSCHED HELPS": 0, "SLOS MET": 0, "SPLIT REACHED": 0, "NO EFFECT": 1,
                "INCONCLUSIVE": 1}

DEFAULT_FG = "name=fg,kind=infer,priority=1,model=mlp,batch=16"
DEFAULT_BG = "name=bg,kind=matmul,priority=0"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fg", default=None, metavar="ROLE",
                   help="the latency-sensitive foreground: comma-separated key=value (name, kind, "
                   "priority, level, threshold, batch_size, utilization, p99_ms, "
                   "min_throughput_frac, deadline_ms; anything else is a workload option, e.g. "
                   f"rate=100, requests via iters=1000). Default: {DEFAULT_FG}")
    p.add_argument("--bg", default=None, metavar="ROLE",
                   help=f"the flat-out background, same syntax. Default: {DEFAULT_BG}")
    p.add_argument("--tenant", action="append", default=[], metavar="ROLE",
                   help="N tenants instead of --fg/--bg (repeatable, same syntax; Test 4: "
                   "priorities and SLOs per tenant); periodic infer tenants end a trial. Each "
                   "tenant states its own rate/iters: --fg, --bg, --partition, --rate, "
                   "--requests and --fraction are refused with it (exit 64)")
    p.add_argument("--partition", metavar="A/B",
                   help="bandwidth partition variant: both roles flat out for --seconds, "
                   "utilization A and B percent under policy PUP (e.g. 75/25); --rate, "
                   "--requests and --fraction are refused with it (exit 64)")
    p.add_argument("--rate", default=None, metavar="HZ|auto",
                   help="foreground requests per second; auto (default) = --fraction of its "
                   "flat-out peak, measured once before the plan (the paper's 20%%)")
    p.add_argument("--fraction", type=float, default=None,
                   help="for --rate auto (default 0.2)")
    p.add_argument("--requests", type=int, default=None, metavar="N",
                   help="foreground requests per run (default 1000)")
    p.add_argument("--seconds", type=float, default=10.0, metavar="S",
                   help="how long a flat-out role measures when it runs alone or in a partition "
                   "(default 10)")
    p.add_argument("--configs", default="standalone,native,xsched",
                   help="which configurations (default standalone,native,xsched; without an "
                   "XSched install: standalone,native)")
    p.add_argument("--scheduler", choices=("global", "local"), default="global",
                   help="global: the runner starts and stops `xserver POLICY PORT` and sets "
                   "XSCHED_SCHEDULER=GLB; local: XSCHED_POLICY in each process")
    p.add_argument("--policy", default=None, help="HPF (default), PUP for --partition, ...")
    p.add_argument("--xserver-port", type=int, default=None, metavar="PORT",
                   help="port of the xserver the runner starts (default: the configured one)")
    p.add_argument("--repeats", type=int, default=3, help="trials per configuration (default 3)")
    p.add_argument("--device", default=None, help="workload device (auto, cpu, cuda, cuda:N)")
    p.add_argument("--timeout", type=float, default=900.0, metavar="S",
                   help="hard limit per trial (default 900)")
    p.add_argument("--name", help="experiment name")
    p.add_argument("--allow-unproven", action="store_true",
                   help="count XSched runs whose scheduling cannot be proven as valid")
    from xsched_tui.cli_experiments import add_concurrency_argument

    add_concurrency_argument(p)
    p.add_argument("--json", action="store_true",
                   help="print result.json (schema: docs/experiment-result.schema.json)")


def build_spec(ns: argparse.Namespace, cfg: Config) -> Any:
    from dataclasses import replace

    from xsched_tui.core.priospec import SchedChoice, build_priority_spec, parse_role

    configs = tuple(c.strip() for c in ns.configs.split(",") if c.strip())
    # No flag is silently ignored: one that the chosen variant does not use is a usage error.
    given = {f: getattr(ns, a, None) for f, a in (
        ("--fg", "fg"), ("--bg", "bg"), ("--partition", "partition"), ("--rate", "rate"),
        ("--requests", "requests"), ("--fraction", "fraction"))}
    unused = ([f for f, v in given.items() if v is not None] if ns.tenant
              else [f for f in ("--rate", "--requests", "--fraction") if given[f] is not None]
              if ns.partition else [])
    if unused:
        variant = "--tenant (each tenant sets its own rate=, iters=)" if ns.tenant else \
            "--partition (both roles run flat out for --seconds)"
        raise ValueError(f"{', '.join(unused)} cannot be combined with {variant}")
    requests = 1000 if ns.requests is None else ns.requests
    rate = "auto" if ns.rate is None else ns.rate
    fraction = 0.2 if ns.fraction is None else ns.fraction
    if requests <= 0 or ns.seconds <= 0:
        raise ValueError("--requests and --seconds must be positive")
    policy = (ns.policy or ("PUP" if ns.partition else "HPF")).upper()
    sched = SchedChoice(ns.scheduler, policy, ns.xserver_port or cfg.xserver_port)
    calibrate = None
    if ns.tenant:
        roles = [parse_role(t, f"t{i + 1}") for i, t in enumerate(ns.tenant)]
        primary = None
    else:
        fg, bg = parse_role(ns.fg or DEFAULT_FG, "fg"), parse_role(ns.bg or DEFAULT_BG, "bg")
        if ns.partition:
            a, _, b = ns.partition.partition("/")
            try:
                ua, ub = int(a), int(b)
            except ValueError:
                raise ValueError(f"--partition {ns.partition!r}: expected A/B percentages") from None
            flat = {"rate": 0} if fg.kind == "infer" else {}  # only infer has a rate
            fg = replace(fg, utilization=ua, options={**fg.options, **flat,
                                                      "duration": ns.seconds})
            bg = replace(bg, utilization=ub, options={**bg.options, "duration": ns.seconds})
            roles, primary = [fg, bg], [fg.name, bg.name]
        else:
            opts = dict(fg.options)
            opts.setdefault("iters", requests)
            if rate == "auto":
                if fg.kind != "infer":
                    raise ValueError("--rate auto needs an infer foreground (kind=infer)")
                if "rate" not in opts:
                    calibrate = fg.name
            else:
                try:
                    opts.setdefault("rate", float(rate))
                except ValueError:
                    raise ValueError(f"--rate must be a number or auto, got {rate!r}") from None
            fg = replace(fg, options=opts)
            roles, primary = [fg, bg], [fg.name]
    if ns.device:
        roles = [r if "device" in r.options else replace(r, options={**r.options, "device": ns.device})
                 for r in roles]
    return build_priority_spec(cfg, roles, sched=sched, configs=configs, repeats=ns.repeats,
                               primary=primary, calibrate=calibrate,
                               calibrate_fraction=fraction, timeout_s=ns.timeout,
                               name=ns.name, allow_unproven=ns.allow_unproven, solo_s=ns.seconds)


FORM_DEFAULTS = {"fg": DEFAULT_FG, "bg": DEFAULT_BG, "tenants": "", "partition": "",
                 "rate": "auto", "requests": "1000", "fraction": "0.2", "seconds": "10",
                 "configs": "standalone,native,xsched", "scheduler": "global", "policy": "",
                 "port": "", "repeats": "3", "device": ""}


def form_namespace(v: Mapping[str, str]) -> argparse.Namespace:
    """The Priority tab's form as `xsched-tui priority` arguments (raises ValueError with the
    field's name). ``tenants``: roles separated by ``;``, which replace the fore/background and
    the rate fields; ``partition`` A/B replaces the rate fields (both roles run flat out)."""
    def get(key: str) -> str:
        return (v.get(key) if v.get(key) is not None else FORM_DEFAULTS[key]).strip()

    def num(key: str, conv, ok, what: str):
        try:
            x = conv(get(key))
        except ValueError:
            raise ValueError(f"{key}: {what}") from None
        if not ok(x):
            raise ValueError(f"{key}: {what}")
        return x

    tenants = [t.strip() for t in get("tenants").split(";") if t.strip()]
    partition = get("partition") or None
    if tenants and partition:
        raise ValueError("tenants or partition, not both")
    if tenants and len(tenants) < 2:
        raise ValueError("tenants: at least two roles, separated by ;")
    if partition and not re.fullmatch(r"\d{1,3}/\d{1,3}", partition):
        raise ValueError("partition: A/B percentages, e.g. 75/25")
    if get("scheduler") not in ("global", "local"):
        raise ValueError("scheduler: global or local")
    plain = not tenants and not partition
    port = get("port")
    return argparse.Namespace(
        fg=None if tenants else get("fg"), bg=None if tenants else get("bg"), tenant=tenants,
        partition=partition,
        rate=get("rate") if plain else None,
        requests=num("requests", int, lambda x: x > 0, "a whole number above 0") if plain
        else None,
        fraction=num("fraction", float, lambda x: 0 < x <= 1, "a number in (0, 1]") if plain
        else None,
        seconds=num("seconds", float, lambda x: 0 < x < 1e6, "a number of seconds above 0"),
        configs=get("configs"), scheduler=get("scheduler"), policy=get("policy") or None,
        xserver_port=num("port", int, lambda x: 0 < x < 65536, "a TCP port (1-65535)")
        if port else None,
        repeats=num("repeats", int, lambda x: 1 <= x <= 1000, "a whole number above 0"),
        device=get("device") or None, timeout=900.0, name=None, allow_unproven=False)


def run(ns: argparse.Namespace, cfg: Config) -> int:
    import sys

    from xsched_tui.cli_experiments import execute

    try:
        spec = build_spec(ns, cfg)
    except (ValueError, TypeError) as exc:
        print(f"xsched-tui priority: {exc}", file=sys.stderr)
        return EXIT_USAGE
    res = execute(spec, cfg, ns.json, summary_text, "priority", ns.allow_concurrent)
    if isinstance(res, int):
        return res
    verdict = str((res.analysis or {}).get("verdict"))
    return VERDICT_EXIT.get(verdict, 2)


def summary_text(doc: dict[str, Any]) -> str:
    an = doc.get("analysis") or {}
    c = doc.get("counts") or {}
    lines = [f"{doc.get('name')}: {doc.get('status')}, runs {c.get('done')}/{c.get('planned')} "
             f"({c.get('valid')} valid, {c.get('invalid')} invalid)"]
    for s in an.get("stats") or []:
        head = f"{s['valid']}/{s['runs']} valid"
        if "counted" in s:  # analysis version 2
            head += f", {s['counted']} counted"
            if s.get("crashed_at_exit"):
                head += f" ({s['crashed_at_exit']} crashed at exit)"
        bits = [f"{s['role']:<8} {s['mode']:<18} {head}"]
        if s.get("p99_ms") is not None:
            b = f"p50 {s['p50_ms']:.3g} p99 {s['p99_ms']:.3g}"
            ci = s.get("p99_ci")
            if ci and None not in ci and ci[0] != ci[1]:
                b += f" [{ci[0]:.3g}, {ci[1]:.3g}]"
            b += f" max {s['max_ms']:.3g} ms (n={s.get('requests')} requests"
            per = [v for v in s.get("p99_per_run") or [] if v is not None]
            b += (f"; run p99s {min(per):.3g}-{max(per):.3g})" if len(per) > 1 else ")")
            bits.append(b)
            r = s.get("p99_ratio")
            if r and r.get("value") is not None:
                bits.append(f"p99 {r['value']:.2f}x standalone [{r['ci_lo']:.2f}, {r['ci_hi']:.2f}]")
        elif s.get("throughput_median") is not None:
            vals = [v for v in s.get("throughput") or [] if v is not None]
            b = f"{s['throughput_median']:.4g} {s.get('throughput_unit') or ''}".rstrip()
            ci = s.get("throughput_ci")
            if ci and None not in ci and ci[0] != ci[1]:
                b += f" [{ci[0]:.4g}, {ci[1]:.4g}]"
            b += (f" (runs {min(vals):.4g}-{max(vals):.4g}, n={len(vals)})" if len(vals) > 1
                  else f" (n={len(vals)})")
            bits.append(b)
            r = s.get("throughput_ratio")
            if r and r.get("value") is not None:
                bits.append(f"{r['value']:.2f}x standalone [{r['ci_lo']:.2f}, {r['ci_hi']:.2f}]")
        if s.get("slo"):
            met = s.get("slo_met")
            bits.append("SLO met" if met else "SLO MISSED" if met is False else "SLO undecided")
        lines.append("  " + ", ".join(bits))
    for t in an.get("trials") or []:
        if not t.get("counted"):
            lines.append(f"  trial {t['trial']} ({t['mode']}) NOT counted: {t.get('why')}")
    for o in (an.get("overlap") or []) if not an.get("trials") else []:
        if not o.get("ok"):
            lines.append(f"  trial {o['trial']} ({o['mode']}): the roles did NOT overlap")
    for c_ in an.get("crashes") or []:
        lines.append(f"  crash: run {c_['run']} {c_['mode']}/{c_['role']} {c_['signal']}")
    lines.append(f"verdict: {an.get('verdict') or 'none'}"
                 + (f": {an.get('verdict_reason')}" if an.get("verdict_reason") else ""))
    lines.append(f"report: {os.path.join(str(doc.get('folder')), 'report.md')}")
    return "\n".join(lines)
