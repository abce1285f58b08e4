"""Region by region: each region of the photo takes the style vector of its paired region of the
painting (paired as spatial control pairs them, :mod:`pipeline.masks.pairs`).

A region's vector comes from the painting's pixels of that region alone, at the scale the whole
painting is read at: the region's bounding box, with the pixels outside the region taking the
colour of the nearest pixel inside it, mirrored out to the predictor's square where it is
smaller. The photo is stylised once per region vector and the results are laid together under
the photo's mask, feathered over a pixel or two so that no seam shows between regions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from pipeline.arbitrary.networks import STYLE_SIDE, style_square
from pipeline.masks.palette import LabelMap

if TYPE_CHECKING:
    from pipeline.masks.pairs import Pairing

#: The feather between regions: a Gaussian of this many px per 512 px of the photo's long side.
FEATHER = 1.0


def region_square(painting: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """The predictor's square (:data:`STYLE_SIDE`) of the painting's pixels where ``inside`` (H, W
    bool), at the scale :func:`~pipeline.arbitrary.networks.style_square` reads the whole painting."""
    rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    crop, known = painting[top:bottom, left:right].copy(), inside[top:bottom, left:right]
    if not known.all():
        import cv2  # deferred: regions only (a plain run loads no OpenCV)

        _, nearest = cv2.distanceTransformWithLabels(
            (~known).astype(np.uint8), cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL
        )
        source = np.zeros(int(nearest.max()) + 1, np.int64)
        source[nearest[known]] = np.flatnonzero(known.reshape(-1))
        crop = crop.reshape(-1, 3)[source[nearest]].reshape(crop.shape)
    scale = STYLE_SIDE / min(painting.shape[:2])
    width, height = max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))
    scaled = np.asarray(Image.fromarray(crop).resize((width, height), Image.Resampling.LANCZOS))
    grow = ((0, max(0, STYLE_SIDE - height)), (0, max(0, STYLE_SIDE - width)), (0, 0))
    return style_square(np.pad(scaled, grow, mode="symmetric"))  # mirrored, so no edge shows


def region_vectors(vector_of: Callable[[int, int], np.ndarray], pairing: Pairing, blend: Sequence[float]) -> np.ndarray:
    """(R, 100): each region's vector, the paintings that hold it mixed by ``blend`` (as several
    paintings mix for a whole photo). ``vector_of(i, source)`` is painting ``i``'s vector of its
    label ``source``, or of the whole painting for :data:`~pipeline.masks.pairs.WHOLE`."""
    vectors = []
    for r in range(len(pairing.names)):
        total, mixed = 0.0, np.zeros(0, np.float32)
        for i, sources in enumerate(pairing.sources):
            source = sources[r]
            if source is None or blend[i] == 0:
                continue
            weighted = np.float32(blend[i]) * vector_of(i, source)
            mixed = weighted if total == 0 else mixed + weighted
            total += blend[i]
        vectors.append(mixed / np.float32(total))
    return np.stack(vectors)


def feathered(content: LabelMap, pairing: Pairing) -> np.ndarray:
    """(R, H, W) weights summing to 1 at each pixel: each region's share of the photo, its edges
    blurred by :data:`FEATHER`."""
    return feather(np.stack([(content.labels == index).astype(np.float32) for index in pairing.present]))


def feather(masks: np.ndarray) -> np.ndarray:
    """Hard region masks (R, H, W) as weights summing to 1 at each pixel, their edges blurred by
    :data:`FEATHER`."""
    sigma = FEATHER * max(masks.shape[1:]) / 512
    if sigma >= 0.3:
        import cv2  # deferred: regions only (a plain run loads no OpenCV)

        masks = np.stack([cv2.GaussianBlur(mask, (0, 0), sigma, borderType=cv2.BORDER_REFLECT) for mask in masks])
    return masks / np.maximum(masks.sum(axis=0, keepdims=True), 1e-6)
