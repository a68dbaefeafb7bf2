"""The autograd engine: tensors, the table of primitives, reverse and forward mode.

It knows nothing of text or of the command line. Its modules, bottom up: `tensor` (Tensor,
Node, the modes, `apply`), `primitive` (a row, the table, calling primitives), `arrays`
(functions applying primitives by name), `ops` (the rows), `functions` (the public
functions, derived from the rows), `backward`, `forward`, `functional`, `tape`.
"""

# Imported for their side effects, and re-exported: `backward` attaches Tensor.backward,
# `functions` the Tensor operators (and imports the table).
from . import backward as backward, functions as functions, ops as ops
