"""Masks from and to files: reading painted masks, saving label maps (palette PNGs), and a
mask cleaned for the image it was drawn on."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from io import BytesIO
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image, PngImagePlugin

from pipeline import io, outputs
from pipeline.errors import InputError, option
from pipeline.masks.clean import clean_mask
from pipeline.masks.palette import FOREIGN_DISTANCE, LabelMap, Palette, hex_colour

#: The text chunks of a label map we write: its labels' names and colours, and (a semantic mask's)
#: which labels stand in for which.
LABELS_CHUNK = "stylesnake-labels"
RELATED_CHUNK = "stylesnake-related"

log = logging.getLogger(__name__)


#: A dataclass with ``names`` and ``colours`` (a label map, a pairing).
Named = TypeVar("Named", bound=Any)


def read_mask(path: str | os.PathLike[str], *, max_pixels: int = io.MAX_PIXELS) -> np.ndarray:
    """A painted mask as (H, W, 3) uint8 RGB (PNG or JPEG, RGB, RGBA or palette)."""
    return np.asarray(io.load_image(path, max_pixels=max_pixels))


def save_label_map(label_map: LabelMap, path: str | os.PathLike[str]) -> None:
    """Save as a palette PNG whose palette entries are the label colours (atomically); the label
    names travel in a text chunk."""
    check_label_map_path(path)
    io.write_bytes(path, label_map_png(label_map))


def label_map_png(label_map: LabelMap) -> bytes:
    """The bytes :func:`save_label_map` writes: the names travel in a text chunk, and a semantic
    mask's relations between its labels in another (read back by :func:`read_chunks`)."""
    info = PngImagePlugin.PngInfo()
    info.add_itxt(LABELS_CHUNK, json.dumps(dict(zip(label_map.names, map(hex_colour, label_map.colours), strict=True))))
    if label_map.related:
        info.add_itxt(RELATED_CHUNK, json.dumps({name: list(r) for name, r in label_map.related.items()}))
    buffer = BytesIO()
    label_map.to_image().save(buffer, format="PNG", compress_level=3, pnginfo=info)
    return buffer.getvalue()


def mask_chunks(path: str | os.PathLike[str]) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """:func:`read_chunks` of the image file ``path``; both empty when it cannot be read."""
    try:
        with Image.open(path) as image:
            return read_chunks(image)
    except OSError:
        return {}, {}


def read_chunks(image: Image.Image) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """What a label map we wrote says of itself: its labels' names in order (name → ``#rrggbb``)
    and, for a semantic mask, their relations; both empty for any other image, or a damaged record."""
    text = image.info
    try:
        names = json.loads(text.get(LABELS_CHUNK, "{}"))
        related = json.loads(text.get(RELATED_CHUNK, "{}"))
    except (TypeError, ValueError):
        return {}, {}
    if not isinstance(names, dict) or not isinstance(related, dict):
        return {}, {}
    return {str(k): str(v) for k, v in names.items()}, {str(k): tuple(map(str, v)) for k, v in related.items()}


def mask_record(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The record beside a mask we made (``MASK.json``: which mask, from what, what was seen in the
    picture); empty for a painted mask, which has none."""
    try:
        record = json.loads(Path(f"{path}.json").read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def mask_kind(path: str | os.PathLike[str]) -> str:
    """Where a mask came from: ``semantic`` or ``colours`` (a proposal, as its record ``MASK.json``
    says), a ``cleaned`` mask, or (no record) a ``painted`` one."""
    return str(mask_record(path).get("mask", "painted"))


#: What a cleaned copy's record keeps of its source's: which mask it is, the parser and group table
#: that made it, and whether the parser saw one group only (said on the contact sheet).
RECORD_FACTS = ("mask", "model", "groups", "one_group")


def check_label_map_path(path: str | os.PathLike[str]) -> None:
    """A label map is written as PNG: refuse any other suffix before work starts."""
    if Path(path).suffix.lower() != ".png":
        raise InputError(f"{path}: a label map is saved as .png (lossless, with a palette)")


def clean_mask_file(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    k: int | None = None,
    palette: Palette | None = None,
    min_area: int | None = None,
    seed: int = 0,
    max_pixels: int = io.MAX_PIXELS,
) -> LabelMap:
    """Read a painted mask, clean it, save the label map; return it.

    A label map we wrote (``propose-mask``, ``--semantic``, ``clean-mask``: exact, in the colours
    its text chunk names) is copied pixel for pixel unless ``k`` or ``palette`` say otherwise, its
    label names and relations kept: they are how a semantic mask pairs by name and maps a group
    the painting lacks, and the workflow cleans every mask it guides with. Its record's facts
    (:data:`RECORD_FACTS`) travel into ``OUT.json``.

    Example (a mask painted as GIMP leaves it: soft edges, stray dabs, JPEG)::

        >>> from PIL import Image
        >>> from pipeline import clean_mask_file
        >>> from pipeline.synthetic.masks import gimp_mask
        >>> Image.fromarray(gimp_mask(0, size=(96, 64), k=3).painted).save("painted.png")
        >>> clean_mask_file("painted.png", "mask.png", k=3).names
        ('#2ca03d', '#3d84f2', '#865824')
    """
    check_label_map_out(out, source)
    painted = read_mask(source, max_pixels=max_pixels)
    names, related = mask_chunks(source) if k is None and palette is None else ({}, {})
    if names and _only_colours_of(painted, names):
        palette, min_area = Palette.from_mapping(names), 0 if min_area is None else min_area
    else:
        related = {}
    label_map = clean_mask(painted, k=k, palette=palette, min_area=min_area, seed=seed, name=str(source))
    label_map = dataclasses.replace(label_map, related=related)
    save_label_map(label_map, out)
    if Path(f"{source}.json").exists():  # a proposal, cleaned: it stays one (its record says which)
        facts = {key: value for key, value in mask_record(source).items() if key in RECORD_FACTS}
        record = {**facts, "mask": mask_kind(source), "cleaned_from": str(source)}
        io.write_bytes(f"{out}.json", io.json_bytes(record))
    log.info("%s: %d labels (%s) -> %s", source, len(label_map.colours), label_map.shares(), out)
    return label_map


def _only_colours_of(painted: np.ndarray, names: dict[str, str]) -> bool:
    """Whether every pixel is exactly one of the named colours, each its own (the map was written,
    not painted: nothing to clean, and its names are the labels')."""
    packed = (painted[..., 0].astype(np.uint32) << 16) | (painted[..., 1].astype(np.uint32) << 8) | painted[..., 2]
    try:
        named = [int(colour.lstrip("#"), 16) for colour in names.values()]
    except ValueError:
        return False
    return len(set(named)) == len(named) and bool(np.isin(np.unique(packed), named).all())


def check_label_map_out(out: str | os.PathLike[str], source: str | os.PathLike[str]) -> None:
    """Before any work: a label map made from ``source`` can be written to ``out`` (a .png, a
    writable place, not ``source`` itself)."""
    check_label_map_path(out)
    outputs.check_writable(out)
    outputs.refuse_overwriting_inputs(out, [source])


#: How far a mask's aspect ratio may differ from its image's (anti-aliased exports, odd crops).
ASPECT_TOLERANCE = 0.01


def check_drawn_for(
    mask_size: tuple[int, int],
    image_size: tuple[int, int],
    *,
    mask: str | os.PathLike[str],
    image: str | os.PathLike[str] = "its image",
) -> None:
    """A mask (``mask_size``, width and height) must have its image's aspect ratio within
    :data:`ASPECT_TOLERANCE`: one of another shape was drawn for another picture, and stretching
    it onto this one would move its regions. The one check wherever a mask meets its image."""
    (width, height), (image_width, image_height) = mask_size, image_size
    mismatch = abs((width / height) / (image_width / image_height) - 1)
    if mismatch > ASPECT_TOLERANCE:
        raise InputError(
            f"{mask}: mask is {width}x{height} but {image} is {image_width}x{image_height} "
            f"(aspect ratios differ by {100 * mismatch:.1f} %); draw the mask on the image itself"
        )


def load_label_map(
    path: str | os.PathLike[str],
    *,
    image: io.LoadedImage,
    k: int | None = None,
    palette: Palette | None = None,
    min_area: int | None = None,
    seed: int = 0,
    max_pixels: int = io.MAX_PIXELS,
) -> LabelMap:
    """The mask of a loaded ``image``: cleaned (or taken as it is when already exact) at its own
    resolution, then resized nearest-neighbour to the image's working size. A mask whose aspect
    ratio differs from the original image's by more than 1 % is refused: it was drawn for
    another picture."""
    painted = read_mask(path, max_pixels=max_pixels)
    height, width = painted.shape[:2]
    check_drawn_for((width, height), image.original_size, mask=path)
    names, related = mask_chunks(path)
    if palette is None and names:  # a label map we wrote (clean-mask, propose-mask): its own names
        palette = Palette.from_mapping(names)
    label_map = clean_mask(painted, k=k, palette=palette, min_area=min_area, seed=seed, name=str(path))
    label_map = dataclasses.replace(label_map, related=related)
    size = image.image.size
    if (width, height) == size:
        return label_map
    labels = _resized(label_map.labels, size)
    before, after = label_map.counts(), np.bincount(labels.ravel(), minlength=len(label_map.colours))
    lost = []
    for index in np.flatnonzero((before > 0) & (after == 0)):
        survives = _surviving_size(label_map.labels, int(index), max(size))
        why = (
            f"label {label_map.names[index]} ({before[index]} px of the {width}x{height} mask) vanishes at "
            f"{size[0]}x{size[1]} ({option('size')} {max(size)}); it survives from {option('size')} {survives}"
        )
        log.warning("%s: %s", path, why)
        lost.append((label_map.names[index], why))
    return dataclasses.replace(label_map, labels=labels, lost=tuple(lost))


def _resized(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(labels).resize(size, Image.Resampling.NEAREST), dtype=np.uint8)


def _surviving_size(labels: np.ndarray, index: int, start: int) -> int:
    """The smallest long side (from ``start`` up to the mask's own) at which label ``index`` keeps
    a pixel when the mask is resized nearest-neighbour, found by bisection."""
    height, width = labels.shape
    full = max(height, width)

    def survives(side: int) -> bool:
        scale = side / full
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        return bool((_resized(labels, size) == index).any())

    low, high = start, full
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if survives(middle) else (middle, high)
    return high


def labels_at(
    painted: np.ndarray, size: tuple[int, int], palette: Palette, *, min_area: int | None = None, name: str = "mask"
) -> np.ndarray:
    """A painted (H, W, 3) mask cleaned onto ``palette`` and resized (nearest) to ``size``
    (width, height) of the photo it was drawn on: label r is ``palette``'s r-th. A mask whose
    aspect ratio differs from the photo's by more than 1 % is an :class:`InputError`."""
    height, width = painted.shape[:2]
    check_drawn_for((width, height), size, mask=name, image="the photo")
    labels = clean_mask(painted, palette=palette, min_area=min_area, name=name).labels
    if (width, height) != tuple(size):
        labels = _resized(labels, (size[0], size[1]))
    return labels


def named_like(label_map: Named, reference: LabelMap) -> Named:
    """``label_map`` with its labels renamed after the ``reference`` labels of the closest colours
    (one to one, minimising the total colour distance, pairs farther than
    :data:`FOREIGN_DISTANCE` left out): how masks cleaned separately agree on which label is
    which. Labels with no match keep their own names. Works on anything with ``names`` and
    ``colours`` fields (a label map, or saved style targets)."""
    ours, theirs = label_map.colours.astype(np.float32), reference.colours.astype(np.float32)
    distances = np.linalg.norm(ours[:, None, :] - theirs[None, :, :], axis=2)
    exact = distances == 0
    if exact.any(axis=1).all():  # every colour is one of the reference's: that pairing costs nothing
        rows, cols = np.arange(len(ours)), exact.argmax(axis=1)
    else:
        from scipy.optimize import linear_sum_assignment  # deferred: scipy takes ~0.3 s to load

        rows, cols = linear_sum_assignment(np.minimum(distances, FOREIGN_DISTANCE * 10))
    names = list(label_map.names)
    for row, col in zip(rows, cols, strict=True):
        if distances[row, col] <= FOREIGN_DISTANCE:
            names[row] = reference.names[col]
    if len(set(names)) != len(names):  # an unmatched label whose own name is taken by a match
        names = [n if names.count(n) == 1 or n in reference.names else f"{n}'" for n in names]
    return dataclasses.replace(label_map, names=tuple(names))
