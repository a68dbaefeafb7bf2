"""The recorded graph seen from outside: walk it, place its nodes in the text, describe it.

The graph PyTorch's tutorials draw: tensors are its nodes, the functions that made them
(`grad_fn`: `AddBackward0`, `MulBackward0` …) its edges. `describe()` runs the forward with
recording and the backward with `retain_graph=True`, so that every tensor is known with its
value *and* its gradient (the cotangent that reached it), and gives a `Graph`: one entry per
tensor, the output first. It renders as Graphviz text (`Graph.dot()`) or a mermaid
flowchart (`Graph.mermaid()`); the rich tree and the JSON document of `gradcli graph` are
the command line's (`gradcli/cli/views.py`). Nothing here prints.

Edges point the way the forward pass runs (input to output), as Graphviz draws them; the
backward pass walks them the other way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .engine.backward import run_backward, topological_order
from .engine.tensor import Tensor, enable_grad, no_grad
from .errors import printable
from .lang.interpret import Run
from .values import cotangent

#: A chain of at least this many nodes of one operation folds into one entry of --explain
#: and one line of the graph's tree.
FOLD = 3

# -- walking the recorded graph (shared with the symbolic cross-check) ------------------------


def recorded(compiled, point: dict, wrt) -> tuple[Tensor, dict, Run]:
    """Run `compiled` at `point` with the graph recorded: (output, variables, run).

    The variables are given by name: the `wrt` ones as leaves requiring grad, the others as
    tensors given by us too, so that every input of the graph is known by name."""
    leaves = compiled.leaves(point, wrt)
    variables = {n: leaves[n] if n in leaves else Tensor.wrap(point[n]) for n in compiled.free_vars}
    with enable_grad():
        run = compiled.run(point, variables)
    return run.value, variables, run


def nodes(out: Tensor) -> list:
    """Every node of the graph behind `out`, in topological order, outputs first: a node
    comes before every node that made one of its inputs (the engine's order)."""
    return topological_order([out.grad_fn])


def origins(order, found_in_run: dict) -> dict:
    """Each node's place in the text: its own, or that of the operation it is part of
    (`order` outputs first, so that a composite's output is seen before its insides)."""
    found: dict = {}
    for node in order:
        where = found_in_run.get(node) or found.get(node)
        if where is None:
            continue
        found[node] = where
        for t in node.inputs or ():
            if t.grad_fn is not None and t.grad_fn not in found_in_run:
                found.setdefault(t.grad_fn, where)
    return found


def place(where) -> dict:
    """An origin as JSON: {"operation", "position"}."""
    span, what = where
    return {"operation": what, "position": span.to_json() if span else None}


def snippet(source: str, span) -> str | None:
    """The part of `source` a span covers (lines joined by spaces when it spans several)."""
    if span is None:
        return None
    lines = source.splitlines() or [""]
    if not 1 <= span.line <= len(lines):
        return None
    if span.end_line == span.line:
        return lines[span.line - 1][span.col : span.end_col]
    parts = [lines[span.line - 1][span.col :]]
    parts += lines[span.line : span.end_line - 1]
    parts.append(lines[span.end_line - 1][: span.end_col] if span.end_line <= len(lines) else "")
    return " ".join(p.strip() for p in parts)


# -- values in a few characters ---------------------------------------------------------------


def number(x) -> str:
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.6g}"


def summary(a, small: int = 6) -> str:
    """An array in a few characters: the number, the values of a small array, "all 4.5"
    for a constant one, otherwise its range and mean."""
    a = np.asarray(a)
    if a.dtype == bool:
        a = a.astype(np.int8)
    if a.size == 1:
        return number(a.reshape(()))
    if a.size == 0:
        return "empty"
    flat = a.reshape(-1)
    if np.all(flat == flat[0]) or np.all(np.isnan(flat)):
        return f"all {number(flat[0])}"
    if a.size <= small:
        return np.array2string(a, separator=", ", formatter={"float_kind": number, "int": number})
    with np.errstate(all="ignore"):
        finite = flat[np.isfinite(flat)]
        if finite.size == 0:
            return "no finite values"
        text = (
            f"min {number(finite.min())}, max {number(finite.max())}, mean {number(finite.mean())}"
        )
    bad = flat.size - finite.size
    return text + (f", {bad} non-finite" if bad else "")


# -- the description ------------------------------------------------------------------------


@dataclass
class GraphNode:
    id: int
    kind: str  # operation | variable | constant
    name: str
    shape: tuple
    dtype: str
    value: np.ndarray
    requires_grad: bool
    is_leaf: bool
    primitive: str | None = None
    rule: str | None = None
    operation: str | None = None
    position: dict | None = None
    text: str | None = None
    names: list = field(default_factory=list)
    inputs: list = field(default_factory=list)
    grad: np.ndarray | None = None


@dataclass
class GraphEdge:
    source: int  # the input tensor
    target: int  # the operation using it
    input: int  # its argument position
    grad: np.ndarray | None = None  # the part of the input's gradient sent back along it


@dataclass
class Graph:
    expression: str
    point: dict
    wrt: tuple
    nodes: list  # GraphNode, output first (id 0)
    edges: list  # GraphEdge
    cotangent: np.ndarray | None
    warnings: list = field(default_factory=list)

    @property
    def output(self) -> GraphNode:
        return self.nodes[0]

    def counts(self) -> dict:
        """How many nodes of each name (grad_fn names, "variable", "constant")."""
        c: dict = {}
        for n in self.nodes:
            key = n.name if n.kind == "operation" else n.kind
            c[key] = c.get(key, 0) + 1
        return c

    # -- text formats ------------------------------------------------------------------------
    def label_lines(self, n: GraphNode) -> list[str]:
        """The lines describing one node in the drawn formats."""
        if n.kind == "operation":
            head = [n.name]
            if n.text is not None:
                pos = n.position
                head.append(f"{n.text}" + (f"  @{pos['line']}:{pos['col']}" if pos else ""))
        elif n.kind == "variable":
            head = [n.name, "leaf, requires_grad" if n.requires_grad else "leaf (not in --wrt)"]
        else:
            head = ["constant"]
        head.append("scalar" if n.shape == () else "shape " + "×".join(map(str, n.shape)))
        head.append(f"value {summary(n.value)}")
        if n.grad is not None:
            head.append(f"{'.grad' if n.kind == 'variable' else 'grad'} {summary(n.grad)}")
        if n.names:
            head.insert(1, "= " + ", ".join(n.names))
        return head

    def dot(self) -> str:
        """Graphviz text: inputs above, the output at the bottom, arrows as the forward
        pass runs (as torchviz draws PyTorch's graphs)."""
        style = {
            "operation": 'shape=box, style="rounded,filled", fillcolor="#e5e7eb"',
            "variable": 'shape=box, style=filled, fillcolor="#bfdbfe"',
            "constant": 'shape=box, style="dashed", color="#6b7280"',
        }

        def esc(s: str) -> str:
            return printable(s).replace("\\", "\\\\").replace('"', '\\"')

        lines = [
            "digraph gradcli {",
            '  graph [fontname="Helvetica"];',
            '  node [fontname="Helvetica", fontsize=10];',
            '  edge [fontname="Helvetica", fontsize=9];',
        ]
        for n in self.nodes:
            attrs = style[n.kind]
            if n.id == 0:  # the output
                attrs = (
                    attrs.replace("#e5e7eb", "#fde68a").replace("#bfdbfe", "#fde68a")
                    + ", penwidth=2"
                )
            label = "\\n".join(esc(s) for s in self.label_lines(n))
            lines.append(f'  n{n.id} [label="{label}", {attrs}];')
        for e in self.edges:
            label = f', label="{e.input}"' if len(self.nodes[e.target].inputs) > 1 else ""
            lines.append(f"  n{e.source} -> n{e.target} [arrowsize=0.7{label}];")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def mermaid(self) -> str:
        """A mermaid flowchart, inputs at the top and the output at the bottom."""

        def esc(s: str) -> str:
            return (
                printable(s)
                .replace("&", "#amp;")
                .replace('"', "#quot;")
                .replace("<", "#lt;")
                .replace(">", "#gt;")
            )

        shapes = {"operation": ('["', '"]'), "variable": ('(["', '"])'), "constant": ('[/"', '"/]')}
        lines = ["flowchart TB"]
        for n in self.nodes:
            left, right = shapes[n.kind]
            label = "<br/>".join(esc(s) for s in self.label_lines(n))
            lines.append(f"  n{n.id}{left}{label}{right}")
        for e in self.edges:
            lines.append(f"  n{e.source} --> n{e.target}")
        lines.append("  classDef variable fill:#bfdbfe,stroke:#1d4ed8")
        lines.append("  classDef constant fill:#ffffff,stroke:#6b7280,stroke-dasharray:3 3")
        lines.append("  classDef output fill:#fde68a,stroke:#b45309,stroke-width:2px")
        for kind in ("variable", "constant"):
            ids = [f"n{n.id}" for n in self.nodes if n.kind == kind and n.id != 0]
            if ids:
                lines.append(f"  class {','.join(ids)} {kind}")
        lines.append("  class n0 output")
        return "\n".join(lines) + "\n"


def describe(compiled, point: dict, wrt=None, v=None) -> Graph:
    """Record the graph at `point`, run backward (from `v`, or ones: the gradient of the
    sum of the output) keeping it, and describe every tensor in it."""
    point = compiled.point(point)
    wrt = compiled.resolve_wrt(wrt)
    out, variables, run = recorded(compiled, point, wrt)
    variable_of = {id(t): name for name, t in variables.items()}
    order = nodes(out)
    places = origins(order, run.origins)

    # the backward pass, keeping the graph: each tensor's cotangent and each edge's share
    node_grad: dict = {}
    edge_grad: dict = {}
    captured: dict = {}
    cot = None
    if out.requires_grad:
        cot = np.ones_like(out.data) if v is None else cotangent(v, out)

        def watch(node, i, g, gi):
            node_grad.setdefault(node, g.data)
            edge_grad[(node, i)] = gi.data

        with no_grad():
            captured = run_backward(
                [out],
                [Tensor.wrap(cot)],
                retain_graph=True,
                create_graph=False,
                capture=[variables[n] for n in wrt],
                accumulate=False,
                watch=watch,
            )

    # ids: the output is 0; a node's new inputs get the next ids, then the walk goes on
    # depth-first from its first input (the order the tree shows them)
    graph_nodes: list = []
    ids: dict = {}  # node, or ("leaf", id(tensor)) -> id
    edges: list[GraphEdge] = []

    def key(t: Tensor):
        return t.grad_fn if t.grad_fn is not None else ("leaf", id(t))

    def visit(t: Tensor) -> tuple[int, bool]:
        k = key(t)
        if k in ids:
            return ids[k], False
        ids[k] = len(graph_nodes)
        graph_nodes.append(
            _leaf_node(ids[k], t, variable_of, captured) if t.grad_fn is None else None
        )
        return ids[k], True

    visit(out)
    stack = [out.grad_fn] if out.grad_fn is not None else []
    while stack:
        node = stack.pop()
        nid = ids[node]
        data = np.asarray(node.out_data)
        where = places.get(node)
        span = where[0] if where else None
        gn = GraphNode(
            nid,
            "operation",
            node.name(),
            data.shape,
            str(data.dtype),
            data,
            True,
            False,
            primitive=node.prim.name,
            rule=getattr(node.prim, "explain", None) or None,
            grad=node_grad.get(node),
        )
        if where:
            gn.operation = where[1]
            gn.position = span.to_json() if span else None
            gn.text = snippet(compiled.text, span)
        graph_nodes[nid] = gn
        fresh = []
        assert node.inputs is not None  # (the graph is kept: retain_graph)
        for i, t in enumerate(node.inputs):
            child, new = visit(t)
            gn.inputs.append(child)
            edges.append(GraphEdge(child, nid, i, edge_grad.get((node, i))))
            if new and t.grad_fn is not None:
                fresh.append(t.grad_fn)
        stack.extend(reversed(fresh))
    # names a program bound to tensors
    for name, t in run.env.items():
        if isinstance(t, Tensor) and key(t) in ids:
            graph_nodes[ids[key(t)]].names.append(name)
    return Graph(compiled.text, point, wrt, graph_nodes, edges, cot, list(run.warnings))


def _leaf_node(nid: int, t: Tensor, variable_of: dict, captured: dict) -> GraphNode:
    name = variable_of.get(id(t))
    grad = captured.get(id(t))
    if grad is None and t.requires_grad:
        grad = Tensor.wrap(np.zeros_like(t.data))
    return GraphNode(
        nid,
        "variable" if name else "constant",
        name or "constant",
        tuple(t.shape),
        str(t.dtype),
        np.asarray(t.data),
        t.requires_grad,
        True,
        grad=None if grad is None else grad.data,
    )
