from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = (ROOT.parent / "shared" / "xsched" / "samples" / "h100-cuda13").resolve()
sys.path.insert(0, str(Path(__file__).resolve().parent))


def bundled_samples() -> Path:
    """The copy of the recorded H100 run shipped inside the package (falls back to ../shared)."""
    try:
        from xsched_tui.data import samples_dir

        p = samples_dir()
        if p.is_dir():
            return p
    except ImportError:
        pass
    return SAMPLES


@pytest.fixture
def samples() -> Path:
    p = bundled_samples()
    if not p.is_dir():
        pytest.skip("recorded XSched samples not found")
    return p


@pytest.fixture(autouse=True)
def _isolate_config(tmp_path_factory, monkeypatch):
    """Keep the developer's own config and XSched shell variables out of every test."""
    home = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    for k in list(os.environ):
        if k.startswith("XSCHED_") or k in ("XLOG_LEVEL", "LD_PRELOAD"):
            monkeypatch.delenv(k, raising=False)


def _gpu_visible() -> bool:
    from xsched_tui.core import gpu

    return bool(gpu.scan().devices)


def pytest_collection_modifyitems(config, items):
    """Tests marked `gpu` run on the device machine and skip cleanly everywhere else."""
    if not any(item.get_closest_marker("gpu") for item in items):
        return
    if _gpu_visible():
        return
    skip = pytest.mark.skip(reason="no GPU visible (nvidia-smi / KFD): runs on the GPU machine")
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(skip)
