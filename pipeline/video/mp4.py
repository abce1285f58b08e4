"""Frames into clips: H.264 in yuv420p MP4 (what browsers play), the same bytes on any machine.

Frames keep their timestamps (the input's time base), odd sizes are padded to even by repeating
the last row or column (said once), and the audio stream is copied packet for packet, unchanged
(:mod:`pipeline.video.audio`), as far from the pictures as it was (see :func:`encode`). The file
appears atomically (a temporary file beside it, renamed once complete); :func:`write_video`
encodes one frame at a time, so memory does not grow with the clip's length. ``--out`` a folder
writes PNG frames ``000000.png`` … instead (:func:`write_frames`).

Frames are converted to BT.601 limited-range YUV 4:2:0 in integers (:func:`yuv420`) and x264 runs
with fixed settings (:data:`CRF`, :data:`ENCODER_THREADS`, :data:`X264_PARAMS`), so that the same
frames give the same file wherever they are encoded: a resumed run, a cluster's segment jobs and
a local run agree to the byte.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pipeline import io
from pipeline.errors import InputError
from pipeline.video import clip as clips
from pipeline.video.audio import AudioCopy, first_sound

log = logging.getLogger(__name__)

#: x264's constant quality: visually lossless for stylised frames at a fraction of the size.
CRF = 18
#: x264's threads: one. Its output depends on their number, which by default follows the machine's
#: cores. Encoding is a small share of a stylised clip's time.
ENCODER_THREADS = 1
#: x264's settings beyond FFmpeg's own: ``cpu-independent`` keeps x264 to code whose results do not
#: depend on the CPU's instructions. Without it the macroblock tree's float routines are chosen by
#: the CPU, and their AVX-512 versions give different bytes from one encode of the same frames to
#: the next.
X264_PARAMS = "cpu-independent=1"
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov")


def _even(array: np.ndarray) -> np.ndarray:
    height, width = array.shape[:2]
    if height % 2 or width % 2:
        array = np.pad(array, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
    return array


def write_video(
    frames: Iterable[np.ndarray],
    out: str | os.PathLike[str],
    *,
    time_base: Fraction,
    pts: Iterable[int],
    audio_from: clips.ClipInfo | None = None,
    window: tuple[Fraction, Fraction | float] | None = None,
    origin: Fraction = Fraction(0),
) -> None:
    """Encode ``frames`` (upright RGB uint8, one at a time) with timestamps ``pts`` in ``time_base``
    as H.264 yuv420p MP4, atomically; with ``audio_from``, its audio packets whose time lies in
    ``window`` (seconds of that clip's timeline; all of it by default) are copied unchanged, moved
    back by ``origin`` seconds (the clip's time that ``pts`` 0 stands for)."""
    import av

    out = Path(out)
    with io.atomic_path(out) as tmp, contextlib.ExitStack() as opened:  # closed before the rename
        try:
            container = opened.enter_context(av.open(str(tmp), "w", format="mp4"))
        except av.error.FFmpegError as exc:
            raise InputError(f"{out}: cannot write ({clips.why(exc)})") from None
        audio = None
        if audio_from is not None and audio_from.audio:
            source = opened.enter_context(clips.open_checked(audio_from.path, audio_from.max_pixels))
            audio = AudioCopy(container, source, window, origin)
        stream = None
        timestamps = iter(pts)
        said = False
        for array in frames:
            if stream is None:
                stream = h264_stream(container, array, time_base)
            if (array.shape[0] % 2 or array.shape[1] % 2) and not said:
                log.info("%s: H.264 needs even sizes; %dx%d padded by a pixel", out, *array.shape[1::-1])
                said = True
            frame = av.VideoFrame.from_ndarray(yuv420(_even(array)), format="yuv420p")
            frame.pts = next(timestamps)
            frame.time_base = time_base
            if audio is not None:
                audio.until(float(frame.pts * time_base))
            for packet in stream.encode(frame):
                container.mux(packet)
        if stream is None:
            raise InputError(f"{out}: no frames to write")
        for packet in stream.encode():
            container.mux(packet)
        if audio is not None:
            audio.until(float("inf"))


def h264_stream(container: Any, first: np.ndarray, time_base: Fraction) -> Any:
    """The H.264 stream of frames the size of ``first`` (padded to even), tagged BT.601 limited
    range as :func:`yuv420` converts. Its settings are fixed, the thread count and the CPU's
    instructions among them (:data:`ENCODER_THREADS`, :data:`X264_PARAMS`), so that the same frames
    give the same bytes on any machine, every time."""
    import av

    stream = container.add_stream("libx264", rate=_rate(time_base))
    stream.width, stream.height = _even(first).shape[1], _even(first).shape[0]
    stream.pix_fmt = "yuv420p"
    stream.time_base = time_base
    context = stream.codec_context
    context.time_base = time_base
    context.color_range = av.video.reformatter.ColorRange.MPEG
    context.colorspace = av.video.reformatter.Colorspace.SMPTE170M
    context.color_primaries, context.color_trc = 6, 6  # SMPTE 170M (ISO/IEC 23091-2)
    stream.options = {
        "crf": str(CRF),
        "preset": "medium",
        "threads": str(ENCODER_THREADS),
        "x264-params": X264_PARAMS,
    }
    return stream


def yuv420(rgb: np.ndarray) -> np.ndarray:
    """An even-sized RGB uint8 frame as planar YUV 4:2:0 (BT.601, limited range; chroma the mean of
    each 2 × 2 block), in the (H · 3/2, W) layout PyAV takes: in integers, so every machine gives
    the same bytes (FFmpeg's own conversion may round by the CPU's instructions)."""
    height, width = rgb.shape[:2]
    r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
    y = (16829 * r + 33039 * g + 6416 * b + (16 << 16) + (1 << 15)) >> 16
    sums = [c.reshape(height // 2, 2, width // 2, 2).sum(axis=(1, 3)) for c in (r, g, b)]
    u = (-9714 * sums[0] - 19070 * sums[1] + 28784 * sums[2] + (128 << 18) + (1 << 17)) >> 18
    v = (28784 * sums[0] - 24103 * sums[1] - 4681 * sums[2] + (128 << 18) + (1 << 17)) >> 18
    planes = np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)])
    return planes.clip(0, 255).astype(np.uint8).reshape(height * 3 // 2, width)


def _rate(time_base: Fraction) -> Fraction:
    """A nominal frame rate for the encoder's settings (frames carry their own times)."""
    rate = 1 / time_base
    return rate if rate <= 240 else Fraction(30)


def encode_frames(folder: Path, out: Path, info: clips.ClipInfo, span: tuple[int, int]) -> None:
    """Encode frames ``span`` of a clip from ``folder`` (``000000.png`` …) into ``out`` (see :func:`encode`)."""
    frames = (np.asarray(Image.open(folder / clips.FRAME_NAME.format(i)).convert("RGB")) for i in range(*span))
    encode(frames, out, info, span)


def encode(frames: Iterable[np.ndarray], out: Path, info: clips.ClipInfo, span: tuple[int, int]) -> None:
    """Encode the frames ``span`` of a clip, painted (one at a time), into ``out`` with the clip's
    timestamps and audio, sound and picture as far apart as they were.

    The output starts (time 0) at the span's first picture: a range gets the sound of its own
    frames, from its first picture's time to the next range's. The whole clip starts at its first
    picture or its first sound, whichever is earlier: a camera that records sound before the first
    picture keeps that sound (the output is the clip, audio unchanged), and every packet keeps its
    time when the clip starts at 0, as most do."""
    whole = span == (0, info.frames)
    origin = info.time(span[0])
    sound = None
    if whole and info.audio and not info.is_folder:
        with clips.open_checked(info.path, info.max_pixels) as source:
            sound = first_sound(source)
    if sound is not None and sound < origin:  # on a tick of the video's time base, which pts count in
        origin = math.floor(sound / info.time_base) * info.time_base
    ticks = round(origin / info.time_base)
    end = info.time(span[1]) if span[1] < info.frames else float("inf")
    write_video(
        frames,
        out,
        time_base=info.time_base,
        pts=[p - ticks for p in info.pts[span[0] : span[1]]],
        audio_from=None if info.is_folder else info,
        window=None if whole else (info.time(span[0]), end),
        origin=origin,
    )


def write_frames(frames: Iterable[np.ndarray], out: str | os.PathLike[str], *, fps: float = clips.FOLDER_FPS) -> int:
    """Write frames to ``out``: an MP4 (by suffix) at a constant ``fps``, or PNG files
    ``000000.png`` … in the folder ``out``. Returns how many."""
    out = Path(out)
    if out.suffix.lower() in VIDEO_SUFFIXES:
        written = [0]

        def counted() -> Iterator[np.ndarray]:
            for frame in frames:
                written[0] += 1
                yield frame

        rate = Fraction(fps).limit_denominator(1001)
        write_video(counted(), out, time_base=1 / rate, pts=iter(range(10**9)))
        return written[0]
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    for count, frame in enumerate(frames, start=1):
        io.save_image(Image.fromarray(frame), out / clips.FRAME_NAME.format(count - 1))
    return count
