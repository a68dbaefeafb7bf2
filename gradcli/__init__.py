"""gradcli: a gradient calculator for the command line, and a small autograd library.

>>> import gradcli as gc
>>> x = gc.ones(2, 2, requires_grad=True)
>>> out = (3 * (x + 2) ** 2).mean()
>>> out.backward()
>>> x.grad
tensor([[4.5, 4.5],
        [4.5, 4.5]])
"""

from . import autograd  # noqa: F401
from .api import Compiled, compile  # noqa: F401
from .engine import functional  # noqa: F401
from .engine.functions import *  # noqa: F403
from .engine.functions import (  # noqa: F401
    FUNCTIONS,
    arange,
    eye,
    full,
    linspace,
    manual_seed,
    ones,
    ones_like,
    rand,
    randn,
    tensor,
    zeros,
    zeros_like,
)
from .engine.tensor import (  # noqa: F401
    Tensor,
    enable_grad,
    get_default_dtype,
    is_grad_enabled,
    no_grad,
    set_default_dtype,
)
from .errors import *  # noqa: F403
from .result import Result  # noqa: F401

__version__ = "0.1.0"
float64, float32 = "float64", "float32"
