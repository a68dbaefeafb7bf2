"""The linear algebra family: the composed functions' values against NumPy's, NumPy's norm
semantics, the check without a symbolic form, options by name (ord="nuc"), clear errors.
(The rows themselves are tried by the table-driven tests; PyTorch: test_torch_linalg.py.)"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy  # noqa: F401  (imported once here, the checks' forked children inherit it)
from typer.testing import CliRunner

import gradcli as gc
from gradcli.cli.app import app

rng = np.random.default_rng(7)
A, B = rng.uniform(-2, 2, (3, 4)), rng.uniform(-2, 2, (4, 2))
S = rng.uniform(-2, 2, (3, 3))


def run(*args):
    return CliRunner().invoke(app, list(args), env={"NO_COLOR": "1", "COLUMNS": "100"})


@pytest.mark.parametrize(
    "got, want",
    [
        (lambda: gc.kron(A, B), lambda: np.kron(A, B)),
        (lambda: gc.kron(A[0], B), lambda: np.kron(A[0], B)),
        (lambda: gc.cross(A[:, :3], S), lambda: np.cross(A[:, :3], S)),
        (lambda: gc.cross(S, S.T, axis=0), lambda: np.cross(S, S.T, axis=0)),
        (lambda: gc.tril(A, 1), lambda: np.tril(A, 1)),
        (lambda: gc.triu(A, -1), lambda: np.triu(A, -1)),
        (lambda: gc.diagonal(A, 1), lambda: np.diagonal(A, 1)),
        (lambda: gc.diagonal(A[None], -1, 1, 2), lambda: np.diagonal(A[None], -1, 1, 2)),
        (lambda: gc.vdot(A, A), lambda: np.vdot(A, A)),
        (lambda: gc.inner(A, A), lambda: np.inner(A, A)),
        (lambda: gc.tensordot(A, B, 1), lambda: np.tensordot(A, B, 1)),
        (lambda: gc.tensordot(A, A, ([0, 1], [0, 1])), lambda: np.tensordot(A, A, 2)),
        (lambda: gc.matrix_power(S, 5), lambda: np.linalg.matrix_power(S, 5)),
        (lambda: gc.matrix_power(S, -3), lambda: np.linalg.matrix_power(S, -3)),
        (lambda: gc.matrix_power(S, 0), lambda: np.eye(3)),
        (lambda: gc.lstsq(B, A[0]), lambda: np.linalg.lstsq(B, A[0], rcond=None)[0]),
        (lambda: gc.norm(A), lambda: np.linalg.norm(A)),
        (lambda: gc.norm(A, 2), lambda: np.linalg.norm(A, 2)),
        (lambda: gc.norm(A, "nuc"), lambda: np.linalg.norm(A, "nuc")),
        (lambda: gc.norm(A, -math.inf), lambda: np.linalg.norm(A, -np.inf)),
        (lambda: gc.norm(A, 3, axis=1), lambda: np.linalg.norm(A, 3, axis=1)),
        (lambda: gc.norm(A, 0, axis=0), lambda: np.linalg.norm(A, 0, axis=0)),
        (lambda: gc.norm(A[None], 1, axis=(2, 1)), lambda: np.linalg.norm(A[None], 1, (2, 1))),
        (
            lambda: gc.matrix_norm(A[None], -2, keepdims=True),
            lambda: np.linalg.norm(A[None], -2, axis=(-2, -1), keepdims=True),
        ),
        (lambda: gc.expm(np.zeros((2, 2))), lambda: np.eye(2)),
    ],
)
def test_values_as_numpy(got, want):
    out = got()
    np.testing.assert_allclose(out.data, want(), rtol=1e-10, atol=1e-12)
    assert out.shape == np.shape(want())


def test_sum_of_eigvalsh_is_checked_by_finite_differences_alone():
    r = run("grad", "sum(eigvalsh(A))", "--at", "A=[[2,1],[1,3]]")
    assert r.exit_code == 0, r.output
    assert "sympy has no form for eigvalsh" in r.stdout
    assert "✓ agree: autograd and finite differences (sympy skipped)" in r.stdout


def test_repeated_eigenvalue_names_the_convention():
    r = run("grad", "eigvalsh(A)[1]", "--at", "A=[[1,0],[0,1]]")
    assert r.exit_code == 3, r.output
    assert "repeated eigenvalue" in r.stdout


def test_options_by_name_in_the_language():
    r = run("grad", "matrix_norm(A, 'nuc') + norm(A, ord='fro')", "--at", "A=[[3,0],[0,4]]")
    assert r.exit_code == 0, r.output
    r = run("grad", "matrix_norm(A, ord='bad')", "--at", "A=[[3,0],[0,4]]")
    assert r.exit_code != 0 and "unknown ord 'bad'" in r.output and "Traceback" not in r.output


@pytest.mark.parametrize(
    "text, message",
    [
        ("cholesky(x)", "cholesky needs a square matrix"),
        ("sum(cholesky(-eye(2) + 0 * x[0]))", "cholesky"),
        ("sum(cross(x, x))", "length 3"),
        ("sum(tensordot(x, x, 3))", "tensordot"),
        ("norm(ones(2, 2, 2) * x[0], 1)", "give axis="),
    ],
)
def test_clear_errors(text, message):
    r = run("grad", text, "--at", "x=[1, 2]")
    assert r.exit_code != 0
    assert message in r.output and "Traceback" not in r.output
