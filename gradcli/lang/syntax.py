"""Our own small, frozen AST. Every node keeps the span of the text it came from.

The parser builds it from Python's `ast` after allow-listing; interpreters walk it.
Pipes are desugared by the parser: `a | f(k=v)` is a `Call` whose first argument is `a`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import Span


@dataclass(frozen=True, slots=True)
class Node:
    span: Span = field(repr=False, compare=False)


# -- expressions ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Num(Node):
    value: float


@dataclass(frozen=True, slots=True)
class Str(Node):
    """A string literal: only einsum's subscripts use one."""

    value: str


@dataclass(frozen=True, slots=True)
class Name(Node):
    """A variable or a constant (pi, e, inf, nan)."""

    id: str


@dataclass(frozen=True, slots=True)
class Unary(Node):
    op: str  # '-', '+', 'not'
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary(Node):
    op: str  # '+', '-', '*', '/', '**', '@', '<', '<=', '>', '>=', '==', '!=', 'and', 'or'
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Call(Node):
    func: str
    args: tuple[Node, ...]
    kwargs: tuple[tuple[str, Node], ...]
    func_span: Span = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Slice(Node):
    lower: Node | None
    upper: Node | None
    step: Node | None


@dataclass(frozen=True, slots=True)
class Index(Node):
    """`value[i, 1:3, ...]`; items are expressions, `Slice`s, `Name('...')` for Ellipsis,
    or `Name('None')` for a new axis."""

    value: Node
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Transpose(Node):
    """`value.T`, the only attribute the language has."""

    value: Node


@dataclass(frozen=True, slots=True)
class ListLit(Node):
    elts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class TupleLit(Node):
    elts: tuple[Node, ...]


# -- statements ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ExprStmt(Node):
    value: Node


@dataclass(frozen=True, slots=True)
class Assign(Node):
    target: str
    value: Node


@dataclass(frozen=True, slots=True)
class AugAssign(Node):
    target: str
    op: str  # '+', '-', '*', '/', '**', '@'
    value: Node


@dataclass(frozen=True, slots=True)
class If(Node):
    test: Node
    body: tuple[Node, ...]
    orelse: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class While(Node):
    test: Node
    body: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class For(Node):
    """`for var in range(start, stop, step):` with the range's arguments as expressions."""

    var: str
    start: Node | None
    stop: Node
    step: Node | None
    body: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Program:
    """A parsed text: its statements and the source they came from."""

    body: tuple[Node, ...]
    source: str
    free_vars: tuple[str, ...]  # in order of first appearance, excluding assigned names
    assigned: tuple[str, ...]  # names assigned anywhere, in order of first assignment
