"""Batches beyond one machine: a Dask DataFrame of points (a directory or glob of Parquet
files, or any DataFrame Dask can partition) evaluated partition by partition on the
workers by the same column-wise code as a single process (`columnar.evaluate_table`), the
results written as a partitioned Parquet dataset. Needs the `dask` extra on the client and
on every worker (gradcli itself included)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .errors import UsageError


@lru_cache(maxsize=8)
def _compiled(text: str, options: tuple):
    from .api import compile as compile_text

    return compile_text(text, **dict(options))


def _partition(
    frame, text: str, options: tuple, command: str, wrt, offsets, meta, partition_info=None
):
    """One partition (pandas) of points → its results (pandas), `line` counted across the
    whole dataset (the rows of the partitions before it come first)."""
    import pyarrow as pa

    from .columnar import evaluate_table

    table = pa.Table.from_pandas(frame, preserve_index=False)
    got = evaluate_table(_compiled(text, options), table, command, wrt)
    first = offsets[partition_info["number"]] if partition_info else 0
    got = got.set_column(0, "line", pa.array(got.column("line").to_numpy() + first))
    out = got.to_pandas()
    for name in meta.columns:  # a partition of errors only: the columns it lacks
        if name not in out:
            out[name] = np.nan
    return out[list(meta.columns)].astype(meta.dtypes.to_dict())


def client(scheduler: str | None):
    """A Dask client of the cluster at `scheduler`, or of a new local cluster of worker
    processes (one thread each)."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise UsageError("--engine dask needs Dask", hint="pip install 'gradcli[dask]'") from None
    if scheduler:
        return Client(scheduler)
    return Client(LocalCluster(processes=True, threads_per_worker=1, dashboard_address=None))


def evaluate_dataset(
    text: str, options: dict, points, output: str, command: str = "grad", wrt=None
) -> int:
    """Evaluate `text` (compiled on each worker with `options`, gc.compile's keywords) at
    every row of `points` (a Dask DataFrame, or a path or glob of Parquet files), write the
    results to the Parquet dataset `output` (columns as `columnar` names them); how many
    rows failed (their `error` is set). Runs on the current Dask client."""
    import dask
    import dask.dataframe as dd
    import pyarrow as pa

    from .columnar import evaluate_table

    frame = dd.read_parquet(points) if isinstance(points, str) else points
    key = tuple(sorted(options.items()))
    compiled = _compiled(text, key)
    sample = frame.head(1, npartitions=-1)
    meta = (
        evaluate_table(compiled, pa.Table.from_pandas(sample, preserve_index=False), command, wrt)
        .to_pandas()
        .iloc[:0]
    )
    lengths = frame.map_partitions(len).compute()
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).tolist()
    results = frame.map_partitions(
        _partition, text, key, command, wrt, offsets, meta, meta=meta, align_dataframes=False
    )
    write = results.to_parquet(output, write_index=False, compute=False)
    _, failed = dask.compute(write, results["error"].notnull().sum())
    return int(failed)
