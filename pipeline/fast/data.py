"""Training data for fast style: the images under a folder, each one's mask for guided training,
and step ``i``'s batch as a pure function of ``(seed, i)`` (so a resumed run sees the very batches
an uninterrupted one would), prepared by worker threads ahead of the step that needs it."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from pipeline import io
from pipeline.errors import InputError
from pipeline.masks import LabelMap, Palette, hex_colour, labels_at, read_mask

if TYPE_CHECKING:
    from pipeline.fast.config import TrainConfig

log = logging.getLogger(__name__)

Sources = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def sources(data: Sources) -> list[str]:
    """One folder or file, or several, as a list of strings."""
    return [str(data)] if isinstance(data, (str, os.PathLike)) else [str(d) for d in data]


def dataset(data: Sources, *, max_pixels: int = io.MAX_PIXELS) -> list[Path]:
    """The readable images in ``data`` (a folder, searched recursively, or a list of folders and
    image files), sorted. Unreadable ones are skipped and counted in a warning; none at all is an
    :class:`InputError`."""
    given = sources(data)
    folder = ", ".join(given)
    candidates = []
    for source in map(Path, given):
        if source.is_dir():
            candidates += [
                p for p in source.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg") and p.is_file()
            ]
        elif source.is_file():
            candidates.append(source)
        else:
            raise InputError(f"{source}: no such folder or image to train on")
    candidates = sorted(set(candidates))
    good, bad = [], 0
    for path in candidates:
        try:
            with Image.open(path) as image:
                image.verify()
                if image.width * image.height > max_pixels:
                    raise OSError("too large")
            good.append(path)
        except Exception:  # any decoding failure means "skip this file"
            bad += 1
    if bad:
        log.warning("%s: skipped %d unreadable image(s) of %d", folder, bad, len(candidates))
    if not good:
        raise InputError(f"{folder}: no readable .png/.jpg images to train on ({bad} unreadable)")
    return good


@dataclass(frozen=True)
class Guided:
    """Guided training's labels: the style's label map, and a mask for every training image."""

    style: LabelMap
    masks: dict[Path, Path]  # training image -> its painted mask
    min_area: int | None = None

    def labels(self, image: Path, size: tuple[int, int]) -> np.ndarray:
        """The image's label map, in the style's labels, at ``size`` (its own size, as loaded)."""
        labels = tuple(zip(self.style.names, map(hex_colour, self.style.colours), strict=True))
        return _cleaned(self.masks[image], labels, self.min_area, size)


@functools.lru_cache(maxsize=256)  # cleaning costs more than decoding; a few hundred maps are cheap to keep
def _cleaned(
    mask: Path, labels: tuple[tuple[str, str], ...], min_area: int | None, size: tuple[int, int]
) -> np.ndarray:
    palette = Palette.from_mapping(dict(labels))
    return labels_at(read_mask(mask), size, palette, min_area=min_area, name=str(mask))


def pair_masks(paths: list[Path], masks: Sources) -> dict[Path, Path]:
    """Each training image's mask: the file of the same stem in the ``masks`` folder(s). Images
    without one are left out (counted in a warning); none at all is an :class:`InputError`."""
    found: dict[str, Path] = {}
    for source in map(Path, sources(masks)):
        if not source.is_dir():
            raise InputError(f"{source}: no such folder of training masks")
        for mask in sorted(source.rglob("*")):
            if mask.suffix.lower() in (".png", ".jpg", ".jpeg") and mask.is_file():
                found.setdefault(mask.stem, mask)
    paired = {path: found[path.stem] for path in paths if path.stem in found}
    if len(paired) < len(paths):
        log.warning("%d of %d training image(s) have no mask (same file name) and are left out",
                    len(paths) - len(paired), len(paths))  # fmt: skip
    if not paired:
        raise InputError(
            f"none of the {len(paths)} training image(s) has a mask in {', '.join(sources(masks))}; "
            "a mask is the image's file name with .png, painted in the style mask's colours"
        )
    return paired


def batch_for(
    paths: list[Path], step: int, config: TrainConfig, guided: Guided | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Step ``step``'s batch (B, 3, size, size), images, crops and flips drawn from ``(seed, step)``,
    and for guided training the crops' label maps (B, size, size) cut the same way."""
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
    images, label_maps = [], []
    for _ in range(config.batch):
        index = int(torch.randint(len(paths), (1,), generator=generator))
        image = io.load_image(paths[index])
        labels = Image.fromarray(guided.labels(paths[index], image.size)) if guided else None
        scale = config.size / min(image.size) * float(1 + 0.25 * torch.rand(1, generator=generator))
        size = (max(config.size, round(image.width * scale)), max(config.size, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BILINEAR)
        x = int(torch.randint(image.width - config.size + 1, (1,), generator=generator))
        y = int(torch.randint(image.height - config.size + 1, (1,), generator=generator))
        box = (x, y, x + config.size, y + config.size)
        flip = bool(torch.rand(1, generator=generator) < 0.5)
        tensor = io.image_to_tensor(image.crop(box))
        images.append(tensor.flip(-1) if flip else tensor)
        if labels is not None:
            cut = np.asarray(labels.resize(size, Image.Resampling.NEAREST).crop(box))
            crop = torch.from_numpy(cut.astype(np.int64))
            label_maps.append(crop.flip(-1) if flip else crop)
    return torch.cat(images), torch.stack(label_maps) if label_maps else None


def batches(
    paths: list[Path], steps: range, config: TrainConfig, guided: Guided | None
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """:func:`batch_for` for each step, prepared ``workers`` threads ahead (decoding and resizing
    release the GIL); the order, and so the result, does not depend on the number of threads."""
    ahead = 2 * config.workers
    with ThreadPoolExecutor(config.workers, thread_name_prefix="batches") as pool:
        pending = [pool.submit(batch_for, paths, step, config, guided) for step in steps[:ahead]]
        for i in range(len(steps)):
            if i + ahead < len(steps):
                pending.append(pool.submit(batch_for, paths, steps[i + ahead], config, guided))
            yield pending[i].result()
            pending[i] = None  # type: ignore[call-overload]  # let the batch go
