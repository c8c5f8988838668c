"""icm_utils: the computing half of the ICM-VAE workbook (the notebooks explain, this computes)."""
from icm_utils.core.paths import DATA_DIR, FIGURES_DIR, PROJECT_ROOT, RESULTS_DIR, RUNS_DIR
from icm_utils.core.utils import auto_device, seed_everything
from icm_utils.data.graph import CIRCUIT_GRAPH, FLOW_GRAPH, PENDULUM_GRAPH, CausalGraph, GraphError

__version__ = "0.1.0"
__all__ = [
    "CausalGraph", "GraphError", "PENDULUM_GRAPH", "FLOW_GRAPH", "CIRCUIT_GRAPH",
    "PROJECT_ROOT", "DATA_DIR", "FIGURES_DIR", "RESULTS_DIR", "RUNS_DIR",
    "seed_everything", "auto_device",
]
