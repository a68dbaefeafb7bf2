"""`gc.compile(text)`: a parsed expression or program with eval/grad/vjp/jvp/jacobian/hessian.

The command line is a thin layer over this. Points are dicts of name → array, or keyword
arguments (a variable named like an option — v, wrt, mode, tangents, intermediates — is
given in the dict); results are `Result` objects.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import numpy as np

from .engine import clock, functional
from .engine.backward import run_backward
from .engine.functions import FUNCTIONS
from .engine.memory import as_bytes
from .engine.tensor import Tensor, enable_grad, no_grad, resolve_dtype
from .errors import (
    EvalError,
    GradcliError,
    NotScalarError,
    ShapeError,
    UnboundVariableError,
    UsageError,
)
from .lang import syntax as S
from .lang.interpret import Draws, Interpreter, Limits, Run, TensorBackend
from .lang.parse import parse
from .lang.points import seed_value
from .result import Result
from .values import cotangent, numeric

if TYPE_CHECKING:
    from typing import TypeAlias

    from numpy.typing import ArrayLike, DTypeLike

    from .batch import Columns

    #: Variables to differentiate by: a name, names separated by commas, or a list of names.
    Wrt: TypeAlias = str | Sequence[str] | None

P = ParamSpec("P")
R = TypeVar("R")

MODES = {"auto": "auto", "rev": "reverse-mode", "fwd": "forward-mode"}


def compile(
    text: str,
    *,
    dtype: DTypeLike = "float64",
    strict: bool = False,
    max_elements: int = 10**8,
    max_iterations: int = 100_000,
    time_limit: float | None = 60.0,
    seed: int | None = None,
    max_memory: int | str | None = None,
) -> Compiled:
    """Parse `text` (an expression or a program) once; evaluate it at many points. Each call
    of a method (eval, grad, …, batch) must finish within `time_limit` seconds (None: no
    limit), parse included for the first, else a LimitError.

    Random constants in the text (`randn(3)`) are drawn once, from `seed` (None: the
    generator of gc.manual_seed), and kept: every evaluation and the check see the same draw.

    Limits: `max_elements` per array (and per Jacobian or Hessian), `max_iterations` of
    loops, `time_limit` (above), and `max_memory`, the bytes a recorded graph may hold (a number,
    or text such as "4GB"; None: 4 GiB, or half the physical memory if less).

        >>> f = compile("x*x + 3*x + 1")
        >>> f.grad(x=2).gradient["x"]
        array(7.)
    """
    if time_limit is not None:
        time_limit = positive_seconds(time_limit, "the time limit")
    with clock.limit(time_limit):
        return Compiled(
            text,
            dtype=dtype,
            strict=strict,
            limits=Limits(
                _count(max_elements, "max_elements"),
                _count(max_iterations, "max_iterations"),
                time_limit,
                None if max_memory is None else as_bytes(max_memory),
            ),
            seed=seed,
        )


def positive_seconds(value: float | str, what: str) -> float:
    """A time limit given by the user (`gc.compile(time_limit=)`, --time-limit): a positive,
    finite number of seconds."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise UsageError(
            f"{what} must be a positive number of seconds, not {value!r}",
            hint="for example --time-limit 60",
        )
    return seconds


def _timed(method: Callable[Concatenate[Compiled, P], R]) -> Callable[Concatenate[Compiled, P], R]:
    """Run a method within the program's time limit: one deadline per call, unless the
    caller has one already (the command line sets one for the whole run)."""

    @functools.wraps(method)
    def timed(self: Compiled, *args: P.args, **kwargs: P.kwargs) -> R:
        with clock.limit(self.limits.time_limit):
            return method(self, *args, **kwargs)

    return timed


def _guarded(
    method: Callable[Concatenate[Compiled, P], R],
) -> Callable[Concatenate[Compiled, P], R]:
    """`_timed`, and one budget of elements and memory (`Limits.guard`) for all the
    evaluations and derivative passes of the call."""

    @functools.wraps(method)
    def guarded(self: Compiled, *args: P.args, **kwargs: P.kwargs) -> R:
        with clock.limit(self.limits.time_limit), self.limits.guard():
            return method(self, *args, **kwargs)

    return guarded


class Compiled:
    """A parsed expression or program."""

    def __init__(
        self, text: str, *, dtype: DTypeLike, strict: bool, limits: Limits, seed: int | None = None
    ) -> None:
        if not isinstance(text, str):
            raise TypeError(
                f"compile() takes the text of an expression or a program (a str), "
                f"not {type(text).__name__}"
            )
        self.text = text
        self.program: S.Program = parse(text)
        clock.check("parsing")
        self.dtype = resolve_dtype(dtype)
        self.strict = strict
        self.limits = limits
        self.draws = Draws(seed_value(seed))

    @property
    def free_vars(self) -> tuple[str, ...]:
        return self.program.free_vars

    @property
    def assigned(self) -> tuple[str, ...]:
        return self.program.assigned

    def __repr__(self) -> str:
        return f"compile({self.text!r})"

    # -- points and runs -------------------------------------------------------------------
    def point(self, point: dict | None = None, **bindings: ArrayLike) -> dict[str, np.ndarray]:
        """Check and convert the bindings: every free variable bound, no stray names."""
        given = {**(point or {}), **bindings}
        stray = [n for n in given if n not in self.free_vars]
        if stray:
            raise UsageError(
                f"{', '.join(stray)} {'is' if len(stray) == 1 else 'are'} not a "
                "variable of the expression",
                hint="its variables are: " + (", ".join(self.free_vars) or "none"),
            )
        missing = [n for n in self.free_vars if n not in given]
        if missing:
            raise UnboundVariableError(
                f"no value for {', '.join(missing)}",
                hint="give "
                + ", ".join(f"--at {n}=VALUE" for n in missing)
                + f" (free variables: {', '.join(self.free_vars)})",
            )
        return {
            name: numeric(given[name], self.dtype, f"the value of {name}")
            for name in self.free_vars
        }

    def resolve_wrt(self, wrt: Wrt) -> tuple[str, ...]:
        """The variables to differentiate by, checked: `wrt` as names ("x,y", or a list),
        once each in the order given; every free variable for None."""
        if wrt is None:
            return self.free_vars
        if not isinstance(wrt, (str, tuple, list)):
            raise TypeError(
                f"wrt is a name, names separated by commas, or a list of names; "
                f"not {type(wrt).__name__}"
            )
        names = tuple(n.strip() for n in wrt.split(",")) if isinstance(wrt, str) else tuple(wrt)
        if not names or not all(names):
            raise UsageError(
                "--wrt names no variable",
                hint="its variables are: " + (", ".join(self.free_vars) or "none"),
            )
        names = tuple(dict.fromkeys(names))  # once each, in the order given
        for n in names:
            if n not in self.free_vars:
                raise UsageError(
                    f"--wrt {n}: {n} is not a variable of the expression",
                    hint="its variables are: " + (", ".join(self.free_vars) or "none"),
                )
        return names

    def run(self, point: dict[str, np.ndarray], leaves: dict[str, Tensor] | None = None) -> Run:
        """One evaluation at a checked point (`point()`), the variables in `leaves` given as
        those tensors (leaves requiring grad, to record the graph under enable_grad); the
        Run holds the value, the environment, the warnings and each node's place in the
        text. No time limit or budget of its own: the caller's holds."""
        env = {n: Tensor.wrap(a) for n, a in point.items()}
        env.update(leaves or {})
        backend = TensorBackend(self.dtype)
        run = Interpreter(
            self.program, backend, self.limits, check_domain=False, draws=self.draws
        ).run(env)
        if not isinstance(run.value, Tensor):
            raise EvalError(
                "the expression does not give a numeric value",
                source=self.text,
                hint="the result must be a number or an array",
            )
        if run.value.dtype.kind == "f" and not np.isfinite(run.value.data).all():
            run.warnings = self._domain_warnings(point)
        return run

    def _domain_warnings(self, point: dict[str, np.ndarray]) -> list:
        """Re-run, checking every operation, to name the one that made NaN or infinity
        (a second pass only when the result holds them; under strict, the error)."""
        env = {n: Tensor.wrap(a) for n, a in point.items()}
        with no_grad():
            return (
                Interpreter(
                    self.program,
                    TensorBackend(self.dtype),
                    self.limits,
                    strict=self.strict,
                    draws=self.draws,
                )
                .run(env)
                .warnings
            )

    def leaves(self, point: dict[str, np.ndarray], wrt: Iterable[str]) -> dict[str, Tensor]:
        """The `wrt` variables of a checked point as fresh leaves requiring grad."""
        return {n: Tensor(point[n]).requires_grad_() for n in wrt}

    def _function(
        self, point: dict[str, np.ndarray], wrt: Sequence[str], runs: list[Run]
    ) -> Callable[..., Tensor]:
        """The expression as a function of the `wrt` variables (for gc.functional);
        each evaluation's Run is appended to `runs`."""

        def f(*xs: Tensor) -> Tensor:
            run = self.run(point, dict(zip(wrt, xs, strict=True)))
            runs.append(run)
            return run.value

        return f

    def _result(
        self,
        command: str,
        point: dict[str, np.ndarray],
        run: Run,
        wrt: Iterable[str] = (),
        **fields: Any,
    ) -> Result:
        return Result(
            command, self.text, point, run.value.data, tuple(wrt), warnings=run.warnings, **fields
        )

    # -- commands ----------------------------------------------------------------------------
    @_timed
    def eval(self, point: dict | None = None, /, **bindings: ArrayLike) -> Result:
        """The value at the point."""
        p = self.point(point, **bindings)
        with no_grad():
            run = self.run(p)
        return self._result("eval", p, run)

    def grad(
        self,
        point: dict | None = None,
        /,
        *,
        wrt: Wrt = None,
        intermediates: bool = False,
        explain: bool | str = False,
        **bindings: ArrayLike,
    ) -> Result:
        """The gradient of a scalar (or one-element) output w.r.t. each variable; with
        `explain` (True, or "full": chains not folded), `result.explain` holds the backward
        pass step by step (`gradcli/explain.py`)."""
        return self._backward("grad", point, None, wrt, intermediates, bindings, explain)

    def vjp(
        self,
        point: dict | None = None,
        /,
        *,
        v: ArrayLike | None = None,
        wrt: Wrt = None,
        intermediates: bool = False,
        explain: bool | str = False,
        **bindings: ArrayLike,
    ) -> Result:
        """vᵀJ per variable, v shaped like the output."""
        if v is None:
            raise UsageError("vjp needs a vector v shaped like the output", hint="--v VALUE")
        return self._backward("vjp", point, v, wrt, intermediates, bindings, explain)

    @_guarded
    def _backward(
        self,
        command: str,
        point: dict | None,
        v: ArrayLike | None,
        wrt: Wrt,
        intermediates: bool,
        bindings: dict[str, ArrayLike],
        explain: bool | str = False,
    ) -> Result:
        p = self.point(point, **bindings)
        wrt = self.resolve_wrt(wrt)
        if not intermediates and not explain:
            from .blocked import blocked_grad

            if command == "grad":
                blocked = blocked_grad(self, p, wrt)
                if blocked is not None:
                    return Result(command, self.text, p, blocked[0], wrt, gradient=blocked[1])
            else:
                cot = numeric(v, self.dtype, "v")
                blocked = blocked_grad(self, p, wrt, elementwise=True, cotangent=cot)
                if blocked is not None:
                    return Result(
                        command, self.text, p, blocked[0], wrt, vjp=blocked[1], cotangent=cot
                    )
        leaves = self.leaves(p, wrt)
        with enable_grad():
            run = self.run(p, leaves)
        out = run.value
        if v is None:
            if out.data.size != 1:
                raise NotScalarError(
                    f"grad needs a scalar output, but the expression gives shape {out.shape}",
                    source=self.text,
                    hint="reduce it with `| sum` or `| mean`, or use "
                    "`gradcli vjp --v ...` or `gradcli jacobian`",
                )
            cot = np.ones_like(out.data)
        else:
            cot = cotangent(v, out)
        names = [n for n in run.env if n not in wrt] if intermediates else []
        captured = {}
        explainer = None
        if explain:
            from .explain import Explainer

            explainer = Explainer(run, out, leaves, self.text)
        if out.requires_grad:
            targets = list(leaves.values()) + [run.env[n] for n in names]
            captured = run_backward(
                [out],
                [Tensor.wrap(cot)],
                retain_graph=False,
                create_graph=False,
                capture=targets,
                accumulate=False,
                watch=explainer.watch if explainer else None,
            )
        grads = {n: _grad_of(captured, leaves[n]) for n in wrt}
        extra = {n: _grad_of(captured, run.env[n]) for n in names} if intermediates else None
        steps = explainer.steps(grads, full=explain == "full") if explainer else None
        if command == "grad":
            return self._result(
                command, p, run, wrt, intermediates=extra, gradient=grads, explain=steps
            )
        return self._result(
            command, p, run, wrt, intermediates=extra, vjp=grads, cotangent=cot, explain=steps
        )

    @_guarded
    def jvp(
        self,
        point: dict | None = None,
        /,
        *,
        tangents: Mapping[str, ArrayLike] | None = None,
        wrt: Wrt = None,
        **bindings: ArrayLike,
    ) -> Result:
        """J·v by forward mode; tangents not given are zero."""
        p = self.point(point, **bindings)
        if tangents is not None and not isinstance(tangents, Mapping):
            raise TypeError(f"tangents is a dict of name -> tangent, not {type(tangents).__name__}")
        tangents = dict(tangents or {})
        stray = [n for n in tangents if n not in self.free_vars]
        if stray:
            raise UsageError(
                f"tangent for {', '.join(stray)}, which is not a variable",
                hint="its variables are: " + ", ".join(self.free_vars),
            )
        wrt = self.resolve_wrt(wrt) if wrt is not None else tuple(tangents) or self.free_vars
        vs = []
        for n in wrt:
            t = (
                numeric(tangents[n], self.dtype, f"the tangent of {n}")
                if n in tangents
                else np.zeros_like(p[n])
            )
            if t.shape != p[n].shape:
                t = np.broadcast_to(t, p[n].shape) if t.ndim == 0 else t
                if t.shape != p[n].shape:
                    raise ShapeError(
                        f"the tangent of {n} has shape {t.shape}, but {n} has shape {p[n].shape}",
                        hint=f"give {n}'s tangent its shape",
                    )
            vs.append(t)
        runs: list[Run] = []
        with no_grad():
            _, tangent = functional.jvp(
                self._function(p, wrt, runs), tuple(p[n] for n in wrt), tuple(vs)
            )
        return self._result(
            "jvp", p, runs[-1], wrt, jvp=tangent.data, tangents=dict(zip(wrt, vs, strict=True))
        )

    @_guarded
    def jacobian(
        self,
        point: dict | None = None,
        /,
        *,
        wrt: Wrt = None,
        mode: str = "auto",
        **bindings: ArrayLike,
    ) -> Result:
        """The full Jacobian per variable: output shape + variable shape."""
        if mode not in MODES:
            raise UsageError(f"unknown mode {mode!r}", hint="use auto, rev or fwd")
        p = self.point(point, **bindings)
        wrt = self.resolve_wrt(wrt)
        runs: list[Run] = []
        if not wrt:  # a constant: no variable to differentiate by
            runs.append(self.run(p))
        jac = (
            functional.jacobian(
                self._function(p, wrt, runs), tuple(p[n] for n in wrt), strategy=MODES[mode]
            )
            if wrt
            else ()
        )
        return self._result(
            "jacobian",
            p,
            runs[-1],
            wrt,
            jacobian={n: j.data for n, j in zip(wrt, jac, strict=True)},
        )

    @_guarded
    def hessian(
        self, point: dict | None = None, /, *, wrt: Wrt = None, **bindings: ArrayLike
    ) -> Result:
        """Second derivatives of a scalar output, per pair of variables."""
        p = self.point(point, **bindings)
        wrt = self.resolve_wrt(wrt)
        run = self.run(p)
        if run.value.data.size != 1:
            raise NotScalarError(
                f"hessian needs a scalar output, but the expression gives shape {run.value.shape}",
                source=self.text,
                hint="reduce it with `| sum` or `| mean`",
            )
        h = functional.hessian(self._function(p, wrt, []), tuple(p[n] for n in wrt)) if wrt else ()
        return self._result(
            "hessian",
            p,
            run,
            wrt,
            hessian={
                a: {b: h[i][j].data.reshape(p[a].shape + p[b].shape) for j, b in enumerate(wrt)}
                for i, a in enumerate(wrt)
            },
        )

    # -- the symbolic cross-check ---------------------------------------------------------------
    @_timed
    def check(self, result: Result, *, timeout: float = 5.0, latex: bool = False) -> Result:
        """Cross-check a result's derivatives against sympy and finite differences; the
        report goes to `result.check`: its "status" (agree, disagree, kink, not-checked,
        skipped), "reason" and "exit_code"; "agree" says whether all three agree."""
        from .check.cross_check import check
        from .lang.analysis import split_reduction

        result.check = check(
            self,
            result,
            timeout=seconds(timeout, "timeout"),
            latex=latex,
            elementwise=split_reduction(self.program),
        )
        return result

    def symbolic(
        self,
        wrt: str | None = None,
        *,
        order: int = 1,
        point: dict | None = None,
        latex: bool = False,
        timeout: float = 5.0,
    ) -> dict:
        """The symbolic derivative as a formula (variables are scalars unless `point` gives
        their shapes)."""
        from .formulas import diff

        if wrt is None:
            if len(self.free_vars) != 1:
                raise UsageError(
                    "name the variable to differentiate by (--wrt)",
                    hint="its variables are: " + ", ".join(self.free_vars),
                )
            wrt = self.free_vars[0]
        return diff(
            self,
            wrt,
            order=order,
            latex=latex,
            timeout=seconds(timeout, "timeout"),
            point=None if point is None else self.point(point),
        )

    # -- batches -------------------------------------------------------------------------------
    @_timed
    def grad_points(
        self,
        point: dict | None = None,
        /,
        *,
        wrt: Wrt = None,
        value: bool = True,
        **columns: ArrayLike,
    ) -> Columns:
        """The gradient at each of n points given column-wise (1-D arrays of n values per
        variable) of an elementwise expression: one vectorised pass, block by block. With
        `value=False`, the values are not computed (`.value` is None), nor the steps that
        only they need, such as sin(x*y) in x**2*y + sin(x*y). (Variables named `wrt` or
        `value` go in the `point` dict.)

            >>> compile("x**2*y").grad_points(x=[1., 2.], y=[3., 4.]).gradient["x"]
            array([ 6., 16.])
        """
        from .batch import columns as by_columns

        cols = {
            k: numeric(v, self.dtype, f"the column {k}")
            for k, v in {**(point or {}), **columns}.items()
        }
        got = by_columns(self, "grad", cols, wrt, value=value)
        if got is None:
            raise UsageError(
                "grad_points needs an elementwise expression and 1-D arrays of "
                "one length, with finite results",
                hint="batch('grad', points) takes any expression and points",
            )
        return got

    @_timed
    def batch(
        self,
        command: str,
        points: list[dict],
        *,
        wrt: Wrt = None,
        v: ArrayLike | None = None,
        tangents: Mapping[str, ArrayLike] | None = None,
        intermediates: bool = False,
        mode: str = "auto",
    ) -> list[Result | GradcliError]:
        """One result (or the error) per point; elementwise expressions of points that share
        their shapes run vectorised, stacked along a batch axis, in one pass."""
        from .batch import run_batch

        if isinstance(points, (str, bytes, Mapping)) or not isinstance(points, Iterable):
            raise TypeError(
                f"batch takes a list of points (dicts of bindings), not {type(points).__name__}"
            )
        points = list(points)
        for i, p in enumerate(points):
            if not isinstance(p, Mapping):
                raise UsageError(
                    f"point {i} of the batch is not a mapping of names to values "
                    f"(it is of type {type(p).__name__})",
                    hint='each point is a dict such as {"x": 1.0, "y": 2.0}',
                )
        return run_batch(
            self,
            command,
            points,
            wrt=wrt,
            v=v,
            tangents=tangents,
            intermediates=intermediates,
            mode=mode,
        )


#: The longest time limit a check accepts, in seconds (a day).
MAX_SECONDS = 86_400.0


def seconds(value: float, what: str) -> float:
    """A time limit given by the user: a number of seconds from 0 to MAX_SECONDS."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{what} is a number of seconds, not {type(value).__name__}")
    if not 0 <= value <= MAX_SECONDS:  # also refuses NaN
        raise UsageError(
            f"{what} must be between 0 and {MAX_SECONDS:g} seconds, not {value}",
            hint="a few seconds is usual; the default is 5",
        )
    return float(value)


def _count(value: float, what: str) -> int:
    """A limit given by the user: a whole number of at least 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{what} is a whole number, not {type(value).__name__}")
    if not (1 <= value < math.inf and value == int(value)):  # also refuses NaN
        raise UsageError(
            f"{what} must be a whole number of at least 1, not {value}", hint=f"e.g. {what}=1000000"
        )
    return int(value)


def _grad_of(captured: dict, t: Tensor) -> np.ndarray:
    g = captured.get(id(t))
    return g.data if g is not None else np.zeros_like(t.data)


__all__ = ["FUNCTIONS", "Compiled", "compile"]
