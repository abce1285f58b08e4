"""Clips on the fast tab: a short video, queued like a slow job, painted frame by frame by the
style's fast network (:func:`pipeline.video.fast.fast_video_files`, the command line's
``video --model``), its sound kept; the result page plays the MP4 and offers it for download.

What a visitor may send is bounded three ways, each said on the page: the request's bytes (the
site's upload limit), the clip's length (``clip_seconds``) and its frames' pixels (the site's
``max_pixels``, checked from the header before anything is decoded); frames are painted with their
long side at most ``clip_side``. Anything that is not a clip we can read is one sentence and a 400.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch
from PIL import Image

from pipeline import io
from pipeline.errors import Empty, InputError, NoPictures, TooLarge, Unsupported
from pipeline.fast.model import OpenedModel
from pipeline.video import clip as clips
from pipeline.video.fast import FastClipConfig, fast_video_files
from pipeline.web.jobs import Job, Jobs, Run

log = logging.getLogger(__name__)

#: Containers a visitor's clip may come in (FFmpeg's demuxer names): no playlists, concat lists or
#: image sequences, whose demuxers reach for other files.
_CLIP_FORMATS = {"mov", "mp4", "matroska", "webm", "avi", "mpegts"}
#: More frames than this per second of the limit is a clip too long however its times read.
MAX_FPS = 120


def spool(stream: IO[bytes], jobs: Jobs) -> Path:
    """The upload written to a private file of the clip queue's (PyAV reads files)."""
    data = stream.read()
    if not data:
        raise InputError("The file is empty.")
    return jobs.spool(data)


def check_clip(path: Path, *, max_seconds: float, max_pixels: int) -> Any:
    """The clip's :class:`~pipeline.video.clip.ClipInfo`, or an :class:`InputError` whose message is
    a sentence for the page (not a clip, damaged, too long, frames too large)."""
    _check_header(path, max_seconds, max_pixels)
    try:
        info = clips.probe(path, max_pixels=max_pixels)
    except TooLarge:
        raise TooLarge(
            f"The clip’s frames are too large for this site (at most {max_pixels / 1e6:g} megapixels each); "
            "please upload a smaller version.",
            limit=max_pixels,
            argument="max_pixels",
        ) from None
    except NoPictures:
        raise NoPictures("The file has no pictures (sound only?); please upload a video clip.") from None
    except Empty:
        raise Empty("The clip has no frames; please upload another one.") from None
    except InputError:
        raise _unreadable() from None
    seconds = info.frames / info.fps if info.fps else float("inf")
    if seconds > max_seconds + 1e-6:
        raise _too_long(seconds, max_seconds)
    return info


def _too_long(seconds: float, max_seconds: float) -> TooLarge:
    return TooLarge(
        f"The clip is {seconds:.1f} s long; this site paints clips of at most {max_seconds:g} s. "
        "Please trim it and upload it again.",
        limit=max_seconds,
        argument="clip_seconds",
    )


def _check_header(path: Path, max_seconds: float, max_pixels: int) -> None:
    """A clip too long is refused before a single frame is decoded (a small file can hold hours of
    tiny frames): by what its container says, then by its packets' times and count (demuxed, not
    decoded), since a container may say nothing or lie. Containers other than video files' are
    refused here too. Opening decodes no frame of over ``max_pixels``
    (:func:`~pipeline.video.clip.open_clip`)."""
    import av

    try:
        with clips.open_clip(path, max_pixels=max_pixels) as container:
            if not _CLIP_FORMATS & set(container.format.name.split(",")):
                raise _unreadable()
            if container.duration and container.duration / av.time_base > max_seconds + 0.5:
                raise _too_long(container.duration / av.time_base, max_seconds)
            if not container.streams.video:
                return  # probe says so
            stream = container.streams.video[0]
            first, count = None, 0
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue  # the demuxer's flush packet
                count += 1
                if packet.pts is not None and stream.time_base is not None:
                    first = packet.pts if first is None else min(first, packet.pts)
                    seconds = float((packet.pts - first) * stream.time_base)
                    if seconds > max_seconds + 0.5:
                        raise _too_long(seconds, max_seconds)
                if count > MAX_FPS * max_seconds:
                    raise InputError(
                        f"The clip has over {count - 1} frames; this site paints at most {MAX_FPS} per second "
                        f"for {max_seconds:g} s. Please trim it or lower its frame rate and upload it again."
                    )
    except av.error.FFmpegError:
        return  # probe's decoding says what is wrong with it


def _unreadable() -> Unsupported:
    return Unsupported(
        "The file is neither a photo nor a clip we can read, or it is damaged; "
        "please upload a PNG or JPEG photo, or an MP4, MOV or WebM clip."
    )


def clip_runner() -> Run:
    """Clip jobs: the style's network (loaded once by the site) on the CPU, frames at the job's
    size, the first frame's mask carried along the motion for a guided style."""

    def run(job: Job, progress: Callable[[int, int], None]) -> tuple[dict[str, bytes], dict[str, Any]]:
        style = job.painting
        out = job.folder / "result.mp4"
        config = FastClipConfig(size=job.size, preserve_color=job.keep_colours, strength=job.strength)
        opened = OpenedModel(style.network, style.model, torch.device("cpu"), "fp32")
        record = fast_video_files(
            opened,
            job.folder / "clip",
            out,
            config,
            content_mask=job.folder / "mask.png" if job.guided else None,
            progress=lambda done, total, _losses: progress(done, total),
        )
        poster = Path(record["output"]["poster"])
        middle = _middle_frame(job.folder / "clip", record["span"], tuple(record["parameters"]["size"]))
        meta = {
            "method": record["method"],
            "kind": "clip",
            "style": style.key,
            "style_name": style.name,
            "size": job.size,
            "keep_colours": job.keep_colours,
            "strength": job.strength,
            "mask": job.guided,
            "photo": job.photo_name,
            "width": record["parameters"]["size"][0],
            "height": record["parameters"]["size"][1],
            "frames": record["output"]["frames"],
            "fps": record["content"]["fps"],
            "audio": record["content"]["audio"],
            "weights": (record.get("weights") or {}).get("kind", "?"),
            "seconds": record["seconds"],
        }
        files = {"original.png": middle, "result.png": poster.read_bytes(), "result.mp4": out.read_bytes()}
        return files, meta

    return run


def _middle_frame(path: Path, span: list[int], size: tuple[int, int]) -> bytes:
    """The clip's middle frame as given (at the painted size): the result page's "before"."""
    info = clips.probe(path)
    index = span[0] + (span[1] - span[0]) // 2
    frame = clips.resized(next(clips.read_frames(info, index, index + 1)), size)
    return io.encode_image(Image.fromarray(frame), "original.png")
