#!/usr/bin/env bash
# Create .venv and install the workbook: torch (CPU build) first, so nothing pulls a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[test]"
.venv/bin/python -c "import torch, nflows, icm_utils; print('workbook ready: torch', torch.__version__)"
