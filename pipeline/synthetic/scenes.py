"""Guided scenes with known regions: content photos, styles and label maps for measuring bleeding,
and textured scenes for measuring mask proposals."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pipeline.samples import sample_image
from pipeline.synthetic.masks import painted_mask, truth_labels


def two_region_scene(size: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The bleeding test scene: a grey photo (the astronaut) split left | right, and a style whose
    two regions differ strongly in colour (red bricks above, blue grass below), laid out top /
    bottom, so that an unguided transfer mixes them everywhere. Returns float RGB images in [0, 1]
    (H, W, 3) and int label maps: content, content labels, style, style labels."""

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


# --- the guided-transfer suite ------------------------------------------------------------------

#: Strong, distinct region colours for style textures: bleeding is measured by colour.
TINTS = np.array(
    [(0.9, 0.2, 0.15), (0.15, 0.3, 0.9), (0.2, 0.75, 0.25), (0.95, 0.8, 0.15)],
    dtype=np.float32,
)


@dataclass(frozen=True)
class GuidedScene:
    """A content photo and a style image with their label maps; label r means the same region in
    both. Images are float RGB (H, W, 3) in [0, 1]; labels are int (H, W)."""

    name: str
    content: np.ndarray
    content_labels: np.ndarray
    style: np.ndarray
    style_labels: np.ndarray

    @property
    def regions(self) -> int:
        return int(self.content_labels.max()) + 1


def _photo(name: str, width: int, height: int) -> np.ndarray:
    from PIL import Image

    image = sample_image(name).resize((width, height), Image.Resampling.BICUBIC)
    return np.asarray(image, np.float32) / 255


def _texture(name: str, width: int, height: int, tint: np.ndarray) -> np.ndarray:
    """A grey texture coloured ``tint`` (its structure kept in the luminance)."""
    grey = _photo(name, width, height).mean(axis=2, keepdims=True)
    return np.clip(grey * 0.6 * tint + 0.4 * tint, 0, 1)


def _compose(labels: np.ndarray, layers: list[np.ndarray]) -> np.ndarray:
    """Region r of the result from ``layers[r]`` (each the full size of ``labels``)."""
    out = np.zeros((*labels.shape, 3), np.float32)
    for r, layer in enumerate(layers):
        out[labels == r] = layer[labels == r]
    return out


def _ellipse(height: int, width: int, centre: tuple[float, float], radii: tuple[float, float]) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    cy, cx = centre[0] * height, centre[1] * width
    return ((y - cy) / (radii[0] * height)) ** 2 + ((x - cx) / (radii[1] * width)) ** 2 <= 1


def _fit(size: int, width: int, height: int) -> tuple[int, int]:
    scale = size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def guided_scenes(size: int = 128) -> list[GuidedScene]:
    """Ten guided scenes unlike each other, for measuring bleeding (see benchmarks/bench_guided.py).

    They vary the content photo (colour and grey, square, landscape and portrait), the layout
    (halves, a region enclosed by another, a thin band, a 5 % corner, stripes across stripes, 3–4
    organic regions, a hand-painted mask with its artefacts), the number of regions (2–4), and the
    style (tinted brick/grass/gravel textures, or natural images). ``size`` is the long side.
    """
    return [*_shape_scenes(size), *_organic_scenes(size), *_natural_scenes(size)]


def _scene(name: str, photo: str, content_labels: np.ndarray, style_labels: np.ndarray, layers: list) -> GuidedScene:
    h, w = content_labels.shape
    style = _compose(style_labels, layers)
    return GuidedScene(name, _photo(photo, w, h), content_labels, style, style_labels)


def _textures(names: list[str], shape: tuple[int, int], tints: np.ndarray = TINTS) -> list[np.ndarray]:
    return [_texture(n, shape[1], shape[0], tint) for n, tint in zip(names, tints, strict=False)]


def _shape_scenes(size: int) -> list[GuidedScene]:
    scenes = []
    # 1. The original test scene: grey astronaut left | right; red bricks above, blue grass below.
    content, labels, style, style_labels = two_region_scene(size)
    scenes.append(GuidedScene("halves", content, labels.astype(np.int32), style, style_labels.astype(np.int32)))

    # 2. A region enclosed by another: chelsea's cat in an ellipse; the style's disc sits elsewhere.
    w, h = _fit(size, 451, 300)
    inner = _ellipse(h, w, (0.55, 0.45), (0.3, 0.25)).astype(np.int32)
    s_inner = _ellipse(h, w, (0.35, 0.65), (0.25, 0.2)).astype(np.int32)
    scenes.append(
        _scene("enclosed", "chelsea", 1 - inner, 1 - s_inner, _textures(["gravel", "brick"], (h, w), TINTS[[2, 3]]))
    )

    # 3. A thin band (~12 % of the height) across coffee; a thin vertical band in the style.
    w, h = _fit(size, 600, 400)
    band = np.zeros((h, w), np.int32)
    band[int(0.45 * h) : int(0.57 * h)] = 1
    s_band = np.zeros((h, w), np.int32)
    s_band[:, int(0.2 * w) : int(0.32 * w)] = 1
    scenes.append(_scene("thin band", "coffee", band, s_band, _textures(["grass", "brick"], (h, w), TINTS[[1, 0]])))

    # 4. Very different areas: a 5 % corner of the rocket (portrait) against the rest; style halves.
    w, h = _fit(size, 427, 640)
    corner = np.zeros((h, w), np.int32)
    corner[: int(0.22 * h), : int(0.22 * w)] = 1
    s_half = np.zeros((h, w), np.int32)
    s_half[:, w // 2 :] = 1
    scenes.append(
        _scene("small corner", "rocket", corner, s_half, _textures(["gravel", "grass"], (h, w), TINTS[[3, 1]]))
    )

    # 5. Stripes across stripes: three vertical bands on the camera; three horizontal in the style.
    h = w = size
    thirds = np.minimum(np.arange(w) * 3 // w, 2)
    scenes.append(
        _scene(
            "stripes",
            "camera",
            np.tile(thirds, (h, 1)).astype(np.int32),
            np.tile(thirds[:, None], (1, w)).astype(np.int32),
            _textures(["brick", "grass", "gravel"], (h, w)),
        )
    )

    return scenes


def _organic_scenes(size: int) -> list[GuidedScene]:
    scenes = []
    rng = np.random.default_rng(2016)
    # 6–7. Organic regions (smooth random fields), three and four of them, content and style apart.
    w, h = _fit(size, 400, 300)
    scenes.append(
        _scene(
            "organic 3",
            "clock",
            truth_labels(rng, h, w, 3, min_share=0.1),
            truth_labels(rng, h, w, 3, min_share=0.1),
            _textures(["brick", "gravel", "grass"], (h, w), TINTS[[0, 2, 1]]),
        )
    )
    w, h = _fit(size, 451, 300)
    scenes.append(
        _scene(
            "organic 4",
            "chelsea",
            truth_labels(rng, h, w, 4, min_share=0.08),
            truth_labels(rng, h, w, 4, min_share=0.08),
            _textures(["brick", "grass", "gravel", "brick"], (h, w)),
        )
    )

    # 8. A hand-painted mask (pipeline's own generator) on the astronaut, as the cleaner leaves it.
    painted = painted_mask(7, size=(size, size), k=3)
    scenes.append(
        _scene(
            "painted",
            "astronaut",
            painted.truth,
            truth_labels(rng, size, size, 3, min_share=0.15),
            _textures(["gravel", "brick", "grass"], (size, size), TINTS[[1, 3, 0]]),
        )
    )

    return scenes


def _natural_scenes(size: int) -> list[GuidedScene]:
    scenes = []
    # 9. Natural style images side by side, the retina's orange (its centre) and the Hubble
    #    field's night, onto a diagonal split of the coins.
    w, h = _fit(size, 384, 303)
    y, x = np.mgrid[0:h, 0:w]
    diagonal = (x / w + y / h > 1).astype(np.int32)
    s_half = np.zeros((h, w), np.int32)
    s_half[:, w // 2 :] = 1
    retina = _photo("retina", 2 * w, 2 * h)[h // 2 : h // 2 + h, w // 2 : w // 2 + w]
    scenes.append(_scene("natural", "coins", diagonal, s_half, [retina, _photo("hubble_deep_field", w, h)]))

    # 10. Two-to-one and a ring: the moon with a ring region around a disc, three labels.
    h = w = size
    disc = _ellipse(h, w, (0.5, 0.5), (0.18, 0.18))
    ring = _ellipse(h, w, (0.5, 0.5), (0.36, 0.36)) & ~disc
    rings = np.where(disc, 2, np.where(ring, 1, 0)).astype(np.int32)
    s_labels = np.zeros((h, w), np.int32)
    s_labels[:, w // 3 :] = 1
    s_labels[h // 2 :, w // 3 :] = 2
    scenes.append(
        _scene("ring", "moon", rings, s_labels, _textures(["grass", "gravel", "brick"], (h, w), TINTS[[1, 3, 0]]))
    )
    return scenes


# --- textured scenes for mask proposals ---------------------------------------------------------

#: Grey structure for textured regions: the skimage textures and photo crops of other structure.
TEXTURE_SOURCES = ("brick", "grass", "gravel", "coffee", "chelsea", "rocket", "astronaut", "hubble_deep_field")


def textured_scene(
    seed: int, *, size: tuple[int, int] = (512, 384), k: int = 3, texture: str = "photo"
) -> tuple[np.ndarray, np.ndarray]:
    """A photo-like image of ``k`` organic regions, each a textured surface with its own colour
    statistics, under a mild lighting gradient: what a mask proposal must find. Each region has a
    colour at least 0.35 (of the RGB cube's side) from every other region's, and a ``texture``:
    ``photo``, the structure of a random texture or photo at a random scale, tinted (contrast
    0.3–0.8); or ``noise``, additive colour noise (std 0.04–0.15) blurred at 1–6 px. Returns the
    (H, W, 3) uint8 image and the (H, W) int truth labels."""
    rng = np.random.default_rng(seed)
    width, height = size
    labels = truth_labels(rng, height, width, k, min_share=0.05)
    tints: list[np.ndarray] = []
    while len(tints) < k:
        tint = rng.uniform(0.08, 0.95, size=3).astype(np.float32)
        if all(np.linalg.norm(tint - t) >= 0.35 for t in tints):
            tints.append(tint)
    layers = []
    for tint in tints:
        if texture == "noise":
            noise = cv2.GaussianBlur(rng.normal(size=(height, width, 3)).astype(np.float32), (0, 0), rng.uniform(1, 6))
            layers.append(tint + float(rng.uniform(0.04, 0.15)) * noise / noise.std())
            continue
        name = TEXTURE_SOURCES[int(rng.integers(len(TEXTURE_SOURCES)))]
        zoom = float(rng.uniform(1.0, 3.0))  # texture scale: crop a part and enlarge it
        tile = _photo(name, round(width * zoom), round(height * zoom))
        top, left = int(rng.integers(0, tile.shape[0] - height + 1)), int(rng.integers(0, tile.shape[1] - width + 1))
        grey = tile[top : top + height, left : left + width].mean(axis=2, keepdims=True)
        contrast = float(rng.uniform(0.3, 0.8))
        layers.append(np.clip(tint * (1 - contrast + 2 * contrast * grey), 0, 1))
    image = _compose(labels, layers)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = float(rng.uniform(0, 2 * np.pi))
    light = 1 + 0.1 * ((xx / width - 0.5) * np.cos(angle) + (yy / height - 0.5) * np.sin(angle))
    image = np.clip(image * light[..., None], 0, 1)
    return np.round(image * 255).astype(np.uint8), labels


def matched_accuracy(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Pixel accuracy of a label map against ``truth`` after the best one-to-one pairing of their
    labels (Hungarian): how a proposal, whose label numbers are arbitrary, is scored."""
    from scipy.optimize import linear_sum_assignment

    n = int(max(predicted.max(), truth.max())) + 1
    confusion = np.zeros((n, n))
    np.add.at(confusion, (predicted.ravel().astype(np.int64), truth.ravel().astype(np.int64)), 1)
    rows, cols = linear_sum_assignment(-confusion)
    return float(confusion[rows, cols].sum() / truth.size)
