"""The safe parser: text → `syntax.Program`, through Python's `ast` and an allow-list.

Nothing here evaluates user text. `^` becomes `**` at the token level; positions are mapped
back to the user's own text so that carets point at what was typed.
"""

from __future__ import annotations

import ast
import bisect
import inspect
import io
import keyword
import math
import re
import sys
import tokenize
import warnings
from collections.abc import Callable, Mapping
from typing import NoReturn

from ..errors import (
    ForbiddenError,
    GradcliError,
    NestingError,
    ParseError,
    SignatureError,
    Span,
    UnknownFunctionError,
)
from . import syntax as S

#: The language's named constants and their values.
CONSTANTS = {"pi": math.pi, "e": math.e, "inf": math.inf, "nan": math.nan}

_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = {v: k for k, v in _OPEN.items()}
_SKIP = {tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.MatMult: "@"}
_CMPOPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_BAD_OPS = {
    ast.FloorDiv: ("//", "use floor(a / b) if available, or a / b"),
    ast.Mod: ("%", "the language has no modulo operator"),
    ast.BitAnd: ("&", "use `and`, or multiply masks"),
    ast.LShift: ("<<", None),
    ast.RShift: (">>", None),
    ast.BitXor: ("^", None),
}
_FORBIDDEN = {  # ast node type → (what it is, hint)
    ast.Lambda: ("lambda", "the language has no user-defined functions"),
    ast.ListComp: ("a list comprehension", "use array operations instead"),
    ast.SetComp: ("a set comprehension", None),
    ast.DictComp: ("a dict comprehension", None),
    ast.GeneratorExp: ("a generator expression", "use array operations instead"),
    ast.JoinedStr: ("an f-string", None),
    ast.Dict: ("a dict literal", None),
    ast.Set: ("a set literal", None),
    ast.IfExp: ("a conditional expression (a if c else b)", "use where(c, a, b)"),
    ast.NamedExpr: ("the walrus operator :=", "assign on a line of its own: y = ..."),
    ast.Starred: ("a starred expression (*x)", None),
    ast.Await: ("await", None),
    ast.Yield: ("yield", None),
    ast.YieldFrom: ("yield", None),
    ast.Import: ("import", "every function is already available"),
    ast.ImportFrom: ("import", "every function is already available"),
    ast.FunctionDef: ("def", "the language has no user-defined functions"),
    ast.AsyncFunctionDef: ("def", None),
    ast.ClassDef: ("class", None),
    ast.Return: ("return", "the result is the last statement"),
    ast.Delete: ("del", None),
    ast.Global: ("global", None),
    ast.Nonlocal: ("nonlocal", None),
    ast.With: ("with", None),
    ast.AsyncWith: ("with", None),
    ast.AsyncFor: ("async for", None),
    ast.Try: ("try", None),
    ast.TryStar: ("try", None),
    ast.Raise: ("raise", None),
    ast.Assert: ("assert", None),
    ast.Match: ("match", None),
    ast.AnnAssign: ("an annotated assignment", "write name = value"),
    ast.Break: ("break", "end the loop with its while condition"),
    ast.Continue: ("continue", "use if/else inside the loop"),
}

_DEFAULT_HINTS: dict[type[GradcliError], str] = {
    ForbiddenError: "the language has arithmetic, comparisons, calls of its functions, "
    "indexing, .T, lists, and assignments, if, while and for i in range(n)",
    SignatureError: "check the function's arguments in the README",
    ParseError: "see the language in the README",
}


def parse(
    text: str,
    *,
    functions: Mapping[str, Callable] | None = None,
    max_length: int = 100_000,
    max_depth: int = 100,
) -> S.Program:
    """Parse an expression or a program into our AST; raise a ParseError subclass if the
    text is not in the language."""
    if functions is None:
        from ..engine.functions import FUNCTIONS

        functions = FUNCTIONS
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if len(text) <= min(max_depth, max_length) and "^" not in text:
        # Too short to nest too deeply, and no `^` to rewrite: `ast` first, without the
        # token scan (Python's tokenizer costs a tenth of a one-shot run to load). On any
        # error, the full path below runs, so that the errors are the same.
        try:
            return _Translator(text, {}, functions, max_depth).program()
        except ParseError:
            pass
    if len(text) > max_length:
        _refuse_deep(text[:max_length], functions, max_depth)
        raise ParseError(
            f"the text is {len(text)} characters long, more than the limit of {max_length}",
            hint="split the work, or raise the length limit",
        )
    if max(map(len, text.split("\n"))) > LONG_LINE:
        _refuse_deep(text, functions, max_depth)
    carets = _scan(text, max_depth)
    return _Translator(text, carets, functions, max_depth).program()


#: Lines longer than this are checked for depth by `ast` before the token scan: Python
#: 3.12's tokenizer takes time quadratic in a line's length (0.7 s at 20,000 characters).
LONG_LINE = 2_000


def _refuse_deep(text: str, functions, max_depth: int) -> None:
    """Raise the NestingError of a text nested too deeply (a long flat sum, too many
    brackets), found by `ast` in a fraction of a second, before the token scan; every `^`
    counts as `**` here, also in comments, which changes no depth."""
    carets = {
        row: [i for i, c in enumerate(line) if c == "^"]
        for row, line in enumerate(text.split("\n"), 1)
        if "^" in line
    }
    try:
        _Translator(text, carets, functions, max_depth).tree()
    except NestingError:
        raise
    except ParseError:
        pass  # the full path finds it and says it in its own words


def _tok_span(tok: tokenize.TokenInfo) -> Span:
    return Span(tok.start[0], tok.start[1], tok.end[0], tok.end[1])


def _scan(text: str, max_depth: int) -> dict[int, list[int]]:
    """Check brackets and nesting on the tokens, before `ast` sees the text; return the
    columns of each line's `^` operators."""
    stack: list[tuple[str, Span]] = []
    chains = [0]  # unary operators and powers in a row, per bracket level
    prev = None
    carets: dict[int, list[int]] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            kind, s = tok.type, tok.string
            if kind in _SKIP:
                continue
            if kind == tokenize.NEWLINE:
                chains[-1], prev = 0, None
                continue
            if kind == tokenize.OP and s in _OPEN:
                stack.append((s, _tok_span(tok)))
                chains.append(0)
                if len(stack) > max_depth:
                    raise NestingError(
                        f"brackets nested more than {max_depth} deep",
                        hint="simplify the expression or split it into assignments",
                        span=_tok_span(tok),
                        source=text,
                    )
            elif kind == tokenize.OP and s in _CLOSE:
                if not stack:
                    raise ParseError(
                        f"unmatched '{s}'",
                        span=_tok_span(tok),
                        source=text,
                        hint=f"unbalanced parenthesis: remove it or add the "
                        f"matching '{_CLOSE[s]}' before it",
                    )
                if stack[-1][0] != _CLOSE[s]:
                    o, where = stack[-1]
                    raise ParseError(
                        f"'{s}' does not match '{o}' on line {where.line}, column {where.col + 1}",
                        span=_tok_span(tok),
                        source=text,
                        hint=f"close '{o}' with '{_OPEN[o]}'",
                    )
                stack.pop()
                chains.pop()
            elif (
                (kind == tokenize.OP and s in ("**", "^"))
                or s in ("~", "not")
                or (s in ("-", "+") and _starts_operand(prev))
            ):
                chains[-1] += 1
                if chains[-1] > max_depth:
                    raise NestingError(
                        f"more than {max_depth} unary operators or powers in a row",
                        span=_tok_span(tok),
                        source=text,
                        hint="simplify the expression",
                    )
            elif kind == tokenize.OP or keyword.iskeyword(s):
                chains[-1] = 0
            if kind == tokenize.OP and s in ("^", "^="):
                carets.setdefault(tok.start[0], []).append(tok.start[1])
            prev = tok
    except tokenize.TokenError:
        if stack:
            o, where = stack[-1]
            raise ParseError(
                f"'{o}' was never closed",
                span=where,
                source=text,
                hint=f"unbalanced parenthesis: add the matching '{_OPEN[o]}'",
            ) from None
        raise ParseError(
            "unterminated triple-quoted string", source=text, hint="close the string"
        ) from None
    except SyntaxError as err:  # IndentationError from the tokenizer; the caret goes
        # under the line's first character (the tokenizer's offset differs between versions)
        line = err.lineno or 1
        rows = text.split("\n")
        source = rows[line - 1] if line <= len(rows) else ""
        col = len(source) - len(source.lstrip())
        raise ParseError(
            err.msg,
            span=Span(line, col, line, col + 1),
            source=text,
            hint="indent every line of a block by the same amount",
        ) from None
    return carets


def _starts_operand(prev: tokenize.TokenInfo | None) -> bool:
    """Whether a `-` or `+` after `prev` is unary."""
    if prev is None:
        return True
    if prev.type == tokenize.OP:
        return prev.string not in _CLOSE
    return (
        prev.type == tokenize.NAME
        and keyword.iskeyword(prev.string)
        and prev.string not in ("True", "False", "None")
    )


def _rewrite(text: str, carets: dict[int, list[int]]) -> list[str]:
    """The lines of `text` with each `^` operator as `**` (one pass over each line)."""
    lines = text.split("\n")
    for row, cols in carets.items():
        line, pieces, start = lines[row - 1], [], 0
        for col in sorted(cols):
            pieces += [line[start:col], "**"]
            start = col + 1
        lines[row - 1] = "".join(pieces) + line[start:]
    return lines


_OPERATORS = "+-*/@%^<>="


def _syntax_hint(msg: str, near: str, before: str = "") -> str:
    """A hint for Python's syntax error `msg` at the text `near` (after `before`)."""
    prev = before.rstrip()
    op, first = prev[len(prev.rstrip(_OPERATORS)) :], near[:1]  # the operators around it
    if first and first in _OPERATORS and (op or prev[-1:] in ("", "(", ",", "[")):
        if first == "*" == op:
            return "did you mean ** for power? Write it without a space: x ** 2"
        what = f"{op} is followed by {first}" if op else f"{first} has no value before it"
        return f"an operator needs a value on each side: {what}"
    if op and not near.strip():
        return f"an operator needs a value on each side: nothing follows {op}"
    if "decimal literal" in msg:
        return "write multiplication explicitly: 2*x, not 2x"
    if "invalid character" in msg:
        return "use ** (or ^) for powers and plain ASCII operators: * / + -"
    if "forgot a comma" in msg:
        return "put an operator between the two values: * for a product, ** for a power"
    if "'=='" in msg or near.startswith("="):
        return "use == to compare; = assigns a name"
    if "expected ':'" in msg:
        return "a block header ends with ':' and its body goes on the next lines, indented"
    if "indent" in msg:
        return "indent every line of a block by the same amount"
    if near.split()[:1] in (["if"], ["while"], ["for"], ["elif"], ["else"]):
        return "if, while and for must each start a line of their own"
    if "unterminated" in msg or "EOL" in msg:
        return "close the string with the same quote it started with"
    if near.startswith("*") or "**" in near:
        return "did you mean ** for power? A power needs a value on each side"
    return "the language is Python's expression syntax, with ^ or ** for powers"


# A parsed node with a position (a Span): an expression, a statement or a keyword argument.
_Located = ast.expr | ast.stmt | ast.keyword


class _Translator:
    def __init__(
        self,
        text: str,
        carets: dict[int, list[int]],
        functions: Mapping[str, Callable],
        max_depth: int,
    ):
        self.text = text
        self.carets = {row: sorted(cols) for row, cols in carets.items()}
        # where each `**` starts in its rewritten line (increasing): for `col`, by bisection
        self.starts = {
            row: [c + k for k, c in enumerate(cols)] for row, cols in self.carets.items()
        }
        self.lines = _rewrite(text, carets)
        self.chars: dict[int, list[int] | None] = {}  # per line: byte -> character, if
        # it is not ASCII
        self.functions = functions
        self.max_depth = max_depth
        self.bound: set[str] = set()
        self.free: dict[str, None] = {}
        self.assigned: dict[str, None] = {}

    # -- positions ---------------------------------------------------------------------

    def col(self, line: int, col: int, *, chars: bool = False) -> int:
        """Column in the user's text of a (byte, unless `chars`) column of the rewritten
        line."""
        if not 1 <= line <= len(self.lines):
            return col
        if not chars:
            col = self.char_col(line, col)
        starts = self.starts.get(line)
        if not starts:
            return col
        done = bisect.bisect_right(starts, col - 2)  # the `**`s wholly left of col
        if done < len(starts) and col == starts[done] + 1:
            return self.carets[line][done] + 1  # on the second `*`: the user's `^`
        return col - done

    def char_col(self, line: int, col: int) -> int:
        """The character column of a byte column of a rewritten line."""
        if line not in self.chars:
            text = self.lines[line - 1]
            self.chars[line] = (
                None
                if text.isascii()
                else [i for i, c in enumerate(text) for _ in range(len(c.encode()))] + [len(text)]
            )
        table = self.chars[line]
        return col if table is None else table[min(col, len(table) - 1)]

    def span(self, node: _Located) -> Span:
        end_line, end_col = node.end_lineno, node.end_col_offset
        assert end_line is not None and end_col is not None  # (the parser sets them)
        return Span(
            node.lineno,
            self.col(node.lineno, node.col_offset),
            end_line,
            self.col(end_line, end_col),
        )

    def fail(
        self, cls: type[GradcliError], message: str, where: _Located | Span, hint: str | None = None
    ) -> NoReturn:
        span = where if isinstance(where, Span) else self.span(where)
        hint = hint or _DEFAULT_HINTS[cls]
        raise cls(message, hint=hint, span=span, source=self.text)

    # -- entry -------------------------------------------------------------------------

    def program(self) -> S.Program:
        tree = self.tree()
        try:
            body = self.block(tree.body)
        except RecursionError:
            raise NestingError(
                "the text is nested too deeply", source=self.text, hint="simplify the expression"
            ) from None
        if not body:
            raise ParseError(
                "there is nothing to evaluate",
                source=self.text,
                hint="give an expression, for example x**2",
            )
        return S.Program(body, self.text, tuple(self.free), tuple(self.assigned))

    def tree(self) -> ast.Module:
        """Python's AST of the rewritten text, its depth checked."""
        source = "\n".join(self.lines)
        try:
            with warnings.catch_warnings():  # e.g. "invalid escape sequence": not for users
                warnings.simplefilter("ignore")
                tree = ast.parse(source, mode="exec")
        except SyntaxError as err:
            self.syntax_error(err)
        except (MemoryError, RecursionError):
            raise NestingError(
                "the text is nested too deeply to parse",
                source=self.text,
                hint="simplify the expression",
            ) from None
        except ValueError as err:
            raise ParseError(
                f"the text cannot be parsed: {err}",
                source=self.text,
                hint="remove control characters such as NUL bytes",
            ) from None
        self.check_depth(tree)
        return tree

    def syntax_error(self, err: SyntaxError):
        msg = err.msg
        if "too many nested" in msg or "too complex" in msg:
            raise NestingError(
                "the text is nested too deeply to parse",
                source=self.text,
                hint="simplify the expression",
            ) from None
        if "integer string conversion" in msg:  # not Python's hint: set_int_max_str_digits
            least = sys.get_int_max_str_digits() + 1
            digits = re.search(rf"\d{{{least},}}", self.text)
            before = self.text[: digits.start()] if digits else ""
            line, col = before.count("\n") + 1, len(before) - (before.rfind("\n") + 1)
            size = len(digits[0]) if digits else 0
            raise ParseError(
                f"a number of {size} digits (at most {sys.get_int_max_str_digits()} are read)",
                span=Span(line, col, line, col + size) if digits else None,
                source=self.text,
                hint="write it with an exponent, as in 1.5e300 (numbers are floats)",
            ) from None
        line = err.lineno or 1
        col = self.col(line, max((err.offset or 1) - 1, 0), chars=True)
        end_col = col + 1
        if err.end_lineno == line and err.end_offset and err.end_offset > (err.offset or 0):
            end_col = self.col(line, err.end_offset - 1, chars=True)
        text = self.text.split("\n")[line - 1] if line <= len(self.lines) else ""
        raise ParseError(
            msg or "invalid syntax",
            span=Span(line, col, line, end_col),
            source=self.text,
            hint=_syntax_hint(msg, text[col:], text[:col]),
        ) from None

    def check_depth(self, tree: ast.AST):
        """Refuse trees deeper than six times the nesting limit (long chains like
        a+b+c+… nest too) so that walking them recursively stays safe."""
        limit = 6 * self.max_depth
        stack: list[tuple[ast.AST, int, _Located | None]] = [(tree, 0, None)]
        while stack:
            node, depth, located = stack.pop()
            if isinstance(node, (ast.expr, ast.stmt)):
                depth, located = depth + 1, node
            if depth > limit:
                assert located is not None  # (the depth counts the located nodes)
                self.fail(
                    NestingError,
                    f"the expression is nested more than {limit} levels deep",
                    located,
                    "split it into assignments, e.g. s = a + b, then s = s + c",
                )
            stack.extend((child, depth, located) for child in ast.iter_child_nodes(node))

    # -- names -------------------------------------------------------------------------

    def check_name(self, name: str, where: _Located | Span):
        if name.startswith("__") or name.endswith("__"):
            self.fail(
                ForbiddenError,
                f"the name {name} is not allowed",
                where,
                "names may not start or end with a double underscore",
            )
        if "·" in name:  # Python lets a middle dot into a name: x·y reads as one variable
            self.fail(
                ParseError,
                f"{name} reads as one name: · is not multiplication",
                where,
                f"write {name.replace('·', '*')}",
            )

    def read(self, name: str, where: _Located | Span):
        self.check_name(name, where)
        if name in self.functions or name == "range":
            self.fail(
                ParseError,
                f"{name} is a function, not a value",
                where,
                f"call it, {name}(x), or pipe into it, x | {name}",
            )
        if name not in CONSTANTS and name not in self.bound:
            self.free.setdefault(name)

    def target(self, node: ast.expr) -> str:
        """The name an assignment or loop binds."""
        if not isinstance(node, ast.Name):
            what = {
                ast.Subscript: "an element or slice",
                ast.Attribute: "an attribute",
                ast.Tuple: "several names at once (unpacking)",
                ast.List: "several names at once (unpacking)",
                ast.Starred: "a starred name",
            }.get(type(node), "an expression")
            self.fail(
                ForbiddenError,
                f"assigning to {what} is not allowed",
                node,
                "assign to a plain name: y = ...",
            )
        name = node.id
        self.check_name(name, node)
        if name in CONSTANTS:
            self.fail(
                ParseError, f"cannot assign to the constant {name}", node, "choose another name"
            )
        if name in self.functions or name == "range":
            self.fail(
                ParseError,
                f"cannot assign to {name}: it is a function",
                node,
                "choose another name",
            )
        return name

    def bind(self, name: str):
        self.bound.add(name)
        self.assigned.setdefault(name)

    # -- statements --------------------------------------------------------------------

    def block(self, stmts: list[ast.stmt]) -> tuple[S.Node, ...]:
        return tuple(s for s in map(self.stmt, stmts) if s is not None)

    def stmt(self, node: ast.stmt) -> S.Node | None:
        span = self.span(node)
        if isinstance(node, ast.Expr):
            return S.ExprStmt(span, self.expr(node.value))
        if isinstance(node, ast.Pass):
            return None
        if isinstance(node, ast.Assign):
            if len(node.targets) != 1:
                self.fail(
                    ForbiddenError,
                    "chained assignment (a = b = ...) is not allowed",
                    node,
                    "assign one name per statement",
                )
            name = self.target(node.targets[0])
            value = self.expr(node.value)
            self.bind(name)
            return S.Assign(span, name, value)
        if isinstance(node, ast.AugAssign):
            op = _BINOPS.get(type(node.op))
            if op is None:
                self.fail(
                    ForbiddenError,
                    "this augmented assignment is not allowed",
                    node,
                    "use one of += -= *= /= **= @=",
                )
            name = self.target(node.target)
            self.read(name, node.target)
            value = self.expr(node.value)
            self.bind(name)
            return S.AugAssign(span, name, op, value)
        if isinstance(node, ast.If):
            test = self.expr(node.test)
            return S.If(span, test, self.block(node.body), self.block(node.orelse))
        if isinstance(node, ast.While):
            if node.orelse:
                self.fail(ForbiddenError, "while ... else is not allowed", node.orelse[0])
            test = self.expr(node.test)
            return S.While(span, test, self.block(node.body))
        if isinstance(node, ast.For):
            return self.for_loop(node, span)
        what, hint = _FORBIDDEN.get(type(node), (type(node).__name__, None))
        self.fail(ForbiddenError, f"{what} is not allowed", node, hint)

    def for_loop(self, node: ast.For, span: Span) -> S.For:
        hint = "loops are written for i in range(n), range(start, stop) or range(start, stop, step)"
        it = node.iter
        if not (
            isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range"
        ):
            self.fail(ForbiddenError, "a for loop can only run over range(...)", it, hint)
        if (
            it.keywords
            or not 1 <= len(it.args) <= 3
            or any(isinstance(a, ast.Starred) for a in it.args)
        ):
            self.fail(SignatureError, "range takes 1 to 3 positional arguments", it, hint)
        if node.orelse:
            self.fail(ForbiddenError, "for ... else is not allowed", node.orelse[0])
        var = self.target(node.target)
        args: list[S.Node | None] = [self.expr(a) for a in it.args]
        if len(args) == 1:
            args.insert(0, None)
        start, stop, step = [*args, None][:3]
        self.bound.add(var)
        return S.For(span, var, start, stop, step, self.block(node.body))

    # -- expressions -------------------------------------------------------------------

    def expr(self, node: ast.expr) -> S.Node:
        span = self.span(node)
        if isinstance(node, ast.Constant):
            return self.constant(node, span)
        if isinstance(node, ast.Name):
            self.read(node.id, node)
            return S.Name(span, node.id)
        if isinstance(node, ast.UnaryOp):
            op = {ast.USub: "-", ast.UAdd: "+", ast.Not: "not"}.get(type(node.op))
            if op is None:
                self.fail(
                    ForbiddenError,
                    "the operator ~ is not allowed",
                    node,
                    "use `not` for a logical negation",
                )
            return S.Unary(span, op, self.expr(node.operand))
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.BitOr):
                return self.pipe(node, span)
            op = _BINOPS.get(type(node.op))
            if op is None:
                sym, hint = _BAD_OPS.get(type(node.op), ("this", None))
                self.fail(ForbiddenError, f"the operator {sym} is not allowed", node, hint)
            return S.Binary(span, op, self.expr(node.left), self.expr(node.right))
        if isinstance(node, ast.BoolOp):
            op = "and" if isinstance(node.op, ast.And) else "or"
            result = self.expr(node.values[0])
            for operand in node.values[1:]:
                right = self.expr(operand)
                end = right.span
                result = S.Binary(
                    Span(span.line, span.col, end.end_line, end.end_col), op, result, right
                )
            return result
        if isinstance(node, ast.Compare):
            if len(node.ops) > 1:
                self.fail(
                    ParseError,
                    "chained comparisons (a < b < c) are not allowed",
                    node,
                    "write (a < b) and (b < c)",
                )
            op = _CMPOPS.get(type(node.ops[0]))
            if op is None:
                self.fail(
                    ForbiddenError,
                    "only < <= > >= == != comparisons are allowed",
                    node,
                    "`is` and `in` are not part of the language",
                )
            return S.Binary(span, op, self.expr(node.left), self.expr(node.comparators[0]))
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or (node.func.lineno, node.func.col_offset) != (
                node.lineno,
                node.col_offset,
            ):
                self.fail(
                    ForbiddenError,
                    "only named functions can be called",
                    node.func,
                    "write f(x) or x | f; methods such as x.sum() are written sum(x)",
                )
            return self.call(span, node.func, [], node.args, node.keywords)
        if isinstance(node, ast.Subscript):
            value = self.expr(node.value)
            items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            return S.Index(span, value, tuple(map(self.index_item, items)))
        if isinstance(node, ast.Attribute):
            if node.attr == "T":
                return S.Transpose(span, self.expr(node.value))
            where = span
            if span.line == span.end_line and span.end_col - len(node.attr) - 1 >= span.col:
                where = Span(span.line, span.end_col - len(node.attr) - 1, span.line, span.end_col)
            self.fail(
                ForbiddenError,
                f"the attribute .{node.attr} is not allowed",
                where,
                "the only attribute is .T; use functions instead, e.g. sum(x) or x | sum",
            )
        if isinstance(node, ast.List):
            return S.ListLit(span, tuple(map(self.expr, node.elts)))
        if isinstance(node, ast.Tuple):
            return S.TupleLit(span, tuple(map(self.expr, node.elts)))
        what, hint = _FORBIDDEN.get(type(node), (type(node).__name__, None))
        self.fail(ForbiddenError, f"{what} is not allowed", node, hint)

    def constant(self, node: ast.Constant, span: Span) -> S.Node:
        v = node.value
        if isinstance(v, bool):
            return S.Num(span, float(v))
        if isinstance(v, int):
            try:
                return S.Num(span, float(v))
            except OverflowError:
                return S.Num(span, float("inf"))
        if isinstance(v, float):
            return S.Num(span, v)
        if v is None:
            return S.Name(span, "None")
        if isinstance(v, str):
            self.fail(
                ForbiddenError,
                "a string is only allowed as einsum's first argument",
                node,
                'for example einsum("ij,jk->ik", a, b)',
            )
        what = {complex: "complex numbers are", bytes: "bytes are"}.get(type(v), "... is")
        self.fail(
            ForbiddenError,
            f"{what} not allowed here",
            node,
            "... is only allowed inside [ ]" if v is Ellipsis else None,
        )

    def index_item(self, node: ast.expr) -> S.Node:
        if isinstance(node, ast.Slice):
            lower, upper, step = (
                None if p is None else self.expr(p) for p in (node.lower, node.upper, node.step)
            )
            return S.Slice(self.span(node), lower, upper, step)
        if isinstance(node, ast.Constant) and node.value is Ellipsis:
            return S.Name(self.span(node), "...")
        return self.expr(node)

    def pipe(self, node: ast.BinOp, span: Span) -> S.Call:
        left = self.expr(node.left)
        right = node.right
        if isinstance(right, ast.Name):
            return self.call(span, right, [left], [], [])
        if isinstance(right, ast.Call) and isinstance(right.func, ast.Name):
            return self.call(span, right.func, [left], right.args, right.keywords)
        self.fail(
            ParseError,
            "the right side of | must be a function name or a call",
            right,
            "write x | sum or x | clip(0, 1); for a logical or, write `or`",
        )

    def call(
        self,
        span: Span,
        func: ast.Name,
        piped: list[S.Node],
        args: list[ast.expr],
        keywords: list[ast.keyword],
    ) -> S.Call:
        name = func.id
        self.check_name(name, func)
        if name == "range":
            self.fail(ForbiddenError, "range(...) is only allowed in for NAME in range(...)", func)
        fn = self.functions.get(name)
        if fn is None:
            from difflib import get_close_matches

            close = get_close_matches(name, list(self.functions), n=3, cutoff=0.6)
            near = get_close_matches(name, list(self.functions), n=3, cutoff=0.3)
            hint = (
                f"did you mean {' or '.join(close)}? (`gradcli functions` lists every function)"
                if close
                else f"the nearest names are {', '.join(near)}; " * bool(near)
                + "`gradcli functions` lists every function"
            )
            self.fail(UnknownFunctionError, f"unknown function {name}", func, hint)
        out = list(piped)
        for i, arg in enumerate(args):
            if isinstance(arg, ast.Starred):
                self.fail(ForbiddenError, "starred arguments (*args) are not allowed", arg)
            if (
                name == "einsum"
                and not piped
                and i == 0
                and isinstance(arg, ast.Constant)
                and isinstance(arg.value, str)
            ):
                out.append(S.Str(self.span(arg), arg.value))
            else:
                out.append(self.expr(arg))
        kwargs: dict[str, S.Node] = {}
        named: dict[str, ast.keyword] = {}
        for kw in keywords:
            if kw.arg is None:
                self.fail(ForbiddenError, "**keyword arguments are not allowed", kw)
            if kw.arg in kwargs:
                self.fail(SignatureError, f"{name}() got the keyword {kw.arg} twice", kw)
            kwargs[kw.arg] = self.expr(kw.value)
            named[kw.arg] = kw
        self.check_signature(name, fn, len(out), named, span)
        return S.Call(span, name, tuple(out), tuple(kwargs.items()), self.span(func))

    def check_signature(
        self, name: str, fn: Callable, nargs: int, keywords: dict[str, ast.keyword], span: Span
    ):
        """Refuse a call that `fn`'s signature would not bind: `nargs` positional arguments
        and the `keywords` (each name's node)."""
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):
            return
        params = sig.parameters
        shown = f"{name}{sig}"
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            accepted = [
                k for k, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
            for arg, kw in keywords.items():
                if arg not in accepted:
                    from difflib import get_close_matches

                    close = get_close_matches(arg, accepted, n=1)
                    self.fail(
                        SignatureError,
                        f"{name}() has no keyword argument {arg}",
                        kw,
                        (f"did you mean {close[0]}? " if close else "")
                        + f"the signature is {shown}",
                    )
        try:
            sig.bind(*[None] * nargs, **dict.fromkeys(keywords))
        except TypeError as err:
            self.fail(SignatureError, f"{name}(): {err}", span, f"the signature is {shown}")
