"""A stand-in for ``python -m xsched_tui.workloads`` (NOT a GPU workload, never imports torch).

It speaks the workload protocol (JSON lines on stdout: start, ready, progress, result | error)
so the experiment runner can be tested with real subprocesses. Behaviour comes from flags or,
for tests that go through the CLI (which passes only workload options), STANDIN_* variables:

  --metric M / STANDIN_METRIC           tflops (default), iter_ms, latency_ms, req_per_s, or
                                        by-kind (infer: latency_ms, matmul: tflops, launch: iter_ms)
  --value V / STANDIN_VALUE             the base value (default 100); STANDIN_VALUE_<KIND> (e.g.
                                        STANDIN_VALUE_INFER) wins for that kind, and so does
                                        STANDIN_XSCHED_FACTOR_<KIND> over STANDIN_XSCHED_FACTOR
  --jitter J / STANDIN_JITTER           relative spread of the values (default 0.01), seeded by pid
  --xsched-factor F / STANDIN_XSCHED_FACTOR  multiply the values when XSched variables are set
  --iters N                             measured iterations (default 5)
  --measure-s S / STANDIN_MEASURE_S     how long measuring takes (default 0.3 s)
  --hang / STANDIN_HANG=1               never finish after "ready"
  --spawn-sleeper                       start a grandchild `sleep 300`, announce its pid
  --fail / STANDIN_FAIL=1               print an error line and exit 1
  --incorrect / STANDIN_INCORRECT=1, --suspect / STANDIN_SUSPECT=1, --no-result, --exit-code N
  --warmup-s S                          delay before "ready" (default 0)
  --wait-stdin, --until-stdin, --duration S   the workload protocol's synchronised start/stop
  --crash-at-exit / STANDIN_CRASH_AT_EXIT=1   SIGSEGV after the result line (as on the H100)
  STANDIN_IGNORE_TERM=1                 ignore SIGTERM (only SIGKILL stops it)
Unknown options (--size, --device, ...) are accepted and echoed in the start line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time


def emit(**msg: object) -> None:
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    if argv[:2] == ["-m", "xsched_tui.workloads"]:
        argv = argv[2:]
    env = os.environ
    p = argparse.ArgumentParser()
    p.add_argument("kind", nargs="?", default="matmul")
    p.add_argument("--metric", default=env.get("STANDIN_METRIC", "tflops"))
    p.add_argument("--value", type=float, default=None)
    p.add_argument("--jitter", type=float, default=float(env.get("STANDIN_JITTER", "0.01")))
    p.add_argument("--xsched-factor", type=float, default=None)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--measure-s", type=float, default=float(env.get("STANDIN_MEASURE_S", "0.3")))
    p.add_argument("--warmup-s", type=float, default=0.0)
    p.add_argument("--hang", action="store_true", default=env.get("STANDIN_HANG") == "1")
    p.add_argument("--spawn-sleeper", action="store_true")
    p.add_argument("--fail", action="store_true", default=env.get("STANDIN_FAIL") == "1")
    p.add_argument("--incorrect", action="store_true", default=env.get("STANDIN_INCORRECT") == "1")
    p.add_argument("--suspect", action="store_true", default=env.get("STANDIN_SUSPECT") == "1")
    p.add_argument("--no-result", action="store_true")
    p.add_argument("--exit-code", type=int, default=0)
    p.add_argument("--wait-stdin", action="store_true")
    p.add_argument("--until-stdin", action="store_true")
    p.add_argument("--duration", type=float, default=None)
    p.add_argument("--crash-at-exit", action="store_true",
                   default=env.get("STANDIN_CRASH_AT_EXIT") == "1")
    ns, rest = p.parse_known_args(argv)
    kind = str(ns.kind).upper()
    if ns.value is None:
        ns.value = float(env.get(f"STANDIN_VALUE_{kind}", env.get("STANDIN_VALUE", "100")))
    if ns.xsched_factor is None:
        ns.xsched_factor = float(env.get(f"STANDIN_XSCHED_FACTOR_{kind}",
                                         env.get("STANDIN_XSCHED_FACTOR", "1")))
    if ns.metric == "by-kind":
        ns.metric = {"infer": "latency_ms", "launch": "iter_ms"}.get(ns.kind, "tflops")

    if env.get("STANDIN_IGNORE_TERM") == "1":  # a stubborn workload: only SIGKILL stops it
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    t0, c0 = time.perf_counter(), time.process_time()
    emit(type="start", kind=ns.kind, pid=os.getpid(), device="cpu", options=rest)
    if ns.fail:
        emit(type="error", message="stand-in asked to fail")
        return 1
    if ns.spawn_sleeper:
        kid = subprocess.Popen(["sleep", "300"])
        emit(type="note", sleeper_pid=kid.pid)
    time.sleep(ns.warmup_s)
    emit(type="ready")
    if ns.wait_stdin and sys.stdin.readline() == "":
        emit(type="error", message="stdin closed before the go line")
        return 1
    told = threading.Event()
    if ns.until_stdin:
        def watch() -> None:
            sys.stdin.readline()
            told.set()
        threading.Thread(target=watch, daemon=True).start()
    if ns.hang:
        while True:
            time.sleep(1)
    measure_t0 = time.time()
    xsched = any(k.startswith("XSCHED_") and not k.startswith("XSCHED_TUI_") for k in env)
    factor = ns.xsched_factor if xsched else 1.0
    rng = random.Random(os.getpid())
    values = []
    i = 0
    while True:
        if ns.until_stdin:
            if i > 0 and (told.is_set() or (ns.duration is not None
                          and time.time() - measure_t0 >= ns.duration)):
                break
        elif i >= ns.iters:
            break
        i += 1
        time.sleep(ns.measure_s / max(1, ns.iters))
        v = ns.value * factor * (1 + ns.jitter * (rng.random() - 0.5))
        values.append(v)
        emit(type="progress", done=i, total=ns.iters, last=v,
             **({"recent": [v]} if ns.metric == "latency_ms" else {}))
    if ns.no_result:
        return ns.exit_code
    s = sorted(values)
    n = len(s)
    med = s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
    summary = {"n": n, "median": med, "mean": sum(s) / n, "p50": med, "p90": s[-1], "p95": s[-1],
               "p99": s[-1], "min": s[0], "max": s[-1]}
    units = {"tflops": "TFLOP/s", "iter_ms": "ms", "latency_ms": "ms", "req_per_s": "req/s"}
    emit(type="result", kind=ns.kind, metric=ns.metric, unit=units.get(ns.metric, ns.metric),
         values=values, summary=summary, correct=not ns.incorrect, suspect=ns.suspect,
         suspect_reason="stand-in asked to be suspect" if ns.suspect else None,
         cpu_time_s=time.process_time() - c0, wall_s=time.perf_counter() - t0, device="cpu",
         timing="cpu_clock", stream="explicit", measure_t0=measure_t0, measure_t1=time.time(),
         stopped_by="stdin" if told.is_set() else "limit",
         **({"requests": n, "req_per_s": n / max(time.time() - measure_t0, 1e-9)}
            if ns.metric in ("req_per_s", "latency_ms") else {}),
         **({"tflops": med} if ns.metric == "tflops" else {}))
    if ns.crash_at_exit:
        os.kill(os.getpid(), signal.SIGSEGV)
    return ns.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
