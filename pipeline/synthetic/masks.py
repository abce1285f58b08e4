"""Hand-painted masks with known ground truth, for testing and benchmarking the mask cleaner.

Real masks come from GIMP: a person fills regions with a brush, so every stroke is a slightly
different shade, brush edges are soft, a few stray dabs land where they should not, the mask is
resized (bilinear) to fit its photo and often saved as JPEG. :func:`painted_mask` reproduces all of
that from a random ground-truth label map, so the cleaner can be scored pixel by pixel.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

#: Distinct, GIMP-typical label colours (sky, foliage, ground, water, skin, sun, shadow, snow).
PALETTE = np.array(
    [
        (66, 135, 245),
        (40, 160, 60),
        (140, 90, 40),
        (20, 60, 150),
        (240, 190, 160),
        (250, 220, 40),
        (40, 40, 40),
        (245, 245, 245),
    ],
    dtype=np.uint8,
)


@dataclass(frozen=True)
class PaintedMask:
    painted: np.ndarray  # (H, W, 3) uint8, what the user's file holds
    truth: np.ndarray  # (H, W) int, the label the user meant at each pixel
    palette: np.ndarray  # (k, 3) uint8, the colour of each label


def count_specks(labels: np.ndarray, min_area: int) -> int:
    """Connected pieces (8-connected) of any label smaller than ``min_area`` px: what a clean
    label map must not have."""
    count = 0
    for label in np.unique(labels):
        _, _, stats, _ = cv2.connectedComponentsWithStats((labels == label).astype(np.uint8), connectivity=8)
        count += int((stats[1:, cv2.CC_STAT_AREA] < min_area).sum())
    return count


def truth_labels(rng: np.random.Generator, height: int, width: int, k: int, *, min_share: float = 0.02) -> np.ndarray:
    """A label map of ``k`` organic regions (argmax of smooth random fields), each a real region."""
    for _ in range(100):
        low = rng.normal(size=(k, 5, 5)).astype(np.float32)
        fields = np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_CUBIC) for f in low])
        labels = fields.argmax(axis=0)
        shares = np.bincount(labels.ravel(), minlength=k) / labels.size
        if shares.min() >= min_share:
            return labels.astype(np.int32)
    raise RuntimeError("could not draw a label map with every region present")


def _stroke_shades(rng: np.random.Generator, ph: int, pw: int, jitter: int) -> np.ndarray:
    """Each stroke's own shade (±``jitter``), a stroke being a random cell of a coarse Voronoi
    partition: (ph, pw, 3) int16 to add to the paint."""
    seeds = rng.uniform(0, 1, size=(int(rng.integers(20, 60)), 2)) * (ph, pw)
    yy, xx = np.mgrid[0:ph, 0:pw]
    nearest = np.full((ph, pw), np.inf, np.float32)
    stroke = np.zeros((ph, pw), np.int32)
    for index, (sy, sx) in enumerate(seeds):
        distance = (yy - sy) ** 2 + (xx - sx) ** 2
        closer = distance < nearest
        nearest[closer], stroke[closer] = distance[closer], index
    shades = rng.integers(-jitter, jitter + 1, size=(len(seeds), 3))
    return shades[stroke].astype(np.int16)


def painted_mask(
    seed: int,
    *,
    size: tuple[int, int] = (384, 256),
    k: int = 4,
    jitter: int = 6,
    jpeg_quality: int | None = None,
    dabs: int | None = None,
    palette: np.ndarray = PALETTE,
) -> PaintedMask:
    """Paint a mask the way people do: per-stroke shade jitter (±``jitter``), soft brush edges,
    stray 1–3 px dabs of other labels, bilinear resampling, and a JPEG save (quality 60–90 unless
    given; ``jpeg_quality=0`` saves losslessly)."""
    rng = np.random.default_rng(seed)
    width, height = size
    colours = palette[:k].astype(np.int16)
    # Paint at another resolution, then resample bilinearly to the final size, as users do.
    scale = float(rng.uniform(0.6, 1.6))
    pw, ph = max(8, round(width * scale)), max(8, round(height * scale))
    truth_painting = truth_labels(rng, ph, pw, k)
    canvas = colours[truth_painting].copy()

    canvas += _stroke_shades(rng, ph, pw, jitter)

    # Stray dabs: 1–3 px blobs (at the final size) of another label's colour, which the user did not mean.
    for _ in range(int(rng.integers(3, 12)) if dabs is None else dabs):
        y, x = int(rng.integers(0, ph)), int(rng.integers(0, pw))
        radius = max(1, round(int(rng.integers(1, 4)) * scale))
        other = (int(truth_painting[y, x]) + int(rng.integers(1, k))) % k
        cv2.circle(canvas, (x, y), radius, [int(c) for c in colours[other]], thickness=-1)

    canvas = np.clip(canvas, 0, 255).astype(np.uint8)
    # Soft brush edges.
    canvas = cv2.GaussianBlur(canvas, (0, 0), sigmaX=float(rng.uniform(0.6, 1.4)))
    painted = cv2.resize(canvas, (width, height), interpolation=cv2.INTER_LINEAR)
    # The truth goes through the same resampling as the paint (cv2's INTER_NEAREST samples half a
    # pixel off INTER_LINEAR's grid, which would shift every border): the label whose share of
    # each output pixel is largest.
    shares = [
        cv2.resize((truth_painting == i).astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
        for i in range(k)
    ]
    truth = np.argmax(np.stack(shares), axis=0).astype(np.int32)

    quality = int(rng.integers(60, 91)) if jpeg_quality is None else jpeg_quality
    if quality:
        ok, data = cv2.imencode(".jpg", painted[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
        assert decoded is not None
        painted = decoded[..., ::-1].copy()
    return PaintedMask(painted=painted, truth=truth, palette=palette[:k].copy())


def _dab(
    canvas: np.ndarray, rng: np.random.Generator, truth: np.ndarray, colours: np.ndarray, scale: float
) -> np.ndarray:
    """``canvas`` with one soft, anti-aliased dab of another label's colour, as a stray brush leaves."""
    ph, pw = truth.shape
    y, x = int(rng.integers(0, ph)), int(rng.integers(0, pw))
    radius = float(rng.uniform(2, 6)) * scale
    other = (int(truth[y, x]) + int(rng.integers(1, len(colours)))) % len(colours)
    alpha = np.zeros((ph, pw), np.float32)
    # Anti-aliased at 1/16 px precision, then feathered like a soft brush.
    cv2.circle(alpha, (x * 16, y * 16), round(radius * 16), 1.0, thickness=-1, lineType=cv2.LINE_AA, shift=4)
    feathered = cv2.GaussianBlur(alpha, (0, 0), sigmaX=float(rng.uniform(0.5, 1.5)) * scale)
    alpha = (feathered * float(rng.uniform(0.6, 1.0))).astype(np.float32)
    return canvas * (1 - alpha[..., None]) + colours[other] * alpha[..., None]


def gimp_mask(
    seed: int,
    *,
    size: tuple[int, int] = (384, 256),
    k: int = 4,
    palette: np.ndarray = PALETTE,
    dabs: int | None = None,
    jpeg: bool | None = None,
) -> PaintedMask:
    """A mask with every artefact GIMP leaves, the ones that made real masks fail: per-stroke
    colour jitter (±4–10), soft anti-aliased dabs of another label's colour (2–6 px radius at the
    final size, partly transparent, feathered), soft brush edges, per-pixel brush noise, painting at
    another resolution and a downscale-upscale round trip, and (unless ``jpeg`` is False; at random
    when None) a JPEG save at quality 60–90 with 4:2:0 chroma subsampling. The truth is the labels
    the user meant: the dabs are not in it."""
    rng = np.random.default_rng(seed)
    width, height = size
    colours = palette[:k].astype(np.float32)
    scale = float(rng.uniform(0.6, 1.6))
    pw, ph = max(8, round(width * scale)), max(8, round(height * scale))
    # The regions the user means are smooth shapes: the truth is drawn from them at the final size,
    # the painting at the painting's (so the truth has no staircase the painting's blur removed).
    fields = _region_fields(rng, k)
    truth_painting = np.stack([cv2.resize(f, (pw, ph), interpolation=cv2.INTER_CUBIC) for f in fields]).argmax(axis=0)
    truth = np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_CUBIC) for f in fields]).argmax(axis=0)
    canvas = colours[truth_painting].copy()

    jitter = float(rng.uniform(4, 10))
    seeds = rng.uniform(0, 1, size=(int(rng.integers(20, 60)), 2)) * (ph, pw)
    yy, xx = np.mgrid[0:ph, 0:pw]
    distances = np.stack([(yy - sy) ** 2 + (xx - sx) ** 2 for sy, sx in seeds])
    stroke = distances.argmin(axis=0)
    canvas += rng.uniform(-jitter, jitter, size=(len(seeds), 3)).astype(np.float32)[stroke]

    for _ in range(int(rng.integers(3, 12)) if dabs is None else dabs):
        canvas = _dab(canvas, rng, truth_painting, colours, scale)

    canvas = cv2.GaussianBlur(canvas, (0, 0), sigmaX=float(rng.uniform(0.6, 1.4)))
    canvas += rng.normal(0, float(rng.uniform(1, 4)), size=canvas.shape).astype(np.float32)
    painted = cv2.resize(np.clip(canvas, 0, 255), (width, height), interpolation=cv2.INTER_LINEAR)
    factor = float(rng.uniform(0.5, 0.8))
    small = cv2.resize(
        painted, (max(4, round(width * factor)), max(4, round(height * factor))), interpolation=cv2.INTER_AREA
    )
    painted = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    painted = np.clip(np.round(painted), 0, 255).astype(np.uint8)
    if jpeg if jpeg is not None else bool(rng.integers(0, 2)):
        buffer = io.BytesIO()
        Image.fromarray(painted).save(buffer, format="JPEG", quality=int(rng.integers(60, 91)), subsampling=2)
        painted = np.asarray(Image.open(buffer).convert("RGB")).copy()
    return PaintedMask(painted=painted, truth=truth.astype(np.int32), palette=palette[:k].copy())


def _region_fields(rng: np.random.Generator, k: int, *, min_share: float = 0.02) -> np.ndarray:
    """(k, 5, 5) smooth random fields whose argmax (resized cubically) gives every label a region."""
    for _ in range(100):
        low = rng.normal(size=(k, 5, 5)).astype(np.float32)
        labels = np.stack([cv2.resize(f, (64, 64), interpolation=cv2.INTER_CUBIC) for f in low]).argmax(axis=0)
        if np.bincount(labels.ravel(), minlength=k).min() >= min_share * labels.size:
            return low
    raise RuntimeError("could not draw fields with every region present")
