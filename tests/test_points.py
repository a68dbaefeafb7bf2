"""Points: splitting --at, parsing values, point files, --at-json, errors with spans."""

import importlib
import io
import json

import numpy as np
import pytest

from gradcli.errors import LimitError, ParseError, Span, UnknownFunctionError, UsageError
from gradcli.lang import syntax as S
from gradcli.lang.points import load_file, load_point, parse_value, split_bindings


def _ones(*shape): ...
def _full(shape, value): ...
def _randn(*shape): ...
def _unary(x): ...


FUNCS = {
    "ones": _ones,
    "zeros": _ones,
    "eye": _ones,
    "full": _full,
    "randn": _randn,
    "rand": _randn,
    "sin": _unary,
    "sum": _unary,
}


def _has_evaluator():
    try:
        return hasattr(importlib.import_module("gradcli.lang.interpret"), "evaluate_constant")
    except ImportError:
        return False


needs_eval = pytest.mark.skipif(
    not _has_evaluator(), reason="gradcli.lang.interpret.evaluate_constant not written yet"
)


# -- split_bindings ------------------------------------------------------------------------


def test_split_simple():
    assert split_bindings("x=ones(2,2), w=2") == [
        ("x", "ones(2,2)", Span(1, 2, 1, 11)),
        ("w", "2", Span(1, 15, 1, 16)),
    ]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("x=1", [("x", "1")]),
        ("x = -1.5", [("x", "-1.5")]),
        ("x=-x0", [("x", "-x0")]),
        (
            "a=[[1, 2], [3, 4]], b=full((2,3), 0.5)",
            [("a", "[[1, 2], [3, 4]]"), ("b", "full((2,3), 0.5)")],
        ),
        ("x=[-0.9618, -3.3220, -0.6637]", [("x", "[-0.9618, -3.3220, -0.6637]")]),
        (
            "x=einsum('i,i->', a, b), y=@data/p.npy",
            [("x", "einsum('i,i->', a, b)"), ("y", "@data/p.npy")],
        ),
        ("x1=1, x2=2", [("x1", "1"), ("x2", "2")]),
        ("θ=pi/4", [("θ", "pi/4")]),
    ],
)
def test_split_cases(text, expected):
    got = split_bindings(text)
    assert [(n, v) for n, v, _ in got] == expected
    for _, value, span in got:  # the span is where the value is in the text
        assert text[span.col : span.end_col] == value


@pytest.mark.parametrize(
    "text, span",
    [
        ("x", Span(1, 0, 1, 1)),
        ("x=1, 2", Span(1, 5, 1, 6)),
        ("x=1, , y=2", Span(1, 4, 1, 5)),
        ("x=", Span(1, 1, 1, 2)),
        ("x=1,", Span(1, 4, 1, 5)),
        ("f(x)=2", Span(1, 0, 1, 6)),
        ("x==1", Span(1, 1, 1, 3)),  # hinted "use == to compare", as if it were an expression
        ("y=2, x = = 1", Span(1, 7, 1, 10)),
    ],
)
def test_split_errors(text, span):
    with pytest.raises(UsageError) as info:
        split_bindings(text)
    err = info.value
    assert err.span == span and err.source == text and err.hint
    assert "^" in err.render()
    if "==" in text or "= =" in text:
        assert err.hint == "--at x=1" and "compare" not in err.render()


# -- parse_value ---------------------------------------------------------------------------


def test_parse_value():
    prog = parse_value("-pi", functions=FUNCS)
    assert prog.free_vars == () and prog.body[0].value == S.Unary(None, "-", S.Name(None, "pi"))
    assert parse_value("ones(2, 2)", functions=FUNCS).body[0].value.func == "ones"


@pytest.mark.parametrize(
    "text, kind, span",
    [
        ("y*2", UsageError, Span(1, 0, 1, 1)),
        ("[1, 2*a]", UsageError, Span(1, 6, 1, 7)),
        ("y = 2", UsageError, Span(1, 0, 1, 5)),
        ("1; 2", UsageError, Span(1, 3, 1, 4)),
        ("onse(3)", UnknownFunctionError, Span(1, 0, 1, 4)),
        ("(1", ParseError, Span(1, 0, 1, 1)),
    ],
)
def test_parse_value_errors(text, kind, span):
    with pytest.raises(kind) as info:
        parse_value(text, functions=FUNCS)
    assert info.value.span == span and info.value.hint


def test_parse_value_names_free_variables():
    with pytest.raises(UsageError, match="a, b"):
        parse_value("a + b", functions=FUNCS)


# -- files ---------------------------------------------------------------------------------


def test_load_npy(tmp_path):
    path = tmp_path / "p.npy"
    np.save(path, np.arange(6, dtype=np.int64).reshape(2, 3))
    arr = load_file(str(path), dtype="float64")
    assert arr.dtype == np.float64 and arr.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert load_file(str(path), dtype="float32").dtype == np.float32


def test_load_npy_refuses_pickles_bools_and_big(tmp_path):
    obj = tmp_path / "o.npy"
    np.save(obj, np.array([{}], dtype=object), allow_pickle=True)
    with pytest.raises(UsageError, match="not a valid npy"):
        load_file(str(obj), dtype="float64")
    flags = tmp_path / "b.npy"
    np.save(flags, np.array([True, False]))
    with pytest.raises(UsageError, match="boolean"):
        load_file(str(flags), dtype="float64")
    cplx = tmp_path / "c.npy"
    np.save(cplx, np.array([1j]))
    with pytest.raises(UsageError, match="complex"):
        load_file(str(cplx), dtype="float64")
    big = tmp_path / "big.npy"
    np.save(big, np.zeros(1000))
    with pytest.raises(LimitError):
        load_file(str(big), dtype="float64", max_elements=999)
    garbage = tmp_path / "g.npy"
    garbage.write_bytes(b"hello")
    with pytest.raises(UsageError):
        load_file(str(garbage), dtype="float64")


def test_load_json(tmp_path):
    path = tmp_path / "p.json"
    path.write_text('[[1, 2.5], ["NaN", "-Infinity"]]')
    arr = load_file(str(path), dtype="float64")
    assert arr[0].tolist() == [1.0, 2.5] and np.isnan(arr[1, 0]) and arr[1, 1] == -np.inf
    path.write_text("3")
    assert load_file(str(path), dtype="float64").shape == ()


@pytest.mark.parametrize(
    "content, words",
    [
        ("[1, NaN]", 'string "NaN"'),
        ("[[1, 2], [3]]", "ragged"),
        ("[true]", "not a number"),
        ('["x"]', "not a number"),
        ('{"x": 1}', "object"),
        ("[1, 2", "not a valid json"),
        ("[" * 100000 + "]" * 100000, "not a valid json"),
    ],
)
def test_load_json_errors(tmp_path, content, words):
    path = tmp_path / "p.json"
    path.write_text(content)
    with pytest.raises(UsageError, match=words) as info:
        load_file(str(path), dtype="float64")
    assert info.value.hint


def test_load_csv(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("1,2,3\n4,5,6\n")
    assert load_file(str(path), dtype="float64").tolist() == [[1, 2, 3], [4, 5, 6]]
    path.write_text("7\n8\n")
    assert load_file(str(path), dtype="float64").shape == (2, 1)
    path.write_text("1,2\n")
    assert load_file(str(path), dtype="float64").shape == (1, 2)


@pytest.mark.parametrize("content", ["a,b\n1,2\n", "1,2\n3\n", ""])
def test_load_csv_errors(tmp_path, content):
    path = tmp_path / "p.csv"
    path.write_text(content)
    with pytest.raises(UsageError, match="not a valid csv") as info:
        load_file(str(path), dtype="float64")
    assert "header" in info.value.hint


def test_load_file_errors(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        load_file(str(tmp_path / "missing.npy"), dtype="float64")
    with pytest.raises(UsageError, match=r"unknown file type \.txt"):
        load_file(str(tmp_path / "p.txt"), dtype="float64")
    with pytest.raises(UsageError, match="cannot read"):
        (tmp_path / "d.npy").mkdir()
        load_file(str(tmp_path / "d.npy"), dtype="float64")
    with pytest.raises(UsageError, match="dtype"):
        load_file(str(tmp_path / "p.npy"), dtype="int8")


# -- load_point without evaluation: files and --at-json ------------------------------------


def test_load_point_files_and_json(tmp_path):
    np.save(tmp_path / "a.npy", np.eye(2))
    (tmp_path / "b.csv").write_text("1,2\n")
    (tmp_path / "pt.json").write_text('{"w": 2, "v": [[1], [2]], "n": "Infinity"}')
    point = load_point(
        [f"a=@{tmp_path}/a.npy, b=@{tmp_path}/b.csv"], str(tmp_path / "pt.json"), functions=FUNCS
    )
    assert list(point) == ["a", "b", "w", "v", "n"]
    assert point["a"].tolist() == [[1, 0], [0, 1]] and point["b"].shape == (1, 2)
    assert point["w"].shape == () and point["w"] == 2.0 and point["w"].dtype == np.float64
    assert point["v"].shape == (2, 1) and point["n"] == np.inf


def test_names_are_read_as_python_reads_identifiers(tmp_path):
    from gradcli.lang.parse import parse

    assert parse("𝐱 + 1", functions=FUNCS).free_vars == ("x",)
    np.save(tmp_path / "a.npy", np.eye(2))
    assert list(load_point([f"𝐱=@{tmp_path}/a.npy"], None, functions=FUNCS)) == ["x"]
    with pytest.raises(UsageError, match="not allowed"):
        load_point([], "-", stdin=io.StringIO('{"\uff3f\uff3fx": 1}'), functions=FUNCS)


def test_load_point_json_stdin_and_dtype():
    point = load_point(
        [], "-", stdin=io.StringIO('{"x": [1, 2]}'), dtype="float32", functions=FUNCS
    )
    assert point["x"].dtype == np.float32 and point["x"].tolist() == [1, 2]


@pytest.mark.parametrize(
    "content, words",
    [
        ("[1, 2]", "one JSON object"),
        ('{"x": 1, "x": 2}', "bound twice"),
        ('{"x": [1, [2]]}', "ragged"),
        ('{"x": true}', "not a number"),
        ('{"pi": 1}', "constant"),
        ('{"sum": 1}', "function"),
        ('{"__x__": 1}', "not allowed"),
        ('{"1x": 1}', "not a valid"),
        ('{"x": NaN}', "strict JSON"),
        ('{"x": 1,}', "not valid JSON"),
    ],
)
def test_load_point_json_errors(content, words):
    with pytest.raises(UsageError, match=words) as info:
        load_point([], "-", stdin=io.StringIO(content), functions=FUNCS)
    assert info.value.hint


def test_json_syntax_error_has_position():
    with pytest.raises(UsageError) as info:
        load_point([], "-", stdin=io.StringIO('{"x": 1,\n "y": }'), functions=FUNCS)
    assert info.value.span.line == 2 and "^" in info.value.render()


def test_missing_at_json_file(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        load_point([], str(tmp_path / "nope.json"), functions=FUNCS)


def test_load_point_bound_twice(tmp_path):
    np.save(tmp_path / "a.npy", np.eye(2))
    with pytest.raises(UsageError, match="bound twice") as info:
        load_point(
            [f"x=@{tmp_path}/a.npy", f"y=@{tmp_path}/a.npy, x=@{tmp_path}/a.npy"],
            None,
            functions=FUNCS,
        )
    assert info.value.span.col == len(f"y=@{tmp_path}/a.npy, ")
    with pytest.raises(UsageError, match="--at-json"):
        load_point([f"x=@{tmp_path}/a.npy"], "-", stdin=io.StringIO('{"x": 1}'), functions=FUNCS)


@pytest.mark.parametrize(
    "item, span, words",
    [
        ("pi=3", Span(1, 0, 1, 2), "constant"),
        ("x=1, sin=2", Span(1, 5, 1, 8), "function"),
        ("__x=1", Span(1, 0, 1, 3), "not allowed"),
        ("if=1", Span(1, 0, 1, 2), "not a valid"),
        ("x=1, y=onse(3)", Span(1, 7, 1, 11), "unknown function"),
        ("x=1, y=2*z", Span(1, 9, 1, 10), "cannot use variables: z"),
        ("x=1, y=(2", Span(1, 7, 1, 8), "never closed"),
        ("x=@nope.npy", Span(1, 2, 1, 11), "no such file"),
    ],
)
def test_load_point_errors_point_into_the_at_text(item, span, words):
    with pytest.raises(UsageError, match=words) as info:
        load_point([item], None, functions=FUNCS)
    err = info.value
    assert err.span == span and err.source == item and err.hint
    assert err.render().splitlines()[1].strip() == item


def test_load_point_limit_on_files(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros(10))
    with pytest.raises(LimitError) as info:
        load_point([f"a=@{tmp_path}/a.npy"], None, max_elements=5, functions=FUNCS)
    assert info.value.exit_code == 1 and info.value.span == Span(
        1, 2, 1, 2 + len(f"@{tmp_path}/a.npy")
    )
    with pytest.raises(LimitError):
        load_point([], "-", stdin=io.StringIO('{"x": [1, 2, 3]}'), max_elements=2, functions=FUNCS)


# -- load_point with evaluation (needs gradcli.lang.interpret) -----------------------------


@needs_eval
def test_values_evaluate():
    point = load_point(
        [
            "x=ones(2,2), w=2",
            "b=-1.5, c=pi/4",
            "m=[[1, 2], [3, 4]]",
            "f=full((2,3), 0.5), i=eye(3), r=arange(5), l=linspace(0, 1, 5)",
        ],
        None,
    )
    assert point["x"].tolist() == [[1, 1], [1, 1]] and point["w"] == 2.0
    assert point["b"] == -1.5 and np.isclose(point["c"], np.pi / 4)
    assert point["m"].tolist() == [[1, 2], [3, 4]] and point["m"].dtype == np.float64
    assert point["f"].shape == (2, 3) and np.all(point["f"] == 0.5)
    assert point["i"].tolist() == np.eye(3).tolist()
    assert point["r"].tolist() == [0, 1, 2, 3, 4] and point["r"].dtype == np.float64
    assert point["l"].tolist() == [0, 0.25, 0.5, 0.75, 1]


@needs_eval
def test_values_take_the_dtype():
    point = load_point(["x=ones(2), y=[1, 2], z=3"], None, dtype="float32")
    assert all(v.dtype == np.float32 for v in point.values())


@needs_eval
def test_seed_makes_random_values_reproducible():
    a = load_point(["x=randn(3), y=rand(2)"], None, seed=7)
    b = load_point(["x=randn(3)", "y=rand(2)"], None, seed=7)
    assert np.array_equal(a["x"], b["x"]) and np.array_equal(a["y"], b["y"])
    assert not np.array_equal(a["x"][:2], a["y"])
    c = load_point(["x=randn(3)"], None, seed=8)
    assert not np.array_equal(a["x"], c["x"])


@needs_eval
def test_seed_example_points():
    point = load_point(["x=[-0.9618, -3.3220, -0.6637]"], None)
    assert point["x"].tolist() == [-0.9618, -3.3220, -0.6637]
    point = load_point(["a=[[1,2,3]], b=[[1],[2],[3]]"], None)
    assert point["a"].shape == (1, 3) and point["b"].shape == (3, 1)


@needs_eval
def test_value_array_limit():
    with pytest.raises(LimitError):
        load_point(["x=ones(1000)"], None, max_elements=10)


@needs_eval
def test_boolean_value_refused():
    with pytest.raises(UsageError, match="boolean"):
        load_point(["x=ones(2) > 0"], None)


def test_json_roundtrip_of_nonfinite_strings(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps([1.0, "Infinity", "NaN"]))
    arr = load_file(str(path), dtype="float32")
    assert arr.dtype == np.float32 and arr[1] == np.inf and np.isnan(arr[2])
