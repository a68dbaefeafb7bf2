"""The engine's core: Tensor (a NumPy array that records the operations applied to it, with
PyTorch's semantics), Node, the modes and limits of a run, and `apply`, which runs a primitive.

The bottom of the engine: it imports no other module of it but the clock. Operators and
methods are attached by `functions.py` (from the table of primitives), `backward()` by
`backward.py`; forward mode (`forward.py`) and a symbolic backend plug in through the modes.
"""

from __future__ import annotations

import functools
import math
import threading
import warnings
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import EvalError, GraphError, LimitError, ShapeError
from .clock import run as _run

# -- grad mode and forward mode ------------------------------------------------------------


class _State(threading.local):
    """The modes, per thread as in PyTorch (blocks of one evaluation may run in threads)."""

    grad_enabled = True
    # forward mode: while some tensor may carry a tangent, the function that pushes tangents
    # through a primitive, `(prim, out, inputs, params) -> tangent` (`forward.forward_mode`)
    push_tangent: Callable[..., Any] | None = None
    # symbolic mode: while tensors hold object arrays of sympy expressions, the function that
    # makes such an array of numbers (`symbolic_mode`); None otherwise
    to_symbolic: Callable[..., Any] | None = None
    raw = False  # True while an unrecorded backward pass runs the rules on NumPy arrays
    guard: Guard | None = None  # the limits of the run in progress, None: no limits


state = _State()


def is_grad_enabled() -> bool:
    return state.grad_enabled


class _GradMode:
    mode = True

    def __new__(cls, fn=None):
        """`@no_grad` without parentheses decorates too, as in PyTorch 2."""
        if fn is not None:
            return cls()(fn)
        return super().__new__(cls)

    def __init__(self, fn=None):
        pass

    def __enter__(self):
        self._prev, state.grad_enabled = state.grad_enabled, self.mode

    def __exit__(self, *exc):
        state.grad_enabled = self._prev

    def __call__(self, fn):
        """Use as a decorator, like torch.no_grad."""

        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)

        return wrapped


class no_grad(_GradMode):
    """Context manager: operations inside record no graph."""

    mode = False


class enable_grad(_GradMode):
    """Context manager: re-enable recording inside a `no_grad` block."""

    mode = True


class symbolic_mode:
    """Context manager under which primitives run their sympy forms on object arrays.

    `to_symbolic(x)` is the symbolic backend's: numbers (or arrays of them) as an object
    array of its expressions; `as_tensor` makes constants with it."""

    def __init__(self, to_symbolic):
        self.to_symbolic = to_symbolic

    def __enter__(self):
        self._prev, state.to_symbolic = state.to_symbolic, self.to_symbolic

    def __exit__(self, *exc):
        state.to_symbolic = self._prev


class raw_rules:
    """While the rules of an unrecorded backward pass run on NumPy arrays (`on`): the unary
    functions they call on arrays then give arrays, not Tensors."""

    def __init__(self, on: bool = True):
        self.on = on

    def __enter__(self):
        self.prev, state.raw = state.raw, self.on

    def __exit__(self, *exc):
        state.raw = self.prev


# -- limits --------------------------------------------------------------------------------

HELD_MIN = 1 << 16  # bytes: smaller outputs are not counted against the memory budget


class Guard:
    """The limits of one run, checked by `apply` before each primitive: the elements of its
    output (from the shapes, by the row's `out_shape`), and the bytes that the recorded graph
    holds (the outputs that recorded nodes keep, counted while they are alive). A result
    (a Jacobian, a Hessian) counts against both, at `entry_bytes` an element: 8 as an array,
    more where it will be printed as JSON."""

    def __init__(
        self, max_elements: int | None = None, max_bytes: int | None = None, entry_bytes: int = 8
    ):
        self.max_elements = max_elements
        self.max_bytes = max_bytes
        self.entry_bytes = entry_bytes
        self.held = 0
        self._sizes: dict = {}
        self._lock = threading.Lock()

    def admit(self, prim, inputs: tuple, params: dict) -> None:
        """Refuse a primitive whose output would pass the element limit, before it runs."""
        if self.max_elements is not None:
            shape = prim.out_shape(*[t.data.shape for t in inputs], **params)
            n = math.prod(shape)
            if n > self.max_elements:  # (the message is made only then: this runs per op)
                self.count(n, f"{prim.name} would make an array of shape {shape}:")

    def count(self, n: int, what: str) -> None:
        """Refuse `n` elements (`what` would make them) past the element limit."""
        if self.max_elements is not None and n > self.max_elements:
            raise LimitError(
                f"{what} {n} elements, more than the limit of {self.max_elements}",
                hint="use smaller arrays, or raise the limit (--max-elements)",
            )

    def result(self, n: int, what: str) -> None:
        """Refuse a result of `n` elements past the element limit or the memory budget."""
        self.count(n, f"the {what} would have")
        if self.max_bytes is not None and n * self.entry_bytes > self.max_bytes:
            raise LimitError(
                f"the {what} ({n} elements) would take about "
                f"{_mib(n * self.entry_bytes)} to hold and write out, more than "
                f"the memory budget of {_mib(self.max_bytes)}",
                hint="raise the budget (--max-memory), or use smaller arrays",
            )

    def hold(self, data: np.ndarray) -> None:
        """Count an output that a recorded node keeps, until it is freed; refuse it when the
        graph would pass the memory budget."""
        if self.max_bytes is None or data.base is not None:  # a view: its base is counted
            return
        n = data.nbytes
        with self._lock:
            if self.held + n > self.max_bytes:
                raise LimitError(
                    f"the recorded graph would hold {_mib(self.held + n)} of intermediate "
                    f"values, more than the memory budget of {_mib(self.max_bytes)}",
                    hint="raise the budget (--max-memory), or use smaller arrays",
                )
            self.held += n
            ref = weakref.ref(data, self._release)
            self._sizes[id(ref)] = (ref, n)

    def _release(self, ref) -> None:
        with self._lock:
            self.held -= self._sizes.pop(id(ref))[1]


def _mib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


class guarded:
    """Context manager: run under a Guard's limits (an enclosing guard stays in force, so
    that one budget covers a whole command: its evaluations and derivative passes)."""

    def __init__(self, max_elements: int | None, max_bytes: int | None, entry_bytes: int = 8):
        self.limits = (max_elements, max_bytes, entry_bytes)

    def __enter__(self):
        self.prev = state.guard
        if self.prev is None:
            state.guard = Guard(*self.limits)
        return state.guard

    def __exit__(self, *exc):
        state.guard = self.prev


# -- dtypes --------------------------------------------------------------------------------

_default_dtype = np.dtype(np.float64)


def set_default_dtype(dtype) -> None:
    global _default_dtype
    _default_dtype = resolve_dtype(dtype)


def get_default_dtype() -> np.dtype:
    return _default_dtype


def resolve_dtype(dtype) -> np.dtype:
    """A NumPy float dtype from a dtype or its name; other dtypes are refused."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise EvalError(f"unknown dtype {dtype!r}", hint="use float64 or float32") from None
    if dt not in (np.float64, np.float32):
        raise EvalError(f"unsupported dtype {dt}", hint="use float64 or float32")
    return dt


def to_array(data, dtype=None) -> np.ndarray:
    """An array for a tensor: floats keep their dtype; ints and bools become the default."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.asarray(data, dtype=resolve_dtype(dtype))
    arr = np.asarray(data)
    if arr.dtype.kind == "f" and arr.dtype in (np.float64, np.float32):
        return arr
    if arr.dtype.kind in "biuf":
        return arr.astype(_default_dtype)
    raise EvalError(f"cannot make a tensor from {arr.dtype} data", hint="give numbers")


# -- the tensor ----------------------------------------------------------------------------


class Tensor:
    """A NumPy array with autograd: `requires_grad`, `grad`, `grad_fn`, `backward()`."""

    __slots__ = ("data", "requires_grad", "grad_fn", "__dict__", "__weakref__")
    data: np.ndarray
    requires_grad: bool
    grad_fn: Node | None
    __array_priority__ = 1000  # ndarray (op) Tensor defers to Tensor's reflected operator
    # rarely set: class-level defaults, so that making a tensor stores three slots only
    _grad: Tensor | None = None
    _retains_grad = False
    hooks: list[Callable[..., Any]] | None = None
    # forward mode's tangent of this tensor, or None: set on the inputs by the functions of
    # `functional` (jvp, jacobian), on each output by `apply` while tangents are pushed
    tangent: Tensor | None = None

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        self.data = to_array(data, dtype)
        self.grad_fn = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def wrap(cls, data: np.ndarray) -> Tensor:
        """A constant tensor over `data` as it is (no copy, no dtype check): for arrays the
        engine and its backends made themselves."""
        t = cls.__new__(cls)
        t.data = data
        t.requires_grad = False
        t.grad_fn = None
        return t

    # -- properties ----------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def dim(self) -> int:
        return self.data.ndim

    def size(self, dim: int | None = None):
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def grad(self) -> Tensor | None:
        if self.grad_fn is not None and not self._retains_grad:
            warnings.warn(
                "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. "
                "Its .grad attribute won't be populated during autograd.backward(). If you "
                "indeed want the .grad field to be populated for a non-leaf Tensor, use "
                ".retain_grad() on the non-leaf Tensor.",
                UserWarning,
                stacklevel=2,
            )
        return self._grad

    @grad.setter
    def grad(self, value):
        self._grad = None if value is None else as_tensor(value, self)

    def accumulate_grad(self, g: Tensor) -> None:
        """Add `g` to `.grad` (or make it `.grad`), as backward does: `g` is a Tensor of this
        tensor's shape and dtype, taken as it is (no copy, no check, no warning)."""
        self._grad = g if self._grad is None else self._grad + g

    # -- autograd ------------------------------------------------------------------------
    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if self.grad_fn is not None and not requires_grad:
            raise GraphError(
                "you can only change requires_grad flags of leaf variables.",
                hint="use .detach() to get a tensor without a graph",
            )
        if requires_grad and self.data.dtype.kind != "f":
            raise GraphError("only Tensors of floating point dtype can require gradients")
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> None:
        """Keep the gradient of a non-leaf tensor in `.grad` after backward."""
        if not self.requires_grad:
            raise GraphError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is not None:
            self._retains_grad = True
            self.grad_fn.retained = weakref.ref(self)

    def register_hook(self, hook):
        """Call `hook(grad)` when this tensor's gradient is computed; a return value
        replaces the gradient. Returns a handle with `.remove()`."""
        if not self.requires_grad:
            raise GraphError("cannot register a hook on a tensor that doesn't require gradient")
        owner = self if self.grad_fn is None else self.grad_fn  # a non-leaf's hooks: its node's
        if owner.hooks is None:
            owner.hooks = []
        owner.hooks.append(hook)
        return _HookHandle(owner.hooks, hook)

    def detach(self) -> Tensor:
        """The same values, cut from the graph (shares the array, as in PyTorch)."""
        return Tensor.wrap(self.data)

    def detach_(self) -> Tensor:
        self.grad_fn = None
        self.requires_grad = False
        return self

    def zero_(self) -> Tensor:
        self.data[...] = 0
        return self

    # -- conversions ---------------------------------------------------------------------
    def item(self) -> float:
        if self.data.size != 1:
            raise ShapeError(
                f"a Tensor with {self.data.size} elements cannot be converted to Scalar"
            )
        return self.data.item()

    def numpy(self) -> np.ndarray:
        if self.requires_grad:
            raise GraphError(
                "Can't call numpy() on Tensor that requires grad. "
                "Use tensor.detach().numpy() instead."
            )
        return self.data

    def tolist(self):
        return self.data.tolist()

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __float__(self) -> float:
        return float(self.item())

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ShapeError(
                "Boolean value of Tensor with more than one value is ambiguous",
                hint="reduce it first, e.g. with .all(), .any() or .sum()",
            )
        return bool(self.data)

    __hash__ = object.__hash__

    if TYPE_CHECKING:
        # Attached at import, from the table: the operators and the named methods by
        # functions.py, `backward` by backward.py. Declared here for the type checker only.
        def __add__(self, other: Any) -> Tensor: ...
        def __radd__(self, other: Any) -> Tensor: ...
        def __sub__(self, other: Any) -> Tensor: ...
        def __rsub__(self, other: Any) -> Tensor: ...
        def __mul__(self, other: Any) -> Tensor: ...
        def __rmul__(self, other: Any) -> Tensor: ...
        def __truediv__(self, other: Any) -> Tensor: ...
        def __rtruediv__(self, other: Any) -> Tensor: ...
        def __pow__(self, other: Any) -> Tensor: ...
        def __rpow__(self, other: Any) -> Tensor: ...
        def __matmul__(self, other: Any) -> Tensor: ...
        def __rmatmul__(self, other: Any) -> Tensor: ...
        def __neg__(self) -> Tensor: ...
        def __pos__(self) -> Tensor: ...
        def __abs__(self) -> Tensor: ...
        def __getitem__(self, index: Any) -> Tensor: ...
        def __lt__(self, other: Any) -> Tensor: ...
        def __le__(self, other: Any) -> Tensor: ...
        def __gt__(self, other: Any) -> Tensor: ...
        def __ge__(self, other: Any) -> Tensor: ...
        def __eq__(self, other: object) -> Any: ...
        def __ne__(self, other: object) -> Any: ...
        def __and__(self, other: Any) -> Tensor: ...
        def __rand__(self, other: Any) -> Tensor: ...
        def __or__(self, other: Any) -> Tensor: ...
        def __ror__(self, other: Any) -> Tensor: ...
        def __invert__(self) -> Tensor: ...

        backward: Callable[..., None]

        def __getattr__(self, name: str) -> Any: ...  # the named methods: sum, exp, …

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extra = []
        if self.data.dtype != np.float64 and self.data.dtype.kind == "f":
            extra.append(f"dtype={self.data.dtype}")
        if self.grad_fn is not None:
            extra.append(f"grad_fn=<{type(self.grad_fn).__name__}>")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        return "tensor(" + ", ".join([body, *extra]) + ")"


class _HookHandle:
    def __init__(self, hooks: list, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def as_tensor(x, like: Tensor | None = None) -> Tensor:
    """`x` as a Tensor; Python numbers take `like`'s dtype, so float32 stays float32."""
    cls = x.__class__
    if cls is Tensor or isinstance(x, Tensor):
        return x
    if state.to_symbolic is not None:
        return Tensor.wrap(state.to_symbolic(x))
    if like is not None and (cls is float or cls is int or cls is bool):
        dt = like.data.dtype
        return constant(x, dt if dt.kind == "f" else _default_dtype)
    return Tensor.wrap(to_array(x))


_constants: dict = {}


def constant(x, dtype: np.dtype) -> Tensor:
    """A Python number as a constant tensor, shared: `y * 2` in a loop makes one `2`.
    (Zero is not shared: 0.0 and -0.0 are equal keys but different numbers.)"""
    key = (x, dtype)
    t = _constants.get(key)
    if t is None:
        data = np.asarray(x, dtype=dtype)
        data.flags.writeable = False
        t = Tensor.wrap(data)
        if x and len(_constants) < 4096:
            _constants[key] = t
    return t


# -- applying a primitive ------------------------------------------------------------------


class Node:
    """A recorded application of a primitive: what backward needs to run its VJP.

    Each primitive gets its own subclass, named from the primitive (`AddBackward0`).
    `apply` makes them and sets the four slots: the primitive, its input tensors (None once
    backward has freed the graph), its static params, and the output's values."""

    __slots__ = ("prim", "inputs", "params", "out_data", "__dict__")
    prim: Any  # a primitive.Primitive (a row of the table, above this module)
    inputs: tuple[Tensor, ...] | None
    params: dict[str, Any]
    out_data: np.ndarray
    hooks: list[Callable[..., Any]] | None = None  # the hooks registered on the output tensor
    retained: weakref.ref[Tensor] | None = None  # the output, after retain_grad()

    def name(self) -> str:
        return type(self).__name__

    def output(self, differentiable: bool = False) -> Tensor:
        """The output, for the rules: its value, or recomputed from the inputs when the
        backward pass itself is recorded (create_graph), so rules using it stay
        differentiable. Nodes keep no reference to their output tensor: no cycles."""
        if differentiable:
            assert self.inputs is not None  # (rules run while the graph is alive)
            return apply(self.prim, self.inputs, self.params)
        return Tensor.wrap(self.out_data)

    @property
    def next_functions(self) -> tuple:
        """(node, 0) per input as in PyTorch: a leaf requiring grad is an AccumulateGrad."""
        if self.inputs is None:
            return ()
        return tuple(
            (
                (t.grad_fn if t.grad_fn is not None else AccumulateGrad(t))
                if t.requires_grad
                else None,
                0,
            )
            for t in self.inputs
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class AccumulateGrad:
    """Stands for a leaf in `next_functions`, as PyTorch's AccumulateGrad does."""

    def __init__(self, variable: Tensor):
        self.variable = variable

    def name(self) -> str:
        return "AccumulateGrad"

    def __repr__(self) -> str:
        return "<AccumulateGrad>"


_new = object.__new__


def apply(prim, inputs: tuple[Tensor, ...], params: dict) -> Tensor:
    """Run a primitive's forward and record it when gradients or tangents are wanted."""
    mode = state
    deadline = _run.deadline
    if deadline is not None:
        deadline.tick(prim.name, inputs, params)
    fwd = prim.forward if mode.to_symbolic is None else prim.symbolic
    guard = mode.guard
    try:
        if guard is not None and prim.out_shape is not None:
            guard.admit(prim, inputs, params)
        n = len(inputs)
        if not params and 0 < n < 3:
            data = fwd(inputs[0].data, inputs[1].data) if n == 2 else fwd(inputs[0].data)
        else:
            data = fwd(*[t.data for t in inputs], **params)
    except ValueError as exc:
        shapes = " and ".join(str(t.shape) for t in inputs)
        raise ShapeError(
            f"{prim.name}: operands of shapes {shapes} do not fit ({exc})",
            hint="check the shapes of the arguments",
        ) from None
    except np.linalg.LinAlgError as exc:
        raise EvalError(
            f"{prim.name}: {exc}", hint="the matrix must be square and invertible"
        ) from None
    if data.__class__ is not np.ndarray:  # NumPy reductions return scalars, not 0-d arrays
        data = np.asarray(data)
    out = _new(Tensor)  # (Tensor.wrap, inlined: this is the hottest line of the engine)
    out.data = data
    out.requires_grad = False
    out.grad_fn = None
    if mode.grad_enabled and prim.differentiable:
        for t in inputs:
            if t.requires_grad:
                out.requires_grad = True
                node = out.grad_fn = _new(prim.node_type)
                node.prim, node.inputs, node.params, node.out_data = prim, inputs, params, data
                if guard is not None and data.nbytes >= HELD_MIN:
                    guard.hold(data)
                break
    push = mode.push_tangent
    if push is not None and prim.differentiable:
        for t in inputs:
            if t.tangent is not None:
                out.tangent = push(prim, out, inputs, params)
                break
    return out
