"""`gradcli plot`: a function and its derivatives over a range, in the terminal or to a file.

The grid is evaluated in one pass where the program is elementwise
(`lang.analysis.is_elementwise`): the variable is bound to the whole grid, one forward
records the graph, and the sum trick gives every point's derivative at once
(d sum(f(x)) / d x_i = f'(x_i), as the outputs do not mix); the second derivative is the
same trick on the first, recorded with create_graph. Other programs (reductions, control
flow) run point by point. Two variables give a grid of values and the gradient field.

Drawing: in the terminal with plotext (imported only here, when drawing); to PNG, SVG or PDF
with matplotlib, the optional extra `pip install 'gradcli[plot]'` (contours and gradient
arrows for two variables).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .engine import clock
from .engine.backward import grad as autograd_grad
from .engine.tensor import Tensor, enable_grad
from .errors import EvalError, GradcliError, LimitError, UsageError, shortened

#: Grid points per axis when not given: one variable, two variables.
POINTS = {1: 201, 2: 41}
#: Files matplotlib writes, by suffix.
FORMATS = (".png", ".svg", ".pdf")


class MissingPackage(UsageError):
    """An optional package (matplotlib) is not installed."""


@dataclass
class PlotData:
    expression: str
    wrt: tuple  # one or two names
    axes: list  # the grid of each variable (1-D arrays)
    value: np.ndarray  # shape (n,) or (n, n) (indexed [y, x], as meshgrid)
    derivatives: list  # one variable: [f', f''] up to the order; two: [df/dx, df/dy]
    fixed: dict  # the other variables' values
    warnings: list = field(default_factory=list)
    vectorised: bool = True


def parse_ranges(text: str, count: int) -> list[tuple[float, float]]:
    """`-3:3` (for every variable) or `-3:3,0:1` (one per variable); bounds may be constant
    expressions (`-pi:pi`)."""
    from .lang.interpret import evaluate_constant
    from .lang.points import parse_value

    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (1, count):
        raise UsageError(f"--range {text}: give one LO:HI, or one per variable ({count})")
    ranges = []
    for part in parts:
        lo_text, sep, hi_text = part.partition(":")
        if not sep or not lo_text.strip() or not hi_text.strip():
            raise UsageError(f"--range {part}: expected LO:HI, like -3:3 or -pi:pi")
        try:
            lo, hi = (float(evaluate_constant(parse_value(t.strip()))) for t in (lo_text, hi_text))
        except GradcliError as e:
            raise UsageError(f"--range {part}: the bounds must be numbers ({e})") from None
        except (TypeError, ValueError):
            raise UsageError(f"--range {part}: each bound must be one number") from None
        if not (np.isfinite(lo) and np.isfinite(hi)) or not lo < hi:
            raise UsageError(f"--range {part}: needs finite bounds with LO < HI")
        ranges.append((lo, hi))
    return ranges * count if len(ranges) == 1 else ranges


def sample(
    compiled, fixed: dict, wrt: tuple, ranges: list, n: int | None = None, order: int = 1
) -> PlotData:
    """Values and derivatives of `compiled` over the grid of `wrt` (other variables as in
    `fixed`)."""
    if len(wrt) not in (1, 2):
        raise UsageError("plot draws functions of one or two variables (--wrt x or --wrt x,y)")
    if order not in (1, 2):
        raise UsageError("--order is 1 or 2")
    if len(wrt) == 2 and order != 1:
        raise UsageError(
            "--order 2 draws one variable's second derivative; with two "
            "variables the plot shows the gradient field"
        )
    for name in wrt:
        if name not in compiled.free_vars:
            raise UsageError(
                f"--wrt {name}: {name} is not a variable of the expression",
                hint="its variables are: " + (", ".join(compiled.free_vars) or "none"),
            )
    n = n or POINTS[len(wrt)]
    if n < 2:
        raise UsageError("--points must be at least 2")
    fixed = {k: v for k, v in fixed.items() if k not in wrt}
    compiled.point({**fixed, **{w: 0.0 for w in wrt}})  # every other variable is bound
    with compiled.limits.guard() as guard:
        # the grid's arrays at once: its coordinates (twice), the value, the derivatives
        guard.result(n ** len(wrt) * (3 * len(wrt) + order), "plot's grid values")
        return _sample(compiled, fixed, wrt, ranges, n, order)


def _sample(compiled, fixed, wrt, ranges, n, order) -> PlotData:
    from .lang.analysis import is_elementwise

    axes = [np.linspace(lo, hi, n, dtype=compiled.dtype) for lo, hi in ranges]
    grids = np.meshgrid(*axes) if len(wrt) == 2 else axes  # [y, x] indexing
    flat = [g.reshape(-1) for g in grids]
    elementwise = all(is_elementwise(s) for s in compiled.program.body) and all(
        np.ndim(v) == 0 for v in fixed.values()
    )
    result = None
    with clock.limit(compiled.limits.time_limit):  # (the command line's, if it set one)
        if elementwise:
            result = _vectorised(compiled, fixed, wrt, flat, order)
        vectorised = result is not None
        if result is None:
            result = _pointwise(compiled, fixed, wrt, flat, order)
    value, derivs, warnings = result
    derivs = [np.where(np.isfinite(value), d, np.nan) for d in derivs]  # no slope of a NaN
    shape = grids[0].shape
    return PlotData(
        compiled.text,
        tuple(wrt),
        axes,
        value.reshape(shape),
        [d.reshape(shape) for d in derivs],
        fixed,
        warnings,
        vectorised,
    )


def _derivatives(out: Tensor, leaves: list[Tensor], order: int) -> list[np.ndarray]:
    """d sum(out) / d each leaf; with order 2 (one leaf) also the second derivative."""
    if not out.requires_grad:
        zeros = [np.zeros_like(t.data) for t in leaves]
        return zeros + ([zeros[0]] if order == 2 else [])
    firsts = autograd_grad(out.sum(), leaves, create_graph=order == 2, materialize_grads=True)
    result = [g.data for g in firsts]
    if order == 2:
        g1 = firsts[0]
        if g1.requires_grad:
            (g2,) = autograd_grad(g1.sum(), leaves, materialize_grads=True)
            result.append(g2.data)
        else:
            result.append(np.zeros_like(g1.data))
    return result


def _vectorised(compiled, fixed, wrt, flat, order):
    """One pass over the whole grid, or None if the output does not match the grid."""
    leaves = [Tensor(f.copy()).requires_grad_() for f in flat]
    point = compiled.point({**fixed, **dict(zip(wrt, flat, strict=True))})
    try:
        with enable_grad(), np.errstate(all="ignore"):
            run = compiled.run(point, dict(zip(wrt, leaves, strict=True)))
            out = run.value
            if out.shape != flat[0].shape:
                return None
            derivs = _derivatives(out, leaves, order)
    except LimitError:
        raise
    except GradcliError:
        return None
    return out.data.copy(), derivs, run.warnings


def _pointwise(compiled, fixed, wrt, flat, order):
    m = flat[0].size
    value = np.full(m, np.nan)
    derivs = [np.full(m, np.nan) for _ in range(len(wrt) if len(wrt) == 2 else order)]
    warnings: list = []
    for k in range(m):
        coords = {name: np.asarray(f[k]) for name, f in zip(wrt, flat, strict=True)}
        leaves = [Tensor(c.copy()).requires_grad_() for c in coords.values()]
        point = compiled.point({**fixed, **coords})
        with enable_grad(), np.errstate(all="ignore"):
            run = compiled.run(point, dict(zip(wrt, leaves, strict=True)))
            out = run.value
            if out.data.size != 1:
                raise EvalError(
                    f"plot needs one value per point, but the expression gives shape {out.shape}",
                    source=compiled.text,
                    hint="reduce it with `| sum` or `| mean`, or plot one element: x[0]",
                )
            ds = _derivatives(out.reshape(()) if out.shape else out, leaves, order)
        value[k] = out.data.reshape(())
        for d, v in zip(derivs, ds, strict=True):
            d[k] = np.asarray(v).reshape(())
        if run.warnings and not warnings:
            warnings = list(run.warnings)
    return value, derivs, warnings


# -- drawing ------------------------------------------------------------------------------------


def labels(data: PlotData) -> list[str]:
    if len(data.wrt) == 2:
        return [f"∂f/∂{n}" for n in data.wrt]
    x = data.wrt[0]
    return [f"f'({x})", f"f''({x})"][: len(data.derivatives)]


def terminal(
    data: PlotData, width: int = 100, height: int | None = None, color: bool = True
) -> str:
    """The plot as text for the terminal (plotext): f and its derivatives stacked, or for
    two variables a heat map of f."""
    import plotext as plt

    plt.main()  # clear_figure clears the active subplot only: from the whole figure
    plt.clear_figure()
    if len(data.wrt) == 1:
        rows = 1 + len(data.derivatives)
        plt.subplots(rows, 1)
        plt.plotsize(width, height or 15 * rows)
        x = data.axes[0].tolist()
        name = data.wrt[0]
        curves = [(f"f({name}) = {shortened(data.expression, width - 12)}", data.value, "blue")] + [
            (label, d, c)
            for label, d, c in zip(labels(data), data.derivatives, ("red", "green"), strict=False)
        ]
        for row, (title, ys, c) in enumerate(curves, 1):
            plt.subplot(row, 1)
            ys = np.asarray(ys, dtype=float)
            ok = np.isfinite(ys)
            if ok.any():
                plt.plot(np.asarray(x)[ok].tolist(), ys[ok].tolist(), marker="braille", color=c)
            plt.title(title)
            plt.xlim(x[0], x[-1])
        plt.xlabel(name)
    else:
        return shaded(data, width, height or 24)
    text = plt.build()
    plt.main()
    plt.clear_figure()
    text = text if color else plt.uncolorize(text)
    return "\n".join(TRAILING.sub(r"\1", line) for line in text.split("\n"))


#: Spaces at the end of a line, among colour codes (which are kept).
TRAILING = re.compile(r" +((?:\x1b\[[0-9;]*m)*)$")


RAMP = " .:-=+*#%@"


def shaded(data: PlotData, width: int, height: int) -> str:
    """Two variables in the terminal: f as a character-shaded map (low ' ' to high '@'),
    the first variable across, the second up."""
    v = np.asarray(data.value, dtype=float)
    (x0, x1), (y0, y1) = ((float(a[0]), float(a[-1])) for a in data.axes)
    cols, rows = max(10, width - 10), max(5, height - 4)
    ix = np.linspace(0, v.shape[1] - 1, cols).round().astype(int)
    iy = np.linspace(v.shape[0] - 1, 0, rows).round().astype(int)  # top row: largest y
    grid = v[np.ix_(iy, ix)]
    finite = np.isfinite(grid)
    lo, hi = (grid[finite].min(), grid[finite].max()) if finite.any() else (0.0, 1.0)
    with np.errstate(all="ignore"):
        level = np.where(finite, (grid - lo) / ((hi - lo) or 1.0), 0)
    idx = np.clip((level * (len(RAMP) - 1)).round().astype(int), 0, len(RAMP) - 1)
    a, b = data.wrt
    lines = [f"f({a}, {b}) = {shortened(data.expression, width - 12)}"]
    for r, row in enumerate(idx):
        label = f"{y1:8.3g} " if r == 0 else f"{y0:8.3g} " if r == rows - 1 else " " * 9
        lines.append(
            label + "│" + "".join("?" if not finite[r, c] else RAMP[k] for c, k in enumerate(row))
        )
    lines.append(" " * 9 + "└" + "─" * cols)
    lines.append(" " * 10 + f"{x0:<.3g}".ljust(cols - 8) + f"{x1:>8.3g}")
    lines.append(
        f"{' ' * 10}{a} across, {b} up; shades from {lo:.4g} ( ) to {hi:.4g} (@)"
        + ("; ? not finite" if not finite.all() else "")
    )
    return "\n".join(lines)


def save(data: PlotData, path: str) -> None:
    """Draw to PNG, SVG or PDF with matplotlib (the `plot` extra)."""
    try:
        import matplotlib
    except ImportError:
        raise MissingPackage(
            f"writing {path} needs matplotlib, which is not installed",
            hint="pip install 'gradcli[plot]' (or pip install matplotlib); without "
            "--output the plot is drawn in the terminal",
        ) from None
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    if len(data.wrt) == 1:
        rows = 1 + len(data.derivatives)
        fig = Figure(figsize=(7, 2.4 * rows + 0.6), layout="constrained")
        axs = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
        x = data.axes[0]
        name = data.wrt[0]
        curves = [(f"f({name})", data.value, "C0")] + [
            (label, d, c)
            for label, d, c in zip(labels(data), data.derivatives, ("C3", "C2"), strict=False)
        ]
        for ax, (label, ys, c) in zip(axs, curves, strict=True):
            ax.plot(x, ys, color=c, lw=1.8)
            ax.axhline(0, color="0.6", lw=0.8)
            ax.set_ylabel(label)
            ax.grid(True, alpha=0.3)
        axs[-1].set_xlabel(name)
        axs[0].set_title(f"f({name}) = {_literal(data.expression)}")
    else:
        fig = Figure(figsize=(7, 6), layout="constrained")
        ax = fig.subplots()
        X, Y = np.meshgrid(*data.axes)
        v = np.ma.masked_invalid(data.value)
        filled = ax.contourf(X, Y, v, levels=20, cmap="viridis")
        ax.contour(X, Y, v, levels=20, colors="k", linewidths=0.4, alpha=0.5)
        fig.colorbar(filled, ax=ax, label="f")
        n = len(data.axes[0])
        step = max(1, round(n / 15))  # about 15 arrows a side
        gx, gy = (np.ma.masked_invalid(d)[::step, ::step] for d in data.derivatives)
        spacing = min((a[-1] - a[0]) / (len(a) - 1) * step for a in data.axes)
        longest = float(np.ma.sqrt(gx * gx + gy * gy).max() or 0) or 1.0
        ax.quiver(
            X[::step, ::step],
            Y[::step, ::step],
            gx,
            gy,
            color="white",
            edgecolor="k",
            linewidth=0.4,
            angles="xy",
            scale_units="xy",
            scale=longest / (0.9 * spacing),
            width=0.005,
            pivot="mid",
        )
        ax.set_xlabel(data.wrt[0])
        ax.set_ylabel(data.wrt[1])
        ax.set_aspect("equal", adjustable="box")
        ax.set_title(f"f({', '.join(data.wrt)}) = {_literal(data.expression)}    arrows: ∇f")
    try:
        fig.savefig(path, dpi=120)
    except OSError as err:
        raise UsageError(f"cannot write {path}: {err.strerror or err}", hint=OUTPUT_HINT) from None


#: How to fix an --output that cannot be written.
OUTPUT_HINT = "give a file in a folder that exists and that you can write to"


def check_output(path: str) -> None:
    """Refuse, before any work, an --output that is a folder or in a missing folder."""
    import os

    folder = os.path.dirname(path) or "."
    if os.path.isdir(path):
        raise UsageError(f"--output {path} is a folder, not a file", hint=OUTPUT_HINT)
    if not os.path.isdir(folder):
        raise UsageError(f"--output {path}: the folder {folder} does not exist", hint=OUTPUT_HINT)


def _literal(text: str) -> str:
    """User text for a matplotlib label: its $ signs are not mathtext."""
    return text.replace("$", r"\$")
