"""Column-wise batches (plain-number points of elementwise expressions) write exactly the
lines the general, one-point-at-a-time path writes."""

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from typer.testing import CliRunner

import gradcli as gc
from gradcli.batch import Columns, columns
from gradcli.cli.app import app
from gradcli.cli.ndjson import number_columns
from gradcli.cli.output import column_lines, line, record, result_doc

runner = CliRunner()


def ndjson(points):
    return "".join(json.dumps(p) + "\n" for p in points)


@pytest.mark.parametrize("command", ["eval", "grad"])
@pytest.mark.parametrize("text", ["x**2*y + sin(x*y)", "log(x) + y", "x / y"])
def test_column_lines_are_the_one_point_lines(command, text):
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-2, 2, 50), rng.uniform(-2, 2, 50)
    x[:3] = [0.0, -1.0, 1e-320]  # log(0), log(-1): NaN and infinity take the general path
    y[4] = 0.0
    prog = gc.compile(text)
    cols = columns(prog, command, {"x": x, "y": y})
    if cols is None:  # a NaN makes the library step aside; the CLI then goes line by line
        assert text != "x**2*y + sin(x*y)"
        return
    numbers = np.arange(len(x)) * 2 + 3  # (the lines of the points: blank lines between)
    want = [
        line(
            record(
                i + 10, int(numbers[i]), result_doc(getattr(prog, command)(x=x[i], y=y[i]), command)
            )
        )
        for i in range(len(x))
    ]
    text = str(column_lines(cols, command, 10, numbers), "utf-8")
    assert text == "".join(w + "\n" for w in want)


def test_column_lines_write_non_finite_rows_and_any_text_as_the_one_point_lines():
    x, y = np.array([1.0, 2.0, 0.0, 4.0]), np.array([0.0, 1.0, 0.0, 3.0])
    with np.errstate(all="ignore"):
        grad = {"x": 1 / y, "y": -x / y**2}
        cols = Columns("grad", "x/y  # é ∂", {"x": x, "y": y}, x / y, ("x", "y"), grad)
    want = [line(record(i + 5, i + 3, result_doc(cols.result(i), "grad"))) for i in range(4)]
    text = str(column_lines(cols, "grad", 5, np.arange(3, 7)), "utf-8")
    assert text == "".join(w + "\n" for w in want)
    assert '"value":null' in text or "Infinity" in text  # (the rows that are not finite)


def test_the_cli_writes_the_same_lines_either_way():
    points = [{"x": float(v), "y": 2} for v in np.linspace(-3, 3, 40)]
    fast = runner.invoke(app, ["grad", "x**2*y + sin(x*y)", "--points", "-"], input=ndjson(points))
    mixed = points[:]
    mixed[5] = {"x": [1.0, 2.0], "y": 2}  # an array point: the general path for all lines
    slow = runner.invoke(app, ["grad", "x**2*y + sin(x*y)", "--points", "-"], input=ndjson(mixed))
    assert fast.exit_code == 0 and slow.exit_code == 1  # (the array point gives no scalar)
    f, s = fast.stdout.splitlines(), slow.stdout.splitlines()
    assert f[:5] == s[:5] and f[6:] == s[6:]
    assert json.loads(s[5])["error"]


def test_shared_bindings_and_bad_lines():
    r = runner.invoke(
        app, ["grad", "x*w", "--points", "-", "--at", "w=3"], input='{"x": 1}\n{"x": 2}\n'
    )
    assert [json.loads(line)["gradient"] for line in r.stdout.splitlines()] == [
        {"x": 3.0, "w": 1.0},
        {"x": 3.0, "w": 2.0},
    ]
    r = runner.invoke(
        app, ["eval", "x + 1", "--points", "-"], input='{"x": 1}\n{"x": true}\n{"x": 3}\n'
    )
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert (
        r.exit_code == 1
        and lines[0]["value"] == 2
        and "error" in lines[1]
        and lines[2]["value"] == 4
    )
    # a bad line is named as a line of --points (not as --at-json), and placed by the index
    assert lines[1]["error"]["message"].startswith("this line of --points: the value of x")
    assert lines[1]["index"] == 1


def test_grad_points_is_the_per_point_gradient():
    x, y = np.linspace(-1, 1, 7), np.linspace(2, 3, 7)
    got = gc.compile("x**2*y + sin(x*y)").grad_points(x=x, y=y)
    np.testing.assert_allclose(got.gradient["x"], 2 * x * y + y * np.cos(x * y))
    np.testing.assert_allclose(got.gradient["y"], x * x + x * np.cos(x * y))
    with pytest.raises(gc.UsageError):
        gc.compile("sum(x)").grad_points(x=x)


def test_a_name_bound_twice_in_a_line_is_an_error_on_that_line():
    r = runner.invoke(
        app, ["eval", "x + 1", "--points", "-"], input='{"x": 1}\n{"x": 2, "x": 5}\n{"x": 3}\n'
    )
    lines = [json.loads(text) for text in r.stdout.splitlines()]
    assert r.exit_code == 1 and "twice" in lines[1]["error"]["message"]
    assert [lines[0]["value"], lines[2]["value"]] == [2, 4]


@pytest.mark.parametrize("bad", ['"2.5"', "true", "null", "[1, 2]"])
def test_values_that_are_not_plain_numbers_take_the_general_path(bad):
    r = runner.invoke(
        app, ["eval", "x + 1", "--points", "-"], input=f'{{"x": 1}}\n{{"x": {bad}}}\n{{"x": 3}}\n'
    )
    lines = [json.loads(text) for text in r.stdout.splitlines()]
    assert lines[0]["value"] == 2 and lines[2]["value"] == 4
    assert "error" in lines[1] or lines[1]["value"] == [2, 3]  # an array point is fine


def test_nan_strings_are_numbers_in_the_general_path():
    r = runner.invoke(app, ["eval", "x + 1", "--points", "-"], input='{"x": 1}\n{"x": "NaN"}\n')
    lines = [json.loads(text) for text in r.stdout.splitlines()]
    assert lines[0]["value"] == 2 and lines[1]["value"] == "NaN"


@pytest.mark.parametrize(
    "text, fast",
    [
        ('{"x": 1, "y": 2}\n{"y": 3, "x": 4}\n', True),  # any order of the names
        ('{"x": 1}\r\n{"x": 2}\r\n', True),
        ('{"x": 1, "y": 2}\n{"x": 1, "x": 2}\n{"y": 1, "y": 2}\n', False),  # names twice
        ('{"x": 1, "y": 2}\n{"x": 1, "z": 2}\n', False),
        ('{"x": 1}\n{"x": true}\n', False),
        ('{"a": 1}\n{"a": false}\n', False),  # (names with the letters of the literals)
        ('{"u": 1, "a": 2}\n{"u": null, "a": 1}\n', False),
        ('{"value": 1}\n{"value": 2.5e-3}\n', True),
        ('{"\\u0078": 1}\n{"x": 2}\n', False),  # escapes: the general path
        ('{"x": 1}\n7\n', False),
        ("1\n2\n", False),
        ('{"x": 1}\n[1]\n', False),
        ('{"x": 1}\n{"x": "2.5"}\n', False),
        ('{"x": 1}\n\n{"x": 2}\n', False),  # blank lines: the general path skips them
        ('{"x": 1}\n{"x": 2}\n\n', True),  # (but a last one)
        ('{"x": 1, "\uff58": 2}\n', False),  # names as Python reads them
        ('{"x":\n1}\n', False),
        ("", False),
        ("[1, 2]\n", False),
    ],
)
def test_only_plain_number_lines_take_the_column_path(text, fast):
    chunk = text.encode().removesuffix(b"\n")  # as ndjson.chunks gives it
    assert (number_columns(chunk) is not None) == fast


# -- reading: a chunk of lines alike is read as the objects it holds, or not at all --------


def _plain(text: bytes):
    """What the general path makes of a chunk's lines: {name: [numbers]} when every line
    is an object of the first line's names, each once, plain numbers (not bools); else None."""

    def pairs(items):
        if len({k for k, _ in items}) != len(items):
            raise ValueError("a name twice")
        return dict(items)

    def refuse(word):
        raise ValueError(word)

    lines = text.decode().split("\n")
    if len(lines) > 1 and not lines[-1].strip(" \t\r"):
        lines.pop()  # a last blank line holds no point
    try:
        rows = [json.loads(t, object_pairs_hook=pairs, parse_constant=refuse) for t in lines]
    except (ValueError, UnicodeDecodeError):
        return None
    names = list(rows[0]) if rows and isinstance(rows[0], dict) else None
    for row in rows:
        if not isinstance(row, dict) or not names or set(row) != set(names):
            return None
        if any(type(v) not in (int, float) for v in row.values()):
            return None
    return {k: [float(r[k]) for r in rows] for k in names}


numbers = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**62), 2**62))
names = st.lists(
    st.sampled_from(["x", "y", "x1", "beta", "e", "E2", "u", "a"]),
    min_size=1,
    max_size=3,
    unique=True,
)


@settings(max_examples=300, deadline=None)
@given(names, st.data(), st.sampled_from([(",", ":"), (", ", ": ")]))
def test_lines_alike_read_as_each_line_reads(keys, data, separators):
    rows = data.draw(
        st.lists(st.fixed_dictionaries({k: numbers for k in keys}), min_size=1, max_size=8)
    )
    text = "\n".join(json.dumps(r, separators=separators) for r in rows).encode()
    got = number_columns(text)
    assert got is not None and list(got) == list(rows[0])
    for k in keys:
        assert got[k].tolist() == [float(r[k]) for r in rows]


@settings(max_examples=500, deadline=None)
@given(names, st.data())
def test_a_line_spoilt_anywhere_is_refused_or_read_as_it_reads(keys, data):
    # number characters (what lines alike may differ by) put anywhere: inside a name, before
    # a brace, between a name and its colon, ... The fast reader must refuse the chunk or
    # read exactly what each line holds
    rows = data.draw(
        st.lists(st.fixed_dictionaries({k: numbers for k in keys}), min_size=1, max_size=5)
    )
    lines = [json.dumps(r, separators=(",", ":")) for r in rows]
    k = data.draw(st.integers(0, len(lines) - 1))
    at = data.draw(st.integers(0, len(lines[k])))
    cut = data.draw(st.integers(0, len(lines[k]) - at))
    noise = data.draw(st.text("0123456789.eE+-", min_size=0, max_size=4))
    lines[k] = lines[k][:at] + noise + lines[k][at + cut :]
    text = "\n".join(lines).encode()
    got, want = number_columns(text), _plain(text)
    if got is not None:
        assert want is not None and list(got) == list(want)
        assert all(got[n].tolist() == want[n] for n in want)
