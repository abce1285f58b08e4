"""Measures of results against known truth, for tests and benchmarks: how much a guided result
bleeds across regions, (video) how much a clip flickers along its true motion, and how much a
result's outermost pixels jump against its interior (a fringe at the border)."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from pipeline.arbitrary.networks import Networks
from pipeline.arbitrary.regions import region_square
from pipeline.video.flow import warp
from pipeline.video.temporal import carried_age, held_after


def bleeding(
    output: torch.Tensor, content_labels: np.ndarray, style: torch.Tensor, style_labels: np.ndarray
) -> list[float]:
    """For each content region r: the share of its pixels whose colour is closer to the mean
    colour of another style region than to style region r's. Region r of the content is label r
    in both maps. 0 is no bleeding; an output that ignores the regions scores about 1 - 1/R."""
    pixels = output[0].permute(1, 2, 0).reshape(-1, 3).float().cpu().numpy()
    style_pixels = style[0].permute(1, 2, 0).reshape(-1, 3).float().cpu().numpy()
    labels = content_labels.reshape(-1)
    regions = sorted(set(np.unique(labels)) & set(np.unique(style_labels)))
    means = np.stack([style_pixels[style_labels.reshape(-1) == r].mean(axis=0) for r in regions])
    shares = []
    for i, r in enumerate(regions):
        distances = np.linalg.norm(pixels[labels == r][:, None, :] - means[None], axis=2)
        shares.append(float((distances.argmin(axis=1) != i).mean()))
    return shares


def warping_error(results: list[np.ndarray], flows: list[np.ndarray | None], visible: list[np.ndarray | None]) -> float:
    """Lai et al. 2018's warping error of a clip: per frame, the mean squared RGB difference (in
    [0, 1]) between frame t and frame t−1 brought along the true flow, over the pixels whose origin
    was visible; averaged over the frames. ``flows[t]`` and ``visible[t]`` are frame t's truth
    (:class:`pipeline.synthetic.clips.SyntheticFrame`); ``results`` uint8 RGB frames."""
    errors = []
    for t in range(1, len(results)):
        flow, seen = flows[t], visible[t]
        assert flow is not None and seen is not None
        before = warp(results[t - 1].astype(np.float32) / 255, flow, resampling="bilinear")
        difference = ((results[t].astype(np.float32) / 255 - before) ** 2).sum(axis=-1)
        errors.append(float(difference[seen].mean()))
    return float(np.mean(errors))


#: Which pairs of adjacent rows (columns) :func:`edge_jumps` compares a border with: those at least
#: ``EDGE_MARGIN`` pairs in from it, the nearest ``EDGE_DEPTH`` of them for the local interior.
EDGE_MARGIN = 2
EDGE_DEPTH = 8


def edge_jumps(
    image: torch.Tensor | np.ndarray, *, margin: int = EDGE_MARGIN, depth: int = EDGE_DEPTH
) -> dict[str, float]:
    """How much a result's outermost pixels jump from their neighbours against the interior, per
    border: a coloured fringe one or two pixels wide scores well above 1, a clean border about 1
    or less.

    ``image``: (1, 3, H, W) or (3, H, W) in [0, 1], or (H, W, 3) uint8 (a float array is taken
    as [0, 1]). A border's jump is the mean, along it, of ``Σ_RGB |p(outermost) − p(next)|`` in levels
    (of 255). The interior's is the same statistic for pairs of adjacent rows (for the top and
    bottom borders) or columns (left, right) that are at least ``margin`` pairs from the border
    (so a fringe two pixels wide is not its own reference): the median of the ``depth`` nearest
    such pairs (the local interior, as busy as the region along the border) or, where that is
    calmer, the median of all pairs at least ``margin`` from both borders (the whole interior: a
    flat dark strip along a border makes small jumps large ratios, 9 levels against 4, which no
    eye sees). The border's ratio is its jump over the larger of the two; ``"worst"`` is the
    largest of the four ratios."""
    if isinstance(image, torch.Tensor):
        pixels = image.detach().float().cpu().reshape(-1, *image.shape[-2:]).permute(1, 2, 0).numpy() * 255
    else:
        pixels = image.astype(np.float64) if image.dtype == np.uint8 else image.astype(np.float64) * 255
    rows = np.abs(np.diff(pixels, axis=0)).sum(axis=-1).mean(axis=1)  # (H - 1,): pair (k, k + 1)
    cols = np.abs(np.diff(pixels, axis=1)).sum(axis=-1).mean(axis=0)  # (W - 1,)
    if min(len(rows), len(cols)) < margin + depth:
        raise ValueError(f"image {pixels.shape[1]}x{pixels.shape[0]} is too small for margin {margin}, depth {depth}")

    def ratio(pairs: np.ndarray) -> float:
        """The first pair's jump (``pairs`` run from the border in) over the interior's."""
        local = float(np.median(pairs[margin : margin + depth]))
        whole = float(np.median(pairs[margin : len(pairs) - margin]))
        return float(pairs[0] / max(local, whole, 1e-12))

    result = {"top": ratio(rows), "bottom": ratio(rows[::-1]), "left": ratio(cols), "right": ratio(cols[::-1])}
    result["worst"] = max(result.values())
    return result


def revealed(flows: list[np.ndarray | None], visible: list[np.ndarray | None]) -> list[np.ndarray]:
    """Per frame, the pixels the motion revealed there or in an earlier frame, carried along the
    true motion since (what was under a moving object, what came in at an edge): (H, W) bool each.
    A method that copies what was there before paints them with a ghost of it."""
    first = flows[1]
    assert first is not None, "frame 1 has a flow"
    marks = [np.zeros(first.shape[:2], bool)]
    for flow, seen in zip(flows[1:], visible[1:], strict=True):
        assert flow is not None and seen is not None
        carried = warp(marks[-1].astype(np.float32), flow, resampling="bilinear") > 0.5
        marks.append(~seen | (carried & seen))
    return marks


#: The low-pass of :func:`deviation`: a Gaussian of this many pixels, wider than a stroke of the
#: style's texture and narrower than a moving object.
LOW_PASS = 2.0


def deviation(a: np.ndarray, b: np.ndarray, sigma: float = LOW_PASS) -> np.ndarray:
    """Per pixel, how far ``a`` is from ``b`` (uint8 RGB) in colour once both are low-passed: the
    texture two stylisations draw differently drops out, a smear or a streak stays. (H, W) float."""
    blur = [cv2.GaussianBlur(x.astype(np.float32) / 255, (0, 0), sigma) for x in (a, b)]
    return np.sqrt(((blur[0] - blur[1]) ** 2).sum(axis=-1))


def border_band(shape: tuple[int, ...], share: float = 0.03) -> np.ndarray:
    """The pixels within 3 % of the shorter side (at least 3 px) of the frame's edges."""
    width = max(3, round(share * min(shape[:2])))
    band = np.ones(shape[:2], bool)
    band[width:-width, width:-width] = False
    return band


def ghost_and_streaks(
    temporal: list[np.ndarray],
    per_frame: list[np.ndarray],
    flows: list[np.ndarray | None],
    visible: list[np.ndarray | None],
) -> tuple[float, float]:
    """The *ghost trail* and *border streaks* of a temporal run against the per-frame run of the
    same clip: the mean low-pass colour :func:`deviation` over the pixels the motion revealed
    (:func:`revealed`), then over the :func:`border_band`, each divided by the same over the
    pixels of neither (frames 1 …, pooled). About 1: revealed pixels and the edges are painted like
    everything else; a ghost that follows the motion or a streak repeated from the edge scores
    above."""
    marks = revealed(flows, visible)
    band = border_band(temporal[0].shape)
    sums = np.zeros(3)
    counts = np.zeros(3)
    for t in range(1, len(temporal)):
        off = deviation(temporal[t], per_frame[t])
        for k, where in enumerate((marks[t] & ~band, band, ~marks[t] & ~band)):
            sums[k] += off[where].sum()
            counts[k] += where.sum()
    means = sums / np.maximum(counts, 1)
    return float(means[0] / means[2]), float(means[1] / means[2])


def held_from_reveal(
    per_frame: list[np.ndarray], flows: list[np.ndarray | None], visible: list[np.ndarray | None], frames: int = 1
) -> list[np.ndarray]:
    """The clip a temporal run with perfect flow and perfect detection paints, built from the
    per-frame run and the true motion: frame 0 as painted on its own; each later frame the one
    before carried along the true flow (bicubic, as :mod:`pipeline.video.temporal` warps) wherever
    its origin was visible, and where the motion revealed something, the per-frame run's own paint
    of that frame, in the ``frames`` frames from the one that revealed it, held from then on.

    With ``frames`` 1 it drags nothing the flow could get wrong, and yet it is no floor for
    :func:`ghost_and_streaks`: what a moving object uncovers is painted while the object is still
    beside it, with the halo a painting draws around the object, and held after the object has
    moved on. Scored against the per-frame run it shows how much of a trail is that frozen halo
    rather than a smear, and with more ``frames`` how much painting it on its own for longer
    (``--reveal-frames``) removes."""
    clip = [per_frame[0]]
    age = None
    for painted, flow, seen in zip(per_frame[1:], flows[1:], visible[1:], strict=True):
        assert flow is not None and seen is not None
        carried = warp(clip[-1].astype(np.float32), flow, resampling="bicubic").clip(0, 255).round().astype(np.uint8)
        age = carried_age(age, flow, seen)
        clip.append(np.where(held_after(age, frames)[..., None] > 0, carried, painted))
    return clip


def own_region_styles(
    networks: Networks, result: np.ndarray, labels: np.ndarray, painting: np.ndarray, painting_labels: np.ndarray
) -> list[bool]:
    """Region separation as instant style's own predictor sees it: for each label r (the same region
    in ``labels`` (H, W) of the uint8 ``result`` and in ``painting_labels`` of the ``painting``),
    whether the style vector of the result's region r is nearest that of the painting's region r,
    of all the painting's regions. Unguided, a result's regions share one style and few are."""
    count = int(max(labels.max(), painting_labels.max())) + 1
    wanted = [networks.style_vector(region_square(painting, painting_labels == r)) for r in range(count)]
    found = []
    for r in range(count):
        got = networks.style_vector(region_square(result, labels == r))
        found.append(int(np.argmin([np.linalg.norm(got - w) for w in wanted])) == r)
    return found
