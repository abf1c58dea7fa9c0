"""Models built in code (no download): the samples' MLP, a small CNN, torchvision by name."""

from __future__ import annotations

import itertools
import math
from typing import Any

from xsched_tui.workloads.device import WorkloadError


def mlp(torch: Any, width: int, layers: int) -> Any:
    """``layers`` Linear(width, width) with ReLU between them (the recorded H100 foreground:
    24 x 2048, fp16). He-normal weights keep activations O(1) through every layer, so fp16 neither
    overflows nor underflows to zeros that would compare "equal" to any reference."""
    nn = torch.nn
    mods: list[Any] = []
    for i in range(layers):
        lin = nn.Linear(width, width)
        last = i == layers - 1
        nn.init.normal_(lin.weight, 0.0, math.sqrt((1.0 if last else 2.0) / width))
        nn.init.zeros_(lin.bias)
        mods.append(lin)
        if not last:
            mods.append(nn.ReLU())
    return nn.Sequential(*mods)


def cnn(torch: Any, classes: int = 10) -> Any:
    """Four 3x3 convolutions (three with stride 2), global average pool, one linear layer."""
    nn = torch.nn
    chans = (3, 32, 64, 128, 256)
    mods: list[Any] = []
    for i, (cin, cout) in enumerate(itertools.pairwise(chans)):
        conv = nn.Conv2d(cin, cout, 3, stride=1 if i == 0 else 2, padding=1)
        nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
        nn.init.zeros_(conv.bias)
        mods += [conv, nn.ReLU()]
    mods += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(chans[-1], classes)]
    return nn.Sequential(*mods)


def torchvision_model(name: str) -> Any:
    try:
        import torchvision  # optional: only this model family needs it
    except ImportError as e:
        raise WorkloadError(f"--model {name} needs torchvision, which this interpreter cannot import "
                            f"({e}); mlp and cnn need nothing extra") from None
    try:
        return torchvision.models.get_model(name, weights=None)
    except (ValueError, KeyError) as e:
        known = ", ".join(sorted(torchvision.models.list_models())[:12])
        raise WorkloadError(f"unknown model {name!r} ({e}); mlp, cnn or a torchvision name such "
                            f"as {known}, ...") from None
