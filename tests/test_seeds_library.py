"""Every seed example (S1-S20 of SEED-EXAMPLES.md) through the library, with the seeds' numbers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gradcli as gc

X7 = [-0.9618, -3.3220, -0.6637]


def _names_along(t) -> list[str]:
    """grad_fn names from t back to its leaves along first inputs."""
    names, node = [], t.grad_fn
    while node is not None and node.name() != "AccumulateGrad":
        names.append(node.name())
        node = node.next_functions[0][0]
    return names


def test_s1_s2_s3_tutorial():
    x = gc.ones(2, 2, requires_grad=True)
    y = x + 2
    np.testing.assert_array_equal(y.data, np.full((2, 2), 3.0))
    assert type(y.grad_fn).__name__ == "AddBackward0" and repr(y.grad_fn) == "<AddBackward0>"
    z = y * y * 3
    out = z.mean()
    np.testing.assert_array_equal(z.data, np.full((2, 2), 27.0))
    assert z.grad_fn.name() == "MulBackward0" and out.grad_fn.name() == "MeanBackward0"
    assert out.item() == 27.0
    out.backward()
    np.testing.assert_array_equal(x.grad.data, np.full((2, 2), 4.5))
    # the symbolic derivative dout/dx_i = 3/2 (x_i + 2), at another point
    v = np.array([[0.3, -1.0], [2.5, 0.0]])
    x = gc.tensor(v, requires_grad=True)
    (3 * (x + 2) ** 2).mean().backward()
    np.testing.assert_allclose(x.grad.data, 1.5 * (v + 2))


def test_s4_requires_grad_later():
    gc.manual_seed(0)
    a = gc.randn(2, 2)
    a = (a * 3) / (a - 1)
    assert a.requires_grad is False
    a.requires_grad_(True)
    assert a.requires_grad is True
    b = (a * a).sum()
    assert b.grad_fn.name() == "SumBackward0"


def _doubling(x):
    y = x * 2
    loops = 0
    while gc.norm(y) < 1000:
        y = y * 2
        loops += 1
    return y, loops


def test_s5_s6_s7_define_by_run_loop():
    x = gc.tensor(X7, requires_grad=True)
    assert abs(gc.norm(x).item() - 3.5215) < 1e-4
    y, loops = _doubling(x)
    assert loops == 8  # 9 multiplications in all
    assert _names_along(y) == ["MulBackward0"] * 9
    np.testing.assert_allclose(y.data, 512 * np.array(X7))
    with pytest.raises(
        RuntimeError, match="grad can be implicitly created only for scalar outputs"
    ) as err:
        y.backward()
    assert isinstance(err.value, gc.GradcliError)
    y.backward(gradient=gc.tensor([0.1, 1.0, 0.0001]))
    np.testing.assert_allclose(x.grad.data, [51.2, 512.0, 0.0512], rtol=1e-12)
    jac = gc.functional.jacobian(lambda x: _doubling(x)[0], gc.tensor(X7))
    np.testing.assert_allclose(jac.data, 512 * np.eye(3))


def test_s8_no_grad():
    x = gc.tensor(X7, requires_grad=True)
    assert x.requires_grad and (x**2).requires_grad
    with gc.no_grad():
        assert (x**2).requires_grad is False
        y = x * 2
        z = y - 2
        assert z.grad_fn is None


def test_s9_detach():
    x = gc.tensor(X7, requires_grad=True)
    y = x.detach()
    assert y.requires_grad is False
    np.testing.assert_array_equal(x.data, y.data)
    x = gc.tensor(3.0, requires_grad=True)
    (x * gc.detach(x)).backward()
    assert x.grad.item() == 3.0


def test_s10_s11_s12_leaves_hooks_and_data():
    k = gc.tensor([2.0])
    x = gc.tensor([1.0], requires_grad=True)
    y = k * x
    assert k.is_leaf and x.is_leaf and not y.is_leaf
    seen = []
    y.register_hook(lambda g: seen.append(g.data.copy()))
    z = y + 1.0
    z.backward()
    np.testing.assert_array_equal(x.grad.data, [2.0])
    assert x.grad_fn is None and k.grad_fn is None
    np.testing.assert_array_equal(seen[0], [1.0])  # the hook saw y's gradient
    with pytest.warns(UserWarning):
        assert y.grad is None and z.grad is None
    y = k * x
    y.retain_grad()
    z = y + 1.0
    z.retain_grad()
    z.backward()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(y.grad.data, [1.0])
        np.testing.assert_array_equal(z.grad.data, [1.0])
    # S12: assigning .data changes the value and keeps the grad_fn
    z.data = y.data - 2
    np.testing.assert_array_equal(z.data, [0.0])
    assert z.grad_fn.name() == "AddBackward0"


def test_s13_linear():
    x = gc.tensor(1.0, requires_grad=True)
    w = gc.tensor(2.0, requires_grad=True)
    b = gc.tensor(3.0, requires_grad=True)
    y = w * x + b
    y.backward()
    assert (x.grad.item(), w.grad.item(), b.grad.item()) == (2.0, 1.0, 1.0)


def test_s14_float64_polynomial():
    x = gc.tensor(2.0, dtype=np.float64, requires_grad=True)
    y = x * x + 3 * x + 1
    y.backward()
    assert x.grad.item() == 7.0 and x.grad.dtype == np.float64
    x = gc.tensor(2.0, dtype="float32", requires_grad=True)
    (x * x + 3 * x + 1).backward()
    assert x.grad.item() == 7.0 and x.grad.dtype == np.float32


def test_s15_partial_requires_grad():
    x1 = gc.tensor(1.0)
    x2 = gc.tensor(2.0, requires_grad=True)
    y = 3 * x1 * x1 + 9 * x2
    y.backward()
    assert x2.grad.item() == 9.0
    assert x1.grad is None


def test_s16_mm():
    mat1 = gc.tensor([[1.0, 2.0, 3.0]], dtype=np.float64, requires_grad=True)
    mat2 = gc.tensor([[1.0], [2.0], [3.0]], dtype=np.float64, requires_grad=True)
    y = gc.mm(mat1, mat2)
    assert y.shape == (1, 1) and y.item() == 14.0
    y.backward()
    np.testing.assert_array_equal(mat1.grad.data, [[1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(mat2.grad.data, [[1.0], [2.0], [3.0]])
    assert mat1.mm(mat2).item() == 14.0


def test_s17_s18_s19_accumulation():
    inp = gc.eye(5, requires_grad=True)
    out = (inp + 1) ** 2
    expected = np.where(np.eye(5) == 1, 4.0, 2.0)
    out.backward(gc.ones_like(inp), retain_graph=True)
    np.testing.assert_array_equal(inp.grad.data, expected)  # S17: 4 and 2
    out.backward(gc.ones_like(inp), retain_graph=True)
    np.testing.assert_array_equal(inp.grad.data, 2 * expected)  # S18: 8 and 4
    inp.grad.zero_()
    out.backward(gc.ones_like(inp), retain_graph=True)
    np.testing.assert_array_equal(inp.grad.data, expected)  # S19: 4 and 2 again


def test_s20_jacobian():
    x = gc.eye(2)
    for strategy in ("auto", "reverse-mode", "forward-mode"):
        jac = gc.functional.jacobian(lambda x: (x + 1) ** 2, x, strategy=strategy)
        assert jac.shape == (2, 2, 2, 2)
        expected = np.zeros((2, 2, 2, 2))
        for i in range(2):
            for j in range(2):
                expected[i, j, i, j] = 2 * (x.data[i, j] + 1)
        np.testing.assert_array_equal(jac.data, expected)
        np.testing.assert_array_equal(
            gc.einsum("ij,ijmn->mn", gc.ones(2, 2), jac).data, [[4.0, 2.0], [2.0, 4.0]]
        )


def test_against_pytorch_when_installed():
    torch = pytest.importorskip("torch")
    v = np.array([[0.3, -1.2, 2.0], [0.5, 0.1, -0.7]])

    def both(f_gc, f_torch):
        x = gc.tensor(v, requires_grad=True)
        f_gc(x).backward()
        t = torch.tensor(v, dtype=torch.float64, requires_grad=True)
        f_torch(t).backward()
        np.testing.assert_allclose(x.grad.data, t.grad.numpy(), rtol=1e-10, atol=1e-12)

    both(lambda x: (3 * (x + 2) ** 2).mean(), lambda t: (3 * (t + 2) ** 2).mean())
    both(lambda x: gc.logsumexp(x, axis=1).sum(), lambda t: torch.logsumexp(t, 1).sum())
    both(lambda x: gc.softmax(x)[:, 0].sum(), lambda t: torch.softmax(t, -1)[:, 0].sum())
    both(lambda x: gc.norm(x, axis=0).prod(), lambda t: t.norm(dim=0).prod())
    both(lambda x: (gc.tanh(x) @ x.T).sum(), lambda t: (torch.tanh(t) @ t.T).sum())
    both(lambda x: gc.clip(x, -1, 1).max(), lambda t: t.clamp(-1, 1).max())
    both(lambda x: gc.relu(x).abs().sum(), lambda t: torch.relu(t).abs().sum())
