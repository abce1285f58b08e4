"""Sphinx configuration for Stylesnake's documentation site (``docs/``).

Build it with ``.venv/bin/sphinx-build -W -b html docs docs/_build/html`` (CI does, warnings as errors:
a broken reference or a page left out of the table of contents fails the build).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# This checkout's package, whatever another editable install points at, and our extension.
sys.path[:0] = [str(HERE.parent), str(HERE / "_ext")]
os.environ.setdefault("COLUMNS", "80")  # argparse's help, in the CLI reference, wraps at this width

import pipeline  # noqa: E402  (after the path is set)

project = "Stylesnake"
author = "The Stylesnake developers"
copyright = "2026, the Stylesnake developers (MIT licence)"
release = pipeline.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "reference",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
exclude_patterns = ["_build"]

# Every cross-reference must resolve: a renamed function or a moved page fails the build.
nitpicky = True
# Types from other projects (no intersphinx: the build runs offline), and the type aliases the
# annotations use, are not documented here.
# A short name two modules define (``Jobs``, ``Parser``) in an annotation autodoc cannot evaluate
# links to one of them; that ambiguity is not a broken reference.
suppress_warnings = ["ref.python"]
nitpick_ignore_regex = [
    (
        r"py:.*",
        r"(torch|numpy|np|PIL|cv2|onnxruntime|onnx|flask|werkzeug|argparse|logging|collections|typing"
        r"|fractions|contextlib|av|snakemake|yaml|subprocess|threading|concurrent|queue)(\..*)?",
    ),
    (r"py:.*", r"(pathlib\.)?Path|os\.PathLike|Sequence|Mapping|Iterable|Iterator|Callable|Literal|Any|NDArray"),
    (r"py:class", r"(.*\.)?(Tensor|ndarray|Image|Module|ModuleT|dtype|device|ArrayLike|PathLike|StrPath)"),
    (r"py:class", r"(.*\.)?(Fraction|Flask|Response)"),
    (r"py:class", r"(int|float|str|bool|bytes|dict|list|tuple|set|object|type|None|Exception|ValueError)"),
    # Private names are not documented; a docstring may still point a maintainer at one.
    (r"py:.*", r"(.*\.)?_[A-Za-z]\w*(\.\w+)?"),
    # What autodoc makes of type aliases' values (not names a docstring wrote).
    (r"py:class", r"'dict\[str|string"),
]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_default_options = {"members": True, "undoc-members": False}

html_theme = "furo"
html_title = f"Stylesnake {release}"
html_static_path: list[str] = []
