"""Where results may go, checked before any work: a writable place, never over an input, never
two results in one file. (Writing itself is :mod:`pipeline.io`'s, atomically.)"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from pipeline.errors import InputError


def check_writable(path: str | os.PathLike[str]) -> None:
    """Fail now, not after minutes of work, if ``path`` cannot be written (creates nothing)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give a file name such as result.png")
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(f"{path}: cannot create the output folder, {ancestor} is a file")
    if not os.access(ancestor, os.W_OK):
        raise InputError(f"{path}: output folder {ancestor} is not writable")


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name one file (through links and ``..``), whether or not it exists yet."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def refuse_overwriting_inputs(out: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str] | None]) -> None:
    """An output that is one of the inputs would destroy it (a photo, a painting): refuse before
    any work, naming both."""
    check_outputs([out], inputs)


def check_outputs(
    outs: Sequence[str | os.PathLike[str]],
    inputs: Iterable[str | os.PathLike[str] | None],
    *,
    sources: Sequence[str | os.PathLike[str]] | None = None,
) -> None:
    """Before any work: no output may be an input (it would be overwritten), and no two outputs
    may be one file (the first result would be lost silently). ``sources[i]`` names what output
    ``i`` is made from, for the message."""
    given = [source for source in inputs if source is not None]
    for out in outs:
        for source in given:
            if same_file(out, source):
                raise InputError(f"{out}: is also an input ({source}); write the result to another file")
    for i, out in enumerate(outs):
        for j in range(i):
            if same_file(outs[j], out):
                what = f"{sources[j]} and {sources[i]} both" if sources else "two results"
                raise InputError(f"{what} would be written to {out}; give them different names")
