"""Hand-painted masks with known ground truth, for testing and benchmarking the mask cleaner.

Real masks come from GIMP: a person fills regions with a brush, so every stroke is a slightly
different shade, brush edges are soft, a few stray dabs land where they should not, the mask is
resized (bilinear) to fit its photo and often saved as JPEG. :func:`painted_mask` reproduces all of
that from a random ground-truth label map, so the cleaner can be scored pixel by pixel.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

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

    # Each stroke (a random cell of a coarse Voronoi partition) has its own shade.
    seeds = rng.uniform(0, 1, size=(int(rng.integers(20, 60)), 2)) * (ph, pw)
    yy, xx = np.mgrid[0:ph, 0:pw]
    nearest = np.full((ph, pw), np.inf, np.float32)
    stroke = np.zeros((ph, pw), np.int32)
    for index, (sy, sx) in enumerate(seeds):
        distance = (yy - sy) ** 2 + (xx - sx) ** 2
        closer = distance < nearest
        nearest[closer], stroke[closer] = distance[closer], index
    shades = rng.integers(-jitter, jitter + 1, size=(len(seeds), 3))
    canvas += shades[stroke].astype(np.int16)

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
        painted = cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1].copy()
    return PaintedMask(painted=painted, truth=truth, palette=palette[:k].copy())


def two_region_scene(size: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The bleeding test scene: a grey photo (the astronaut) split left | right, and a style whose
    two regions differ strongly in colour (red bricks above, blue grass below), laid out top /
    bottom, so that an unguided transfer mixes them everywhere. Returns float RGB images in [0, 1]
    (H, W, 3) and int label maps: content, content labels, style, style labels."""
    from pipeline.samples import sample_image

    def grey(name: str) -> np.ndarray:
        image = sample_image(name).convert("L").resize((size, size))
        return np.asarray(image, np.float32) / 255

    def tinted(name: str, colour: tuple[float, float, float]) -> np.ndarray:
        return np.clip(grey(name)[..., None] * 0.6 * np.array(colour) + 0.4 * np.array(colour), 0, 1)

    half = size // 2
    style = np.concatenate([tinted("brick", (0.9, 0.2, 0.15))[:half], tinted("grass", (0.15, 0.3, 0.9))[half:]])
    style_labels = np.zeros((size, size), np.int64)
    style_labels[half:] = 1
    content = np.repeat(grey("astronaut")[..., None], 3, axis=2)
    content_labels = np.zeros((size, size), np.int64)
    content_labels[:, half:] = 1
    return content.astype(np.float32), content_labels, style.astype(np.float32), style_labels


#: Label colours of :func:`save_two_region_scene`'s masks.
SCENE_COLOURS = {"left": "#e6194b", "right": "#4363d8"}


def save_two_region_scene(folder: Path, size: int = 128) -> dict[str, Path]:
    """:func:`two_region_scene` as files, for training and stylising from disk: ``content``
    (``folder/data/scene.png``), its mask (``folder/masks/scene.png``), ``style`` and
    ``style_mask``, the masks painted in :data:`SCENE_COLOURS` (content left | right; style
    top = left's label, bottom = right's). Returns the paths, plus the ``data`` and ``masks`` folders."""
    from PIL import Image

    content, content_labels, style, style_labels = two_region_scene(size)
    colours = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in SCENE_COLOURS.values()], np.uint8)
    paths = {
        "data": folder / "data",
        "masks": folder / "masks",
        "content": folder / "data" / "scene.png",
        "content_mask": folder / "masks" / "scene.png",
        "style": folder / "style.png",
        "style_mask": folder / "style_mask.png",
    }
    paths["data"].mkdir(parents=True, exist_ok=True)
    paths["masks"].mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.round(content * 255).astype(np.uint8)).save(paths["content"])
    Image.fromarray(colours[content_labels]).save(paths["content_mask"])
    Image.fromarray(np.round(style * 255).astype(np.uint8)).save(paths["style"])
    Image.fromarray(colours[style_labels]).save(paths["style_mask"])
    return paths
