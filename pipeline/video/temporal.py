"""Temporal consistency: each frame starts from the previous result carried along the flow, and a
temporal loss holds it there wherever the flow can be trusted (Ruder et al. 2016).

The temporal loss of frame t is ``λ / D · Σ_j Σ_k c_jk (x_k − ω_jk)²`` (D = C·H·W): ω_j is the
result of an earlier frame warped onto this one along the backward flow, c_j its certainty
(:func:`pipeline.video.flow.certainty` times :func:`~pipeline.video.flow.agreement`); with the
long-term option the earlier frames are t−1, t−2 and t−4, each counting only where no closer one
is certain (Ruder's weights). The sum runs over the transfer's canvas, ω_j and c_j mirrored over
its margin (:class:`TemporalLoss`), and D counts the canvas's values.

λ is the user's ``--temporal-weight`` times the clip's *reference loss*: the loss of the first
frame's photo against the style (content and style terms at the photo itself). The optimiser is
scale-free (:mod:`pipeline.core.optim`), so only the ratio between the terms matters; tying λ to that
loss makes one weight mean the same with ImageNet or random VGG weights and any style weight
(Ruder's λ = 1e3 was tuned for one network and one normalisation).

The measurements behind the defaults are in docs/guides/video.md and docs/design-notes.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from pipeline.gatys.canvas import extend
from pipeline.video.flow import sources, warp
from pipeline.video.revealed import fill

#: Earlier frames the long-term option looks back to (Ruder et al.'s J = {1, 2, 4}).
LONG_TERM = (1, 2, 4)


@dataclass(frozen=True)
class Warped:
    """An earlier result brought onto this frame, where that can be trusted (the temporal term's
    weights), and where it is a fair start at all (:func:`start_image`)."""

    image: torch.Tensor  # (1, 3, H, W) in [0, 1]
    certainty: torch.Tensor  # (1, 1, H, W) in [0, 1]
    keep: torch.Tensor  # (1, 1, H, W) in [0, 1]


#: The feather (Gaussian, px) between what a later frame keeps of the previous result and what it
#: fills in anew (:func:`start_image`).
FEATHER = 1.0
#: Paint a result made within this many px of its frame's edge is not carried further in
#: (:func:`from_the_edge`; docs/design-notes.md, "Video").
EDGE_PAINT = 2.0
#: How far in (px) paint from the edge must have come to be :func:`from_the_edge`'s.
EDGE_MOVED = 0.25


def warped(
    result: np.ndarray, flow: np.ndarray, certainty: np.ndarray, *, agrees: np.ndarray, resampling: str
) -> Warped:
    """``result`` (an earlier frame's, (H, W, 3) uint8) warped along ``flow`` (this frame towards
    that one) as tensors, trusted where ``certainty`` and ``agrees``
    (:func:`pipeline.video.flow.agreement`) both say so, kept as a start where ``agrees`` does,
    except paint that :func:`from_the_edge` carries in from the edge."""
    image = warp(result.astype(np.float32) / 255, flow, resampling=resampling).clip(0, 1)
    agrees = agrees * ~from_the_edge(flow, EDGE_PAINT)
    keep = cv2.GaussianBlur(agrees.astype(np.float32), (0, 0), FEATHER) * agrees  # nothing of a disagreement kept

    def tensor(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None, None]

    return Warped(
        torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None], tensor(certainty * agrees), tensor(keep)
    )


def from_the_edge(flow: np.ndarray, depth: float = EDGE_PAINT) -> np.ndarray:
    """Where ``flow`` (this frame towards the earlier one) brings paint from within ``depth`` px of
    the earlier frame's edge further into this one: (H, W) bool.

    What comes into view at an edge is painted there with the frame's edge beside it (a mirrored
    margin for the style's windows, :mod:`pipeline.gatys.canvas`); carried inward as the camera
    pans or pulls back, that look would stay, a band along the edges. Painted again until it is
    ``depth`` px in, it is painted as the frame's inside is. Paint that stays at the edge (a still
    camera) is kept: repainted in every frame it would flicker."""
    height, width = flow.shape[:2]
    sx, sy = sources(flow)
    source = np.minimum(np.minimum(sx, width - 1 - sx), np.minimum(sy, height - 1 - sy))
    rows, cols = np.arange(height, dtype=np.float32), np.arange(width, dtype=np.float32)
    here = np.minimum(np.minimum(rows, height - 1 - rows)[:, None], np.minimum(cols, width - 1 - cols)[None, :])
    return np.asarray((source < depth) & (here > source + EDGE_MOVED))


#: Frames what the motion revealed is painted on its own before it is held (``--reveal-frames``'s
#: default; docs/design-notes.md, "Video").
REVEAL_FRAMES = 3
#: The age :func:`carried_age` gives what was never revealed (it stops counting there).
LONG_AGO = 255


def carried_age(age: np.ndarray | None, flow: np.ndarray, agrees: np.ndarray) -> np.ndarray:
    """Frames since each pixel was revealed, for this frame: (H, W) uint8. ``age`` is the earlier
    frame's (None: nothing revealed yet), carried along ``flow`` (this frame towards that one) and
    one more where the frames agree (the second map of :func:`pipeline.video.flow.agreements`); 0
    where they do not.

    A painting draws a halo around a moving object. What the object uncovers is painted while the
    object is still beside it; held from then on, that halo stays behind at every place the object
    passed. Painted on its own for :data:`REVEAL_FRAMES` frames (:func:`held_after`), it is painted as
    the frames paint it once the object has moved on; sooner held where its paint has no halo in
    it (:func:`without_stale`)."""
    if age is None:
        carried = np.full(flow.shape[:2], LONG_AGO, np.uint8)
    else:
        carried = np.minimum(warp(age, flow, resampling="nearest").astype(np.int32) + 1, LONG_AGO).astype(np.uint8)
    return np.where(agrees > 0.5, carried, 0).astype(np.uint8)


def held_after(age: np.ndarray, frames: int = REVEAL_FRAMES) -> np.ndarray:
    """Where what the motion revealed has been painted on its own in ``frames`` frames, and is
    held from now on, as a 0/1 float32 map (what was never revealed is settled)."""
    return np.asarray(age >= frames, dtype=np.float32)


def start_image(
    previous: Warped, photo: torch.Tensor, labels: np.ndarray | None = None, repainted: torch.Tensor | None = None
) -> torch.Tensor:
    """A later frame's start: the previous result warped onto it where it shows what this frame
    shows; where the motion revealed something new or brought it in at an edge, ``repainted``
    (the frame painted on its own, :meth:`~pipeline.video.transfer.ClipTransfer._repainted`), or
    without it the stylised pixels beside it that look most like it in the ``photo``
    (:mod:`pipeline.video.revealed`, within the frame's region ``labels`` when guided).

    Ruder et al. start from the warped result everywhere, and rely on the iterations to repaint
    what it dragged into a disoccluded pixel; in a few dozen evaluations they do not, and the copy
    of the object becomes a ghost that the temporal term then holds in every later frame. Nor is
    the previous result dropped wherever the flow is merely uncertain
    (:func:`~pipeline.video.flow.certainty` fails in flat, dark or noisy parts that did not move,
    and a pixel painted anew in every frame is a new texture in every frame): only where the
    frames disagree (:func:`~pipeline.video.flow.agreement`), which such parts do not."""
    if repainted is not None:
        return (previous.keep * previous.image + (1 - previous.keep) * repainted.to(previous.image)).contiguous()
    image = previous.image[0].permute(1, 2, 0).numpy()
    keep = previous.keep[0, 0].numpy()
    filled = fill(image, keep > 0, photo[0].permute(1, 2, 0).cpu().float().numpy(), labels)
    start = keep[..., None] * image + (1 - keep[..., None]) * filled
    return torch.from_numpy(np.ascontiguousarray(start, dtype=np.float32)).permute(2, 0, 1)[None].contiguous()


#: Carried paint is stale where its low-pass colour (a Gaussian of :data:`STALE_BLUR` px) departs
#: from the frame painted on its own by more than this many times the median departure over what
#: is kept (docs/design-notes.md, "Video").
STALE, STALE_BLUR = 3.5, 2.0
#: Young paint (what the motion revealed, :data:`REVEAL_FRAMES` frames not yet past) is kept only
#: where it departs from the frame painted on its own at most this many times that median.
YOUNG_STALE = 1.0


def without_stale(previous: Warped, repainted: torch.Tensor, young: np.ndarray | None = None) -> Warped:
    """``previous`` with what it carries stale dropped, neither kept as the start nor held by the
    temporal term: where its low-pass colour departs from ``repainted`` (the frame painted on its
    own) far more than it does over the rest of the frame (:data:`STALE`), and where it is
    ``young`` ((H, W) bool: revealed fewer than ``--reveal-frames`` frames ago) and departs more
    than the settled paint typically does (:data:`YOUNG_STALE`).

    Two paintings of one frame differ in their strokes everywhere, but under a low-pass only a
    little; a smear the flow carried (a dark object dragged over a dark background, where the
    frames themselves hardly disagree) differs in colour, and is caught here where
    :func:`~pipeline.video.flow.agreement`, which compares photos, cannot see it. Young paint was
    made beside a moving object, with the halo a painting draws around it (:func:`carried_age`);
    where it departs from the frame painted on its own no more than settled paint does there is no
    halo in it, and painted anew it would only flicker as independent frames do."""

    def low_pass(image: torch.Tensor) -> np.ndarray:
        return cv2.GaussianBlur(image[0].permute(1, 2, 0).float().numpy(), (0, 0), STALE_BLUR)

    departure = np.sqrt(((low_pass(previous.image) - low_pass(repainted.clamp(0, 1))) ** 2).sum(axis=-1))
    young = np.zeros(departure.shape, bool) if young is None else young
    kept = previous.keep[0, 0].numpy() > 0.5
    if not kept.any():
        return previous
    settled = kept & ~young
    typical = float(np.median(departure[settled if settled.any() else kept]))
    stale = cv2.dilate((departure > STALE * typical).astype(np.float32), np.ones((3, 3)))
    fresh = (1 - cv2.GaussianBlur(stale, (0, 0), FEATHER)) * (1 - stale)  # nothing stale kept, feathered
    return dropped(previous, (1 - fresh) + (young & (departure > YOUNG_STALE * typical)))


def dropped(previous: Warped, where: np.ndarray) -> Warped:
    """``previous`` neither kept nor held where ``where`` ((H, W), 0 to 1) says so."""
    weight = torch.from_numpy(np.ascontiguousarray(1 - np.minimum(where, 1), dtype=np.float32))[None, None]
    return dataclasses.replace(previous, keep=previous.keep * weight, certainty=previous.certainty * weight)


def held_as_started(previous: Warped, repainted: torch.Tensor | None) -> list[Warped]:
    """The temporal term's targets for a frame whose start is :func:`start_image` of ``previous``
    and ``repainted`` (the frame painted on its own, None without it): each pixel is held to what
    its start came from, as much as the start took from it.

    - The carried result is held at least as much as it is kept. Its certainty
      (:func:`~pipeline.video.flow.certainty`) fails in flat, dark parts that did not move and
      beside what the motion revealed; kept there but not held, a pixel drifts from its start
      each frame its own way.
    - The frame painted on its own holds what the start took from it: what the motion revealed,
      what was dropped as stale. Free of the temporal term, the frame's evaluations would take
      those pixels on from the painting, each frame its own way, and they would flicker more than
      an independent frame does; held to it, they change as independent frames do, and no more."""
    held = dataclasses.replace(previous, certainty=torch.maximum(previous.certainty, previous.keep))
    if repainted is None:
        return [held]
    free = 1 - previous.keep
    return [held, Warped(repainted.clamp(0, 1).to(previous.image), free, free)]


#: How far (px) :func:`seams` reaches either side of where a start joins two paintings.
SEAM = 1


def seams(keep: torch.Tensor, width: int = SEAM) -> torch.Tensor:
    """Where a start joins the carried result and the frame painted on its own: where ``keep``
    (its feathered share of the carried result) is neither 0 nor 1, widened by ``width`` px, as a
    (1, 1, H, W) 0/1 map."""
    share = keep[0, 0].numpy()
    join = ((share > 0.02) & (share < 0.98)).astype(np.uint8)
    band = cv2.dilate(join, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1,) * 2))
    return torch.from_numpy(band.astype(np.float32))[None, None]


def free_on(targets: Sequence[Warped], seam: torch.Tensor) -> list[Warped]:
    """``targets`` holding nothing where ``seam`` is 1."""
    return [dataclasses.replace(t, certainty=t.certainty * (1 - seam)) for t in targets]


class TemporalLoss:
    """The temporal term of one frame (a criterion term, see :mod:`pipeline.gatys.criterion`).

    It holds the transfer's whole canvas (:mod:`pipeline.gatys.canvas`), its targets and their
    certainty mirrored over the margin as the canvas mirrors the image. With the image held and
    the margin free, the optimiser would meet the frame's style loss in the margin, which is cut
    off at the end, and the frame would keep the statistics its warped start has (a zoom's
    stretched strokes; measured: docs/design-notes.md, "Video")."""

    #: The transfer hands this term the canvas, margin included (:func:`pipeline.gatys.transfer`).
    on_canvas = True

    def __init__(self, previous: Sequence[Warped], weight: float) -> None:
        self.previous = list(previous)
        self.weight = weight

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        total = image.new_zeros(())
        for earlier in self.previous:
            margin = (image.shape[-1] - earlier.image.shape[-1]) // 2
            target, c = extend(earlier.image.to(image), margin), extend(earlier.certainty.to(image), margin)
            total = total + (c * (image - target) ** 2).mean()
        return {"temporal": self.weight * total}
