"""gradcli: a gradient calculator for the command line, and a small autograd library.

>>> import gradcli as gc
>>> x = gc.ones(2, 2, requires_grad=True)
>>> out = (3 * (x + 2) ** 2).mean()
>>> out.backward()
>>> x.grad
tensor([[4.5, 4.5],
        [4.5, 4.5]])
"""

# The public names, re-exported explicitly (`name as name`); the two star imports take the
# table's functions (engine/functions.py's `__all__`) and the error classes.
from . import autograd as autograd
from .api import Compiled as Compiled, compile as compile
from .engine import functional as functional
from .engine.functions import *  # noqa: F403  (the table's functions: functions.__all__)
from .engine.functions import (
    FUNCTIONS as FUNCTIONS,
    arange as arange,
    eye as eye,
    full as full,
    linspace as linspace,
    manual_seed as manual_seed,
    ones as ones,
    ones_like as ones_like,
    rand as rand,
    randn as randn,
    tensor as tensor,
    zeros as zeros,
    zeros_like as zeros_like,
)
from .engine.tensor import (
    Tensor as Tensor,
    enable_grad as enable_grad,
    get_default_dtype as get_default_dtype,
    is_grad_enabled as is_grad_enabled,
    no_grad as no_grad,
    set_default_dtype as set_default_dtype,
)
from .errors import *  # noqa: F403  (the error classes, as `gc.GradcliError` and the others)
from .result import Result as Result

__version__ = "0.1.0"
float64, float32 = "float64", "float32"
