"""The special functions' family beyond the table-driven tests: the static parameters of
elementwise rows (leaky_relu's negative_slope, elu's alpha, round's decimals) in the
language, the library and the fast paths; scipy imported only when used."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import gradcli as gc
from gradcli import blocked
from gradcli.engine.functions import STATIC
from gradcli.errors import EvalError, SignatureError
from gradcli.lang.analysis import is_elementwise


def test_static_parameters_by_position_and_keyword():
    x = np.array([-2.0, -0.5, 0.5])
    for text in ["sum(leaky_relu(x, 0.2))", "sum(leaky_relu(x, negative_slope=0.2))"]:
        got = gc.compile(text).grad(x=x).gradient["x"]
        np.testing.assert_array_equal(got, [0.2, 0.2, 1.0])
    got = gc.compile("sum(elu(x, alpha=0.5))").grad(x=x).gradient["x"]
    np.testing.assert_allclose(got, [0.5 * np.exp(-2), 0.5 * np.exp(-0.5), 1.0])
    assert {"negative_slope", "alpha", "decimals"} <= STATIC
    t = gc.tensor(x)
    np.testing.assert_array_equal(gc.round(t + 0.04, 1).data, np.round(x + 0.04, 1))
    np.testing.assert_array_equal(t.leaky_relu().data, np.where(x > 0, x, 0.01 * x))


def test_static_parameters_refuse_what_they_cannot_take():
    with pytest.raises(SignatureError, match="no keyword argument slope") as caught:
        gc.compile("leaky_relu(x, slope=0.1)")
    assert "leaky_relu(x, negative_slope=0.01)" in caught.value.hint
    with pytest.raises(EvalError, match="unexpected keyword"):
        gc.leaky_relu(gc.tensor([1.0]), slope=0.1)
    with pytest.raises(EvalError, match="whole number"):
        gc.round(gc.tensor([1.25]), decimals=1.5)
    with pytest.raises(EvalError, match="plain number"):
        gc.leaky_relu(gc.tensor([1.0]), negative_slope=gc.tensor([0.1, 0.2]))


def test_a_call_with_static_keywords_stays_elementwise_for_the_fast_paths():
    prog = gc.compile("leaky_relu(x, negative_slope=0.3) * round(y, decimals=1) + gamma(x + 3)")
    assert all(is_elementwise(s) for s in prog.program.body)
    rng = np.random.default_rng(0)
    n = blocked.MIN_SIZE + 9
    x, y = rng.uniform(-2, 2, n), rng.uniform(-2, 2, n)
    cols = prog.grad_points(x=x, y=y)
    for i in (0, 7, n - 1):
        one = prog.grad(x=x[i], y=y[i])
        np.testing.assert_allclose(cols.gradient["x"][i], one.gradient["x"], rtol=1e-12)
        np.testing.assert_allclose(cols.value[i], one.value, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_special_functions_keep_float32(dtype):
    x = gc.tensor(np.array([0.3, 0.6]), dtype=dtype, requires_grad=True)
    y = gc.gamma(x) + gc.ndtri(x) + gc.xlogy(x, x) + gc.leaky_relu(x, 0.2) + gc.i0(x)
    y.sum().backward()
    assert y.dtype == x.grad.dtype == np.dtype(dtype)


def test_scipy_is_imported_only_by_an_expression_that_uses_it():
    code = (
        "import sys, gradcli as gc; gc.compile('x**2 + erf(x)').grad(x=3.0); "
        "print('scipy' in sys.modules); gc.compile('gamma(x)').grad(x=3.0); "
        "print('scipy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
