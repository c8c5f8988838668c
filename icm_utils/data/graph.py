"""A small validated causal DAG shared by the datasets and the models."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import matplotlib.pyplot as plt
import numpy as np


class GraphError(ValueError):
    """A causal graph given by the user is not a valid DAG over its named variables."""


class CausalGraph:
    """Named nodes and directed edges ``(cause, effect)``; validated on construction.

    Node order is the order of ``names``; it is also the order of label columns and latent blocks.
    ``adjacency[j, i] == 1`` means ``names[j] -> names[i]``.
    """

    def __init__(self, names: Sequence[str], edges: Iterable[tuple[str, str]] = ()):
        names = list(names)
        if not names:
            raise GraphError("a causal graph needs at least one variable")
        for n in names:
            if not isinstance(n, str) or not n:
                raise GraphError(f"variable names must be non-empty strings, got {n!r}")
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise GraphError(f"duplicate variable names: {dup}")
        self.names: list[str] = names
        self._index = {n: i for i, n in enumerate(names)}
        adj = np.zeros((len(names), len(names)), dtype=np.int64)
        for edge in edges:
            if len(edge) != 2:
                raise GraphError(f"an edge is a pair (cause, effect), got {edge!r}")
            a, b = edge
            for v in (a, b):
                if v not in self._index:
                    raise GraphError(f"edge {a!r} -> {b!r} names unknown variable {v!r}; known: {names}")
            if a == b:
                raise GraphError(f"self loop on {a!r}: a variable cannot cause itself")
            adj[self._index[a], self._index[b]] = 1
        self.adjacency = adj
        self.order: list[int] = self._toposort()
        self.depth: list[int] = self._depths()

    # construction helpers -------------------------------------------------------------------
    @classmethod
    def from_adjacency(cls, names: Sequence[str], adjacency) -> CausalGraph:
        a = np.asarray(adjacency)
        if a.shape != (len(names), len(names)):
            raise GraphError(
                f"adjacency has shape {a.shape} but {len(names)} names were given; "
                f"expected ({len(names)}, {len(names)})")
        edges = [(names[j], names[i]) for j, i in zip(*np.nonzero(a))]
        return cls(names, edges)

    @classmethod
    def from_dict(cls, d: dict) -> CausalGraph:
        return cls(d["names"], [tuple(e) for e in d["edges"]])

    def to_dict(self) -> dict:
        return {"names": list(self.names), "edges": [list(e) for e in self.edges]}

    # queries ----------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return len(self.names)

    @property
    def edges(self) -> list[tuple[str, str]]:
        return [(self.names[j], self.names[i]) for j, i in zip(*np.nonzero(self.adjacency))]

    def index(self, name_or_index: str | int) -> int:
        if isinstance(name_or_index, (int, np.integer)):
            if not 0 <= name_or_index < self.n:
                raise GraphError(f"variable index {name_or_index} out of range 0..{self.n - 1}")
            return int(name_or_index)
        if name_or_index not in self._index:
            raise GraphError(f"unknown variable {name_or_index!r}; known: {self.names}")
        return self._index[name_or_index]

    def parents(self, node: str | int) -> list[int]:
        return [int(j) for j in np.nonzero(self.adjacency[:, self.index(node)])[0]]

    def children(self, node: str | int) -> list[int]:
        return [int(i) for i in np.nonzero(self.adjacency[self.index(node)])[0]]

    def ancestors(self, node: str | int) -> set[int]:
        return self._closure(self.index(node), self.parents)

    def descendants(self, node: str | int) -> set[int]:
        return self._closure(self.index(node), self.children)

    def roots(self) -> list[int]:
        return [i for i in range(self.n) if not self.parents(i)]

    def levels(self) -> list[list[int]]:
        """Nodes grouped by depth (longest path from a root): each level depends only on earlier ones."""
        out: list[list[int]] = [[] for _ in range(max(self.depth) + 1)]
        for i, d in enumerate(self.depth):
            out[d].append(i)
        return out

    def ancestor_matrix(self) -> np.ndarray:
        """``M[j, i] = 1`` iff j is an ancestor of i (j != i)."""
        m = np.zeros_like(self.adjacency)
        for i in range(self.n):
            for j in self.ancestors(i):
                m[j, i] = 1
        return m

    # internals ----------------------------------------------------------------------------
    def _closure(self, start: int, step) -> set[int]:
        seen: set[int] = set()
        stack = list(step(start))
        while stack:
            v = stack.pop()
            if v not in seen:
                seen.add(v)
                stack.extend(step(v))
        return seen

    def _toposort(self) -> list[int]:
        indeg = self.adjacency.sum(0).copy()
        ready = [i for i in range(self.n) if indeg[i] == 0]
        order = []
        while ready:
            v = ready.pop(0)
            order.append(v)
            for c in np.nonzero(self.adjacency[v])[0]:
                indeg[c] -= 1
                if indeg[c] == 0:
                    ready.append(int(c))
        if len(order) != self.n:
            cyc = [self.names[i] for i in range(self.n) if i not in order]
            raise GraphError(f"the graph has a cycle through {cyc}; a causal graph must be a DAG")
        return order

    def _depths(self) -> list[int]:
        depth = [0] * self.n
        for v in self.order:
            for p in self.parents(v):
                depth[v] = max(depth[v], depth[p] + 1)
        return depth

    def __eq__(self, other) -> bool:
        return (isinstance(other, CausalGraph) and self.names == other.names
                and np.array_equal(self.adjacency, other.adjacency))

    def __hash__(self):
        return hash((tuple(self.names), self.adjacency.tobytes()))

    def __repr__(self) -> str:
        es = ", ".join(f"{a}->{b}" for a, b in self.edges)
        return f"CausalGraph({self.names}, [{es}])"

    def draw(self, ax=None, pos: dict | None = None, node_color: str = "#cfe2f3"):
        """Draw the DAG with matplotlib (layered by depth); returns the axes."""
        if ax is None:
            _, ax = plt.subplots(figsize=(1.8 * max(len(lv) for lv in self.levels()) + 2,
                                          1.4 * len(self.levels()) + 1))
        if pos is None:
            pos = {}
            for d, lv in enumerate(self.levels()):
                for k, i in enumerate(lv):
                    pos[self.names[i]] = (k - (len(lv) - 1) / 2, -d)
        for a, b in self.edges:
            ax.annotate("", xy=pos[b], xytext=pos[a],
                        arrowprops=dict(arrowstyle="-|>", color="0.3", lw=1.5,
                                        shrinkA=22, shrinkB=22))
        for n in self.names:
            ax.text(*pos[n], n.replace("_", "\n"), ha="center", va="center", fontsize=9,
                    bbox=dict(boxstyle="round,pad=0.5", fc=node_color, ec="0.3"))
        xs = [p[0] for p in pos.values()]
        ys = [p[1] for p in pos.values()]
        ax.set_xlim(min(xs) - 0.8, max(xs) + 0.8)
        ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
        ax.axis("off")
        return ax


# The datasets' graphs (CausalVAE) ----------------------------------------------------------------
PENDULUM_GRAPH = CausalGraph(
    ["pendulum_angle", "light_position", "shadow_length", "shadow_position"],
    [("pendulum_angle", "shadow_length"), ("pendulum_angle", "shadow_position"),
     ("light_position", "shadow_length"), ("light_position", "shadow_position")],
)
FLOW_GRAPH = CausalGraph(
    ["ball_size", "hole_position", "water_height", "water_flow"],
    [("ball_size", "water_height"), ("water_height", "water_flow"),
     ("hole_position", "water_flow")],
)
CIRCUIT_GRAPH = CausalGraph(
    ["arm", "red", "green", "blue"],
    [("arm", "red"), ("arm", "green"), ("arm", "blue"), ("green", "red"), ("blue", "red")],
)


GRAPH_KINDS = ("true", "reversed", "dropped", "empty", "complete")


def _is_dag(names, edges) -> bool:
    try:
        CausalGraph(names, edges)
        return True
    except ValueError:
        return False


def misspecify(graph: CausalGraph, kind: str) -> CausalGraph:
    """The graph a run of misspecification ``kind`` (GRAPH_KINDS) is trained with."""
    if kind not in GRAPH_KINDS:
        raise ValueError(f"graph={kind!r} is not one of {GRAPH_KINDS}")
    names, edges = graph.names, graph.edges
    if kind == "true":
        return graph
    if kind in ("reversed", "dropped") and not edges:
        raise ValueError(f"graph={kind!r} needs an edge; the true graph has none")
    if kind == "dropped":
        return CausalGraph(names, edges[1:])
    if kind == "reversed":
        for i, (a, b) in enumerate(edges):
            new = edges[:i] + [(b, a)] + edges[i + 1:]
            if _is_dag(names, new):
                return CausalGraph(names, new)
        raise ValueError("no single edge of the graph can be reversed without a cycle")
    if kind == "empty":
        return CausalGraph(names, [])
    order = [names[i] for i in graph.order]  # a topological order
    return CausalGraph(names, [(order[i], order[j]) for i in range(len(order))
                               for j in range(i + 1, len(order))])


def describe(graph: CausalGraph, kind: str) -> str:
    """A one-line reading of how ``kind`` differs from ``graph``, for tables and plots."""
    wrong = misspecify(graph, kind)
    true_e, wrong_e = set(graph.edges), set(wrong.edges)
    removed, added = sorted(true_e - wrong_e), sorted(wrong_e - true_e)
    parts = [f"-{a}->{b}" for a, b in removed] + [f"+{a}->{b}" for a, b in added]
    if len(parts) > 3:
        parts = [f"{len(removed)} edges removed, {len(added)} added"]
    return f"{kind}: " + (", ".join(parts) if parts else "as the truth") + \
        f" ({len(wrong.edges)} edges)"
