"""The command line, in layers that import one way (each module only those below it):

    __init__.py  the console script: the typer-free fast path (`run.quick`), else typer
    app.py       the typer declarations of the commands and their options
    visual.py    the bodies of `graph` and `plot`
    run.py       the one runner: program, point, library call, exit code; `quick`
    output.py    the one output layer: JSON documents and rich rendering, stdout and stderr
    views.py     rich renderables of autograd: the graph's tree, the --explain table
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
