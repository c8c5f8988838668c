"""Every path in the workbook is anchored here, never hard-coded elsewhere."""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # icm_utils/core/paths.py -> the checkout
# Generated data and runs may be redirected (e.g. to a scratch disk) by environment variables.
DATA_DIR = Path(os.environ.get("ICM_DATA_DIR", PROJECT_ROOT / "data"))
RUNS_DIR = Path(os.environ.get("ICM_RUNS_DIR", PROJECT_ROOT / "runs"))
FIGURES_DIR = PROJECT_ROOT / "figures"
RESULTS_DIR = PROJECT_ROOT / "results"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"


def ensure_dir(path: Path | str) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    return path
