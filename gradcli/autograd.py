"""`gc.autograd`: torch.autograd's entry points."""

from .engine import functional  # noqa: F401
from .engine.backward import backward, grad  # noqa: F401
