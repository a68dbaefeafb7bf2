"""torch.autograd.functional's API: vjp, jvp, jacobian, hessian.

Jacobians are computed in one vectorised pass: the whole cotangent basis pushed back
through the graph as one batch (reverse mode), or the whole tangent basis pushed forward
(forward mode) when the output is larger than the input.
"""

from __future__ import annotations

import numpy as np

from ..errors import GraphError, NotScalarError, ShapeError
from . import tensor as T
from .arrays import reshape
from .backward import grad as _grad, largest_node, run_backward
from .forward import forward_mode
from .memory import LARGE, keep_freed_memory
from .primitive import call
from .structured import identity
from .tensor import Tensor, as_tensor, enable_grad, no_grad

STRATEGIES = ("auto", "reverse-mode", "forward-mode")


def _as_tuple(x) -> tuple[bool, tuple]:
    if isinstance(x, Tensor):
        return False, (x,)
    if isinstance(x, (tuple, list)):
        return True, tuple(x)
    return False, (as_tensor(x),)


def _inputs(inputs, create_graph=False) -> tuple[bool, list[Tensor]]:
    is_tuple, xs = _as_tuple(inputs)
    return is_tuple, [_input(as_tensor(x), create_graph) for x in xs]


def _input(x: Tensor, create_graph: bool) -> Tensor:
    """A fresh tensor to differentiate against; with create_graph still linked to x's graph
    (as torch's view_as), so that the results can be differentiated with respect to x."""
    if create_graph and x.requires_grad:
        with enable_grad():
            return call("reshape", x, shape=x.shape, nd=x.ndim)
    return x.detach().requires_grad_()


def _call(func, xs) -> tuple[bool, tuple[Tensor, ...]]:
    is_tuple, outs = _as_tuple(func(*xs))
    for o in outs:
        if not isinstance(o, Tensor):
            raise GraphError("the function must return a Tensor or a tuple of Tensors")
    return is_tuple, outs


def _count(n: int, what: str, result: bool = False) -> None:
    """Refuse n elements (of a `result`, or carried by a pass) past the limits of the run
    in progress, if any."""
    guard = T.state.guard
    if guard is not None and result:
        guard.result(n, what)
    elif guard is not None:
        guard.count(n, what)


def _zeros_if_none(g, like: Tensor) -> Tensor:
    return g if g is not None else Tensor.wrap(np.zeros_like(like.data))


def _unpack(is_tuple: bool, items):
    return tuple(items) if is_tuple else items[0]


def _result(t: Tensor, create_graph: bool) -> Tensor:
    return t if create_graph else t.detach()


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), vᵀ·J) as torch.autograd.functional.vjp."""
    in_tuple, xs = _inputs(inputs, create_graph)
    with enable_grad():
        out_tuple, outs = _call(func, xs)
        vs = None if v is None else list(_as_tuple(v)[1])
        grads = _grads(outs, xs, vs, create_graph)
    return (_unpack(out_tuple, [_result(o, create_graph) for o in outs]), _unpack(in_tuple, grads))


def _grads(outs, xs, vs, create_graph):
    live = [i for i, o in enumerate(outs) if o.requires_grad]
    if not live:
        return [Tensor.wrap(np.zeros_like(x.data)) for x in xs]
    gs = _grad(
        [outs[i] for i in live],
        xs,
        None if vs is None else [vs[i] for i in live],
        create_graph=create_graph,
        allow_unused=True,
    )
    return [_result(_zeros_if_none(g, x), create_graph) for g, x in zip(gs, xs, strict=True)]


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J·v) as torch.autograd.functional.jvp, by true forward mode."""
    _, given = _as_tuple(inputs)
    xs = [as_tensor(x).detach() for x in given]
    if v is None:
        if any(x.data.size != 1 for x in xs):
            raise ShapeError(
                "The vector v can only be None if the input to the user-provided "
                "function is a single Tensor with a single element."
            )
        vs = [Tensor.wrap(np.ones_like(x.data)) for x in xs]
    else:
        vs = [as_tensor(t, x) for t, x in zip(_as_tuple(v)[1], xs, strict=False)]
        # a tangent takes its input's dtype (float32 inputs give float32 tangents)
        vs = [
            t if t.dtype == x.dtype else Tensor.wrap(t.data.astype(x.dtype))
            for t, x in zip(vs, xs, strict=False)
        ]
    for x, t in zip(xs, vs, strict=False):
        if t.shape != x.shape:
            raise ShapeError(
                f"the tangent has shape {t.shape} but its input has shape {x.shape}",
                hint="give one tangent of each input's shape",
            )
        x.tangent = t
    with forward_mode():
        out_tuple, outs = _call(func, xs)
    tangents = [_zeros_if_none(o.tangent, o) for o in outs]
    return (
        _unpack(out_tuple, [_result(o, create_graph) for o in outs]),
        _unpack(out_tuple, [_result(t, create_graph) for t in tangents]),
    )


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="auto"):
    """The Jacobian, shaped output shape + input shape, in one vectorised pass.

    `strategy`: "reverse-mode" pushes the cotangent basis back, "forward-mode" the tangent
    basis forward, "auto" picks the smaller basis."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, not {strategy!r}")
    in_tuple, xs = _inputs(inputs, create_graph)
    if strategy == "forward-mode":
        return _jacobian_fwd(func, xs, in_tuple, create_graph)
    with enable_grad():
        out_tuple, outs = _call(func, xs)
    n_out, n_in = sum(o.data.size for o in outs), sum(x.data.size for x in xs)
    _count(n_out * n_in, "Jacobian", result=True)
    if strategy == "auto" and n_out > n_in:
        return _jacobian_fwd(func, xs, in_tuple, create_graph)
    if T.state.guard is not None:  # the pass carries a cotangent per output element
        _count(
            max(o.data.size for o in outs) * largest_node(list(outs)),
            "the Jacobian's reverse pass would carry",
        )
    if n_out * n_in >= LARGE:
        keep_freed_memory()
    rows = []
    for k, out in enumerate(outs):
        m = out.data.size
        if not out.requires_grad:
            rows.append([Tensor.wrap(np.zeros(out.shape + x.shape, x.dtype)) for x in xs])
            continue
        basis = (
            Tensor.wrap(np.eye(m, dtype=out.dtype).reshape((m, *out.shape)))
            if create_graph
            else identity(out.shape, out.dtype)
        )
        with enable_grad():
            got = run_backward(
                [out],
                [basis],
                retain_graph=create_graph or k < len(outs) - 1,
                create_graph=create_graph,
                capture=xs,
                accumulate=False,
            )
        rows.append(
            [
                _result(reshape(got[id(x)], out.shape + x.shape), create_graph)
                if id(x) in got
                else Tensor.wrap(np.zeros(out.shape + x.shape, x.dtype))
                for x in xs
            ]
        )
    return _unpack(out_tuple, [_unpack(in_tuple, r) for r in rows])


def _jacobian_fwd(func, xs, in_tuple, create_graph):
    """The Jacobian from the tangent basis pushed forward; with create_graph, a dense basis
    (a `Diag` keeps no graph) and the blocks cut out by recorded operations."""
    sizes = [x.data.size for x in xs]
    n = sum(sizes)
    if len(xs) == 1 and not create_graph:
        xs[0].tangent = identity(xs[0].shape, xs[0].dtype)
    else:
        _count(n * n, "the tangent basis would have")
        basis = np.eye(n, dtype=xs[0].dtype)
        offset = 0
        for x, size in zip(xs, sizes, strict=True):
            x.tangent = Tensor.wrap(basis[:, offset : offset + size].reshape((n, *x.shape)))
            offset += size
    with forward_mode(), enable_grad():
        out_tuple, outs = _call(func, xs)
    entries = n * sum(o.data.size for o in outs)
    _count(entries, "Jacobian", result=True)
    if entries >= LARGE:
        keep_freed_memory()
    with enable_grad() if create_graph else no_grad():
        rows = [_blocks(out, xs, sizes, create_graph) for out in outs]
    for x in xs:
        x.tangent = None
    return _unpack(out_tuple, [_unpack(in_tuple, r) for r in rows])


def _blocks(out: Tensor, xs, sizes, create_graph) -> list[Tensor]:
    """The tangent of `out`, shaped (n,) + out's shape, cut into one block per input,
    shaped out's shape + the input's shape."""
    n = sum(sizes)
    t = out.tangent
    if t is None:
        t = Tensor.wrap(np.zeros((n, *out.shape), out.dtype))
    t = call("permute", reshape(t, (n, out.data.size)), axes=(-1, -2))  # (out size, n)
    row, offset = [], 0
    for x, size in zip(xs, sizes, strict=True):
        block = reshape(t[:, offset : offset + size], out.shape + x.shape)
        # (a C-ordered copy, without the graph: np.ascontiguousarray makes 0-d 1-d)
        row.append(block if create_graph else Tensor.wrap(np.array(block.data, order="C")))
        offset += size
    return row


def hessian(
    func,
    inputs,
    create_graph=False,
    strict=False,
    vectorize=False,
    outer_jacobian_strategy="reverse-mode",
):
    """The Hessian of a scalar function: H[i][j] shaped input i + input j."""

    def gradient(*xs):
        with enable_grad():
            _, outs = _call(func, xs)
        if len(outs) != 1 or outs[0].data.size != 1:
            raise NotScalarError(
                "The function given to hessian should return a single Tensor with a single element",
                hint="reduce the output with sum() or mean()",
            )
        out = outs[0]
        if not out.requires_grad:
            return tuple(Tensor.wrap(np.zeros_like(x.data)) for x in xs)
        gs = _grad(out, list(xs), create_graph=True, allow_unused=True)
        return tuple(_zeros_if_none(g, x) for g, x in zip(gs, xs, strict=True))

    in_tuple, xs = _as_tuple(inputs)
    _count(sum(as_tensor(x).data.size for x in xs) ** 2, "Hessian", result=True)
    h = jacobian(gradient, xs, create_graph=create_graph, strategy=outer_jacobian_strategy)
    return h if in_tuple else h[0][0]
