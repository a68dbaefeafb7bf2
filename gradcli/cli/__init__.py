"""The command line: typer commands (app.py) over one output layer (output.py)."""
