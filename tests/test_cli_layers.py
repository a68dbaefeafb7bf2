"""The command line's layers: cli/ modules import one way, and nothing below cli/ prints."""

import ast
from pathlib import Path

import gradcli

PACKAGE = Path(gradcli.__file__).parent
#: cli/'s modules, each importing only those after it (imports inside functions count).
CLI = ["__init__", "app", "visual", "run", "output", "views", "ndjson", "workers"]


def imports(path: Path) -> set[str]:
    """The cli/ modules that the module at `path` imports (relative imports: `.x`, `. import x`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found.update([node.module] if node.module else [a.name for a in node.names])
    return found


def test_cli_imports_point_one_way():
    assert sorted(p.stem for p in (PACKAGE / "cli").glob("*.py")) == sorted(CLI)
    for rank, name in enumerate(CLI):
        below = set(CLI[rank + 1 :])
        assert imports(PACKAGE / "cli" / f"{name}.py") <= below, name


def test_nothing_below_the_command_line_prints():
    for path in PACKAGE.rglob("*.py"):
        if "cli" in path.relative_to(PACKAGE).parts or path.name == "__main__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            prints = isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print"
            streams = (
                isinstance(node, ast.Attribute)
                and node.attr in ("stdout", "stderr")
                and getattr(node.value, "id", None) == "sys"
            )
            assert not (prints or streams), f"{path.relative_to(PACKAGE)}:{node.lineno}"
