"""The command line, in layers that import one way (each module only those below it):

__init__.py  the console script: the typer-free fast path (`run.quick`), else typer
app.py       the typer declarations: commands, options, help, usage errors
visual.py    the bodies of `graph` and `plot`
run.py       the one runner: program, point, library call, check, batches, exit code;
             and `quick`, the typer-free parser of plain one-shot command lines
output.py    the one output layer: JSON or rich, stdout and stderr, closed pipes
views.py     what graph, plot and --explain show: the graph's tree and JSON document,
             the plot's JSON document, the backward pass as a table (loaded when shown)
ndjson.py    NDJSON --points in chunks: split, counted, read column-wise when plain
workers.py   tasks in forked worker processes, their outcomes in order (batches' --jobs)
"""

import sys


def main() -> None:
    """The `gradcli` console script: the plainest one-shot command lines run without
    loading typer; everything else goes through the typer app."""
    from .output import sane_columns
    from .run import quick

    sane_columns()
    code = quick(sys.argv[1:])
    if code is None:
        from .app import main as typer_main

        typer_main()
    else:
        sys.exit(code)
