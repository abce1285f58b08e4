"""This package's version, and the code an output was made by (the version and the git commit)."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

__version__ = "0.1.0"


def code_version() -> dict[str, str | bool | None]:
    """This package's version and, when it runs from a git checkout, the commit (and whether the
    working tree differs from it): what an output's metadata records as the code that made it. Asked
    of git once per process: the code a process runs does not change under it.

    Example::

        >>> from pipeline import code_version
        >>> sorted(code_version())
        ['git_commit', 'git_dirty', 'version']
    """
    commit = _git("rev-parse", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no", "--", ".")) if commit else None
    return {"version": __version__, "git_commit": commit, "git_dirty": dirty}


@functools.cache
def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()
