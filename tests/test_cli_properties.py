"""Arbitrary input to the command line ends in an answer or a clean error: never a
traceback, never an internal error, never a hang; stdout is always one strict JSON document."""

import json

from hypothesis import given, settings, strategies as st
from typer.testing import CliRunner

from gradcli.cli.app import app

TOKENS = ["x", "y", "1", "2.5", "-", "+", "*", "/", "**", "^", "@", "(", ")", "[", "]", ",",
          "|", "sum", "mean", "sin", "exp", "log", "sqrt", "norm", "where", "clip", "reshape",
          "x > 0", ".T", "[0]", "axis=0", "ones(2)", "eye(2)", " ", "\n", ";", "=", "__", "'",
          "lambda", "import", "inf", "nan", "1e308", "10**10**10"]
runner = CliRunner()


def strict(text: str):
    return json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(["eval", "grad", "jacobian"]),
       st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12).map("".join),
       st.sampled_from(["x=1", "x=[1, 2]", "x=ones(2,2)", "x=-1, y=2", "x=@missing.npy", "x=("]))
def test_any_input_ends_cleanly(command, text, at):
    r = runner.invoke(app, [command, "--json", "--at", at, "--", text])
    assert r.exit_code in (0, 1, 2, 3), (text, at, r.stdout, r.stderr)
    doc = strict(r.stdout)
    if r.exit_code:
        assert doc["error"]["type"] != "InternalError", (text, at, doc)
        assert "Traceback" not in r.stderr
    else:
        assert doc["command"] == command
