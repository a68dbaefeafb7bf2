"""gradcli plot: values and derivatives over a grid (one pass where elementwise), drawn in the
terminal with plotext and to PNG/SVG with matplotlib (skipped when it is not installed)."""

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import gradcli as gc
from gradcli.cli.app import app
from gradcli.errors import UsageError
from gradcli.plot import parse_ranges, sample, terminal

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def run(*args):
    return runner.invoke(app, ["plot", *args])


def test_one_pass_derivatives():
    f = gc.compile("sin(x) * exp(-x^2/4)")
    data = sample(f, {}, ("x",), [(-3.0, 3.0)], 61, order=2)
    assert data.vectorised
    x = data.axes[0]
    e = np.exp(-x * x / 4)
    np.testing.assert_allclose(data.value, np.sin(x) * e)
    d1 = np.cos(x) * e - x / 2 * np.sin(x) * e
    np.testing.assert_allclose(data.derivatives[0], d1, atol=1e-12)
    d2 = -np.sin(x) * e - x * np.cos(x) * e + (x * x / 4 - 0.5) * np.sin(x) * e
    np.testing.assert_allclose(data.derivatives[1], d2, atol=1e-12)


def test_other_variables_from_the_point_and_fallback():
    data = sample(
        gc.compile("w*x + b"), {"w": np.array(2.0), "b": np.array(1.0)}, ("x",), [(0.0, 1.0)], 5
    )
    np.testing.assert_allclose(data.derivatives[0], 2.0)
    # a reduction is not elementwise: point by point, same answer
    data = sample(gc.compile("sum(x * [1, 2])"), {}, ("x",), [(-1.0, 1.0)], 5)
    assert not data.vectorised
    np.testing.assert_allclose(data.derivatives[0], 3.0)
    # control flow decided on the value: point by point
    data = sample(
        gc.compile("y = x\nif x > 0:\n    y = x*x\ny"), {}, ("x",), [(-2.0, 2.0)], 5, order=2
    )
    np.testing.assert_allclose(data.derivatives[0], [1, 1, 1, 2, 4])
    np.testing.assert_allclose(data.derivatives[1], [0, 0, 0, 2, 2])


def test_two_variables_gradient_field():
    data = sample(gc.compile("x^2 + 3*y^2"), {}, ("x", "y"), [(-2.0, 2.0)] * 2, 9)
    X, Y = np.meshgrid(*data.axes)
    np.testing.assert_allclose(data.value, X**2 + 3 * Y**2)
    np.testing.assert_allclose(data.derivatives[0], 2 * X)
    np.testing.assert_allclose(data.derivatives[1], 6 * Y)


def test_ranges():
    assert parse_ranges("-3:3", 2) == [(-3.0, 3.0), (-3.0, 3.0)]
    lo, hi = parse_ranges("-pi:pi/2", 1)[0]
    assert lo == pytest.approx(-np.pi) and hi == pytest.approx(np.pi / 2)
    assert parse_ranges("0:1,2:3", 2) == [(0.0, 1.0), (2.0, 3.0)]
    for bad in ("3:-3", "1", "a:b", "0:1,2:3,4:5", "0:inf"):
        with pytest.raises(UsageError):
            parse_ranges(bad, 2)


def test_terminal_plot():
    r = run("x^3 - x", "--wrt", "x", "--range", "-2:2", "--order", "2")
    assert r.exit_code == 0, r.stderr
    assert "f(x) = x^3 - x" in r.stdout and "f'(x)" in r.stdout and "f''(x)" in r.stdout
    assert "\x1b[" not in r.stdout  # no colour off a terminal
    assert len(r.stdout.splitlines()) > 20
    text = terminal(sample(gc.compile("x*y"), {}, ("x", "y"), [(-1.0, 1.0)] * 2, 11), 60)
    assert "f(x, y) = x*y" in text and "@" in text


def test_json():
    r = runner.invoke(
        app, ["plot", "w*x + b", "--wrt", "x", "--at", "w=2, b=1", "--points", "3", "--json"]
    )
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["grid"] == {"x": [-3.0, 0.0, 3.0]} and doc["value"] == [-5.0, 1.0, 7.0]
    assert doc["derivative"] == [2.0, 2.0, 2.0] and doc["point"] == {"w": 2.0, "b": 1.0}
    r = run("x*y", "--wrt", "x,y", "--points", "2", "--json")
    doc = json.loads(r.stdout)
    # [y, x] indexing: d(xy)/dx = y runs down the rows, d(xy)/dy = x across
    assert doc["gradient"] == {"x": [[-3.0, -3.0], [3.0, 3.0]], "y": [[-3.0, 3.0], [-3.0, 3.0]]}


def test_usage_errors():
    assert run("x*y", "--range", "-1:1").exit_code == 2  # which variable?
    assert run("x*[1, 2]", "--wrt", "x").exit_code == 1  # not one value per point
    assert run("x", "--wrt", "x", "--output", "p.gif").exit_code == 2
    assert run("x*y", "--wrt", "x,y", "--order", "2").exit_code == 2
    assert run("x*y", "--wrt", "x").exit_code == 1  # y has no value


def test_files(tmp_path):
    pytest.importorskip("matplotlib")
    png, svg = tmp_path / "f.png", tmp_path / "bowl.svg"
    r = run("sin(x)", "--wrt", "x", "--range", "-pi:pi", "--order", "2", "-o", str(png))
    assert r.exit_code == 0, r.stderr
    assert png.read_bytes()[:8] == PNG
    r = run("x^2 + 3*y^2", "--wrt", "x,y", "--range", "-2:2", "--output", str(svg))
    assert r.exit_code == 0, r.stderr
    assert b"<svg" in svg.read_bytes()[:500]


def test_missing_matplotlib(monkeypatch, tmp_path):
    import builtins

    real = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    r = run("x", "--wrt", "x", "-o", str(tmp_path / "f.png"))
    assert r.exit_code == 2 and "gradcli[plot]" in r.stderr
