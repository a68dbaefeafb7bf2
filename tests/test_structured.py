"""Structure-aware Jacobians give the same numbers as dense ones and as the formulas."""

import numpy as np
import pytest

import gradcli as gc
from gradcli.engine.structured import Diag, identity


def dense_identity(shape):
    n = int(np.prod(shape))
    return gc.tensor(np.eye(n).reshape((n, *shape)))


@pytest.mark.parametrize("n", [1, 5, 40])
def test_tanh_of_matmul_plus_square_matches_the_hand_written_jacobian(n):
    rng = np.random.default_rng(n)
    a = rng.standard_normal((n, n)) / np.sqrt(n)
    x = np.linspace(-1, 1, n)
    want = (1 - np.tanh(a @ x) ** 2)[:, None] * a + np.diag(2 * x)
    for strategy in ("reverse-mode", "forward-mode"):
        got = gc.functional.jacobian(
            lambda x: gc.tanh(gc.tensor(a) @ x) + x**2, gc.tensor(x), strategy=strategy
        )
        np.testing.assert_allclose(got.data, want, rtol=1e-12, atol=1e-12)


def test_elementwise_jacobian_is_the_diagonal():
    x = np.linspace(-2, 2, 7)
    got = gc.functional.jacobian(lambda x: (x + 1) ** 2, gc.tensor(x))
    np.testing.assert_allclose(got.data, np.diag(2 * (x + 1)))


@pytest.mark.parametrize("shape", [(3,), (2, 3), (1, 4)])
def test_diag_operations_agree_with_the_dense_batch(shape):
    rng = np.random.default_rng(0)
    d = Diag(rng.standard_normal(shape))
    dense = gc.tensor(d.data.copy())
    v = gc.tensor(rng.standard_normal(shape))
    other = gc.tensor(rng.standard_normal(d.shape))
    for got, want in [
        (d * v, dense * v),
        (v * d, v * dense),
        (d / v, dense / v),
        (-d, -dense),
        (d * 0.5, dense * 0.5),
        (d + other, dense + other),
        (other + d, other + dense),
        (d + d, dense + dense),
        (d * d, dense * dense),
    ]:
        np.testing.assert_allclose(got.data, want.data)
    if len(shape) == 2:
        m = gc.tensor(rng.standard_normal((shape[1], 5)))
        np.testing.assert_allclose((d @ m).data, (dense @ m).data)
        k = gc.tensor(rng.standard_normal((4, shape[0])))
        np.testing.assert_allclose((k @ d).data, (k @ dense).data)


def test_diag_keeps_structure_and_dtype():
    d = identity((3,), np.float32)
    assert isinstance(d * gc.tensor(np.ones(3, np.float32)), Diag)
    assert (d * 0.5).dtype == np.float32
    assert isinstance(gc.reshape(d, (3, 3, 1)), Diag)
    assert isinstance(gc.reshape(identity((4,), np.float64), (4, -1)), Diag)
    np.testing.assert_allclose(d.data, dense_identity((3,)).data)


def test_diag_products_with_plain_arrays_stay_structured(monkeypatch):
    """The rules of a plain backward pass hand Diag NumPy arrays: products with them keep
    the batch diagonal (no dense identity is ever made) and agree with the dense batch."""
    rng = np.random.default_rng(1)
    d = Diag(rng.standard_normal((4, 1)))
    dense = d.data.copy()
    m, k = rng.standard_normal((1, 3)), rng.standard_normal((5, 4))
    np.testing.assert_allclose((d @ m).data, dense @ m)
    np.testing.assert_allclose((k @ d).data, k @ dense)
    a, x = rng.standard_normal((30, 30)), np.linspace(-1, 1, 30)
    want = (1 - np.tanh(a @ x) ** 2)[:, None] * a + np.diag(2 * x)

    def dense_batch(self):
        raise AssertionError("the identity basis was made dense")

    monkeypatch.setattr(Diag, "data", property(dense_batch))
    got = gc.functional.jacobian(lambda x: gc.tanh(gc.tensor(a) @ x) + x**2, gc.tensor(x))
    np.testing.assert_allclose(got.data, want, rtol=1e-12, atol=1e-12)


def test_large_jacobians_keep_freed_memory(monkeypatch):
    """A Jacobian of LARGE entries or more sets glibc's malloc once (see engine/memory.py);
    a smaller one does not, and a MALLOC_* variable in the environment stops it."""
    import ctypes

    from gradcli.engine import functional, memory

    calls = []
    monkeypatch.setattr(functional, "keep_freed_memory", lambda: calls.append(1))
    for strategy in ("reverse-mode", "forward-mode"):
        gc.functional.jacobian(lambda x: x * 2, gc.tensor(np.ones(10)), strategy=strategy)
        assert calls == []
        gc.functional.jacobian(lambda x: x * 2, gc.tensor(np.ones(256)), strategy=strategy)
        assert calls == [1]
        calls.clear()

    def refuse(*args):
        raise AssertionError("mallopt called despite MALLOC_TRIM_THRESHOLD_")

    monkeypatch.setattr(memory, "_done", False)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1000000")
    monkeypatch.setattr(ctypes, "CDLL", refuse)
    memory.keep_freed_memory()
    assert memory._done
