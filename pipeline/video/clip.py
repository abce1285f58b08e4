"""Clips in, with PyAV (FFmpeg): what the scripts our users came from got wrong.

- **Read** any clip FFmpeg decodes (H.264, HEVC, VP9, MJPEG, …), or a folder of frames. Frames come
  upright: the rotation a phone records in the display matrix is applied (PyAV reports it, it does
  not apply it). Each frame keeps its own timestamp, so a variable frame rate survives.
- **Checked first** (:func:`probe`): the whole clip is decoded once, keeping nothing but the
  timestamps, before any work: a clip that is not a video, has no video stream or no frames, is
  corrupt half-way or too large per frame is one clear line, and nothing has been written.
- **One timeline**: a frame counts only when its timestamp is later than the last counted frame's
  (a repeated time, as broken muxers write, is a duplicate picture with no time of its own), the
  same rule in :func:`probe` and :func:`read_frames`, so frame *k* read is frame *k* probed.
- **Streamed**: :func:`read_frames` yields one frame at a time, so memory does not grow with the
  clip's length.

Clips out (H.264 MP4 with the input's timestamps and sound) are :mod:`pipeline.video.mp4`'s.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pipeline import io
from pipeline.errors import Damaged, Empty, InputError, NoPictures, Unsupported, check_pixels, option

log = logging.getLogger(__name__)

#: Suffixes of the frame images a folder may hold (sorted by name).
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg")
#: The frame rate of a folder of frames, unless told.
FOLDER_FPS = 25.0
#: The highest frame rate a folder of frames may be given.
MAX_FPS = 1000.0
#: Frame files: the frame number, six digits.
FRAME_NAME = "{:06d}.png"
#: A numbered frame's file name (a keyframe mask's): the frame number in six digits, PNG or JPEG.
NUMBERED = re.compile(r"(\d{6})\.(png|jpe?g)", re.IGNORECASE)


@dataclass(frozen=True)
class ClipInfo:
    """What :func:`probe` learnt of a clip: its frames' count, upright size and timestamps."""

    path: Path
    frames: int
    width: int  # upright, after the rotation
    height: int
    rotation: int  # degrees counter-clockwise applied to make frames upright (0, ±90, 180)
    time_base: Fraction
    pts: tuple[int, ...]  # each frame's presentation time, in time_base units
    codec: str  # the video codec, or "frames" for a folder
    audio: bool  # has an audio stream (copied to the output)
    files: tuple[Path, ...] = ()  # a folder's frame files, in order
    max_pixels: int = io.MAX_PIXELS  # the bound its decoders keep to when it is read

    @property
    def is_folder(self) -> bool:
        return self.codec == "frames"

    @property
    def fps(self) -> float:
        """The mean frame rate (for the record; frames keep their own times)."""
        if self.frames < 2:
            return float(1 / self.time_base) if self.is_folder else FOLDER_FPS
        return float((self.frames - 1) / ((self.pts[-1] - self.pts[0]) * self.time_base))

    def described(self) -> dict[str, Any]:
        """What a record says of the clip."""
        return {"path": str(self.path), "frames": self.frames, "fps": round(self.fps, 4), "codec": self.codec,
                "rotation": self.rotation, "audio": self.audio}  # fmt: skip

    def seconds(self, index: int) -> float:
        """Frame ``index``'s time from the first frame's."""
        return float((self.pts[index] - self.pts[0]) * self.time_base)

    def time(self, index: int) -> Fraction:
        """Frame ``index``'s time in the clip's own timeline (which its audio shares), in seconds."""
        return self.pts[index] * self.time_base


def _damaged(path: Path, good: int, what: str, why: str) -> Damaged:
    """A damaged clip's line: the ``good`` frames before the damage can still be painted, unless there are none."""
    if not good:
        return Damaged(f"{path}: holds no frames we can decode ({why}); re-export it")
    return Damaged(f"{path}: {what} ({why}); re-export it, or use {option('frames')} 0:{good}")


def open_clip(path: Path, *, max_pixels: int) -> Any:
    """``path`` opened for reading, its video decoders refusing frames of over ``max_pixels`` pixels.

    Opening a container decodes a frame to learn its streams' parameters; without the bound a
    header that declares 16000 x 16000 costs hundreds of megabytes before any check. With it, such
    a frame is refused by FFmpeg and the sizes still come from the header. The bound is set again on
    each video stream's decoder, as PyAV does not carry open's options to the decoders it opens."""
    import av

    bound = {"max_pixels": str(max_pixels)}
    container = av.open(str(path), options=bound)
    for stream in container.streams.video:
        stream.codec_context.options = {**stream.codec_context.options, **bound}
    return container


def open_checked(path: Path, max_pixels: int) -> Any:
    """``path`` opened (:func:`open_clip`), or an :class:`InputError` of its kind when it cannot be."""
    import av

    try:
        return open_clip(path, max_pixels=max_pixels)
    except av.error.EOFError:
        raise Empty(f"{path}: holds no frames (it ends before its first picture)") from None
    except av.error.FFmpegError as exc:
        raise Unsupported(f"{path}: not a video we can read ({why(exc)}); give an MP4, MOV, MKV or WebM clip") from None


def why(exc: Exception) -> str:
    """FFmpeg's reason for ``exc``, in one short line."""
    return (getattr(exc, "strerror", None) or str(exc)).splitlines()[0][:120]


def _upright(array: np.ndarray, rotation: int) -> np.ndarray:
    """Turn a decoded frame as a player shows it: ``rotation`` is the display matrix's
    counter-clockwise angle (an iPhone's portrait clip says -90: shown turned 90° clockwise)."""
    turns = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(array, k=turns)) if turns else array


def _later(last: int | None, frame: Any) -> int | None:
    """``frame``'s timestamp when it counts (later than ``last``, the last counted one's), else None;
    a frame without one follows the last. See the module docstring ("one timeline")."""
    pts = int(frame.pts) if frame.pts is not None else (0 if last is None else last + 1)
    return pts if last is None or pts > last else None


def probe(path: str | os.PathLike[str], *, max_pixels: int = io.MAX_PIXELS, fps: float | None = None) -> ClipInfo:
    """Check a clip (or a folder of frames) by decoding it once; see the module docstring."""
    path = Path(path)
    check_fps(fps)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder; check the path")
    if path.is_dir():
        return _probe_folder(path, max_pixels=max_pixels, fps=fps)
    if path.stat().st_size == 0:
        raise Empty(f"{path}: file is empty (0 bytes)")
    import av

    with open_checked(path, max_pixels) as container:
        if not container.streams.video:
            raise NoPictures(f"{path}: has no video stream (audio only?); give a clip with pictures")
        stream = container.streams.video[0]
        width, height = _check_pixels(path, stream, max_pixels)
        expected = stream.frames  # what the container says, 0 when it does not know
        pts: list[int] = []
        rotation, decoded = 0, 0  # the damage checks count decoded frames, repeated times or not
        try:
            for frame in container.decode(stream):
                if not decoded:  # what it decodes to, which a header may not have said
                    rotation = int(getattr(frame, "rotation", 0) or 0)
                    width, height = frame.width, frame.height
                decoded += 1
                kept = _later(pts[-1] if pts else None, frame)
                if kept is not None:
                    pts.append(kept)
        except av.error.FFmpegError as exc:
            _check_pixels(path, stream, max_pixels)  # a frame larger than its header said, refused by the bound
            raise _damaged(path, len(pts), f"the clip is damaged after {len(pts)} frame(s)", why(exc)) from None
        if not pts:
            raise Empty(f"{path}: holds no frames")
        if expected and decoded < expected:
            raise _damaged(path, len(pts), f"only {decoded} of its {expected} frames decode", "damaged or cut short")
        turned = round(rotation / 90) % 2 == 1
        return ClipInfo(
            path=path,
            frames=len(pts),
            width=height if turned else width,
            height=width if turned else height,
            rotation=rotation,
            time_base=Fraction(stream.time_base) if stream.time_base else Fraction(1, 25),
            pts=tuple(pts),
            codec=stream.codec_context.name,
            audio=bool(container.streams.audio),
            max_pixels=max_pixels,
        )


def _check_pixels(path: Path, stream: Any, max_pixels: int) -> tuple[int, int]:
    """The stream's frame size as its header says it, unless that is over ``max_pixels``."""
    width, height = stream.codec_context.width, stream.codec_context.height
    check_pixels(
        f"{path}: its frames", width, height, max_pixels, fix="scale the clip down first (or raise the pixel limit)"
    )
    return width, height


def numbered_images(folder: Path) -> dict[int, Path]:
    """The images in ``folder`` named by frame number (:data:`NUMBERED`), by number. Another image
    there is refused by name, as it would otherwise be left out without a word; hidden files and
    files that are no images (a record, notes) are passed over, the latter said."""
    found: dict[int, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.is_dir():
            continue
        match = NUMBERED.fullmatch(path.name)
        if match:
            found[int(match.group(1))] = path
        elif path.suffix.lower() in FRAME_SUFFIXES:
            raise InputError(
                f"{path}: not named by its frame number; name it like 000120.png (frame 120), or move it out"
            )
        else:
            log.warning("%s: not an image named by its frame number; left out", path)
    return found


def check_fps(fps: float | None) -> float | None:
    """A frame rate as given (None: not given), unless it is no rate at all."""
    if fps is not None and not (math.isfinite(fps) and 0 < fps <= MAX_FPS):
        raise InputError(f"fps {fps:g}: give frames a second above 0 and at most {MAX_FPS}, e.g. 25")
    return fps


def _probe_folder(path: Path, *, max_pixels: int, fps: float | None) -> ClipInfo:
    files = tuple(
        sorted(p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and not p.name.startswith("."))
    )
    if not files:
        raise Empty(f"{path}: a folder with no frames (PNG or JPEG images, in name order)")
    sizes: dict[tuple[int, int], Path] = {}
    for file in files:  # headers only: each frame is decoded (and checked again) when it is read
        sizes.setdefault(io.image_size(file, max_pixels=max_pixels), file)
    if len(sizes) > 1:
        (first, one), (second, other) = list(sizes.items())[:2]
        raise InputError(
            f"{path}: its frames differ in size ({one.name} is {first[0]}x{first[1]}, {other.name} "
            f"{second[0]}x{second[1]}); give a folder of one clip's frames"
        )
    width, height = next(iter(sizes))
    rate = Fraction(fps or FOLDER_FPS).limit_denominator(1001)
    return ClipInfo(
        path, len(files), width, height, 0, 1 / rate, tuple(range(len(files))), "frames", False, files, max_pixels
    )


def read_frames(info: ClipInfo, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
    """Frames ``start`` … ``stop - 1`` of a probed clip as upright (H, W, 3) uint8 RGB, one at a time."""
    stop = info.frames if stop is None else min(stop, info.frames)
    if info.is_folder:
        for file in info.files[start:stop]:
            yield np.asarray(io.load_image(file))
        return
    with open_checked(info.path, info.max_pixels) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        index, last = 0, None
        for frame in container.decode(stream):
            kept = _later(last, frame)
            if kept is None:  # probe did not count it either
                continue
            if index >= stop:
                return
            if index >= start:
                yield _upright(frame.to_ndarray(format="rgb24"), info.rotation)
            index, last = index + 1, kept


def parse_frames(text: str | None, total: int) -> tuple[int, int]:
    """``--frames A:B`` (B excluded; either may be left out) as a checked span of a clip of
    ``total`` frames."""
    if not text:
        return 0, total
    first, colon, last = text.partition(":")
    try:
        start = int(first) if first.strip() else 0
        stop = int(last) if last.strip() else total
    except ValueError:
        raise InputError(f"frames '{text}': give a range A:B of frame numbers, e.g. 0:48") from None
    if not colon or not 0 <= start < stop:
        raise InputError(f"frames '{text}': give a range A:B with 0 <= A < B, e.g. 0:48")
    if start >= total:
        raise InputError(f"frames '{text}': the clip has {total} frames (0 to {total - 1})")
    return start, min(stop, total)


def working_size(info: ClipInfo, size: int) -> tuple[int, int]:
    """Frames are processed with their long side at ``size`` (as stills are): width, height."""
    scale = size / max(info.width, info.height)
    return max(1, round(info.width * scale)), max(1, round(info.height * scale))


def resized(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A frame at ``size`` (width, height), resampled as stills are (Lanczos)."""
    if frame.shape[1::-1] == size:
        return frame
    return np.asarray(Image.fromarray(frame).resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0))
