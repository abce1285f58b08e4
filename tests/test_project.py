"""The project as others receive it: a licence that lets them reuse it, said in every place they look."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_the_project_is_mit_licensed_everywhere_it_says() -> None:
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n\nCopyright (c)")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    installed = metadata.metadata("stylesnake")
    assert installed["License-Expression"] == "MIT"  # what pip and PyPI show
    assert "[MIT licence](LICENSE)" in (ROOT / "README.md").read_text()


def test_the_house_limits_hold_every_module_and_function_of_the_package() -> None:
    """Modules of at most 400 lines and functions of at most 60 (their docstrings, examples and all,
    apart): past that a reader loses the thread."""
    import ast

    too_long = []
    for path in sorted((ROOT / "pipeline").rglob("*.py")):
        source = path.read_text()
        if source.count("\n") > 400:
            too_long.append(f"{path.relative_to(ROOT)}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                first = node.body[0]
                if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and len(node.body) > 1:
                    length -= (first.end_lineno or first.lineno) - first.lineno + 1  # the docstring
                if length > 60:
                    too_long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {length} lines")
    assert not too_long, too_long
