"""Intermediate images of a transfer (``--save-every N``), to watch it and to pick one.

Written beside the result as ``<out>.steps/<evaluation>.png`` (atomically, so a viewer never sees
half a file), with ``<out>.steps/index.json`` listing every snapshot and its loss, newest last.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from pipeline import io


def steps_folder(out: str | os.PathLike[str]) -> Path:
    """``result.png`` → ``result.png.steps``."""
    out = Path(out)
    return out.with_name(out.name + ".steps")


class Snapshots:
    """Writes the snapshots of one transfer; stages of a coarse-to-fine run continue the count
    (:meth:`next_stage`). A previous run's snapshots are removed first: the folder shows one run."""

    def __init__(self, out: str | os.PathLike[str]) -> None:
        self.folder = steps_folder(out)
        self.offset = 0
        self.entries: list[dict[str, Any]] = []
        if self.folder.is_dir():
            for old in [*self.folder.glob("*.png"), self.folder / "index.json"]:
                old.unlink(missing_ok=True)

    def __call__(self, evaluation: int, image: torch.Tensor, loss: float) -> None:
        number = self.offset + evaluation
        name = f"{number:05d}.png"
        self.folder.mkdir(parents=True, exist_ok=True)
        io.save_image(image, self.folder / name, metadata={"stylesnake-evaluation": str(number)})
        self.entries.append({"evaluation": number, "loss": loss, "file": name})
        io.write_bytes(self.folder / "index.json", io.json_bytes({"snapshots": self.entries}))

    def next_stage(self, evaluations: int) -> None:
        """The stage that just ended took ``evaluations``; the next one counts on from there."""
        self.offset += evaluations
