"""One clock for a run (--time-limit, gc.compile(time_limit=)), and the garbage collector's
pause under threads. No timings are asserted: a fake clock makes the limit pass on cue, and
expensive work is refused from its estimate before it starts."""

import gc as collector
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import gradcli as gc
from gradcli.cli.app import app
from gradcli.engine import clock
from gradcli.errors import LimitError, UsageError

ROOT = Path(__file__).resolve().parent.parent
GRADCLI = Path(sys.executable).parent / "gradcli"
runner = CliRunner()


class FakeTime:
    """time.monotonic advancing by `step` seconds at each read."""

    def __init__(self, step: float = 1.0):
        self.now, self.step = 0.0, step

    def monotonic(self) -> float:
        self.now += self.step
        return self.now


@pytest.fixture
def fake_time(monkeypatch):
    fake = FakeTime()
    monkeypatch.setattr(clock, "time", fake)
    return fake


def capped(*args: str, limit_kb: int = 2_000_000) -> subprocess.CompletedProcess:
    """gradcli in a process under a memory cap, with a generous hang guard (no timing)."""
    command = " ".join(f"'{a}'" for a in args)
    return subprocess.run(
        f'ulimit -v {limit_kb}; "{GRADCLI}" {command}',
        shell=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


# -- the deadline ---------------------------------------------------------------------------


def test_every_loop_iteration_reads_the_clock(fake_time):
    f = gc.compile("y = x\nwhile y > 0:\n    y = y + 1\ny", time_limit=10)
    with pytest.raises(LimitError) as err:
        f.eval(x=1.0)
    assert "the loop took longer than the time limit of 10 s" in err.value.message
    assert "--time-limit" in err.value.hint
    assert err.value.span.line == 2
    assert fake_time.now < 20  # a read an iteration (and a few more): not every 64th


def test_for_loops_too(fake_time):
    f = gc.compile("y = x\nfor i in range(1000):\n    y = y * 2\ny", time_limit=5)
    with pytest.raises(LimitError, match="time limit of 5 s"):
        f.grad(x=1.0)


def test_an_expensive_product_is_refused_before_it_runs():
    a = np.ones((4000, 4000))
    f = gc.compile("sum(A @ A)")
    with clock.limit(0.1), pytest.raises(LimitError) as err:  # the earlier deadline holds
        f.eval(A=a)  # 1.3e11 flops: more than 0.1 s at 1e12 flop/s
    assert "matmul would take about 1.3e+11 floating-point operations" in err.value.message
    assert "--time-limit" in err.value.hint
    assert (err.value.span.col, err.value.span.end_col) == (4, 9)  # under A @ A


@pytest.mark.parametrize("fn", [lambda a: gc.solve(a, a), gc.inv, gc.det])
def test_solves_are_estimated_too(fn, fake_time):
    # the clock stands still (fake_time): only the estimate can refuse, however loaded the
    # machine (a real 0.01 s could pass before the check, giving "took longer" instead)
    fake_time.step = 0.0
    a = gc.tensor(np.eye(3000))  # det: 1.8e10 flops, more than 0.01 s at 1e12 flop/s
    with clock.limit(0.01), pytest.raises(LimitError, match="would take about"):
        fn(a)


def test_backward_reads_the_clock():
    x = gc.tensor(np.ones((200, 200)), requires_grad=True)
    y = (x @ x).sum()
    with clock.limit(0.01):
        time.sleep(0.05)
        with pytest.raises(LimitError, match="took longer than the time limit"):
            y.backward()
    assert collector.isenabled()


def test_one_deadline_for_a_batch(fake_time):
    f = gc.compile("y = x\nfor i in range(3):\n    y = y * 2\nsum(y)", time_limit=50)
    results = f.batch("eval", [{"x": np.ones(2)}] * 100)
    assert results[0].value == 16
    assert isinstance(results[-1], LimitError)  # the 100 points share the 50 s


def test_five_operand_einsum_contracts_pairwise():
    a = np.full((100, 100), 0.5)
    f = gc.compile('einsum("ab,bc,cd,de,ef->af", a, a, a, a, a) | sum', time_limit=30)
    expected = np.linalg.multi_dot([a] * 5).sum()  # a naive loop: 5e10 steps
    assert f.eval(a=a).value == pytest.approx(expected, rel=1e-12)
    g = f.grad(a=np.eye(100) * 0.5).gradient["a"]
    assert g.shape == (100, 100) and np.isfinite(g).all()


def test_an_expensive_einsum_is_refused_before_it_runs():
    a = gc.tensor(np.ones((1000, 1000)))  # 4e9 flops even contracted pairwise
    with clock.limit(0.1), pytest.raises(LimitError, match="einsum would take about"):
        gc.einsum("ab,bc,cd->ad", a, a, a)


def test_einsum_cost():
    shapes = [np.zeros((10, 20)), np.zeros((20, 30)), np.zeros((30, 5))]
    assert clock.einsum_flops("ab,bc,cd->ad", shapes) == 3 * 10 * 20 * 30 * 5
    assert clock.einsum_flops("ab,bc,cd->ad", shapes, optimize=True) < 3 * 10 * 20 * 30 * 5


def test_an_earlier_deadline_stays():
    with clock.limit(1) as outer:
        with clock.limit(100) as inner:
            assert inner is outer
        with clock.limit(0.5) as sooner:
            assert sooner is not outer and clock.current() is sooner
        assert clock.current() is outer
    assert clock.current() is None


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "a"])
def test_library_time_limit_is_checked(bad):
    with pytest.raises(UsageError, match="time limit"):
        gc.compile("x", time_limit=bad)


# -- the command line -----------------------------------------------------------------------


def test_cli_matmul_chain_stops_at_the_limit():
    program = "y = eye(3000)\nfor i in range(140):\n    y = y @ eye(3000)\nsum(y)"
    p = capped("eval", program, "--time-limit", "0.5", "--json")
    assert p.returncode == 1, p.stderr
    error = json.loads(p.stdout)["error"]
    assert error["type"] == "LimitError" and "time limit of 0.5 s" in error["message"]
    assert "--time-limit" in error["hint"]


def test_cli_plot_respects_the_clock():
    p = capped(
        "plot", "max([x, y])", "--wrt", "x,y", "--points", "2000", "--time-limit", "0.5", "--json"
    )
    assert p.returncode == 1, p.stderr
    assert "time limit of 0.5 s" in json.loads(p.stdout)["error"]["message"]


@pytest.mark.parametrize("bad", ["0", "-1", "nan", "inf", "soon"])
def test_cli_time_limit_is_checked(bad):
    r = runner.invoke(app, ["eval", "x", "--at", "x=1", "--time-limit", bad])
    assert r.exit_code == 2
    assert "--time-limit" in r.stderr


def test_cli_time_limit_default_and_help():
    r = runner.invoke(app, ["eval", "--help"])
    assert "--time-limit" in r.stdout
    r = runner.invoke(app, ["eval", "x*2", "--at", "x=1", "--time-limit", "5", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["value"] == 2


# -- the garbage collector's pause ----------------------------------------------------------


def test_the_collector_is_back_on_after_concurrent_runs():
    """Many short runs in many threads, switching threads as often as Python can: the
    unlocked isenabled()/disable() pairs left the collector off in 4 runs of 5."""
    f = gc.compile("x")
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for _ in range(2):
            threads = [
                threading.Thread(target=lambda: [f.eval(x=2.0) for _ in range(1000)])
                for _ in range(8)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert collector.isenabled()
    finally:
        sys.setswitchinterval(interval)


def test_the_pause_nests_and_keeps_a_disabled_collector_off():
    with clock.gc_paused():
        with clock.gc_paused():
            assert not collector.isenabled()
        assert not collector.isenabled()
    assert collector.isenabled()
    collector.disable()
    try:
        with clock.gc_paused():
            pass
        assert not collector.isenabled()
    finally:
        collector.enable()


def test_the_rate_seen_refuses_the_next_operation(fake_time):
    deadline = clock.Deadline(10)  # the fake clock: a second a read
    deadline.afford(4e9, clock.BLAS_RATE, "matmul")
    deadline.afford(4e9, clock.BLAS_RATE, "matmul")  # the first took ≤ 1 s: 4e9 flop/s
    with pytest.raises(LimitError, match="matmul would take about 1e\\+11"):
        deadline.afford(1e11, clock.BLAS_RATE, "matmul")  # 12.5 s at twice that > 7 s left
