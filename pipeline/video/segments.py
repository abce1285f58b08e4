"""A long clip as segments that run as separate jobs (a cluster's), joined without a seam.

Segment k covers frames ``[k·K − O, (k+1)·K)`` (K frames, plus the O before it that the previous
segment also paints): each starts afresh, as a first frame does, so where two meet their results
differ; over the O shared frames the earlier segment's frames are faded into the later one's
(linearly), so the cut does not jump. :func:`join_files` encodes the joined frames with the clip's
timestamps and audio, and writes a poster frame for the contact sheet.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pipeline import io, outputs, record
from pipeline.errors import InputError, option
from pipeline.video import clip as clips
from pipeline.video import mp4

log = logging.getLogger(__name__)

#: Frames per segment and frames shared by neighbouring segments, by default.
SEGMENT, OVERLAP = 48, 4


def segments(frames: int, length: int = SEGMENT, overlap: int = OVERLAP) -> list[tuple[int, int]]:
    """The [start, stop) frames of each segment of a clip of ``frames`` frames."""
    if length < 1 or not 0 <= overlap < length:
        raise InputError(f"segments of {length} frames cannot share {overlap}; give 0 <= overlap < segment length")
    return [(max(0, start - overlap), min(frames, start + length)) for start in range(0, frames, length)]


def poster_path(out: str | os.PathLike[str]) -> Path:
    """``clip.mp4`` → ``clip.poster.png``: the frame the contact sheet shows."""
    out = Path(out)
    return out.with_name(f"{out.stem}.poster.png")


def _frames(folder: Path) -> dict[int, Path]:
    found = {int(p.stem): p for p in folder.glob("*.png") if p.stem.isdigit() and len(p.stem) == 6}
    if not found:
        raise InputError(f"{folder}: no frames (000000.png …); run `stylesnake video --out {folder}` first")
    return found


def joined(folders: Sequence[Path], total: int) -> Iterator[np.ndarray]:
    """Frames 0 … ``total`` − 1 from the segment ``folders`` (in order), faded across overlaps.
    Every frame must have the first one's size (segments painted at one ``--size``)."""
    parts = [_frames(folder) for folder in folders]
    first = min(parts[0].items())[1]
    size = io.image_size(first)
    for part in parts[1:]:  # each segment's first frame, before any is faded or encoded
        path = min(part.items())[1]
        _check_size(path, io.image_size(path), size, first)
    for index in range(total):
        holding = [part for part in parts if index in part]
        if not holding:
            raise InputError(f"frame {index} is in none of the segments; run the missing segment first")
        frame = _read(holding[-1][index], size, first)
        if len(holding) > 1:  # the later segment fades in across the frames both paint
            earlier, later = holding[-2], holding[-1]
            start, end = min(later), max(earlier)
            weight = (index - start + 1) / (end - start + 2)
            frame = weight * frame + (1 - weight) * _read(earlier[index], size, first)
        yield np.round(frame).astype(np.uint8)


def _read(path: Path, size: tuple[int, int], first: Path) -> np.ndarray:
    """A segment's frame as float32 RGB, unless its size is not ``size`` (``first``'s)."""
    frame = np.asarray(io.load_image(path), np.float32)
    _check_size(path, frame.shape[1::-1], size, first)
    return frame


def _check_size(path: Path, got: tuple[int, ...], size: tuple[int, int], first: Path) -> None:
    if tuple(got) != size:
        raise InputError(
            f"{path}: {got[0]}x{got[1]}, but {first} is {size[0]}x{size[1]}; "
            f"paint every segment of a clip at one {option('size')}"
        )


def join_files(
    content_path: str | os.PathLike[str],
    folders: Sequence[str | os.PathLike[str]],
    out_path: str | os.PathLike[str],
    *,
    max_pixels: int = io.MAX_PIXELS,
    fps: float | None = None,
) -> dict[str, Any]:
    """Join the segment ``folders`` (each written by ``stylesnake video --frames A:B --out DIR``)
    of the clip ``content_path`` into ``out_path`` (MP4, the clip's timestamps and audio), with a
    poster frame and a record that lists every frame's losses from the segments' records."""
    started = time.perf_counter()
    out = Path(out_path)
    if out.suffix.lower() not in mp4.VIDEO_SUFFIXES:
        raise InputError(f"{out}: write the joined clip as .mp4 (or .m4v, .mov)")
    paths = [Path(f) for f in folders]
    outputs.check_writable(out)
    outputs.check_outputs([out, record.sidecar_path(out), poster_path(out)], [content_path, *paths])
    info = clips.probe(content_path, max_pixels=max_pixels, fps=fps)
    records = [_segment_record(folder) for folder in paths]
    frames = {entry["frame"]: entry for r in records for entry in r.get("frames", [])}
    poster: list[np.ndarray] = []

    def keeping_the_poster() -> Iterator[np.ndarray]:
        for index, frame in enumerate(joined(paths, info.frames)):
            if index == info.frames // 2:  # the middle frame: the first is often still settling
                poster.append(frame)
            yield frame

    mp4.encode(keeping_the_poster(), out, info, (0, info.frames))  # the timeline `video` writes a clip with
    io.save_image(Image.fromarray(poster[0]), poster_path(out))
    first = records[0]
    metadata: dict[str, Any] = {
        **{k: first[k] for k in ("stylesnake", "method", "weights", "parameters", "video", "styles") if k in first},
        "content": first.get("content"),
        "segments": [{"folder": str(f), "span": r.get("span")} for f, r in zip(paths, records, strict=True)],
        "output": {"path": str(out), "frames": info.frames, "poster": str(poster_path(out))},
        "seconds": round(time.perf_counter() - started, 3),
        "frames": [frames[i] for i in sorted(frames)],
    }
    io.write_bytes(record.sidecar_path(out), io.json_bytes(metadata))
    log.info("wrote %s (%d frames from %d segments)", out, info.frames, len(paths))
    return metadata


def _segment_record(folder: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(record.sidecar_path(folder).read_text()))
    except (OSError, ValueError):
        raise InputError(f"{record.sidecar_path(folder)}: no record of the segment; run it again") from None
