"""Intermediate images of a transfer (``--save-every N``), to watch it and to pick one.

Written beside the result as ``<out>.steps/<evaluation>.png`` (atomically, so a viewer never sees
half a file), with ``<out>.steps/index.json`` listing every snapshot and its loss, newest last.

A new run replaces the previous run's snapshots, and nothing else: the folder is an
:class:`~pipeline.outputs.OwnedFolder`, so a file we did not write stays. A run that starts from
a snapshot (``--init image:result.png.steps/00050.png``, the "watch it and pick one" story) or
reads any other input from that folder leaves it as it is and writes its own snapshots to the
first ``<out>.steps-N`` that holds none of its inputs.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from pipeline import io
from pipeline.outputs import MANIFEST, OwnedFolder

log = logging.getLogger(__name__)

INDEX = "index.json"


def steps_folder(out: str | os.PathLike[str]) -> Path:
    """``result.png`` → ``result.png.steps``."""
    out = Path(out)
    return out.with_name(out.name + ".steps")


class Snapshots:
    """Writes the snapshots of one transfer; stages of a coarse-to-fine run continue the count
    (:meth:`next_stage`). The previous run's snapshots are removed at the first snapshot, so a
    run that fails before it leaves them as they were."""

    def __init__(self, out: str | os.PathLike[str], *, inputs: Iterable[str | os.PathLike[str] | None] = ()) -> None:
        inputs = list(inputs)
        first = steps_folder(out)
        self.folder = OwnedFolder(first, what="--save-every")
        number = 2
        while self.folder.holds(inputs):
            self.folder = OwnedFolder(first.with_name(f"{first.name}-{number}"), what="--save-every")
            number += 1
        if (self.folder.path / INDEX).is_file() and not (self.folder.path / MANIFEST).exists():
            # Written before snapshot folders had a manifest: the index lists what that run wrote.
            self.folder.adopt(_listed(self.folder.path / INDEX))
        if self.folder.path != first:
            log.info("%s holds an input of this run; its snapshots go to %s", first, self.folder.path)
        self.offset = 0
        self.entries: list[dict[str, Any]] = []

    @property
    def path(self) -> Path:
        return self.folder.path

    def __call__(self, evaluation: int, image: torch.Tensor, loss: float) -> None:
        if not self.entries:
            self.folder.clear()
        number = self.offset + evaluation
        name = f"{number:05d}.png"
        data = io.encode_image(image, name, metadata={"stylesnake-evaluation": str(number)})
        self.folder.write(name, data)
        self.entries.append({"evaluation": number, "loss": loss, "file": name})
        self.folder.write(INDEX, io.json_bytes({"snapshots": self.entries}))

    def next_stage(self, evaluations: int) -> None:
        """The stage that just ended took ``evaluations``; the next one counts on from there."""
        self.offset += evaluations


def _listed(index: Path) -> list[str]:
    """The snapshot files an index names (and the index itself), or none."""
    try:
        entries = json.loads(index.read_text())["snapshots"]
        return [str(entry["file"]) for entry in entries] + [INDEX]
    except (OSError, ValueError, KeyError, TypeError):
        return []
