"""The package's structure as tests: the layer contract (import-linter, pyproject.toml), no
imports inside functions (the optional heavy dependencies aside), no import cycle between
modules, and each subpackage's docstring saying what it may import, and its code keeping to it.

Everything but the first check reads the sources with ``ast``; nothing of the package is imported.
"""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "icm_utils"
# the only imports allowed inside a function: optional heavy dependencies, loaded when used
LAZY_IMPORTS = {
    "training/sweep.py": {"dask"},
    "reproduce.py": {"papermill", "nbformat", "jupyter_client", "zmq", "traitlets"},
}


# ---------------------------------------------------------------- helpers (take the package dir)
def module_files(package: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package (``__init__`` = the package)."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def function_imports(package: Path) -> list[str]:
    """``file:line: statement`` of each import inside a function or method that is not allowed."""
    found = []
    for path in module_files(package).values():
        rel = path.relative_to(package).as_posix()
        allowed = LAZY_IMPORTS.get(rel, set())
        nodes = {}  # by position: an import in a nested function is seen once
        for fn in ast.walk(_parse(path)):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                for node in ast.walk(fn):
                    if isinstance(node, (ast.Import, ast.ImportFrom)):
                        nodes[(node.lineno, node.col_offset)] = node
        for (line, _), node in sorted(nodes.items()):
            if isinstance(node, ast.ImportFrom):  # a relative import is never a dependency
                tops = {node.module.split(".")[0] if node.level == 0 and node.module else "."}
            else:
                tops = {a.name.split(".")[0] for a in node.names}
            if not tops <= allowed:
                found.append(f"{path.relative_to(package.parent)}:{line}: {ast.unparse(node)}")
    return found


def import_graph(package: Path) -> dict[str, dict[str, int]]:
    """module -> {imported package module: line of the first import}, from every import
    statement (module level or not). ``from a import b`` is an edge to ``a.b`` when b is a
    module, else to ``a``; relative imports are resolved. Parent packages a module's import
    initialises implicitly are not edges (every import would otherwise cycle through
    ``icm_utils/__init__``)."""
    modules = module_files(package)
    root = package.name
    graph: dict[str, dict[str, int]] = {m: {} for m in modules}

    def nearest(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    for mod, path in modules.items():
        pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(_parse(path)):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = pkg.rsplit(".", node.level - 1)[0] if node.level > 1 else pkg
                    base = f"{anchor}.{base}" if base else anchor
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]
            for t in targets:
                if t == root or t.startswith(root + "."):
                    target = nearest(t)
                    if target and target != mod:
                        graph[mod].setdefault(target, node.lineno)
    return graph


def find_cycle(graph: dict[str, dict[str, int]]) -> list[str] | None:
    """One cycle as [m0, m1, ..., m0], or None for an acyclic graph (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for nxt in sorted(graph.get(m, {})):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (cycle := visit(m)):
            return cycle
    return None


def subpackages(package: Path) -> dict[str, Path]:
    """Subpackage name (``core``, ``data``, ...) -> its ``__init__.py``."""
    return {p.parent.name: p for p in sorted(package.glob("*/__init__.py"))}


def docstring_problems(package: Path) -> list[str]:
    """Subpackages whose docstring is missing or does not say what they may import."""
    problems = []
    for name, init in subpackages(package).items():
        doc = ast.get_docstring(_parse(init)) or ""
        phrase = "Imports nothing" if name == "core" else "May import"
        if not doc.strip():
            problems.append(f"{init.relative_to(package.parent)}: no docstring")
        elif phrase not in doc:
            problems.append(f"{init.relative_to(package.parent)}: docstring lacks {phrase!r}")
    return problems


def allowed_layers(doc: str) -> set[str] | None:
    """The subpackages after "May import:" (up to a full stop or a parenthesis); set() for
    "Imports nothing"; None when the docstring says neither."""
    if "Imports nothing" in doc:
        return set()
    m = re.search(r"May import:\s*([^.(]*)", doc)
    return None if m is None else {w.strip() for w in m.group(1).split(",") if w.strip()}


def undeclared_imports(package: Path) -> list[str]:
    """``file:line: a -> b`` for each import of another subpackage its docstring does not list."""
    root = package.name
    graph, modules = import_graph(package), module_files(package)
    subs = subpackages(package)
    declared = {name: allowed_layers(ast.get_docstring(_parse(init)) or "")
                for name, init in subs.items()}
    found = []
    for mod, targets in graph.items():
        layer = mod.split(".")[1] if mod.count(".") >= 1 else None
        if layer not in subs or declared[layer] is None:
            continue
        for target, line in sorted(targets.items()):
            other = target.split(".")[1] if target.startswith(root + ".") else None
            if other in subs and other != layer and other not in declared[layer]:
                found.append(f"{modules[mod].relative_to(package.parent)}:{line}: {mod} -> {target}"
                             f" ({layer} may import {sorted(declared[layer]) or 'nothing'})")
    return found


def lint_imports(config: Path) -> subprocess.CompletedProcess:
    """import-linter's ``lint-imports`` of this environment on ``config``, without a cache."""
    exe = Path(sys.executable).parent / "lint-imports"
    assert exe.exists(), f"{exe} not found: install the test extras (pip install -e '.[test]')"
    return subprocess.run([str(exe), "--no-cache", "--no-logo", str(config)], cwd=config.parent,
                          capture_output=True, text=True, timeout=300)


# ---------------------------------------------------------------- the contract
def test_import_linter_layer_contract_is_kept():
    """pyproject.toml's [tool.importlinter] layers: each layer imports only the ones below it."""
    result = lint_imports(ROOT / "pyproject.toml")
    assert result.returncode == 0, f"lint-imports failed:\n{result.stdout}\n{result.stderr}"
    assert "0 broken" in result.stdout


def test_no_import_inside_a_function():
    """Imports sit at module level, except the optional heavy dependencies in LAZY_IMPORTS."""
    offenders = function_imports(PACKAGE)
    assert not offenders, "imports inside functions:\n" + "\n".join(offenders)


def test_no_import_cycle_between_modules():
    """The module import graph is acyclic (and actually read: the known edges are in it)."""
    graph = import_graph(PACKAGE)
    assert len(graph) == len(module_files(PACKAGE)) > 50
    assert "icm_utils.model.prior" in graph["icm_utils.model.models"]
    assert "icm_utils.core.stats" in graph["icm_utils.model.base"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(
        f"{a} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:])) + f" -> {cycle[-1]}"


def test_every_subpackage_docstring_says_what_it_may_import():
    """core: "Imports nothing"; every other subpackage: "May import: ...". """
    assert set(subpackages(PACKAGE)) == {"core", "data", "model", "training", "evaluation",
                                         "studies", "explore"}
    problems = docstring_problems(PACKAGE)
    assert not problems, "\n".join(problems)


def test_subpackages_import_only_what_their_docstring_lists():
    """The docstrings' "May import" lists hold: no module imports a subpackage not listed."""
    offenders = undeclared_imports(PACKAGE)
    assert not offenders, "imports the subpackage docstring does not allow:\n" + "\n".join(offenders)


def test_every_module_has_a_line_in_the_test_map():
    """tests/README.md maps each module to its tests (or says why another file covers it)."""
    text = (ROOT / "tests" / "README.md").read_text()
    modules = [p.relative_to(PACKAGE).as_posix() for p in sorted(PACKAGE.rglob("*.py"))
               if p.name != "__init__.py"]
    missing = [m for m in modules if f"`{m}`" not in text]
    assert not missing, f"add these modules to tests/README.md: {missing}"
