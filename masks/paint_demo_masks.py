"""Paint the demo's label masks for five of scikit-image's bundled sample images.

The outlines are our own, placed by hand in each image's pixel coordinates (polygons and
ellipses below; the stained glands of ``ihc`` start from a brown-vs-blue threshold that is then
smoothed like brush work). They are rendered the way a person paints a mask in GIMP: per-stroke
shade jitter, a soft brush edge, a few stray dabs of the other colour and a JPEG round trip before
the PNG is saved, so that ``stylesnake clean-mask`` has something realistic to clean.

Run from the repository root: ``python masks/paint_demo_masks.py``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from pipeline.samples import sample_image

SUBJECT = (0xE6, 0x19, 0x4B)  # #e6194b
BACKGROUND = (0x43, 0x63, 0xD8)  # #4363d8
LONG_SIDE = 512  # masks are painted at most this large, with the image's aspect ratio
SEED = 20240611
HERE = Path(__file__).resolve().parent

# Subject outlines in the image's own pixel coordinates (x, y). A polygon is a list of points (its corners are
# rounded like brush strokes; points off the frame carry the stroke past the edge), an ellipse is
# ("ellipse", cx, cy, rx, ry, angle_degrees). Everything outside them is background.
# fmt: off
ASTRONAUT = [
    [  # head, hair, helmet ring and suit
        (22, 530), (22, 400), (24, 340), (40, 300), (55, 268), (80, 236), (110, 208), (113, 186), (126, 172),
        (140, 160), (160, 151), (183, 149), (182, 125), (172, 114), (158, 100), (153, 70), (162, 45), (182, 25),
        (210, 15), (245, 14), (275, 24), (293, 45), (302, 75), (298, 105), (285, 120), (270, 132), (262, 145),
        (256, 160), (256, 172), (272, 182), (287, 200), (298, 222), (305, 235), (320, 245), (333, 258),
        (342, 272), (350, 290), (355, 310), (360, 335), (364, 350), (330, 360), (310, 380), (310, 420),
        (320, 530),
    ],
    [  # the helmet she holds
        (290, 390), (320, 362), (365, 346), (410, 342), (450, 347), (480, 365), (495, 395), (500, 425),
        (505, 460), (520, 530), (280, 530),
    ],
]
CHELSEA = [
    [  # the cat fills the frame except the blurred room on the right and a patch top left
        (38, -40), (400, -40), (398, 0), (388, 20), (375, 40), (364, 58), (358, 75), (358, 95), (362, 120),
        (356, 140), (346, 160), (340, 180), (330, 200), (320, 222), (313, 245), (305, 275), (296, 340),
        (-40, 340), (-40, 127), (12, 122), (25, 108), (33, 80), (36, 40),
    ],
]
COFFEE = [
    [  # saucer
        (200, 70), (165, 80), (140, 90), (120, 103), (105, 120), (95, 140), (86, 160), (80, 200), (81, 240),
        (90, 280), (100, 300), (115, 320), (135, 340), (165, 360), (200, 376), (240, 386), (280, 391),
        (320, 389), (360, 380), (400, 364), (428, 347), (448, 326), (462, 300), (472, 270), (478, 240),
        (478, 210), (472, 180), (460, 150), (440, 125), (415, 108), (400, 100),
    ],
    ("ellipse", 290, 112, 118, 95, 0),  # cup rim
    [  # spoon handle
        (396, 72), (410, 66), (424, 72), (420, 90), (412, 112), (400, 125),
    ],
]
RETINA = [
    ("ellipse", 703, 702, 694, 696, 27),  # the fundus disc
    [  # the notch top right
        (1128, 148), (1160, 127), (1236, 191), (1210, 224), (1180, 215),
    ],
]
# fmt: on


def mask_size(width: int, height: int) -> tuple[int, int]:
    """The painting's size: the image's, shrunk so the long side is at most LONG_SIDE."""
    scale = min(1.0, LONG_SIDE / max(width, height))
    return round(width * scale), round(height * scale)


def smooth(points: np.ndarray, rounds: int = 2) -> np.ndarray:
    """Chaikin corner cutting: hand-placed points become a brush-like curve."""
    for _ in range(rounds):
        following = np.roll(points, -1, axis=0)
        points = np.stack([0.75 * points + 0.25 * following, 0.25 * points + 0.75 * following], axis=1)
        points = points.reshape(-1, 2)
    return points


def outline(shape, scale: float) -> np.ndarray:
    """One shape as a closed polygon in painting coordinates."""
    if shape[0] == "ellipse":
        _, cx, cy, rx, ry, angle = shape
        t = np.linspace(0, 2 * np.pi, 180, endpoint=False)
        a = np.deg2rad(angle)
        x, y = rx * np.cos(t), ry * np.sin(t)
        points = np.stack([cx + x * np.cos(a) - y * np.sin(a), cy + x * np.sin(a) + y * np.cos(a)], axis=1)
    else:
        points = smooth(np.asarray(shape, np.float64))
    return points * scale


def draw(shapes, image_size: tuple[int, int]) -> np.ndarray:
    """The subject (True) as the union of the hand-placed shapes, at the painting's size."""
    width, height = mask_size(*image_size)
    subject = np.zeros((height, width), np.uint8)
    for shape in shapes:
        points = np.round(outline(shape, width / image_size[0]) * 16).astype(np.int32)
        cv2.fillPoly(subject, [points], 1, lineType=cv2.LINE_AA, shift=4)
    return subject > 0


def stained_glands(image: np.ndarray) -> np.ndarray:
    """The brown glands of ``ihc``: reddish (red minus blue) and not pale, smoothed until it looks brushed."""
    rgb = image.astype(np.float32)
    reddish = cv2.GaussianBlur(rgb[..., 0] - rgb[..., 2], (0, 0), 3) > 18
    dark = cv2.GaussianBlur(rgb.mean(axis=2), (0, 0), 3) < 185  # not the white lumens
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (15, 15))
    brown = cv2.morphologyEx((reddish & dark).astype(np.uint8), cv2.MORPH_CLOSE, disk)
    brown = cv2.morphologyEx(brown, cv2.MORPH_OPEN, disk)
    # Drop specks and fill holes smaller than a brush stroke.
    for value in (1, 0):
        count, labels, stats, _ = cv2.connectedComponentsWithStats((brown == value).astype(np.uint8))
        for index in range(1, count):
            if stats[index, cv2.CC_STAT_AREA] < 800:
                brown[labels == index] = 1 - value
    soft = cv2.GaussianBlur(brown.astype(np.float32), (0, 0), 3)
    return cv2.resize(soft, mask_size(image.shape[1], image.shape[0]), interpolation=cv2.INTER_AREA) > 0.5


def paint(subject: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Render a boolean subject mask as a GIMP-painted RGB mask."""
    height, width = subject.shape
    canvas = np.where(subject[..., None], SUBJECT, BACKGROUND).astype(np.int16)

    # Each stroke (a cell of a coarse Voronoi partition) has its own slightly different shade.
    seeds = rng.uniform(0, 1, size=(int(rng.integers(25, 50)), 2)) * (height, width)
    yy, xx = np.mgrid[0:height, 0:width]
    distance = (yy[None] - seeds[:, 0, None, None]) ** 2 + (xx[None] - seeds[:, 1, None, None]) ** 2
    stroke = np.argmin(distance, axis=0)
    canvas += rng.integers(-6, 7, size=(len(seeds), 3)).astype(np.int16)[stroke]

    # A few stray 1–3 px dabs of the other colour.
    for _ in range(int(rng.integers(3, 9))):
        y, x = int(rng.integers(0, height)), int(rng.integers(0, width))
        other = BACKGROUND if subject[y, x] else SUBJECT
        cv2.circle(canvas, (x, y), int(rng.integers(1, 3)), other, thickness=-1)

    canvas = np.clip(canvas, 0, 255).astype(np.uint8)
    canvas = cv2.GaussianBlur(canvas, (0, 0), sigmaX=float(rng.uniform(1.0, 1.5)))  # soft brush edge
    ok, jpeg = cv2.imencode(".jpg", canvas[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return cv2.imdecode(jpeg, cv2.IMREAD_COLOR)  # BGR, ready for cv2.imwrite


def main() -> None:
    rng = np.random.default_rng(SEED)
    jobs = {
        "content/astronaut.png": ("astronaut", ASTRONAUT),
        "content/chelsea.png": ("chelsea", CHELSEA),
        "content/coffee.png": ("coffee", COFFEE),
        "style/ihc.png": ("ihc", None),
        "style/retina.png": ("retina", RETINA),
    }
    for relative, (name, shapes) in jobs.items():
        image = np.asarray(sample_image(name))
        size = (image.shape[1], image.shape[0])
        subject = stained_glands(image) if shapes is None else draw(shapes, size)
        out = HERE / relative
        cv2.imwrite(str(out), paint(subject, rng), [cv2.IMWRITE_PNG_COMPRESSION, 9])
        print(f"{out.relative_to(HERE.parent)}: {subject.shape[1]}x{subject.shape[0]}, subject {subject.mean():.1%}")
    keyframe(rng)


def keyframe(rng: np.random.Generator) -> None:
    """Frame 0's mask of the demo clip astronaut_pan: the astronaut's outlines as that frame sees
    them (the clip's own camera), the disc rolling by a subject too, painted like the others."""
    from pipeline.synthetic.clips import DEMO_CLIPS, synthetic_clip

    subject = draw(ASTRONAUT, sample_image("astronaut").size)
    first = next(synthetic_clip(DEMO_CLIPS["astronaut_pan"], world_labels=subject.astype(np.uint8)))
    out = HERE / "video" / "astronaut_pan" / "000000.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), paint(first.labels >= 1, rng), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"{out.relative_to(HERE.parent)}: the clip's frame 0, subject {(first.labels >= 1).mean():.1%}")


if __name__ == "__main__":
    main()
