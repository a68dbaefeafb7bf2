"""Batches in columnar files: the points read from CSV, Parquet, Arrow IPC/Feather or NumPy
.npz, and the results written to those formats or NDJSON, chunk by chunk, in order, in
bounded memory. pyarrow does the I/O; it is imported only when a batch needs it.

A chunk of points is a `PointChunk`: the file line of each row (CSV: counting the header
and every line; the other formats: the row number from 1), one array per variable, and the
rows that could not be read (an error each, kept at its place). Results become columns:
`line`, `value`, then the command's derivative named `<field>.<variable>` (`gradient.x`,
`jacobian.x`, `hessian.x.y`; jvp's is `jvp`), and `error` (null where the point was fine).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from .errors import GradcliError, UsageError
from .result import Result

#: Formats by file extension; "-" (standard input or output) is NDJSON.
EXTENSIONS = {
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "ndjson",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
    ".npz": "npz",
}
FORMATS = ("ndjson", "csv", "parquet", "arrow", "npz")
#: Rows a chunk holds at most (the last one: what is left).
CHUNK_ROWS = 1 << 16
#: The bytes pyarrow reads of a CSV file at a time; a row must fit in one.
CSV_BLOCK = 16 * 2**20
#: The text of a number in a CSV cell, as Python's float() reads it.
_NUMBER = re.compile(
    r"^\s*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)\s*$", re.IGNORECASE
)
#: The Result field of each command's derivative (as in the JSON output).
DERIVATIVE = {
    "grad": "gradient",
    "vjp": "vjp",
    "jvp": "jvp",
    "jacobian": "jacobian",
    "hessian": "hessian",
}


def file_format(path: str, given: str | None, option: str) -> str:
    """The format of a --points or --output file: `given`, else by its extension; NDJSON
    for "-" (standard input or output) and any other extension."""
    if given is not None:
        if given not in FORMATS:
            raise UsageError(
                f"unknown format {given!r} for {option}",
                hint="the formats are " + ", ".join(FORMATS),
            )
        return given
    return EXTENSIONS.get(os.path.splitext(path.rstrip("/"))[1].lower(), "ndjson")


@dataclass
class PointChunk:
    """Rows of a points file: their file lines, one float64 array per variable (leading
    axis: the row; a list of arrays for a list column whose rows differ in shape), and the
    rows that could not be read, by position."""

    lines: np.ndarray
    columns: dict[str, np.ndarray | list]
    bad: dict[int, GradcliError] = field(default_factory=dict)

    def points(self) -> list[dict | GradcliError]:
        """Each row as a point (name → value), or its error."""
        return [
            self.bad[i] if i in self.bad else {k: c[i] for k, c in self.columns.items()}
            for i in range(len(self.lines))
        ]

    def scalar(self) -> bool:
        """Whether every row is good and every variable a scalar."""
        return not self.bad and all(
            isinstance(c, np.ndarray) and c.ndim == 1 for c in self.columns.values()
        )


def read_chunks(
    path: str, fmt: str, names: tuple[str, ...], rows: int = CHUNK_ROWS
) -> Iterator[PointChunk]:
    """The points of a CSV, Parquet, Arrow or .npz file, `rows` at a time, in order; the
    file's columns must be exactly `names` (the variables not bound otherwise)."""
    from .lang.points import open_regular

    if path == "-":
        raise UsageError(
            f"standard input is read as NDJSON, not {fmt}", hint="give the file's path to --points"
        )
    if fmt == "npz":
        yield from _npz_chunks(path, names, rows)
        return
    if os.path.isdir(path):
        raise UsageError(
            f"cannot read {path}: a directory",
            hint="a directory of Parquet files is read with --engine dask",
        )
    open_regular(path, "points file").close()
    try:
        if fmt == "csv":
            yield from _csv_chunks(path, names, rows)
        else:
            yield from _arrow_chunks(path, fmt, names, rows)
    except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
        if isinstance(err, GradcliError):
            raise
        raise UsageError(
            f"cannot read {path} as {fmt}: {_first_line(err)}",
            hint=f"check that it is a {fmt} file (or give --points-format)",
        ) from None


def row_count(path: str, fmt: str) -> int | None:
    """How many rows a Parquet or Arrow IPC file holds, from its metadata (None for the
    other formats, or a file that cannot say)."""
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).metadata.num_rows
        if fmt == "arrow":
            import pyarrow as pa

            with pa.OSFile(path) as f:
                return (
                    pa.ipc.open_file(f).num_rows
                    if hasattr(pa.ipc.RecordBatchFileReader, "num_rows")
                    else None
                )
    except (OSError, ValueError):
        return None
    return None


def _first_line(err: Exception) -> str:
    return str(err).strip().split("\n")[0] or type(err).__name__


def check_columns(path: str, have: list[str], names: tuple[str, ...]) -> None:
    """Refuse a file whose columns are not the variables."""
    missing = [n for n in names if n not in have]
    stray = [n for n in have if n not in names]
    if missing:
        raise UsageError(
            f"{path} has no column {', '.join(missing)}",
            hint="its columns are: "
            + (", ".join(have) or "none")
            + "; a variable shared by every point can be given with --at",
        )
    if stray:
        raise UsageError(
            f"column {', '.join(stray)} of {path} "
            f"{'is' if len(stray) == 1 else 'are'} not a variable of the "
            "expression",
            hint="its variables are: " + ", ".join(names),
        )


def _csv_chunks(path: str, names: tuple[str, ...], rows: int) -> Iterator[PointChunk]:
    import pyarrow as pa
    import pyarrow.csv as pc

    with open(path, "rb") as f:
        header = f.readline(CSV_BLOCK).decode("utf-8", "replace").rstrip("\r\n")
    have = [h.strip().strip('"') for h in header.split(",")] if header.strip() else []
    if not have:
        return  # an empty file: no points
    check_columns(path, have, names)
    invalid: list[tuple[int, int]] = []  # (line, cells) of rows with a wrong number of cells

    def handler(row):
        invalid.append((row.number, row.actual_columns))
        return "skip"

    reader = pc.open_csv(
        path,
        read_options=pc.ReadOptions(use_threads=False, block_size=CSV_BLOCK),
        parse_options=pc.ParseOptions(invalid_row_handler=handler, ignore_empty_lines=False),
        convert_options=pc.ConvertOptions(
            column_types={n: pa.string() for n in have}, strings_can_be_null=False
        ),
    )
    line = 2  # the next line of the file not yet given a row
    for batch in reader:
        for start in range(0, batch.num_rows, rows):
            part = batch.slice(start, rows)
            cols = {n: part.column(n) for n in have}
            blank = (
                np.all([_empty(c) for c in cols.values()], axis=0)
                if part.num_rows
                else np.zeros(0, bool)
            )
            if not invalid or invalid[0][0] >= line + part.num_rows:  # rows only
                lines = np.arange(line, line + part.num_rows)
                line += part.num_rows
                yield _chunk_of_strings(np.where(blank, -lines, lines), cols, {}, have)
                continue
            numbers: list[int] = []
            bad: dict[int, GradcliError] = {}
            taken = 0
            while taken < part.num_rows:  # rows and skipped lines, in the file's order
                if invalid and invalid[0][0] == line:
                    _, cells = invalid.pop(0)
                    bad[len(numbers)] = UsageError(
                        f"this row of --points has {cells} cells, not {len(have)}",
                        hint="write one value a column on every row",
                    )
                    numbers.append(line)
                else:
                    numbers.append(-line if blank[taken] else line)
                    taken += 1
                line += 1
            yield _chunk_of_strings(np.array(numbers), cols, bad, have)
    if invalid:
        yield PointChunk(
            np.array([n for n, _ in invalid]),
            {n: np.full(len(invalid), np.nan) for n in have},
            {
                i: UsageError(f"this row of --points has {c} cells, not {len(have)}")
                for i, (_, c) in enumerate(invalid)
            },
        )


def _empty(column) -> np.ndarray:
    """Which cells of a text column are empty."""
    import pyarrow.compute as pc

    return np.asarray(pc.equal(pc.utf8_length(column), 0).to_numpy(zero_copy_only=False), bool)


def _chunk_of_strings(lines: np.ndarray, cols: dict, bad: dict, have: list[str]) -> PointChunk:
    """A chunk of CSV rows (text cells; a negative line: a blank line, left out)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    keep = np.flatnonzero(lines > 0)
    is_row = np.ones(len(lines), bool)
    is_row[list(bad)] = False
    good = np.flatnonzero(is_row & (lines > 0))
    rowpos = np.cumsum(is_row) - 1  # the row of each line
    out = {n: np.full(len(lines), np.nan) for n in have}
    for n, c in cols.items():
        ok = pc.match_substring_regex(c, _NUMBER.pattern, ignore_case=True)
        ok = np.asarray(ok.to_numpy(zero_copy_only=False), bool)
        values = pc.cast(pc.if_else(pa.array(ok), c, "nan"), pa.float64()).to_numpy()
        out[n][good] = values[rowpos[good]]
        for i in good[~ok[rowpos[good]]].tolist():
            bad.setdefault(
                int(i),
                UsageError(
                    f"the value of {n} is not a number", hint="write a number in every cell"
                ),
            )
    order = np.cumsum(lines > 0) - 1  # the place of each kept line among them
    return PointChunk(
        lines[keep],
        {n: a[keep] for n, a in out.items()},
        {int(order[i]): e for i, e in bad.items() if lines[i] > 0},
    )


def _arrow_chunks(path: str, fmt: str, names: tuple[str, ...], rows: int) -> Iterator[PointChunk]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if fmt == "parquet":
        # read a column chunk 1 MiB at a time: pre-buffering (the default) holds every
        # row group it has read, and a memory map counts the file in the RSS
        source = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
        schema = source.schema_arrow
        batches = source.iter_batches(batch_size=rows)
    else:
        stream = pa.OSFile(path)
        try:
            source = pa.ipc.open_file(stream)
            schema = source.schema
            batches = (source.get_batch(i) for i in range(source.num_record_batches))
        except pa.ArrowInvalid:
            stream.seek(0)
            source = pa.ipc.open_stream(stream)
            schema = source.schema
            batches = iter(source)
    check_columns(path, schema.names, names)
    for f in schema:
        _check_type(path, f.name, f.type)
    line = 1
    for batch in batches:
        for start in range(0, batch.num_rows, rows):
            part = batch.slice(start, rows)
            yield column_chunk(
                np.arange(line, line + part.num_rows), {n: part.column(n) for n in schema.names}
            )
            line += part.num_rows


def _check_type(path: str, name: str, t) -> None:
    import pyarrow as pa

    inner = t
    while (
        pa.types.is_list(inner)
        or pa.types.is_large_list(inner)
        or pa.types.is_fixed_size_list(inner)
    ):
        inner = inner.value_type
    if not (pa.types.is_integer(inner) or pa.types.is_floating(inner)):
        raise UsageError(
            f"column {name} of {path} holds {t}, not numbers",
            hint="a point holds real numbers (or lists of them) only",
        )


def column_chunk(lines: np.ndarray, cols: dict) -> PointChunk:
    """A chunk of rows from pyarrow arrays of numbers (or lists of numbers): a null is a
    bad row; a list column becomes an array a row (of the same shape: one stacked array)."""
    import pyarrow as pa

    out: dict[str, np.ndarray | list] = {}
    bad: dict[int, GradcliError] = {}
    for n, c in cols.items():
        if isinstance(c, pa.ChunkedArray):
            c = c.combine_chunks()
        for i in np.flatnonzero(np.asarray(c.is_null().to_numpy(zero_copy_only=False))).tolist():
            bad.setdefault(
                i,
                UsageError(
                    f"no value for {n} in this row", hint="every row needs a value in every column"
                ),
            )
        if pa.types.is_integer(c.type) or pa.types.is_floating(c.type):
            out[n] = np.asarray(c.cast(pa.float64()).fill_null(np.nan).to_numpy(), np.float64)
        else:
            out[n] = _list_values(c, bad, n)
    return PointChunk(lines, out, bad)


def _list_values(c, bad: dict, name: str) -> np.ndarray | list:
    import pyarrow as pa

    shape, flat = [], c
    while pa.types.is_fixed_size_list(flat.type) and flat.null_count == 0:
        shape.append(flat.type.list_size)
        flat = flat.flatten()
    if pa.types.is_integer(flat.type) or pa.types.is_floating(flat.type):
        values = np.asarray(flat.cast(pa.float64()).fill_null(np.nan).to_numpy(), np.float64)
        return values.reshape(len(c), *shape)
    rows = []
    for i, v in enumerate(c.to_pylist()):
        try:
            rows.append(np.array([np.nan] if v is None else v, dtype=np.float64))
        except (TypeError, ValueError):
            bad.setdefault(
                i,
                UsageError(
                    f"the value of {name} is not an array of numbers (null inside, or ragged lists)"
                ),
            )
            rows.append(np.array(np.nan))
    return rows


def _npz_chunks(path: str, names: tuple[str, ...], rows: int) -> Iterator[PointChunk]:
    from .lang.points import open_regular

    with open_regular(path, "points file") as f:
        try:
            arrays = dict(np.load(f, allow_pickle=False))
        except (ValueError, OSError, EOFError) as err:
            raise UsageError(
                f"cannot read {path} as npz: {_first_line(err)}",
                hint="save it with numpy.savez, one array per variable",
            ) from None
    check_columns(path, list(arrays), names)
    lengths = {a.shape[0] if a.ndim else None for a in arrays.values()}
    total = lengths.pop() if len(lengths) == 1 else None
    if total is None:
        raise UsageError(
            f"the arrays of {path} differ in their number of points",
            hint="the leading axis of every array is the point",
        )
    for n, a in arrays.items():
        if a.dtype.kind not in "fiu":
            raise UsageError(f"array {n} of {path} holds {a.dtype}, not real numbers")
    for start in range(0, total, rows):
        stop = min(start + rows, total)
        yield PointChunk(
            np.arange(start + 1, stop + 1),
            {n: a[start:stop].astype(np.float64) for n, a in arrays.items()},
        )


# -- results as columns ---------------------------------------------------------------------


def result_fields(r: Result) -> dict[str, np.ndarray]:
    """The output columns of one result: value, then the derivative's (see the module)."""
    out = {"value": np.asarray(r.value)}
    key = DERIVATIVE.get(r.command, "")
    d = getattr(r, key) if key else None
    if isinstance(d, dict):
        for name, a in d.items():
            if isinstance(a, dict):
                out.update((f"{key}.{name}.{j}", np.asarray(b)) for j, b in a.items())
            else:
                out[f"{key}.{name}"] = np.asarray(a)
    elif d is not None:
        out[key] = np.asarray(d)
    return out


def results_table(lines: np.ndarray, items: list, schema=None):
    """A pyarrow Table of results (Result or GradcliError each, at its line); `schema`:
    the columns of the chunks written before, which this one keeps."""
    import pyarrow as pa

    fields = [None if isinstance(r, GradcliError) else result_fields(r) for r in items]
    names = (
        list(schema.names[1:-1])
        if schema is not None
        else next((list(f) for f in fields if f is not None), ["value"])
    )
    cols = {"line": pa.array(np.asarray(lines, np.int64))}
    for n in names:
        cells = [None if f is None or n not in f else f[n] for f in fields]
        cols[n] = _column(cells, None if schema is None else schema.field(n).type)
    cols["error"] = pa.array(
        [r.message if isinstance(r, GradcliError) else None for r in items], pa.string()
    )
    return pa.table(cols)


def columns_table(
    lines: np.ndarray,
    value: np.ndarray | None,
    derivative: dict | None,
    key: str | None = "gradient",
):
    """A pyarrow Table of a column-wise batch (scalar points): its arrays as they are."""
    import pyarrow as pa

    cols = {"line": pa.array(np.asarray(lines, np.int64))}
    if value is not None:
        cols["value"] = pa.array(value)
    for name, g in (derivative or {}).items():
        cols[f"{key}.{name}"] = pa.array(g)
    cols["error"] = pa.nulls(len(lines), pa.string())
    return pa.table(cols)


def _column(cells: list, type_=None):
    """One output column: float64 for scalars, else (fixed-size where every row's shape is
    the same) list columns of the rows' arrays; None for a row that has none."""
    import pyarrow as pa

    shapes = {c.shape for c in cells if c is not None}
    if type_ is None and shapes <= {()}:
        type_ = pa.float64()
    if type_ is None and len(shapes) == 1:
        type_ = pa.float64()
        for size in reversed(next(iter(shapes))):
            type_ = pa.list_(type_, size)
    if type_ is None:
        type_ = pa.float64()
        for _ in range(max(len(s) for s in shapes)):
            type_ = pa.list_(type_)
    scalar = pa.types.is_floating(type_)
    return pa.array(
        [None if c is None else (float(c) if scalar else c.tolist()) for c in cells], type_
    )


class TableWriter:
    """Writes tables of results to a file of one format, one chunk at a time."""

    def __init__(self, path: str, fmt: str):
        self.path, self.fmt = path, fmt
        self.schema: Any = None  # pyarrow's, from the first table written
        self._writer: Any = None  # pyarrow's writer of the format (parquet, arrow, csv)
        self._file: Any = None  # ndjson: the file
        self._parts: list = []  # npz: the tables, concatenated when closed

    def write(self, table) -> None:
        import pyarrow as pa

        if self.schema is None:
            self.schema = table.schema
            self._open()
        elif table.schema != self.schema:
            table = (
                table.select([n for n in self.schema.names if n in table.column_names])
                if set(self.schema.names) <= set(table.column_names)
                else table
            )
            table = table.cast(self.schema)
        if self.fmt == "ndjson":
            import orjson

            from .result import jsonable

            rows = table.to_pylist()
            self._file.write(
                b"".join(
                    orjson.dumps({k: _json_cell(v, jsonable) for k, v in r.items()}) + b"\n"
                    for r in rows
                )
            )
        elif self.fmt == "npz":
            self._parts.append(table)
        else:
            for batch in table.to_batches():
                self._writer.write_batch(batch) if self.fmt != "csv" else self._writer.write(
                    _csv_table(pa.Table.from_batches([batch]))
                )

    def _open(self) -> None:
        import pyarrow as pa

        if self.fmt == "ndjson":
            self._file = open(self.path, "wb")  # noqa: SIM115 - written to until close()
        elif self.fmt == "npz":
            self._parts = []
        elif self.fmt == "parquet":
            import pyarrow.parquet as pq

            # (dictionaries of floats that seldom repeat: twice the time, for nothing)
            self._writer = pq.ParquetWriter(self.path, self.schema, use_dictionary=False)
        elif self.fmt == "arrow":
            self._writer = pa.ipc.new_file(self.path, self.schema)
        else:
            import pyarrow.csv as pc

            self._writer = pc.CSVWriter(self.path, _csv_schema(self.schema))

    def close(self, empty_schema=None) -> None:
        """Finish the file (one with no rows has the columns of `empty_schema`)."""
        import pyarrow as pa

        if self.schema is None:
            self.write(
                (
                    empty_schema
                    or pa.schema(
                        [("line", pa.int64()), ("value", pa.float64()), ("error", pa.string())]
                    )
                ).empty_table()
            )
        if self.fmt == "ndjson":
            self._file.close()
        elif self.fmt == "npz":
            table = pa.concat_tables(self._parts)
            arrays: dict[str, Any] = {n: _npz_array(table.column(n)) for n in table.column_names}
            np.savez(self.path, **arrays)
        else:
            self._writer.close()


def _json_cell(v, jsonable):
    return v if v is None or isinstance(v, (int, str)) else jsonable(np.asarray(v))


def _csv_schema(schema):
    """CSV's columns: a list column's cells as JSON text (nested lists)."""
    import pyarrow as pa

    return pa.schema([(f.name, pa.string() if _is_list(f.type) else f.type) for f in schema])


def _is_list(t) -> bool:
    import pyarrow as pa

    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


def _csv_table(table):
    """A table with its list columns as JSON text, for CSV."""
    import orjson
    import pyarrow as pa

    for i, f in enumerate(table.schema):
        if _is_list(f.type):
            text = [
                None if v is None else orjson.dumps(v).decode() for v in table.column(i).to_pylist()
            ]
            table = table.set_column(i, f.name, pa.array(text, pa.string()))
    return table


def _npz_array(column) -> np.ndarray:
    import pyarrow as pa

    if pa.types.is_string(column.type):  # the errors: "" where there is none
        return np.array([v or "" for v in column.to_pylist()], dtype=str)
    flat, shape = column.combine_chunks(), []
    while pa.types.is_fixed_size_list(flat.type):
        shape.append(flat.type.list_size)
        flat = flat.flatten()
    return np.asarray(flat.to_numpy(zero_copy_only=False)).reshape(len(column), *shape)


def check_output(points: str, output: str) -> None:
    """Refuse an --output that is the --points file (writing it would destroy the input
    while it is read)."""
    try:
        same = os.path.samefile(points, output)
    except OSError:  # (no such file yet: not the same)
        same = False
    if same:
        raise UsageError(
            f"--output {output} is the --points file", hint="write the results to another file"
        )


class ResultsFile:
    """`--output FILE`: the batch methods of the command line's output (`batch_columns`,
    `batch_item`), writing a batch's results to a `TableWriter` instead of NDJSON on
    stdout; the rest (an error that ends the run) goes to `out`, and `report(index, line,
    error)` tells of each failed point (on stderr: only cli/ prints)."""

    def __init__(self, path: str, fmt: str, out, report):
        self.out, self.report = out, report
        self.pending: list[tuple[int, Any]] = []  # (line, Result or error) not yet written
        self.writer = TableWriter(path, fmt)

    def __getattr__(self, name):
        return getattr(self.out, name)

    def batch_columns(self, cols, command: str, first: int, lines: np.ndarray) -> None:
        """A column-wise chunk (scalar points): its arrays, written as they are."""
        self.flush()
        key = DERIVATIVE.get(command)
        self.writer.write(columns_table(lines, cols.value, cols.gradient, key))

    def batch_item(self, index: int, number: int, item, command: str | None = None) -> None:
        """One point's result or error, written with the others of its chunk."""
        if isinstance(item, GradcliError):
            self.report(index, number, item)
        self.pending.append((number, item))
        if len(self.pending) >= CHUNK_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            lines, items = zip(*self.pending, strict=True)
            self.pending = []
            self.writer.write(results_table(np.array(lines), list(items), self.writer.schema))

    def close(self) -> None:
        """Write what is left and finish the file."""
        self.flush()
        self.writer.close()


def evaluate_table(compiled, table, command: str = "grad", wrt=None):
    """eval or a derivative of a compiled expression at every row of a pyarrow Table (a
    column a variable; list columns for arrays), as a Table of results: `line` (the row
    from 1), `value`, the derivative's columns, `error`. Scalar points of an elementwise
    expression run column-wise in one pass; other rows one at a time."""
    from .batch import columns

    check_columns("the table", table.column_names, compiled.free_vars)
    chunk = column_chunk(
        np.arange(1, table.num_rows + 1), {n: table.column(n) for n in compiled.free_vars}
    )
    if chunk.scalar() and table.num_rows:
        arrays = cast(dict[str, np.ndarray], chunk.columns)  # (scalar: every one an array)
        got = columns(compiled, command, arrays, wrt)
        if got is not None:
            return columns_table(chunk.lines, got.value, got.gradient, DERIVATIVE.get(command))
    points = chunk.points()
    good = [i for i, p in enumerate(points) if isinstance(p, dict)]
    kw = {} if command == "eval" else {"wrt": wrt}
    for i, r in zip(good, compiled.batch(command, [points[i] for i in good], **kw), strict=True):
        points[i] = r
    return results_table(chunk.lines, points)
