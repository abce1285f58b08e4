"""A proposed mask for a photo that has none: regions from the image alone.

The question users of this family of tools ask most is "how do I make the masks?". We answer it
without pretrained weights:

1. **Superpixels.** SLIC (scikit-image) cuts the image, at a working size of
   :data:`WORK_SIDE` px, into ~:data:`SUPERPIXELS` compact pieces that follow its edges.
2. **Statistics.** Each superpixel is described by the mean and spread of its colour (CIELAB) and
   its spread stands for its texture's contrast (weighted by :data:`SPREAD`: a texture is a mixture
   of colours, and a region of brick mortar belongs with its bricks), and by its
   position (weakly: regions are mostly contiguous).
3. **Regions.** K-means (scikit-learn) on those descriptions, weighted by superpixel area, groups
   the superpixels into ``k`` regions (with no ``k``, the k of 2–6 with the best silhouette);
   islands under the minimum area are filled from their surroundings, and the labels are brought
   back to the full size through smooth label votes (no staircase).

The result is an exact label map, saved as the same palette PNG the cleaner reads, so a user can
correct it in GIMP and use it as a painted mask. With ``--weights`` a torchvision segmentation
model (DeepLabV3 or LR-ASPP state dict) proposes instead: see :mod:`pipeline.masks.segment`.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import cv2
import numpy as np

from pipeline import io, record
from pipeline.errors import InputError
from pipeline.masks.clean import default_min_area
from pipeline.masks.label_maps import check_label_map_out, label_map_png
from pipeline.masks.palette import MAX_LABELS, LabelMap, Palette, hex_colour
from pipeline.masks.segment import load_segmenter, segment
from pipeline.masks.specks import fill_from_nearest, remove_specks

log = logging.getLogger(__name__)

#: Long side the proposal works at: region layout does not need more, and 2048 px stays < 2 s.
WORK_SIDE = 384
#: SLIC superpixels at the working size.
SUPERPIXELS = 600
#: Gaussian smoothing (px at the working size) before SLIC, so noise does not cut superpixels.
SLIC_SIGMA = 1.5
#: Superpixels are merged (touching ones, by Ward's cost) down to this many regions first.
MERGED = 40
#: Weight of a region's colour spread (its texture's contrast) against its mean colour.
SPREAD = 0.5
#: Weight of CIELAB lightness against its two colour axes.
LIGHTNESS = 0.4
#: Weight of chromaticity (r, g, b over r + g + b, in percent) beside CIELAB.
CHROMATICITY = 2.0
#: The window over which colour evidence is summed when regions are refined (share of the side).
EVIDENCE = 0.01
#: Refinement rounds (each refits the regions' colour models).
REFINE_ROUNDS = 8
#: k tried when none is given.
AUTO_K = range(2, 7)
#: Colours of proposed labels when no palette is given: distinct, and far from each other.
PROPOSAL_COLOURS = np.array(
    [
        (230, 25, 75),
        (60, 180, 75),
        (0, 130, 200),
        (255, 225, 25),
        (145, 30, 180),
        (245, 130, 48),
        (70, 240, 240),
        (240, 50, 230),
        (128, 128, 0),
        (0, 0, 128),
        (170, 110, 40),
        (128, 128, 128),
    ],
    dtype=np.uint8,
)


def propose_mask(
    image: np.ndarray,
    *,
    k: int | None = None,
    palette: Palette | None = None,
    min_area: int | None = None,
    seed: int = 0,
    segmenter: tuple[Any, tuple[str, ...]] | None = None,
) -> LabelMap:
    """Regions of an (H, W, 3) uint8 RGB photo as an exact :class:`LabelMap`.

    ``k`` regions (or one per ``palette`` label, the colours given to regions in order from the top
    of the image down, by each region's centre; neither: k chosen by silhouette from 2–6, or with a
    ``segmenter`` every class covering ``min_area``). ``min_area`` as for cleaning (default:
    :func:`default_min_area` of the image). ``segmenter``: a model and its class names from
    :func:`pipeline.masks.segment.load_segmenter`, whose classes become the regions.

    Example::

        >>> import numpy as np
        >>> from pipeline import propose_mask
        >>> from pipeline.samples import sample_image
        >>> proposal = propose_mask(np.asarray(sample_image("chelsea")), k=3)
        >>> proposal.names, proposal.labels.shape
        (('#e6194b', '#3cb44b', '#0082c8'), (300, 451))
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError("expected an (H, W, 3) uint8 RGB array")
    if palette is not None:
        k = len(palette.colours)
    if k is not None and not 1 <= k <= MAX_LABELS:
        raise InputError(f"k must be a number of regions from 1 to {MAX_LABELS}, got {k}")
    height, width = image.shape[:2]
    min_area = default_min_area(height, width) if min_area is None else min_area
    if segmenter is not None:
        labels, names = _from_classes(image, segmenter, k, min_area)
    else:
        labels = _regions(image, k, min_area, seed)
        names = ()
    n = int(labels.max()) + 1
    if palette is not None:
        colours, names = palette.colours[:n].copy(), palette.names[:n]
    else:
        colours = _colours(n)
        names = names or tuple(hex_colour(c) for c in colours)
    return LabelMap(labels=labels, colours=colours, names=names)


def propose_mask_file(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    k: int | None = None,
    palette: Palette | None = None,
    min_area: int | None = None,
    seed: int = 0,
    weights: str | os.PathLike[str] | None = None,
    max_pixels: int = io.MAX_PIXELS,
) -> LabelMap:
    """Read a photo, propose its mask, save it as a label map (palette PNG); return it.

    Example::

        >>> from pipeline import propose_mask_file
        >>> from pipeline.samples import sample_image
        >>> sample_image("chelsea").save("photo.png")
        >>> propose_mask_file("photo.png", "proposed.png", k=3).names
        ('#e6194b', '#3cb44b', '#0082c8')
    """
    check_label_map_out(out, source)
    image = np.asarray(io.read_image(source, max_pixels=max_pixels).image)
    segmenter = None
    if weights is not None:
        segmenter = load_segmenter(weights)
    label_map = propose_mask(image, k=k, palette=palette, min_area=min_area, seed=seed, segmenter=segmenter)
    kind = "colours" if weights is None else "segmentation"
    record.write(out, label_map_png(label_map), {**record.header("stylesnake-mask", None), "mask": kind,
                                                  "image": {"path": str(source)}})  # fmt: skip
    log.info("%s: %s -> %s", source, label_map.shares(), out)
    return label_map


def _regions(image: np.ndarray, k: int | None, min_area: int, seed: int) -> np.ndarray:
    """Superpixels, merged, grouped, refined, cleaned of specks, top-down, at full size."""
    height, width = image.shape[:2]
    scale = min(1.0, WORK_SIDE / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA) if scale < 1 else image
    segments, colour = _superpixels(small)
    merged = _merged(segments, colour, MERGED)[segments]
    features, areas = _region_features(merged, colour)
    groups = _group(features, areas, k, seed=seed)
    n = int(groups.max()) + 1
    labels = _refined(groups[merged], colour, n)
    labels = remove_specks(labels.astype(np.uint8), max(1, round(min_area * scale * scale)), n_labels=n)
    labels, n = _ordered_top_down(labels, n)
    return _upsampled(labels, n, (width, height))


def _from_classes(
    image: np.ndarray, segmenter: tuple[Any, tuple[str, ...]], k: int | None, min_area: int
) -> tuple[np.ndarray, tuple[str, ...]]:
    """A segmentation model's classes as regions: the ``k`` largest (or those covering
    ``min_area``), other pixels filled from the nearest kept class; top-down, with class names."""
    model, class_names = segmenter
    classes = segment(image, model)
    areas = np.bincount(classes.ravel(), minlength=len(class_names))
    ranked = [int(c) for c in np.argsort(-areas, kind="stable") if areas[c] > 0]
    kept = ranked[:k] if k is not None else [c for c in ranked if areas[c] >= min_area] or ranked[:1]
    lookup = np.full(len(areas), 255, np.uint8)
    lookup[kept] = np.arange(len(kept), dtype=np.uint8)
    labels = lookup[classes]
    labels = fill_from_nearest(labels, labels != 255)
    labels = remove_specks(labels, min_area, n_labels=len(kept))
    order = _top_down_order(labels, len(kept))
    labels, _ = _ordered_top_down(labels, len(kept))
    return labels, tuple(class_names[kept[i]] for i in order)


def _superpixels(small: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SLIC segments (H, W) numbered 0..S-1, and each pixel's weighted CIELAB colour (H, W, 3)."""
    from skimage.segmentation import slic

    segments = slic(small, n_segments=SUPERPIXELS, compactness=10, sigma=SLIC_SIGMA, start_label=0, channel_axis=-1)
    _, segments = np.unique(segments, return_inverse=True)
    rgb = small.astype(np.float32) / 255
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)
    # Lightness varies most inside a surface (shading, texture); hue and saturation least, and
    # chromaticity (each channel's share of the brightness) not at all under shading.
    chromaticity = rgb / np.maximum(rgb.sum(axis=2, keepdims=True), 0.05) * (100 * CHROMATICITY)
    colour = np.concatenate([lab * np.array([LIGHTNESS, 1, 1], np.float32), chromaticity], axis=2)
    return segments.reshape(small.shape[:2]), colour


def _adjacent_pairs(segments: np.ndarray) -> np.ndarray:
    """(E, 2) pairs of segments that touch (4-connected), each once."""
    pairs = np.concatenate(
        [
            np.stack([segments[:, :-1].ravel(), segments[:, 1:].ravel()], 1),
            np.stack([segments[:-1].ravel(), segments[1:].ravel()], 1),
        ]
    )
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    return np.unique(np.sort(pairs, axis=1), axis=0)


def _merged(segments: np.ndarray, lab: np.ndarray, target: int) -> np.ndarray:
    """Merge touching segments, cheapest first by Ward's cost (the growth of within-region colour
    variance), until ``target`` regions remain: a region number (0..) per segment. Pebbles merge
    with pebbles long before pebbles with grass, and a grown region's statistics are its texture's."""
    import heapq

    count = int(segments.max()) + 1
    flat = segments.ravel()
    n = np.bincount(flat, minlength=count).astype(np.float64)
    sums = np.stack([np.bincount(flat, weights=lab[..., c].ravel(), minlength=count) for c in range(lab.shape[2])], 1)
    neighbours: list[set[int]] = [set() for _ in range(count)]
    for a, b in _adjacent_pairs(segments).tolist():
        neighbours[a].add(b)
        neighbours[b].add(a)
    parent = list(range(count))
    version = [0] * count

    def cost(a: int, b: int) -> float:
        difference = sums[a] / n[a] - sums[b] / n[b]
        return float(n[a] * n[b] / (n[a] + n[b]) * difference @ difference)

    heap = [(cost(a, b), a, b, 0, 0) for a in range(count) for b in neighbours[a] if a < b]
    heapq.heapify(heap)
    regions = count
    while regions > target and heap:
        _, a, b, va, vb = heapq.heappop(heap)
        if parent[a] != a or parent[b] != b or version[a] != va or version[b] != vb:
            continue
        parent[b] = a
        n[a] += n[b]
        sums[a] += sums[b]
        version[a] += 1
        neighbours[a] = (neighbours[a] | neighbours[b]) - {a, b}
        for c in neighbours[a]:
            neighbours[c].discard(b)
            neighbours[c].add(a)
            heapq.heappush(
                heap,
                (cost(a, c), a, c, version[a], version[c]) if a < c else (cost(c, a), c, a, version[c], version[a]),
            )
        regions -= 1

    def root(a: int) -> int:
        while parent[a] != a:
            a = parent[a]
        return a

    roots = np.array([root(a) for a in range(count)])
    _, numbered = np.unique(roots, return_inverse=True)
    return numbered


def _region_features(regions: np.ndarray, lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per region (numbered 0..R-1 at each pixel): mean and spread of its colour, (R, 6), and area."""
    flat = regions.ravel()
    count = int(flat.max()) + 1
    area = np.bincount(flat, minlength=count).astype(np.float64)
    channels = lab.shape[2]
    colours = lab.reshape(-1, channels)
    sums = np.stack([np.bincount(flat, weights=colours[:, c], minlength=count) for c in range(channels)], 1)
    mean = sums / area[:, None]
    square = np.stack([np.bincount(flat, weights=colours[:, c] ** 2, minlength=count) for c in range(channels)], 1)
    spread = np.sqrt(np.maximum(square / area[:, None] - mean**2, 0))
    return np.concatenate([mean, SPREAD * spread], axis=1), area


def _group(features: np.ndarray, areas: np.ndarray, k: int | None, *, seed: int) -> np.ndarray:
    """K-means on region features, weighted by area: a label per region. With no ``k``, the k of
    :data:`AUTO_K` whose grouping has the best (area-weighted) silhouette."""
    from sklearn.cluster import KMeans

    def fit(n: int) -> np.ndarray:
        n = min(n, len(features))
        model = KMeans(n_clusters=n, n_init=4, random_state=seed).fit(features, sample_weight=areas)
        return model.labels_.astype(np.int64)

    if k is not None:
        return fit(k)
    from sklearn.metrics import silhouette_samples

    best, best_score = fit(2), -np.inf
    for n in AUTO_K:
        if n >= len(features):
            break
        grouped = fit(n)
        if len(np.unique(grouped)) < 2:
            continue
        score = float(np.average(silhouette_samples(features, grouped), weights=areas))
        log.debug("k=%d silhouette %.3f", n, score)
        if score > best_score:
            best, best_score = grouped, score
    return best


def _refined(labels: np.ndarray, colour: np.ndarray, n: int) -> np.ndarray:
    """Each pixel to the region whose colour model (a Gaussian with full covariance, fitted to the
    region's pixels) explains its neighbourhood best: the log-likelihoods are summed over a
    Gaussian window of :data:`EVIDENCE` of the image side, so a texture is judged as a whole,
    and a border superpixel merged to the wrong side early is taken back. A few rounds."""
    height, width, channels = colour.shape
    pixels = colour.reshape(-1, channels).astype(np.float64)
    sigma = EVIDENCE * max(height, width)
    for _ in range(REFINE_ROUNDS):
        scores = np.full((n, height * width), -np.inf, np.float64)
        for index in range(n):
            member = pixels[labels.ravel() == index]
            if len(member) < channels + 1:
                continue
            mean = member.mean(axis=0)
            covariance = np.cov(member, rowvar=False) + np.eye(channels)
            centred = pixels - mean
            distance = np.einsum("ij,jk,ik->i", centred, np.linalg.inv(covariance), centred)
            prior = np.log(len(member) / len(pixels))
            scores[index] = prior - 0.5 * (distance + np.linalg.slogdet(covariance)[1])
        # Posteriors, not log-likelihoods, are summed: one outlier pixel must not outvote its window.
        posterior = np.exp(scores - scores.max(axis=0))
        posterior /= posterior.sum(axis=0)
        votes = np.stack(
            [cv2.GaussianBlur(p.reshape(height, width).astype(np.float32), (0, 0), sigma) for p in posterior]
        )
        updated = votes.argmax(axis=0).astype(labels.dtype)
        if np.array_equal(updated, labels):
            break
        labels = updated
    return labels


def _upsampled(labels: np.ndarray, n: int, size: tuple[int, int]) -> np.ndarray:
    """Labels at ``size`` (width, height) through bilinear label votes: smooth borders, no staircase."""
    if labels.shape[::-1] == size:
        return labels.astype(np.uint8)
    votes = np.stack(
        [cv2.resize((labels == i).astype(np.float32), size, interpolation=cv2.INTER_LINEAR) for i in range(n)]
    )
    return votes.argmax(axis=0).astype(np.uint8)


def _top_down_order(labels: np.ndarray, n: int) -> list[int]:
    """Present labels, by the height of their centre (top first)."""
    rows = np.arange(labels.shape[0], dtype=np.float64)[:, None]
    counts = np.bincount(labels.ravel(), minlength=n)[:n]
    heights = np.bincount(labels.ravel(), weights=np.broadcast_to(rows, labels.shape).ravel(), minlength=n)[:n]
    present = [i for i in range(n) if counts[i] > 0]
    return sorted(present, key=lambda i: heights[i] / counts[i])


def _ordered_top_down(labels: np.ndarray, n: int) -> tuple[np.ndarray, int]:
    """Renumber regions by the height of their centre (top first), dropping empty ones, so that
    ``--colors sky,tree,ground`` gives the top region the first colour."""
    order = _top_down_order(labels, n)
    lookup = np.zeros(max(n, 1), np.uint8)
    lookup[order] = np.arange(len(order), dtype=np.uint8)
    return lookup[labels], len(order)


def _colours(n: int) -> np.ndarray:
    if n <= len(PROPOSAL_COLOURS):
        return PROPOSAL_COLOURS[:n].copy()
    rng = np.random.default_rng(0)
    extra = rng.integers(0, 256, size=(n - len(PROPOSAL_COLOURS), 3), dtype=np.uint8)
    return np.concatenate([PROPOSAL_COLOURS, extra])
