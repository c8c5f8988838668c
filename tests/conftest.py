"""Tests mirror the package: tests/<layer>/test_<module>.py; end-to-end tests (runner, report,
scripts, the CausalCircuit smoke run, the layer contract) stay at the top. Shared helpers
(circuit_fixture) live here, importable from every folder."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
