"""The output layer on hand-built Result objects: strict JSON, key order, the rich view."""

import json
import sys

import numpy as np
import pytest

from gradcli.cli import output
from gradcli.errors import DomainError, ParseError, Span
from gradcli.result import Result
from strict_json import strict


def grad_result(**kw) -> Result:
    x = np.ones((2, 2))
    return Result(
        "grad",
        "3*(x+2)**2 | mean",
        {"x": x},
        np.asarray(27.0),
        wrt=("x",),
        gradient={"x": np.full((2, 2), 4.5)},
        **kw,
    )


@pytest.mark.parametrize(
    "value, expected",
    [
        (np.asarray(2.5), 2.5),
        (np.asarray([1.0, np.nan, np.inf, -np.inf]), [1.0, "NaN", "Infinity", "-Infinity"]),
        (np.asarray(np.nan), "NaN"),
        (np.asarray([[1, 2], [3, 4]]), [[1, 2], [3, 4]]),
        (np.asarray([True, False]), [True, False]),
        (np.asarray(np.float32(0.1)), 0.1),
        (np.asarray([0.1, 1 / 3, np.inf], dtype=np.float32), [0.1, 0.33333334, "Infinity"]),
        (np.zeros((0, 2)), []),
    ],
)
def test_jsonable(value, expected):
    assert output.jsonable(value) == expected
    json.dumps(output.jsonable(value), allow_nan=False)


def test_result_doc_keys_in_order_and_shapes():
    doc = output.result_doc(grad_result())
    assert list(doc) == [
        "command",
        "expression",
        "point",
        "value",
        "shapes",
        "gradient",
        "warnings",
        "check",
    ]
    assert doc["value"] == 27.0
    assert doc["point"] == {"x": [[1.0, 1.0], [1.0, 1.0]]}
    assert doc["shapes"] == {"value": [], "x": [2, 2]}
    assert doc["gradient"] == {"x": [[4.5, 4.5], [4.5, 4.5]]}
    assert doc["check"] is None and doc["warnings"] == []


def test_each_command_has_its_key():
    x = {"x": np.ones(2)}
    docs = {
        "eval": Result("eval", "x", x, np.ones(2)),
        "vjp": Result("vjp", "x", x, np.ones(2), vjp={"x": np.ones(2)}),
        "jvp": Result("jvp", "x", x, np.ones(2), jvp=np.ones(2)),
        "jacobian": Result("jacobian", "x", x, np.ones(2), jacobian={"x": np.eye(2)}),
        "hessian": Result("hessian", "x", x, np.asarray(1.0), hessian={"x": {"x": np.eye(2)}}),
    }
    assert "gradient" not in output.result_doc(docs["eval"])
    assert output.result_doc(docs["vjp"])["vjp"] == {"x": [1.0, 1.0]}
    assert output.result_doc(docs["jvp"])["jvp"] == [1.0, 1.0]
    assert output.result_doc(docs["jacobian"])["jacobian"] == {"x": [[1.0, 0.0], [0.0, 1.0]]}
    assert output.result_doc(docs["hessian"])["hessian"] == {"x": {"x": [[1.0, 0.0], [0.0, 1.0]]}}


def test_intermediates_only_when_asked():
    assert "intermediates" not in output.result_doc(grad_result())
    doc = output.result_doc(grad_result(intermediates={"y": np.full((2, 2), 9.0)}))
    assert list(doc)[-3:] == ["intermediates", "warnings", "check"]
    assert doc["intermediates"] == {"y": [[9.0, 9.0], [9.0, 9.0]]}


def test_non_finite_results_are_strict_json():
    r = Result("eval", "log(x)", {"x": np.asarray([0.0, -1.0])}, np.asarray([-np.inf, np.nan]))
    doc = strict(output.dumps(output.result_doc(r)))
    assert doc["value"] == ["-Infinity", "NaN"]


def test_warnings_and_check():
    w = DomainError(
        "log of a negative number", hint="use --strict", span=Span(1, 0, 1, 6), source="log(x)"
    )
    doc = output.result_doc(grad_result(warnings=[w], check_skipped="too large"))
    assert doc["warnings"] == [
        {
            "message": "log of a negative number",
            "hint": "use --strict",
            "position": {"line": 1, "col": 1, "end_line": 1, "end_col": 7},
        }
    ]
    assert doc["check"] == {
        "skipped": "too large",
        "agree": None,
        "verdict": "not checked: too large",
        "status": "skipped",
        "reason": "too large",
        "exit_code": 0,
    }
    check = {"method": "sympy+fd", "agree": False, "max_abs_err": np.float64(np.inf)}
    r = grad_result(check=check)
    assert output.result_doc(r)["check"] == {
        "method": "sympy+fd",
        "agree": False,
        "max_abs_err": "Infinity",
    }
    assert output.check_exit(r) == 3 and output.check_exit(grad_result()) == 0


def test_error_doc():
    err = ParseError("unexpected '$'", hint="remove it", span=Span(1, 4, 1, 5), source="x + $")
    assert strict(output.dumps(output.error_doc(err))) == {
        "error": {
            "type": "ParseError",
            "message": "unexpected '$'",
            "hint": "remove it",
            "position": {"line": 1, "col": 5, "end_line": 1, "end_col": 6},
        }
    }


def test_json_output_streams(capsys):
    out = output.JsonOutput()
    w = DomainError("sqrt of a negative number", source="sqrt(x)", span=Span(1, 0, 1, 7))
    out.result(grad_result(warnings=[w]))
    err = ParseError("bad", hint="fix it", span=Span(1, 4, 1, 5), source="x + $")
    out.error(err)
    captured = capsys.readouterr()
    first, second = captured.out.splitlines()
    assert strict(first)["gradient"]["x"][0] == [4.5, 4.5]
    assert strict(second)["error"]["type"] == "ParseError"
    assert "warning: sqrt of a negative number" in captured.err
    assert "x + $\n      ^\nhint: fix it" in captured.err


def test_batch_items(capsys):
    out = output.JsonOutput()
    out.batch_item(0, 1, grad_result())
    out.batch_item(1, 3, ParseError("bad line"))
    captured = capsys.readouterr()
    lines = [strict(line) for line in captured.out.splitlines()]
    assert list(lines[0])[:3] == ["index", "line", "command"] and lines[0]["index"] == 0
    assert lines[1] == {
        "index": 1,
        "line": 3,
        "error": {"type": "ParseError", "message": "bad line", "hint": None, "position": None},
    }
    assert captured.err == "--points line 3 (index 1): error: bad line\n"


def test_batch_errors_say_where_in_the_expression_or_in_the_file(capsys):
    out = output.JsonOutput()
    in_expression = ParseError("bad", span=Span(1, 4, 1, 5), source="x + $")
    out.batch_item(2, 7, in_expression)
    out.batch_item(3, 9, ParseError("not JSON", span=Span(9, 6, 9, 7)))  # in the file
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "--points line 7 (index 2): error: bad (column 5 of the expression)"
    assert err[1:3] == ["  x + $", "      ^"]
    assert err[3] == "--points line 9 (index 3): error: not JSON (line 9, column 7)"


def test_rich_view(capsys):
    r = grad_result(intermediates={"y": np.full((2, 2), 9.0)}, check_skipped="too slow")
    output.RichOutput().result(r)
    lines = [line.rstrip() for line in capsys.readouterr().out.splitlines()]
    assert lines == [
        "expression                3*(x+2)**2 | mean",
        "point          x  (2, 2)  [[1. 1.]",
        "                           [1. 1.]]",
        "value             scalar  27.0",
        "gradient       x  (2, 2)  [[4.5 4.5]",
        "                           [4.5 4.5]]",
        "intermediates  y  (2, 2)  [[9. 9.]",
        "                           [9. 9.]]",
        "check                     skipped: too slow",
    ]


def test_rich_view_summarises_large_arrays_and_keeps_brackets(capsys):
    r = Result(
        "jvp", "x[0] * [1, 2]", {"x": np.arange(5000.0)}, np.arange(5000.0), jvp=np.arange(5000.0)
    )
    output.RichOutput().result(r)
    text = capsys.readouterr().out
    assert "x[0] * [1, 2]" in text
    assert "..." in text and "4.999e+03" in text
    assert len(text.splitlines()) < 12


def test_rich_errors_on_stderr(capsys):
    err = ParseError("unexpected '$'", hint="remove it", span=Span(1, 4, 1, 5), source="x + $")
    output.RichOutput().error(err)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == err.render() + "\n"


def test_batch_progress_on_a_terminal_leaves_stdout_to_the_results(capsys, monkeypatch):
    monkeypatch.setattr(output, "LONG_BATCH", 2)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    for size in (30, None):  # a file of 30 bytes; a stream
        with output.batch_progress(size) as tick:
            for i in range(3):
                print(f"line {i}")
                tick(i + 1, 10 * (i + 1))
        captured = capsys.readouterr()
        assert captured.out == "line 0\nline 1\nline 2\n"
        assert "3 points" in captured.err


def test_batch_progress_is_silent_off_a_terminal(capsys):
    with output.batch_progress(10**6) as tick:
        tick(10**5, 10**6)
    assert capsys.readouterr().err == ""
