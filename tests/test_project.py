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
