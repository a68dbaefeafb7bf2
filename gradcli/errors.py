"""Errors caused by what the user gave: each carries a message, a hint and a position.

The exit code of the command line is a property of the error's kind:
2 for what is decided before evaluation (syntax, unknown names, forbidden constructs,
malformed points), 1 for what is found while evaluating (unbound variables, shapes,
domains, limits).
"""

from __future__ import annotations

import re
import unicodedata

#: Characters never echoed raw to a terminal: C0 and C1 controls (but the newline), DEL,
#: the line and paragraph separators, and the bidirectional overrides.
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    r"""User text made safe to echo: each control character escaped (ESC as \x1b).

    >>> printable("x\x1b[2J")
    'x\\x1b[2J'
    """
    return UNSAFE.sub(lambda m: escaped(m.group()), text)


def escaped(ch: str) -> str:
    """One unsafe character as its escape, `\\x1b` or `\\u202e`."""
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"


def cells(text: str) -> int:
    """The terminal columns `text` takes: wide (East Asian) characters two, combining
    marks none."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def window(text: str, start: int, end: int, width: int | None = None) -> tuple[str, str]:
    """(shown line, caret line) for text[start:end]: control characters escaped, carets
    under the characters they mark, and a line wider than `width` cut to a window around
    the start, its cuts marked with …"""
    pieces = [printable(c) for c in text]
    pos = [0]
    for piece in pieces:
        pos.append(pos[-1] + cells(piece))
    n = len(pieces)
    start = min(start, n)
    lo, hi = 0, n
    if width is not None and pos[n] + 1 > width:
        room = max(width - 3, 8)  # two marks and a caret past the end
        left = min(pos[start], room // 3)
        left = max(left, room - (pos[n] - pos[start]))
        lo = next(i for i in range(start + 1) if pos[start] - pos[i] <= left)
        hi = max(i for i in range(lo, n + 1) if pos[i] - pos[lo] <= room)
        hi = max(hi, min(start, n))
    head = "…" if lo > 0 else ""
    shown = head + "".join(pieces[lo:hi]) + ("…" if hi < n else "")
    carets = "^" * max(1, pos[max(start, min(end, hi))] - pos[start])
    return shown, " " * (len(head) + pos[start] - pos[lo]) + carets


def shortened(text: str, room: int) -> str:
    """`text` escaped, and cut to `room` columns around … (its start and its end) when
    longer."""
    text = printable(text)
    if cells(text) <= room:
        return text
    keep = max(room - 3, 2)
    return f"{text[: keep - keep // 3]} … {text[len(text) - keep // 3 :]}"


def echoed(text: str, room: int, lines: int = 4) -> str:
    """The user's expression to echo in at most `lines` lines of `room` columns: control
    characters escaped; a longer text summarised (its start and end around …, or its first
    lines) with its size on a line of its own (--json holds it all)."""
    import textwrap

    text = printable(text)
    source = text.split("\n")
    if len(source) <= lines and all(cells(s) <= room for s in source):
        return text
    size = f"{len(source)} lines, " if len(source) > 1 else ""
    note = f"({size}{len(text):,} characters; all in --json)"
    if len(source) > 1:
        return "\n".join([*(shortened(s, room) for s in source[: lines - 1]), f"… {note}"])
    keep = room * (lines - 1)
    while True:
        shown = textwrap.wrap(shortened(text, keep), room, break_on_hyphens=False)
        if len(shown) < lines or keep < room:
            return "\n".join([*shown, note])
        keep -= room // 4 + 1


class Span:
    """A region of the source text: 1-based lines, 0-based columns, end exclusive."""

    __slots__ = ("line", "col", "end_line", "end_col")

    def __init__(self, line: int, col: int, end_line: int, end_col: int):
        self.line, self.col, self.end_line, self.end_col = line, col, end_line, end_col

    def _key(self) -> tuple:
        return self.line, self.col, self.end_line, self.end_col

    def __eq__(self, other: object) -> bool:
        return type(other) is Span and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return "Span(line={}, col={}, end_line={}, end_col={})".format(*self._key())

    def to_json(self) -> dict:
        return {
            "line": self.line,
            "col": self.col + 1,
            "end_line": self.end_line,
            "end_col": self.end_col + 1,
        }


class GradcliError(Exception):
    """Base of every error caused by the user's input."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        span: Span | None = None,
        source: str | None = None,
    ):
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

    def locate(self, span: Span | None, source: str | None) -> GradcliError:
        """Attach a position unless the error already has one; returns self."""
        if self.span is None and span is not None:
            self.span = span
        if self.source is None and source is not None:
            self.source = source
        return self

    def excerpt(self, width: int | None = None) -> str | None:
        """The offending source line with a caret line under the span, or None; control
        characters escaped, and a line wider than `width` shown as a window around the
        span."""
        if self.span is None or self.source is None:
            return None
        lines = re.split(r"\r\n|\r|\n", self.source)
        if not 1 <= self.span.line <= len(lines):
            return None
        text = lines[self.span.line - 1]
        end = self.span.end_col if self.span.end_line == self.span.line else len(text)
        return "\n".join(window(text, self.span.col, end, width))

    def render(self, label: str = "error", of: str = "", width: int | None = None) -> str:
        """Plain-text rendering: message, source excerpt with caret, hint (`of` names the
        text that the position is in, as in "column 3 of the expression"); user text
        escaped, the excerpt fitted to `width` columns (its lines are indented by 2)."""
        where = ""
        if self.span is not None:
            where = f"column {self.span.col + 1}{of and ' of ' + of}"
            if self.span.line > 1 or not of:
                where = f"line {self.span.line}, {where}"
            where = f" ({where})"
        parts = [f"{label}: {printable(self.message)}{where}"]
        excerpt = self.excerpt(None if width is None else width - 2)
        if excerpt:
            parts.extend("  " + line for line in excerpt.split("\n"))
        if self.hint:
            parts.append(f"hint: {printable(self.hint)}")
        return "\n".join(parts)

    def to_json(self) -> dict:
        return {
            "type": self.kind,
            "message": self.message,
            "hint": self.hint,
            "position": self.span.to_json() if self.span else None,
        }

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


class NoSymbolicForm(EvalError):
    """A function sympy has no form for (its forward cannot run on sympy expressions): the
    cross-check then uses finite differences alone."""


class OverflowDomainError(DomainError):
    """A result too large for its dtype (infinity from finite inputs, no pole): a warning,
    or an error under --strict."""


# -- not the user's: exit code 1 -----------------------------------------------------------


class InternalError(GradcliError):
    """Anything unexpected: a bug in gradcli, never the user's fault."""

    @classmethod
    def of(cls, exc: BaseException) -> InternalError:
        return cls(
            f"internal error: {type(exc).__name__}: {exc}",
            hint="this is a bug in gradcli; please report it with the command you ran "
            "(GRADCLI_DEBUG=1 shows the traceback)",
        )
