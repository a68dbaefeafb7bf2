"""The autograd engine: tensors, the table of primitives, reverse and forward mode.

It knows nothing of text or of the command line.
"""

from . import functions  # noqa: F401  (attaches Tensor operators; imports the table)
from . import ops  # noqa: F401
