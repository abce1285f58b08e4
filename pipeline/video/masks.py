"""Regions that follow the motion: label maps carried along the flow from keyframe masks.

A user paints (or proposes) the mask of a few frames, the *keyframes*; every other frame's mask is
carried from the nearest keyframes:

1. **Carried.** Each pixel takes the label of the pixel its flow comes from (nearest: labels are
   not averaged), and with it a confidence that fades a little with every frame.
2. **Decided where the flow is not trusted** (disoccluded pixels, motion boundaries, pixels that
   came from outside the frame, pixels where the frames disagree;
   :func:`pipeline.video.flow.certainty` and :func:`~pipeline.video.flow.agreement`): from the labels trusted
   nearby and the colours. Each label present among the trusted pixels gets a colour model (a
   Gaussian in CIELAB, fitted to its trusted pixels in this frame); an untrusted pixel takes the
   best-explained label among those trusted within :data:`REACH` of it, its colour evidence summed
   over a small window (a texture is judged as a whole, as in :mod:`pipeline.masks.propose`).
   Borders are where flow errors pile up, and re-deciding them by colour every frame keeps them
   from drifting.
3. **From both sides.** Between two keyframes, labels are carried forward from the earlier one and
   backward from the later one, and each pixel keeps the side it is more confident of (confidence
   fades with distance from the keyframe and drops where a label was decided by colour).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.video.flow import agreement, certainty, warp

#: The prior against a label, per pixel of distance from where it is trusted (nats): near labels
#: win ties of colour, and content entering at the frame's edge takes the labels beside it.
DISTANCE_COST = 0.25
#: Pixels on each side of a border between labels that are decided again in every frame.
BORDER = 2
#: The prior (nats) for the label a pixel carries along a trusted flow.
CARRIED = 2.0
#: Confidence kept per frame carried; a label decided by colour starts again from DECIDED.
FADE = 0.995
DECIDED = 0.5
#: Gaussian window (px) over which colour evidence is summed when deciding a pixel.
EVIDENCE = 1.5


@dataclass
class Carried:
    """A frame's labels as soft one-hot maps (carried with bilinear warps, so sub-pixel motion is
    not rounded away frame after frame, as nearest-neighbour warps round it), and how confident
    each pixel's label is (1 at a keyframe)."""

    soft: np.ndarray  # (K, H, W) float32, summing to 1 per pixel
    confidence: np.ndarray  # (H, W) float32 in [0, 1]

    @property
    def labels(self) -> np.ndarray:
        return self.soft.argmax(axis=0).astype(np.uint8)


def keyframe(labels: np.ndarray, count: int | None = None) -> Carried:
    """A keyframe's labels (0 … ``count`` − 1), fully confident."""
    count = int(labels.max()) + 1 if count is None else count
    soft = (labels[None] == np.arange(count)[:, None, None]).astype(np.float32)
    return Carried(soft, np.ones(labels.shape, np.float32))


def carry(
    previous: Carried,
    image: np.ndarray,
    neighbour: np.ndarray,
    towards_previous: np.ndarray,
    from_previous: np.ndarray,
) -> Carried:
    """The labels of the frame ``image`` (uint8 RGB), carried from ``previous``, the labels of the
    frame ``neighbour``, along the flows between them: ``towards_previous`` of this frame towards
    the neighbour, and ``from_previous`` the other way."""
    agrees = agreement(image, neighbour, towards_previous, from_previous)
    trusted = certainty(towards_previous, from_previous) * agrees > 0.5
    soft = np.stack([warp(channel, towards_previous) for channel in previous.soft])
    confidence = warp(previous.confidence, towards_previous) * FADE
    labels = soft.argmax(axis=0)
    # Borders are re-decided every frame too: the flow blurs across them (a moving object's flow
    # spills onto the background it uncovers, consistently both ways, so no check flags it).
    kernel = np.ones((2 * BORDER + 1, 2 * BORDER + 1), np.uint8)
    border = cv2.dilate(labels.astype(np.uint8), kernel) != cv2.erode(labels.astype(np.uint8), kernel)
    decided = _decide(labels, trusted & ~border, image, keep=trusted)
    rows, cols = np.nonzero(decided != labels)
    soft[:, rows, cols] = 0
    soft[decided[rows, cols], rows, cols] = 1
    confidence = np.where(trusted & ~border, confidence, np.minimum(confidence, DECIDED)).astype(np.float32)
    return Carried(soft, confidence)


def _decide(labels: np.ndarray, trusted: np.ndarray, image: np.ndarray, *, keep: np.ndarray) -> np.ndarray:
    """A label for every pixel not ``trusted``, from the trusted labels' colour models and their
    distance (see the module docstring); pixels in ``keep`` lean to the label they carry."""
    if trusted.all() or not trusted.any():  # nothing to decide, or nothing to decide from (a cut)
        return labels
    lab = cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_RGB2Lab).reshape(-1, 3).astype(np.float64)
    height, width = labels.shape
    present = [int(i) for i in np.unique(labels[trusted])]
    scores = np.empty((len(present), height * width))
    for row, index in enumerate(present):
        where = trusted & (labels == index)
        distance = cv2.distanceTransform((~where).astype(np.uint8), cv2.DIST_L2, 3).ravel()
        members = lab[where.ravel()]
        if len(members) < 4:  # too few pixels for a colour model: it may still claim its neighbours
            scores[row] = -20.0 - DISTANCE_COST * distance
            continue
        mean = members.mean(axis=0)
        covariance = np.cov(members, rowvar=False) + np.eye(3)
        centred = lab - mean
        mahalanobis = np.einsum("ij,jk,ik->i", centred, np.linalg.inv(covariance), centred)
        scores[row] = -0.5 * (mahalanobis + np.linalg.slogdet(covariance)[1]) - DISTANCE_COST * distance
        scores[row, (keep & (labels == index)).ravel()] += CARRIED
    # Posteriors summed over a small window: one odd pixel does not outvote its neighbourhood.
    posterior = np.exp(scores - scores.max(axis=0))
    posterior /= posterior.sum(axis=0)
    votes = np.stack(
        [cv2.GaussianBlur(p.reshape(height, width).astype(np.float32), (0, 0), EVIDENCE) for p in posterior]
    )
    chosen = np.array(present, np.uint8)[votes.argmax(axis=0)]
    return np.where(trusted, labels, chosen).astype(np.uint8)


def combine(forward: Carried, backward: Carried) -> Carried:
    """Between two keyframes: each pixel from the side it is more confident of."""
    ours = (forward.confidence >= backward.confidence)[None]
    return Carried(np.where(ours, forward.soft, backward.soft), np.maximum(forward.confidence, backward.confidence))


Flow = Callable[[np.ndarray, np.ndarray], np.ndarray]


def carry_through(frames: list[np.ndarray], start: Carried, flow: Flow) -> list[Carried]:
    """``start`` (the labels of ``frames[0]``) carried through the other ``frames`` in order."""
    carried = [start]
    for before, image in itertools.pairwise(frames):
        carried.append(carry(carried[-1], image, before, flow(image, before), flow(before, image)))
    return carried
