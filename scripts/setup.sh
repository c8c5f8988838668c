#!/usr/bin/env bash
# Create .venv and install the workbook: torch first, so nothing pulls another torch build.
#   TORCH_INDEX_URL  optional wheel index for torch==2.13.0: PyTorch's CPU index
#                    (https://download.pytorch.org/whl/cpu) on a stock Linux machine without a GPU,
#                    or a CUDA one (e.g. .../whl/cu126) for a GPU; unset: pip's own configuration
#                    (PyPI's default build, or what this machine's pip config supplies)
#   PYTHON           the interpreter for the venv (default python3)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
if [ -n "${TORCH_INDEX_URL:-}" ]; then
    .venv/bin/python -m pip install --quiet "torch==2.13.0" --index-url "$TORCH_INDEX_URL"
else
    .venv/bin/python -m pip install --quiet "torch==2.13.0"
fi
.venv/bin/python -m pip install --quiet -e ".[test]"
.venv/bin/python -c "import torch, nflows, icm_utils; print('workbook ready: torch', torch.__version__,
'| training device:', icm_utils.auto_device())"
