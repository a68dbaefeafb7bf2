"""sin and cos: NumPy's, or MKL's vector math where `mkl_umath` is installed (kernels.py)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from gradcli.engine import kernels
from gradcli.engine.ops import PRIMITIVES

mkl = pytest.mark.skipif(not kernels.AVAILABLE, reason="mkl_umath is not installed")


def test_without_mkl_the_table_holds_numpys_ufuncs(monkeypatch):
    monkeypatch.setattr(kernels, "AVAILABLE", False)
    assert kernels.vector("sin") is np.sin and kernels.vector("cos") is np.cos


def test_describe_names_the_kernels(monkeypatch):
    want = "Intel MKL's vector math (mkl_umath " if kernels.AVAILABLE else "NumPy's"
    assert kernels.describe().startswith(want)
    monkeypatch.setattr(kernels, "AVAILABLE", False)
    assert kernels.describe() == "NumPy's"


def test_an_mkl_umath_that_does_not_load_leaves_numpys(monkeypatch):
    monkeypatch.setattr(kernels, "AVAILABLE", True)
    monkeypatch.setattr(kernels, "_loaded", {})
    monkeypatch.setattr(kernels, "_broken", False)
    monkeypatch.setitem(sys.modules, "mkl_umath", None)  # importing it raises ImportError
    sin = kernels.vector("sin")
    x = np.linspace(-3, 3, 7)
    assert np.array_equal(sin(x), np.sin(x))
    assert kernels.describe() == "NumPy's (mkl_umath is installed but did not load)"


def test_gradcli_kernels_numpy_keeps_numpys_ufuncs():
    code = (
        "import numpy as np; from gradcli.engine.ops import PRIMITIVES as P; "
        "assert P['sin'].forward is np.sin and P['cos'].forward is np.cos"
    )
    env = dict(os.environ, GRADCLI_KERNELS="numpy")
    subprocess.run([sys.executable, "-c", code], env=env, check=True)


def _ulps(got, want):
    return np.abs(got - want) / np.spacing(np.abs(want))


@mkl
@pytest.mark.parametrize("name", ["sin", "cos"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mkl_kernels_are_within_one_ulp_of_numpy(name, dtype):
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [rng.uniform(-4, 4, 10**5), rng.uniform(-1e5, 1e5, 10**4), rng.uniform(-1e-8, 1e-8, 10**3)]
    ).astype(dtype)
    got, want = PRIMITIVES[name].forward(x), getattr(np, name)(x)
    assert got.dtype == dtype
    assert _ulps(got, want).max() <= 1


@mkl
@pytest.mark.parametrize("name", ["sin", "cos"])
def test_mkl_kernels_agree_with_numpy_at_special_values(name):
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, 1e300, -1e22])
    with np.errstate(all="ignore"):
        got, want = PRIMITIVES[name].forward(x), getattr(np, name)(x)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    assert np.array_equal(np.signbit(got[ok]), np.signbit(want[ok]))
    assert _ulps(got[ok], want[ok]).max() <= 1
    with np.errstate(invalid="raise"), pytest.raises(FloatingPointError):
        PRIMITIVES[name].forward(np.array([np.inf]))  # as NumPy: the domain warnings see it


@mkl
def test_mkl_runs_on_one_thread_unless_told():
    code = (
        "import os, numpy as np; from gradcli.engine.ops import PRIMITIVES as P; "
        "P['sin'].forward(np.ones(3)); print(os.environ['MKL_NUM_THREADS'])"
    )
    env = {k: v for k, v in os.environ.items() if k != "MKL_NUM_THREADS"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    ).stdout
    assert out.strip() == "1"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "MKL_NUM_THREADS": "2"},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert out.strip() == "2"
