"""Paths: anchored at the checkout, data and runs redirectable by environment variables."""
import importlib.util
from pathlib import Path

from icm_utils.core import paths


def _fresh_paths(monkeypatch, **env):
    """paths.py executed anew under ``env`` (a separate module: the package's stays as it is)."""
    for key in ("ICM_DATA_DIR", "ICM_RUNS_DIR"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    spec = importlib.util.spec_from_file_location("_fresh_paths", paths.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_project_root_is_the_checkout():
    """PROJECT_ROOT holds pyproject.toml and the package (not icm_utils/ itself: data written
    under DATA_DIR would otherwise land inside the package)."""
    checkout = Path(__file__).resolve().parents[2]
    assert paths.PROJECT_ROOT == checkout
    assert (paths.PROJECT_ROOT / "pyproject.toml").is_file()
    assert paths.FIGURES_DIR == checkout / "figures" and paths.RESULTS_DIR == checkout / "results"


def test_data_and_runs_default_to_the_checkout_and_follow_the_environment(monkeypatch, tmp_path):
    default = _fresh_paths(monkeypatch)
    assert default.DATA_DIR == paths.PROJECT_ROOT / "data"
    assert default.RUNS_DIR == paths.PROJECT_ROOT / "runs"
    moved = _fresh_paths(monkeypatch, ICM_DATA_DIR=str(tmp_path / "d"), ICM_RUNS_DIR=str(tmp_path / "r"))
    assert (moved.DATA_DIR, moved.RUNS_DIR) == (tmp_path / "d", tmp_path / "r")


def test_ensure_dir_creates_nested_folders_and_returns_the_path(tmp_path):
    out = paths.ensure_dir(str(tmp_path / "x" / "y"))
    assert out == tmp_path / "x" / "y" and out.is_dir()
    assert paths.ensure_dir(out) == out  # existing: no error
