"""A recorded graph as a straight-line program, replayed on new values without the engine.

`Tape.record(out, variables)` reads the graph of one run: each node becomes a step (its
primitive, its params, and where each input comes from: a variable, an earlier step or a
constant). `Tape.replay(values, cotangent)` runs the same forwards on NumPy arrays, then the
VJP rules that an unrecorded backward pass runs, steps in reverse order. For cache-blocked
evaluation: one program over many blocks of its variables, with no interpreter, Tensor or
Node per block.
"""

from __future__ import annotations

import numpy as np

from .backward import _raw, _tensor, sum_to
from .tensor import Tensor, no_grad

_VAR, _STEP, _CONST = 0, 1, 2


class Tape:
    def __init__(self, steps: list, wanted: tuple[str, ...]):
        self.steps = steps  # (prim, refs, params, needs): needs[i]: input i leads to `wanted`
        self.wanted = wanted

    @classmethod
    def record(cls, out: Tensor, variables: dict[str, Tensor],
               wanted: tuple[str, ...]) -> Tape | None:
        """The tape of `out`'s graph, whose leaves are `variables`; gradients will be
        wanted for `wanted`. None for a freed graph, or when an input is neither a variable,
        a step, nor a one-element constant: a value of this run (a detached one, a mask)
        that a replay would reuse."""
        order = _topological(out.grad_fn) if out.grad_fn is not None else None
        if order is None:
            return None
        names = {id(t): name for name, t in variables.items()}
        index = {node: j for j, node in enumerate(order)}
        reaches: list[bool] = []
        steps = []
        for node in order:
            refs, needs = [], []
            for i, t in enumerate(node.inputs):
                rule = node.prim.vjp[i]
                if t.grad_fn is not None:
                    j = index[t.grad_fn]
                    refs.append((_STEP, j))
                    needs.append(reaches[j] and rule is not None)
                elif id(t) in names:
                    refs.append((_VAR, names[id(t)]))
                    needs.append(names[id(t)] in wanted and rule is not None)
                elif t.data.size == 1:
                    refs.append((_CONST, t.data))
                    needs.append(False)
                else:
                    return None
            reaches.append(any(needs))
            steps.append((node.prim, tuple(refs), node.params, tuple(needs)))
        return cls(steps, wanted)

    def replay(self, values: dict[str, np.ndarray], cotangent) -> tuple[np.ndarray, dict]:
        """The output's values at `values`, and the gradient of each wanted variable (the
        VJP with `cotangent`; summed back to a variable's shape where it broadcast)."""
        steps = self.steps
        outs: list = []
        grads: dict = {}
        with no_grad(), np.errstate(all="ignore"):
            for prim, refs, params, _ in steps:
                args = [values[r] if kind == _VAR else outs[r] if kind == _STEP else r
                        for kind, r in refs]
                outs.append(prim.forward(*args, **params))
            cots: list = [None] * len(steps)
            cots[-1] = _raw(cotangent)
            for j in range(len(steps) - 1, -1, -1):
                g = cots[j]
                prim, refs, params, needs = steps[j]
                if g is None or not any(needs):
                    continue
                args = [values[r] if kind == _VAR else outs[r] if kind == _STEP else r
                        for kind, r in refs]
                for i, (kind, r) in enumerate(refs):
                    if not needs[i]:
                        continue
                    gi = prim.vjp[i](g, outs[j], *args, **params)
                    if gi.__class__ is not np.ndarray:
                        gi = _raw(gi)
                    shape = np.shape(args[i])
                    if gi.shape != shape:
                        gi = _raw(sum_to(_tensor(gi), shape))
                    store, key = (cots, r) if kind == _STEP else (grads, r)
                    prev = store[key] if kind == _STEP else store.get(key)
                    store[key] = gi if prev is None else prev + gi
        return outs[-1], grads


def _topological(root) -> list | None:
    """The nodes reachable from `root`, each after the nodes of its inputs (iterative);
    None if backward has freed the graph."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        if node.inputs is None:
            return None
        for t in node.inputs:
            if t.grad_fn is not None and t.grad_fn not in seen:
                stack.append((t.grad_fn, False))
    return order
