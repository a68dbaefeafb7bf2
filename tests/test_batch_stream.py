"""Batches lose nothing (every failure stays at its line, the rest are computed, in order),
--points streams in bounded memory, and input files that never end or never answer are
refused. The hostile cases run in a child process under a 2 GB address-space cap."""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

import gradcli as gc
from gradcli.cli import ndjson
from gradcli.cli.app import app
from gradcli.errors import UsageError
from gradcli.lang import points as points_module
from gradcli.lang.points import load_file, load_point

runner = CliRunner()
CAP = 2 * 2**30  # bytes of address space for a hostile child

# The child: gradcli's own main under RLIMIT_AS, reporting its peak RSS (KiB) to a file.
CHILD = """
import atexit, resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
atexit.register(lambda: open({rss!r}, "w").write(
    str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)))
{setup}
from gradcli.cli import main
sys.argv[0] = "gradcli"
sys.exit(main())
"""


def capped(tmp_path, *args, input=None, setup="", timeout=120):
    """gradcli ARGS in a child under the memory cap: (the process, its peak RSS in bytes)."""
    rss = tmp_path / "rss"
    code = CHILD.format(cap=CAP, rss=str(rss), setup=setup)
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        input=input,
        capture_output=True,
        timeout=timeout,
        cwd=tmp_path,
    )
    return proc, int(rss.read_text()) * 1024


def records(stdout) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def batch(*args, input):
    r = runner.invoke(app, [*args, "--points", "-"], input=input)
    return r, records(r.stdout)


# -- one bad point loses nothing else ------------------------------------------------------


@pytest.mark.parametrize("bad", ['"NaN"', '"Infinity"'])
def test_a_bad_value_is_an_error_at_its_line_and_the_others_are_computed(bad):
    r, got = batch("eval", "sum(arange(0,x))", input=f'{{"x":3}}\n{{"x":{bad}}}\n{{"x":4}}\n')
    assert r.exit_code == 1
    assert [d["index"] for d in got] == [0, 1, 2] and [d["line"] for d in got] == [1, 2, 3]
    assert got[0]["value"] == 3.0 and got[2]["value"] == 6.0  # 0+1+2, 0+1+2+3
    assert "error" in got[1]


def test_a_point_that_runs_out_of_memory_is_an_error_at_its_line(tmp_path):
    text = '{"x": 1}\n' + json.dumps({"x": list(range(60_000))}) + '\n{"x": [1, 2]}\n'
    proc, _ = capped(
        tmp_path,
        "eval",
        "sum(outer(x,x))",
        "--points",
        "-",
        "--max-elements",
        str(10**10),
        input=text.encode(),
    )
    got = records(proc.stdout)
    assert proc.returncode == 1, proc.stderr
    assert [d["line"] for d in got] == [1, 2, 3]
    assert got[0]["value"] == 1.0 and got[2]["value"] == 9.0  # (1+2)**2
    assert got[1]["error"]["type"] == "LimitError"
    assert b"--points line 2 (index 1)" in proc.stderr and b"Traceback" not in proc.stderr


def test_a_bug_at_one_point_is_an_internal_error_record_and_the_batch_goes_on(monkeypatch):
    prog = gc.compile("x + 1")
    cls = type(prog)
    real = cls.eval

    def flaky(self, point=None, **kw):
        if float(np.asarray((point or kw)["x"])) == 2:
            raise ZeroDivisionError("a bug")
        return real(self, point, **kw)

    monkeypatch.setattr(cls, "eval", flaky)
    got = prog.batch("eval", [{"x": 1.0}, {"x": 2.0}, {"x": 3.0}])
    assert got[0].value == 2 and got[2].value == 4
    assert isinstance(got[1], gc.GradcliError) and got[1].kind == "InternalError"
    r, lines = batch("eval", "x + 1", input='{"x": 1}\n{"x": [2]}\n{"x": 3}\n')
    assert [d.get("value") for d in lines] == [2.0, None, 4.0]
    assert lines[1]["error"]["type"] == "InternalError" and r.exit_code == 1


def test_a_failing_column_pass_falls_back_to_one_point_at_a_time(monkeypatch):
    import gradcli.batch as batch_module

    def broken(*args):
        raise MemoryError

    monkeypatch.setattr(batch_module, "_columns", broken)
    r, got = batch("grad", "x*y", input='{"x": 1, "y": 2}\n{"x": 3, "y": 4}\n')
    assert r.exit_code == 0
    assert [d["gradient"] for d in got] == [{"x": 2.0, "y": 1.0}, {"x": 4.0, "y": 3.0}]


# -- lines: split on \n only; index and line ----------------------------------------------


@pytest.mark.parametrize(
    "sep", ["\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e"]
)
def test_only_newline_splits_lines(sep):
    text = f'{{"x": 1}}\n{{"x": 2, "s{sep}": 1}}\n{{"x": 3}}\r\n{{"x": 4}}\n'
    _, got = batch("eval", "x * 10", input=text)
    assert [d["line"] for d in got] == [1, 2, 3, 4] and [d["index"] for d in got] == [0, 1, 2, 3]
    assert [d.get("value") for d in got] == [10.0, None, 30.0, 40.0]


def test_a_separator_inside_a_string_value_stays_in_its_line():
    _, got = batch("eval", "x + 1", input='{"x": 1}\n{"x": "NaN\u2028"}\n{"x": 2}\n')
    assert len(got) == 3 and got[2]["value"] == 3.0 and got[2]["line"] == 3


@pytest.mark.parametrize("fast", [True, False])
def test_index_counts_points_and_line_counts_every_line(fast):
    # blank lines give no record: index skips them, line counts them
    value = "1" if fast else "[1]"
    text = f'\n{{"x": {value}}}\n\n  \n{{"x": {value}}}\n\n'
    _, got = batch("eval", "x * 2", input=text)
    assert [(d["index"], d["line"]) for d in got] == [(0, 2), (1, 5)]


def test_an_error_in_a_line_is_placed_in_the_file_and_one_in_the_expression_in_it():
    text = '{"x": 1}\n\n{"x": \n{"x": [1, 2]}\n'
    r, got = batch("eval", "sum(x) @ x", input=text)
    assert [d["line"] for d in got] == [1, 3, 4]
    assert got[1]["error"]["position"] == {"line": 3, "col": 7, "end_line": 3, "end_col": 8}
    assert got[2]["error"]["position"]["line"] == 1  # the expression's first line
    assert (
        "--points line 3 (index 1): error: this line of --points is not valid JSON: "
        "Expecting value (line 3, column 7)" in r.stderr
    )
    assert "--points line 4 (index 2): error: matmul" in r.stderr
    assert "(column 1 of the expression)" in r.stderr


def test_a_line_that_is_not_utf8_is_an_error_at_its_line():
    r = runner.invoke(
        app, ["eval", "x + 1", "--points", "-"], input=b'{"x": 1}\n{"x": 2\xff}\n{"x": 3}\n'
    )
    got = records(r.stdout)
    assert [d.get("value") for d in got] == [2.0, None, 4.0]
    assert "UTF-8" in got[1]["error"]["message"] and got[1]["line"] == 2


# -- names that Python reads as one --------------------------------------------------------

FULLWIDTH_X = "\uff58"  # ｘ: NFKC makes it x


def test_confusable_names_are_refused_everywhere_with_one_message(tmp_path):
    messages = []
    with pytest.raises(UsageError) as info:
        load_point([f"x=1, {FULLWIDTH_X}=5"], None)
    messages.append(info.value.message)
    with pytest.raises(UsageError) as info:
        load_point([], "-", stdin=io.StringIO(f'{{"x": 1, "{FULLWIDTH_X}": 2}}'))
    messages.append(info.value.message)
    _, got = batch("eval", "x + 1", input=f'{{"x": 1}}\n{{"x": 1, "{FULLWIDTH_X}": 2}}\n')
    messages.append(got[1]["error"]["message"])
    assert messages == ["x is bound twice"] * 3 and got[0]["value"] == 2.0
    assert "ｘ" in info.value.hint


# -- files that never end or never answer --------------------------------------------------


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "fifo.json"
    os.mkfifo(path)
    return path


def test_a_fifo_is_refused_unread(fifo):
    # (opening a FIFO for reading waits for a writer: these would hang if they opened it)
    for at, at_json in (([f"x=@{fifo}"], None), ([], str(fifo))):
        with pytest.raises(UsageError, match="FIFO"):
            load_point(at, at_json)
    with pytest.raises(UsageError, match="FIFO"):
        load_file(str(fifo))


@pytest.mark.parametrize(
    "args",
    [
        ["eval", "x", "--at", "x=@zero.json"],
        ["eval", "x", "--at-json", "/dev/zero"],
        ["eval", "x", "--points", "/dev/zero"],
        ["eval", "-f", "/dev/zero", "--at", "x=1"],
        ["vjp", "x*2", "--at", "x=1", "--v", "@zero.json"],
        ["eval", "x", "--at", "x=@fifo.json"],
        ["eval", "x", "--points", "."],
    ],
)
def test_devices_fifos_and_directories_are_refused(tmp_path, args):
    os.symlink("/dev/zero", tmp_path / "zero.json")
    os.mkfifo(tmp_path / "fifo.json")
    proc, peak = capped(tmp_path, *args, "--json", timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert json.loads(proc.stdout)["error"]["message"].startswith("cannot read")
    assert peak < 2**30


@pytest.mark.parametrize(
    "args", [["eval", "x", "--at-json", "-"], ["eval", "-f", "-", "--at", "x=1"]]
)
def test_standard_input_is_read_up_to_the_cap(tmp_path, args):
    with open("/dev/zero", "rb") as zero:
        rss = tmp_path / "rss"
        code = CHILD.format(cap=CAP, rss=str(rss), setup="")
        proc = subprocess.run(
            [sys.executable, "-c", code, *args, "--json"],
            stdin=zero,
            capture_output=True,
            timeout=60,
        )
    assert proc.returncode == 2
    assert "larger than 64 MiB" in json.loads(proc.stdout)["error"]["message"]
    assert int(rss.read_text()) * 1024 < 2**30


def test_files_over_the_cap_are_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(points_module, "MAX_TEXT_BYTES", 100)
    (tmp_path / "a.json").write_text("[" + "1, " * 50 + "1]")
    (tmp_path / "p.json").write_text('{"x": [' + "1, " * 50 + "1]}")
    with pytest.raises(UsageError, match="larger than"):
        load_file(str(tmp_path / "a.json"))
    with pytest.raises(UsageError, match="larger than"):
        load_point([], str(tmp_path / "p.json"))
    (tmp_path / "a.json").write_text("[1, 2]")
    assert load_file(str(tmp_path / "a.json")).tolist() == [1, 2]


def test_a_line_over_the_cap_is_an_error_at_its_place(monkeypatch):
    monkeypatch.setattr(points_module, "MAX_TEXT_BYTES", 64)
    monkeypatch.setattr(ndjson, "READ", 16)  # the long line arrives over several reads
    long = '{"x": [' + "1, " * 40 + "1]}"
    text = f'{{"x": 1}}\n{long}\n{{"x": 2}}\n{long}'
    r, got = batch("eval", "sum(x)", input=text)
    assert [d["line"] for d in got] == [1, 2, 3, 4]
    assert [d.get("value") for d in got] == [1.0, None, 2.0, None]
    assert "longer than" in got[1]["error"]["message"] and r.exit_code == 1


def test_a_line_that_never_ends_is_an_error_in_bounded_memory(tmp_path):
    # 200 MB of one line on standard input: an error record, then the next line
    setup = "import gradcli.lang.points as p; p.MAX_TEXT_BYTES = 2**20"
    text = b'{"x": 1}\n{"x": [' + b"0," * (100 * 2**20) + b'0]}\n{"x": 2}\n'
    proc, peak = capped(tmp_path, "eval", "sum(x)", "--points", "-", input=text, setup=setup)
    got = records(proc.stdout)
    assert [d.get("value") for d in got] == [1.0, None, 2.0] and proc.returncode == 1
    assert peak < 2**30


def test_points_stream_from_a_fifo(tmp_path):
    fifo = tmp_path / "points"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradcli", "eval", "x + 1", "--points", str(fifo)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    with open(fifo, "w") as f:
        f.write('{"x": 1}\n{"x": 2}\n')
    out, err = proc.communicate(timeout=60)
    assert [d["value"] for d in records(out)] == [2.0, 3.0], err


# -- streaming, chunk by chunk -------------------------------------------------------------


def test_chunks_are_written_in_order_with_their_indices_and_lines(monkeypatch):
    monkeypatch.setattr(ndjson, "CHUNK", 7)
    monkeypatch.setattr(ndjson, "READ", 50)
    rng = np.random.default_rng(1)
    xs = rng.uniform(-2, 2, 40)
    lines = [json.dumps({"x": float(v), "y": 2.0}) for v in xs]
    lines[11] = ""  # blank lines: skipped by index, counted by line
    lines[23] = json.dumps({"x": [1.0, 2.0], "y": 2.0})  # an array: that chunk goes line by line
    _, got = batch("grad", "x**2*y + sin(x*y)", input="\n".join(lines) + "\n")
    want = [(i, v) for i, v in enumerate(xs, 1) if i not in (12, 24)]
    assert [d["line"] for d in got if "error" not in d] == [i for i, _ in want]
    assert [d["index"] for d in got] == list(range(39))
    gx = np.array([d["gradient"]["x"] for d in got if "error" not in d])
    x = np.array([v for _, v in want])
    np.testing.assert_allclose(gx, 2 * x * 2 + 2 * np.cos(2 * x))
    assert got[22]["line"] == 24 and "error" in got[22]  # (x is an array: not a scalar)
