"""`--explain`: the backward pass step by step, in the order it runs.

`Explainer.watch` is handed to `run_backward(watch=...)`, which calls it with every rule's
result; `Explainer.steps()` turns what it saw into one entry a node: the incoming gradient
g (the cotangent of the node's output), the rule (the `explain` column of the table of
primitives, `gradcli/engine/ops.py`), and what it passes to each input; the variables come
last, with the sum of what reached them (their `.grad`). A chain of one operation (the
doubling loop's nine `MulBackward0`) folds into one entry with its count, unless `full`.

Each entry (the "explain" list of `--json`; gradients as summaries, see `graph.summary`)::

    {"step": 1, "node": "MulBackward0", "count": 1, "rule": "g · other",
     "operation": "*", "position": {...} | null, "text": "y*2" | null,
     "incoming": "[0.1, 1, 0.0001]",
     "outputs": [{"input": 0, "to": "MulBackward0" | "x" | ..., "gradient": "..."}],
     "scale": "512" | null}          # folded chains: the factor from incoming to outgoing
    {"step": 10, "node": "AccumulateGrad", "variable": "x", "rule": "sum of what reached x:
     its .grad", "count": 1, "incoming": null, "outputs": [], "gradient": "[51.2, 512, 0.0512]"}
"""

from __future__ import annotations

import re

import numpy as np

from .graph import FOLD, nodes, origins, snippet, summary


class Explainer:
    """Watches one backward pass of a recorded run (see `run_backward(watch=...)`)."""

    def __init__(self, run, out, leaves: dict, source: str):
        # places must be found before backward frees the graph
        self.places = origins(nodes(out), run.origins)
        self.own = run.origins  # the nodes of an operation of the text, each its own place
        self.names = {id(t): n for n, t in leaves.items()}
        self.source = source
        self.seen: list = []  # [node, g, [(i, target label, target key, gi)], rule]

    def watch(self, node, i, g, gi) -> None:
        if not self.seen or self.seen[-1][0] is not node:
            self.seen.append([node, g.data, [], self.rule(node)])
        t = node.inputs[i]
        if t.grad_fn is not None:
            label, key = t.grad_fn.name(), t.grad_fn
        else:
            label, key = self.names.get(id(t), "a leaf"), None
        self.seen[-1][2].append((i, label, key, gi.data))

    def rule(self, node) -> str | None:
        """The rule of the node's primitive, its x named as in the text (g · cos(y) for
        sin(y)) where the node has one input whose text is known."""
        rule = node.prim.explain or None
        if rule is None or len(node.inputs) != 1:
            return rule
        t = node.inputs[0]
        where = self.own.get(t.grad_fn) if t.grad_fn is not None else None
        text = (
            self.names.get(id(t))
            if t.grad_fn is None
            else snippet(self.source, where[0])
            if where
            else None
        )
        if not text or len(text) > 24:
            return rule
        rule = re.sub(r"\(x\)", f"({text})", rule)
        return re.sub(r"(?<!\w)x(?![A-Za-z0-9_])", text if _atom(text) else f"({text})", rule)

    def steps(self, grads: dict, full: bool = False) -> list[dict]:
        """The entries, in the order backward ran; `grads` are the variables' gradients."""
        entries = []
        for node, g, outs, rule in self.seen:
            where = self.places.get(node)
            span = where[0] if where else None
            entries.append(
                {
                    "node": node.name(),
                    "count": 1,
                    "rule": rule,
                    "operation": where[1] if where else None,
                    "position": span.to_json() if span else None,
                    "text": snippet(self.source, span),
                    "incoming": summary(g),
                    "outputs": [
                        {"input": i, "to": label, "gradient": summary(gi)}
                        for i, label, _, gi in outs
                    ],
                    "scale": None,
                    "_node": node,
                    "_next": [key for _, _, key, _ in outs if key is not None],
                    "_g": g,
                    "_out": [gi for *_, gi in outs],
                }
            )
        if not full:
            entries = _fold(entries)
        for e in entries:
            for k in ("_node", "_next", "_g", "_out"):
                e.pop(k, None)
        for name, g in grads.items():
            entries.append(
                {
                    "node": "AccumulateGrad",
                    "variable": name,
                    "count": 1,
                    "rule": f"sum of what reached {name}: its .grad",
                    "incoming": None,
                    "outputs": [],
                    "gradient": summary(g),
                }
            )
        return [{"step": k, **e} for k, e in enumerate(entries, 1)]


def _atom(text: str) -> bool:
    """Whether `text` reads as one operand without brackets: a name, a number, a call."""
    if re.fullmatch(r"[\w.]+", text):
        return True
    call = re.match(r"\w+\(", text)
    if not call or not text.endswith(")"):
        return False
    depth = 0
    for k in range(call.end() - 1, len(text)):
        depth += (text[k] == "(") - (text[k] == ")")
        if depth == 0:
            return k == len(text) - 1
    return False


def _fold(entries: list[dict]) -> list[dict]:
    """Fold runs of one operation, each passing its gradient only to the next."""
    out, k = [], 0
    while k < len(entries):
        run = [entries[k]]
        while k + len(run) < len(entries):
            prev, nxt = run[-1], entries[k + len(run)]
            if nxt["node"] != prev["node"] or prev["_next"] != [nxt["_node"]]:
                break
            run.append(nxt)
        if len(run) < FOLD:
            out.append(entries[k])
            k += 1
            continue
        first, last = run[0], run[-1]
        texts = list(dict.fromkeys(e["text"] for e in run if e["text"]))
        folded = dict(
            first, count=len(run), outputs=last["outputs"], text=", ".join(texts) if texts else None
        )
        if len(last["_out"]) == 1:
            folded["scale"] = _scale(first["_g"], last["_out"][0])
        out.append(folded)
        k += len(run)
    return out


def _scale(g_in, g_out) -> str | None:
    """The one factor taking the chain's incoming gradient to its outgoing one, if any."""
    g_in, g_out = np.asarray(g_in), np.asarray(g_out)
    if g_in.shape != g_out.shape or not np.all(np.isfinite(g_in)) or np.any(g_in == 0):
        return None
    with np.errstate(all="ignore"):
        ratio = g_out / g_in
    if ratio.size and np.allclose(ratio, ratio.flat[0], rtol=1e-9, atol=0):
        return summary(ratio.flat[0])
    return None
