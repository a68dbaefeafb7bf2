"""One error contract: every error of the user's input, the option parser's included, is a
GradcliError with a message and a hint (the `{"error": …}` document under --json, exit 1 or
2), through typer and through the typer-free fast path alike; never an internal error."""

import contextlib
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from typer.testing import CliRunner

import gradcli as gc
from gradcli.cli import main as console_main, run as run_module
from gradcli.cli.app import app
from strict_json import strict

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def via_typer(argv: list[str]) -> tuple[int, str, str]:
    r = runner.invoke(app, argv)
    return r.exit_code, r.stdout, r.stderr


def via_console(argv: list[str]) -> tuple[int, str, str]:
    """The console script: the fast path where it applies (`quick`), else typer."""
    out, err = io.StringIO(), io.StringIO()
    old = sys.argv
    sys.argv = ["gradcli", *argv]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            console_main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = old
    return code, out.getvalue(), err.getvalue()


PATHS = pytest.mark.parametrize("invoke", [via_typer, via_console], ids=["typer", "console"])


# -- usage errors that the option parser finds --------------------------------------------

USAGE = [  # (argv, words of the message, words of the hint)
    (["grad", "x**2", "--at", "x=1", "--dtype", "float16"], "--dtype", "float64, float32"),
    (["jacobian", "x**2", "--at", "x=1", "--mode", "bad"], "--mode", "auto, rev, fwd"),
    (["grad", "x**2", "--at", "x=1", "--jsn"], "--jsn", "did you mean --json"),
    (["grad", "x**2", "--at", "x=1", "--frobnicate"], "--frobnicate", "--help"),
    (["grad", "x**2", "--at", "x=1", "--max-elements", "0"], "--max-elements", "--max-elements"),
    (["grad", "x**2", "--at", "x=1", "--check-timeout", "-1"], "--check-timeout", "seconds"),
    (["grad", "x**2", "--at", "x=1", "--check-timeout", "inf"], "--check-timeout", "seconds"),
    (["grad", "x**2", "--at", "x=1", "--check-timeout", "1e10"], "--check-timeout", "seconds"),
    (["grad", "x**2", "--at", "x=1", "--check-timeout", "nan"], "--check-timeout", "seconds"),
    (["eval", "x", "--at", "x=1", "--seed", "-1"], "--seed", "--seed"),
    (["grad", "x**2", "x=3"], "x=3", "did you mean --at x=3?"),
    (["grad", "x**2", "--at", "x=1", "y"], "y", "quote it"),
    (["jvp", "x*x", "--at", "x=1"], "--v", "give --v"),
    (["vjp", "x*x", "--at", "x=1"], "--v", "give --v"),
    (["grd", "x"], "grd", "did you mean grad"),
]


@PATHS
@pytest.mark.parametrize("argv, message, hint", USAGE)
def test_usage_error_under_json_is_the_error_document(invoke, argv, message, hint):
    """These left stdout empty and drew a box on stderr (typer's own errors)."""
    code, out, err = invoke([*argv, "--json"])
    assert code == 2, (out, err)
    doc = strict(out)
    assert doc["error"]["type"] == "UsageError"
    assert message in doc["error"]["message"] and hint in doc["error"]["hint"]
    assert "╭" not in err and "Traceback" not in err and hint in err


@PATHS
@pytest.mark.parametrize("argv, message, hint", USAGE)
def test_usage_error_for_people_has_a_hint(invoke, argv, message, hint):
    code, out, err = invoke(argv)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "hint: " in err and hint in err
    assert "╭" not in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["grad", "x**2", "--at", "x=3", "--json"],
        ["grad", "x + * 2", "--at", "x=1", "--json"],
        ["eval", "x", "--at", "x=[[1,2],[3]]", "--json"],
        ["grad", "x*y", "--at", "x=1", "--json"],
        ["grad", "x**2", "--at", "x=1", "--dtype", "float16", "--json"],
        ["grad", "x**2", "--at", "x=1", "--frob", "--json"],
    ],
)
def test_the_fast_path_and_typer_agree(argv):
    assert via_console(argv) == via_typer(argv)


def test_the_fast_path_declines_the_error_cases():
    for argv, _, _ in USAGE:
        assert run_module.quick([*argv, "--json"]) is None, argv


# -- malformed --at: exit 2, gradcli's own words ------------------------------------------


@pytest.mark.parametrize(
    "at, words",
    [
        ("x=[[1,2],[3]]", "ragged"),
        ("x=[1, [2, 3]]", "ragged"),
        ("x=" + "[" * 70 + "1" + "]" * 70, "more than 64 levels deep"),
        ("x=arange(0, nan)", "finite"),
    ],
)
def test_malformed_at_is_exit_2_in_its_own_words(at, words):
    code, out, _ = via_typer(["eval", "x", "--at", at, "--json"])
    doc = strict(out)["error"]
    assert code == 2 and words in doc["message"] and doc["position"] is not None
    assert "inhomogeneous" not in doc["message"] and "concat" not in doc["message"]


def test_a_ragged_list_in_an_expression_is_named():
    code, out, _ = via_typer(["eval", "sum([[1, 2], [3]])", "--json"])
    assert code == 1 and "ragged" in strict(out)["error"]["message"]


# -- hints that fit ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, hint",
    [
        ("x + * 2", "+ is followed by *"),
        ("x+*2", "+ is followed by *"),
        ("x ** * 2", "** is followed by *"),
        ("x * * 2", "did you mean ** for power?"),
        ("x +", "nothing follows +"),
    ],
)
def test_syntax_hints(text, hint):
    with pytest.raises(gc.GradcliError) as info:
        gc.compile(text)
    assert hint in info.value.hint
    if "**" not in hint:
        assert "power" not in info.value.hint


def test_at_with_two_equals_signs():
    """`--at x==1` was hinted "use == to compare"."""
    code, out, _ = via_typer(["eval", "x", "--at", "x==1", "--json"])
    doc = strict(out)["error"]
    assert code == 2 and doc["hint"] == "--at x=1" and "compare" not in doc["message"]


def test_explain_names_the_input():
    """The rule of sin(y) read g · cos(x)."""
    f = gc.compile("sin(y) + atan(y*2) | sum")
    rules = {s["node"]: s["rule"] for s in f.grad(y=1.0, explain="full").explain}
    assert rules["SinBackward0"] == "g · cos(y)"
    assert rules["AtanBackward0"] == "g / (1 + (y*2)²)"


def test_a_tie_convention_reads_as_a_phrase():
    f = gc.compile("max(x)")
    result = f.check(f.grad(x=np.array([1.0, 1.0])))
    used = [c["convention"] for c in result.check.get("conventions") or []]
    assert used == ["an even split of the gradient among the tied elements of max"]


# -- the library ---------------------------------------------------------------------------


def test_position_is_the_span():
    with pytest.raises(gc.GradcliError) as info:
        gc.compile("x + * 2")
    e = info.value
    assert e.position == e.span and (e.position.line, e.position.col) == (1, 4)
    assert e.message and e.hint


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda f: f.vjp(x=1.0, v="a"), "v is not numeric"),
        (lambda f: f.jvp(x=1.0, tangents={"x": "a"}), "tangent of x is not numeric"),
        (lambda f: f.grad(x=[[1, 2], [3]]), "ragged"),
        (lambda f: f.grad_points(x=["a"]), "not numeric"),
        (lambda f: gc.compile("x", max_elements=math.nan), "max_elements"),
        (lambda f: gc.compile("x", max_iterations=math.inf), "max_iterations"),
        (lambda f: f.check(f.grad(x=1.0), timeout=math.inf), "timeout"),
        (lambda f: f.check(f.grad(x=1.0), timeout=math.nan), "timeout"),
        (lambda f: f.batch("grad", [{"x": 1.0}, ...]), "point 1 of the batch"),
    ],
)
def test_library_refuses_user_data_with_a_gradcli_error(call, words):
    """These raised plain ValueError, TypeError or OverflowError."""
    with pytest.raises(gc.GradcliError) as info:
        call(gc.compile("x*x"))
    assert words in info.value.message and info.value.hint


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: gc.compile(None), "a str"),
        (lambda: gc.compile("x*x").grad(x=1.0, wrt=5), "wrt"),
        (lambda: gc.compile("x*x").jvp(x=1.0, tangents="x"), "tangents"),
        (lambda: gc.compile("x*x").batch("grad", 5), "list of points"),
    ],
)
def test_a_wrong_python_type_is_a_clear_type_error(call, words):
    with pytest.raises(TypeError, match=words):
        call()


def test_a_negative_seed_is_refused_by_the_point_loader():
    from gradcli.lang.points import load_point

    with pytest.raises(gc.GradcliError, match="seed"):
        load_point(["x=randn(2)"], None, seed=-1)
    assert load_point(["x=randn(2)"], None, seed=3)["x"].shape == (2,)


def test_the_library_still_answers():
    f = gc.compile("x*x")
    assert f.jvp(x=3.0, tangents={"x": 1}).jvp == 6.0
    assert f.check(f.grad(x=1.0), timeout=2).check["agree"]
    assert [r.gradient["x"] for r in f.batch("grad", [{"x": 1.0}, {"x": 2.0}])] == [2.0, 4.0]


# -- no internal errors (under a memory cap: each was, or could become, a blow-up) ---------

HOSTILE = [  # (argv, environment, exit code, words of the message)
    (["eval", "arange(0,nan)"], {}, 1, "finite"),
    (["eval", "arange(0,inf)"], {}, 1, "finite"),
    (["eval", "reshape(x,(1.5,2))", "--at", "x=ones(3)"], {}, 1, "whole numbers, not 1.5"),
    (["eval", "x[[1e20]]", "--at", "x=ones(3)"], {}, 1, "index out of range: 1e+20"),
    (["eval", "einsum('é,é->', x, x)", "--at", "x=ones(3)"], {}, 1, "cannot name an axis"),
    (["eval", "1" * 5001], {}, 2, "5001 digits"),
    (["eval", "x", "--at", "x=" + "9" * 5001], {}, 2, "5001 digits"),
    (
        ["grad", "sin(x) | sum", "--at", "x=ones(100000)"],
        {"GRADCLI_THREADS": "100000000"},
        2,
        "GRADCLI_THREADS",
    ),
    (
        ["grad", "sin(x) | sum", "--at", "x=ones(100000)"],
        {"GRADCLI_THREADS": "abc"},
        2,
        "GRADCLI_THREADS",
    ),
]

CAPPED = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2_000_000_000, 2_000_000_000))
from typer.testing import CliRunner
from gradcli.cli.app import app
r = CliRunner().invoke(app, json.loads(sys.argv[1]) + ["--json"])
print(json.dumps([r.exit_code, r.stdout, r.stderr]))
"""


@pytest.mark.parametrize("argv, env, code, words", HOSTILE)
def test_no_internal_error(argv, env, code, words):
    import os

    done = subprocess.run(
        [sys.executable, "-c", CAPPED, json.dumps(argv)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=ROOT,
        timeout=120,
    )
    got, out, err = json.loads(done.stdout)
    doc = strict(out)["error"]
    assert got == code and doc["type"] != "InternalError", (doc, err)
    assert words in doc["message"] and "set_int_max_str_digits" not in out + err


def test_csv_errors_name_the_cell_not_the_content(tmp_path):
    """A CSV error echoed the file's first 100 characters (environment variables, for a
    link to /proc/self/environ)."""
    (tmp_path / "p.csv").write_text("1,2\n3,SECRET=hunter2\n")
    code, out, err = via_typer(["eval", "x", "--at", f"x=@{tmp_path / 'p.csv'}", "--json"])
    assert code == 2 and "row 2, column 2 is not a number" in strict(out)["error"]["message"]
    assert "SECRET" not in out + err and "hunter2" not in out + err


def test_plot_output_is_checked_before_the_work(tmp_path):
    (tmp_path / "d.png").mkdir()
    for target, words in [
        (tmp_path / "d.png", "is a folder"),
        (tmp_path / "missing" / "f.png", "does not exist"),
    ]:
        code, out, _ = via_typer(
            ["plot", "x*x", "--wrt", "x", "--range", "-1:1", "--output", str(target), "--json"]
        )
        assert code == 2 and words in strict(out)["error"]["message"]


def test_a_dollar_in_a_plot_title_is_text(tmp_path):
    pytest.importorskip("matplotlib")
    target = tmp_path / "f.png"
    code, _, err = via_typer(
        ["plot", "x*2 # $\\frac$", "--wrt", "x", "--range", "-1:1", "--output", str(target)]
    )
    assert code == 0 and target.stat().st_size > 0, err


# -- any command line: a clean exit, and one strict JSON document under --json -------------

COMMANDS = ["eval", "grad", "vjp", "jvp", "jacobian", "hessian", "diff", "frobnicate"]
EXPRESSIONS = ["x**2", "x*y", "sum(x)", "x + * 2", "-x^2", "x=3", "log(x)", "", "y", "(x"]
OPTIONS = {  # option -> values drawn for it
    "--at": ["x=1", "x=[1, 2]", "x=[[1,2],[3]]", "x==1", "x=", "y=2, x=-1", "x=arange(0,nan)"],
    "--wrt": ["x", "y", "z", ","],
    "--dtype": ["float64", "float32", "float16"],
    "--mode": ["auto", "bad"],
    "--v": ["1", "x=1", "a", "[1, 2]"],
    "--seed": ["0", "-1", "x"],
    "--check-timeout": ["1", "-1", "inf", "nan", "1e10"],
    "--max-elements": ["0", "1", "10", "nan"],
    "--max-iterations": ["0", "5"],
    "--order": ["0", "2"],
    "--explain": ["brief", "full", "none"],
}
FLAGS = [
    "--check",
    "--no-check",
    "--strict",
    "--latex",
    "--intermediates",
    "--frob",
    "-z",
    "x=3",
    "extra",
]


@st.composite
def command_lines(draw):
    argv = [draw(st.sampled_from(COMMANDS)), draw(st.sampled_from(EXPRESSIONS))]
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            option = draw(st.sampled_from(sorted(OPTIONS)))
            argv += [option, draw(st.sampled_from(OPTIONS[option]))]
        else:
            argv.append(draw(st.sampled_from(FLAGS)))
    return [*argv, "--json"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(command_lines(), st.sampled_from([via_typer, via_console]))
def test_any_command_line_ends_cleanly(argv, invoke):
    argv = [a for a in argv if a != "--check"]  # (a forced sympy check per example is slow)
    code, out, err = invoke(argv)
    assert code in (0, 1, 2, 3), (argv, out, err)
    assert "Traceback" not in out + err and "╭" not in err, (argv, err)
    doc = strict(out)  # exactly one document (a second line would not parse)
    if code in (1, 2):
        assert set(doc) == {"error"} and doc["error"]["type"] != "InternalError", (argv, doc)
        assert doc["error"]["message"] and doc["error"]["hint"], (argv, doc)
    else:
        assert "error" not in doc, (argv, doc)


@pytest.mark.parametrize(
    "command,field", [("jacobian", "jacobian"), ("hessian", "hessian"), ("grad", "gradient")]
)
@pytest.mark.parametrize("text", ["3", "x=3"])
def test_derivatives_of_a_constant_are_empty(command, field, text):
    """An expression without variables has no derivative to give: an empty mapping, exit 0
    (the Jacobian and Hessian were an IndexError; found by the command-line property test)."""
    code, out, _ = via_console([command, text, "--json"])
    assert code == 0
    doc = strict(out)
    assert doc[field] == {} and doc["value"] == 3.0
    f = gc.compile(text)
    assert getattr(f, command)().__dict__[field] == {}


def test_the_check_of_a_constant_says_there_is_nothing_to_check():
    code, out, _ = via_console(["grad", "2*3", "--check", "--json"])
    check = strict(out)["check"]
    assert code == 0 and check["status"] == "skipped" and "no variables" in check["reason"]
