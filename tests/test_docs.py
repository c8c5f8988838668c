"""Docs kept true: every relative link and project path the Markdown names resolves.

For each document (the README, CONTRIBUTING, docs/*.md, the folder READMEs, the notebooks'
Markdown cells and the committed executed notebooks in results/*/notebooks/), every target
`icm_utils.core.links.relative_links` finds must be an existing file or folder: a Markdown/HTML
link from the folder of the file that holds it; a backticked project path from that folder or,
failing that, from the project root (the docs write `docs/results.md` from every folder).
(tests/README.md is left out: its module column is relative to icm_utils/, checked by
test_layers.py.)
"""
import json

import pytest

from icm_utils.core.links import backticked_paths, markdown_links, notebook_markdown
from icm_utils.core.paths import PROJECT_ROOT

ROOT = PROJECT_ROOT
PATTERNS = ["README.md", "CONTRIBUTING.md", "docs/*.md", "data/README.md", "pretrained/README.md",
            "results/**/README.md", "notebooks/*.ipynb", "results/*/notebooks/*.ipynb"]
DOCUMENTS = sorted({p.relative_to(ROOT).as_posix() for pattern in PATTERNS for p in ROOT.glob(pattern)})

# Paths in the official code (github.com/Akomand/ICM-VAE), named by the docs that describe it;
# they are not files of this project.
OTHER_REPOSITORY = {
    ("docs/circuit.md", "experiments/train_circuit.py"),
    ("docs/official_code.md", "models/icm_vae.py"),
    ("docs/official_code.md", "models/prior.py"),
    ("docs/official_code.md", "codebase/models/shared/causal_masked_flow.py"),
    ("docs/official_code.md", "codebase/utils.py"),
    ("docs/official_code.md", "experiments/train_pendulum.py"),
}

# Broken today, in text this change may not edit (the notebooks are edited with their outputs).
# Delete an entry once its link is fixed: its xfail is strict, so a fixed entry fails as XPASS.
KNOWN_BROKEN: dict[tuple[str, str], str] = {}  # (document, target): why, while it is fixed


def _text(document: str) -> str:
    path = ROOT / document
    if path.suffix == ".ipynb":
        return notebook_markdown(json.loads(path.read_text(encoding="utf-8")))
    return path.read_text(encoding="utf-8")


def broken_targets(document: str) -> list[str]:
    """The targets in ``document`` that name no existing file or folder."""
    text, folder = _text(document), (ROOT / document).parent
    links = [t for t in markdown_links(text) if not (folder / t).exists()]
    paths = [t for t in backticked_paths(text)
             if not (folder / t).exists() and not (ROOT / t).exists()]
    return list(dict.fromkeys(links + paths))


def test_the_documents_are_found():
    for expected in ("README.md", "docs/results.md", "notebooks/05_counterfactuals.ipynb",
                     "results/quick/notebooks/05_counterfactuals.ipynb"):
        assert expected in DOCUMENTS


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_relative_link_and_path_resolves(document):
    exempt = {t for d, t in OTHER_REPOSITORY | set(KNOWN_BROKEN) if d == document}
    broken = [t for t in broken_targets(document) if t not in exempt]
    assert not broken, f"{document}: links or paths to nothing: {broken}"


@pytest.mark.parametrize("document, target", [
    pytest.param(d, t, marks=pytest.mark.xfail(strict=True, reason=f"{d} -> {t}: {why}"),
                 id=f"{d}->{t}") for (d, t), why in sorted(KNOWN_BROKEN.items())])
def test_known_broken_link_is_fixed(document, target):
    """Fails (expected) while the entry is broken; passes once it is fixed or gone."""
    assert target not in broken_targets(document)


def test_paths_of_the_official_code_are_still_named():
    """The exemptions above are still needed (a stale entry would hide a broken path)."""
    stale = [(d, t) for d, t in sorted(OTHER_REPOSITORY) if t not in broken_targets(d)]
    assert not stale, f"no longer named (or now a project file): delete from OTHER_REPOSITORY: {stale}"
