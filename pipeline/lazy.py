"""Public names of a package loaded on first use (PEP 562): ``import pipeline`` or a subpackage
stays cheap, and a name's module (with torch, OpenCV, the planner) loads when the name is used."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(package: str, public: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose public names come from the modules
    ``public`` gives (name → module's full name); each is kept in the package once loaded."""
    namespace = vars(sys.modules[package])

    def __getattr__(name: str) -> Any:
        if name not in public:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        value = getattr(importlib.import_module(public[name]), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *public})

    return __getattr__, __dir__
