"""Relative links in Markdown: find them, read a notebook's Markdown, and move them with a file.

`relative_links` lists what a Markdown text points to inside the project (Markdown links and
images, HTML ``src``/``href``, and project paths written in backticks); `tests/test_docs.py`
checks that each resolves. `rewrite_relative_links` and `rewrite_notebook_links` keep a copied
document's links pointing at the same files when it lands in another folder (the runner copies
executed notebooks from ``notebooks/`` to ``results/<profile>/notebooks/``).
"""
from __future__ import annotations

import copy
import os
import re
from pathlib import Path

# The project's top-level folders: a backticked path starting with one of them is a project path.
PROJECT_FOLDERS = ("icm_utils", "docs", "notebooks", "results", "figures", "tests", "scripts",
                   "pretrained", "data", ".ci")
# File suffixes that make a backticked path with a "/" a file path even outside those folders.
FILE_SUFFIXES = (".md", ".py", ".ipynb", ".png", ".csv", ".json", ".yml", ".toml", ".sh")

# [text](target "title") and ![alt](target); the text may hold one level of brackets.
_MD_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?(?P<target>[^()\s<>]+)>?"
                      r"(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
_HTML_LINK = re.compile(r"""\b(?:src|href)\s*=\s*(?P<q>["'])(?P<target>[^"']*)(?P=q)""",
                        re.IGNORECASE)
_BACKTICKED = re.compile(r"(?<!`)`(?P<token>[^`\s]+)`(?!`)")
_FENCE = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1[^\n]*$", re.MULTILINE | re.DOTALL)
_PLACEHOLDER = ("<", ">", "*", "{", "}", "...")
_VARIABLE = re.compile(r"[A-Z][A-Z0-9_]*")  # RUN_DIR, DATA_DIR: names, not folders


def _is_external(target: str) -> bool:
    """URLs, mail links and pure anchors: nothing in the project to resolve."""
    return "://" in target or target.startswith(("mailto:", "#", "data:", "javascript:"))


def _strip_suffix(target: str) -> str:
    """``path#anchor``, ``path?query`` or a pytest id ``path::test_name`` -> ``path``."""
    return re.split(r"#|\?|::", target, maxsplit=1)[0]


def _is_candidate(path: str) -> bool:
    """A relative, concrete path: not empty, no placeholder, not an absolute or user path."""
    return (bool(path) and not any(mark in path for mark in _PLACEHOLDER)
            and not path.startswith(("/", "~", "$")))


def _without_fences(text: str) -> str:
    """``text`` with fenced code blocks blanked: what they hold is code, not links."""
    return _FENCE.sub("", text)


def is_project_path(token: str) -> bool:
    """Whether a backticked token names a project path: it holds a "/" and starts with one of
    `PROJECT_FOLDERS` or ends in one of `FILE_SUFFIXES` (after its ``#anchor`` or ``::test``
    part is removed). A first folder named like a variable (``RUN_DIR/results/x.csv``) is a
    placeholder, not a path."""
    path = _strip_suffix(token)
    if "/" not in path or not _is_candidate(path) or _is_external(token):
        return False
    first = next((part for part in path.split("/") if part not in ("", ".")), "")
    if _VARIABLE.fullmatch(first):
        return False
    return first in PROJECT_FOLDERS or path.endswith(FILE_SUFFIXES)


def markdown_links(text: str) -> list[str]:
    """Relative targets of the Markdown links and images and the HTML ``src``/``href``
    attributes in ``text``, in order, anchors and queries stripped (URLs and anchors left out)."""
    text = _without_fences(text)
    found = []
    for pattern in (_MD_LINK, _HTML_LINK):
        for m in pattern.finditer(text):
            target = m.group("target").strip()
            if _is_external(target):
                continue
            path = _strip_suffix(target)
            if _is_candidate(path):
                found.append((m.start(), path))
    return [path for _, path in sorted(found)]


def backticked_paths(text: str) -> list[str]:
    """Project paths written in backticks in ``text`` (see `is_project_path`), anchors stripped."""
    text = _without_fences(text)
    return [_strip_suffix(m.group("token")) for m in _BACKTICKED.finditer(text)
            if is_project_path(m.group("token"))]


def relative_links(text: str) -> list[str]:
    """Every relative link target and backticked project path in a Markdown ``text``, without
    duplicates, in order of first appearance: Markdown links and images, HTML ``src``/``href``,
    then backticked paths. URLs, ``mailto:``, pure anchors, placeholders (``<``, ``>``, ``*``,
    ``{``, ``}``, ``...``) and absolute or user paths (``/``, ``~``, ``$``) are left out;
    ``#anchor`` and ``?query`` parts are stripped. Fenced code blocks are not read."""
    return list(dict.fromkeys(markdown_links(text) + backticked_paths(text)))


def _source(value: str | list[str]) -> str:
    """A notebook field stored as one string or a list of lines, as one string."""
    return value if isinstance(value, str) else "".join(value)


def notebook_markdown(nb_json: dict) -> str:
    """The text of a notebook's Markdown cells and its ``text/markdown`` outputs, one block per
    cell or output, from the parsed ``.ipynb`` JSON."""
    blocks = []
    for cell in nb_json.get("cells", []):
        if cell.get("cell_type") == "markdown":
            blocks.append(_source(cell.get("source", "")))
        for output in cell.get("outputs", []):
            markdown = output.get("data", {}).get("text/markdown")
            if markdown is not None:
                blocks.append(_source(markdown))
    return "\n\n".join(blocks)


def _moved(target: str, src_dir: Path, dst_dir: Path, root: Path) -> str:
    """``target`` as written in ``src_dir``, rewritten to name the same file from ``dst_dir``;
    unchanged if it is external, a placeholder, or does not resolve to a file inside ``root``."""
    if _is_external(target):
        return target
    path = _strip_suffix(target)
    if not _is_candidate(path):
        return target
    resolved = Path(os.path.normpath(Path(src_dir).resolve() / path))
    root = Path(root).resolve()
    if not (resolved == root or root in resolved.parents) or not resolved.exists():
        return target
    moved = Path(os.path.relpath(resolved, Path(dst_dir).resolve())).as_posix()
    if path.endswith("/") and not moved.endswith("/"):
        moved += "/"
    return moved + target[len(path):]


def rewrite_relative_links(text: str, src_dir: Path, dst_dir: Path, root: Path) -> str:
    """``text`` (Markdown written in ``src_dir``) with every relative Markdown or HTML link target
    that resolves from ``src_dir`` to a file or folder inside ``root`` rewritten to resolve to the
    same one from ``dst_dir`` (POSIX separators; ``#anchor``/``?query`` kept). URLs, anchors,
    unresolved targets, backticked paths and fenced code blocks are left as they are."""
    def rewrite(pattern: re.Pattern, text: str) -> str:
        fences = [(m.start(), m.end()) for m in _FENCE.finditer(text)]  # of this pass's text

        def replace(m: re.Match) -> str:
            if any(start <= m.start() < end for start, end in fences):
                return m.group(0)
            start, end = (pos - m.start(0) for pos in m.span("target"))
            moved = _moved(m.group("target"), src_dir, dst_dir, root)
            return m.group(0)[:start] + moved + m.group(0)[end:]

        return pattern.sub(replace, text)

    return rewrite(_HTML_LINK, rewrite(_MD_LINK, text))


def _lines_like(original: str | list[str], text: str) -> str | list[str]:
    """``text`` stored the way ``original`` was: one string, or a list of lines."""
    return text if isinstance(original, str) else text.splitlines(keepends=True)


def rewrite_notebook_links(nb_json: dict, src_dir: Path, dst_dir: Path, root: Path) -> dict:
    """A copy of a notebook (parsed ``.ipynb`` JSON) moved from ``src_dir`` to ``dst_dir``: every
    Markdown cell and ``text/markdown`` output with its relative links rewritten by
    `rewrite_relative_links`. Lines without a link come back unchanged."""
    nb = copy.deepcopy(nb_json)
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown" and "source" in cell:
            text = _source(cell["source"])
            moved = rewrite_relative_links(text, src_dir, dst_dir, root)
            if moved != text:
                cell["source"] = _lines_like(cell["source"], moved)
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "text/markdown" in data:
                text = _source(data["text/markdown"])
                moved = rewrite_relative_links(text, src_dir, dst_dir, root)
                if moved != text:
                    data["text/markdown"] = _lines_like(data["text/markdown"], moved)
    return nb
