"""A recorded graph as a straight-line program, replayed on new values without the engine.

`Tape.record(out, variables)` reads the graph of one run: each node becomes a step (its
primitive, its params, and where each input comes from: a variable, an earlier step or a
constant), and nodes that compute the same thing from the same inputs become one step.
`Tape.replay(values, cotangent)` runs the same forwards on NumPy arrays, then the VJP rules
that an unrecorded backward pass runs, steps in reverse order. For cache-blocked
evaluation: one program over many blocks of its variables, with no interpreter, Tensor or
Node per block.
"""

from __future__ import annotations

import numpy as np

from ..errors import GraphError
from .backward import as_raw, fit_raw, topological_order
from .tensor import Node, Tensor, no_grad, raw_rules

_VAR, _STEP, _CONST = 0, 1, 2


class Tape:
    def __init__(self, steps: list, for_gradients: list[bool]):
        self.steps = steps  # (prim, refs, params, needs[i]: input i leads to a wanted one)
        self.for_gradients = for_gradients  # per step: its value is read by the gradients
        self.total = [_total(prim, refs) for prim, refs, *_ in steps]  # (see _total)

    @classmethod
    def record(
        cls, out: Tensor, variables: dict[str, Tensor], wanted: tuple[str, ...]
    ) -> Tape | None:
        """The tape of `out`'s graph, whose leaves are `variables`; gradients will be
        wanted for `wanted`. None for a freed graph, or when an input is neither a variable,
        a step, nor a one-element constant: a value of this run (a detached one, a mask)
        that a replay would reuse."""
        if out.grad_fn is None:
            return None
        try:  # (inputs first)
            order = topological_order([out.grad_fn])[::-1]
        except GraphError:  # freed
            return None
        names = {id(t): name for name, t in variables.items()}
        index: dict = {}  # node → its step
        computed: dict = {}  # what a step computes → the step: one step for each
        reaches: list[bool] = []
        steps: list = []
        nodes: list[Node] = []
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
            what = (
                None
                if node.params
                else (  # steps with params are never merged
                    node.prim.name,
                    tuple(
                        (k, r.dtype.str, r.shape, r.tobytes()) if k == _CONST else (k, r)
                        for k, r in refs
                    ),
                )
            )
            if what in computed:
                index[node] = computed[what]  # a repeated subexpression (x**2 twice)
                continue
            index[node] = len(steps)
            if what is not None:
                computed[what] = len(steps)
            reaches.append(any(needs))
            steps.append((node.prim, tuple(refs), node.params, tuple(needs)))
            nodes.append(node)
        return cls(steps, _read_by_gradients(nodes, steps))

    def replay(
        self, values: dict[str, np.ndarray], cotangent, value: bool = True
    ) -> tuple[np.ndarray | None, dict | None]:
        """The output's values at `values` (None unless `value`: then only the steps that
        the gradients read run), and the gradient of each wanted variable (the VJP with
        `cotangent`, which may be one number for all: with 1, the rules of primitives with
        `partials` run without their product by ones; summed back to a variable's shape
        where it broadcast; possibly a read-only view of an input). Without the
        value, the gradients are None if a step that ran, other than the `_total` ones,
        made NaN or infinity: nothing else would show it."""
        steps = self.steps
        outs: list = []
        shapes: list = []  # of every step's output, also of those not run
        inputs: list = []  # of every step, for its rules
        grads: dict = {}
        with no_grad(), raw_rules(), np.errstate(all="ignore"):
            for (prim, refs, params, _), read, total in zip(
                steps, self.for_gradients, self.total, strict=True
            ):
                args = [
                    values[r] if kind == _VAR else outs[r] if kind == _STEP else r
                    for kind, r in refs
                ]
                inputs.append(args)
                if read or value:
                    outs.append(prim.forward(*args, **params))
                    shapes.append(np.shape(outs[-1]))
                    if not value and not total and not np.isfinite(outs[-1]).all():
                        return None, None
                else:  # elementwise (see _read_by_gradients): the inputs' broadcast shape
                    outs.append(None)
                    shapes.append(
                        np.broadcast_shapes(
                            *[
                                shapes[r] if kind == _STEP else np.shape(a)
                                for (kind, r), a in zip(refs, args, strict=True)
                            ]
                        )
                    )
            cots: list = [None] * len(steps)
            cots[-1] = as_raw(cotangent)
            unit = cots[-1] if cots[-1].ndim == 0 and cots[-1] == 1 else None
            for j in range(len(steps) - 1, -1, -1):
                g = cots[j]
                prim, refs, params, needs = steps[j]
                if g is None or not any(needs):
                    continue
                args, shape, dense = inputs[j], shapes[j], None
                for i, (kind, r) in enumerate(refs):
                    if not needs[i]:
                        continue
                    d = prim.partials[i] if prim.partials else None
                    gi = (
                        g
                        if d.__class__ is int
                        else d(outs[j], *args, **params)
                        if g is unit and d is not None
                        else None
                    )
                    # (a partial's gi, computed when g is unit, must keep g's type and dtype)
                    if gi is None or (
                        gi is not g and (gi.__class__ is not np.ndarray or gi.dtype != g.dtype)
                    ):
                        if dense is None:  # g as the rules take it: of the step's shape
                            dense = g if np.shape(g) == shape else np.broadcast_to(g, shape)
                        gi = prim.vjp[i](dense, outs[j], *args, **params)
                    target = shapes[r] if kind == _STEP else np.shape(args[i])
                    if gi is not unit or kind != _STEP or target != shape:
                        gi = as_raw(gi)  # stands for its broadcast to the step's shape
                        gi = fit_raw(
                            gi if gi.shape == shape else np.broadcast_to(gi, shape), target
                        )
                    if kind == _STEP:
                        prev = cots[r]
                        cots[r] = gi if prev is None else prev + gi
                    else:
                        prev = grads.get(r)
                        grads[r] = gi if prev is None else prev + gi
        return (outs[-1] if value else None), grads


class _Read(Exception):
    """A rule read a value that `_Unread` stood for."""


class _Unread:
    """Stands for a value while a rule runs: any use of it raises `_Read`."""

    __array_ufunc__ = None  # NumPy's operators defer to the methods below

    def _read(self, *args, **kwargs):
        raise _Read

    __array__ = __getattr__ = __getitem__ = __len__ = __iter__ = __float__ = __bool__ = _read
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _read
    __truediv__ = __rtruediv__ = __pow__ = __rpow__ = __matmul__ = __rmatmul__ = _read
    __neg__ = __pos__ = __abs__ = __invert__ = __and__ = __rand__ = __or__ = __ror__ = _read
    __lt__ = __le__ = __gt__ = __ge__ = __eq__ = __ne__ = __hash__ = _read


def _reads(rule, g, values: list, params: dict) -> set[int]:
    """Which of `values` (the output, then the inputs) the rule reads, found by running it
    with each in turn replaced by a stand-in (anything other than a clean run counts as a
    read)."""
    read = set()
    for p in range(len(values)):
        args = [*values[:p], _Unread(), *values[p + 1 :]]
        try:
            rule(g, *args, **params)
        except Exception:  # _Read, or a failure of the stand-in: a read
            read.add(p)
    return read


def _total(prim, refs) -> bool:
    """Whether a step is finite wherever its inputs are, barring overflow: its primitive is
    (its row's `total`: only such steps may go unrun without hiding a NaN or an infinity
    that a domain warning would have named; the others that run are checked, and the shape
    of a step not run is its inputs' broadcast shape; an overflow to infinity in a step not
    run goes unseen), or it is a power with a constant exponent that is a whole number ≥ 0."""
    if prim.name == "pow" and refs[1][0] == _CONST:
        c = float(refs[1][1].item())  # (a one-element constant, of any shape)
        return c >= 0 and c.is_integer()
    return prim.total


def _read_by_gradients(order: list, steps: list) -> list[bool]:
    """Per step, whether the gradients need its value: a rule reads it (as its output or
    as an input), a step they need takes it as an input, or it is not `_total`."""
    read = [not _total(prim, refs) for prim, refs, *_ in steps]
    with no_grad(), np.errstate(all="ignore"):
        for j, (node, (prim, refs, params, needs)) in enumerate(zip(order, steps, strict=True)):
            values = [node.out_data] + [t.data for t in node.inputs]
            g = np.ones_like(node.out_data)
            for i, need in enumerate(needs):
                if not need:
                    continue
                d = prim.partials[i] if prim.partials else None
                reads = _reads(prim.vjp[i], g, values, params)
                if callable(d):  # read with a cotangent of ones instead of the rule
                    reads |= _reads(lambda g, *vals, d=d, **p: d(*vals, **p), g, values, params)
                for p in reads:
                    if p == 0:
                        read[j] = True
                    elif refs[p - 1][0] == _STEP:
                        read[refs[p - 1][1]] = True
    for j in range(len(steps) - 1, -1, -1):  # a needed step needs its inputs computed
        if read[j]:
            for kind, r in steps[j][1]:
                if kind == _STEP:
                    read[r] = True
    return read
