"""rich views of autograd: the recorded graph as a tree (`gradcli graph`) and the backward
pass step by step (`--explain`). Renderables only: the output layer (`output.py`) prints
them. rich is imported inside the functions that draw.
"""

from ..errors import printable, shortened

#: Chains of at least this many nodes of the same operation fold into one line of the tree.
FOLD = 3
#: The tree shows this many levels; deeper parts are counted (the other formats show all).
MAX_DEPTH = 60
#: The tree and --explain show a node's text in at most this many columns.
SNIPPET = 40


# -- gradcli graph -----------------------------------------------------------------------------

def _label(graph, n, count: int = 1):
    """One node as a line of the tree: name, place in the text, shape, value, gradient."""
    from rich.text import Text

    from ..graph import summary

    t = Text()
    if n.kind == "operation":
        t.append(n.name, style="bold")
        if count > 1:
            t.append(f" × {count}", style="bold magenta")
    elif n.kind == "variable":
        t.append(printable(n.name), style="bold blue")
        t.append("  leaf" + (", requires_grad" if n.requires_grad else " (not in --wrt)"),
                 style="blue")
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
        t.append(f"  {'.grad' if n.kind == 'variable' else 'grad'} {summary(n.grad)}",
                 style="green")
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

    from ..graph import summary

    uses = {n.id: 0 for n in graph.nodes}
    for e in graph.edges:
        uses[e.source] += 1
    shown: set = set()
    root = None
    stack = [(None, graph.output, 0)]  # (parent tree, node, depth)
    while stack:
        parent, n, depth = stack.pop()
        if n.id in shown and n.kind == "operation":  # leaves are shown again: one line
            label = Text(f"↑ #{n.id} {n.name}", style="dim")
            label.append(" (shown above)", style="dim italic")
            parent.add(label)
            continue
        if depth >= MAX_DEPTH:
            below = _count_below(graph, n, shown)
            parent.add(Text(f"… {below} more nodes below (--format json or dot shows "
                            "every one)", style="dim italic"))
            continue
        run = _chain(graph, n, uses, fold)
        last = run[-1]
        label = _label(graph, n, count=len(run))
        if len(run) > 1:
            shown.update(m.id for m in run)
            texts = list(dict.fromkeys(shortened(m.text, SNIPPET) for m in run if m.text))
            label.append(f"\n  a chain of {len(run)} {n.name}: #{n.id} … #{last.id}",
                         style="magenta")
            if texts:
                label.append(f" ({', '.join(texts)})", style="cyan")
            if last.grad is not None:
                label.append(f"; grad at its input end {summary(last.grad)}", style="green")
            consts = [graph.nodes[i] for m in run[:-1] for i in m.inputs
                      if graph.nodes[i].kind == "constant"]
            if consts:
                values = {summary(c.value) for c in consts}
                label.append(f"; other inputs: {len(consts)} constants"
                             + (f", each {values.pop()}" if len(values) == 1 else ""),
                             style="dim")
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



# -- --explain ---------------------------------------------------------------------------------

def explain_table(steps: list[dict]):
    """The backward pass step by step (the Result's `explain`) as a rich table."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title="backward pass, step by step (in the order it runs)",
                  title_justify="left", title_style="bold", box=None, padding=(0, 1),
                  show_edge=False)
    for name, style in [("#", "dim"), ("node", "bold"), ("in the text", "cyan"),
                        ("incoming g", ""), ("rule", "magenta"), ("passes", "green")]:
        table.add_column(name, style=style)
    for s in steps:
        node = Text(s["node"])
        if s["count"] > 1:
            node.append(f" × {s['count']}", style="bold magenta")
        if s["node"] == "AccumulateGrad":
            table.add_row(str(s["step"]), node, Text(printable(s["variable"])), "",
                          Text(printable(s["rule"])),
                          Text(printable(f".grad = {s['gradient']}")))
            continue
        place = shortened(s["text"] or s["operation"] or "", SNIPPET)
        if s["position"] and s["count"] == 1:
            place += f" @{s['position']['line']}:{s['position']['col']}"
        passes = "\n".join(f"→ {o['to']}: {o['gradient']}" for o in s["outputs"])
        if s.get("scale"):
            passes += f"\n(all together: g × {s['scale']})"
        table.add_row(str(s["step"]), node, *(Text(printable(t)) for t in (
            place, s["incoming"], s["rule"] or "", passes)))
    return table
