"""--engine dask (issue 18): a glob of Parquet files evaluated on a LocalCluster of 2 worker
processes equals the single-process run to the last bit; a bad row is an error in its place.
Skipped where the `dask` extra is not installed."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from gradcli.cli.app import app

pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("dask.distributed")

TEXT = "x**2*y + sin(x*y)"
runner = CliRunner()


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as c:
        yield c


def points(tmp_path):
    rng = np.random.default_rng(0)
    parts = []
    for i, n in enumerate((700, 1000, 333)):
        x, y = rng.uniform(-2, 2, n), rng.uniform(-2, 2, n)
        if i == 1:
            x = pa.array(x, mask=np.arange(n) == 5)  # a null: an error at its row
        parts.append(pa.table({"x": x, "y": y}))
        pq.write_table(parts[-1], tmp_path / f"part{i}.parquet")
    return pa.concat_tables(parts)


def test_dask_equals_one_process_to_the_last_bit(tmp_path, cluster):
    whole = points(tmp_path)
    pq.write_table(whole, tmp_path / "all.parquet")
    local = runner.invoke(
        app,
        [
            "grad",
            TEXT,
            "--points",
            str(tmp_path / "all.parquet"),
            "--output",
            str(tmp_path / "local.parquet"),
        ],
    )
    assert local.exit_code == 1  # the null
    r = runner.invoke(
        app,
        [
            "grad",
            TEXT,
            "--points",
            str(tmp_path / "part*.parquet"),
            "--engine",
            "dask",
            "--scheduler",
            cluster.scheduler_address,
            "--output",
            str(tmp_path / "out"),
        ],
    )
    assert r.exit_code == 1, r.output
    want = pq.read_table(tmp_path / "local.parquet").to_pydict()
    got = pq.read_table(tmp_path / "out").sort_by("line").to_pydict()
    assert got["line"] == list(range(1, whole.num_rows + 1)) == want["line"]
    for name in ("value", "gradient.x", "gradient.y"):
        a = np.array(got[name], dtype=float)
        b = np.array(want[name], dtype=float)
        assert np.array_equal(a.view(np.int64), b.view(np.int64)), name  # bit for bit
    assert [i for i, e in enumerate(got["error"]) if e] == [700 + 5]


def test_dask_needs_an_output(tmp_path):
    r = runner.invoke(app, ["grad", TEXT, "--points", "x.parquet", "--engine", "dask", "--json"])
    assert r.exit_code == 2
