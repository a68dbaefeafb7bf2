"""Every snippet of README.md runs as written: each ```python block, and each gradcli
command of the ```bash and ```console blocks (exit code 0, as the README promises)."""

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gradcli.cli.app import app

ROOT = Path(__file__).resolve().parent.parent
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
PYTHON = [body for lang, body in BLOCKS if lang == "python"]
COMMANDS = [
    line.removeprefix("$ ")
    for lang, body in BLOCKS
    if lang in ("bash", "console")
    for line in body.splitlines()
    if line.removeprefix("$ ").startswith("gradcli ")
]


def test_the_readme_has_snippets():
    assert PYTHON and len(COMMANDS) >= 10


@pytest.mark.parametrize("code", PYTHON)
def test_python_snippet_runs(code, monkeypatch):
    monkeypatch.chdir(ROOT)
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})  # our own text


@pytest.mark.parametrize("command", COMMANDS)
def test_command_runs(command, monkeypatch):
    monkeypatch.chdir(ROOT)
    argv = shlex.split(command, comments=True)[1:]
    r = CliRunner().invoke(app, argv)
    assert r.exit_code == 0, (command, r.output)
    assert "Traceback" not in r.output
