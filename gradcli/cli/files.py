"""`--output FILE`: a batch's results written to a file of columns (see gradcli/columnar.py)
instead of NDJSON on standard output; the failed points are still reported on stderr."""

from __future__ import annotations

import os

import numpy as np

from ..columnar import CHUNK_ROWS
from ..errors import GradcliError, UsageError


def check_output(points: str, output: str) -> None:
    """Refuse an --output that is the --points file (writing it would destroy the input
    while it is read)."""
    try:
        same = os.path.samefile(points, output)
    except OSError:  # (no such file yet: not the same)
        same = False
    if same:
        raise UsageError(f"--output {output} is the --points file",
                         hint="write the results to another file")


class FileOutput:
    """The batch methods of an output (`JsonOutput`'s), writing to a `TableWriter`; the
    rest (an error that ends the run) goes to `out`, and `report(index, line, error)`
    tells of each failed point on stderr."""

    def __init__(self, path: str, fmt: str, out, report):
        from ..columnar import TableWriter

        self.out, self.report, self.pending = out, report, []
        self.writer = TableWriter(path, fmt)

    def __getattr__(self, name):
        return getattr(self.out, name)

    def batch_columns(self, cols, command: str, first: int, lines: np.ndarray) -> None:
        """A column-wise chunk (scalar points): its arrays, written as they are."""
        from ..columnar import DERIVATIVE, columns_table

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
        from ..columnar import results_table

        if self.pending:
            lines, items = zip(*self.pending)
            self.pending = []
            self.writer.write(results_table(np.array(lines), list(items), self.writer.schema))

    def close(self) -> None:
        """Write what is left and finish the file."""
        self.flush()
        self.writer.close()
