#!/usr/bin/env bash
# The whole test suite, from a fresh clone: makes .venv, installs the package with its test
# extras and PyTorch (CPU wheel where the machine has one; torch is a test-only install, never a
# dependency of xsched-tui), lints, then runs pytest. Extra arguments go to pytest.
# XSCHED_TUI_TEST_TORCH=0 skips the torch install (torch-backed tests then skip themselves).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
if [ "${XSCHED_TUI_TEST_TORCH:-1}" != "0" ] && ! .venv/bin/python -c 'import torch' 2>/dev/null; then
  .venv/bin/python -m pip install -q --disable-pip-version-check 'torch==2.13.0'
fi
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -q "$@"
