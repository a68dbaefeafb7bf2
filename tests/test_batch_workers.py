"""Batches in worker processes (--jobs): the records, the messages and the exit code are
those of one process, byte for byte, in order; a worker's error is raised in its place;
nothing hangs when a worker dies or the reader goes away."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from typer.testing import CliRunner

from gradcli.cli import ndjson, workers
from gradcli.cli.app import app
from gradcli.errors import InternalError, LimitError

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="workers are forked")
runner = CliRunner()


# -- workers.ordered ------------------------------------------------------------------------


def _tasks(n: int):
    """Tasks for `workers.ordered`: (bytes, the rest), the bytes saying the number too."""
    return [(b"%d" % k, k) for k in range(n)]


def _slow_square(task):
    text, n = task
    assert bytes(text) == b"%d" % n
    time.sleep(0.02 * (n % 3 == 0))  # some tasks slower: the order must not follow them
    return b"%d;" % (n * n), os.getpid()


def test_outcomes_come_in_the_tasks_order_from_several_processes():
    with workers.ordered(_slow_square, _tasks(20), 3) as done:
        got = [(bytes(text), pid) for text, pid in done]
    assert [t for t, _ in got] == [b"%d;" % (n * n) for n in range(20)]
    assert len({pid for _, pid in got}) == 3 and os.getpid() not in {p for _, p in got}


@pytest.mark.parametrize("tasks, jobs", [(1, 4), (5, 1), (0, 2)])
def test_one_task_or_one_job_runs_here(tasks, jobs):
    with workers.ordered(_slow_square, _tasks(tasks), jobs) as done:
        got = list(done)
    assert [t for t, _ in got] == [b"%d;" % (n * n) for n in range(tasks)]
    assert {pid for _, pid in got} <= {os.getpid()}


def _fails_at_3(task):
    n = task[1]
    if n == 3:
        raise LimitError("over the time limit", hint="give --time-limit")
    return b"", n


def test_an_error_in_a_worker_is_raised_in_its_place():
    seen = []
    with (
        pytest.raises(LimitError, match="over the time limit") as e,
        workers.ordered(_fails_at_3, _tasks(8), 2) as done,
    ):
        for _, n in done:
            seen.append(n)
    assert seen == [0, 1, 2] and e.value.hint == "give --time-limit"


def _dies_at_2(task):
    n = task[1]
    if n == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return b"", n


def test_a_worker_that_dies_is_an_internal_error_not_a_hang():
    with (
        pytest.raises(InternalError, match="ended unexpectedly"),
        workers.ordered(_dies_at_2, _tasks(6), 2) as done,
    ):
        list(done)


def test_leaving_early_ends_every_worker():
    with workers.ordered(_slow_square, _tasks(50), 2) as done:
        next(done)
    time.sleep(0.05)
    assert not _children()


def _children() -> list[int]:
    """This process's live child processes (Linux), zombies left out."""
    me = str(os.getpid())
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc") if os.path.isdir("/proc") else []):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me and fields[0] != "Z":
            found.append(int(pid))
    return found


# -- the command line: --jobs N equals one process, byte for byte -------------------------


def _run(jobs: int, *args, text: str):
    r = runner.invoke(app, [*args, "--points", "-", "--jobs", str(jobs)], input=text)
    return r.exit_code, r.stdout, r.stderr


MIXED = [
    '{"x": 0.5, "y": 2}',
    '{"x": -1.25, "y": 1e-7}',
    "",
    '{"x": 3, "y": "2"}',  # a string: an error record
    "   ",
    '{"x": [1, 2], "y": 1}',  # an array: that chunk goes point by point
    '{"x": 1, "y": 2, "y": 3}',
    '{"x": NaN, "y": 1}',
    "not json",
    '{"x": 1e308, "y": 10}',  # overflow: inf in the record, as one process writes it
    '{"y": 2}',
    '{"x": 2.5, "y": -0.5}',
]


@pytest.mark.parametrize("command", ["grad", "eval"])
def test_jobs_write_what_one_process_writes(monkeypatch, command):
    monkeypatch.setattr(ndjson, "CHUNK", 4)
    monkeypatch.setattr(ndjson, "READ", 64)
    text = "\n".join(MIXED * 3) + "\n"
    one = _run(1, command, "x**2*y + sin(x*y)", text=text)
    assert one[0] == 1 and len(one[1].splitlines()) == 30  # 36 lines, 6 blank
    for jobs in (2, 3):
        assert _run(jobs, command, "x**2*y + sin(x*y)", text=text) == one


def _timeless(doc):
    """A record without the check's timings (the one thing two runs may not share)."""
    if isinstance(doc, dict):
        return {k: _timeless(v) for k, v in doc.items() if k != "seconds"}
    return doc


def test_jobs_with_the_check_and_a_bound_variable(monkeypatch):
    monkeypatch.setattr(ndjson, "CHUNK", 2)
    text = "".join(json.dumps({"x": 0.1 * i}) + "\n" for i in range(7))
    args = ("grad", "x**2*y", "--at", "y=3", "--check")
    runs = [_run(jobs, *args, text=text) for jobs in (1, 2)]
    docs = [[_timeless(json.loads(d)) for d in out.splitlines()] for _, out, _ in runs]
    assert [d["check"]["verdict"] for d in docs[0]] == ["agree"] * 7
    assert docs[1] == docs[0] and runs[0][0::2] == runs[1][0::2] == (0, "")


lines = st.one_of(
    st.builds(lambda x, y: json.dumps({"x": x, "y": y}), st.floats(-1e3, 1e3), st.integers(-9, 9)),
    st.sampled_from(MIXED),
    st.text(st.characters(codec="utf-8", exclude_characters="\n"), max_size=12),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(lines, max_size=25), st.integers(1, 6), st.booleans())
def test_any_batch_in_workers_equals_one_process(monkeypatch, batch, chunk, newline_at_end):
    monkeypatch.setattr(ndjson, "CHUNK", chunk)
    text = "\n".join(batch) + ("\n" if newline_at_end else "")
    assert _run(2, "grad", "x*y + exp(x/1000)", text=text) == _run(
        1, "grad", "x*y + exp(x/1000)", text=text
    )


def test_jobs_must_be_a_positive_number():
    r = runner.invoke(app, ["grad", "x", "--points", "-", "--jobs", "0"], input="")
    assert r.exit_code == 2 and "--jobs" in r.output


# -- real processes: a closed pipe, the whole file --------------------------------------------


@pytest.fixture(scope="module")
def points_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "p.ndjson"
    with open(path, "w") as f:
        for i in range(60_000):  # a few chunks
            f.write(json.dumps({"x": i / 1e4, "y": 1.5}) + "\n")
    return path


def test_a_closed_pipe_ends_the_batch_and_its_workers_quietly(points_file):
    cmd = [sys.executable, "-m", "gradcli", "grad", "x**2*y", "--points", str(points_file)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.read(1000)
    proc.stdout.close()
    assert proc.wait(timeout=60) == 141
    assert proc.stderr.read() == b""


def test_a_file_in_workers_equals_one_process(points_file):
    cmd = [sys.executable, "-m", "gradcli", "grad", "x**2*y", "--points", str(points_file)]
    one = subprocess.run([*cmd, "--jobs", "1"], capture_output=True, timeout=120)
    two = subprocess.run([*cmd, "--jobs", "2"], capture_output=True, timeout=120)
    assert (two.returncode, two.stdout, two.stderr) == (0, one.stdout, one.stderr)
    assert len(one.stdout.splitlines()) == 60_000


def test_ctrl_c_ends_the_batch_and_its_workers_without_a_traceback(points_file):
    cmd = [sys.executable, "-m", "gradcli", "grad", "x**2*y", "--points", str(points_file)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.read(1000)  # the batch is under way
    proc.send_signal(signal.SIGINT)
    proc.stdout.read()
    assert proc.wait(timeout=60) == 130
    assert proc.stderr.read().decode().strip() == "interrupted"
