"""Linear algebra beyond matmul, solve, inv and det: the rows (cholesky, eigvalsh, svdvals,
logabsdet, pinv, expm, the p-norm) and the functions composed of rows (lstsq, matrix_power,
kron, cross, tril, triu, diagonal, vdot, inner, tensordot, matrix_norm).

Conventions (PyTorch's): a function of a symmetric matrix (cholesky, eigvalsh) reads the
symmetric part (A + Aᵀ)/2 of its input, so its gradient is the symmetric one PyTorch returns
(for a symmetric input the value is NumPy's). At repeated eigenvalues or singular values
the derivative is a convention and the row says so (`kink`). Matrices are the last two
axes; leading axes are batches. The vocabulary of the rules is `ops.py`'s.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ShapeError
from . import arrays as F
from .clock import BLAS_RATE, COSTS, cubic
from .ops import matrix_sym, mT, square_samples
from .primitive import Primitive, call, elementwise as E, like, public, register
from .tensor import as_tensor

# -- helpers of the rules -------------------------------------------------------------------


def _sym_part(a):
    return (a + mT(a)) * 0.5


def _np_sym(a):
    return (a + np.swapaxes(a, -1, -2)) * 0.5


def _tri(n, m, k, dtype):
    return np.tri(n, m, k, dtype=dtype if dtype.kind == "f" else np.float64)


def _tril(x, k=0):
    """x with the entries above diagonal k zeroed (a product with a constant mask)."""
    return x * _tri(x.shape[-2], x.shape[-1], k, x.dtype)


def _cols(x, w):
    """x with each column j scaled by w[..., j] (x @ diag(w), batched)."""
    return x * F.reshape(w, (*w.shape[:-1], 1, w.shape[-1]))


def _diag_of(x):
    return call("diagonal", x)


def _close_pairs(values) -> bool:
    """Whether sorted values (along the last axis) hold a repeated one, to rounding."""
    v = np.sort(np.asarray(values, dtype=np.float64), axis=-1)
    if v.shape[-1] < 2:
        return False
    scale = np.max(np.abs(v), axis=-1, keepdims=True) + np.finfo(np.float64).tiny
    return bool(np.any(np.diff(v, axis=-1) <= 1e-10 * scale))


# -- test cases -----------------------------------------------------------------------------


def _spread(rng, n, lead=()):
    """Symmetric-part matrices with well separated eigenvalues (and a non-symmetric part)."""
    q, _ = np.linalg.qr(rng.standard_normal((*lead, n, n)))
    d = np.linspace(-2.0, 3.0, n) if n > 1 else np.array([1.5])
    a = q @ (d[:, None] * np.swapaxes(q, -1, -2))
    return a + 0.2 * rng.uniform(-1, 1, size=(*lead, n, n))


def _symmetric_samples(rng):
    return [((_spread(rng, n, lead),), {}) for n, lead in [(1, ()), (2, ()), (3, ()), (3, (2,))]]


def _rect(rng, m, n, lead=()):
    """Full-rank matrices with well separated singular values."""
    k = min(m, n)
    u, _ = np.linalg.qr(rng.standard_normal((*lead, m, k)))
    v, _ = np.linalg.qr(rng.standard_normal((*lead, n, k)))
    s = np.linspace(3.0, 1.0, k) if k > 1 else np.array([2.0])
    return (u * s) @ np.swapaxes(v, -1, -2)


def _rect_samples(rng):
    shapes = [((2, 2), ()), ((3, 2), ()), ((2, 3), ()), ((3, 3), (2,)), ((1, 3), ())]
    return [((_rect(rng, m, n, lead),), {}) for (m, n), lead in shapes]


def _expm_samples(rng):
    return [((rng.uniform(-1, 1, size=s),), {}) for s in [(1, 1), (2, 2), (3, 3), (2, 2, 2)]]


def _pnorm_samples(rng):
    cases = []
    for ord in (1.0, 3.0, 1.5):
        for shape, axis in [((3,), (-1,)), ((3, 2), (-2,)), ((2, 3), (-2, -1))]:
            for keepdims in (False, True):
                x = rng.uniform(0.2, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
                cases.append(((x,), dict(ord=ord, axis=axis, keepdims=keepdims)))
    return cases


# -- cholesky -------------------------------------------------------------------------------


def _cholesky_vjp(g, out, a):
    """L⁻ᵀ Φ L⁻¹ with Φ the symmetric matrix whose lower part is half of tril(Lᵀ g)."""
    p = _tril(mT(out) @ g)
    s = (p + mT(_tril(p, -1))) * 0.5
    x = F.solve(mT(out), s)
    return mT(F.solve(mT(out), mT(x)))


def _cholesky_jvp(t, out, a):
    """L Φ(L⁻¹ T L⁻ᵀ), Φ the lower triangle with half the diagonal; T the symmetric part."""
    m = F.solve(out, _sym_part(t))
    m = mT(F.solve(out, mT(m)))
    return out @ ((_tril(m) + _tril(m, -1)) * 0.5)


register(
    Primitive(
        "cholesky",
        lambda a: np.linalg.cholesky(_np_sym(a)),
        sym=matrix_sym(lambda m: ((m + m.T) / 2).cholesky(hermitian=False)),
        vjp=(_cholesky_vjp,),
        jvp=(_cholesky_jvp,),
        samples=square_samples((1, 1), (2, 2), (3, 3), (2, 3, 3)),
        explain="L⁻ᵀ Φ(Lᵀ g) L⁻¹, Φ: tril, half diagonal, symmetric",
    )
)

# -- eigvalsh, and the eigenvectors its rules need ------------------------------------------


def _eigh(a):
    """Eigenvalues (ascending) and eigenvectors of the symmetric part, each eigenvector's
    sign fixed (its largest entry positive) so that it moves smoothly with a."""
    w, v = np.linalg.eigh(_np_sym(a))
    big = np.take_along_axis(v, np.argmax(np.abs(v), axis=-2)[..., None, :], axis=-2)
    return w, v * np.where(big < 0, -1, 1).astype(v.dtype)


def _gaps(a):
    """1 / (λⱼ - λᵢ) off the diagonal, 0 on it (the eigenvectors' sensitivity)."""
    w = call("eigvalsh", a)
    n = w.shape[-1]
    d = F.reshape(w, (*w.shape[:-1], 1, n)) - F.reshape(w, (*w.shape[:-1], n, 1))
    eye = np.eye(n, dtype=bool)
    return F.where(eye, 0, 1 / F.where(eye, 1, d))


def _eigvecsh_vjp(g, out, a):
    x = out @ ((mT(out) @ g) * _gaps(a)) @ mT(out)
    return _sym_part(x)


register(
    Primitive(
        "eigvecsh",
        lambda a: _eigh(a)[1],
        vjp=(_eigvecsh_vjp,),
        jvp=(lambda t, out, a: out @ ((mT(out) @ _sym_part(t) @ out) * _gaps(a)),),
        samples=_symmetric_samples,
        explain="V ((Vᵀ g) ∘ F) Vᵀ, F = 1/(λⱼ - λᵢ) off the diagonal",
        kink=(
            "the eigenvectors NumPy finds for a repeated eigenvalue (their derivative is infinite)",
            lambda out, a: _close_pairs(np.linalg.eigvalsh(_np_sym(a))),
        ),
    )
)


def _eigvalsh_vjp(g, out, a):
    v = call("eigvecsh", a)
    return _cols(v, g) @ mT(v)


def _eigvalsh_jvp(t, out, a):
    v = call("eigvecsh", a)
    return F.sum(v * (_sym_part(t) @ v), axis=-2)


register(
    Primitive(
        "eigvalsh",
        lambda a: np.linalg.eigvalsh(_np_sym(a)),
        vjp=(_eigvalsh_vjp,),
        jvp=(_eigvalsh_jvp,),
        samples=_symmetric_samples,
        explain="V diag(g) Vᵀ (V: the eigenvectors)",
        kink=(
            "V diag(g) Vᵀ with the eigenvectors NumPy finds for a repeated eigenvalue",
            lambda out, a: _close_pairs(out),
        ),
    )
)

# -- singular values ------------------------------------------------------------------------


def _svd_frame(a, out):
    """The right singular vectors (m ≥ n; else the left ones) in the order of `out`
    (descending), and 1/s taken as 0 where s = 0: from the eigenvectors of aᵀa (aaᵀ)."""
    tall = a.shape[-2] >= a.shape[-1]
    v = call("eigvecsh", mT(a) @ a if tall else a @ mT(a))[..., ::-1]
    k = out.shape[-1]
    v = v[..., :k] if v.shape[-1] != k else v
    return tall, v, F.where(out == 0, 0, 1 / F.where(out == 0, 1, out))


def _svdvals_vjp(g, out, a):
    tall, v, inv = _svd_frame(a, out)
    if tall:  # U = a V / s: U diag(g) Vᵀ
        return a @ _cols(v, g * inv) @ mT(v)
    return _cols(v, g * inv) @ mT(v) @ a


def _svdvals_jvp(t, out, a):
    tall, v, inv = _svd_frame(a, out)
    if tall:
        return F.sum((a @ v) * (t @ v), axis=-2) * inv
    return F.sum(v * (t @ mT(a) @ v), axis=-2) * inv


def _svd_cost(arrays, params):
    s = arrays[0].shape
    if len(s) < 2:
        return 0, BLAS_RATE
    m, n = s[-2], s[-1]
    return 4.0 * math.prod(s[:-2]) * m * n * min(m, n), BLAS_RATE


register(
    Primitive(
        "svdvals",
        lambda a: np.linalg.svd(a, compute_uv=False),
        vjp=(_svdvals_vjp,),
        jvp=(_svdvals_jvp,),
        samples=_rect_samples,
        explain="U diag(g) Vᵀ (U, V: the singular vectors)",
        kink=(
            "U diag(g) Vᵀ with the singular vectors found for a repeated singular value "
            "(0 for a zero one)",
            lambda out, a: _close_pairs(out) or bool(np.any(out == 0)),
        ),
    )
)

# -- logabsdet, pinv, expm ------------------------------------------------------------------


def _log_abs_det(m):
    """log |det m| as log(det²)/2: real, and its derivative is sympy's det'/det."""
    import sympy as sp

    return sp.log(m.det() ** 2) / 2


register(
    Primitive(
        "logabsdet",
        lambda a: np.linalg.slogdet(a)[1],
        sym=matrix_sym(_log_abs_det),
        vjp=(lambda g, out, a: F.reshape(g, (*g.shape, 1, 1)) * mT(F.inv(a)),),
        jvp=(lambda t, out, a: F.sum(_diag_of(F.solve(a, t)), axis=-1),),
        samples=square_samples((1, 1), (2, 2), (3, 3), (2, 3, 3)),
        explain="g · a⁻ᵀ",
    )
)


def _pinv_vjp(g, out, a):
    """PyTorch's pinv_backward (real case)."""
    p, ph, gh = out, mT(out), mT(g)
    if a.shape[-2] <= a.shape[-1]:
        k = gh @ p
        kph = k @ ph
        return -mT(p @ k) + kph - (a @ p) @ kph + (ph @ p) @ (gh - k @ a)
    k = p @ gh
    phk = ph @ k
    return -mT(k @ p) + (gh - a @ k) @ p @ ph + phk - phk @ p @ a


def _pinv_jvp(t, out, a):
    """dP = -P dA P + P Pᵀ dAᵀ (I - A P) + (I - P A) dAᵀ Pᵀ P (constant rank)."""
    p, tt = out, mT(t)
    return -(p @ t @ p) + p @ (mT(p) @ tt - mT(p) @ tt @ a @ p) + (tt - p @ (a @ tt)) @ mT(p) @ p


register(
    Primitive(
        "pinv",
        np.linalg.pinv,
        sym=matrix_sym(lambda m: m.pinv()),
        vjp=(_pinv_vjp,),
        jvp=(_pinv_jvp,),
        samples=_rect_samples,
        explain="PyTorch's pinv rule: -Pᵀ g Pᵀ plus the projections onto the null spaces",
    )
)


def _expm(a):
    from scipy.linalg import expm  # imported on first use: one-shot start-up stays as it is

    if a.dtype == object:
        raise TypeError("expm: no loop over Python objects")
    return expm(a)


def _frechet(a, e):
    """The Fréchet derivative of expm at a in the direction e: the top right block of
    expm([[a, e], [0, a]]) (Mathias), itself differentiable to any order."""
    n = a.shape[-1]
    lead = np.broadcast_shapes(a.shape[:-2], e.shape[:-2])
    a = call("expand", a, shape=(*lead, n, n), nd=a.ndim) if a.shape[:-2] != lead else a
    e = call("expand", e, shape=(*lead, n, n), nd=e.ndim) if e.shape[:-2] != lead else e
    zero = np.zeros((*lead, n, n), dtype=e.dtype)
    top = call("concat", a, e, axis=-1)
    block = call("concat", top, call("concat", zero, a, axis=-1), axis=-2)
    return call("expm", block)[..., :n, n:]


register(
    Primitive(
        "expm",
        _expm,
        vjp=(lambda g, out, a: _frechet(mT(a), g),),
        jvp=(lambda t, out, a: _frechet(a, t),),
        samples=_expm_samples,
        explain="the Fréchet derivative of expm at aᵀ applied to g",
    )
)

# -- vector p-norm ---------------------------------------------------------------------------


def _pnorm(a, ord, axis, keepdims):
    return np.sum(np.abs(a) ** ord, axis=axis, keepdims=keepdims) ** (1.0 / ord)


def _pnorm_slope(out, x, ord, axis):
    """sign(x) |x|^(p-1) / out^(p-1), taken as 0 where the norm is 0 (PyTorch's)."""
    n = out if len(out.shape) == len(x.shape) else F.reshape(out, _kept(x.shape, axis, out))
    safe = F.where(n == 0, 1, n)
    return F.where(n == 0, 0, E.sign(x) * (E.abs(x) / safe) ** (ord - 1))


def _kept(shape, axis, out):
    """The shape of `out` with the reduced axes kept (length 1), batch axes in front."""
    lead = out.shape[: len(out.shape) - (len(shape) - len(axis))]
    kept = tuple(1 if i - len(shape) in axis else s for i, s in enumerate(shape))
    return lead + kept


register(
    Primitive(
        "pnorm",
        _pnorm,
        vjp=(
            lambda g, out, x, ord, axis, keepdims: (
                (g if keepdims else F.reshape(g, _kept(x.shape, axis, g)))
                * _pnorm_slope(out, x, ord, axis)
            ),
        ),
        jvp=(
            lambda t, out, x, ord, axis, keepdims: F.sum(
                t * _pnorm_slope(out, x, ord, axis), axis=axis, keepdims=keepdims
            ),
        ),
        samples=_pnorm_samples,
        kink=(
            "norm'(0) = 0 for the p-norm (PyTorch's)",
            lambda out, x, ord, axis, keepdims: bool(np.any(out == 0)),
        ),
        explain="g · sign(x) (|x| / out)^(p-1)",
    )
)

COSTS.update(
    cholesky=cubic(1.0 / 3.0),
    eigvalsh=cubic(4.0),
    eigvecsh=cubic(9.0),
    logabsdet=cubic(2.0 / 3.0),
    expm=cubic(30.0),
    svdvals=_svd_cost,
    pinv=lambda arrays, params: (3 * _svd_cost(arrays, params)[0], BLAS_RATE),
)


# -- the functions ----------------------------------------------------------------------------


def _matrix(a, name):
    a = as_tensor(a)
    if a.ndim < 2:
        raise ShapeError(f"{name} needs a matrix (or a batch of them), not shape {a.shape}")
    return a


@public()
def cholesky(a):
    """The lower Cholesky factor L of a symmetric positive-definite a = L Lᵀ."""
    return call("cholesky", F.square_matrix(a, "cholesky"))


@public(method=False)
def eigvalsh(a):
    """The eigenvalues of a symmetric matrix, ascending."""
    return call("eigvalsh", F.square_matrix(a, "eigvalsh"))


@public(method=False)
def svdvals(a):
    """The singular values of a matrix, descending."""
    return call("svdvals", _matrix(a, "svdvals"))


@public(method=False)
def logabsdet(a):
    """log |det(a)| of a square matrix (the second value of NumPy's slogdet)."""
    return call("logabsdet", F.square_matrix(a, "logabsdet"))


@public(method=False)
def pinv(a):
    """The Moore-Penrose pseudo-inverse of a matrix."""
    return call("pinv", _matrix(a, "pinv"))


@public(method=False, aliases=("matrix_exp",))
def expm(a):
    """The matrix exponential of a square matrix (matrix_exp)."""
    return call("expm", F.square_matrix(a, "expm"))


@public(method=False)
def lstsq(a, b):
    """The least-squares solution x of a @ x ≈ b (pinv(a) @ b; NumPy's first result)."""
    a = _matrix(a, "lstsq")
    return F.matmul(pinv(a), as_tensor(b, a))


@public(static=("n",))
def matrix_power(a, n):
    """a multiplied by itself n times (n < 0: the inverse's power; n = 0: the identity)."""
    a = F.square_matrix(a, "matrix_power")
    if float(n) != int(n):
        raise ShapeError(f"matrix_power: the exponent must be an integer, not {n}")
    n = int(n)
    if n == 0:
        return a * 0 + np.eye(a.shape[-1], dtype=a.dtype)
    if n < 0:
        a, n = F.inv(a), -n
    result, square = None, a
    while n:  # by squaring: log2(n) products
        if n & 1:
            result = square if result is None else F.matmul(result, square)
        n >>= 1
        if n:
            square = F.matmul(square, square)
    return result


@public(method=False)
def kron(a, b):
    """The Kronecker product (NumPy's, for any number of axes)."""
    first = like((a, b))
    a, b = as_tensor(a, first), as_tensor(b, first)
    nd = max(a.ndim, b.ndim)
    sa, sb = (1,) * (nd - a.ndim) + a.shape, (1,) * (nd - b.ndim) + b.shape
    ar = F.reshape(a, tuple(x for n in sa for x in (n, 1)))
    br = F.reshape(b, tuple(x for n in sb for x in (1, n)))
    return F.reshape(ar * br, tuple(p * q for p, q in zip(sa, sb, strict=False)))


def _to_end(x, axes):
    """x with `axes` (normalised, negative) moved to the end, in that order."""
    rest = tuple(i for i in range(-x.ndim, 0) if i not in axes)
    perm = rest + tuple(axes)
    return (
        x if perm == tuple(range(-x.ndim, 0)) else F.transpose(x, tuple(p % x.ndim for p in perm))
    )


@public(static=("axis",))
def cross(a, b, axis=-1):
    """The cross product of 3-vectors along `axis` (broadcasting the others)."""
    first = like((a, b))
    a, b = as_tensor(a, first), as_tensor(b, first)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError("cross needs vectors of length 3")
    (ia,), (ib,) = F.normal_axes(axis, a.ndim), F.normal_axes(axis, b.ndim)
    if a.shape[ia] != 3 or b.shape[ib] != 3:
        raise ShapeError(
            f"cross: the vectors along axis {axis} must have length 3, not "
            f"{a.shape[ia]} and {b.shape[ib]}"
        )
    a, b = _to_end(a, (ia,)), _to_end(b, (ib,))
    c = [a[..., i] for i in range(3)], [b[..., i] for i in range(3)]
    (a0, a1, a2), (b0, b1, b2) = c
    out = F.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
    if ia == -1:
        return out
    return F.transpose(out, _from_end(out.ndim, ia))


def _from_end(nd, axis):
    """The permutation putting the last axis at `axis` (negative), the others in order."""
    perm = list(range(nd - 1))
    perm.insert(nd + axis, nd - 1)
    return tuple(perm)


def _triangle(x, k, name, lower):
    x = _matrix(x, name)
    if float(k) != int(k):
        raise ShapeError(f"{name}: the diagonal k must be an integer, not {k}")
    n, m = x.shape[-2:]
    dtype = x.dtype if x.dtype.kind == "f" else np.float64
    mask = np.tri(n, m, int(k), dtype=dtype) if lower else 1 - np.tri(n, m, int(k) - 1, dtype=dtype)
    return x * mask


@public(static=("k",))
def tril(x, k=0):
    """x with the entries above the k-th diagonal set to 0 (the gradient is masked alike)."""
    return _triangle(x, k, "tril", True)


@public(static=("k",))
def triu(x, k=0):
    """x with the entries below the k-th diagonal set to 0 (the gradient is masked alike)."""
    return _triangle(x, k, "triu", False)


@public(static=("offset", "axis1", "axis2"))
def diagonal(x, offset=0, axis1=0, axis2=1):
    """The diagonal (offset above, or below if negative) over axes axis1 and axis2, last."""
    x = _matrix(x, "diagonal")
    (a1,), (a2,) = F.normal_axes(axis1, x.ndim), F.normal_axes(axis2, x.ndim)
    if a1 == a2:
        raise ShapeError("diagonal: axis1 and axis2 cannot be the same")
    rest = tuple(i for i in range(-x.ndim, 0) if i not in (a1, a2))
    perm = tuple(p % x.ndim for p in (*rest, a1, a2))
    x = x if perm == tuple(range(x.ndim)) else F.transpose(x, perm)
    offset = int(offset)
    if offset:
        x = x[..., :, offset:] if offset > 0 else x[..., -offset:, :]
    return call("diagonal", x)


@public(method=False)
def vdot(a, b):
    """The dot product of a and b flattened (they must have as many elements)."""
    first = like((a, b))
    a, b = F.flatten(as_tensor(a, first)), F.flatten(as_tensor(b, first))
    if a.shape != b.shape:
        raise ShapeError(f"vdot: {a.shape[0]} and {b.shape[0]} elements do not match")
    return F.sum(a * b)


@public(method=False, static=("axes",))
def tensordot(a, b, axes=2):
    """The sum of products over `axes`: a's last `axes` with b's first, or ([a's], [b's])."""
    first = like((a, b))
    a, b = as_tensor(a, first), as_tensor(b, first)
    if isinstance(axes, (list, tuple)):
        if len(axes) != 2:
            raise ShapeError("tensordot: axes is a count or a pair of axis lists")
        xa, xb = [ax if isinstance(ax, (list, tuple)) else [ax] for ax in axes]
    else:
        n = int(axes)
        if n < 0 or n > min(a.ndim, b.ndim):
            raise ShapeError(f"tensordot: cannot sum over {n} axes of shapes {a.shape}, {b.shape}")
        xa, xb = list(range(a.ndim - n, a.ndim)), list(range(n))
    if len(xa) != len(xb):
        raise ShapeError("tensordot: as many axes of a as of b")
    xa = [F.normal_axes(i, a.ndim)[0] for i in xa]
    xb = [F.normal_axes(i, b.ndim)[0] for i in xb]
    if len(set(xa)) != len(xa) or len(set(xb)) != len(xb):
        raise ShapeError("tensordot: an axis is repeated")
    if any(a.shape[i] != b.shape[j] for i, j in zip(xa, xb, strict=False)):
        raise ShapeError(
            f"tensordot: the summed axes' lengths differ: {[a.shape[i] for i in xa]} "
            f"and {[b.shape[j] for j in xb]}"
        )
    fa = [i for i in range(-a.ndim, 0) if i not in xa]
    fb = [j for j in range(-b.ndim, 0) if j not in xb]
    at = F.transpose(a, tuple(p % a.ndim for p in fa + xa)) if a.ndim else a
    bt = F.transpose(b, tuple(p % b.ndim for p in xb + fb)) if b.ndim else b
    k = math.prod(a.shape[i] for i in xa)
    free_a, free_b = tuple(a.shape[i] for i in fa), tuple(b.shape[j] for j in fb)
    prod = F.matmul(F.reshape(at, (math.prod(free_a), k)), F.reshape(bt, (k, math.prod(free_b))))
    return F.reshape(prod, free_a + free_b)


@public(method=False)
def inner(a, b):
    """The sum of products over the last axes of a and b (a * b for a scalar)."""
    first = like((a, b))
    a, b = as_tensor(a, first), as_tensor(b, first)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return tensordot(a, b, axes=([-1], [-1]))


_VECTOR_ORDS = "1, 2, inf, -inf, 0 or any other number p"


@public(static=("ord", "axis", "keepdims"))
def norm(x, ord=None, axis=None, keepdims=False):
    """NumPy's norm: vector (ord 1, 2, inf, -inf, 0, p) or, for matrices, matrix_norm's.

    ord None: the 2-norm of all the elements; a matrix with ord given, or a pair of axes:
    matrix_norm."""
    x = as_tensor(x)
    if (axis is None and ord is not None and x.ndim == 2) or (
        isinstance(axis, (tuple, list)) and len(axis) == 2
    ):
        return _matrix_norm(
            x, "fro" if ord is None else ord, (-2, -1) if axis is None else axis, keepdims
        )
    if axis is None and ord is not None and x.ndim > 1:
        raise ShapeError(
            f"norm: give axis= for an array of {x.ndim} axes with ord={ord}",
            hint="e.g. norm(x, ord, axis=-1); ord=None is the 2-norm of all the elements",
        )
    ax = F.normal_axes(axis, x.ndim)
    keepdims = bool(keepdims)
    if ord is None or ord == 2:
        return call("norm", x, axis=ax, keepdims=keepdims)
    if isinstance(ord, str):
        raise ShapeError(
            f"norm: ord {ord!r} is a matrix norm's", hint=f"for vectors: {_VECTOR_ORDS}"
        )
    if ord == math.inf:
        return F.max(E.abs(x), ax, keepdims)
    if ord == -math.inf:
        return F.min(E.abs(x), ax, keepdims)
    if ord == 0:
        return F.sum(F.detach(x != 0) * 1.0, ax, keepdims)
    if ord == 1:
        return F.sum(E.abs(x), ax, keepdims)
    return call("pnorm", x, ord=float(ord), axis=ax, keepdims=keepdims)


_MATRIX_ORDS = "'fro', 'nuc', 1, -1, 2, -2, inf or -inf"


@public(method=False, static=("ord", "keepdims"))
def matrix_norm(a, ord="fro", keepdims=False):
    """The norm of the matrices (the last two axes): ord 'fro', 'nuc', ±1, ±2, ±inf (NumPy's).

    'nuc': the sum of the singular values; 2, -2: the largest, smallest; 1, -1: the largest,
    smallest column sum of |a|; inf, -inf: row sums. (norm(a, ord, axis=(i, j)): over the
    axes i and j.)"""
    return _matrix_norm(a, ord, (-2, -1), keepdims)


def _matrix_norm(a, ord, axis, keepdims):
    """The matrix norm over the pair of axes `axis`."""
    a = _matrix(a, "matrix_norm")
    if not isinstance(axis, (tuple, list)) or len(axis) != 2:
        raise ShapeError("matrix_norm: axis is a pair of axes, e.g. (-2, -1)")
    r, c = (F.normal_axes(i, a.ndim)[0] for i in axis)
    if r == c:
        raise ShapeError("matrix_norm: the two axes must differ")
    if ord in ("fro", None):
        return call("norm", a, axis=tuple(sorted((r, c))), keepdims=bool(keepdims))
    m = _to_end(a, (r, c))
    if ord == "nuc":
        out = F.sum(svdvals(m), axis=-1)
    elif ord in (2, -2):
        out = (F.max if ord == 2 else F.min)(svdvals(m), axis=-1)
    elif ord in (1, -1, math.inf, -math.inf):
        sums = F.sum(E.abs(m), axis=-2 if abs(ord) == 1 else -1)
        out = (F.max if ord > 0 else F.min)(sums, axis=-1)
    else:
        raise ShapeError(f"matrix_norm: unknown ord {ord!r}", hint=f"use {_MATRIX_ORDS}")
    if keepdims:
        shape = tuple(1 if i - a.ndim in (r, c) else n for i, n in enumerate(a.shape))
        out = F.reshape(out, shape)
    return out
