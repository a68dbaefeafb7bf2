"""Limits hold before the work (issue 15): every primitive's output size from its shapes,
Jacobian and Hessian sizes, the recorded graph's memory budget, plot's grid.

The hostile requests run in a child process under a 2 GB address-space cap, so that a
regression cannot take the machine down; a refused request must peak under 1 GB."""

import json
import os
import resource
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import gradcli as gc
from gradcli.engine.memory import as_bytes, default_budget
from gradcli.engine.ops import PRIMITIVES, index_shape
from gradcli.engine.tensor import guarded
from gradcli.errors import LimitError, UsageError

CAP = 2 << 30


def _capped():
    resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP))


def run_capped(*args: str) -> tuple[int, dict, int]:
    """gradcli ARGS --json in a child under the cap: (exit code, JSON document, peak RSS in
    bytes, from the child's own rusage)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradcli", args[0], "--json", *args[1:]],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        preexec_fn=_capped,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, json.loads(out), usage.ru_maxrss * 1024


HOSTILE = [
    ("eval", "sum(x @ x.T)", "x=ones(35000,1)"),
    ("eval", "sum(outer(x, x))", "x=ones(35000)"),
    ("eval", "sum(diag(x))", "x=ones(35000)"),
    ("eval", "sum(x[zeros(35000)])", "x=ones(1,35000)"),
    ("eval", "sum(concat([x, x, x]))", "x=ones(40000000)"),
    ("eval", "sum(einsum('i,j->ij', x, x))", "x=ones(35000)"),
    ("eval", "sum(ones(35000, 35000)) * x", "x=1"),
    ("eval", "sum(x)", "x=ones(35000, 35000)"),
    ("jacobian", "sin(x)", "x=ones(20000)"),
    ("jacobian", "sin(x)", "x=ones(20000) --mode=fwd"),
    ("jacobian", "sum(outer(x, x), axis=0)", "x=ones(5000)"),
    ("hessian", "sum(x**3)", "x=ones(20000)"),
]


@pytest.mark.parametrize("command, text, at", HOSTILE)
def test_refused_before_the_allocation(command, text, at):
    at, *extra = at.split(" --")
    code, doc, peak = run_capped(command, text, "--at", at, *[f"--{e}" for e in extra])
    assert code == 1 and doc["error"]["type"] == "LimitError", doc
    assert "limit" in doc["error"]["message"] and "--max-elements" in doc["error"]["hint"]
    assert peak < 1 << 30, peak


def test_max_elements_stops_a_small_jacobian():
    code, doc, _ = run_capped("jacobian", "sin(x)", "--at", "x=ones(100)", "--max-elements", "1000")
    assert code == 1 and "Jacobian would have 10000 elements" in doc["error"]["message"]


def test_graph_memory_budget():
    """grad of a loop keeps every intermediate: the budget stops it, with its flag."""
    program = "y = x\nfor i in range(200):\n    y = y * 1.0001 + 0.1\nnorm(y)"
    code, doc, peak = run_capped(
        "grad", "--max-memory", "300MB", "--at", "x=ones(1000000)", "--", program
    )
    assert code == 1 and doc["error"]["type"] == "LimitError", doc
    assert "memory budget of 300.0 MiB" in doc["error"]["message"]
    assert "--max-memory" in doc["error"]["hint"] and peak < 1 << 30
    code, doc, _ = run_capped(
        "grad", "--max-memory", "1.5GB", "--at", "x=ones(100000)", "--", program
    )
    y = np.full(100000, 1.0)
    for _ in range(200):
        y = y * 1.0001 + 0.1
    assert code == 0
    np.testing.assert_allclose(doc["gradient"]["x"], y / np.linalg.norm(y) * 1.0001**200)


def test_json_of_a_derivative_counts_against_the_budget():
    code, doc, peak = run_capped(
        "jacobian", "sin(x)", "--at", "x=ones(3000)", "--max-memory", "100MB"
    )
    assert code == 1 and "to hold and write out" in doc["error"]["message"], doc
    assert peak < 1 << 30


def test_plot_grid_is_checked():
    code, doc, peak = run_capped("plot", "x*y", "--wrt", "x,y", "--points", "100000")
    assert code == 1 and "plot's grid" in doc["error"]["message"], doc
    assert peak < 1 << 30


def test_bad_memory_size_is_a_usage_error():
    code, doc, _ = run_capped("grad", "x*x", "--at", "x=1", "--max-memory", "lots")
    assert code == 2 and doc["error"]["type"] == "UsageError"


# -- the library ----------------------------------------------------------------------------


def test_library_limits():
    with pytest.raises(LimitError, match="Jacobian would have 10000"):
        gc.compile("sin(x)", max_elements=1000).jacobian(x=np.ones(100))
    with pytest.raises(LimitError, match="Hessian would have 10000"):
        gc.compile("sum(x**3)", max_elements=1000).hessian(x=np.ones(100))
    with pytest.raises(LimitError, match="mul would make an array of shape"):
        gc.compile("sum(outer(x, x))", max_elements=1000).eval(x=np.ones(100))
    loop = gc.compile("y = x\nfor i in range(50):\n    y = y * 2\nmax(y)", max_memory="10MB")
    with pytest.raises(LimitError, match=r"memory budget of 10\.0 MiB"):
        loop.grad(x=np.ones(100_000))
    assert loop.eval(x=np.ones(100_000)).value == 2.0**50  # no graph: no budget
    with pytest.raises(UsageError):
        gc.compile("x", max_memory="-1GB")


def test_memory_sizes():
    assert as_bytes("4GB") == as_bytes("4 GiB") == 4 << 30
    assert as_bytes("512mb") == 512 << 20 and as_bytes(1000) == 1000
    for bad in ("", "x", "0", "inf", "nan", "4XB", None):
        with pytest.raises(UsageError):
            as_bytes(bad)
    assert 0 < default_budget() <= 4 << 30


def test_budget_counts_only_what_the_graph_holds():
    """Outputs freed with their graph leave the budget: 40 graphs of 8 MB, one at a time."""
    x = gc.tensor(np.linspace(0, 1, 1_000_000), requires_grad=True)
    with guarded(None, 20 << 20) as guard:
        for _ in range(40):
            y = gc.sin(x)
        y.sum().backward()
        assert guard.held <= 16 << 20
    np.testing.assert_allclose(x.grad.data, np.cos(x.data))


# -- the table: each row's out_shape ----------------------------------------------------------


def test_out_shape_of_every_row():
    """out_shape gives the forward's shape; a row without one never grows."""
    rng = np.random.default_rng(0)
    for name, prim in PRIMITIVES.items():
        if prim.samples is None:
            assert prim.out_shape is None or prim.broadcast, name
            continue
        for inputs, params in prim.samples(rng):
            out = np.asarray(prim.forward(*inputs, **params))
            shapes = [np.shape(i) for i in inputs]
            if prim.out_shape is not None:
                assert prim.out_shape(*shapes, **params) == out.shape, (name, shapes, params)
            else:
                assert out.size <= max(np.size(i) for i in inputs), name


ITEMS = [
    0,
    -1,
    2,
    5,
    slice(None),
    slice(1, None),
    slice(None, None, -2),
    None,
    Ellipsis,
    True,
    False,
    np.array([0, 1]),
    np.array([[1], [0]]),
    np.array(1),
    np.array([], dtype=np.intp),
    np.array([True, False]),
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.integers(1, 4), max_size=3), st.lists(st.sampled_from(ITEMS), max_size=3))
def test_index_shape_is_numpys(shape, items):
    a = np.zeros(shape)
    index = tuple(items)
    try:
        want = a[index].shape
    except IndexError:
        with pytest.raises(IndexError):
            index_shape(tuple(shape), index)
        return
    assert index_shape(tuple(shape), index) == want
