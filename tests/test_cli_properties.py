"""Arbitrary input to the command line ends in an answer or a clean error: never a
traceback, never an internal error, never a hang; stdout is always one strict JSON document."""

import json

import numpy as np
from hypothesis import given, settings, strategies as st
from typer.testing import CliRunner

from gradcli.cli.app import app

TOKENS = [
    "x",
    "y",
    "1",
    "2.5",
    "-",
    "+",
    "*",
    "/",
    "**",
    "^",
    "@",
    "(",
    ")",
    "[",
    "]",
    ",",
    "|",
    "sum",
    "mean",
    "sin",
    "exp",
    "log",
    "sqrt",
    "norm",
    "where",
    "clip",
    "reshape",
    "x > 0",
    ".T",
    "[0]",
    "axis=0",
    "ones(2)",
    "eye(2)",
    " ",
    "\n",
    ";",
    "=",
    "__",
    "'",
    "lambda",
    "import",
    "inf",
    "nan",
    "1e308",
    "10**10**10",
]
runner = CliRunner()


def strict(text: str):
    return json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))


@settings(max_examples=80, deadline=None)
@given(
    st.sampled_from(["eval", "grad", "jacobian"]),
    st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12).map("".join),
    st.sampled_from(["x=1", "x=[1, 2]", "x=ones(2,2)", "x=-1, y=2", "x=@missing.npy", "x=("]),
)
def test_any_input_ends_cleanly(command, text, at):
    r = runner.invoke(app, [command, "--json", "--at", at, "--", text])
    assert r.exit_code in (0, 1, 2, 3), (text, at, r.stdout, r.stderr)
    doc = strict(r.stdout)
    if r.exit_code:
        assert doc["error"]["type"] != "InternalError", (text, at, doc)
        assert "Traceback" not in r.stderr
    else:
        assert doc["command"] == command


# -- sizes near and over the limits: a correct answer or a LimitError, never a crash ---------

SIZED = {  # command, expression, point for n, elements it needs at most, the answer for n
    "ones": ("eval", "sum(ones({n}, {n}))", None, lambda n: n * n, lambda n: n * n),
    "outer": ("eval", "sum(outer(x, x))", "x=ones({n})", lambda n: n * n, lambda n: n * n),
    "matmul": ("eval", "sum(x @ x.T)", "x=ones({n}, 1)", lambda n: n * n, lambda n: n * n),
    "jacobian": ("jacobian", "2*x", "x=ones({n})", lambda n: n * n, None),
    "hessian": ("hessian", "sum(x**3)", "x=ones({n})", lambda n: n * n, None),
}


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(SIZED)), st.integers(4, 3000), st.integers(-3, 3))
def test_sizes_near_the_element_limit(case, limit, offset):
    """Sizes around --max-elements: exit 0 with the right numbers up to the limit, a
    LimitError (exit 1) past it."""
    command, text, at, needs, answer = SIZED[case]
    n = max(1, int(limit**0.5) + offset)
    args = [command, "--json", "--max-elements", str(limit), "--", text.format(n=n)]
    if at:
        args[1:1] = ["--at", at.format(n=n)]
    r = runner.invoke(app, args)
    doc = strict(r.stdout)
    if needs(n) > limit:
        assert r.exit_code == 1 and doc["error"]["type"] == "LimitError", (case, n, limit, doc)
        return
    assert r.exit_code == 0, (case, n, limit, doc)
    if answer is not None:
        assert doc["value"] == answer(n)
    elif command == "jacobian":
        assert doc["jacobian"]["x"] == (2 * np.eye(n)).tolist()
    else:
        assert doc["hessian"]["x"]["x"] == (6 * np.eye(n)).tolist()
