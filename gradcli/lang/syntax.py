"""Our own small, frozen AST. Every node keeps the span of the text it came from.

The parser builds it from Python's `ast` after allow-listing; interpreters walk it.
Pipes are desugared by the parser: `a | f(k=v)` is a `Call` whose first argument is `a`.
Nodes are light frozen records (their fields are their `__slots__`, span first): made
without dataclasses, whose code generation would cost start-up time on every run.
"""

from __future__ import annotations

from ..errors import Span

#: The most dimensions an array has (NumPy's limit): deeper nested lists are refused.
MAX_DIMS = 64


class Record:
    """A frozen record: fields from `__slots__` along the class hierarchy."""

    __slots__ = ()
    fields: tuple[str, ...] = ()

    def __init_subclass__(cls):
        cls.fields = tuple(
            f for c in reversed(cls.__mro__) for f in c.__dict__.get("__slots__", ())
        )

    def __init__(self, *args, **kwargs):
        if len(args) > len(self.fields):
            raise TypeError(f"{type(self).__name__} takes {len(self.fields)} fields")
        values = dict(zip(self.fields, args, strict=False), **kwargs)  # the rest by name
        if set(values) != set(self.fields):
            raise TypeError(f"{type(self).__name__} needs the fields {self.fields}")
        for name in self.fields:
            object.__setattr__(self, name, values[name])

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is frozen")

    def _key(self) -> tuple:
        return tuple(getattr(self, f) for f in self.fields if not f.endswith("span"))

    def __eq__(self, other):
        return type(self) is type(other) and self._key() == other._key()

    def __hash__(self):
        return hash((type(self), self._key()))

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f}={getattr(self, f)!r}" for f in self.fields if not f.endswith("span")
        )
        return f"{type(self).__name__}({shown})"


class Node(Record):
    __slots__ = ("span",)
    span: Span


# -- expressions ---------------------------------------------------------------------------


class Num(Node):
    __slots__ = ("value",)
    value: float


class Str(Node):
    """A string literal: only einsum's subscripts use one."""

    __slots__ = ("value",)
    value: str


class Name(Node):
    """A variable or a constant (pi, e, inf, nan)."""

    __slots__ = ("id",)
    id: str


class Unary(Node):
    __slots__ = ("op", "operand")
    op: str  # '-', '+', 'not'
    operand: Node


class Binary(Node):
    __slots__ = ("op", "left", "right")
    op: str  # '+', '-', '*', '/', '**', '@', '<', '<=', '>', '>=', '==', '!=', 'and', 'or'
    left: Node
    right: Node


class Call(Node):
    __slots__ = ("func", "args", "kwargs", "func_span")
    func: str
    args: tuple[Node, ...]
    kwargs: tuple[tuple[str, Node], ...]
    func_span: Span


class Slice(Node):
    __slots__ = ("lower", "upper", "step")
    lower: Node | None
    upper: Node | None
    step: Node | None


class Index(Node):
    """`value[i, 1:3, ...]`; items are expressions, `Slice`s, `Name('...')` for Ellipsis,
    or `Name('None')` for a new axis."""

    __slots__ = ("value", "items")
    value: Node
    items: tuple[Node, ...]


class Transpose(Node):
    """`value.T`, the only attribute the language has."""

    __slots__ = ("value",)
    value: Node


class ListLit(Node):
    __slots__ = ("elts",)
    elts: tuple[Node, ...]


class TupleLit(Node):
    __slots__ = ("elts",)
    elts: tuple[Node, ...]


# -- statements ----------------------------------------------------------------------------


class ExprStmt(Node):
    __slots__ = ("value",)
    value: Node


class Assign(Node):
    __slots__ = ("target", "value")
    target: str
    value: Node


class AugAssign(Node):
    __slots__ = ("target", "op", "value")
    target: str
    op: str  # '+', '-', '*', '/', '**', '@'
    value: Node


class If(Node):
    __slots__ = ("test", "body", "orelse")
    test: Node
    body: tuple[Node, ...]
    orelse: tuple[Node, ...]


class While(Node):
    __slots__ = ("test", "body")
    test: Node
    body: tuple[Node, ...]


class For(Node):
    """`for var in range(start, stop, step):` with the range's arguments as expressions."""

    __slots__ = ("var", "start", "stop", "step", "body")
    var: str
    start: Node | None
    stop: Node
    step: Node | None
    body: tuple[Node, ...]


class Program(Record):
    """A parsed text: its statements and the source they came from."""

    __slots__ = ("body", "source", "free_vars", "assigned")
    body: tuple[Node, ...]
    source: str
    free_vars: tuple[str, ...]  # in order of first appearance, excluding assigned names
    assigned: tuple[str, ...]  # names assigned anywhere, in order of first assignment
