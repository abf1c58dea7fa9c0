"""Only the optional C scanner of the live log tail (src/xsched_tui/core/_logscan.c); everything
else is in pyproject.toml. optional=True: without a C compiler (or Python headers) the build warns
and the package installs without it; logparse.py then uses its Python loop (same records, ~3x
the CPU per line)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("xsched_tui.core._logscan", ["src/xsched_tui/core/_logscan.c"], optional=True,
                  extra_compile_args=["-O2"]),
    ],
)
