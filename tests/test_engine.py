"""The engine's PyTorch semantics: the graph, backward, grad modes, conventions, functional."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import gradcli as gc
from gradcli.errors import GradcliError


def numgrad(f, x: np.ndarray, h=1e-6) -> np.ndarray:
    """Central finite differences of a scalar NumPy function."""
    x = np.asarray(x, dtype=np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def grad_of(fn, *values):
    """The gradients of the scalar fn(*tensors) at values (float64 leaves)."""
    xs = [gc.tensor(v, requires_grad=True) for v in values]
    fn(*xs).backward()
    return [x.grad.data for x in xs]


# -- leaves, grad_fn names, repr -------------------------------------------------------------


def test_leaves_and_grad_fn_names():
    x = gc.ones(2, 2, requires_grad=True)
    assert x.requires_grad and x.is_leaf and x.grad_fn is None and x.grad is None
    names = {
        "AddBackward0": x + 2,
        "MulBackward0": x * x,
        "MeanBackward0": x.mean(),
        "PowBackward0": x**2,
        "SumBackward0": x.sum(),
        "DivBackward0": x / 2,
        "SubBackward0": x - 1,
        "NegBackward0": -x,
        "ExpBackward0": gc.exp(x),
        "SinBackward0": x.sin(),
        "MatmulBackward0": x @ x,
        "IndexBackward0": x[0],
        "MaxBackward0": x.max(),
        "PermuteBackward0": x.T,
        "ReshapeBackward0": x.reshape(4),
    }
    for name, y in names.items():
        assert type(y.grad_fn).__name__ == name
        assert y.grad_fn.name() == name
        assert repr(y.grad_fn) == f"<{name}>"
        assert not y.is_leaf and y.requires_grad
    y = x + 2
    assert "grad_fn=<AddBackward0>" in repr(y)
    assert [type(n).__name__ for n, _ in (y * y).grad_fn.next_functions] == [
        "AddBackward0",
        "AddBackward0",
    ]
    assert repr(y.grad_fn.next_functions[0][0]) == "<AccumulateGrad>"


def test_constants_and_leaves():
    k = gc.tensor([2.0])
    x = gc.tensor([1.0], requires_grad=True)
    y = k * x
    assert k.is_leaf and x.is_leaf and not y.is_leaf
    assert not k.requires_grad and y.requires_grad
    assert not (k * 3).requires_grad and (k * 3).grad_fn is None and (k * 3).is_leaf
    with pytest.raises(GradcliError):
        y.requires_grad_(False)
    with pytest.raises(RuntimeError):
        x.numpy()
    assert isinstance(x.detach().numpy(), np.ndarray)


def test_requires_grad_later():
    a = gc.tensor([[1.0, 2.0], [3.0, 4.0]])
    a = (a * 3) / (a - 1.5)
    assert not a.requires_grad
    a.requires_grad_(True)
    assert a.requires_grad and a.is_leaf
    b = (a * a).sum()
    assert type(b.grad_fn).__name__ == "SumBackward0"


# -- backward ------------------------------------------------------------------------------


def test_accumulation_and_zero():
    x = gc.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.data, [2, 4])
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.data, [4, 8])
    x.grad.zero_()
    np.testing.assert_allclose(x.grad.data, [0, 0])
    (3 * x).sum().backward()
    np.testing.assert_allclose(x.grad.data, [3, 3])
    x.grad = None
    (x * 1).sum().backward()
    np.testing.assert_allclose(x.grad.data, [1, 1])


def test_retain_graph_and_freed_graph():
    x = gc.tensor([1.0, 2.0], requires_grad=True)
    out = (gc.exp(x) * x).sum()
    out.backward(retain_graph=True)
    first = x.grad.data.copy()
    out.backward()
    np.testing.assert_allclose(x.grad.data, 2 * first)
    with pytest.raises(RuntimeError, match="backward through the graph a second time") as err:
        out.backward()
    assert isinstance(err.value, GradcliError)
    # a graph freed by backward can't be used by autograd.grad either
    y = (x * x).sum()
    gc.autograd.grad(y, x)
    with pytest.raises(RuntimeError, match="second time"):
        gc.autograd.grad(y, x)


def test_backward_on_non_scalar_needs_a_gradient():
    x = gc.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    with pytest.raises(
        RuntimeError, match="grad can be implicitly created only for scalar outputs"
    ) as err:
        y.backward()
    assert isinstance(err.value, GradcliError)
    y.backward(gradient=gc.tensor([1.0, 0.1, 0.01]))
    np.testing.assert_allclose(x.grad.data, [2, 0.2, 0.02])
    # a one-element output is fine
    z = gc.tensor([3.0], requires_grad=True)
    (z * z).backward()
    np.testing.assert_allclose(z.grad.data, [6.0])
    # a gradient of the wrong shape
    with pytest.raises(GradcliError, match="Mismatch in shape"):
        (x * 2).backward(gradient=gc.ones(2))


def test_backward_on_tensor_without_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        gc.tensor([1.0]).sum().backward()


def test_non_leaf_grad_warns_and_retain_grad():
    x = gc.tensor([1.0], requires_grad=True)
    y = x * 2
    z = y + 1.0
    z.backward()
    with pytest.warns(UserWarning, match="not a leaf"):
        assert z.grad is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert x.grad is not None  # a leaf: no warning
    x.grad = None
    y = x * 2
    y.retain_grad()
    z = y * y
    z.retain_grad()
    z.backward()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(y.grad.data, [4.0])
        np.testing.assert_allclose(z.grad.data, [1.0])
    np.testing.assert_allclose(x.grad.data, [8.0])


def test_register_hook_sees_and_replaces_the_gradient():
    x = gc.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    seen = []
    handle = y.register_hook(lambda g: seen.append(g.data.copy()))
    (y * y).sum().backward()
    np.testing.assert_allclose(seen[0], [6.0, 12.0])
    np.testing.assert_allclose(x.grad.data, [18.0, 36.0])
    handle.remove()
    x.grad = None
    y = x * 3  # (the first backward freed y's graph)
    (y * y).sum().backward()
    assert len(seen) == 1
    y = x * 3
    y.register_hook(lambda g: seen.append(g.data.copy()))
    (y * 1).sum().backward()
    assert len(seen) == 2
    # a hook's return value replaces the gradient; on a leaf too
    x.grad = None
    h1 = (x * 1).register_hook(lambda g: g)  # unrelated tensor: never called
    hx = x.register_hook(lambda g: g * 0 + 7)
    (x * 5).sum().backward()
    np.testing.assert_allclose(x.grad.data, [7.0, 7.0])
    hx.remove()
    h1.remove()
    y = x * 2
    y.register_hook(lambda g: g * 10)
    x.grad = None
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, [20.0, 20.0])
    with pytest.raises(GradcliError):
        gc.tensor([1.0]).register_hook(lambda g: g)


# -- grad modes, detach, .data ----------------------------------------------------------------


def test_no_grad_and_enable_grad_nesting():
    x = gc.tensor([1.0], requires_grad=True)
    with gc.no_grad():
        assert not gc.is_grad_enabled()
        y = x * 2
        assert not y.requires_grad and y.grad_fn is None
        z = y - 2
        assert z.grad_fn is None
        with gc.enable_grad():
            assert gc.is_grad_enabled()
            assert (x * 2).requires_grad
            with gc.no_grad():
                assert not (x**2).requires_grad
            assert (x**2).requires_grad
        assert not (x * 2).requires_grad
    assert gc.is_grad_enabled()
    assert (x**2).requires_grad


def test_grad_modes_as_decorators():
    x = gc.tensor([1.0], requires_grad=True)

    @gc.no_grad()
    def double(t):
        """Doubles."""
        return t * 2

    @gc.no_grad
    def triple(t):
        return t * 3

    @gc.enable_grad()
    def square(t):
        return t * t

    assert not double(x).requires_grad
    assert not triple(x).requires_grad
    assert double.__name__ == "double" and double.__doc__ == "Doubles."
    with gc.no_grad():
        assert square(x).requires_grad
    assert gc.is_grad_enabled()
    with pytest.raises(ZeroDivisionError):
        gc.no_grad()(lambda: 1 / 0)()
    assert gc.is_grad_enabled()


def test_detach_shares_values_without_grad():
    x = gc.tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    np.testing.assert_array_equal(d.data, x.data)
    d.data[0] = 5.0
    assert x.data[0] == 5.0  # shared storage, as in PyTorch
    # gradient flows through x only, not through the detached factor
    x = gc.tensor(3.0, requires_grad=True)
    (x * gc.detach(x)).backward()
    assert x.grad.item() == 3.0


def test_data_assignment_keeps_grad_fn():
    x = gc.tensor([1.0], requires_grad=True)
    y = x * 2
    z = y + 1.0
    z.data = y.data - 2
    np.testing.assert_allclose(z.data, [0.0])
    assert type(z.grad_fn).__name__ == "AddBackward0"
    z.backward()
    np.testing.assert_allclose(x.grad.data, [2.0])


# -- autograd.grad ---------------------------------------------------------------------------


def test_autograd_grad_with_grad_outputs():
    x = gc.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    (g,) = gc.autograd.grad(y, x, grad_outputs=gc.tensor([1.0, 0.5]))
    np.testing.assert_allclose(g.data, [2.0, 2.0])
    assert x.grad is None  # autograd.grad leaves .grad alone
    (g,) = gc.autograd.grad([(x * 3).sum()], [x])
    np.testing.assert_allclose(g.data, [3.0, 3.0])


def test_third_derivative_through_create_graph():
    x = gc.tensor(2.0, requires_grad=True)
    y = x**3
    (g1,) = gc.autograd.grad(y, x, create_graph=True)
    (g2,) = gc.autograd.grad(g1, x, create_graph=True)
    (g3,) = gc.autograd.grad(g2, x)
    assert (g1.item(), g2.item(), g3.item()) == (12.0, 12.0, 6.0)
    assert g1.requires_grad and not g3.requires_grad
    # backward(create_graph=True) leaves a differentiable .grad
    x = gc.tensor(2.0, requires_grad=True)
    (x**3).backward(create_graph=True)
    assert x.grad.requires_grad
    (g2,) = gc.autograd.grad(x.grad, x)
    assert g2.item() == 12.0


def test_allow_unused_and_unused_variables():
    x = gc.tensor(1.0, requires_grad=True)
    w = gc.tensor(2.0, requires_grad=True)
    y = x * 3
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        gc.autograd.grad(y, [x, w], retain_graph=True)
    gx, gw = gc.autograd.grad(y, [x, w], allow_unused=True, retain_graph=True)
    assert gx.item() == 3.0 and gw is None
    gx, gw = gc.autograd.grad(y, [x, w], materialize_grads=True)
    assert gw.item() == 0.0
    y = x * 3
    y.backward()
    assert w.grad is None and x.grad.item() == 3.0
    # a tensor that does not require grad keeps grad None
    x1 = gc.tensor(1.0)
    x2 = gc.tensor(2.0, requires_grad=True)
    (3 * x1 * x1 + 9 * x2).backward()
    assert x1.grad is None and x2.grad.item() == 9.0


def test_shared_subexpressions_accumulate():
    x = gc.tensor(1.5, requires_grad=True)
    a = x * x
    b = a + a * a + gc.sin(a)
    b.backward()
    assert math.isclose(x.grad.item(), (1 + 2 * 2.25 + math.cos(2.25)) * 3.0)


# -- deep graphs -----------------------------------------------------------------------------


def test_deep_chain_has_no_recursion_limit():
    x = gc.tensor(1.0, requires_grad=True)
    y = x
    with np.errstate(over="ignore"):
        for _ in range(100_000):
            y = y * 2
        y.backward()
    assert x.grad.item() == math.inf  # 2**100000 overflows, but backward ran through
    x = gc.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.00001
    y.backward()
    assert math.isclose(x.grad.item(), 1.00001**100_000, rel_tol=1e-9)


def test_deep_sin_chain():
    n = 100_000
    x = gc.tensor(0.5, requires_grad=True)
    y = x
    for _ in range(n):
        y = gc.sin(y) * 1.0001 + 0.1
    y.backward()
    v, dlog = 0.5, 0.0
    for _ in range(n):
        dlog += math.log(abs(math.cos(v) * 1.0001))
        v = math.sin(v) * 1.0001 + 0.1
    assert math.isclose(y.item(), v, rel_tol=1e-12)
    expected = math.exp(dlog)
    assert math.isclose(x.grad.item(), expected, rel_tol=1e-6, abs_tol=1e-300)


# -- conventions at kinks ----------------------------------------------------------------------


def test_conventions_at_kinks():
    (g,) = grad_of(lambda x: gc.abs(x).sum(), [0.0, 2.0, -2.0])
    np.testing.assert_array_equal(g, [0.0, 1.0, -1.0])  # abs'(0) = 0
    (g,) = grad_of(lambda x: gc.relu(x).sum(), [0.0, 2.0, -2.0])
    np.testing.assert_array_equal(g, [0.0, 1.0, 0.0])  # relu'(0) = 0
    (g,) = grad_of(lambda x: (x * gc.sign(x)).sum(), [0.0, 2.0, -2.0])
    np.testing.assert_array_equal(g, [0.0, 1.0, -1.0])  # sign'(x) = 0: only x's own factor
    jac = gc.functional.jacobian(gc.sign, gc.tensor([0.0, 2.0, -2.0]))
    np.testing.assert_array_equal(jac.data, np.zeros((3, 3)))
    with np.errstate(divide="ignore"):
        (g,) = grad_of(gc.sqrt, 0.0)
    assert g == math.inf  # sqrt'(0) = inf
    (g,) = grad_of(gc.norm, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(g, [0.0, 0.0, 0.0])  # norm'(0) = 0
    (g,) = grad_of(lambda x: gc.norm(x, axis=1).sum(), [[0.0, 0.0], [3.0, 4.0]])
    np.testing.assert_allclose(g, [[0.0, 0.0], [0.6, 0.8]])
    (g,) = grad_of(lambda x: gc.clip(x, -1, 1).sum(), [-1.0, 1.0, 0.0, -2.0, 2.0])
    np.testing.assert_array_equal(g, [1.0, 1.0, 1.0, 0.0, 0.0])  # bounds included
    (g,) = grad_of(lambda x: x**0, 0.0)
    assert g == 0.0
    (g,) = grad_of(lambda x: (x**0).sum(), [0.0, 3.0])
    np.testing.assert_array_equal(g, [0.0, 0.0])
    (g,) = grad_of(lambda x: x**2, 0.0)
    assert g == 0.0
    gx, gy = grad_of(lambda x, y: x**y, 0.0, 2.0)
    assert (gx, gy) == (0.0, 0.0)  # the exponent's derivative is 0 where the base is 0


def test_ties_split_evenly():
    ga, gb = grad_of(gc.maximum, 1.0, 1.0)
    assert (ga, gb) == (0.5, 0.5)
    ga, gb = grad_of(gc.minimum, 1.0, 1.0)
    assert (ga, gb) == (0.5, 0.5)
    ga, gb = grad_of(lambda a, b: gc.maximum(a, b).sum(), [1.0, 3.0, 2.0], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(ga, [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(gb, [0.5, 0.0, 1.0])
    (g,) = grad_of(gc.max, [1.0, 3.0, 3.0])
    np.testing.assert_array_equal(g, [0.0, 0.5, 0.5])
    (g,) = grad_of(gc.min, [1.0, 1.0, 1.0, 3.0])
    np.testing.assert_allclose(g, [1 / 3, 1 / 3, 1 / 3, 0.0])
    (g,) = grad_of(lambda x: gc.max(x, axis=0).sum(), [[1.0, 5.0], [1.0, 2.0]])
    np.testing.assert_array_equal(g, [[0.5, 1.0], [0.5, 0.0]])
    (g,) = grad_of(lambda x: gc.min(x, axis=-1, keepdims=True).sum(), [[1.0, 1.0], [0.0, 2.0]])
    np.testing.assert_array_equal(g, [[0.5, 0.5], [1.0, 0.0]])


def test_prod_with_zeros():
    (g,) = grad_of(gc.prod, [2.0, 0.0, 3.0])
    np.testing.assert_array_equal(g, [0.0, 6.0, 0.0])
    (g,) = grad_of(gc.prod, [2.0, 0.0, 0.0])
    np.testing.assert_array_equal(g, [0.0, 0.0, 0.0])
    (g,) = grad_of(gc.prod, [2.0, 4.0, 3.0])
    np.testing.assert_array_equal(g, [12.0, 6.0, 8.0])
    (g,) = grad_of(lambda x: gc.prod(x, axis=1).sum(), [[2.0, 0.0], [3.0, 5.0]])
    np.testing.assert_array_equal(g, [[0.0, 2.0], [5.0, 3.0]])
    # second derivative with one zero: d2/dx0dx1 of x0*x1*x2 = x2
    h = gc.functional.hessian(gc.prod, gc.tensor([2.0, 0.0, 3.0]))
    np.testing.assert_allclose(h.data, [[0, 3, 0], [3, 0, 2], [0, 2, 0]])


# -- dtypes ----------------------------------------------------------------------------------


def test_dtypes():
    assert gc.tensor([1.0]).dtype == np.float64
    assert gc.tensor([1, 2]).dtype == np.float64
    assert gc.tensor(3).dtype == np.float64
    assert gc.ones(2).dtype == np.float64 and gc.get_default_dtype() == np.float64
    x = gc.tensor([1.0, 2.0], dtype="float32", requires_grad=True)
    ys = [
        x * 2,
        2 * x,
        x + 1.5,
        1.5 - x,
        x / 3,
        3 / x,
        x**2,
        2**x,
        gc.sin(x) * 0.5,
        gc.clip(x, 0, 1.5),
        gc.where(x > 1, x, 0.0),
        gc.maximum(x, 0.5),
        x.mean(),
        gc.stack([x, x]),
        gc.softmax(x),
        gc.norm(x),
        gc.var(x),
        x @ x,
    ]
    for y in ys:
        assert y.dtype == np.float32, y
    sum(y.sum() for y in ys).backward()
    assert x.grad.dtype == np.float32
    with pytest.raises(GradcliError):
        gc.tensor([1.0], dtype="int64")
    x64 = gc.tensor([1.0, 2.0], dtype=np.float64)
    assert x64.dtype == np.float64


# -- functional ----------------------------------------------------------------------------


def test_jacobian_shapes_for_tuples():
    def f(x, y):
        return x * y.sum(), (x[:, None] * y[None, :]).sum(0) + 0 * y

    x, y = gc.tensor([1.0, 2.0]), gc.tensor([3.0, 4.0, 5.0])
    for strategy in ("auto", "reverse-mode", "forward-mode"):
        jac = gc.functional.jacobian(f, (x, y), strategy=strategy)
        assert isinstance(jac, tuple) and len(jac) == 2
        assert [[j.shape for j in row] for row in jac] == [[(2, 2), (2, 3)], [(3, 2), (3, 3)]]
        np.testing.assert_allclose(jac[0][0].data, 12 * np.eye(2))
        np.testing.assert_allclose(jac[1][0].data, np.array([[3, 3], [4, 4], [5, 5]]))
        np.testing.assert_allclose(jac[1][1].data, 3 * np.eye(3))
    j = gc.functional.jacobian(lambda x: x * 2, gc.tensor([[1.0, 2.0]]))
    assert isinstance(j, gc.Tensor) and j.shape == (1, 2, 1, 2)
    (j,) = gc.functional.jacobian(lambda x: (x * 2).sum(), (gc.tensor([1.0, 2.0]),))
    assert j.shape == (2,)
    j = gc.functional.jacobian(lambda x: gc.tensor(1.0), gc.tensor([1.0, 2.0]))
    np.testing.assert_array_equal(j.data, [0.0, 0.0])
    with pytest.raises(ValueError):
        gc.functional.jacobian(gc.sin, gc.tensor(1.0), strategy="sideways")


def test_hessians():
    x = np.array([0.3, -1.2, 2.0])
    h = gc.functional.hessian(gc.logsumexp, gc.tensor(x))
    p = np.exp(x) / np.exp(x).sum()
    np.testing.assert_allclose(h.data, np.diag(p) - np.outer(p, p), atol=1e-12)
    assert h.shape == (3, 3)
    h = gc.functional.hessian(lambda a, b: a**2 * b, (gc.tensor(3.0), gc.tensor(2.0)))
    assert isinstance(h, tuple) and all(isinstance(r, tuple) and len(r) == 2 for r in h)
    np.testing.assert_allclose([[e.item() for e in r] for r in h], [[4.0, 6.0], [6.0, 0.0]])
    h = gc.functional.hessian(
        lambda a, b: (a**2 * b).sum(), (gc.tensor([1.0, 2.0]), gc.tensor(3.0))
    )
    assert [[e.shape for e in r] for r in h] == [[(2, 2), (2,)], [(2,), ()]]
    np.testing.assert_allclose(h[0][1].data, [2.0, 4.0])
    with pytest.raises(RuntimeError, match="single element"):
        gc.functional.hessian(lambda a: a * 2, gc.tensor([1.0, 2.0]))


def test_jvp_and_vjp_against_the_jacobian():
    a = np.array([[1.0, 2.0, 0.5], [-1.0, 0.3, 2.0]])

    def f(x):
        return gc.tanh(gc.tensor(a) @ x) * x[:2]

    x = gc.tensor([0.2, -0.4, 0.9])
    jac = gc.functional.jacobian(f, x).data
    v = np.array([1.0, -2.0, 0.5])
    out, t = gc.functional.jvp(f, x, gc.tensor(v))
    np.testing.assert_allclose(t.data, jac @ v, rtol=1e-12)
    np.testing.assert_allclose(out.data, f(x).data)
    u = np.array([0.7, -0.1])
    out, g = gc.functional.vjp(f, x, gc.tensor(u))
    np.testing.assert_allclose(g.data, u @ jac, rtol=1e-12)
    # tuple inputs; tangents not given for an output leave it zero
    out, ts = gc.functional.jvp(
        lambda p, q: (p * q, p + 1),
        (gc.tensor(2.0), gc.tensor(3.0)),
        (gc.tensor(1.0), gc.tensor(0.0)),
    )
    assert [t.item() for t in ts] == [3.0, 1.0]
    out, gs = gc.functional.vjp(
        lambda p, q: p * q, (gc.tensor(2.0), gc.tensor(3.0)), gc.tensor(1.0)
    )
    assert [g.item() for g in gs] == [3.0, 2.0]
    _, t = gc.functional.jvp(lambda x: x**2, gc.tensor(3.0))  # v=None on one element
    assert t.item() == 6.0
    # create_graph: the vjp stays differentiable
    x = gc.tensor(2.0, requires_grad=True)
    _, g = gc.functional.vjp(lambda x: x**3, x, create_graph=True)
    (g2,) = gc.autograd.grad(g, x)
    assert g2.item() == 12.0


# -- linear algebra, einsum, indexing, shapes ------------------------------------------------


def test_matmul_with_vectors():
    rng = np.random.default_rng(0)
    a, m, b = rng.standard_normal(3), rng.standard_normal((3, 2)), rng.standard_normal(2)
    ga, gm = grad_of(lambda a, m: ((a @ m) ** 2).sum(), a, m)
    assert gc.tensor(a) @ gc.tensor(m) is not None and (gc.tensor(a) @ gc.tensor(m)).shape == (2,)
    np.testing.assert_allclose(ga, numgrad(lambda a: ((a @ m) ** 2).sum(), a), rtol=1e-6)
    np.testing.assert_allclose(gm, numgrad(lambda m: ((a @ m) ** 2).sum(), m), rtol=1e-6)
    gm, gb = grad_of(lambda m, b: ((m @ b) ** 2).sum(), m, b)
    assert (gc.tensor(m) @ gc.tensor(b)).shape == (3,)
    np.testing.assert_allclose(gm, 2 * np.outer(m @ b, b), rtol=1e-12)
    np.testing.assert_allclose(gb, 2 * m.T @ (m @ b), rtol=1e-12)
    g1, g2 = grad_of(lambda p, q: p @ q, a, a[::-1].copy())
    assert (gc.tensor(a) @ gc.tensor(a)).shape == ()
    np.testing.assert_allclose(g1, a[::-1])
    np.testing.assert_allclose(g2, a)
    g1, g2 = grad_of(lambda p, q: p.mm(q).sum(), [[1.0, 2.0, 3.0]], [[1.0], [2.0], [3.0]])
    np.testing.assert_array_equal(g1, [[1, 2, 3]])
    np.testing.assert_array_equal(g2, [[1], [2], [3]])
    with pytest.raises(GradcliError):
        gc.tensor([1.0, 2.0]) @ gc.tensor([1.0, 2.0, 3.0])
    g1, g2 = grad_of(lambda p, q: gc.dot(p, q), a, a)
    np.testing.assert_allclose(g1, a)


def test_solve_det_inv():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((3, 3)) + 3 * np.eye(3)
    b = rng.standard_normal(3)
    x = gc.solve(gc.tensor(A), gc.tensor(b))
    assert x.shape == (3,)
    np.testing.assert_allclose(x.data, np.linalg.solve(A, b))
    gA, gb = grad_of(lambda A, b: (gc.solve(A, b) ** 2).sum(), A, b)
    np.testing.assert_allclose(
        gA, numgrad(lambda A: (np.linalg.solve(A, b) ** 2).sum(), A), rtol=1e-6, atol=1e-9
    )
    np.testing.assert_allclose(
        gb, numgrad(lambda b: (np.linalg.solve(A, b) ** 2).sum(), b), rtol=1e-6, atol=1e-9
    )
    (g,) = grad_of(gc.det, A)
    np.testing.assert_allclose(g, np.linalg.det(A) * np.linalg.inv(A).T, rtol=1e-10)
    (g,) = grad_of(lambda A: gc.inv(A).sum(), A)
    Ai = np.linalg.inv(A)
    np.testing.assert_allclose(g, -(Ai.T @ np.ones((3, 3)) @ Ai.T), rtol=1e-10)
    (g,) = grad_of(lambda A: gc.trace(A @ A), A)
    np.testing.assert_allclose(g, 2 * A.T, rtol=1e-12)
    with pytest.raises(GradcliError):
        gc.inv(gc.tensor([[1.0, 2.0], [2.0, 4.0]]))
    with pytest.raises(GradcliError):
        gc.det(gc.ones(2, 3))


def test_einsum():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    v, w = rng.standard_normal(3), rng.standard_normal(3)
    ga, gb = grad_of(lambda a, b: gc.einsum("ij,jk->ik", a, b).sum(), a, b)
    np.testing.assert_allclose(ga, np.ones((2, 4)) @ b.T)
    np.testing.assert_allclose(gb, a.T @ np.ones((2, 4)))
    (g,) = grad_of(lambda a: (gc.einsum("ij->i", a) ** 2).sum(), a)
    np.testing.assert_allclose(g, np.repeat(2 * a.sum(1, keepdims=True), 3, axis=1))
    gv, gw = grad_of(lambda v, w: gc.einsum("i,i->", v, w), v, w)
    np.testing.assert_allclose(gv, w)
    np.testing.assert_allclose(gw, v)
    assert gc.einsum("ij,jk", gc.tensor(a), gc.tensor(b)).shape == (2, 4)  # implicit output
    h = gc.functional.hessian(lambda v: gc.einsum("i,i->", v, v), gc.tensor(v))
    np.testing.assert_allclose(h.data, 2 * np.eye(3))
    # a repeated index takes the diagonal: its gradient goes back onto it (as PyTorch)
    m = gc.tensor(rng.standard_normal((3, 3)), requires_grad=True)
    t = gc.einsum("ii->", m)
    np.testing.assert_allclose(t.data, np.trace(m.data))
    t.backward()
    np.testing.assert_array_equal(m.grad.data, np.eye(3))


def test_indexing():
    x = np.arange(12.0).reshape(3, 4)
    (g,) = grad_of(lambda t: t[-1].sum() + 2 * t[:, -2].sum() + t[1:, ::2].sum(), x)
    expected = np.zeros((3, 4))
    expected[-1] += 1
    expected[:, -2] += 2
    expected[1:, ::2] += 1
    np.testing.assert_array_equal(g, expected)
    mask = x > 6.5
    (g,) = grad_of(lambda t: (t[mask] ** 2).sum(), x)
    np.testing.assert_array_equal(g, np.where(mask, 2 * x, 0))
    (g,) = grad_of(lambda t: (t[gc.tensor(x) > 6.5] * 1).sum(), x)  # a Tensor mask
    np.testing.assert_array_equal(g, mask * 1.0)
    (g,) = grad_of(lambda t: t[[0, 0, 2, -1]].sum(), np.arange(4.0))
    np.testing.assert_array_equal(g, [2.0, 0.0, 1.0, 1.0])  # repeated indices accumulate
    (g,) = grad_of(
        lambda t: (t[np.array([0, 0]), np.array([1, 1])] * gc.tensor([1.0, 2.0])).sum(), x
    )
    assert g[0, 1] == 3.0 and g.sum() == 3.0
    (g,) = grad_of(lambda t: t[0, 0] * t[2, 3], x)
    assert g[0, 0] == 11.0 and g[2, 3] == 0.0
    with pytest.raises(GradcliError):
        gc.tensor(x)[5]


def test_concat_stack_and_shapes():
    a, b = np.array([[1.0, 2.0]]), np.array([[3.0, 4.0], [5.0, 6.0]])
    ga, gb = grad_of(
        lambda a, b: (gc.concat([a, b]) * gc.tensor([[1.0], [2.0], [3.0]])).sum(), a, b
    )
    np.testing.assert_array_equal(ga, [[1.0, 1.0]])
    np.testing.assert_array_equal(gb, [[2.0, 2.0], [3.0, 3.0]])
    u, v = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    s = gc.stack([gc.tensor(u), gc.tensor(v)], axis=1)
    assert s.shape == (2, 2)
    np.testing.assert_array_equal(s.data, [[1, 3], [2, 4]])
    gu, gv = grad_of(lambda u, v: (gc.stack([u, v]) * gc.tensor([[1.0], [2.0]])).sum(), u, v)
    np.testing.assert_array_equal(gu, [1.0, 1.0])
    np.testing.assert_array_equal(gv, [2.0, 2.0])
    x = np.arange(6.0).reshape(2, 3)
    w = np.arange(6.0)
    (g,) = grad_of(lambda t: (t.reshape(3, 2).flatten() * gc.tensor(w)).sum(), x)
    np.testing.assert_array_equal(g, w.reshape(2, 3))
    (g,) = grad_of(lambda t: (t.T * gc.tensor(x.T)).sum(), x)
    np.testing.assert_array_equal(g, x)
    (g,) = grad_of(lambda t: (gc.transpose(t, (1, 0)) ** 2).sum(), x)
    np.testing.assert_array_equal(g, 2 * x)
    (g,) = grad_of(lambda t: (gc.squeeze(t) * gc.tensor([1.0, 2.0])).sum(), [[[3.0], [4.0]]])
    np.testing.assert_array_equal(g, [[[1.0], [2.0]]])
    assert gc.squeeze(gc.ones(1, 2, 1), axis=0).shape == (2, 1)
    assert gc.unsqueeze(gc.ones(2), -1).shape == (2, 1)
    (g,) = grad_of(lambda t: (gc.diag(t) * gc.tensor([1.0, 2.0])).sum(), x)
    np.testing.assert_array_equal(g, [[1.0, 0, 0], [0, 2.0, 0]])  # diag of a non-square matrix
    (g,) = grad_of(lambda t: (gc.diag(t) ** 2).sum(), [1.0, 2.0])
    np.testing.assert_array_equal(g, [2.0, 4.0])
    with pytest.raises(GradcliError):
        gc.reshape(gc.ones(6), (4, 2))
    with pytest.raises(GradcliError):
        gc.concat([gc.ones(2), gc.ones(2, 2)])


def test_broadcasting_gradients_sum_back():
    ga, gb = grad_of(lambda a, b: (a * b).sum(), np.ones((3, 2)), [1.0, 2.0])
    np.testing.assert_array_equal(ga, [[1, 2]] * 3)
    np.testing.assert_array_equal(gb, [3.0, 3.0])
    ga, gb = grad_of(lambda a, b: (a + b).sum(), np.ones((3, 1)), np.ones((1, 4)))
    np.testing.assert_array_equal(ga, [[4.0]] * 3)
    np.testing.assert_array_equal(gb, [[3.0] * 4])
    ga, gb = grad_of(lambda a, b: (a - b).sum(), 2.0, np.ones((2, 2)))
    assert ga == 4.0
    np.testing.assert_array_equal(gb, -np.ones((2, 2)))


def test_functions_on_arrays_give_tensors_outside_the_rules():
    """Inside an unrecorded backward pass the rules' functions work on plain arrays; the
    user's code (a hook, or any call outside backward) still gets Tensors."""
    assert type(gc.cos(np.ones(3))) is gc.Tensor
    seen = []
    x = gc.tensor([0.5, 1.0], requires_grad=True)
    y = gc.sin(x)
    y.register_hook(lambda g: seen.append(type(gc.cos(np.ones(2)))))
    y.sum().backward()
    assert seen == [gc.Tensor]
    np.testing.assert_allclose(x.grad.data, np.cos([0.5, 1.0]), rtol=1e-15)
    assert type(gc.cos(np.ones(3))) is gc.Tensor
