"""Pairing the regions of two masks whose labels do not share colours, or that the painting lacks.

A proposed mask (or one painted without the project's palette) names its regions by arbitrary
colours, so the content's "sky" and the painting's sky cannot be paired by colour. We pair them by
what the regions are: where they lie (centre), how much of the image they cover (share) and, when
the images are at hand, what colours they hold there (mean and spread in CIELAB, lightness weighed
less, as a painting's light is not the photo's). One to one, at the least total cost (Hungarian
assignment, ``scipy.optimize.linear_sum_assignment``); content regions left over (the content has
more) take their cheapest style region. The result is a ``--label-map``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from pipeline import io
from pipeline.masks.clean import clean_mask
from pipeline.masks.label_maps import check_drawn_for, read_mask
from pipeline.masks.palette import LabelMap, Palette, hex_colour
from pipeline.masks.semantic import related_label_map

log = logging.getLogger(__name__)

#: Cost weights: centre distance (in image sides), log ratio of shares, colour distance (CIELAB / 100).
POSITION, SIZE, COLOUR = 1.0, 0.25, 0.5


@dataclass(frozen=True)
class RegionStats:
    """Statistics of the regions present in a label map (``indices`` into its labels)."""

    indices: tuple[int, ...]
    share: np.ndarray  # (R,) of the image
    centre: np.ndarray  # (R, 2) y, x in [0, 1]
    colour: np.ndarray | None  # (R, 6) CIELAB mean and spread, lightness halved; None without an image


def region_stats(label_map: LabelMap, image: np.ndarray | None = None) -> RegionStats:
    """Share, centre and (with the (H', W', 3) uint8 ``image``, resized to the map) colour of every
    region present in ``label_map``."""
    labels = label_map.labels
    height, width = labels.shape
    counts = label_map.counts()
    indices = tuple(int(i) for i in np.flatnonzero(counts))
    flat = labels.ravel()
    rows, cols = np.mgrid[0:height, 0:width]
    n = len(label_map.colours)
    centre_y = np.bincount(flat, weights=(rows.ravel() + 0.5) / height, minlength=n)
    centre_x = np.bincount(flat, weights=(cols.ravel() + 0.5) / width, minlength=n)
    picked = list(indices)
    share = counts[picked] / labels.size
    centre = np.stack([centre_y[picked], centre_x[picked]], axis=1) / counts[picked, None]
    colour = None
    if image is not None:
        if image.shape[:2] != labels.shape:
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        lab = cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_RGB2Lab).reshape(-1, 3)
        lab *= np.array([0.5, 1, 1], np.float32)
        sums = np.stack([np.bincount(flat, weights=lab[:, c], minlength=n) for c in range(3)], 1)[picked]
        square = np.stack([np.bincount(flat, weights=lab[:, c] ** 2, minlength=n) for c in range(3)], 1)[picked]
        mean = sums / counts[picked, None]
        spread = np.sqrt(np.maximum(square / counts[picked, None] - mean**2, 0))
        colour = np.concatenate([mean, spread], axis=1)
    return RegionStats(indices=indices, share=share, centre=centre, colour=colour)


def pairing_cost(content: RegionStats, style: RegionStats) -> np.ndarray:
    """(R_content, R_style) cost of giving each content region each style region."""
    cost = POSITION * np.linalg.norm(content.centre[:, None] - style.centre[None], axis=2)
    cost += SIZE * np.abs(np.log(content.share[:, None] / style.share[None]))
    if content.colour is not None and style.colour is not None:
        cost += COLOUR * np.linalg.norm(content.colour[:, None] - style.colour[None], axis=2) / 100
    return cost


def match_label_maps(
    content: LabelMap,
    style: LabelMap,
    *,
    content_image: np.ndarray | None = None,
    style_image: np.ndarray | None = None,
) -> dict[str, str]:
    """Content label name → style label name for every region present in ``content``: one to one
    at the least total cost, the content's extra regions to their cheapest style region."""
    from scipy.optimize import linear_sum_assignment

    ours, theirs = region_stats(content, content_image), region_stats(style, style_image)
    if not theirs.indices:
        return {}
    cost = pairing_cost(ours, theirs)
    rows, cols = linear_sum_assignment(cost)
    chosen = dict(zip(rows.tolist(), cols.tolist(), strict=True))
    for row in range(len(ours.indices)):
        chosen.setdefault(row, int(cost[row].argmin()))
    return {content.names[ours.indices[row]]: style.names[theirs.indices[col]] for row, col in sorted(chosen.items())}


def label_map_text(pairs: dict[str, str]) -> str:
    """``{"a": "b"}`` as the ``--label-map`` flag's value, ``a=b,...``."""
    return ",".join(f"{content}={style}" for content, style in pairs.items())


def match_mask_files(
    content_mask: str | os.PathLike[str],
    style_mask: str | os.PathLike[str],
    *,
    content: str | os.PathLike[str] | None = None,
    style: str | os.PathLike[str] | None = None,
    ks: Sequence[int | None] = (None, None),
    palette: Palette | None = None,
    min_area: int | None = None,
    max_pixels: int = io.MAX_PIXELS,
) -> dict[str, str]:
    """:func:`match_label_maps` on two mask files (cleaned with ``ks``, one per mask, or
    ``palette``), with their images' colours where ``content`` and ``style`` are given; a mask
    not drawn on its image's shape is refused (:func:`~pipeline.masks.label_maps.check_drawn_for`)."""
    masks = (content_mask, style_mask)
    painted = [read_mask(path, max_pixels=max_pixels) for path in masks]
    images = [None if path is None else io.read_image(path, max_pixels=max_pixels) for path in (content, style)]
    for mask, array, image, path in zip(masks, painted, images, (content, style), strict=True):
        if image is not None:
            check_drawn_for((array.shape[1], array.shape[0]), image.original_size, mask=mask, image=path or "")
    maps = [
        clean_mask(array, k=k, palette=palette, min_area=min_area, name=str(path))
        for path, array, k in zip(masks, painted, ks, strict=True)
    ]
    arrays = [None if image is None else np.asarray(image.image) for image in images]
    return match_label_maps(maps[0], maps[1], content_image=arrays[0], style_image=arrays[1])


def pairing_when_unshared(
    content: LabelMap,
    styles: Sequence[Any],
    *,
    content_image: np.ndarray | None,
    style_images: Sequence[np.ndarray | None],
    name: str = "content mask",
) -> dict[str, str] | None:
    """The ``--label-map`` for content labels that no style mask holds, said in one warning; None
    when every content label has its style region (they pair by name and colour).

    A semantic mask carries its groups' relations: a missing group takes the nearest related group
    the styles hold (:func:`pipeline.masks.semantic.related_label_map`). Other masks (a proposal,
    masks painted in other colours) pair the regions of the first style image with one by
    position, size and colour (:func:`match_label_maps`)."""
    present = [content.names[i] for i in np.flatnonzero(content.counts())]
    held = sorted({labels.names[i] for labels in styles for i in np.flatnonzero(labels.counts())})
    if set(present) <= set(held):
        return None
    if content.related:
        pairs = related_label_map(present, held, content.related)
        log.warning(
            "%s: the painting has no %s; each takes its nearest related group the painting has: --label-map %s "
            "(give --label-map to choose otherwise)", name, ", ".join(pairs), label_map_text(pairs),
        )  # fmt: skip
        return pairs
    first = next((i for i, image in enumerate(style_images) if image is not None), None)
    if first is None or not isinstance(styles[first], LabelMap):
        return None
    labels = styles[first]
    matched = match_label_maps(content, labels, content_image=content_image, style_image=style_images[first])
    # Each style label by its own colour: named_like may have given it the name (a colour) of the
    # content label it resembles, which would read as the content's colour in the warning.
    pairs = {c: hex_colour(labels.colours[labels.names.index(s)]) for c, s in matched.items()}
    log.warning(
        "%s: its labels are not all in the style mask's colours; regions paired by position, size and colour: "
        "--label-map %s (give --label-map to choose otherwise)", name, label_map_text(pairs),
    )  # fmt: skip
    return pairs
