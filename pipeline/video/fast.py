"""A clip through a fast-style network: ``stylesnake video --model M.pth`` (or its ``.onnx``).

One forward pass per frame, in batches of frames on a GPU, through onnxruntime for an ``.onnx``
export (CPUs). The clip goes in and out as the optimisation path takes it (:mod:`pipeline.video.clip`:
streamed, rotation honoured, timestamps kept, audio copied, an MP4 or a folder of frames). A guided
model takes keyframe masks carried along the flow to every frame (``OUT.masks/``), as
``video --content-mask`` does, in the model's own label colours.

Stability comes from training (``train --temporal-weight``, :mod:`pipeline.fast.stability`) and,
on top of it, a light flow-based blend of each output with the previous one (``--blend``), which
holds the picture stiller at the same style loss (docs/design-notes.md, "Fast style").
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from pipeline import io, record
from pipeline.errors import InputError, Mismatch, check_pixels, option
from pipeline.fast.model import Network, OpenedModel, content_guides, labels_of, open_model, paint
from pipeline.outputs import OwnedFolder
from pipeline.progress import Progress
from pipeline.video import clip as clips
from pipeline.video import mp4
from pipeline.video.flow import QUICK_FLOW, agreement, certainty, flow_function, warp
from pipeline.video.keyframes import carry_clip_masks
from pipeline.video.run import Outputs, checked_outputs
from pipeline.video.segments import poster_path

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
#: Frames per forward pass on a GPU (a CPU gains nothing from batching and holds fewer frames).
GPU_BATCH = 8
#: ``--blend``'s default: half of the previous output, where the flow is certain.
BLEND = 0.5


@dataclasses.dataclass(frozen=True)
class FastClipConfig:
    size: int | None = None  # long side of the frames, px (None: the clip's own)
    batch: int | None = None  # frames per forward pass (None: GPU_BATCH on a GPU, else 1)
    device: str = "auto"
    precision: str = "auto"
    compile: bool = False
    flow: str = QUICK_FLOW  # carrying a guided model's masks
    strength: float = 1.0  # as stylize's --strength: blended with the frame
    blend: float = BLEND  # share of the previous output kept where the flow is certain (0: off)
    preserve_color: bool = False  # the result's luminance with the frame's colours

    def __post_init__(self) -> None:
        for name in ("size", "batch"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value <= 0):
                raise InputError(f"{name} must be a positive integer, got {value}")
        if not 0 <= self.blend < 1:
            raise InputError(f"blend must be from 0 (off) to below 1, got {self.blend}")
        if not 0 <= self.strength <= 1:
            raise InputError(f"strength must be from 0 (the frame) to 1 (full style), got {self.strength}")


def fast_video_files(
    model: PathLike | OpenedModel,
    content_path: PathLike,
    out_path: PathLike,
    config: FastClipConfig = FastClipConfig(),
    *,
    content_mask: PathLike | None = None,
    min_area: int | None = None,
    frames: str | None = None,
    fps: float | None = None,
    max_pixels: int = io.MAX_PIXELS,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Stylise the clip ``content_path`` with the fast-style model file ``model`` (or one already
    :class:`~pipeline.fast.model.OpenedModel`, as the web app keeps them) into ``out_path`` (an
    MP4, or a folder of PNG frames); return the record written to ``OUT.json``. A guided model
    needs ``content_mask``: frame 0's mask, a folder of keyframe masks, or ``"propose"``.

    Example (seeded random VGG weights: a plumbing run; ``weights="imagenet"`` for a real one)::

        >>> from pipeline import TrainConfig, train
        >>> from pipeline.samples import sample_image
        >>> sample_image("chelsea").save("photo.png"); sample_image("hubble_deep_field").save("painting.png")
        >>> tiny = TrainConfig(steps=2, size=32, batch=1, width=0.25)
        >>> _ = train("painting.png", ["photo.png"], "painting.pth", tiny, weights="random")
        >>> from pipeline import fast_video_files
        >>> from pipeline.synthetic.clips import ClipSpec, write_clip
        >>> write_clip(ClipSpec(size=(64, 48), frames=3), "clip.mp4")  # a pan with a rolling disc
        >>> record = fast_video_files("painting.pth", "clip.mp4", "painted.mp4")
        >>> record["output"]["frames"], record["output"]["poster"], record["method"]
        (3, 'painted.poster.png', 'johnson2016-video')
    """
    started = time.perf_counter()
    # An opened model's own files (instant style's paintings) are inputs too.
    given = [s["path"] for s in model.model.info.get("styles", [])] if isinstance(model, OpenedModel) else [model]
    inputs = [content_path, *given, *([content_mask] if content_mask not in (None, "propose") else [])]
    where = checked_outputs(out_path, inputs)
    opened = _opened(model, config, guided=content_mask is not None)
    info = clips.probe(content_path, max_pixels=max_pixels, fps=fps)
    span = clips.parse_frames(frames, info.frames)
    size = clips.working_size(info, config.size or max(info.width, info.height))
    check_pixels(f"{content_path} at size {config.size}", *size, max_pixels, fix="use a smaller size")
    masks = None
    if content_mask is not None:
        masks = OwnedFolder(where.masks, what="video")
        palette = labels_of(opened.model.info)
        regions = len(palette.names) if palette else None
        carry_clip_masks(info, content_mask, masks, span=span, size=size, flow=config.flow, palette=palette,
                         min_area=min_area, max_pixels=max_pixels, regions=regions)  # fmt: skip
    batch = config.batch or (GPU_BATCH if opened.device.type == "cuda" else 1)
    timing: list[float] = []
    # Each painted frame comes with the frame it was painted from: the blend's flow needs it, and
    # the clip is decoded once.
    pairs = _painted(opened.network, opened.model, info, span, size, batch, masks, timing, progress, config)
    poster = _write(_steadied(pairs, config), where, info, span)
    metadata = {
        **record.header(opened.model.info.get("clip_method", "johnson2016-video"), opened.model.info.get("weights")),
        "model": {
            "path": opened.name,
            "style": opened.model.style_name,
            "training": opened.model.info.get("training", {}),
            **{k: v for k, v in opened.model.info.items() if k in ("networks", "styles", "blend")},
        },
        "parameters": {**dataclasses.asdict(config), "batch": batch, "size": list(size)},
        "content": info.described(),
        "span": list(span),
        "output": {
            "path": str(where.out),
            "frames": span[1] - span[0],
            "masks": str(where.masks) if masks else None,
            "poster": str(poster) if poster else None,
        },
        **record.environment(opened.device, opened.precision),
        "seconds": round(time.perf_counter() - started, 3),
        "timings_s": {"network_per_frame": round(sum(timing) / max(1, span[1] - span[0]), 5)},
    }
    io.write_bytes(where.record, io.json_bytes(metadata))
    log.info("wrote %s (%d frames, %.1f s)", where.out, span[1] - span[0], metadata["seconds"])
    return metadata


def _opened(model: PathLike | OpenedModel, config: FastClipConfig, *, guided: bool) -> OpenedModel:
    """The model, opened as ``config`` says unless it already is; a guided model needs the clip's
    masks and an unguided one refuses them."""
    opened = (
        model
        if isinstance(model, OpenedModel)
        else open_model(model, device=config.device, precision=config.precision, compile=config.compile)
    )
    if guided == (opened.network.guide_channels == 0):
        raise Mismatch(
            f"{opened.name}: this model was trained with masks; give the clip's {option('content_mask')}"
            if not guided
            else f"{opened.name}: this model was trained without masks; leave out {option('content_mask')}"
        )
    return opened


def _steadied(pairs: Iterator[tuple[np.ndarray, np.ndarray]], config: FastClipConfig) -> Iterator[np.ndarray]:
    """The painted frames, blended with the previous output along the flow when ``config.blend``."""
    if not config.blend:
        return (result for _, result in pairs)
    # Two views of one stream, read in step: the tee holds one pair at a time.
    ours, theirs = itertools.tee(pairs)
    originals = (frame for frame, _ in theirs)
    return blended((result for _, result in ours), originals, config.blend, flow_function(config.flow))


def _write(painted: Iterator[np.ndarray], where: Outputs, info: clips.ClipInfo, span: tuple[int, int]) -> Path | None:
    """Write the painted frames to ``where.out`` (a folder of frames, or an MP4 and its poster
    frame, returned)."""
    if where.is_folder:
        folder = OwnedFolder(where.out, what="video")
        where.record.unlink(missing_ok=True)  # no record of the last run beside a run cut short
        folder.clear()
        for index, frame in enumerate(painted, start=span[0]):
            folder.write(clips.FRAME_NAME.format(index), io.encode_image(Image.fromarray(frame), "f.png"))
        return None
    kept: list[np.ndarray] = []
    mp4.encode(_keeping_middle(painted, span, kept), where.out, info, span)
    poster = poster_path(where.out)
    io.save_image(Image.fromarray(kept[0]), poster)
    return poster


def _painted(
    network: Network,
    model: Any,
    info: clips.ClipInfo,
    span: tuple[int, int],
    size: tuple[int, int],
    batch: int,
    masks: OwnedFolder | None,
    timing: list[float],
    progress: Progress | None,
    config: FastClipConfig,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The frames of ``span`` and their stylised versions, one pair at a time, computed ``batch`` at a time."""
    numbered = enumerate((clips.resized(f, size) for f in clips.read_frames(info, *span)), start=span[0])
    total = span[1] - span[0]
    pending: list[tuple[int, np.ndarray]] = []
    for index, frame in numbered:
        pending.append((index, frame))
        if len(pending) == batch or index == span[1] - 1:
            images = torch.from_numpy(np.stack([f for _, f in pending])).permute(0, 3, 1, 2).float() / 255
            guides = None
            if masks is not None:
                guides = torch.cat([_guides(model, masks.path, i, size) for i, _ in pending])
            tick = time.perf_counter()
            out = paint(network, images, guides, preserve_color=config.preserve_color, strength=config.strength)
            timing.append(time.perf_counter() - tick)
            for (i, frame), result in zip(pending, out, strict=True):
                if progress is not None:
                    progress(i - span[0] + 1, total, None)
                yield frame, (result.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
            pending = []


def blended(
    painted: Iterable[np.ndarray], frames: Iterable[np.ndarray], share: float, flow: Callable[..., np.ndarray]
) -> Iterator[np.ndarray]:
    """Each painted frame mixed with the previous (mixed) output carried along the flow between
    the frames, ``share`` of it where the flow is certain (Sundaram's checks) and the frames agree
    (:func:`~pipeline.video.flow.agreement`: not where the motion revealed something), none
    elsewhere: what a network still changes from frame to frame is damped, what moved follows the
    motion, and nothing is dragged behind it."""
    previous: tuple[np.ndarray, np.ndarray] | None = None
    for result, frame in zip(painted, frames, strict=True):
        if previous is not None:
            towards, back = flow(frame, previous[1]), flow(previous[1], frame)
            c = share * (certainty(towards, back) * agreement(frame, previous[1], towards, back))[..., None]
            carried = warp(previous[0].astype(np.float32), towards, resampling="bicubic")
            result = (c * carried + (1 - c) * result).clip(0, 255).round().astype(np.uint8)
        previous = (result, frame)
        yield result


def _keeping_middle(
    frames: Iterator[np.ndarray], span: tuple[int, int], kept: list[np.ndarray]
) -> Iterator[np.ndarray]:
    """``frames``, keeping the middle one in ``kept`` for the poster (as video-join does)."""
    for index, frame in enumerate(frames):
        if index == (span[1] - span[0]) // 2:
            kept.append(frame)
        yield frame


def _guides(model: Any, folder: Path, index: int, size: tuple[int, int]) -> torch.Tensor:
    mask = np.asarray(Image.open(folder / clips.FRAME_NAME.format(index)).convert("RGB"))
    return content_guides(model, mask, size, name=f"{folder}/{clips.FRAME_NAME.format(index)}")
