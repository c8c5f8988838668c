"""Relative links: which targets a Markdown text names, a notebook's Markdown, and links kept
pointing at the same files when a document moves one folder deeper."""
from pathlib import Path

from icm_utils.core.links import (
    notebook_markdown,
    relative_links,
    rewrite_notebook_links,
    rewrite_relative_links,
)

TEXT = """\
# A page

See [the results](docs/results.md#the-main-job), the ![figure](../figures/a.png "a title"),
<img src="figures/b.png" width="300"> and <a href='notebooks/'>the notebooks</a>.
Paths in backticks: `results/causal_cf/`, `tests/explore/test_browser.py`,
`icm_utils/model/recipes.py`, `.ci/run`, `sub/page.md#part` and a pytest id
`tests/model/test_models.py::test_attributes_and_warmup`.

Skipped: [a URL](https://arxiv.org/abs/2306.01213), [mail](mailto:a@b.c), [anchor](#top),
<a href="http://example.org/x.png">x</a>, `figures/06_grid_<graph>.png`, `runs/*/models/`,
`results/{a,b}.csv`, `results/.../x.csv`, `/path/to/causal_circuit`, `~/icm_runs/ablation`,
`$HOME/docs/x.md`, `RUN_DIR/results/table.csv`, `icm_utils.model.recipes`, `EPOCHS=30`,
`README.md` (no folder), `k/n` (no project folder, no file suffix).

```bash
python -m icm_utils.reproduce  # [not a link](docs/fenced.md) `docs/fenced.md`
```
"""


def test_relative_links_finds_each_kind_and_skips_urls_anchors_and_placeholders():
    assert relative_links(TEXT) == [
        "docs/results.md", "../figures/a.png", "figures/b.png", "notebooks/",
        "results/causal_cf/", "tests/explore/test_browser.py", "icm_utils/model/recipes.py",
        ".ci/run", "sub/page.md", "tests/model/test_models.py",
    ]


def test_relative_links_lists_a_target_once_and_reads_no_code_block():
    text = "[a](x/y.md) and [b](x/y.md#z), `docs/a.md`, `docs/a.md`\n```\n[c](x/c.md)\n```\n"
    assert relative_links(text) == ["x/y.md", "docs/a.md"]
    assert relative_links("no links at all, 3/4 of them") == []


def _cell(kind, source, outputs=None):
    cell = {"cell_type": kind, "metadata": {}, "source": source}
    if kind == "code":
        cell["outputs"] = outputs or []
    return cell


NOTEBOOK = {
    "cells": [
        _cell("markdown", ["# Title\n", "Tables: [results](../docs/results.md).\n", "Plain line."]),
        _cell("code", ["x = 1"], [{"output_type": "display_data", "metadata": {},
                                   "data": {"text/markdown": ["A [reading](../docs/metrics.md)"],
                                            "text/plain": ["<IPython.core.display.Markdown>"]}}]),
        _cell("markdown", "One string: `docs/counterfactuals.md`, [web](https://example.org)"),
    ],
    "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
}


def test_notebook_markdown_joins_markdown_cells_and_markdown_outputs():
    text = notebook_markdown(NOTEBOOK)
    assert "Tables: [results](../docs/results.md)." in text
    assert "A [reading](../docs/metrics.md)" in text
    assert "x = 1" not in text and "IPython" not in text
    assert relative_links(text) == ["../docs/results.md", "../docs/metrics.md",
                                    "docs/counterfactuals.md"]


def _project(tmp_path: Path) -> Path:
    """A small checkout: docs/results.md, figures/a.png, notebooks/ and a deeper copy folder."""
    for name in ("docs/results.md", "figures/a.png", "notebooks/01.ipynb"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    (tmp_path / "results" / "quick" / "notebooks").mkdir(parents=True)
    return tmp_path


def test_a_rewritten_link_resolves_to_the_same_file_one_folder_deeper(tmp_path):
    root = _project(tmp_path)
    src, dst = root / "notebooks", root / "results" / "quick" / "notebooks"
    text = ('[r](../docs/results.md#the-main-job) ![f](../figures/a.png) <img src="../figures/a.png">'
            " [web](https://example.org/a) [top](#top) [gone](../docs/missing.md) `../docs/results.md`"
            " [self](01.ipynb)")
    moved = rewrite_relative_links(text, src, dst, root)
    assert moved == ('[r](../../../docs/results.md#the-main-job) ![f](../../../figures/a.png) '
                     '<img src="../../../figures/a.png"> [web](https://example.org/a) [top](#top) '
                     "[gone](../docs/missing.md) `../docs/results.md` [self](../../../notebooks/01.ipynb)")
    for old, new in [("../docs/results.md", "../../../docs/results.md"),
                     ("../figures/a.png", "../../../figures/a.png")]:
        assert (src / old).resolve() == (dst / new).resolve()
    # back again, and a move within the same folder changes nothing
    assert rewrite_relative_links(moved, dst, src, root) == text
    assert rewrite_relative_links(text, src, src, root) == text


def test_a_link_leaving_the_project_is_not_rewritten(tmp_path):
    root = _project(tmp_path / "checkout")
    (tmp_path / "outside.md").write_text("x")
    text = "[o](../../outside.md)"
    assert rewrite_relative_links(text, root / "notebooks", root / "results", root) == text


def test_rewrite_notebook_links_changes_only_the_lines_with_links(tmp_path):
    root = _project(tmp_path)
    (root / "docs" / "metrics.md").write_text("x")
    nb = rewrite_notebook_links(NOTEBOOK, root / "notebooks", root / "results" / "quick" / "notebooks",
                                root)
    assert nb["cells"][0]["source"] == ["# Title\n", "Tables: [results](../../../docs/results.md).\n",
                                        "Plain line."]
    assert nb["cells"][1]["outputs"][0]["data"]["text/markdown"] == [
        "A [reading](../../../docs/metrics.md)"]
    assert nb["cells"][1]["source"] == ["x = 1"]
    assert nb["cells"][2]["source"] == NOTEBOOK["cells"][2]["source"]  # a string stays a string
    assert NOTEBOOK["cells"][0]["source"][1] == "Tables: [results](../docs/results.md).\n"  # a copy
