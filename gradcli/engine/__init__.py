"""The autograd engine: tensors, the table of primitives, reverse and forward mode.

It knows nothing of text or of the command line. Its modules, bottom up: `tensor` (Tensor,
Node, the modes, `apply`), `primitive` (a row, the table, calling primitives), `arrays`
(functions applying primitives by name), `ops` (the rows), `functions` (the public
functions, derived from the rows), `backward`, `forward`, `functional`, `tape`.
"""

from . import backward  # noqa: F401  (attaches Tensor.backward)
from . import functions  # noqa: F401  (attaches Tensor operators; imports the table)
from . import ops  # noqa: F401
