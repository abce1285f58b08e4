"""Where results may go, checked before any work: a writable place, never over an input, never
two results in one file; and folders that runs fill (:class:`OwnedFolder`), cleaned of what a run
of ours wrote there and nothing else. (Writing itself is :mod:`pipeline.io`'s, atomically.)"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from pipeline import io
from pipeline.errors import InputError, option


def check_writable(path: str | os.PathLike[str], *, example: str = "result.png") -> None:
    """Fail now, not after minutes of work, if ``path`` cannot be written (creates nothing)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give a file name such as {example}")
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


#: The list of files an :class:`OwnedFolder` holds because a run of ours wrote them: one name per
#: line, appended as each is written (a clip's thousands of frames cost one line each, not a
#: rewritten list).
MANIFEST = ".stylesnake-written"


class OwnedFolder:
    """A folder that runs fill with files (a transfer's snapshots, a video's frames).

    Cleaning up before a new run removes only what an earlier run of ours wrote there, as listed
    in the folder's manifest (:data:`MANIFEST`): a file someone else put there stays, and so does
    any file that is an input of this run. Each file is listed before it is written (atomically),
    so a killed run leaves nothing unlisted behind. A file where the folder should be is an
    :class:`InputError` before any work.
    """

    def __init__(self, path: str | os.PathLike[str], *, what: str) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise InputError(
                f"{self.path}: is a file, but {what} writes a folder of that name; "
                f"move the file, or choose another {option('out')}"
            )
        self.what = what
        self._listed: dict[str, None] | None = None

    def holds(self, inputs: Iterable[str | os.PathLike[str] | None]) -> list[Path]:
        """The ``inputs`` that lie inside this folder (through links and ``..``)."""
        inside = self.path.resolve()
        return [Path(p) for p in inputs if p is not None and inside in Path(p).resolve().parents]

    def _names(self) -> dict[str, None]:
        if self._listed is None:
            try:
                lines = (self.path / MANIFEST).read_text().splitlines()
            except OSError:
                lines = []
            self._listed = dict.fromkeys(n for n in lines if n and "/" not in n and n != MANIFEST)
        return self._listed

    def written(self) -> list[str]:
        """Names of the files runs of ours wrote here and that are still there, oldest first."""
        return [n for n in self._names() if (self.path / n).is_file()]

    def clear(self, *, keep: Iterable[str | os.PathLike[str] | None] = ()) -> None:
        """Remove what earlier runs of ours wrote here, except the files in ``keep`` (this run's inputs)."""
        kept = {Path(p).resolve() for p in keep if p is not None}
        remaining = []
        for name in self.written():
            if (self.path / name).resolve() in kept:
                remaining.append(name)
            else:
                (self.path / name).unlink(missing_ok=True)
        if remaining:
            self._relist(remaining)
        else:  # nothing of ours is left: neither is the list
            (self.path / MANIFEST).unlink(missing_ok=True)
            self._listed = {}

    def remove(self, name: str) -> None:
        """Remove one file of ours (listed), e.g. a run's working state once its results are written."""
        if name in self._names():
            (self.path / name).unlink(missing_ok=True)
            self._relist([n for n in self._names() if n != name])

    def adopt(self, names: Iterable[str]) -> None:
        """List ``names`` as ours: files an earlier version wrote before folders had a manifest."""
        self._relist([*self.written(), *(n for n in names if "/" not in n and (self.path / n).is_file())])

    def write(self, name: str, data: bytes) -> Path:
        """Write ``name`` atomically, listed as ours first; a file of that name that we did not
        write is never replaced (an :class:`InputError`)."""
        self._claim(name)
        io.write_bytes(self.path / name, data)
        return self.path / name

    def append(self, name: str, line: str) -> None:
        """Add a line to the log file ``name`` (listed as ours); a killed run leaves at worst a
        partial last line, which readers skip."""
        self._claim(name)
        with open(self.path / name, "a", encoding="utf-8") as fh:
            fh.write(line.rstrip("\n") + "\n")

    def _claim(self, name: str) -> None:
        names = self._names()
        if name in names:
            return
        if (self.path / name).exists():
            raise InputError(
                f"{self.path / name}: not written by stylesnake, and {self.what} would replace it; move it away"
            )
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / MANIFEST, "a", encoding="utf-8") as fh:
            fh.write(name + "\n")
        names[name] = None

    def _relist(self, names: Sequence[str]) -> None:
        self._listed = dict.fromkeys(names)
        io.write_bytes(self.path / MANIFEST, "".join(f"{n}\n" for n in self._listed).encode())
