"""The paintings the slow tab offers: style images for a Gatys transfer, each with its cleaned mask
when the workflow made one (then a photo's mask makes the transfer region by region).

A painting is known by its file's stem (``images/style/<stem>.png``, as the workflow lays them
out); its mask is ``<masks>/<stem>.png`` (default ``results/masks/style``, the workflow's cleaned
masks, whose colours are the project's labels). What a browser sends is only looked up here.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline import io
from pipeline.errors import InputError
from pipeline.fast.model import thumbnail_of
from pipeline.masks import Palette, hex_colour, read_mask
from pipeline.workflow import Paths

log = logging.getLogger(__name__)

DEFAULT_PAINTINGS = Path(Paths.images.format(kind="style"))
DEFAULT_MASKS = Path(Paths.masks.format(kind="style"))
EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")
MAX_COLOURS = 32  # more colours than labels anyone paints: an uncleaned mask


@dataclass(frozen=True)
class Painting:
    key: str  # the file's stem: the form's value
    image: Path
    mask: Path | None  # an exact label map (palette PNG), or None: unguided only
    palette: Palette | None  # the mask's colours: a photo's mask is cleaned onto them
    thumbnail_png: bytes
    mask_png: bytes | None  # the mask at thumbnail size: which colour paints which region

    @property
    def name(self) -> str:
        return self.key.replace("_", " ")


def load_paintings(folder: str | os.PathLike[str], masks: str | os.PathLike[str]) -> dict[str, Painting]:
    """Every readable image in ``folder``, by key, in name order; unreadable images and masks are
    skipped with a warning. A missing folder gives no paintings (the slow tab is then hidden)."""
    folder, masks = Path(folder), Path(masks)
    if not folder.is_dir():
        return {}
    paintings: dict[str, Painting] = {}
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in EXTENSIONS and p.is_file()):
        if path.stem in paintings:
            log.warning("skipped %s: another painting is called %s", path, path.stem)
            continue
        try:
            thumbnail = thumbnail_of(io.read_image(path).image)
        except InputError as exc:
            log.warning("skipped painting %s", exc)
            continue
        mask: Path | None = masks / f"{path.stem}.png"
        palette = None
        if mask is not None and mask.is_file():
            try:
                palette = mask_palette(mask)
            except InputError as exc:
                log.warning("painting %s: mask skipped (%s)", path.stem, exc)
                mask = None
        else:
            mask = None
        mask_png = None
        if mask is not None:  # nearest: the label colours stay exact
            small = Image.fromarray(read_mask(mask)).resize(thumbnail.size, Image.Resampling.NEAREST)
            mask_png = io.encode_image(small, "mask.png")
        paintings[path.stem] = Painting(
            path.stem, path, mask, palette, io.encode_image(thumbnail, "thumbnail.png"), mask_png
        )
        log.debug("painting %s%s", path.stem, " (with mask)" if mask else "")
    return paintings


def mask_palette(path: Path) -> Palette:
    """The labels of a cleaned mask: the names and colours ``clean-mask`` recorded in it, or its
    colours when it is exact but unnamed. A mask with in-between colours is refused."""
    try:
        with Image.open(path) as image:
            recorded = image.info.get("stylesnake-labels")
    except OSError:
        raise InputError(f"{path}: not a readable mask image") from None
    if recorded:
        try:
            return Palette.from_mapping(json.loads(recorded))
        except (ValueError, AttributeError, InputError):
            pass  # a damaged record: judge the mask by its colours
    colours = np.unique(read_mask(path).reshape(-1, 3), axis=0)
    if len(colours) > MAX_COLOURS:
        raise InputError(f"{path}: {len(colours)} colours, not a cleaned mask; clean it first (stylesnake clean-mask)")
    return Palette.from_colours([hex_colour(c) for c in colours])
