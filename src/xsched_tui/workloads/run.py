"""One workload run: set up, warm up, (wait), measure, check, report. torch is imported here only."""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any

from xsched_tui.workloads.base import Workload
from xsched_tui.workloads.device import Device, WorkloadError, resolve, select_stream
from xsched_tui.workloads.emit import Emitter, summarize
from xsched_tui.workloads.timing import CpuTimer, EventTimer

MAX_RECENT = 1000  # latencies per progress line at most
LATE_FRACTION = 0.1  # a request that starts more than this part of a period after its slot is late


@dataclass
class RunState:
    """Where the run is, for the error line written when a signal ends it."""

    phase: str = "start-up"
    done: int = 0
    total: int | None = None

    def describe(self) -> str:
        if self.phase != "measurement":
            return f"during {self.phase}"
        of = f" of {self.total}" if self.total is not None else ""
        return f"during measurement ({self.done}{of} done)"


@dataclass(frozen=True)
class Stop:
    iters: int | None
    duration: float | None
    told: threading.Event | None = None  # --until-stdin: set when the stop line arrives

    def reached(self, done: int, elapsed: float) -> bool:
        if self.told is not None and self.told.is_set():
            return True
        if self.iters is not None:
            return done >= self.iters
        if self.duration is None:
            return False  # only the stop line ends it
        return elapsed >= self.duration


def _stop_line_watch() -> threading.Event:
    """--until-stdin: an event set by the next line on stdin, or by EOF (the runner is gone)."""
    told = threading.Event()

    def watch() -> None:
        try:
            sys.stdin.readline()
        except (OSError, ValueError):
            pass
        told.set()

    threading.Thread(target=watch, name="until-stdin", daemon=True).start()
    return told


def _build(torch: Any, device: Device, ns: argparse.Namespace) -> Workload:
    if ns.kind == "matmul":
        from xsched_tui.workloads.matmul import Matmul

        size = ns.size or (4096 if device.is_gpu else 512)
        return Matmul(torch, device, size=size, dtype=ns.dtype if ns.dtype not in (None, "auto") else "bf16")
    if ns.kind == "launch":
        from xsched_tui.workloads.launch import Launch

        return Launch(torch, device, kernels=ns.kernels)
    from xsched_tui.workloads.infer import Infer

    return Infer(torch, device, model=ns.model, batch=ns.batch, dtype=ns.dtype, rate=ns.rate,
                 width=ns.width, layers=ns.layers, image=ns.image)


def _cpu_seconds() -> float:
    # CLOCK_PROCESS_CPUTIME_ID: every thread of this process (XSched's launch workers included),
    # at ns resolution (os.times() ticks in 10 ms steps, too coarse for a short run).
    return time.process_time()


def _ready(em: Emitter, ns: argparse.Namespace, warmup_s: float) -> None:
    if ns.ready_file:
        tmp = f"{ns.ready_file}.{os.getpid()}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(json.dumps({"pid": os.getpid(), "t": time.time()}) + "\n")
            os.replace(tmp, ns.ready_file)  # a runner polling for it never sees it half-written
        except OSError as e:
            raise WorkloadError(f"cannot create --ready-file {ns.ready_file}: {e.strerror or e}") from None
    em.emit("ready", t=time.time(), warmup_s=warmup_s, waiting=bool(ns.wait_stdin))
    if ns.wait_stdin and sys.stdin.readline() == "":
        raise WorkloadError("stdin closed before the line that starts the measurement (--wait-stdin)")


def _throughput(wl: Workload, timer: CpuTimer | EventTimer, stop: Stop, em: Emitter,
                state: RunState) -> tuple[list[float], int]:
    """Back to back iterations; returns (ms per iteration, iterations submitted)."""
    ms: list[float] = []
    i = 0
    t0 = time.perf_counter()
    while not stop.reached(i, time.perf_counter() - t0):
        ms += timer.submit(wl.step)
        i += 1
        if em.progress_due():
            ms += timer.ready()
            state.done = len(ms)
            em.progress(len(ms), stop.iters, wl.value(ms[-1]) if ms else None)
    ms += timer.drain()
    state.done = len(ms)
    return ms, i


Periodic = tuple[list[float], list[float], int, float]


def _periodic(wl: Workload, timer: CpuTimer | EventTimer, stop: Stop, rate: float, jitter: float,
              rng: random.Random, em: Emitter, state: RunState) -> Periodic:
    """One request per period (open loop).

    Returns (host latency ms, device ms, late requests, achieved rate: requests per second
    between the first and the last start).

    A request that overruns its slot delays the next one, which then starts at once (and counts as
    late) instead of queueing up a burst.
    """
    period = 1.0 / rate
    lat: list[float] = []
    dev: list[float] = []
    late = 0
    t0 = time.perf_counter()
    first = last = t0
    k = sent = 0
    while True:
        slot = k * period
        if (stop.told is not None and stop.told.is_set()) or (
                stop.iters is not None and k >= stop.iters) or (
                stop.iters is None and stop.duration is not None and slot >= stop.duration):
            break
        target = t0 + slot + (rng.uniform(-jitter, jitter) * period if jitter else 0.0)
        delay = target - time.perf_counter()
        if delay > 0:
            if stop.told is not None:
                if stop.told.wait(delay):
                    break
            else:
                time.sleep(delay)
        elif -delay > LATE_FRACTION * period:
            late += 1
        last = time.perf_counter()
        if k == 0:
            first = last
        host, d = timer.request(wl.step)
        lat.append(host)
        dev.append(d)
        k += 1
        state.done = k
        # Every latency since the previous progress line rides along (bounded), so a live view
        # can show the p99 so far, not just the last request.
        if em.progress(k, state.total, host, recent=lat[max(sent, k - MAX_RECENT):k]):
            sent = k
    achieved = (k - 1) / (last - first) if k > 1 and last > first else 0.0
    return lat, dev, late, achieved


def _periodic_total(stop: Stop, rate: float) -> int | None:
    if stop.iters is not None:
        return stop.iters
    if stop.duration is None:
        return None
    return math.ceil(stop.duration * rate - 1e-9)


def run(ns: argparse.Namespace, em: Emitter, state: RunState) -> int:
    # A CPU-only interpreter without numpy warns at import; it is noise for these workloads.
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
    import torch

    torch.set_grad_enabled(False)  # inference only; also saves autograd bookkeeping per op
    torch.manual_seed(ns.seed)
    device = resolve(torch, ns.device)
    select_stream(torch, device, ns.stream)
    state.phase = "set-up"
    wl = _build(torch, device, ns)
    timer: CpuTimer | EventTimer = (EventTimer(torch, blocking=ns.sync == "block") if device.is_gpu
                                    else CpuTimer())
    periodic = ns.kind == "infer" and ns.rate > 0
    # Periodic latency is submit -> done on the host clock, even on a GPU (see EventTimer.request).
    timing = "cpu_clock" if periodic else timer.name
    common = {"device": device.name, "device_name": device.device_name, "backend": device.backend,
              "timing": timing, "stream": ns.stream, "label": ns.label, "pid": os.getpid()}
    describe = wl.describe()
    em.emit("start", kind=ns.kind, args=vars(ns), torch=torch.__version__,
            python=sys.version.split()[0], sync=ns.sync, **common, **describe)

    state.phase = "warm-up"
    warmup = wl.default_warmup if ns.warmup is None else ns.warmup
    t_w = time.perf_counter()
    for _ in range(warmup):
        wl.step()
    if device.is_gpu:
        torch.cuda.synchronize(device.torch_device)
    wl.before_measure()
    _ready(em, ns, time.perf_counter() - t_w)

    told = _stop_line_watch() if ns.until_stdin else None
    if ns.duration:
        stop = Stop(None, ns.duration, told)
    elif ns.until_stdin and ns.iters is None:
        stop = Stop(None, None, told)  # as long as the runner wants
    else:
        stop = Stop(ns.iters or wl.default_iters, None, told)
    state.phase = "measurement"
    state.total = _periodic_total(stop, ns.rate) if periodic else stop.iters
    # The measurement window on the wall clock: an experiment proves from these that the roles
    # of one configuration really ran at the same time.
    measure_t0 = time.time()
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    extra: dict[str, Any]
    if periodic:
        rng = random.Random(ns.seed)
        values, dev_ms, late, achieved = _periodic(wl, timer, stop, ns.rate, ns.jitter, rng, em, state)
        wall = time.perf_counter() - t0
        iterations = len(values)
        s = summarize(values)
        ds = summarize(dev_ms)
        extra = {"requests": iterations, "achieved_hz": achieved,
                 "late": late, "p50_ms": s["p50"], "p90_ms": s["p90"], "p99_ms": s["p99"],
                 "max_ms": s["max"], "mean_ms": s["mean"], "device_ms": dev_ms,
                 "device_ms_p50": ds["p50"], "device_ms_p99": ds["p99"],
                 "device_timing": timer.name}
    else:
        dev_ms, iterations = _throughput(wl, timer, stop, em, state)
        wall = time.perf_counter() - t0
        values = [wl.value(m) for m in dev_ms]
        extra = wl.extras(dev_ms, wall, iterations)
    extra = {**describe, **extra, "measure_t0": measure_t0, "measure_t1": time.time(),
             "stopped_by": "stdin" if told is not None and told.is_set() else "limit"}
    cpu = _cpu_seconds() - cpu0
    em.progress(len(values), state.total, values[-1] if values else None, force=True)

    state.phase = "check"
    check = wl.check(iterations)
    reasons = []
    if not check.correct:
        reasons.append(f"wrong result: {check.reason}")
    fast = wl.too_fast(dev_ms, getattr(wl, "dtype", "fp32"))
    if fast:
        reasons.append(f"too fast: {fast}")
    em.emit("result", kind=ns.kind, metric=wl.metric, unit=wl.unit, values=values, summary=summarize(values),
            correct=check.correct, suspect=bool(reasons), suspect_reason="; ".join(reasons) or None,
            cpu_time_s=cpu, wall_s=wall, warmup=warmup, **common, **check.fields, **extra)
    state.phase = "exit"
    return 0
