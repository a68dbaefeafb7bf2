"""The one walker: evaluates our AST over a backend.

A backend turns the language's operations into values: `TensorBackend` applies the
engine's table (recording the autograd graph where grad mode and the inputs ask for it; under
no_grad, the table's NumPy forwards alone, for finite differences and fast evaluation); the
sympy backend (symbolic.py) builds expressions.
Control flow is decided on the values at the point (define-by-run).
"""

from __future__ import annotations

import functools
import inspect
import math
import threading

import numpy as np

from ..engine import arrays, clock, tensor as T
from ..engine.arrays import drawing_from, getitem, stack, transpose
from ..engine.functions import BROADCASTING, CONSTRUCTORS, FUNCTIONS, STATIC
from ..engine.memory import default_budget
from ..engine.tensor import Tensor
from ..errors import (
    DomainError,
    EvalError,
    GradcliError,
    LimitError,
    OverflowDomainError,
    ShapeError,
)
from . import syntax as S
from .parse import CONSTANTS

_BINARY = {
    "+": "__add__",
    "-": "__sub__",
    "*": "__mul__",
    "/": "__truediv__",
    "**": "__pow__",
    "@": "__matmul__",
    "<": "__lt__",
    "<=": "__le__",
    ">": "__gt__",
    ">=": "__ge__",
    "==": "__eq__",
    "!=": "__ne__",
    "and": "__and__",
    "or": "__or__",
}


class Limits:
    """The resource limits of an evaluation (plain classes here: dataclasses would cost
    start-up time on every run). `max_memory`: the bytes a recorded graph may hold (None:
    the default budget); the engine checks it and `max_elements` (`guard()`); `entry_bytes`: what an
    element of a derivative costs as the caller keeps it (8 as an array; more as JSON)."""

    entry_bytes = 8

    def __init__(
        self,
        max_elements: int = 10**8,
        max_iterations: int = 100_000,
        time_limit: float | None = 60.0,
        max_memory: int | None = None,
    ):
        self.max_elements = max_elements
        self.max_iterations = max_iterations
        self.time_limit = time_limit  # seconds, for a run that has no deadline yet
        self.max_memory = default_budget() if max_memory is None else max_memory

    def guard(self) -> T.guarded:
        """The engine's checks of these limits, for a run (or a whole command)."""
        return T.guarded(self.max_elements, self.max_memory, self.entry_bytes)


class Draws:
    """The random constants of a compiled text (randn, rand): the k-th call of each call
    site is drawn once, from `seed` (None: the engine's generator, gc.manual_seed), and every
    later evaluation (another point, another method of the cross-check) reuses the draw. The
    seed's stream is its own, independent of the --at values drawn from the same seed."""

    def __init__(self, seed: int | None = None):
        self.rng = (
            None
            if seed is None
            else np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
        )
        self.values: dict = {}
        self.lock = threading.Lock()

    def get(self, key, name: str, args: list) -> np.ndarray:
        """The draw of `name(*args)` at `key`, made on first use."""
        with self.lock:
            if key not in self.values:
                draw = arrays.randn if name == "randn" else arrays.rand
                self.values[key] = draw(*args, generator=self.rng).data
            return self.values[key]


class Run:
    """What one evaluation produced: the value, the final value of every assigned name, the
    domain warnings, and each graph node's place in the text: (span, operation)."""

    def __init__(
        self,
        value,
        env: dict | None = None,
        warnings: list | None = None,
        origins: dict | None = None,
    ):
        self.value = value
        self.env = {} if env is None else env
        self.warnings: list[DomainError] = [] if warnings is None else warnings
        self.origins = {} if origins is None else origins


class TensorBackend:
    """Values are Tensors; operations are the engine's functions (one table)."""

    def __init__(self, dtype: np.dtype, rng: np.random.Generator | None = None):
        self.dtype = np.dtype(dtype)
        self.rng = rng

    def constant(self, value: float) -> Tensor:
        return Tensor.wrap(np.asarray(value, dtype=self.dtype))

    def named(self, name: str) -> Tensor:
        """A named constant: pi, e, inf, nan."""
        return self.constant(CONSTANTS[name])

    def string(self, value: str) -> str:
        return value

    def call(self, name: str, args: list, kwargs: dict):
        value = FUNCTIONS[name](*args, **kwargs)
        if name in CONSTRUCTORS and value.dtype != self.dtype:  # constructors take --dtype
            value = Tensor.wrap(value.data.astype(self.dtype))
        return value

    def binary(self, op: str, a, b):
        return getattr(a, _BINARY[op])(b)

    def unary(self, op: str, a):
        return {"-": a.__neg__, "+": a.__pos__, "not": a.__invert__}[op]()

    def index(self, value, items: tuple):
        return getitem(value, items)

    def transpose(self, value):
        return transpose(value)

    def listing(self, items: list):
        shapes = list(
            dict.fromkeys(np.shape(i.data if isinstance(i, Tensor) else i) for i in items)
        )
        if len(shapes) > 1:
            raise ShapeError(
                f"the nested lists are ragged: a list holds items of shapes "
                f"{shapes[0]} and {shapes[1]}",
                hint="give every row the same length, as in [[1, 2], [3, 4]]",
            )
        if len(shapes[0]) >= S.MAX_DIMS:
            raise ShapeError(
                f"the nested lists are more than {S.MAX_DIMS} levels deep",
                hint=f"an array has at most {S.MAX_DIMS} dimensions",
            )
        return stack(items)

    def truth(self, value) -> bool:
        if value.data.size != 1:
            raise ShapeError(
                f"a condition must be a single value, not an array of shape {value.shape}",
                hint="reduce it first, e.g. norm(y) < 1000 or sum(x > 0) > 0",
            )
        return bool(value.data.reshape(()))

    def number(self, value) -> float:
        """A plain number (loop bounds, sizes, axes, keywords)."""
        if isinstance(value, Tensor):
            if value.data.size != 1:
                raise ShapeError(f"expected a single number, not an array of shape {value.shape}")
            return float(value.data.reshape(()))
        return value

    def concrete(self, value) -> np.ndarray:
        """The numbers of a value (an index array, a mask)."""
        return value.data

    def size(self, value) -> int:
        return value.data.size if isinstance(value, Tensor) else 1

    def nonfinite(self, value, inputs: list) -> str | None:
        """Describe the first non-finite element that finite inputs produced, if any:
        elementwise, an element counts only where its own inputs were finite (a NaN given
        in one place hides nothing elsewhere); otherwise all inputs must be finite."""
        if not isinstance(value, Tensor) or value.data.dtype.kind != "f":
            return None
        new = ~np.isfinite(value.data)
        if not new.any():
            return None
        for i in inputs:
            if isinstance(i, Tensor) and i.data.dtype.kind == "f":
                finite = np.isfinite(i.data)
                try:
                    new &= np.broadcast_to(finite, new.shape)
                except ValueError:  # not elementwise: any non-finite input explains all
                    if not finite.all():
                        return None
        if not new.any():
            return None
        bad = np.argwhere(new)
        where = "" if value.ndim == 0 else f" at index {tuple(int(i) for i in bad[0])}"
        first = value.data[tuple(bad[0])] if value.ndim else value.data
        return f"gives {first}{where} ({len(bad)} of {value.data.size} values not finite)"


@functools.cache
def static_positions(name: str) -> tuple[frozenset, int | None]:
    """The positions of a function's static parameters (`STATIC`: they take plain numbers,
    not arrays), and where a `*shape` of them starts."""
    fn = FUNCTIONS.get(name)
    if fn is None:
        return frozenset(), None
    fixed, rest = set(), None
    for i, p in enumerate(inspect.signature(fn).parameters.values()):
        if p.name in STATIC:
            if p.kind is p.VAR_POSITIONAL:
                rest = i
            else:
                fixed.add(i)
    return frozenset(fixed), rest


class Interpreter:
    """Walks a Program over a backend, with limits; one instance per evaluation."""

    def __init__(
        self,
        program: S.Program,
        backend,
        limits: Limits | None = None,
        strict: bool = False,
        check_domain: bool = True,
        draws: Draws | None = None,
    ):
        self.program = program
        self.backend = backend
        self.draws = draws
        self.limits = limits or Limits()
        self.strict = strict
        self.check_domain = check_domain
        self.iterations = 0
        self.deadline = None
        self.numbers: dict = {}

    # -- statements ------------------------------------------------------------------------
    def run(self, env: dict) -> Run:
        self.env = dict(env)
        self.assigned: dict = {}
        self.warnings: list[DomainError] = []
        self.origins: dict = {}
        self.calls: dict = {}  # call site → calls so far (the key of a random draw)
        value = None
        try:  # (the graph a program records stays alive: rescanning it only costs time)
            with (
                np.errstate(all="ignore"),
                clock.gc_paused(),
                self.limits.guard(),
                clock.limit(self.limits.time_limit) as self.deadline,
            ):
                if self.deadline is not None:
                    self.deadline.check("the evaluation")
                for stmt in self.program.body:
                    value = self.stmt(stmt)
        except GradcliError as err:
            err.locate(None, self.program.source)
            raise
        except RecursionError:
            raise LimitError(
                "the expression is nested too deeply to evaluate",
                source=self.program.source,
                hint="simplify it",
            ) from None
        last = self.program.body[-1] if self.program.body else None
        if not isinstance(last, (S.ExprStmt, S.Assign, S.AugAssign)):
            raise EvalError(
                "the program has no result",
                hint="end it with an expression, e.g. a line holding just y",
                span=last.span if last else None,
                source=self.program.source,
            )
        return Run(value, self.assigned, self.warnings, self.origins)

    def block(self, body) -> None:
        for stmt in body:
            self.stmt(stmt)

    def stmt(self, node):
        if isinstance(node, S.ExprStmt):
            return self.expr(node.value)
        if isinstance(node, S.Assign):
            return self.bind(node.target, self.expr(node.value))
        if isinstance(node, S.AugAssign):
            current = self.read(node.target, node.span)
            value = self.operate(
                node.span,
                lambda: self.backend.binary(node.op, current, self.expr(node.value)),
                node.op,
                [current],
            )
            return self.bind(node.target, value)
        if isinstance(node, S.If):
            self.block(node.body if self.test(node.test) else node.orelse)
            return None
        if isinstance(node, S.While):
            while self.test(node.test):
                self.tick(node)
                self.block(node.body)
            return None
        if isinstance(node, S.For):
            start = 0 if node.start is None else self.integer(node.start)
            stop = self.integer(node.stop)
            step = 1 if node.step is None else self.integer(node.step)
            if step == 0:
                raise EvalError("range() step must not be zero", span=node.span)
            for i in range(start, stop, step):
                self.tick(node)
                self.bind(node.var, self.backend.constant(float(i)), loop=True)
                self.block(node.body)
            return None
        raise EvalError(f"cannot run a {type(node).__name__}", span=node.span)

    def bind(self, name: str, value, loop: bool = False):
        self.env[name] = value
        if not loop:
            self.assigned[name] = value
        return value

    def tick(self, node) -> None:
        self.iterations += 1
        if self.iterations > self.limits.max_iterations:
            raise LimitError(
                f"the loops ran more than {self.limits.max_iterations} iterations",
                span=node.span,
                hint="check the loop's condition, or raise the limit (--max-iterations)",
            )
        if self.deadline is not None:
            self.deadline.check("the loop", node.span)

    def test(self, node) -> bool:
        value = self.expr(node)
        try:
            return self.backend.truth(value)
        except GradcliError as err:
            err.locate(node.span, None)
            raise

    def integer(self, node) -> int:
        value = self.backend.number(self.expr(node))
        if not math.isfinite(value) or value != int(value):
            raise EvalError(f"range() needs whole numbers, not {value}", span=node.span)
        return int(value)

    # -- expressions -----------------------------------------------------------------------
    def read(self, name: str, span):
        if name in self.env:
            return self.env[name]
        if name in CONSTANTS:
            return self.backend.named(name)
        raise EvalError(
            f"{name} is used before it is assigned", span=span, hint="assign it on an earlier line"
        )

    def expr(self, node):
        if isinstance(node, S.Num):  # each number of the text: one constant, made once
            value = self.numbers.get(id(node))
            if value is None:
                value = self.numbers[id(node)] = self.backend.constant(node.value)
            return value
        if isinstance(node, S.Name):
            return self.read(node.id, node.span)
        if isinstance(node, S.Str):
            return self.backend.string(node.value)
        if isinstance(node, S.Binary):
            a = self.expr(node.left)
            if node.op in ("and", "or"):
                return self.logic(node, a)
            b = self.expr(node.right)
            self.check_broadcast(node, node.op, [a, b])
            return self.operate(
                node.span, lambda: self.backend.binary(node.op, a, b), node.op, [a, b]
            )
        if isinstance(node, S.Unary):
            a = self.expr(node.operand)
            return self.operate(node.span, lambda: self.backend.unary(node.op, a), node.op, [a])
        if isinstance(node, S.Call):
            return self.call(node)
        if isinstance(node, S.Index):
            value = self.expr(node.value)
            items = tuple(self.index_item(i) for i in node.items)
            return self.operate(
                node.span, lambda: self.backend.index(value, items), "indexing", [value]
            )
        if isinstance(node, S.Transpose):
            value = self.expr(node.value)
            return self.operate(node.span, lambda: self.backend.transpose(value), ".T", [value])
        if isinstance(node, S.ListLit):
            elements = [self.expr(e) for e in node.elts]
            if not elements:
                raise ShapeError("an empty list has no values", span=node.span)
            return self.operate(
                node.span, lambda: self.backend.listing(elements), "a list", elements
            )
        if isinstance(node, S.TupleLit):
            return tuple(self.static_argument(e) for e in node.elts)
        raise EvalError(f"cannot evaluate {type(node).__name__} here", span=node.span)

    def logic(self, node, a):
        """`and` / `or` on single values short-circuit; on arrays they are elementwise."""
        if self.backend.size(a) == 1:
            truth = self.backend.truth(a)
            if truth == (node.op == "or"):
                return a
            return self.expr(node.right)
        b = self.expr(node.right)
        return self.operate(node.span, lambda: self.backend.binary(node.op, a, b), node.op, [a, b])

    def static_argument(self, node):
        """A static argument (an axis, a shape, ord=): a number or a tuple of numbers."""
        if isinstance(node, S.TupleLit):
            return tuple(self.static_argument(e) for e in node.elts)
        if isinstance(node, S.ListLit):
            return [self.static_argument(e) for e in node.elts]
        if isinstance(node, S.Name) and node.id == "None":
            return None
        value = self.backend.number(self.expr(node))
        return int(value) if float(value).is_integer() else value

    def index_item(self, node):
        if isinstance(node, S.Slice):
            parts = [
                None if p is None else self.whole(p) for p in (node.lower, node.upper, node.step)
            ]
            return slice(*parts)
        if isinstance(node, S.Name) and node.id == "...":
            return Ellipsis
        if isinstance(node, S.Name) and node.id == "None":
            return None
        value = self.expr(node)
        data = self.backend.concrete(value)
        if data.dtype == np.bool_:
            return data
        if data.ndim == 0:
            return self.whole(node, value)
        if not np.all(data == np.round(data)):
            raise EvalError("an index array must hold whole numbers", span=node.span)
        too_far = np.abs(data) >= 2.0**62  # (inf too) out of range of any array
        if np.any(too_far):
            raise ShapeError(
                f"index out of range: {data[too_far].flat[0]:g}",
                span=node.span,
                hint="an index counts elements along its axis",
            )
        return data.astype(np.intp)

    def whole(self, node, value=None) -> int:
        v = self.backend.number(self.expr(node) if value is None else value)
        if not math.isfinite(v) or v != int(v):
            raise EvalError(f"an index must be a whole number, not {v}", span=node.span)
        return int(v)

    def call(self, node: S.Call):
        name = node.func
        fixed, rest = static_positions(name)
        args = []
        for i, a in enumerate(node.args):
            if name in ("concat", "stack") and i == 0 and isinstance(a, (S.ListLit, S.TupleLit)):
                args.append([self.expr(e) for e in a.elts])
            elif i in fixed or (rest is not None and i >= rest):
                args.append(self.static_argument(a))
            else:
                args.append(self.expr(a))
        kwargs = {
            k: (self.static_argument(v) if k in STATIC else self.expr(v)) for k, v in node.kwargs
        }
        if name in CONSTRUCTORS:
            self.check_constructor(node, name, args)
        if name in ("randn", "rand") and self.draws is not None and self.backend.rng is None:
            k = self.calls[node.span] = self.calls.get(node.span, -1) + 1
            key = (node.span, k, name, tuple(args))
            return self.operate(
                node.span, lambda: self.backend.constant(self.draws.get(key, name, args)), name, []
            )
        if name in ("randn", "rand") and self.backend.rng is not None:
            with drawing_from(self.backend.rng):
                return self.operate(
                    node.span, lambda: self.backend.call(name, args, kwargs), name, []
                )
        inputs = [a for a in args if isinstance(a, Tensor)]
        if name in BROADCASTING:
            self.check_broadcast(node, name, inputs)
        return self.operate(
            node.span,
            lambda: self.backend.call(name, args, kwargs),
            name,
            inputs + [v for v in kwargs.values() if isinstance(v, Tensor)],
        )

    def check_constructor(self, node, name, args) -> None:
        shape = args if name in ("ones", "zeros", "randn", "rand") else args[:1]
        if name == "eye":
            shape = args[:2] if len(args) > 1 and args[1] is not None else args[:1] * 2
        if name == "arange":
            lo, hi = (0, args[0]) if len(args) == 1 else args[:2]
            step = args[2] if len(args) > 2 else 1
            count = float((hi - lo) / step) if step else 0.0
            shape = [max(0, math.ceil(count)) if math.isfinite(count) else 0]  # arange refuses
        if name == "linspace":
            shape = [args[2] if len(args) > 2 else 50]
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        try:
            n = math.prod(float(s) for s in shape)
        except (TypeError, ValueError):
            return
        self.check_size(node, name, n)

    def check_size(self, node, what: str, n: float) -> None:
        if n > self.limits.max_elements:
            raise LimitError(
                f"{what} would make {n:.0f} elements, more than the limit of "
                f"{self.limits.max_elements}",
                span=node.span,
                hint="use smaller arrays, or raise the limit (--max-elements)",
            )

    def check_broadcast(self, node, what: str, values: list) -> None:
        shapes = [v.shape for v in values if isinstance(v, Tensor)]
        if len(shapes) < 2 or what == "@" or all(s == shapes[0] or not s for s in shapes):
            return  # nothing grows: the inputs passed the size limit already
        try:
            shape = np.broadcast_shapes(*shapes)
        except ValueError:
            raise ShapeError(
                f"{what}: shapes {' and '.join(map(str, shapes))} do not broadcast",
                span=node.span,
                hint="each axis must match or be 1 (NumPy broadcasting)",
            ) from None
        self.check_size(node, what, math.prod(shape))

    def operate(self, span, thunk, what: str, inputs: list):
        """Run one operation: errors get the node's position; new NaN/inf are reported."""
        try:
            value = thunk()
        except GradcliError as err:
            err.locate(span, self.program.source)
            raise
        except (ValueError, TypeError, IndexError, ZeroDivisionError, OverflowError) as exc:
            raise EvalError(
                f"{what}: {exc}",
                span=span,
                source=self.program.source,
                hint="check the arguments' shapes and values",
            ) from None
        if self.backend.size(value) > self.limits.max_elements:
            self.check_size(_At(span), what, self.backend.size(value))
        node = getattr(value, "grad_fn", None)
        if node is not None:
            self.origins[node] = (span, what)
        if self.check_domain:
            problem = self.backend.nonfinite(value, inputs)
            if problem:
                if overflowed(value, inputs):
                    warning: DomainError = OverflowDomainError(
                        f"{what} overflowed: it {problem}",
                        span=span,
                        source=self.program.source,
                        hint=f"the result is too large for {value.dtype} and became infinity; "
                        "rescale the input, or use a stable form (e.g. logsumexp)",
                    )
                else:
                    warning = DomainError(
                        f"{what} {problem}",
                        span=span,
                        source=self.program.source,
                        hint="an input is outside the operation's domain; "
                        "the result follows IEEE (NaN or infinity)",
                    )
                if self.strict:
                    warning.hint = "remove --strict to get the IEEE result with a warning"
                    raise warning
                self.warnings.append(warning)
        return value


def overflowed(value, inputs: list) -> bool:
    """Whether finite inputs made an infinity without a pole: no NaN came out, and, for an
    elementwise operation, no input is 0 where the result is infinite (as in 1/0, log(0))."""
    data = value.data
    inf = np.isinf(data)
    if np.isnan(data).any() or not inf.any():
        return False
    for i in inputs:
        if isinstance(i, Tensor) and i.data.dtype.kind in "biuf":
            if not np.isfinite(i.data).all():
                return False
            try:
                if (np.broadcast_to(i.data, data.shape) == 0)[inf].any():
                    return False
            except ValueError:  # not elementwise (a sum, a product): an overflow
                pass
    return True


class _At:
    """Something with a span, for errors about an operation's result."""

    def __init__(self, span):
        self.span = span


def evaluate_constant(
    program: S.Program, *, dtype="float64", rng=None, max_elements: int | None = 10**8
) -> np.ndarray:
    """The value of a constant expression (a point's value): a NumPy array."""
    limits = Limits(max_elements=max_elements or 10**8)
    backend = TensorBackend(np.dtype(dtype), rng=rng)
    with T.no_grad():
        run = Interpreter(program, backend, limits, check_domain=False).run({})
    value = run.value
    return value.data if isinstance(value, Tensor) else np.asarray(value, dtype=dtype)
