"""The command line: typer commands (app.py) over one runner (run.py) and one output
layer (output.py)."""

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
