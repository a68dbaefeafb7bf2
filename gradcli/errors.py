"""Errors caused by what the user gave: each carries a message, a hint and a position.

The exit code of the command line is a property of the error's kind:
2 for what is decided before evaluation (syntax, unknown names, forbidden constructs,
malformed points), 1 for what is found while evaluating (unbound variables, shapes,
domains, limits).
"""

from __future__ import annotations

class Span:
    """A region of the source text: 1-based lines, 0-based columns, end exclusive."""

    __slots__ = ("line", "col", "end_line", "end_col")

    def __init__(self, line: int, col: int, end_line: int, end_col: int):
        self.line, self.col, self.end_line, self.end_col = line, col, end_line, end_col

    def _key(self) -> tuple:
        return self.line, self.col, self.end_line, self.end_col

    def __eq__(self, other):
        return type(other) is Span and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self) -> str:
        return "Span(line={}, col={}, end_line={}, end_col={})".format(*self._key())

    def to_json(self) -> dict:
        return {"line": self.line, "col": self.col + 1, "end_line": self.end_line,
                "end_col": self.end_col + 1}


class GradcliError(Exception):
    """Base of every error caused by the user's input."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None, span: Span | None = None,
                 source: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.span = span
        self.source = source

    @property
    def position(self) -> Span | None:
        """Where in the text the error is (the same as `span`), or None."""
        return self.span

    @position.setter
    def position(self, span: Span | None) -> None:
        self.span = span

    @property
    def kind(self) -> str:
        return type(self).__name__

    def locate(self, span: Span | None, source: str | None) -> "GradcliError":
        """Attach a position unless the error already has one; returns self."""
        if self.span is None and span is not None:
            self.span = span
        if self.source is None and source is not None:
            self.source = source
        return self

    def excerpt(self) -> str | None:
        """The offending source line with a caret line under the span, or None."""
        if self.span is None or self.source is None:
            return None
        lines = self.source.splitlines() or [""]
        if not 1 <= self.span.line <= len(lines):
            return None
        text = lines[self.span.line - 1]
        start = min(self.span.col, len(text))
        end = self.span.end_col if self.span.end_line == self.span.line else len(text)
        width = max(1, min(end, len(text) + 1) - start)
        return f"{text}\n{' ' * start}{'^' * width}"

    def render(self, label: str = "error", of: str = "") -> str:
        """Plain-text rendering: message, source excerpt with caret, hint (`of` names the
        text that the position is in, as in "column 3 of the expression")."""
        where = ""
        if self.span is not None:
            where = f"column {self.span.col + 1}{of and ' of ' + of}"
            if self.span.line > 1 or not of:
                where = f"line {self.span.line}, {where}"
            where = f" ({where})"
        parts = [f"{label}: {self.message}{where}"]
        excerpt = self.excerpt()
        if excerpt:
            parts.extend("  " + line for line in excerpt.splitlines())
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)

    def to_json(self) -> dict:
        return {"type": self.kind, "message": self.message, "hint": self.hint,
                "position": self.span.to_json() if self.span else None}

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message}\nhint: {self.hint}"


# -- decided before evaluation: exit code 2 ------------------------------------------------

class UsageError(GradcliError):
    """Malformed input outside the expression itself (a bad --at, a bad flag value)."""

    exit_code = 2


class ParseError(UsageError):
    """The text is not a valid expression or program."""


class ForbiddenError(ParseError):
    """A construct that the language does not allow (attributes, lambdas, imports, …)."""


class UnknownFunctionError(ParseError):
    """A call to a function the language does not define."""


class SignatureError(ParseError):
    """Wrong number of arguments or an unknown keyword."""


class NestingError(ParseError):
    """The expression is nested deeper than the parser allows."""


# -- found while evaluating: exit code 1 ---------------------------------------------------

class EvalError(GradcliError):
    """An error found while evaluating."""


class UnboundVariableError(EvalError):
    """A free variable has no value at the point."""


class ShapeError(EvalError, ValueError):
    """Operands whose shapes do not fit the operation."""


class NotScalarError(EvalError, RuntimeError):
    """A gradient was asked of a non-scalar output without a cotangent."""


class DomainError(EvalError):
    """A value outside an operation's domain: a warning, or an error under --strict."""


class LimitError(EvalError):
    """A resource limit was passed: loop iterations, array size, time."""


class GraphError(EvalError, RuntimeError):
    """Misuse of the autograd graph (backward through a freed graph, no grad_fn)."""


class OverflowDomainError(DomainError):
    """A result too large for its dtype (infinity from finite inputs, no pole): a warning,
    or an error under --strict."""


# -- not the user's: exit code 1 -----------------------------------------------------------

class InternalError(GradcliError):
    """Anything unexpected: a bug in gradcli, never the user's fault."""

    @classmethod
    def of(cls, exc: BaseException) -> "InternalError":
        return cls(f"internal error: {type(exc).__name__}: {exc}",
                   hint="this is a bug in gradcli; please report it with the command you ran "
                        "(GRADCLI_DEBUG=1 shows the traceback)")
