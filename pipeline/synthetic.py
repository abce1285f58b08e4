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
        decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
        assert decoded is not None
        painted = decoded[..., ::-1].copy()
    return PaintedMask(painted=painted, truth=truth, palette=palette[:k].copy())


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
    from PIL import Image

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
        y, x = int(rng.integers(0, ph)), int(rng.integers(0, pw))
        radius = float(rng.uniform(2, 6)) * scale
        other = (int(truth_painting[y, x]) + int(rng.integers(1, k))) % k
        alpha = np.zeros((ph, pw), np.float32)
        # Anti-aliased at 1/16 px precision, then feathered like a soft brush.
        cv2.circle(alpha, (x * 16, y * 16), round(radius * 16), 1.0, thickness=-1, lineType=cv2.LINE_AA, shift=4)
        alpha = cv2.GaussianBlur(alpha, (0, 0), sigmaX=float(rng.uniform(0.5, 1.5)) * scale)
        alpha *= float(rng.uniform(0.6, 1.0))
        canvas = canvas * (1 - alpha[..., None]) + colours[other] * alpha[..., None]

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
        import io as _bytes_io

        buffer = _bytes_io.BytesIO()
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

    from pipeline.samples import sample_image

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
