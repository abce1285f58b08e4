"""Cleaning a hand-painted mask into an exact label map.

People paint masks in GIMP: each stroke a slightly different shade, soft brush edges, anti-aliased
borders, stray dabs, bilinear resizing, JPEG saves. We turn that into a label map in which every
pixel carries exactly one label colour:

1. **Colours.** K-means (scikit-learn) on a subsample of *flat* pixels (away from edges, so the
   in-between colours of borders do not pull the centres) finds the painted shade of each label.
   With a project palette (``labels:`` name → colour) each centre is snapped to its palette colour,
   so "sky" is the same colour in every mask; otherwise ``k`` clusters are used as they are.
2. **Pixels.** Every pixel takes the nearest centre (through a 2¹⁸-bin colour lookup table, so a
   4096² mask costs a few table lookups per pixel). A pixel far from its centre's colour is
   *uncertain*: it keeps its colour label only where that label really is nearby; otherwise (the
   purple blend along a red/blue border that happens to look like a third, purple label) it is
   given the label of the nearest certain pixel.
3. **Specks.** Connected pieces of a label smaller than ``min_area`` (stray dabs, JPEG blotches)
   are filled from their surroundings, except a label's largest piece: a label painted only small
   is meant, and a cleaned mask keeps every label it was given.

A colour between label colours (a blend of two or three of them: soft edges, anti-aliasing, a
soft dab's rim, JPEG's chroma subsampling) is never a reason to refuse a mask. Only a *region* of
foreign colour is: large (:data:`FOREIGN_SHARE` of the mask, and ``min_area``), thick (it survives
a :data:`FOREIGN_THICKNESS` px erosion, which blends along a border do not) and far from every
label colour and blend of two or three of them.

The result is saved as a palette PNG whose palette entries are the label colours.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.errors import InputError, option
from pipeline.masks.palette import FOREIGN_DISTANCE, MAX_LABELS, LabelMap, Palette, hex_colour
from pipeline.masks.specks import fill_from_nearest, remove_specks

log = logging.getLogger(__name__)


#: Pixels used to fit K-means; more does not move the centres measurably.
SAMPLE_SIZE = 40_000
#: A pixel within this RGB distance of its centre is a certain member (per-stroke jitter ±6 and
#: JPEG noise stay well inside it).
CERTAIN_DISTANCE = 28.0
#: How far (px) a label must be for an uncertain pixel to take it.
NEAR_RADIUS = 4
_BITS = 6  # lookup table resolution per channel
#: Default ``min_area``: 1/1500 of the mask, and never under :data:`MIN_AREA_FLOOR` px (175 px,
#: 13 × 13, at 512²; 2100 px at 2048²): large enough to remove stray dabs, small enough to keep the
#: islands a user meant (the sweep: docs/design-notes.md, "Masks").
MIN_AREA_SHARE = 1 / 1500
#: A soft dab of a small brush is up to ~150 px whatever the image size; nothing smaller is meant.
MIN_AREA_FLOOR = 120
#: A region of foreign colour must cover this share of the mask to be refused (1/400: 25 × 25 px
#: at 512²); smaller patches are blends GIMP made (a soft dab's rim, JPEG chroma), not a new label.
FOREIGN_SHARE = 1 / 400
#: ... and survive an erosion by this many pixels (a blend along a border is a thin line).
FOREIGN_THICKNESS = 2


def default_min_area(height: int, width: int) -> int:
    """Smallest region kept by default: :data:`MIN_AREA_SHARE` of the mask, at least
    :data:`MIN_AREA_FLOOR` px."""
    return max(MIN_AREA_FLOOR, round(height * width * MIN_AREA_SHARE))


def clean_mask(
    painted: np.ndarray,
    *,
    k: int | None = None,
    palette: Palette | None = None,
    min_area: int | None = None,
    seed: int = 0,
    name: str = "mask",
) -> LabelMap:
    """Clean a painted (H, W, 3) uint8 RGB mask into an exact :class:`LabelMap`.

    Give ``palette`` (labels snap to its colours) or ``k`` (that many clusters). A mask that is
    already exact (at most 32 colours) is taken as it is, whatever ``k`` says (a 2-region style
    mask stays 2 regions when the content has 3), its colours snapped to ``palette``'s when they
    are its shades; ``k`` > 1 on a one-colour mask is refused as blank. ``min_area`` (default:
    :func:`default_min_area`) is the smallest piece of a label kept besides the label's largest.

    Example (a mask painted as GIMP leaves it: soft edges, stray dabs, JPEG)::

        >>> from pipeline import clean_mask
        >>> from pipeline.synthetic.masks import gimp_mask
        >>> painted = gimp_mask(0, size=(96, 64), k=3).painted
        >>> cleaned = clean_mask(painted, k=3)
        >>> len(cleaned.names), cleaned.labels.shape
        (3, (64, 96))
    """
    min_area = _checked(painted, k, palette, min_area, name)
    exact = _exact_colours(painted)
    bins = _bins(painted)
    if palette is not None:
        snapped = _snapped(exact, palette) if exact is not None else None
        if snapped is not None:
            centres, colours, names = snapped, palette.colours.copy(), palette.names
        else:
            _check_foreign_colours(painted, bins, palette, min_area=min_area, name=name)
            centres, colours, names = _palette_centres(painted, palette, seed=seed)
    elif exact is not None:
        if k is not None and k != len(exact):
            log.info("%s: already exact with %d labels; --k %d not needed", name, len(exact), k)
        centres = exact.astype(np.float32)
        colours, names = exact, tuple(hex_colour(c) for c in exact)
    elif k is not None:
        centres = _kmeans_centres(painted, k, seed=seed)
        order = np.lexsort(centres.T[::-1])  # deterministic label order: by colour
        centres = centres[order]
        colours = np.clip(np.round(centres), 0, 255).astype(np.uint8)
        names = tuple(hex_colour(c) for c in colours)
    else:
        raise InputError(
            f"{name}: mask has many shades (hand-painted?); say how many labels it holds with "
            f"{option('k')} K or list their colours with {option('colors')}"
        )

    labels = _assign(bins, centres)
    labels = remove_specks(labels, min_area, n_labels=len(colours))
    result = LabelMap(labels=labels, colours=colours, names=names)
    for index, count in enumerate(result.counts()):
        if count == 0:
            log.debug("%s: label %s covers no pixel", name, names[index])
    return result


def _checked(painted: np.ndarray, k: int | None, palette: Palette | None, min_area: int | None, name: str) -> int:
    """:func:`clean_mask`'s arguments checked before any work; the smallest piece kept."""
    if painted.ndim != 3 or painted.shape[2] != 3 or painted.dtype != np.uint8:
        raise ValueError("expected an (H, W, 3) uint8 RGB array")
    height, width = painted.shape[:2]
    min_area = default_min_area(height, width) if min_area is None else min_area
    if min_area < 0:
        raise InputError(f"min-area must be >= 0, got {min_area}")
    if k is not None and not 1 <= k <= MAX_LABELS:
        raise InputError(f"k must be a number of labels from 1 to {MAX_LABELS}, got {k}")
    if palette is not None and len(palette.colours) > MAX_LABELS:
        raise InputError(f"{len(palette.colours)} label colours; at most {MAX_LABELS} fit a label map")
    probe = painted[:: max(1, height // 256), :: max(1, width // 256)].reshape(-1, 3)
    if palette is None and k is not None and k > 1 and int(np.ptp(probe, axis=0).max()) < 6:
        raise InputError(
            f"{name}: mask is blank (one flat colour) but {k} labels were asked for; paint the regions "
            f"(a mask that is one region on purpose takes k=1: give {option('k')} per mask, e.g. {option('k')} 3,1)"
        )
    return min_area


def _snapped(exact: np.ndarray, palette: Palette) -> np.ndarray | None:
    """Centres for an exact mask whose every colour is a shade of a palette colour (within
    :data:`CERTAIN_DISTANCE`): the palette colours, each replaced by its shade when painted."""
    index, distance = _nearest(exact.astype(np.float32), palette.colours.astype(np.float32))
    if (distance > CERTAIN_DISTANCE).any() or len(set(index.tolist())) != len(index):
        return None
    centres = palette.colours.astype(np.float32).copy()
    centres[index] = exact.astype(np.float32)
    return centres


def _flat_sample(painted: np.ndarray, seed: int) -> np.ndarray:
    """A random sample of pixels that differ little from their neighbours 2 px away."""
    height, width = painted.shape[:2]
    rng = np.random.default_rng(seed)
    n = min(SAMPLE_SIZE * 2, height * width)
    ys = rng.integers(2, max(3, height - 2), size=n)
    xs = rng.integers(2, max(3, width - 2), size=n)
    ys, xs = np.clip(ys, 0, height - 1), np.clip(xs, 0, width - 1)
    centre = painted[ys, xs].astype(np.int16)
    spread = np.zeros(n, np.int16)
    for dy, dx in ((-2, 0), (2, 0), (0, -2), (0, 2)):
        other = painted[np.clip(ys + dy, 0, height - 1), np.clip(xs + dx, 0, width - 1)].astype(np.int16)
        spread = np.maximum(spread, np.abs(other - centre).max(axis=1))
    flat = centre[spread < 16]
    if len(flat) < min(n, 200):  # everything is edges (tiny or noisy mask): use all
        flat = centre
    return flat[:SAMPLE_SIZE].astype(np.float32)


def _kmeans_centres(painted: np.ndarray, k: int, *, seed: int, init: np.ndarray | None = None) -> np.ndarray:
    from sklearn.cluster import KMeans  # 1.7 s to import: only when a mask needs clustering

    sample = _flat_sample(painted, seed)
    distinct = len(np.unique(sample.astype(np.uint8), axis=0))
    if distinct < k:
        raise InputError(f"mask has only {distinct} distinct colour(s) but {k} labels were asked for")
    kmeans = KMeans(
        n_clusters=k,
        init="k-means++" if init is None else init,
        n_init=4 if init is None else 1,
        random_state=seed,
    )
    return kmeans.fit(sample).cluster_centers_.astype(np.float32)


def _palette_centres(
    painted: np.ndarray, palette: Palette, *, seed: int
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """The painted shade of every palette label present."""
    sample = _flat_sample(painted, seed)
    nearest = _nearest(sample, palette.colours.astype(np.float32))[0]
    present = np.flatnonzero(np.bincount(nearest, minlength=len(palette.colours)) >= max(3, len(sample) // 2000))
    # K-means started at the palette colours of the labels present converges to their painted
    # shades; decision boundaries between shades are where the painted borders really are.
    centres = palette.colours.astype(np.float32).copy()
    if len(present) > 1:
        from sklearn.cluster import KMeans

        fitted = KMeans(n_clusters=len(present), init=centres[present], n_init=1, random_state=seed).fit(sample)
        snapped = _nearest(fitted.cluster_centers_.astype(np.float32), centres[present])[0]
        for centre, index in zip(fitted.cluster_centers_, snapped, strict=True):
            centres[present[index]] = centre
    # Absent labels keep their palette colour as centre: they win only pixels painted in it.
    return centres, palette.colours.copy(), palette.names


def _check_foreign_colours(
    painted: np.ndarray, bins: np.ndarray, palette: Palette, *, min_area: int, name: str
) -> None:
    """Refuse a region painted in a colour that is no label of the palette: large (at least
    ``min_area`` and :data:`FOREIGN_SHARE` of the mask), thick (it survives an erosion by
    :data:`FOREIGN_THICKNESS` px) and far from every label colour and blend of two or three."""
    foreign = _foreign_table(palette.colours.astype(np.float32))[bins]
    if not foreign.any():
        return
    height, width = foreign.shape
    core = cv2.erode(foreign.view(np.uint8), np.ones((3, 3), np.uint8), iterations=FOREIGN_THICKNESS)
    if not core.any():
        return
    _, components, stats, centroids = cv2.connectedComponentsWithStats(foreign.view(np.uint8), connectivity=8)
    thick = np.unique(components[core.astype(bool)])
    thick = thick[thick > 0]
    largest = int(thick[np.argmax(stats[thick, cv2.CC_STAT_AREA])])
    area = int(stats[largest, cv2.CC_STAT_AREA])
    if area < max(min_area, FOREIGN_SHARE * height * width, 1):
        return
    x, y = (round(float(v)) for v in centroids[largest])
    ys, xs = np.nonzero(components == largest)
    colour = np.median(painted[ys, xs].reshape(-1, 3), axis=0)
    index, distance = _nearest(colour[None].astype(np.float32), palette.colours.astype(np.float32))
    nearest = hex_colour(palette.colours[index[0]])
    if palette.names[index[0]] != nearest:
        nearest = f"{palette.names[index[0]]} {nearest}"
    raise InputError(
        f"{name}: painted colour {hex_colour(colour)} around x={x}, y={y} ({area} px) "
        f"is far from every label colour (nearest: {nearest}, distance {distance[0]:.0f}); "
        "add it to the labels or repaint that region"
    )


def _foreign_table(centres: np.ndarray) -> np.ndarray:
    """(bins,) bool: a colour far from every centre (:data:`FOREIGN_DISTANCE`) and from every blend
    of two or three of them (half that). Blends of three are sampled (1/12 steps); with more than
    12 labels, only blends of two."""
    from scipy.spatial import cKDTree

    grid = _bin_colours(np.arange(1 << (3 * _BITS)))
    far = _nearest(grid, centres)[1] > FOREIGN_DISTANCE
    n = len(centres)
    steps = np.linspace(0, 1, 13, dtype=np.float32)
    weights = [(a, b, 1 - a - b) for a in steps for b in steps if a + b <= 1 + 1e-6]
    mixes = np.array(weights, np.float32)  # (m, 3) barycentric
    points = []
    for i in range(n):
        for j in range(i + 1, n):
            if n <= 12:
                for m in range(j + 1, n):
                    points.append(mixes @ centres[[i, j, m]])
            points.append(steps[:, None] * centres[i] + (1 - steps[:, None]) * centres[j])
    if not points:
        return far
    distance, _ = cKDTree(np.concatenate(points)).query(grid[far], k=1)
    foreign = far.copy()
    foreign[far] = distance > FOREIGN_DISTANCE / 2
    return foreign


def _exact_colours(painted: np.ndarray) -> np.ndarray | None:
    """The colours of an already-exact mask, or None: at most 32 colours, each of them filling at
    least one 3 × 3 block (anti-aliased shades along a border never do; a label painted small does)."""
    packed = (painted[..., 0].astype(np.uint32) << 16) | (painted[..., 1].astype(np.uint32) << 8) | painted[..., 2]
    # A coarse probe first: a hand-painted mask shows its many shades long before a full np.unique.
    probe = packed[:: max(1, packed.shape[0] // 512), :: max(1, packed.shape[1] // 512)]
    if len(np.unique(probe)) > 32:
        return None
    values = np.unique(packed)
    if len(values) > 32:
        return None
    block = np.ones((3, 3), np.uint8)
    for value in values:
        if not cv2.erode((packed == value).view(np.uint8), block).any():
            return None
    return np.stack([(values >> 16) & 255, (values >> 8) & 255, values & 255], axis=1).astype(np.uint8)


# --- per-pixel assignment ----------------------------------------------------------------------


@dataclass(frozen=True)
class _ColourTable:
    label: np.ndarray  # (bins,) uint8: nearest centre
    certain: np.ndarray  # (bins,) bool: within CERTAIN_DISTANCE of it


def _nearest(colours: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of and distance to the nearest centre, for each colour."""
    squared = np.zeros((len(colours), len(centres)), np.float32)
    for channel in range(3):
        squared += np.square(colours[:, channel, None] - centres[None, :, channel])
    index = squared.argmin(axis=1)
    return index, np.sqrt(squared[np.arange(len(colours)), index])


def _colour_table(centres: np.ndarray) -> _ColourTable:
    label, distance = _nearest(_bin_colours(np.arange(1 << (3 * _BITS))), centres)
    return _ColourTable(label=label.astype(np.uint8), certain=distance <= CERTAIN_DISTANCE)


def _bins(painted: np.ndarray) -> np.ndarray:
    shift = 8 - _BITS
    r, g, b = (painted[..., i] >> shift for i in range(3))
    return (r.astype(np.int32) << (2 * _BITS)) | (g.astype(np.int32) << _BITS) | b.astype(np.int32)


def _assign(bins: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Nearest-centre labels. An uncertain pixel (far from every centre: a blend) takes, among the
    labels that are near it in the image, the one whose colour is nearest: the purple blend of a
    red/blue border goes to red or blue, not to a purple label painted elsewhere."""
    table = _colour_table(centres)
    labels = table.label[bins]
    certain = table.certain[bins]
    if certain.all() or not certain.any():
        return labels
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * NEAR_RADIUS + 1, 2 * NEAR_RADIUS + 1))
    uncertain = ~certain
    ys, xs = np.nonzero(uncertain)
    colours = _bin_colours(bins[ys, xs])
    best = np.full(len(ys), np.inf, np.float32)
    chosen = np.full(len(ys), -1, np.int32)
    for index in np.unique(labels[certain]):
        near = cv2.dilate((certain & (labels == index)).view(np.uint8), kernel)[ys, xs].astype(bool)
        distance = np.square(colours - centres[index]).sum(axis=1)
        better = near & (distance < best)
        best[better], chosen[better] = distance[better], index
    found = chosen >= 0
    labels[ys[found], xs[found]] = chosen[found]
    if found.all():
        return labels
    known = np.ones(labels.shape, bool)
    known[ys[~found], xs[~found]] = False
    return fill_from_nearest(labels, known)


def _bin_colours(bins: np.ndarray) -> np.ndarray:
    """The colour at the centre of each lookup-table bin, (n, 3) float32."""
    step = 1 << (8 - _BITS)
    mask = (1 << _BITS) - 1
    channels = [(bins >> (2 * _BITS)) & mask, (bins >> _BITS) & mask, bins & mask]
    return np.stack(channels, axis=1).astype(np.float32) * step + (step - 1) / 2
