"""`gc.autograd`: torch.autograd's entry points."""

from .engine import functional as functional
from .engine.backward import backward as backward, grad as grad
