"""sin and cos for the table: NumPy's, or Intel MKL's vector math where it is installed.

NumPy's float64 sin and cos run the C library's scalar code on many machines (10–19 ns an
element here, against about 1 ns for exp or log), and value and gradient of anything with
a sin need both. `mkl_umath` (the `mkl` extra: MKL's vector math as NumPy ufuncs) computes
them in about 1 ns an element, within 1 ulp of NumPy's and equal at 0, ±inf and NaN. Where
it is installed, every sin and cos of gradcli goes through it: loaded at the first call
(a one-shot run without sin pays nothing), on one MKL thread unless MKL_NUM_THREADS says
otherwise (gradcli's blocks run on threads of their own; MKL's would compete for the
cores). GRADCLI_KERNELS=numpy keeps NumPy's.
"""

from __future__ import annotations

import os
from importlib.machinery import PathFinder

import numpy as np

AVAILABLE = (
    os.environ.get("GRADCLI_KERNELS", "") != "numpy"
    and PathFinder.find_spec("mkl_umath") is not None
)
_loaded: dict = {}
_broken = False  # installed, but it did not load


def _load(name: str):
    """MKL's ufunc `name`; NumPy's when mkl_umath is installed but does not load (MKL's
    own libraries missing or broken): a slower sin is better than no sin."""
    global AVAILABLE, _broken
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    try:
        import mkl_umath

        _loaded.update(sin=mkl_umath.sin, cos=mkl_umath.cos)
    except (ImportError, OSError):
        AVAILABLE, _broken = False, True
        _loaded.update(sin=np.sin, cos=np.cos)
    return _loaded[name]


def vector(name: str):
    """The ufunc `name` ("sin" or "cos") that the table computes with."""
    if not AVAILABLE:
        return getattr(np, name)

    def kernel(x):
        return (_loaded.get(name) or _load(name))(x)

    kernel.__name__ = kernel.__qualname__ = name
    return kernel


def describe() -> str:
    """Whose sin and cos these are, for `gradcli --version`."""
    if AVAILABLE and not _loaded:
        _load("sin")  # (a load that fails turns AVAILABLE off)
    if not AVAILABLE:
        return "NumPy's (mkl_umath is installed but did not load)" if _broken else "NumPy's"
    from importlib.metadata import version

    return f"Intel MKL's vector math (mkl_umath {version('mkl_umath')})"
