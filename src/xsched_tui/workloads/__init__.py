"""GPU workloads that xsched-tui runs as SUBPROCESSES: ``python -m xsched_tui.workloads KIND ...``.

They run in the user's workload interpreter (the one with PyTorch), never inside the app: only
functions of this package import torch, and the rest of xsched_tui imports nothing from here
except the torch-free :mod:`xsched_tui.workloads.options` (to build argv, see
``xsched_tui.core.workload_argv``). The package needs nothing but the standard library and torch,
so a foreign interpreter can run it with this package's folder on ``PYTHONPATH``.

Kinds: ``matmul`` (TFLOP/s), ``launch`` (a storm of tiny kernels), ``infer`` (an MLP, a small CNN
or a torchvision model; periodic requests with per-request latency, or flat-out requests/s).

Protocol: JSON lines on stdout, one object per line, flushed: ``start``, ``ready`` (after
warm-up), ``progress`` (at most ~4 per second), then ``result`` or ``error``.
``docs/workload-output.schema.json`` is the contract. Anything else a library prints goes to stderr.

Exit codes: 0 a result was written (even a wrong or suspect one: the verdict is the runner's),
1 an error line was written, 64 bad arguments, death by SIGTERM/SIGINT/SIGHUP after an error line
when signalled.
"""

from xsched_tui.workloads.options import KINDS

__all__ = ["KINDS"]
