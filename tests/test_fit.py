"""Human output that fits the terminal and is safe to echo, and streams that end cleanly.

Every command's human output is rendered at 60, 80 and 120 columns: no line wider than
the terminal, no trailing spaces, nothing cut with …, carets under the character they mark
(in a window of a long line); user text never reaches the terminal with a control
character in it; any COLUMNS gives sane output; a closed pipe ends quietly and a full disk
is one line.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from rich.cells import cell_len
from typer.testing import CliRunner

from gradcli.cli.app import app
from gradcli.errors import ParseError, Span, cells, echoed, printable, shortened, window

ROOT = Path(__file__).resolve().parent.parent
GRADCLI = Path(sys.executable).parent / "gradcli"
WIDTHS = (60, 80, 120)
DOUBLING = ["-f", "samples/doubling.grad", "--at", "x=[-0.9618, -3.3220, -0.6637]"]
#: 700 terms, 4,795 characters: echoed as a summary.
LONG = "sum([" + ", ".join(f"x*{i}" for i in range(700)) + "])"
#: A syntax error 3,900 characters into one line.
BAD = (
    " + ".join(f"x*{i}" for i in range(500))
    + " + * 3 + "
    + " + ".join(f"x*{i}" for i in range(200))
)

COMMANDS = {
    "grad": ["grad", "3*(x+2)**2 | mean", "--at", "x=ones(2,2)"],
    "grad several": ["grad", "w*x + b", "--at", "x=1, w=2, b=3"],
    "vjp": ["vjp", "(x+1)**2", "--at", "x=eye(5)", "--v", "ones(5,5)"],
    "jvp": ["jvp", "sin(x) * y", "--at", "x=0, y=2", "--v", "x=1"],
    "jacobian": ["jacobian", "softmax(x)", "--at", "x=[1, 2, 3]"],
    "jacobian 4-d": ["jacobian", "(x+1)**2", "--at", "x=eye(3)"],
    "hessian": ["hessian", "x*x*y + y**3", "--at", "x=1, y=2"],
    "check": ["check", "x*x + 3*x + 1", "--at", "x=2", "--check-timeout", "120"],
    "check kink": ["check", "relu(x)", "--at", "x=0"],
    "diff": ["diff", "sin(x) * exp(y)", "--wrt", "x", "--order", "2"],
    "diff at": ["diff", "3*(x+2)**2 | mean", "--wrt", "x", "--at", "x=ones(2,2)"],
    "graph": ["graph", "3*(x+2)**2 | mean", "--at", "x=ones(2,2)"],
    "graph program": ["graph", *DOUBLING],
    "eval": ["eval", "x", "--at", "x=linspace(-1, 1, 30)"],
    "explain": ["grad", "x*x", "--at", "x=2", "--explain"],
    "explain program": ["vjp", *DOUBLING, "--v", "[0.1, 1.0, 0.0001]", "--explain=full"],
    "warning": ["grad", "log(x)", "--at", "x=-1"],
    "unknown function": ["grad", "x | qqqqq", "--at", "x=1"],
    "unbound": ["grad", "x*x + y", "--at", "x=1"],
    "long expression": ["grad", LONG, "--at", "x=1", "--no-check"],
    "long syntax error": ["grad", BAD, "--at", "x=1"],
    "functions": ["functions"],
    "plot": ["plot", "sin(x)", "--range", "-3:3"],
}


@pytest.fixture(autouse=True)
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def human(args, columns, input=None):
    """stdout and stderr of a human run at `columns` columns, as one text."""
    r = CliRunner().invoke(app, list(args), env={"COLUMNS": str(columns)}, input=input)
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r, r.stdout + r.stderr


def caret_target(text: str) -> str:
    """The text from the column of the first caret line's first ^, in the line above."""
    lines = text.splitlines()
    i = next(i for i, line in enumerate(lines) if line.strip() and set(line.strip()) == {"^"})
    column = cells(lines[i][: lines[i].index("^")])
    above = lines[i - 1]
    used = 0
    for k, ch in enumerate(above):
        if used >= column:
            return above[k:]
        used += cells(ch)
    return ""


@pytest.mark.parametrize("columns", WIDTHS)
@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_fits(name, columns):
    r, text = human(COMMANDS[name], columns)
    assert r.exit_code in (0, 1, 2, 3), text
    lines = text.splitlines()
    assert lines, name
    wide = [line for line in lines if cell_len(line) > columns]
    assert not wide, f"{len(wide)} lines wider than {columns}:\n" + "\n".join(wide)
    assert not [line for line in lines if line.endswith(" ")], "trailing spaces"
    if "long" not in name:  # nothing cut (rich marks a cut with …): numbers, entries whole
        assert not re.search(r"\S…", text), text


@pytest.mark.parametrize("columns", WIDTHS)
def test_tables_reflow_with_numbers_whole(columns):
    _, text = human(COMMANDS["check"], columns)
    assert "1e-10 + 1e-08·|ref|" in text and "1e-06 + 1e-05·|ref|" in text
    _, text = human(COMMANDS["explain"], columns)
    assert "→ x: 2" in text and "sum of what reached x: its .grad" in text


@pytest.mark.parametrize("columns", WIDTHS)
def test_caret_under_the_offending_character_of_a_long_line(columns):
    r, text = human(COMMANDS["long syntax error"], columns)
    assert r.exit_code == 2
    excerpt = [line for line in text.splitlines() if line.startswith("  ")]
    assert excerpt[0].startswith("  …") and excerpt[0].endswith("…")  # a window
    assert caret_target(text).startswith("* 3 + x*0")
    assert len(text) < 2000  # not the 3,900-character line and its caret line


@pytest.mark.parametrize("columns", WIDTHS)
def test_long_expression_echoed_as_a_summary(columns):
    _, text = human(COMMANDS["long expression"], columns)
    assert len(text.splitlines()) <= 8
    assert "(4,795 characters; all in --json)" in " ".join(text.split())
    doc = json.loads(CliRunner().invoke(app, [*COMMANDS["long expression"], "--json"]).stdout)
    assert doc["expression"] == LONG


def test_a_long_program_shows_its_first_lines(tmp_path):
    program = tmp_path / "long.grad"
    program.write_text("\n".join(f"y{i} = x*{i}" for i in range(40)) + "\ny39")
    _, text = human(["grad", "-f", str(program), "--at", "x=1", "--no-check"], 60)
    assert "y0 = x*0" in text and "y30 = x*30" not in text
    assert "(41 lines, " in text


# -- carets and windows ---------------------------------------------------------------------

TEXT = st.text(
    st.sampled_from([*"x+*( )1", "\x1b", "\t", "\x9b", "\u202e", "ｘ", "é"]), max_size=300
)


@settings(max_examples=300, deadline=None)
@given(TEXT, st.data(), st.one_of(st.none(), st.integers(10, 200)))
def test_window_puts_the_caret_under_its_character(text, data, width):
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text) + 1))
    shown, carets = window(text, start, end, width)
    assert printable(shown) == shown and "\n" not in shown
    if width is not None:
        assert cells(shown) <= max(width, 11) and cells(carets) <= max(width, 11)
    column = len(carets) - len(carets.lstrip(" "))
    used, k = 0, 0
    while k < len(shown) and used < column:
        used += cells(shown[k])
        k += 1
    assert used == column
    if start < len(text):
        assert shown[k:].startswith(printable(text[start]))
    else:
        assert k == len(shown)  # one past the end


def test_render_escapes_and_aligns():
    err = ParseError(
        "unexpected '\x1b'", hint="remove \x1b", span=Span(1, 4, 1, 5), source="x + \x1b[2J"
    )
    assert err.render() == (
        "error: unexpected '\\x1b' (line 1, column 5)\n"
        "  x + \\x1b[2J\n"
        "      ^^^^\n"
        "hint: remove \\x1b"
    )


def test_echoed_and_shortened():
    assert echoed("x*x", 40) == "x*x"
    assert echoed("x\x1b[2J", 40) == "x\\x1b[2J"
    summary = echoed("x + " * 1000 + "y", 30)
    assert len(summary.splitlines()) <= 4 and summary.endswith("(4,001 characters; all in --json)")
    assert all(cells(line) <= 34 for line in summary.splitlines())
    assert shortened("a" * 100, 20).startswith("aaaa") and " … " in shortened("a" * 100, 20)
    assert cells(shortened("a" * 100, 20)) <= 20


# -- no raw control characters ----------------------------------------------------------------

ESC = "\x1b[2J\x1b]0;pwned\x1b\\"


@pytest.mark.parametrize(
    "args",
    [
        ["eval", f"x # {ESC}", "--at", "x=1"],  # the echoed expression
        ["eval", f"x + {ESC}", "--at", "x=1"],  # a parse error with its caret
        ["eval", "x", "--at", f"{ESC}x=1"],  # an --at name
        ["eval", "x", "--at", f"x=@/nonexistent/{ESC}.npy"],  # an @path
        ["grad", "x*x", "--at", "x=1", "--wrt", f"x{ESC}"],  # --wrt
        ["eval", f'einsum("i{ESC}->", x)', "--at", "x=[1, 2]"],  # an einsum string
        ["grad", f"log(x) # {ESC}", "--at", "x=-1"],  # a warning's excerpt
        ["graph", f"y = (x # {ESC}\n* 2)\ny", "--at", "x=1"],  # graph labels
        ["graph", f"y = (x # {ESC}\n* 2)\ny", "--at", "x=1", "--format", "dot"],
        ["graph", f"y = (x # {ESC}\n* 2)\ny", "--at", "x=1", "--format", "mermaid"],
        ["grad", f"x*x # {ESC}", "--at", "x=1", "--explain"],
        ["plot", f"x*x # {ESC}", "--range", "0:1"],
        ["eval", "x", "--at", f"{ESC}=1", "--json"],  # stderr under --json
    ],
)
def test_user_text_is_echoed_escaped(args):
    _, text = human(args, 80)
    assert "\x1b" not in text and "\\x1b" in text


def test_program_file_is_echoed_escaped(tmp_path):
    program = tmp_path / "p.grad"
    program.write_text(f"y = x*2  # {ESC}\ny + \x1b")
    _, text = human(["eval", "-f", str(program), "--at", "x=1"], 80)
    assert "\x1b" not in text and "\\x1b" in text
    assert caret_target(text).startswith("\\x1b")


# -- COLUMNS ----------------------------------------------------------------------------------


@pytest.mark.parametrize("columns", ["0", "-5", "abc", "", "99999999999", "10", "1e3"])
def test_any_columns_gives_sane_output(columns):
    r = CliRunner().invoke(app, ["grad", "x*x", "--at", "x=2"], env={"COLUMNS": columns})
    assert r.exit_code == 0 and "gradient" in r.stdout and "4.0" in r.stdout
    assert max(map(len, r.stdout.splitlines())) <= 1000
    r = CliRunner().invoke(app, ["grad", "x*", "--at", "x=2"], env={"COLUMNS": columns})
    assert r.exit_code == 2 and "error:" in r.stderr and "^" in r.stderr


def test_columns_zero_through_the_console_script():
    env = {**os.environ, "COLUMNS": "0"}
    p = subprocess.run(
        [GRADCLI, "grad", "x*x", "--at", "x=2"], capture_output=True, text=True, env=env
    )
    assert p.returncode == 0 and "gradient" in p.stdout
    p = subprocess.run(
        [GRADCLI, "grad", "x*", "--at", "x=2"], capture_output=True, text=True, env=env
    )
    assert p.returncode == 2 and "error:" in p.stderr
    p = subprocess.run([GRADCLI, "--help"], capture_output=True, text=True, env=env)
    assert p.returncode == 0 and "grad" in p.stdout


# -- the streams ------------------------------------------------------------------------------


def closed_after(args, first: int, input=None):
    """Run gradcli, read `first` bytes of its stdout, close the pipe, wait: (code, stderr)."""
    p = subprocess.Popen(
        [GRADCLI, *args],
        stdin=subprocess.PIPE if input else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    if input:
        p.stdin.write(input.encode())
        p.stdin.close()
    p.stdout.read(first)
    p.stdout.close()
    err = p.stderr.read().decode()
    return p.wait(timeout=120), err


@pytest.mark.parametrize(
    "args",
    [
        ["eval", "x", "--at", "x=ones(300000)", "--json"],  # the quick path
        ["eval", "x", "--at", "x=ones(300000)", "--json", "--seed", "1"],  # typer's
        ["graph", "sum([" + ", ".join(f"x*{i}" for i in range(600)) + "])", "--at", "x=1"],
    ],
)
def test_a_closed_pipe_ends_quietly(args):
    code, err = closed_after(args, 10)
    # 141 once a write fails; CPython lets one large write that the closing cuts short
    # pass unnoticed, and the run then ends as usual
    assert code in (0, 141) and err == ""


def test_help_into_a_closed_pipe_ends_quietly():
    code, err = closed_after(["--help"], 0)
    assert code in (0, 1, 141) and err == ""


def test_a_batch_into_head_ends_quietly():
    points = "".join(f'{{"x": [{i}, 1, 2]}}\n' for i in range(10_000))
    code, err = closed_after(["eval", "x | sum", "--points", "-"], 100, input=points)
    assert code == 141 and err == ""


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
@pytest.mark.parametrize(
    "args",
    [
        ["grad", "x*x", "--at", "x=2", "--json"],
        ["grad", "x*x", "--at", "x=2"],
        ["eval", "x | sum", "--points", "-"],
        ["graph", "x*x", "--at", "x=2"],
    ],
)
def test_a_full_disk_is_one_line(args):
    points = "".join(f'{{"x": [{i}, 1]}}\n' for i in range(100))
    with open("/dev/full", "w") as full:
        p = subprocess.run(
            [GRADCLI, *args], stdout=full, stderr=subprocess.PIPE, text=True, cwd=ROOT, input=points
        )
    assert p.returncode == 1
    assert p.stderr == "error: cannot write the output: No space left on device\n"


# -- plot: no slope where the function is not finite -------------------------------------------


def test_plot_draws_no_derivative_where_the_function_is_not_finite():
    r = CliRunner().invoke(app, ["plot", "log(x)", "--range", "-1:1", "--json"])
    doc = json.loads(r.stdout)
    value, slope = doc["value"], doc["derivative"]
    assert [isinstance(v, str) for v in value] == [d == "NaN" for d in slope]
    assert value[0] == "NaN" and value[100] == "-Infinity" and slope[-1] == 1.0
    r = CliRunner().invoke(app, ["plot", "sqrt(x)", "--range", "-1:1", "--order", "2", "--json"])
    doc = json.loads(r.stdout)
    assert all(
        d == "NaN"
        for v, d in zip(doc["value"], doc["second_derivative"], strict=True)
        if isinstance(v, str)
    )


def test_terminal_plots_one_after_another_draw_every_panel():
    import gradcli as gc
    from gradcli import plot as P

    data = P.sample(gc.compile("x^3 - x"), {}, ("x",), [(-2, 2)], order=2)
    for width in (100, 60, 80, 100):
        assert P.terminal(data, width, color=False).count("┌") == 3


def test_plot_of_two_variables_masks_the_gradient():
    import gradcli as gc
    from gradcli import plot as P

    data = P.sample(gc.compile("log(x) + y"), {}, ("x", "y"), [(-1, 1), (-1, 1)], 9)
    bad = ~np.isfinite(data.value)
    assert bad.any() and all(np.isnan(d[bad]).all() for d in data.derivatives)


# -- gradcli functions -------------------------------------------------------------------------


def test_functions_lists_every_function_from_the_table():
    from gradcli.engine.functions import FUNCTIONS
    from gradcli.engine.ops import PRIMITIVES

    r = CliRunner().invoke(app, ["functions", "--json"])
    assert r.exit_code == 0
    rows = {row["name"]: row for row in json.loads(r.stdout)["functions"]}
    assert set(rows) == set(FUNCTIONS)
    assert rows["sin"]["derivative"] == PRIMITIVES["sin"].explain
    assert rows["sum"]["call"] == "sum(x, axis=None, keepdims=False)"
    assert rows["arcsin"]["alias_of"] == "asin" and rows["mm"]["alias_of"] == "matmul"
    assert all(row["description"] for row in rows.values())


def test_functions_human_one_line_each_when_wide():
    _, text = human(["functions"], 200)
    from gradcli.engine.functions import FUNCTIONS

    assert len(text.splitlines()) == len(FUNCTIONS)


def test_unknown_function_hint_is_short_and_points_to_functions():
    r, text = human(["grad", "x | qqqqq", "--at", "x=1"], 80)
    assert r.exit_code == 2 and "gradcli functions" in text and len(text) < 300
    # (a name with near ones but none close: "foo" now has floor)
    r, text = human(["grad", "x | zzzzzzsum", "--at", "x=1"], 80)
    assert "the nearest names are" in text and len(text) < 300
