"""The safe parser: trees, spans, errors, limits and hostile inputs."""

import contextlib
import warnings

import pytest
from hypothesis import given, settings, strategies as st

from gradcli.errors import (
    ForbiddenError,
    GradcliError,
    NestingError,
    ParseError,
    SignatureError,
    Span,
    UnknownFunctionError,
)
from gradcli.lang import syntax as S
from gradcli.lang.parse import parse

# -- a small stand-in for the engine's function table -------------------------------------


def _sum(x, axis=None, keepdims=False): ...
def _norm(x, ord=2, axis=None, keepdims=False): ...
def _clip(x, lo, hi): ...
def _einsum(subscripts, *operands): ...
def _concat(tensors, axis=0): ...
def _ones(*shape): ...
def _unary(x): ...
def _binary(a, b): ...
def _where(cond, a, b): ...


FUNCS = {
    "sum": _sum,
    "mean": _sum,
    "max": _sum,
    "norm": _norm,
    "clip": _clip,
    "einsum": _einsum,
    "concat": _concat,
    "ones": _ones,
    "eye": _unary,
    "exp": _unary,
    "sin": _unary,
    "sinh": _unary,
    "sqrt": _unary,
    "detach": _unary,
    "mm": _binary,
    "where": _where,
}

SP = Span(0, 0, 0, 0)  # spans do not take part in node equality


def p(text, **kw):
    return parse(text, functions=FUNCS, **kw)


def expr(text):
    prog = p(text)
    assert len(prog.body) == 1 and isinstance(prog.body[0], S.ExprStmt)
    return prog.body[0].value


def N(v):
    return S.Num(SP, float(v))


def V(n):
    return S.Name(SP, n)


def B(op, a, b):
    return S.Binary(SP, op, a, b)


def U(op, a):
    return S.Unary(SP, op, a)


def C(f, *args, **kw):
    return S.Call(SP, f, args, tuple(kw.items()), SP)


# -- trees ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, tree",
    [
        ("3*(x+2)**2 | mean", C("mean", B("*", N(3), B("**", B("+", V("x"), N(2)), N(2))))),
        ("w*x + b", B("+", B("*", V("w"), V("x")), V("b"))),
        ("x*x + 3*x + 1", B("+", B("+", B("*", V("x"), V("x")), B("*", N(3), V("x"))), N(1))),
        ("3*x1*x1 + 9*x2", B("+", B("*", B("*", N(3), V("x1")), V("x1")), B("*", N(9), V("x2")))),
        ("mm(a, b)", C("mm", V("a"), V("b"))),
        ("(x+1)**2", B("**", B("+", V("x"), N(1)), N(2))),
        ("x * detach(x)", B("*", V("x"), C("detach", V("x")))),
        ("x^2", B("**", V("x"), N(2))),
        ("-x^2", U("-", B("**", V("x"), N(2)))),
        ("x^2^3", B("**", V("x"), B("**", N(2), N(3)))),
        ("2^-x", B("**", N(2), U("-", V("x")))),
        ("a | clip(0, 1)", C("clip", V("a"), N(0), N(1))),
        ("x | exp | sum", C("sum", C("exp", V("x")))),
        ("x | sum(axis=0, keepdims=True)", C("sum", V("x"), axis=N(0), keepdims=N(1))),
        ("(x > 0) | sum", C("sum", B(">", V("x"), N(0)))),
        ("where(x > 0, x, 0) | sum", C("sum", C("where", B(">", V("x"), N(0)), V("x"), N(0)))),
        ("x @ y.T", B("@", V("x"), S.Transpose(SP, V("y")))),
        ("not a and b or c", B("or", B("and", U("not", V("a")), V("b")), V("c"))),
        ("a and b and c", B("and", B("and", V("a"), V("b")), V("c"))),
        ("x <= 2", B("<=", V("x"), N(2))),
        ("+x - -y", B("-", U("+", V("x")), U("-", V("y")))),
        ("[1, 2.5, 1e-3]", S.ListLit(SP, (N(1), N(2.5), N(0.001)))),
        (
            "[[x, y*2], (1, 2)]",
            S.ListLit(
                SP, (S.ListLit(SP, (V("x"), B("*", V("y"), N(2)))), S.TupleLit(SP, (N(1), N(2))))
            ),
        ),
        ("x[0]", S.Index(SP, V("x"), (N(0),))),
        ("x[-1]", S.Index(SP, V("x"), (U("-", N(1)),))),
        ("x[1:3]", S.Index(SP, V("x"), (S.Slice(SP, N(1), N(3), None),))),
        ("x[:, 0]", S.Index(SP, V("x"), (S.Slice(SP, None, None, None), N(0)))),
        (
            "x[..., None, ::2]",
            S.Index(SP, V("x"), (V("..."), V("None"), S.Slice(SP, None, None, N(2)))),
        ),
        ("einsum('ij,jk->ik', a, b)", C("einsum", S.Str(SP, "ij,jk->ik"), V("a"), V("b"))),
        ("concat([x, y], 1)", C("concat", S.ListLit(SP, (V("x"), V("y"))), N(1))),
        ("ones(2, 2)", C("ones", N(2), N(2))),
        ("sum(x, axis=None)", C("sum", V("x"), axis=V("None"))),
        (
            "pi/4 + e + inf - nan",
            B("-", B("+", B("+", B("/", V("pi"), N(4)), V("e")), V("inf")), V("nan")),
        ),
        ("10**10**10", B("**", N(10), B("**", N(10), N(10)))),
        ("1" + "0" * 400, N(float("inf"))),
        ("True + False", B("+", N(1), N(0))),
    ],
)
def test_trees(text, tree):
    assert expr(text) == tree


def test_numbers_are_floats():
    node = expr("3")
    assert type(node.value) is float and node.value == 3.0


def test_constants_and_functions_are_not_free_vars():
    prog = p("sin(x) * pi + e | sum")
    assert prog.free_vars == ("x",) and prog.assigned == ()


def test_program_doubling():
    prog = p("y = x*2\nwhile norm(y) < 1000:\n    y = y*2\ny")
    assert prog.body == (
        S.Assign(SP, "y", B("*", V("x"), N(2))),
        S.While(SP, B("<", C("norm", V("y")), N(1000)), (S.Assign(SP, "y", B("*", V("y"), N(2))),)),
        S.ExprStmt(SP, V("y")),
    )
    assert prog.free_vars == ("x",) and prog.assigned == ("y",)
    assert prog.body[1].span == Span(2, 0, 3, 11)


def test_program_if_elif_else_and_for():
    text = (
        "s = 0\nfor i in range(1, n, 2):\n    s += x[i]\n"
        "if s > 1:\n    t = s\nelif s < -1:\n    t = -s\nelse:\n    pass\nt"
    )
    prog = p(text)
    loop, cond = prog.body[1], prog.body[2]
    assert loop == S.For(
        SP, "i", N(1), V("n"), N(2), (S.AugAssign(SP, "s", "+", S.Index(SP, V("x"), (V("i"),))),)
    )
    assert cond == S.If(
        SP,
        B(">", V("s"), N(1)),
        (S.Assign(SP, "t", V("s")),),
        (S.If(SP, B("<", V("s"), U("-", N(1))), (S.Assign(SP, "t", U("-", V("s"))),), ()),),
    )
    assert prog.free_vars == ("n", "x") and prog.assigned == ("s", "t")


def test_range_forms():
    one = p("for i in range(3):\n    x").body[0]
    assert (one.start, one.stop, one.step) == (None, N(3), None)
    two = p("for i in range(a, 3):\n    x").body[0]
    assert (two.start, two.stop, two.step) == (V("a"), N(3), None)


def test_free_vars_order_and_reads_before_assignment():
    prog = p("y = b + a\nz = y * c + a\nc = 2\nq += 1\nz + c")
    assert prog.free_vars == ("b", "a", "c", "q")
    assert prog.assigned == ("y", "z", "c", "q")


def test_semicolons_and_one_line_blocks():
    assert len(p("a = 1; b = a + x; b").body) == 3
    assert len(p("while x < 3: x = x*2\nx").body) == 2


def test_spans_map_back_through_caret():
    node = expr("a^2 + b^3")
    assert node.span == Span(1, 0, 1, 9)
    assert node.left.span == Span(1, 0, 1, 3)
    assert node.right.span == Span(1, 6, 1, 9)
    assert node.right.right.span == Span(1, 8, 1, 9)


def test_spans_non_ascii_and_multiline():
    node = expr("é^2 + λ")
    assert node.right.span == Span(1, 6, 1, 7)
    prog = p("y = 1\nz = y^2 + w")
    assert prog.body[1].value.right.span == Span(2, 10, 2, 11)


def test_call_spans():
    node = expr("x | clip(0, 1)")
    assert node.span == Span(1, 0, 1, 14) and node.func_span == Span(1, 4, 1, 8)
    node = expr("sum(x)")
    assert node.func_span == Span(1, 0, 1, 3)


def test_python_warnings_stay_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert expr("1or x") == B("or", N(1), V("x"))
        with pytest.raises(ForbiddenError):
            p("x is 1")


def test_crlf_is_accepted():
    assert len(p("y = x\r\ny\r\n").body) == 2


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, kind, span, words",
    [
        ("sinn(x)", UnknownFunctionError, Span(1, 0, 1, 4), "did you mean sin"),
        ("x | foo", UnknownFunctionError, Span(1, 4, 1, 7), "gradcli functions"),
        ("clip(x, 1)", SignatureError, Span(1, 0, 1, 10), "clip(x, lo, hi)"),
        ("sum(x, axs=1)", SignatureError, Span(1, 7, 1, 12), "did you mean axis"),
        ("x | clip(0, 1, 2)", SignatureError, Span(1, 0, 1, 17), "clip(x, lo, hi)"),
        ("sum(x, axis=1, axis=2)", SignatureError, Span(1, 15, 1, 21), None),
        ("x.real", ForbiddenError, Span(1, 1, 1, 6), ".T"),
        ("x.sum()", ForbiddenError, Span(1, 0, 1, 5), "sum(x)"),
        ("(x)(2)", ForbiddenError, Span(1, 1, 1, 2), None),
        ("a < b < c", ParseError, Span(1, 0, 1, 9), "(a < b) and (b < c)"),
        ("x | 3", ParseError, Span(1, 4, 1, 5), "x | sum"),
        ("x | (a + 1)", ParseError, Span(1, 5, 1, 10), None),
        ("pi = 3", ParseError, Span(1, 0, 1, 2), None),
        ("sum = 3", ParseError, Span(1, 0, 1, 3), None),
        ("y = sin\ny", ParseError, Span(1, 4, 1, 7), "sin(x)"),
        ("x[0] = 1", ForbiddenError, Span(1, 0, 1, 4), None),
        ("a, b = 1, 2", ForbiddenError, Span(1, 0, 1, 4), None),
        ("a = b = 1", ForbiddenError, Span(1, 0, 1, 9), None),
        ("x // 2", ForbiddenError, Span(1, 0, 1, 6), None),
        ("x % 2", ForbiddenError, Span(1, 0, 1, 5), None),
        ("~x", ForbiddenError, Span(1, 0, 1, 2), "not"),
        ("x if c else y", ForbiddenError, Span(1, 0, 1, 13), "where"),
        ("x is y", ForbiddenError, Span(1, 0, 1, 6), None),
        ("1j", ForbiddenError, Span(1, 0, 1, 2), None),
        ("'ab'", ForbiddenError, Span(1, 0, 1, 4), "einsum"),
        ("x | einsum('ii')", ForbiddenError, Span(1, 11, 1, 15), None),
        ("sum(*x)", ForbiddenError, Span(1, 4, 1, 6), None),
        ("sum(**x)", ForbiddenError, Span(1, 4, 1, 7), None),
        ("x[...] + ...", ForbiddenError, Span(1, 9, 1, 12), None),
        ("{1: 2}", ForbiddenError, Span(1, 0, 1, 6), None),
        ("(y := 2)", ForbiddenError, Span(1, 1, 1, 7), None),
        ("range(3)", ForbiddenError, Span(1, 0, 1, 5), None),
        ("for i in x:\n    y", ForbiddenError, Span(1, 9, 1, 10), "range"),
        ("for i in range():\n    y", SignatureError, Span(1, 9, 1, 16), None),
        ("for a, b in range(3):\n    y", ForbiddenError, Span(1, 4, 1, 8), None),
        ("while x:\n    break", ForbiddenError, Span(2, 4, 2, 9), None),
        ("def f():\n    return 1", ForbiddenError, Span(1, 0, 2, 12), None),
        ("del x", ForbiddenError, Span(1, 0, 1, 5), None),
        ("global x", ForbiddenError, Span(1, 0, 1, 8), None),
        ("x |= sum", ForbiddenError, Span(1, 0, 1, 8), None),
        ("__x__ + 1", ForbiddenError, Span(1, 0, 1, 5), None),
        ("(x", ParseError, Span(1, 0, 1, 1), "unbalanced parenthesis"),
        ("x)", ParseError, Span(1, 1, 1, 2), "unbalanced parenthesis"),
        ("(x]", ParseError, Span(1, 2, 1, 3), None),
        ("2x", ParseError, Span(1, 0, 1, 1), "2*x"),
        ("x²", ParseError, Span(1, 1, 1, 2), "**"),
        ("x ^ ", ParseError, Span(1, 4, 1, 5), None),
        ("x ** * 2", ParseError, None, "**"),
        ("if x\n    y", ParseError, Span(1, 4, 1, 5), "':'"),
        ("y = x; while y < 3:\n    y", ParseError, Span(1, 7, 1, 12), "line of their own"),
        ("if x:\n    y\n  z", ParseError, Span(3, 2, 3, 3), "indent"),
        ("'''abc", ParseError, None, None),
        ("", ParseError, None, "expression"),
        ("# only a comment\npass", ParseError, None, None),
    ],
)
def test_errors(text, kind, span, words):
    with pytest.raises(kind) as info:
        p(text)
    err = info.value
    assert err.source is not None and err.hint
    if span is not None:
        assert err.span == span
    if words is not None:
        assert words in err.hint
    assert err.render()


def test_caret_rendering():
    with pytest.raises(UnknownFunctionError) as info:
        p("3*x^2 | sinn")
    assert info.value.render() == (
        "error: unknown function sinn (line 1, column 9)\n"
        "  3*x^2 | sinn\n"
        "          ^^^^\n"
        "hint: did you mean sin or sinh? (`gradcli functions` "
        "lists every function)"
    )


def test_caret_after_power_rewrite():
    with pytest.raises(ParseError) as info:
        p("x^2 + ) ")
    assert info.value.span == Span(1, 6, 1, 7)
    with pytest.raises(ParseError) as info:
        p("x^2^2 2x")
    assert info.value.span.col == 6


def test_default_functions_come_from_the_engine():
    pytest.importorskip("gradcli.engine.functions")
    assert parse("sum(x)").free_vars == ("x",)


# -- limits --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, kind",
    [
        ("(" * 5000 + "x" + ")" * 5000, NestingError),
        ("-" * 100000 + "x", NestingError),
        ("-" * 99999 + "x", NestingError),
        ("[" * 10000, NestingError),
        ("not " * 1000 + "x", NestingError),
        ("x**" * 1000 + "x", NestingError),
        ("+".join(["x"] * 700), NestingError),
        ("x+" * 49_000 + "x", NestingError),
        ("sin(" * 101 + "x" + ")" * 101, NestingError),
        ("x+" * 5_000_000, ParseError),
        ("1" * 5000, ParseError),
        ("x\0y", ParseError),
    ],
)
def test_limits(text, kind):
    with pytest.raises(kind):
        p(text)


def test_limits_are_parameters():
    with pytest.raises(ParseError, match="limit of 10"):
        p("x + y + z + w", max_length=10)
    with pytest.raises(NestingError) as info:
        p("((x))", max_depth=1)
    assert info.value.span == Span(1, 1, 1, 2)
    assert expr("(" * 100 + "x" + ")" * 100) == V("x")
    assert p("+".join(["x"] * 150)).free_vars == ("x",)


# -- hostile inputs ------------------------------------------------------------------------

HOSTILE = [
    "__import__('os').system('ls')",
    "x.__class__",
    "().__class__.__bases__[0].__subclasses__()",
    "lambda: 1",
    "[i for i in x]",
    "{i for i in x}",
    "(i for i in x)",
    'f"{x}"',
    "import os",
    "from os import system",
    "open('f')",
    "globals()",
    "exec('1')",
    "eval('1')",
    "x.real",
    "__builtins__",
    "getattr(x, 'T')",
    "x.T.__class__",
    "sum.__globals__",
    "[].append(1)",
    "class A: pass",
    "with open('f') as f: pass",
    "try:\n    x\nexcept: pass",
    "raise x",
    "assert x",
    "async def f(): pass",
    "yield x",
    "print(1)",
    "breakpoint()",
    "del x",
    "x = __import__",
    "type(x)",
    "vars()",
    "compile('1', '', 'exec')",
    "x[0].__class__",
    "sum(x, **{'axis': 1})",
    "(lambda: 1)()",
    "match x:\n    case 1:\n        pass",
    "nonlocal x",
    "'%s' % x",
    "b'x'",
    "x.__dict__['a']",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_inputs_refused(text):
    with pytest.raises(GradcliError) as info:
        p(text)
    assert info.value.exit_code == 2


TOKENS = [
    "x",
    "y",
    "sum",
    "clip",
    "einsum",
    "pi",
    "1",
    "2.5",
    "1e-3",
    "+",
    "-",
    "*",
    "/",
    "**",
    "^",
    "@",
    "|",
    "(",
    ")",
    "[",
    "]",
    ",",
    ":",
    "=",
    "==",
    "<",
    ">=",
    "and",
    "or",
    "not",
    "if",
    "else",
    "elif",
    "while",
    "for",
    "in",
    "range",
    ".T",
    ".",
    "'ij'",
    "\n",
    "    ",
    ";",
    "...",
    "None",
    "lambda",
    "__",
    "#",
    "\\",
    '"',
    "'",
    "{",
    "}",
    "~",
    "%",
    "\t",
    "é",
    "\0",
    "\r",
]


@settings(deadline=2000, max_examples=300)
@given(st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=3)), max_size=40).map(" ".join))
def test_token_soup_never_escapes(text):
    try:
        prog = p(text)
    except GradcliError as err:
        assert err.hint and err.render()
    else:
        assert isinstance(prog, S.Program) and prog.body


@settings(deadline=2000, max_examples=100)
@given(st.lists(st.sampled_from(TOKENS), max_size=60).map("".join))
def test_token_soup_unspaced(text):
    with contextlib.suppress(GradcliError):
        p(text)


def test_a_middle_dot_is_not_multiplication():
    with pytest.raises(ParseError) as info:
        parse("x·y + 1")
    assert "x*y" in info.value.hint and info.value.span.col == 0


@pytest.mark.parametrize("prefix", ["", "α·β + ".replace("·", "*")])
def test_positions_after_many_carets(prefix):
    """Every ^ is rewritten to ** in one pass; columns map back to the user's text (after
    hundreds of carets on one line, and after non-ASCII characters)."""
    text = prefix + " + ".join(["x^2"] * 300) + " + y.foo"
    with pytest.raises(ForbiddenError) as err:
        p(text)
    assert err.value.span.col == text.index(".foo")
    with pytest.raises(ParseError) as err:
        p(text.replace(" + y.foo", " + x^^2"))
    assert err.value.span.col == text.index(" + y.foo") + 5  # under the second ^


def test_a_long_flat_sum_is_refused_by_its_depth():
    with pytest.raises(NestingError, match="nested"):
        p("x^2+" * 20_000 + "x")
