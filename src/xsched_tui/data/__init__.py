"""Data shipped inside the wheel: a verbatim copy of the real H100 XSched run (never edited)."""

from __future__ import annotations

from pathlib import Path


def samples_dir() -> Path:
    """The bundled recording of real XSched runs on an H100 (see its README.md)."""
    return Path(__file__).resolve().parent / "samples" / "h100-cuda13"
