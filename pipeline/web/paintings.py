"""The paintings the slow tab offers: style images for a Gatys transfer, each with its cleaned mask
when the workflow made one (then a photo's mask makes the transfer region by region).

A painting is known by its file's stem (``images/style/<stem>.png``, as the workflow lays them
out); its mask is ``<masks>/<stem>.png`` (default ``results/masks/style``, the workflow's cleaned
masks, whose colours are the project's labels). What a browser sends is only looked up here.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline import io
from pipeline.errors import InputError
from pipeline.fast.model import thumbnail_of
from pipeline.masks import Palette, check_drawn_for, hex_colour
from pipeline.masks.label_maps import read_chunks
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


def load_paintings(
    folder: str | os.PathLike[str], masks: str | os.PathLike[str], *, max_pixels: int = io.MAX_PIXELS
) -> dict[str, Painting]:
    """Every readable image in ``folder``, by key, in name order. An unreadable painting (damaged,
    or over ``max_pixels``: a decompression bomb) is skipped with a warning naming the file; one
    with an unusable mask is offered unguided, also with a warning: one bad file should not keep
    the site from starting. A mask drawn for another shape is unusable too (the one aspect check
    wherever a mask meets its image, :func:`~pipeline.masks.check_drawn_for`): stretched onto the
    painting, its regions would move. A missing folder gives no paintings (the slow tab is then hidden)."""
    folder, masks = Path(folder), Path(masks)
    if not folder.is_dir():
        return {}
    paintings: dict[str, Painting] = {}
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in EXTENSIONS and p.is_file()):
        if path.stem in paintings:
            log.warning("skipped %s: another painting is called %s", path, path.stem)
            continue
        try:
            loaded = io.read_image(path, max_pixels=max_pixels)
        except InputError as exc:
            log.warning("skipped painting %s", exc)
            continue
        thumbnail = thumbnail_of(loaded.image)
        mask, palette, mask_png = _mask_of(path, masks / f"{path.stem}.png", loaded.original_size, thumbnail.size,
                                           max_pixels)  # fmt: skip
        paintings[path.stem] = Painting(
            path.stem, path, mask, palette, io.encode_image(thumbnail, "thumbnail.png"), mask_png
        )
        log.debug("painting %s%s", path.stem, " (with mask)" if mask else "")
    return paintings


def _mask_of(
    painting: Path, mask: Path, painting_size: tuple[int, int], size: tuple[int, int], max_pixels: int
) -> tuple[Path | None, Palette | None, bytes | None]:
    """The painting's mask (drawn for ``painting_size``), its labels, and the mask at ``size`` as
    PNG; all None when it has no mask or an unusable one (then with a warning: offered unguided)."""
    if not mask.is_file():
        return None, None, None
    try:
        rgb, recorded = _read_mask(mask, max_pixels)
        check_drawn_for((rgb.shape[1], rgb.shape[0]), painting_size, mask=mask, image=painting)
        palette = _palette(mask, rgb, recorded)
    except InputError as exc:
        log.warning("painting %s: mask skipped, offered unguided (%s)", painting.stem, exc)
        return None, None, None
    small = Image.fromarray(rgb).resize(size, Image.Resampling.NEAREST)  # nearest: the label colours stay exact
    return mask, palette, io.encode_image(small, "mask.png")


def mask_palette(path: Path, *, max_pixels: int = io.MAX_PIXELS) -> Palette:
    """The labels of a cleaned mask: the names and colours ``clean-mask`` recorded in it, or its
    colours when it is exact but unnamed. A mask with in-between colours is refused."""
    return _palette(path, *_read_mask(path, max_pixels))


def read_mask_rgb(path: Path, max_pixels: int = io.MAX_PIXELS) -> np.ndarray:
    """A painting's mask as (H, W, 3) RGB (read again: masks are not kept in memory)."""
    return _read_mask(path, max_pixels)[0]


def _read_mask(path: Path, max_pixels: int) -> tuple[np.ndarray, dict[str, str]]:
    """The mask as (H, W, 3) RGB through :func:`pipeline.io.decode_image` (a bomb, a truncated or
    foreign file: an :class:`InputError` naming it), and the label names ``clean-mask`` recorded."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the mask ({exc.strerror or exc}); check its permissions") from None
    rgb = np.asarray(io.decode_image(BytesIO(data), max_pixels=max_pixels, name=str(path)))
    # The record comes from the very bytes the guard just passed (no file swapped in between).
    # Pillow's own bomb check still runs on them; should max_pixels be set above it, only the
    # record is lost, and the mask is judged by its colours.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(BytesIO(data)) as image:
                recorded = read_chunks(image)[0]
        except Image.DecompressionBombError:
            recorded = {}
    return rgb, recorded


def _palette(path: Path, rgb: np.ndarray, recorded: dict[str, str]) -> Palette:
    colours = np.unique(rgb.reshape(-1, 3), axis=0)
    if recorded:
        try:
            named = Palette.from_mapping(recorded)
            # The labels the mask has: a semantic mask's record names every group of its table.
            present = [i for i, c in enumerate(named.colours) if (colours == c).all(axis=1).any()]
            return Palette(tuple(named.names[i] for i in present), named.colours[present])
        except (ValueError, AttributeError, InputError):
            pass  # a damaged record: judge the mask by its colours
    if len(colours) > MAX_COLOURS:
        raise InputError(f"{path}: {len(colours)} colours, not a cleaned mask; clean it first (stylesnake clean-mask)")
    return Palette.from_colours([hex_colour(c) for c in colours])
