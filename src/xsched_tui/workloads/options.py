"""The workloads' command line as data: one table serves the argparse parser (in the child) and the
argv builder (``xsched_tui.core.workload_argv``, in the app). No torch here, nothing heavy.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Any

KINDS = ("matmul", "launch", "infer")
COMMON = "*"  # Option.kinds value: every kind accepts it

USAGE_EXIT = 64  # EX_USAGE (sysexits.h): the runner tells a bad command line from a failed run


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text}")
    return v


def nonneg_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text}")
    return v


def positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0: {text}")
    return v


def nonneg_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0: {text}")
    return v


def fraction(text: str) -> float:
    v = nonneg_float(text)
    if v > 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1: {text}")
    return v


@dataclass(frozen=True)
class Option:
    """One flag. ``dest`` is the keyword ``workload_argv`` accepts; ``flag`` what argparse sees."""

    dest: str
    kinds: str | tuple[str, ...]
    help: str
    type: Any = str
    default: Any = None
    choices: tuple[str, ...] | None = None
    boolean: bool = False  # store_true switch (no value)
    metavar: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.dest.replace("_", "-")

    def applies(self, kind: str) -> bool:
        return self.kinds == COMMON or kind in self.kinds


OPTIONS: tuple[Option, ...] = (
    # ---- every kind
    Option("device", COMMON, "auto (a GPU when torch sees one, else cpu), cpu, cuda or cuda:N "
           "(HIP builds of torch use the same names)", default="auto", metavar="DEV"),
    Option("warmup", COMMON, "untimed iterations/requests before measuring (default: per kind)",
           type=nonneg_int, metavar="N"),
    Option("iters", COMMON, "measured iterations (requests for infer); default: per kind",
           type=positive_int, metavar="N"),
    Option("duration", COMMON, "measure for S seconds instead of a fixed count",
           type=positive_float, metavar="S"),
    Option("seed", COMMON, "seed of torch and of the request jitter", type=int, default=0),
    Option("stream", COMMON, "explicit: torch.cuda.set_stream(torch.cuda.Stream()); default: the "
           "default stream, which XSched does NOT schedule", default="explicit",
           choices=("explicit", "default")),
    Option("sync", COMMON, "how the host waits for the GPU: block (sleeps, so process CPU time "
           "shows real overhead) or spin (lowest wake-up latency, burns a core)",
           default="block", choices=("block", "spin")),
    Option("label", COMMON, "free text copied into every start/result line", metavar="TEXT"),
    Option("ready_file", COMMON, "create this file when warm-up is done", metavar="PATH"),
    Option("wait_stdin", COMMON, "after warm-up print the ready line, then wait for one line on "
           "stdin before measuring (EOF = give up)", boolean=True),
    Option("until_stdin", COMMON, "measure until a line (or EOF) arrives on stdin (after the "
           "--wait-stdin line), then report what was measured; --duration/--iters still cap it. "
           "How an experiment stops a background role when the foreground is done",
           boolean=True),
    Option("no_parent_watch", COMMON, "keep running when the parent process dies "
           "(default: stop, so no orphan keeps a GPU busy)", boolean=True),
    # ---- matmul
    Option("size", ("matmul",), "N of the N x N x N matmul (default 4096 on a GPU, 512 on cpu)",
           type=positive_int, metavar="N"),
    # dtype is shared by matmul and infer, with different defaults (see cli.KIND_DEFAULTS).
    Option("dtype", ("matmul", "infer"), "element type (infer: auto = fp16 on a GPU, fp32 on cpu)",
           choices=("auto", "bf16", "fp16", "fp32")),
    # ---- launch
    Option("kernels", ("launch",), "tiny kernels (x.add_(1)) per iteration", type=positive_int,
           default=1000, metavar="N"),
    # ---- infer
    Option("model", ("infer",), "mlp, cnn or a torchvision model name (e.g. resnet152; needs "
           "torchvision, random weights, nothing is downloaded)", default="mlp", metavar="NAME"),
    Option("batch", ("infer",), "batch size of one request", type=positive_int, default=16,
           metavar="B"),
    Option("rate", ("infer",), "requests per second (periodic foreground role: latency per "
           "request); 0 = flat out (background role: requests/s)", type=nonneg_float, default=0.0,
           metavar="HZ"),
    Option("jitter", ("infer",), "randomise each request's start by up to +-FRAC of the period "
           "(the CUDA artifacts use 0.5)", type=fraction, default=0.0, metavar="FRAC"),
    Option("width", ("infer",), "MLP width (default 2048 on a GPU, 512 on cpu)",
           type=positive_int, metavar="W"),
    Option("layers", ("infer",), "MLP linear layers (default 24 on a GPU, 8 on cpu)",
           type=positive_int, metavar="L"),
    Option("image", ("infer",), "image side for cnn/torchvision (default 224 on a GPU, 32 on cpu)",
           type=positive_int, metavar="PX"),
)

BY_DEST = {o.dest: o for o in OPTIONS}


def options_for(kind: str) -> list[Option]:
    if kind not in KINDS:
        raise ValueError(f"unknown workload kind {kind!r} (one of {', '.join(KINDS)})")
    return [o for o in OPTIONS if o.applies(kind)]
