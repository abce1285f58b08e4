"""Clips whose true motion is known, for tests, benchmarks and the demo: a camera panning and
zooming over a picture while a textured object crosses it.

No video ships with the project's dependencies, so clips are made from scikit-image's samples. For
every frame we know, besides the image, each pixel's true label (the world's regions, the object
on top), its true backward flow (where the pixel was in the previous frame) and whether that origin
was visible there (inside the frame, not behind the object): the ground truth that warping error
and mask propagation are measured against.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np

from pipeline import samples
from pipeline.errors import InputError
from pipeline.synthetic.scenes import _photo, _texture, textured_scene
from pipeline.video.mp4 import h264_stream, write_frames, yuv420


@dataclass(frozen=True)
class Disc:
    """A textured disc that crosses the frame, in frame pixels per frame. ``start`` is its centre in
    the first frame as a share of the frame's width and height (beyond 0–1: outside, entering);
    None places it so that it crosses the frame's centre in the middle frame."""

    speed: tuple[float, float]
    radius: float = 0.18  # of the frame's shorter side
    texture: str = "brick"  # its surface (a sample), tinted
    tint: tuple[float, float, float] = (0.9, 0.35, 0.2)
    start: tuple[float, float] | None = None


@dataclass(frozen=True)
class ClipSpec:
    """One synthetic clip. Speeds are per frame; ``pan`` in frame pixels, ``zoom`` as a factor
    (1.01: 1 % closer every frame), ``roll`` in degrees (the camera turning about its axis),
    ``speed`` of the object in frame pixels; ``others`` are more discs, drawn over it in order."""

    world: str = "astronaut"  # a sample name (pipeline.samples), or "scene:SEED" for a textured scene
    size: tuple[int, int] = (128, 96)  # width, height
    frames: int = 24
    pan: tuple[float, float] = (0.8, 0.3)  # x, y
    zoom: float = 1.004
    speed: tuple[float, float] = (2.2, 0.6)
    radius: float = 0.18  # of the frame's shorter side
    texture: str = "brick"  # the object's surface (a sample), tinted
    tint: tuple[float, float, float] = (0.9, 0.35, 0.2)
    fps: float = 24.0
    roll: float = 0.0
    start: tuple[float, float] | None = None  # the object's, as Disc.start
    others: tuple[Disc, ...] = ()

    @property
    def discs(self) -> tuple[Disc, ...]:
        """Every disc, bottom first: the object, then ``others``."""
        return (Disc(self.speed, self.radius, self.texture, self.tint, self.start), *self.others)


#: Clips the demo workflow writes (``demo: {videos: [...]}``), by name (the names are
#: :data:`pipeline.samples.CLIPS`, which the Snakefile reads without importing this module).
DEMO_CLIPS = dict(
    zip(
        samples.CLIPS,
        (
            # The astronaut's portrait panned across while a brick disc rolls by; a second of sound.
            ClipSpec(world="astronaut", size=(160, 120), frames=16, pan=(1.0, 0.3), speed=(3.0, 0.8)),
            # A textured scene of three regions (for masks that follow the motion) with a gravel disc.
            ClipSpec(
                world="scene:7",
                size=(160, 120),
                frames=16,
                pan=(-0.8, 0.5),
                speed=(2.5, -1.0),
                texture="gravel",
                tint=(0.95, 0.85, 0.3),
            ),
        ),
        strict=True,
    )
)


@dataclass(frozen=True)
class SyntheticFrame:
    """A frame and its truth. ``flow[y, x]`` is (dx, dy): the pixel was at (x + dx, y + dy) in the
    previous frame (None for the first frame); ``visible`` says that origin was in view there."""

    index: int
    image: np.ndarray  # (H, W, 3) uint8
    labels: np.ndarray  # (H, W) int32: the world's labels, the object the last one
    flow: np.ndarray | None  # (H, W, 2) float32
    visible: np.ndarray | None  # (H, W) bool


def _world(spec: ClipSpec, labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The picture the camera looks at (float RGB, 3× the frame so zooming in stays sharp) and its
    labels (a textured scene's regions; a photo's three horizontal bands, or ``labels``, a label
    map of the photo, stretched with it)."""
    width, height = spec.size[0] * 3, spec.size[1] * 3
    if labels is not None:
        stretched = cv2.resize(labels.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
        return _photo(spec.world, width, height), stretched.astype(np.int32)
    if spec.world.startswith("scene:"):
        image, labels = textured_scene(int(spec.world.split(":", 1)[1]), size=(width, height), k=3)
        return image.astype(np.float32) / 255, labels.astype(np.int32)
    image = _photo(spec.world, width, height)
    labels = np.minimum(np.arange(height) * 3 // height, 2).astype(np.int32)[:, None].repeat(width, axis=1)
    return image, labels


def _disc_texture(disc: Disc, side: int) -> np.ndarray:
    return _texture(disc.texture, side, side, np.array(disc.tint, np.float32))


#: Frame pixels per world pixel at the start: the frame shows 2.2 frames' worth of its 3x world.
START_SCALE = 1 / 2.2


def _camera(spec: ClipSpec, t: int, world_shape: tuple[int, int]) -> tuple[np.ndarray, float, float]:
    """The world point at the frame's centre, the frame pixels per world pixel, and the camera's
    roll (radians), at frame ``t`` (the middle frame looks at the world's centre, unturned; beyond
    its edges the world is mirrored)."""
    height, width = world_shape
    middle = (spec.frames - 1) / 2
    centre = np.array([width / 2, height / 2]) + np.array(spec.pan) / START_SCALE * (t - middle)
    return centre, START_SCALE * spec.zoom**t, float(np.radians(spec.roll * (t - middle)))


def _disc_centre(spec: ClipSpec, disc: Disc, t: int) -> np.ndarray:
    width, height = spec.size
    if disc.start is None:
        start = np.array([width * 0.5, height * 0.5]) - np.array(disc.speed) * (spec.frames - 1) / 2
    else:
        start = np.array([width * disc.start[0], height * disc.start[1]])
    return start + np.array(disc.speed) * t


def _turned(x: np.ndarray, y: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) turned by ``angle`` radians (no arithmetic at all for 0, so unturned clips stay exact)."""
    if angle == 0:
        return x, y
    cos, sin = np.cos(angle), np.sin(angle)
    return cos * x - sin * y, sin * x + cos * y


def synthetic_clip(spec: ClipSpec = ClipSpec(), *, world_labels: np.ndarray | None = None) -> Iterator[SyntheticFrame]:
    """The frames of ``spec`` with their truth, one at a time (a long clip never sits in memory).
    ``world_labels`` labels a photo world (e.g. its painted mask), instead of three bands; each disc
    has a label of its own after the world's."""
    world, world_labels = _world(spec, world_labels)
    width, height = spec.size
    discs = spec.discs
    radii = [disc.radius * min(width, height) for disc in discs]
    sides = [int(2 * radius) + 4 for radius in radii]
    textures = [_disc_texture(disc, side) for disc, side in zip(discs, sides, strict=True)]
    first_label = int(world_labels.max()) + 1
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    frame_centre = np.array([width / 2, height / 2], np.float32)
    previous: tuple[np.ndarray, float, float, list[np.ndarray]] | None = None
    for t in range(spec.frames):
        centre, scale, roll = _camera(spec, t, world.shape[:2])
        turned_x, turned_y = _turned(xs - frame_centre[0], ys - frame_centre[1], -roll)
        world_x = (centre[0] + turned_x / scale).astype(np.float32)
        world_y = (centre[1] + turned_y / scale).astype(np.float32)
        # Blur the world to the frame's sampling rate first: no aliasing when the camera pulls back.
        sigma = max(0.5 / scale - 0.5, 0.0)
        source = cv2.GaussianBlur(world, (0, 0), sigma) if sigma > 0.05 else world
        image = cv2.remap(source, world_x, world_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        labels = world_labels[
            np.clip(np.round(world_y), 0, world.shape[0] - 1).astype(int),
            np.clip(np.round(world_x), 0, world.shape[1] - 1).astype(int),
        ]
        centres = [_disc_centre(spec, disc, t) for disc in discs]
        layer = np.full((height, width), -1)  # the disc on top at each pixel (-1: the world)
        for i, (obj, radius, side, texture) in enumerate(zip(centres, radii, sides, textures, strict=True)):
            on_object = (xs - obj[0]) ** 2 + (ys - obj[1]) ** 2 <= radius**2
            tex_x = (xs - obj[0] + side / 2).astype(np.float32)
            tex_y = (ys - obj[1] + side / 2).astype(np.float32)
            surface = cv2.remap(texture, tex_x, tex_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            image = np.where(on_object[..., None], surface, image)
            labels = np.where(on_object, first_label + i, labels).astype(np.int32)
            layer = np.where(on_object, i, layer)
        flow = visible = None
        if previous is not None:
            before_centre, before_scale, before_roll, before_centres = previous
            # The world: the same world point, seen by the previous camera.
            seen_x, seen_y = _turned(world_x - before_centre[0], world_y - before_centre[1], before_roll)
            px = frame_centre[0] + before_scale * seen_x
            py = frame_centre[1] + before_scale * seen_y
            # Each disc moved rigidly by its speed; what was over a pixel's origin hid it.
            hidden = np.zeros((height, width), bool)
            for i in range(len(discs)):
                moved = centres[i] - before_centres[i]
                px = np.where(layer == i, xs - moved[0], px)
                py = np.where(layer == i, ys - moved[1], py)
            for i, (obj, radius) in enumerate(zip(before_centres, radii, strict=True)):
                covered = (px - obj[0]) ** 2 + (py - obj[1]) ** 2 <= radius**2
                hidden |= covered & (layer < i)
            flow = np.stack([px - xs, py - ys], axis=-1).astype(np.float32)
            inside = (px >= 0) & (px <= width - 1) & (py >= 0) & (py <= height - 1)
            visible = inside & ~hidden
        previous = (centre, scale, roll, centres)
        rgb = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
        yield SyntheticFrame(t, rgb, labels, flow, visible)


def write_clip(spec: ClipSpec, path: str | os.PathLike[str], *, audio: bool = False) -> None:
    """Write the clip as an H.264 MP4 (or a folder of PNG frames when ``path`` has no suffix);
    ``audio`` adds a stereo AAC tone that sweeps upward, so that any shift or re-encoding shows."""
    frames = (f.image for f in synthetic_clip(spec))
    if not audio:
        write_frames(frames, path, fps=spec.fps)
        return
    import av  # PyAV loads FFmpeg: only for the sound

    rate = 44100
    seconds = spec.frames / spec.fps
    t = np.arange(int(rate * seconds)) / rate
    tone = 0.3 * np.sin(2 * np.pi * (220 + 220 * t / max(seconds, 1e-9)) * t)
    time_base = Fraction(1, round(spec.fps))
    with av.open(str(path), "w", format="mp4") as container:
        video = None
        sound = container.add_stream("aac", rate=rate, layout="stereo")
        for index, image in enumerate(frames):
            # The encoder and conversion of every clip we write: the same bytes on any machine.
            video = video or h264_stream(container, image, time_base)
            frame = av.VideoFrame.from_ndarray(yuv420(image), format="yuv420p")
            frame.pts, frame.time_base = index, time_base
            container.mux(video.encode(frame))
        assert video is not None, "a clip has frames"
        container.mux(video.encode())
        for start in range(0, len(tone), 1024):
            block = np.stack([tone[start : start + 1024]] * 2).astype(np.float32)
            chunk = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
            chunk.sample_rate, chunk.pts = rate, start
            container.mux(sound.encode(chunk))
        container.mux(sound.encode())


def write_demo_clip(name: str, path: str | os.PathLike[str]) -> None:
    """Write the demo clip ``name`` (:data:`DEMO_CLIPS`) with its sound, as ``stylesnake sample`` does."""
    if name not in DEMO_CLIPS:
        raise InputError(f"unknown demo clip '{name}'; use one of {', '.join(DEMO_CLIPS)}")
    write_clip(DEMO_CLIPS[name], path, audio=True)
