"""What `graph`, `plot` and `--explain` show, for the output layer (`output.py`) to print:
the recorded graph as a rich tree and as a JSON document, the plot's JSON document, and the
backward pass step by step as a rich table. The output layer loads this module only to
show one of them (plain runs never compile it); rich is imported by the functions that draw.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import printable, shortened
from ..graph import FOLD, Graph, GraphEdge, GraphNode, summary
from ..result import jsonable, plain, warning_docs

if TYPE_CHECKING:
    from rich.tree import Tree

    from ..plot import PlotData

#: The tree shows this many levels; deeper parts are counted (the other formats show all).
MAX_DEPTH = 60
#: The tree and --explain show a node's text in at most this many columns.
SNIPPET = 40


# -- gradcli graph -----------------------------------------------------------------------------


def _label(graph, n, count: int = 1):
    """One node as a line of the tree: name, place in the text, shape, value, gradient."""
    from rich.text import Text

    t = Text()
    if n.kind == "operation":
        t.append(n.name, style="bold")
        if count > 1:
            t.append(f" × {count}", style="bold magenta")
    elif n.kind == "variable":
        t.append(printable(n.name), style="bold blue")
        t.append(
            "  leaf" + (", requires_grad" if n.requires_grad else " (not in --wrt)"), style="blue"
        )
    else:
        t.append("constant", style="dim")
    t.append(f"  #{n.id}", style="dim")
    if n.names:
        t.append(f"  = {printable(', '.join(n.names))}", style="bold yellow")
    if n.text is not None:
        t.append(f"  {shortened(n.text, SNIPPET)}", style="cyan")
        if n.position:
            t.append(f" @{n.position['line']}:{n.position['col']}", style="dim cyan")
    t.append("  " + ("scalar" if n.shape == () else "×".join(map(str, n.shape))), style="dim")
    t.append(f"  value {summary(n.value)}")
    if n.grad is not None:
        t.append(
            f"  {'.grad' if n.kind == 'variable' else 'grad'} {summary(n.grad)}", style="green"
        )
    return t


def _chain(graph, start, uses: dict, fold: bool) -> list:
    """The nodes folded with `start`: a run of the same operation, each taking the next as
    its only non-constant input, none used elsewhere."""
    run = [start]
    if not fold or start.kind != "operation":
        return run
    node = start
    while True:
        inner = [graph.nodes[i] for i in node.inputs if graph.nodes[i].kind != "constant"]
        if len(inner) != 1:
            break
        nxt = inner[0]
        if nxt.kind != "operation" or nxt.name != start.name or uses[nxt.id] != 1:
            break
        run.append(nxt)
        node = nxt
    return run if len(run) >= FOLD else [start]


def graph_tree(graph, fold: bool = True):
    """The graph as a rich Tree, from the output down to the leaves; a subgraph used twice
    is shown once and then referred to by its #id (leaves are repeated: one line each);
    chains fold into one line."""
    from rich.text import Text
    from rich.tree import Tree

    uses = {n.id: 0 for n in graph.nodes}
    for e in graph.edges:
        uses[e.source] += 1
    shown: set = set()
    root = None
    stack: list[tuple[Tree | None, GraphNode, int]] = [(None, graph.output, 0)]
    while stack:  # (parent tree, node, depth): the root's parent is None
        parent, n, depth = stack.pop()
        if n.id in shown and n.kind == "operation":  # leaves are shown again: one line
            assert parent is not None  # (the root is shown first)
            label = Text(f"↑ #{n.id} {n.name}", style="dim")
            label.append(" (shown above)", style="dim italic")
            parent.add(label)
            continue
        if depth >= MAX_DEPTH:
            assert parent is not None  # (the root is at depth 0)
            below = _count_below(graph, n, shown)
            parent.add(
                Text(
                    f"… {below} more nodes below (--format json or dot shows every one)",
                    style="dim italic",
                )
            )
            continue
        run = _chain(graph, n, uses, fold)
        last = run[-1]
        label = _label(graph, n, count=len(run))
        if len(run) > 1:
            shown.update(m.id for m in run)
            texts = list(dict.fromkeys(shortened(m.text, SNIPPET) for m in run if m.text))
            label.append(
                f"\n  a chain of {len(run)} {n.name}: #{n.id} … #{last.id}", style="magenta"
            )
            if texts:
                label.append(f" ({', '.join(texts)})", style="cyan")
            if last.grad is not None:
                label.append(f"; grad at its input end {summary(last.grad)}", style="green")
            consts = [
                graph.nodes[i]
                for m in run[:-1]
                for i in m.inputs
                if graph.nodes[i].kind == "constant"
            ]
            if consts:
                values = {summary(c.value) for c in consts}
                label.append(
                    f"; other inputs: {len(consts)} constants"
                    + (f", each {values.pop()}" if len(values) == 1 else ""),
                    style="dim",
                )
                shown.update(c.id for c in consts)
        shown.add(n.id)
        branch = Tree(label) if parent is None else parent.add(label)
        if root is None:
            root = branch
        for i in reversed(last.inputs):
            stack.append((branch, graph.nodes[i], depth + 1))
    return root


def _count_below(graph, n, shown: set) -> int:
    seen, stack = set(), [n.id]
    while stack:
        i = stack.pop()
        if i in seen or i in shown:
            continue
        seen.add(i)
        stack.extend(graph.nodes[i].inputs)
    shown.update(seen)
    return len(seen)


# -- JSON documents -------------------------------------------------------------------------------

#: Arrays with more elements are given as summaries only in the graph's JSON document.
FULL_VALUES = 1000


def graph_doc(g: Graph) -> dict:
    """The JSON document of `gradcli graph` (`--format json`, or `--json`)::

        {"command": "graph", "expression": TEXT, "point": {name: array},
         "wrt": [name, ...], "output": ID, "cotangent": array (what backward started from),
         "nodes": [
           {"id": 0,                      # a small integer; the output is 0, then the inputs
            "kind": "operation" | "variable" | "constant",
            "name": "MulBackward0" | "x" | "constant",   # grad_fn name, variable name
            "primitive": "mul" | null,
            "shape": [2, 2], "dtype": "float64",
            "value": array | null,        # null past FULL_VALUES elements (the summary stays)
            "summary": "all 3",           # the value in a few characters
            "requires_grad": true, "is_leaf": false,
            "operation": "*" | null,      # the operation of the text that made it
            "position": {"line", "col", "end_line", "end_col"} | null,   # 1-based
            "text": "3*(x+2)**2" | null,  # that part of the expression
            "names": ["y"],               # program names bound to this tensor at the end
            "inputs": [ID, ...],          # in argument order (operations only)
            "grad": array | null,         # d output / d this tensor (vᵀJ for --v); null
                                          #   when no gradient flows to it (constants)
            "grad_summary": "all 4.5" | null}, ...],
         "edges": [{"from": ID, "to": ID, "input": i,   # tensor `from` is input i of `to`
                    "grad": array | null, "grad_summary": str | null}, ...],
                                          # the part of `from`'s gradient sent by `to`
         "warnings": [...]}

    Edges point the way the forward pass runs (input to output), as Graphviz draws them;
    the backward pass walks them the other way.
    """
    return {
        "command": "graph",
        "expression": g.expression,
        "point": plain(g.point),
        "wrt": list(g.wrt),
        "output": 0,
        "cotangent": None if g.cotangent is None else jsonable(g.cotangent),
        "nodes": [node_doc(n) for n in g.nodes],
        "edges": [edge_doc(e) for e in g.edges],
        "warnings": warning_docs(g.warnings),
    }


def node_doc(n: GraphNode) -> dict:
    """One node of the graph's JSON document (see `graph_doc`)."""
    return {
        "id": n.id,
        "kind": n.kind,
        "name": n.name,
        "primitive": n.primitive,
        "shape": list(n.shape),
        "dtype": n.dtype,
        "value": jsonable(n.value) if n.value.size <= FULL_VALUES else None,
        "summary": summary(n.value),
        "requires_grad": n.requires_grad,
        "is_leaf": n.is_leaf,
        "operation": n.operation,
        "position": n.position,
        "text": n.text,
        "names": n.names,
        "inputs": n.inputs,
        "grad": None if n.grad is None or n.grad.size > FULL_VALUES else jsonable(n.grad),
        "grad_summary": None if n.grad is None else summary(n.grad),
    }


def edge_doc(e: GraphEdge) -> dict:
    """One edge of the graph's JSON document (see `graph_doc`)."""
    return {
        "from": e.source,
        "to": e.target,
        "input": e.input,
        "grad": None if e.grad is None or e.grad.size > FULL_VALUES else jsonable(e.grad),
        "grad_summary": None if e.grad is None else summary(e.grad),
    }


def plot_doc(data: PlotData) -> dict:
    """The JSON document of `gradcli plot`: the grid of each variable, the value over it and
    the derivative (one variable, and the second with --order 2) or the gradient (two)."""
    doc = {
        "command": "plot",
        "expression": data.expression,
        "wrt": list(data.wrt),
        "point": plain(data.fixed),
        "grid": {n: jsonable(a) for n, a in zip(data.wrt, data.axes, strict=True)},
        "value": jsonable(data.value),
    }
    if len(data.wrt) == 1:
        doc["derivative"] = jsonable(data.derivatives[0])
        if len(data.derivatives) > 1:
            doc["second_derivative"] = jsonable(data.derivatives[1])
    else:
        doc["gradient"] = {n: jsonable(d) for n, d in zip(data.wrt, data.derivatives, strict=True)}
    doc["warnings"] = warning_docs(data.warnings)
    return doc


# -- --explain ---------------------------------------------------------------------------------


def explain_table(steps: list[dict]):
    """The backward pass step by step (the Result's `explain`) as a rich table."""
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title="backward pass, step by step (in the order it runs)",
        title_justify="left",
        title_style="bold",
        box=None,
        padding=(0, 1),
        show_edge=False,
    )
    for name, style in [
        ("#", "dim"),
        ("node", "bold"),
        ("in the text", "cyan"),
        ("incoming g", ""),
        ("rule", "magenta"),
        ("passes", "green"),
    ]:
        table.add_column(name, style=style)
    for s in steps:
        node = Text(s["node"])
        if s["count"] > 1:
            node.append(f" × {s['count']}", style="bold magenta")
        if s["node"] == "AccumulateGrad":
            table.add_row(
                str(s["step"]),
                node,
                Text(printable(s["variable"])),
                "",
                Text(printable(s["rule"])),
                Text(printable(f".grad = {s['gradient']}")),
            )
            continue
        place = shortened(s["text"] or s["operation"] or "", SNIPPET)
        if s["position"] and s["count"] == 1:
            place += f" @{s['position']['line']}:{s['position']['col']}"
        passes = "\n".join(f"→ {o['to']}: {o['gradient']}" for o in s["outputs"])
        if s.get("scale"):
            passes += f"\n(all together: g × {s['scale']})"
        table.add_row(
            str(s["step"]),
            node,
            *(Text(printable(t)) for t in (place, s["incoming"], s["rule"] or "", passes)),
        )
    return table
