"""Spatial clean-up of a label map: specks (pieces of a label too small to mean anything) filled
from their surroundings, each pixel taking the label of its nearest kept pixel."""

from __future__ import annotations

import cv2
import numpy as np


def fill_from_nearest(labels: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Give every pixel outside ``known`` the label of the nearest pixel inside it."""
    if not known.any():
        return labels
    # OpenCV labels each zero pixel of the input uniquely (raster order) and reports, per pixel,
    # the label of the nearest zero pixel: a Voronoi fill in one C++ pass.
    _, nearest = cv2.distanceTransformWithLabels(
        (~known).astype(np.uint8), cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL
    )
    source = labels[known]  # raster order matches OpenCV's numbering
    filled = labels.copy()
    filled[~known] = source[nearest[~known] - 1]
    return filled


def remove_specks(labels: np.ndarray, min_area: int, *, n_labels: int) -> np.ndarray:
    """Fill every connected piece of a label smaller than ``min_area`` px from its surroundings,
    except each label's largest piece (a label painted small on purpose stays).

    One pass suffices: a filled pixel takes the label of its nearest kept pixel, so what it joins
    is connected to a piece that was already large enough.
    """
    if min_area <= 1:
        return labels
    small = np.zeros(labels.shape, bool)
    for index in range(n_labels):
        member = (labels == index).view(np.uint8)
        if not member.any():
            continue
        _, components, stats, _ = cv2.connectedComponentsWithStats(member, connectivity=8)
        areas = stats[1:, cv2.CC_STAT_AREA]
        tiny = np.flatnonzero(areas < min_area) + 1
        tiny = tiny[tiny != 1 + int(np.argmax(areas))]
        if len(tiny):
            lookup = np.zeros(len(stats), bool)
            lookup[tiny] = True
            small |= lookup[components]
    if not small.any() or small.all():
        return labels
    return fill_from_nearest(labels, ~small)
