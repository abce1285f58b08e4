"""Pairing the regions of two masks whose labels do not share colours.

A proposed mask (or one painted without the project's palette) names its regions by arbitrary
colours, so the content's "sky" and the painting's sky cannot be paired by colour. We pair them by
what the regions are: where they lie (centre), how much of the image they cover (share) and, when
the images are at hand, what colours they hold there (mean and spread in CIELAB, lightness weighed
less, as a painting's light is not the photo's). One to one, at the least total cost (Hungarian
assignment, ``scipy.optimize.linear_sum_assignment``); content regions left over (the content has
more) take their cheapest style region. The result is a ``--label-map``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline import io
from pipeline.masks.clean import clean_mask
from pipeline.masks.files import check_drawn_for, read_mask
from pipeline.masks.palette import LabelMap, Palette

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
    not drawn on its image's shape is refused (:func:`~pipeline.masks.files.check_drawn_for`)."""
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
