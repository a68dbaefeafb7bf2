"""A primitive, the table of them (`PRIMITIVES`, whose rows `ops.py` defines), and calling them.

The columns of a row (`Primitive`):
`forward` computes on NumPy arrays; `vjp` and `jvp` give one rule per input (None: not
differentiable in that input); the rules' vocabulary is in `ops.py`.
`partials` (elementwise rows) gives per input the derivative itself, `(out, *inputs,
**params) -> ∂out/∂input`, with which the VJP of a cotangent of ones needs no product: 1
means the input passes g on unchanged (`add`), None that there is none to give (the VJP
then runs). The tape of blocked gradients starts from ones (`engine/tape.py`).
`explain` is the VJP rule in words and symbols ("g · out"), shown by `--explain`.
`sym` is the sympy form: for an elementwise row `(sp, *scalars) -> expr`; for any other row
None means "the NumPy forward works on object arrays of sympy expressions as it is".
`out_shape` gives the output's shape from the inputs' shapes and the params, `(*shapes,
**params) -> shape`, for a row whose output can hold more elements than its largest input
(an elementwise row that broadcasts gets NumPy's broadcast shape); None: it cannot. The
engine checks the size limit with it before running the forward (`tensor.Guard`).
`domain` gives each input's sampling interval for the table-driven tests; a row that is not
elementwise (its inputs need particular shapes or params) gives `samples` instead: a function
`rng -> [(inputs, params), ...]` of NumPy test cases. `kink` names the convention taken where
the derivative is not defined, and says whether inputs sit there.
`total`: finite wherever its inputs are, barring overflow (the tape may leave such a step
unrun: `tape.py`). `nonfinite`: the hint shown when its backward makes NaN or infinity.
`aliases`: other names of its function (NumPy's `arcsin` for `asin`).
`static` (elementwise rows): its parameters that take plain numbers, by name, with their
defaults (leaky_relu's `negative_slope`): its function takes them after its inputs, by
position or keyword; every rule and the `sym` form receive them as keywords.

An elementwise row of one or two inputs is a function too, made here with the row
(`elementwise.NAME`): `gc.NAME`, and, if `named`, a Tensor method and a function of the
language (`functions.py` derives them); `doc` is its docstring. So adding an elementwise
function is adding its row. Rows are validated as they are registered (`register`).
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Protocol

import numpy as np

from ..errors import EvalError
from .tensor import Node, Tensor, apply, as_tensor, constant, state


class Rules(Protocol):
    """A row's per-input rules (`vjp`, `jvp`): a tuple, one per input, or, for a primitive
    taking any number of inputs, an object that gives input i's rule (`ops._Variadic`)."""

    def __getitem__(self, i: int, /) -> Any: ...
    def __len__(self) -> int: ...


@dataclass(frozen=True, eq=False)
class Primitive:
    name: str
    forward: Callable
    vjp: Rules
    jvp: Rules
    sym: Callable | None = None
    broadcast: bool = False  # inputs broadcast against each other (matmul: the batch axes)
    elementwise: bool = False
    domain: tuple = ()
    differentiable: bool = True
    samples: Callable | None = None  # rng -> [(input arrays, params)]: test cases
    # (the convention, a phrase that reads with "… used" after it; whether the inputs sit
    # on a kink: (out, *inputs, **params))
    kink: tuple | None = None
    explain: str = ""  # the VJP rule in words and symbols, for --explain: "g · out"
    partials: tuple | None = None  # per input: (out, *inputs) -> derivative, 1 or None
    out_shape: Callable | None = None  # (*shapes, **params) -> output shape, where it can grow
    named: bool = True  # its function has its name in the language (False: an operator's)
    total: bool = False  # finite wherever its inputs are, barring overflow
    nonfinite: str = ""  # the hint when its backward makes NaN or infinity
    doc: str = ""  # the docstring of its function (elementwise rows)
    aliases: tuple[str, ...] = ()  # other names of its function (NumPy's and PyTorch's)
    static: dict = field(default_factory=dict)  # static parameter -> default (elementwise rows)

    def symbolic(self, *arrays, **params):
        """The forward on object arrays of sympy expressions."""
        import sympy as sp

        sym = self.sym
        if self.elementwise and sym is not None:
            fn = np.frompyfunc(lambda *xs: sym(sp, *xs, **params), len(arrays), 1)
            return np.asarray(fn(*arrays), dtype=object)
        if sym is not None:
            return sym(sp, *arrays, **params)
        return self.forward(*arrays, **params)

    @functools.cached_property
    def node_type(self) -> type:
        """The class of its graph nodes (`SinBackward0`, as PyTorch names them), made at the
        first node: a run pays only for the rows it uses."""
        camel = "".join(part[:1].upper() + part[1:] for part in self.name.split("_"))
        return type(f"{camel}Backward0", (Node,), {"__slots__": ()})

    def __post_init__(self):
        if self.out_shape is None and self.elementwise and self.broadcast:
            object.__setattr__(self, "out_shape", broadcast_shape)


PRIMITIVES: dict[str, Primitive] = {}


#: The function of each elementwise row of one or two inputs, by the row's name (made by
#: `register`): the rules of the table call them, `functions.py` exports them.
elementwise = SimpleNamespace()


class PublicFunction(Protocol):
    """A function declared with `@public`, its declaration in its attributes."""

    language: bool
    method: bool
    elementwise: bool
    static: frozenset[str]
    constructor: bool

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...


#: The public functions other than the elementwise rows' own, by name (aliases included):
#: each declared where it is defined, with `@public`.
PUBLIC: dict[str, PublicFunction] = {}
#: The language's constants (`ones(2, 3)`), declared with `@public(constructor=True)`.
CONSTRUCTORS: dict[str, PublicFunction] = {}


def public(
    *,
    language: bool = True,
    method: bool = True,
    elementwise: bool = False,
    static: tuple[str, ...] = (),
    aliases: tuple[str, ...] = (),
    name: str | None = None,
    constructor: bool = False,
):
    """Declare a public function: `gc.NAME`, and a function of the language (`language`) and
    a Tensor method (`method`) under its name and its `aliases`. `elementwise`: it acts
    element by element (the batch fast paths need to know); `static`: its parameters that
    take plain numbers (axes, shapes, counts), not arrays; `constructor`: the language's
    constant of that `name` (not `gc.NAME`: the library's constructors take PyTorch's
    arguments)."""

    def declare(fn):
        fn.language, fn.method, fn.elementwise = language or constructor, method, elementwise
        fn.static, fn.constructor = frozenset(static), constructor
        table = CONSTRUCTORS if constructor else PUBLIC
        for n in (name or fn.__name__, *aliases):
            if n in table:
                raise ValueError(f"public function {n!r} is declared twice")
            table[n] = fn
        return fn

    return declare


def register(prim: Primitive) -> Primitive:
    """Add a row to the table (and make its function, for an elementwise row of one or two
    inputs), after checking it."""
    if prim.name in PRIMITIVES:
        raise ValueError(f"primitive {prim.name!r} defined twice")
    if len(prim.vjp) != len(prim.jvp) or len(prim.partials or prim.vjp) != len(prim.vjp):
        raise ValueError(f"primitive {prim.name!r}: VJP, JVP and partials arities differ")
    if prim.samples is None and not (prim.elementwise and len(prim.domain) == len(prim.vjp)):
        raise ValueError(
            f"primitive {prim.name!r}: give a domain per input (elementwise) "
            "or samples, so that the table-driven tests can try it"
        )
    PRIMITIVES[prim.name] = prim
    if prim.elementwise and len(prim.vjp) in (1, 2):
        make = (
            _static_function
            if prim.static
            else _unary_function
            if len(prim.vjp) == 1
            else _binary_function
        )
        fn = make(prim)
        for name in (prim.name, *prim.aliases):
            setattr(elementwise, name, fn)
    return prim


_NO_PARAMS: dict = {}


def like(xs) -> Tensor | None:
    """The tensor whose dtype Python numbers should take: the first floating one (a NumPy
    array counts too: the rules of a plain backward pass hand them over)."""
    first = None
    for x in xs:
        if isinstance(x, Tensor):
            if x.data.dtype.kind == "f":
                return x
            first = x if first is None else first
        elif x.__class__ is np.ndarray and x.dtype.kind == "f":
            return Tensor.wrap(x)
    return first


def call(name: str, *xs, **params) -> Tensor:
    """Apply the primitive `name` to `xs` (Tensors, arrays or numbers) with static `params`:
    numbers take the dtype of the first floating input. In a rule of an unrecorded backward
    pass, arrays give arrays."""
    if state.raw and all(x.__class__ is np.ndarray for x in xs):
        return PRIMITIVES[name].forward(*xs, **params)
    first = like(xs)
    return apply(PRIMITIVES[name], tuple(as_tensor(x, first) for x in xs), params)


def _unary_function(prim: Primitive):
    """The function of an elementwise row of one input."""

    def fn(x):
        if x.__class__ is not Tensor:
            if state.raw and x.__class__ is np.ndarray:  # in a rule of a plain backward
                return prim.forward(x)
            x = as_tensor(x)
        return apply(prim, (x,), _NO_PARAMS)

    fn.__name__ = fn.__qualname__ = prim.name
    fn.__doc__ = prim.doc or f"Elementwise {prim.name}."
    return fn


def _binary_function(prim: Primitive):
    """The function of an elementwise row of two inputs, on the hot path: operators, and
    the rules of backward."""

    def fn(a, b):
        if a.__class__ is Tensor:
            cls = b.__class__
            if cls is not Tensor:
                # a Python number beside a float array: the shared constant, as `as_tensor`
                # gives it, inlined (this is the hot path of `y * 2`: 8% of it, measured)
                dt = a.data.dtype
                b = (
                    constant(b, dt)
                    if (cls is float or cls is int) and dt.kind == "f"
                    else as_tensor(b, a)
                )
        elif b.__class__ is Tensor:
            a = as_tensor(a, b)
        else:  # (numbers take the dtype of a float array beside them, as with a Tensor)
            first = like((a, b))
            a, b = as_tensor(a, first), as_tensor(b, first)
        return apply(prim, (a, b), _NO_PARAMS)

    fn.__name__ = fn.__qualname__ = prim.name
    fn.__doc__ = prim.doc or None
    return fn


def _static_function(prim: Primitive):
    """The function of an elementwise row with static parameters: its inputs, then the
    parameters (plain numbers; by position or keyword, with their defaults)."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    inputs = ("x",) if len(prim.vjp) == 1 else ("a", "b")
    signature = inspect.Signature(
        [inspect.Parameter(n, kind) for n in inputs]
        + [inspect.Parameter(n, kind, default=v) for n, v in prim.static.items()]
    )

    def fn(*args, **kwargs):
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise EvalError(
                f"{prim.name}: {exc}", hint=f"call it as {prim.name}{signature}"
            ) from None
        bound.apply_defaults()
        params = {}
        for n in prim.static:
            v = bound.arguments[n]
            if isinstance(v, Tensor) and v.data.size == 1 and v.data.dtype.kind in "fiu":
                v = v.item()
            if isinstance(v, bool) or not isinstance(v, (int, float, np.number)):
                raise EvalError(
                    f"{prim.name}: {n} must be a plain number, not {type(v).__name__}",
                    hint=f"e.g. {prim.name}(x, {n}={prim.static[n]})",
                )
            if isinstance(prim.static[n], int) and float(v) != int(v):
                raise EvalError(f"{prim.name}: {n} must be a whole number, not {v}")
            params[n] = type(prim.static[n])(v)
        return call(prim.name, *[bound.arguments[n] for n in inputs], **params)

    fn.__name__ = fn.__qualname__ = prim.name
    fn.__doc__ = prim.doc or f"Elementwise {prim.name}."
    fn.__signature__ = signature  # type: ignore[attr-defined]
    return fn


# -- shapes ----------------------------------------------------------------------------------


def broadcast_shape(*shapes) -> tuple[int, ...]:
    """NumPy's broadcast shape; equal shapes and scalars (the common cases) without NumPy."""
    out = ()
    for s in shapes:
        if s and s != out:
            if out:
                return np.broadcast_shapes(*shapes)
            out = s
    return out


def _is_mask(i) -> bool:
    return isinstance(i, np.ndarray) and i.dtype == np.bool_


def index_shape(shape: tuple[int, ...], index: tuple) -> tuple[int, ...]:
    """The shape of `a[index]` for `a` of `shape`, by NumPy's rules, without computing it:
    an O(1) walk, but for masks (counted) and integer arrays (bounds checked). Raises
    IndexError as NumPy would for an index out of range or of the wrong kind."""
    index = tuple(np.asarray(i) if isinstance(i, (list, bool, np.bool_)) else i for i in index)
    if sum(i is Ellipsis for i in index) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = sum(i.ndim if _is_mask(i) else 0 if i is None or i is Ellipsis else 1 for i in index)
    if used > len(shape):
        raise IndexError(
            f"too many indices for array: array is {len(shape)}-dimensional, "
            f"but {used} were indexed"
        )
    fancy = any(isinstance(i, np.ndarray) and (i.ndim or i.dtype == np.bool_) for i in index)
    out: list[int] = []
    arrays: list[tuple[int, ...]] = []  # the index arrays' shapes
    places: list[tuple[int, int]] = []  # (position in index, position in out) of each
    dim = 0
    wrong: IndexError | None = None
    for k, i in enumerate(index):
        if i is Ellipsis:
            out.extend(shape[dim : dim + len(shape) - used])
            dim += len(shape) - used
        elif i is None:
            out.append(1)
        elif isinstance(i, slice):
            out.append(len(range(*i.indices(shape[dim]))))
            dim += 1
        elif _is_mask(i):
            if i.shape != shape[dim : dim + i.ndim]:
                raise IndexError(
                    f"boolean index did not match indexed array along axis {dim}; "
                    f"size of axis is {shape[dim]} but size of corresponding "
                    f"boolean axis is {i.shape[0] if i.ndim else 1}"
                )
            arrays.append((int(np.count_nonzero(i)),))
            places.append((k, len(out)))
            dim += i.ndim
        else:
            a = np.asarray(i)
            if a.dtype.kind not in "iu":
                raise IndexError(
                    "only integers, slices (`:`), ellipsis (`...`), numpy.newaxis "
                    "(`None`) and integer or boolean arrays are valid indices"
                )
            n = shape[dim]
            if a.size and (wrong is None or a.ndim == 0):
                lo, hi = a.min(), a.max()
                if lo < -n or hi >= n:
                    wrong = IndexError(
                        f"index {lo if lo < -n else hi} is out of bounds for "
                        f"axis {dim} with size {n}"
                    )
                    if a.ndim == 0:
                        raise wrong
            if fancy:
                arrays.append(a.shape)
                places.append((k, len(out)))
            dim += 1
    out.extend(shape[dim:])
    if not arrays:
        return tuple(out)
    try:
        block = broadcast_shape(*arrays)
    except ValueError:
        raise IndexError(
            "shape mismatch: indexing arrays could not be broadcast together "
            "with shapes " + " ".join(map(str, arrays))
        ) from None
    if wrong is not None and math.prod(block) != 0:  # (NumPy checks no bounds of an empty block)
        raise wrong
    ks = [k for k, _ in places]
    at = places[0][1] if ks == list(range(ks[0], ks[0] + len(ks))) else 0
    return tuple(out[:at]) + block + tuple(out[at:])
