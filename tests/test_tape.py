"""A tape recorded from one run replays the same numbers on other values: the forward,
and the gradients of the unrecorded backward pass; and declines what it cannot replay."""

import numpy as np
import pytest

import gradcli as gc
from gradcli import blocked
from gradcli.engine.tape import Tape

PROGRAMS = [
    "x**2*y + sin(x*y)",
    "z = x*y\nw = tanh(z) + maximum(x, 0.5)\nw*w - y",
    "exp(-x**2/2) * a + log(1 + y*y) / a",  # a: a scalar variable, broadcast
    "x*x*x + 3*x - 2",  # one variable used many times
    "sigmoid(x) * softplus(y) + abs(x - y) + sqrt(1 + x*x) ** y",
]


def _values(n, seed):
    rng = np.random.default_rng(seed)
    return {"x": rng.uniform(-2, 2, n), "y": rng.uniform(0.5, 2, n), "a": np.asarray(1.7)}


def _eager(text, values, wrt):
    prog = gc.compile(text)
    values = {k: v for k, v in values.items() if k in prog.free_vars}
    leaves = {k: gc.tensor(v, requires_grad=True) for k, v in values.items()}
    out = prog.run(prog.point(values), leaves).value
    cot = np.linspace(-1, 1, out.data.size)
    grads = gc.autograd.grad(
        out,
        [leaves[k] for k in wrt],
        grad_outputs=gc.tensor(cot),
        allow_unused=True,
        retain_graph=True,
    )
    return (
        prog,
        leaves,
        out,
        cot,
        {k: g.data for k, g in zip(wrt, grads, strict=True) if g is not None},
    )


@pytest.mark.parametrize("text", PROGRAMS)
@pytest.mark.parametrize("wanted", [("x", "y", "a"), ("x",), ("y",)])
def test_replay_on_other_values_gives_the_eager_numbers(text, wanted):
    prog, leaves, out, _, _ = _eager(text, _values(5, 0), ("x",))
    wanted = tuple(k for k in wanted if k in prog.free_vars)
    tape = Tape.record(out, leaves, wanted)
    assert tape is not None
    other = {k: v for k, v in _values(1000, 1).items() if k in prog.free_vars}
    _, _, want_out, cot, want = _eager(text, other, wanted)
    got_out, got = tape.replay(other, cot)
    np.testing.assert_allclose(got_out, want_out.data, rtol=1e-15, atol=1e-15)
    assert set(got) == set(want)
    for k in want:
        assert got[k].shape == other[k].shape and got[k].dtype == want[k].dtype
        np.testing.assert_allclose(got[k], want[k], rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize(
    "text", [*PROGRAMS, "x + a", "x - a*y", "relu(x) * y ** 0", "x * 2 + y / 3 + a"]
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_cotangent_of_ones_as_one_number(text, dtype):
    """Started from the number 1 (the rules with partials skip their product by ones) or
    from a 0-d scale, a replay gives the same gradients as from the full cotangent, with
    the variables' shapes and dtype."""
    values = {k: v.astype(dtype) for k, v in _values(5, 0).items()}
    prog = gc.compile(text, dtype=np.dtype(dtype).name)
    values = {k: v for k, v in values.items() if k in prog.free_vars}
    leaves = {k: gc.tensor(v, requires_grad=True) for k, v in values.items()}
    tape = Tape.record(prog.run(prog.point(values), leaves).value, leaves, tuple(leaves))
    other = {k: v.astype(dtype) for k, v in _values(300, 3).items() if k in values}
    for c in (1.0, 0.25):
        _, want = tape.replay(other, np.full(300, c, dtype))
        _, got = tape.replay(other, np.asarray(c, dtype))
        assert set(got) == set(want)
        for k in want:
            assert got[k].shape == other[k].shape and got[k].dtype == dtype
            np.testing.assert_array_equal(got[k], want[k])


def test_a_repeated_subexpression_is_one_step():
    """x**2 written twice is computed once (its cotangents summed); the replay gives the
    eager numbers."""
    text = "sin(x)*exp(-x**2/2) + log(1+x**2)"
    _, leaves, out, _, _ = _eager(text, _values(5, 0), ("x",))
    tape = Tape.record(out, leaves, ("x",))
    assert [s[0].name for s in tape.steps].count("pow") == 1
    other = {"x": _values(1000, 1)["x"]}
    _, _, want_out, cot, want = _eager(text, other, ("x",))
    got_out, got = tape.replay(other, cot)
    np.testing.assert_allclose(got_out, want_out.data, rtol=1e-15)
    np.testing.assert_allclose(got["x"], want["x"], rtol=1e-14, atol=1e-15)


def test_constants_of_other_shapes_are_other_subexpressions():
    """x*2 with a 2 of shape () and with one of shape (1, 1) give different shapes: two
    steps, and the replay keeps the output's shape."""
    from gradcli.engine.tensor import Tensor, enable_grad

    x = Tensor(np.linspace(1, 2, 16)).requires_grad_()
    with enable_grad():
        out = x * Tensor(np.array([[2.0]])) + x * Tensor(np.array(2.0))
    tape = Tape.record(out, {"x": x}, ("x",))
    assert len(tape.steps) == 3
    value, grads = tape.replay({"x": np.linspace(0, 1, 16)}, np.ones((1, 16)))
    assert value.shape == (1, 16)
    np.testing.assert_allclose(grads["x"], np.full(16, 4.0))


def test_a_power_of_a_one_element_constant_of_any_shape():
    """The exponent reaches the tape as a constant of shape (1,): still a whole number."""
    x = np.linspace(-2, 2, blocked.MIN_SIZE + 5)
    r = gc.compile("sum(x ** detach(b))").grad(x=x, b=np.array([2.0]))
    np.testing.assert_allclose(r.gradient["x"], 2 * x)
    assert r.gradient["b"].shape == (1,)


@pytest.mark.parametrize("text", ["detach(x) * x", "where(x > 0, x, 0) * y"])
def test_declines_values_it_would_reuse(text):
    """A detached value or a mask is computed outside the graph: a replay would reuse the
    recorded run's; the blocked path then runs the eager engine per block instead."""
    prog, leaves, out, _, _ = _eager(text, _values(5, 0), ("x",))
    assert Tape.record(out, leaves, ("x",)) is None
    out.backward(gc.ones(out.shape))  # frees the graph
    assert Tape.record(out, leaves, ("x",)) is None
    point = {k: v for k, v in _values(blocked.MIN_SIZE + 5, 2).items() if k in prog.free_vars}
    got = prog.grad_points(point)
    want = prog.vjp(point, v=np.ones(point["x"].size))
    np.testing.assert_allclose(got.value, want.value, rtol=1e-15)
    for k in got.gradient:
        np.testing.assert_allclose(got.gradient[k], want.vjp[k], rtol=1e-15)


def test_blocks_replay_the_tape(monkeypatch):
    """grad_points and grad of a sum go through the tape (and give the eager numbers)."""
    replays = []
    real = Tape.replay
    monkeypatch.setattr(Tape, "replay", lambda self, *a: replays.append(1) or real(self, *a))
    n = 3 * blocked.BLOCK + 7
    point = {k: v for k, v in _values(n, 3).items() if k != "a"}
    prog = gc.compile("sum(x**2*y + sin(x*y))")
    r = prog.grad(point)
    workers = blocked._pool()[1]
    assert len(replays) == workers * -(-4 // workers)  # 4 blocks at least, the last ragged
    x, y = point["x"], point["y"]
    # (atol: where the terms cancel, one ulp of a cos that is not NumPy's, see kernels.py)
    np.testing.assert_allclose(
        r.gradient["x"], 2 * x * y + y * np.cos(x * y), rtol=1e-14, atol=1e-15
    )
    np.testing.assert_allclose(r.gradient["y"], x * x + x * np.cos(x * y), rtol=1e-14, atol=1e-15)


def test_a_program_keeps_its_tape_across_points():
    """Recorded once per kind of point, scalar values and choice of variables, and right for
    each (a scalar variable is an input of the tape)."""
    prog = gc.compile("sum(a * x**2 + sin(a * x))")
    x = np.linspace(-1, 1, blocked.MIN_SIZE + 3)
    for a in (2.0, 3.0):
        r = prog.grad(x=x, a=a)
        np.testing.assert_allclose(r.gradient["x"], 2 * a * x + a * np.cos(a * x), rtol=1e-13)
        np.testing.assert_allclose(r.gradient["a"], np.sum(x * x + x * np.cos(a * x)), rtol=1e-12)
    prog.grad(x=x, a=3.0)  # kept
    r = prog.grad(x=x, a=3.0, wrt=("x",))  # another choice of variables: another tape
    assert set(r.gradient) == {"x"}
    assert len(blocked._tapes[prog]) == 3 and all(blocked._tapes[prog].values())


@pytest.mark.parametrize("text", PROGRAMS)
def test_gradients_without_the_value_are_the_same(text):
    """Without the value, only the steps that the gradients read run; the gradients are the
    same numbers."""
    prog, leaves, out, _, _ = _eager(text, _values(5, 0), ("x",))
    wanted = tuple(k for k in ("x", "y", "a") if k in prog.free_vars)
    tape = Tape.record(out, leaves, wanted)
    other = {k: v for k, v in _values(1000, 4).items() if k in prog.free_vars}
    cot = np.linspace(-1, 1, 1000)
    value, full = tape.replay(other, cot)
    none, only = tape.replay(other, cot, value=False)
    assert value is not None and none is None
    for k in full:
        np.testing.assert_array_equal(only[k], full[k])


def test_only_finite_steps_go_unrun():
    """sin(x*y) and the final sum are not read by the gradients of x**2*y + sin(x*y); the
    log in log(x) + y is not read either, but a log may make NaN: it runs."""
    _, leaves, out, _, _ = _eager("x**2*y + sin(x*y)", _values(5, 0), ("x",))
    tape = Tape.record(out, leaves, ("x", "y"))
    assert sorted(
        s[0].name for s, r in zip(tape.steps, tape.for_gradients, strict=True) if not r
    ) == [
        "add",
        "mul",
        "sin",
    ]
    _, leaves, out, _, _ = _eager("log(x) + y", _values(5, 0), ("x",))
    tape = Tape.record(out, leaves, ("x", "y"))
    assert {s[0].name: r for s, r in zip(tape.steps, tape.for_gradients, strict=True)} == {
        "log": True,
        "add": False,
    }
    for text, total in [
        ("x**2 + y", True),
        ("x**3 + y", True),
        ("x**0.5 + y", False),
        ("x**-1 + y", False),
        ("x**y + y", False),
    ]:
        _, leaves, out, _, _ = _eager(text, _values(5, 0), ("x",))
        tape = Tape.record(out, leaves, ("x", "y"))
        assert tape.total[0] is total and tape.for_gradients[0] is not total, text


def test_grad_points_without_the_value():
    x, y = _values(blocked.MIN_SIZE + 9, 5)["x"], _values(blocked.MIN_SIZE + 9, 6)["y"]
    prog = gc.compile("x**2*y + sin(x*y)")
    full, only = prog.grad_points(x=x, y=y), prog.grad_points(x=x, y=y, value=False)
    assert only.value is None and only.result(3).value is None
    for k in ("x", "y"):
        np.testing.assert_array_equal(only.gradient[k], full.gradient[k])
    small = prog.grad_points(x=x[:10], y=y[:10], value=False)  # unblocked: the same rule
    assert small.value is None
    np.testing.assert_allclose(small.gradient["x"], full.gradient["x"][:10], rtol=1e-15)


@pytest.mark.parametrize(
    "text", ["sum(x * sign(y))", "sum(x * detach(y))", "sum(where(y > 0, x*x, y))"]
)
def test_a_kept_tape_never_replays_an_old_scalar(text):
    """A scalar variable can reach a tape as a constant (sign, detach and comparisons record
    nothing): the kept tapes are per scalar value."""
    prog = gc.compile(text)
    x = np.linspace(0.1, 2, blocked.MIN_SIZE + 11)
    for y in (0.7, -0.3, 0.7):
        got = prog.grad(x=x, y=y)
        want = prog.grad(x=x[:10], y=y)  # unblocked
        np.testing.assert_allclose(got.gradient["x"][:10], want.gradient["x"], rtol=1e-14)
        if "detach" not in text:
            np.testing.assert_allclose(got.value, gc.compile(text).grad(x=x, y=y).value, rtol=1e-14)


def test_without_the_value_a_point_outside_the_domain_is_refused_as_with_it():
    prog = gc.compile("log(x) * y")
    x, y = -np.linspace(1, 2, blocked.MIN_SIZE + 3), np.ones(blocked.MIN_SIZE + 3)
    for value in (True, False):
        with pytest.raises(gc.UsageError):
            prog.grad_points(x=x, y=y, value=value)
