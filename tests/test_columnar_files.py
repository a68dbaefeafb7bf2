"""--points and --output in CSV, Parquet, Arrow IPC/Feather, .npz and NDJSON files (issue 18):
every format reads and writes; a bad row is an error record at its line and the others are
computed; empty files, a missing column, a column of the wrong type and a file without a final
newline each have their answer."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.feather as pf
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import gradcli as gc
from gradcli.cli.app import app
from gradcli.columnar import evaluate_table, file_format

runner = CliRunner()
TEXT = "x**2*y + sin(x*y)"
X, Y = np.array([0.5, -1.25, 2.0, 3.5]), np.array([1.5, 0.25, -2.0, 0.125])


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def write(path, fmt, table: pa.Table):
    if fmt == "csv":
        import pyarrow.csv as pc

        pc.write_csv(table, path)
    elif fmt == "parquet":
        pq.write_table(table, path)
    elif fmt == "arrow":
        pf.write_feather(table, path)
    elif fmt == "npz":
        np.savez(path, **{n: table.column(n).to_numpy() for n in table.column_names})
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in table.to_pylist()))


def read(path, fmt) -> dict:
    if fmt == "csv":
        import pyarrow.csv as pc

        return pc.read_csv(path).to_pydict()
    if fmt == "parquet":
        return pq.read_table(path).to_pydict()
    if fmt == "arrow":
        return pf.read_table(path).to_pydict()
    if fmt == "npz":
        return {k: v.tolist() for k, v in np.load(path).items()}
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return {k: [r[k] for r in rows] for k in rows[0]} if rows else {}


EXT = {"csv": "csv", "parquet": "parquet", "arrow": "feather", "npz": "npz", "ndjson": "jsonl"}


def expected():
    f = gc.compile(TEXT)
    return [f.grad(x=a, y=b) for a, b in zip(X, Y, strict=True)]


@pytest.mark.parametrize("fin", list(EXT))
@pytest.mark.parametrize("fout", list(EXT))
def test_every_format_reads_and_writes(tmp_path, fin, fout):
    src, dst = tmp_path / f"p.{EXT[fin]}", tmp_path / f"o.{EXT[fout]}"
    write(src, fin, pa.table({"x": X, "y": Y}))
    r = cli("grad", TEXT, "--points", src, "--output", dst)
    assert r.exit_code == 0, r.output
    got = read(dst, fout)
    want = expected()
    assert got["value"] == [float(w.value) for w in want]  # to the last bit
    assert got["gradient.x"] == [float(w.gradient["x"]) for w in want]
    assert got["gradient.y"] == [float(w.gradient["y"]) for w in want]
    assert got["line"] == ([2, 3, 4, 5] if fin == "csv" else [1, 2, 3, 4])
    assert all(e in (None, "") for e in got["error"])


@pytest.mark.parametrize("fin", ["csv", "parquet", "arrow", "npz"])
def test_standard_output_stays_ndjson(tmp_path, fin):
    src = tmp_path / f"p.{EXT[fin]}"
    write(src, fin, pa.table({"x": X, "y": Y}))
    r = cli("grad", TEXT, "--points", src)
    assert r.exit_code == 0, r.output
    docs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [d["index"] for d in docs] == [0, 1, 2, 3]
    assert [d["gradient"]["x"] for d in docs] == [float(w.gradient["x"]) for w in expected()]


def test_a_bad_csv_row_is_an_error_at_its_line(tmp_path):
    src = tmp_path / "p.csv"
    src.write_text("x,y\n1,2\n3\n\n5,abc\n7,8")  # a short row, a blank line, a word; no \n
    r = cli("grad", TEXT, "--points", src, "--output", tmp_path / "o.parquet")
    assert r.exit_code == 1
    got = pq.read_table(tmp_path / "o.parquet").to_pydict()
    assert got["line"] == [2, 3, 5, 6]  # every line counted; the blank one has no point
    assert got["error"][0] is None and got["error"][3] is None
    assert "cells" in got["error"][1] and "not a number" in got["error"][2]
    assert got["value"][3] == gc.compile(TEXT).eval(x=7.0, y=8.0).value
    assert "--points line 5" in r.stderr


@pytest.mark.parametrize("fin", ["parquet", "arrow"])
def test_a_null_is_an_error_at_its_row(tmp_path, fin):
    src = tmp_path / f"p.{EXT[fin]}"
    write(src, fin, pa.table({"x": [1.0, None, 3.0], "y": [1.0, 2.0, 3.0]}))
    r = cli("grad", TEXT, "--points", src)
    assert r.exit_code == 1
    docs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [d["line"] for d in docs] == [1, 2, 3]
    assert "error" in docs[1] and "value" in docs[0] and "value" in docs[2]


@pytest.mark.parametrize("fin", ["csv", "parquet", "arrow", "npz"])
def test_a_missing_column_is_refused(tmp_path, fin):
    src = tmp_path / f"p.{EXT[fin]}"
    write(src, fin, pa.table({"x": X}))
    r = cli("grad", TEXT, "--points", src, "--json")
    assert r.exit_code == 2
    assert "no column y" in json.loads(r.stdout)["error"]["message"]


def test_a_variable_bound_by_at_needs_no_column(tmp_path):
    src = tmp_path / "p.parquet"
    write(src, "parquet", pa.table({"x": X}))
    r = cli("grad", TEXT, "--points", src, "--at", "y=2", "--output", tmp_path / "o.npz")
    assert r.exit_code == 0, r.output
    assert read(tmp_path / "o.npz", "npz")["gradient.x"] == [
        float(gc.compile(TEXT).grad(x=a, y=2.0).gradient["x"]) for a in X
    ]


@pytest.mark.parametrize("fin", ["parquet", "arrow", "npz"])
def test_a_column_of_the_wrong_type_is_refused(tmp_path, fin):
    src = tmp_path / f"p.{EXT[fin]}"
    if fin == "npz":
        np.savez(src, x=np.array(["a", "b"]), y=np.array([1.0, 2.0]))
    else:
        write(src, fin, pa.table({"x": ["a", "b"], "y": [1.0, 2.0]}))
    r = cli("grad", TEXT, "--points", src, "--json")
    assert r.exit_code == 2
    assert "not" in json.loads(r.stdout)["error"]["message"]


def test_a_csv_column_of_words_is_an_error_a_row(tmp_path):
    src = tmp_path / "p.csv"
    src.write_text("x,y\na,1\nb,2\n")
    r = cli("grad", TEXT, "--points", src)
    assert r.exit_code == 1
    assert [json.loads(line)["line"] for line in r.stdout.splitlines()] == [2, 3]


@pytest.mark.parametrize("fin", ["csv", "parquet", "arrow", "npz", "ndjson"])
def test_an_empty_file_has_no_points(tmp_path, fin):
    src = tmp_path / f"p.{EXT[fin]}"
    if fin in ("csv", "ndjson"):
        src.write_text("")
    else:
        write(
            src, fin, pa.table({"x": pa.array([], pa.float64()), "y": pa.array([], pa.float64())})
        )
    r = cli("grad", TEXT, "--points", src, "--output", tmp_path / "o.parquet")
    assert r.exit_code == 0, r.output
    assert pq.read_table(tmp_path / "o.parquet").num_rows == 0


def test_a_file_that_is_not_of_its_format_is_a_clear_error(tmp_path):
    src = tmp_path / "p.parquet"
    src.write_text("not parquet")
    r = cli("grad", TEXT, "--points", src, "--json")
    assert r.exit_code == 2
    assert json.loads(r.stdout)["error"]["message"].startswith("cannot read")


def test_the_format_options_override_the_extension(tmp_path):
    src = tmp_path / "p.data"
    write(src, "parquet", pa.table({"x": X, "y": Y}))
    r = cli(
        "grad",
        TEXT,
        "--points",
        src,
        "--points-format",
        "parquet",
        "--output",
        tmp_path / "o.out",
        "--output-format",
        "csv",
    )
    assert r.exit_code == 0, r.output
    assert read(tmp_path / "o.out", "csv")["line"] == [1, 2, 3, 4]
    assert file_format("a.jsonl", None, "--points") == "ndjson"
    assert file_format("-", None, "--output") == "ndjson"


def test_output_needs_points():
    r = cli("grad", TEXT, "--at", "x=1, y=2", "--output", "o.parquet", "--json")
    assert r.exit_code == 2


def test_ndjson_in_with_a_bad_line_to_parquet(tmp_path):
    src = tmp_path / "p.ndjson"
    src.write_text('{"x": 1, "y": 2}\n{"x": "a", "y": 2}\n{"x": 3, "y": 4}')  # no final \n
    r = cli("grad", TEXT, "--points", src, "--output", tmp_path / "o.parquet")
    assert r.exit_code == 1
    got = pq.read_table(tmp_path / "o.parquet").to_pydict()
    assert got["line"] == [1, 2, 3] and got["error"][1] and got["error"][2] is None


def test_array_valued_variables_are_list_columns(tmp_path):
    src = tmp_path / "p.parquet"
    pq.write_table(
        pa.table({"x": pa.array([[1.0, 2.0], [3.0, 4.0]], pa.list_(pa.float64(), 2))}), src
    )
    r = cli("grad", "sum(x**2)", "--points", src, "--output", tmp_path / "o.parquet")
    assert r.exit_code == 0, r.output
    t = pq.read_table(tmp_path / "o.parquet")
    assert t.schema.field("gradient.x").type == pa.list_(pa.float64(), 2)
    assert t.column("gradient.x").to_pylist() == [[2.0, 4.0], [6.0, 8.0]]
    assert t.column("value").to_pylist() == [5.0, 25.0]


def test_the_library_evaluates_a_table():
    f = gc.compile(TEXT)
    got = evaluate_table(f, pa.table({"x": [1.0, None], "y": [2.0, 3.0]}))
    assert got.column("value").to_pylist() == [float(f.eval(x=1.0, y=2.0).value), None]
    assert got.column("error").to_pylist()[0] is None and got.column("error")[1].is_valid
    fast = evaluate_table(f, pa.table({"x": X, "y": Y}))
    assert fast.column("gradient.y").to_pylist() == [float(w.gradient["y"]) for w in expected()]


def test_progress_shows_when_asked_and_never_when_told_not_to(capsys, monkeypatch):
    import sys

    from gradcli.cli import output

    monkeypatch.setattr(output, "LONG_BATCH", 2)
    with output.batch_progress(30, show=True) as tick:  # --progress, even in a pipe
        for i in range(3):
            tick(i + 1, 10 * (i + 1))
    assert "points/s" in capsys.readouterr().err
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    with output.batch_progress(30, show=False) as tick:  # --json (or --no-progress)
        tick(3, 30)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_memory_does_not_grow_with_the_file(tmp_path, fmt):
    # a hostile size under the 2 GB cap of test_batch_stream; the peak RSS of 4x the rows
    # stays within 64 MB of the smaller file's (chunks of 65,536 rows in, and out)
    from test_batch_stream import capped

    peaks = []
    for n in (250_000, 1_000_000):
        rng = np.random.default_rng(0)
        src = tmp_path / f"p{n}.{EXT[fmt]}"
        write(src, fmt, pa.table({"x": rng.uniform(-2, 2, n), "y": rng.uniform(-2, 2, n)}))
        proc, peak = capped(
            tmp_path,
            "grad",
            TEXT,
            "--points",
            str(src),
            "--output",
            str(tmp_path / f"o{n}.parquet"),
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        assert pq.ParquetFile(tmp_path / f"o{n}.parquet").metadata.num_rows == n
        peaks.append(peak)
    assert peaks[1] < peaks[0] + 64 * 2**20, peaks


def test_output_onto_the_points_file_is_refused(tmp_path):
    src = tmp_path / "p.parquet"
    write(src, "parquet", pa.table({"x": X, "y": Y}))
    r = cli("grad", TEXT, "--points", src, "--output", src, "--json")
    assert r.exit_code == 2 and "is the --points file" in r.stdout
    assert pq.read_table(src).num_rows == 4  # untouched


def test_output_dash_is_standard_output(tmp_path):
    src = tmp_path / "p.csv"
    write(src, "csv", pa.table({"x": X, "y": Y}))
    r = cli("grad", TEXT, "--points", src, "--output", "-")
    assert r.exit_code == 0 and len(r.stdout.splitlines()) == 4


def test_a_csv_of_only_a_header_has_no_points(tmp_path):
    src = tmp_path / "p.csv"
    src.write_text("x,y\n")
    r = cli("grad", TEXT, "--points", src)
    assert r.exit_code == 0 and r.stdout == ""


@pytest.mark.parametrize("rows", [1, 2, 3, 100])
def test_csv_lines_are_right_across_chunks(tmp_path, rows):
    from gradcli.columnar import read_chunks

    src = tmp_path / "p.csv"
    src.write_text("x,y\n1,2\n3\n\n4,5\n6,x\n7,8,9\n10,11\n\n12,13")
    got = [
        (int(n), bool(i in c.bad))
        for c in read_chunks(str(src), "csv", ("x", "y"), rows)
        for i, n in enumerate(c.lines)
    ]
    assert got == [(2, False), (3, True), (5, False), (6, True), (7, True), (8, False), (10, False)]
