"""A clip in, a stylised clip out: what ``stylesnake video`` and the workflow call.

Before any work every input is checked (the clip decoded once, styles, keyframe masks, where the
outputs go). Then the masks of every frame are carried from the keyframes (``OUT.masks/``), the
frames are stylised one by one into ``OUT.frames/`` (each PNG, then its line in ``frames.jsonl``),
and the clip is encoded with the input's timestamps and audio; ``OUT.json`` records the settings
and every frame. A run that is killed continues at its first missing frame when run again with
the same settings, and ends with the result an uninterrupted run gives. ``--out`` a folder gets
the frames themselves (PNG) instead of an MP4.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pipeline import io, outputs, record
from pipeline.core import targets as style_targets
from pipeline.core.features import Encoder
from pipeline.core.guidance import Regions, regions_of
from pipeline.device import resolve_device
from pipeline.errors import InputError
from pipeline.gatys import peak_memory_mb
from pipeline.gatys.config import GatysConfig
from pipeline.gatys.criterion import Style
from pipeline.gatys.transfer import build_encoder, check_fits
from pipeline.masks.pairs import Guidance, Labelled
from pipeline.outputs import OwnedFolder
from pipeline.progress import Progress
from pipeline.video import clip as clips
from pipeline.video import mp4
from pipeline.video.keyframes import PROPOSE, carry_clip_masks, read_carried
from pipeline.video.transfer import ClipTransfer, FrameResult, VideoConfig

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
#: The per-frame records of a run in progress, one JSON object per line, beside its frames.
RECORDS = "frames.jsonl"
#: What a run in progress was started with: a later run with the same continues it.
RUN = "run.json"


@dataclass(frozen=True)
class Outputs:
    """Where a run writes: the clip (an MP4, or a folder of frames), its record, its masks (beside an
    MP4 as ``OUT.masks/``, inside a folder as ``masks/``), and the folder of finished frames it
    continues from (``OUT.frames/``, or the folder itself)."""

    out: Path
    record: Path
    masks: Path
    frames: Path

    @classmethod
    def of(cls, out: PathLike) -> Outputs:
        out = Path(out)
        as_folder = out.suffix.lower() not in mp4.VIDEO_SUFFIXES
        if as_folder:  # the frames in it, each frame's mask in its masks/ (one folder for a workflow's job)
            return cls(out, record.sidecar_path(out), out / "masks", out)
        return cls(
            out, record.sidecar_path(out), out.with_name(out.name + ".masks"), out.with_name(out.name + ".frames")
        )

    @property
    def is_folder(self) -> bool:
        return self.frames == self.out


def video_files(
    content_path: PathLike,
    style_paths: Sequence[PathLike],
    out_path: PathLike,
    config: GatysConfig = GatysConfig(),
    video: VideoConfig = VideoConfig(),
    *,
    weights: PathLike = "imagenet",
    max_pixels: int = io.MAX_PIXELS,
    frames: str | None = None,
    fps: float | None = None,
    guidance: Guidance | None = None,
    style_blend: Sequence[float] | None = None,
    keep_frames: bool = False,
    progress: Progress | None = None,
    encoder: Encoder | None = None,
) -> dict[str, Any]:
    """Stylise the clip ``content_path`` (a video file or a folder of frames) into ``out_path``
    (an MP4, or a folder of PNG frames); return the record written to ``OUT.json``.

    ``frames`` (``"A:B"``) limits the run to part of the clip; ``fps`` is the frame rate of a
    folder of frames. ``guidance`` guides regions: its content mask is one mask (frame 0), a
    folder of keyframe masks, or ``"propose"``. ``keep_frames`` keeps ``OUT.frames/`` after the
    clip is written (it is the resume state until then).

    Example (seeded random VGG weights: a plumbing run; ``weights="imagenet"`` for a real one)::

        >>> from pipeline import GatysConfig, video_files
        >>> from pipeline.samples import sample_image
        >>> from pipeline.synthetic.clips import ClipSpec, write_clip
        >>> sample_image("hubble_deep_field").save("painting.png")
        >>> write_clip(ClipSpec(size=(64, 48), frames=3), "clip.mp4")  # a pan with a rolling disc
        >>> record = video_files("clip.mp4", ["painting.png"], "painted.mp4", GatysConfig(size=64, steps=3),
        ...                      weights="random")
        >>> record["output"], record["method"]
        ({'path': 'painted.mp4', 'frames': 3, 'masks': None}, 'ruder2016-video')
    """
    started = time.perf_counter()
    where = _checked_outputs(content_path, style_paths, out_path, guidance)
    info = clips.probe(content_path, max_pixels=max_pixels, fps=fps)
    span = clips.parse_frames(frames, info.frames)
    size = clips.working_size(info, config.size)
    encoder = encoder or build_encoder(config, weights)
    styles, loaded = _styles(style_paths, config, encoder, max_pixels)
    regions_for, masks_record = _regions(guidance, info, span, size, loaded, styles, video, where, max_pixels)
    settings = _settings(info, span, config, video, style_paths, loaded, guidance, style_blend, weights)
    folder = _frames_folder(where, settings)
    done = _finished(folder)
    frames_said = f"{info.frames} frames at {info.width}x{info.height} ({info.fps:.3g} fps)"
    before = f", {len(done)} done before" if done else ""
    log.info("%s: %s; frames %d to %d%s", info.path, frames_said, span[0], span[1] - 1, before)
    runner = ClipTransfer(styles, config, video, encoder=encoder, style_blend=style_blend, regions_for=regions_for)
    reported = _progress(progress, span)
    for result in runner.run(_numbered(info, span, size), done=lambda i: _kept(folder, done, i, size)):
        _save(folder, result)
        done[result.index] = result.record()
        reported(result)
    written = [done[i] for i in range(*span)]
    if not where.is_folder:
        mp4.encode_frames(folder.path, where.out, info, span)
    metadata = _record(info, span, where, settings, written, runner, encoder, masks_record, started)
    io.write_bytes(where.record, io.json_bytes(metadata))
    _tidy(folder, where, keep_frames)
    log.info("wrote %s (%d frames, %.1f s)", where.out, len(written), time.perf_counter() - started)
    return metadata


def _checked_outputs(
    content: PathLike, styles: Sequence[PathLike], out: PathLike, guidance: Guidance | None
) -> Outputs:
    masks = [] if guidance is None else [guidance.content_mask, *guidance.style_masks]
    return checked_outputs(out, [content, *styles, *(m for m in masks if m != PROPOSE)])


def checked_outputs(out: PathLike, inputs: Sequence[PathLike]) -> Outputs:
    """Where a run writes ``out``, checked against its ``inputs``: nothing it writes may be one of
    them, or hold one (its folders are emptied of what runs of ours wrote)."""
    where = Outputs.of(out)
    if where.is_folder and Path(out).suffix:
        raise InputError(f"{out}: write a clip as .mp4 (or .m4v, .mov), or give a folder for PNG frames")
    outputs.check_writable(where.record)
    if not where.is_folder:
        outputs.check_writable(where.out, example="clip.mp4")
    outputs.check_outputs(list(dict.fromkeys([where.out, where.record, where.masks, where.frames])), inputs)
    for folder in {where.masks, where.frames}:
        taken = OwnedFolder(folder, what="video").holds(inputs)
        if taken:
            raise InputError(f"{taken[0]}: an input inside {folder}, which this run writes; move it out first")
    return where


def _numbered(info: clips.ClipInfo, span: tuple[int, int], size: tuple[int, int]) -> Iterator[tuple[int, np.ndarray]]:
    for index, frame in enumerate(clips.read_frames(info, *span), start=span[0]):
        yield index, clips.resized(frame, size)


def _styles(
    paths: Sequence[PathLike], config: GatysConfig, encoder: Encoder, max_pixels: int
) -> tuple[list[Style], list[io.LoadedImage | style_targets.StyleTargets]]:
    """The styles as every frame's transfer takes them: their Grams computed once (a clip's
    frames share them), unless colour control adapts the styles to each frame."""
    loaded: list[io.LoadedImage | style_targets.StyleTargets] = [
        style_targets.load(p)
        if style_targets.is_targets_path(p)
        else io.read_image(p, size=config.style_size or config.size, max_pixels=max_pixels)
        for p in paths
    ]
    styles: list[Style] = []
    for path, style in zip(paths, loaded, strict=True):
        if isinstance(style, io.LoadedImage):
            check_fits(encoder, style.image.size, name=str(path))
            styles.append(io.image_to_tensor(style.image))
        else:
            style_targets.check_fits(
                style, config.target_settings(encoder.weights_info), config.style_layers, name=str(path)
            )
            styles.append(style)
    return styles, loaded


def _regions(
    guidance: Guidance | None,
    info: clips.ClipInfo,
    span: tuple[int, int],
    size: tuple[int, int],
    loaded: list[io.LoadedImage | style_targets.StyleTargets],
    styles: list[Style],
    video: VideoConfig,
    where: Outputs,
    max_pixels: int,
) -> tuple[Any, dict[str, Any] | None]:
    """Every frame's mask carried into ``OUT.masks/`` and the function giving a frame's regions
    (None without guidance), and what the record says of the masks."""
    if guidance is None:
        return None, None
    style_labels: list[Labelled] = guidance.style_labels(loaded, max_pixels=max_pixels)
    count = 1 + sum(isinstance(s, io.LoadedImage) for s in loaded)
    k = guidance.content_k(count)
    masks = OwnedFolder(where.masks, what="video")
    keyframes = carry_clip_masks(
        info,
        guidance.content_mask,
        masks,
        span=span,
        size=size,
        flow=video.flow,
        k=k,
        palette=guidance.palette,
        min_area=guidance.min_area,
        max_pixels=max_pixels,
        regions=max(len(labels.names) for labels in style_labels),
    )
    fixed: list[Guidance] = [guidance]

    def regions_for(index: int, frame: np.ndarray) -> Regions:
        labels = read_carried(masks.path / clips.FRAME_NAME.format(index))
        image = io.LoadedImage(Image.fromarray(frame), "", size, None)
        paired = fixed[0].pair(image, labels, loaded, style_labels)
        if fixed[0].label_map is None and paired.pairing.label_map:  # pair regions once, for the whole clip
            fixed[0] = dataclasses.replace(fixed[0], label_map=dict(paired.pairing.label_map))
        return regions_of(paired.content, paired.styles, paired.pairing)

    described = {"keyframes": sorted(keyframes), "source": str(guidance.content_mask), "folder": str(where.masks)}
    return regions_for, described


def _settings(
    info: clips.ClipInfo,
    span: tuple[int, int],
    config: GatysConfig,
    video: VideoConfig,
    style_paths: Sequence[PathLike],
    loaded: list[io.LoadedImage | style_targets.StyleTargets],
    guidance: Guidance | None,
    style_blend: Sequence[float] | None,
    weights: PathLike,
) -> dict[str, Any]:
    """Everything a frame's result depends on: a run continues an earlier one only when these match."""
    masks = None
    if guidance is not None:
        masks = {
            "content_mask": str(guidance.content_mask),
            "content_mask_sha256": None if guidance.content_mask == PROPOSE else record.digest(guidance.content_mask),
            "style_masks": [str(m) for m in guidance.style_masks],
            "style_masks_sha256": [record.digest(m) for m in guidance.style_masks],
            "palette": None
            if guidance.palette is None
            else dict(zip(guidance.palette.names, map(str, guidance.palette.colours.tolist()), strict=True)),
            "k": guidance.k,
            "min_area": guidance.min_area,
            "label_map": dict(guidance.label_map or {}),
            "region_weights": dict(guidance.region_weights or {}),
        }
    return {
        "clip": {
            "path": str(info.path),
            "sha256": record.digest(info.path),
            "frames": info.frames,
            "width": info.width,
            "height": info.height,
        },
        "span": list(span),
        "parameters": config.recorded(),
        "video": dataclasses.asdict(video),
        "styles": [
            {"path": str(p), "sha256": s.sha256} if isinstance(s, io.LoadedImage) else {"path": str(p), **s.info}
            for p, s in zip(style_paths, loaded, strict=True)
        ],
        "style_blend": list(style_blend) if style_blend is not None else None,
        "guidance": masks,
        "weights": str(weights),
    }


def _frames_folder(where: Outputs, settings: dict[str, Any]) -> OwnedFolder:
    """The folder of finished frames: continued when an earlier run had the same settings,
    emptied (of what runs of ours wrote) otherwise."""
    folder = OwnedFolder(where.frames, what="video")
    try:
        earlier = json.loads((folder.path / RUN).read_text()) if RUN in folder.written() else None
    except (OSError, ValueError):
        earlier = None
    if earlier != json.loads(json.dumps(settings)):
        if folder.written():
            log.info("%s: frames of a run with other settings; starting again", folder.path)
        folder.clear()
        folder.write(RUN, io.json_bytes(settings))
    return folder


def _finished(folder: OwnedFolder) -> dict[int, dict[str, Any]]:
    """The frames an earlier run finished: saved, and recorded (a partial last line is skipped)."""
    names = set(folder.written())
    found: dict[int, dict[str, Any]] = {}
    if RECORDS not in names:
        return found
    for line in (folder.path / RECORDS).read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if clips.FRAME_NAME.format(entry["frame"]) in names:
            found[int(entry["frame"])] = entry
    return found


def _kept(folder: OwnedFolder, done: dict[int, dict[str, Any]], index: int, size: tuple[int, int]) -> np.ndarray | None:
    """Frame ``index`` as an earlier run finished it, or None when it is to be painted: not done,
    or damaged since (cut short, not an image, another size), which is said and forgotten."""
    if index not in done:
        return None
    path = folder.path / clips.FRAME_NAME.format(index)
    try:
        frame = np.asarray(io.load_image(path, max_pixels=size[0] * size[1]))
    except InputError as exc:
        why = str(exc)
    else:
        if frame.shape[1::-1] == size:
            return frame
        why = f"{path}: {frame.shape[1]}x{frame.shape[0]}, not the run's {size[0]}x{size[1]}"
    log.warning("a finished frame is damaged (%s); painting it again", why)
    del done[index]
    return None


def _save(folder: OwnedFolder, result: FrameResult) -> None:
    """The frame first, then its line: a frame counts as done only with both."""
    folder.write(clips.FRAME_NAME.format(result.index), io.encode_image(Image.fromarray(result.image), "f.png"))
    folder.append(RECORDS, json.dumps(result.record(), allow_nan=False))


def _progress(progress: Progress | None, span: tuple[int, int]) -> Any:
    total = span[1] - span[0]

    def reported(result: FrameResult) -> None:
        done = result.index - span[0] + 1
        if progress is not None:
            progress(done, total, result.record()["loss"])  # type: ignore[arg-type]
        log.debug("frame %d: %d evaluations, %.1f s", result.index, result.evaluations, result.seconds)

    return reported


def _record(
    info: clips.ClipInfo,
    span: tuple[int, int],
    where: Outputs,
    settings: dict[str, Any],
    frames: list[dict[str, Any]],
    runner: ClipTransfer,
    encoder: Encoder,
    masks: dict[str, Any] | None,
    started: float,
) -> dict[str, Any]:
    device = str(resolve_device(runner.config.device))
    return {
        **record.header("ruder2016-video", encoder.weights_info),
        **settings,
        "content": info.described(),
        "output": {"path": str(where.out), "frames": len(frames), "masks": masks},
        "reference_loss": runner.reference,
        **record.environment(device, runner.config.precision),
        "seconds": round(time.perf_counter() - started, 3),
        "peak_memory_mb": peak_memory_mb(device),
        "frames": frames,
    }


def _tidy(folder: OwnedFolder, where: Outputs, keep_frames: bool) -> None:
    """After the clip is written: a folder of frames drops what resuming needed (the record has
    it now); an MP4's frames go unless ``keep_frames``."""
    if where.is_folder:
        folder.remove(RUN)
        folder.remove(RECORDS)
    elif not keep_frames:
        folder.clear()
        with contextlib.suppress(OSError):  # the folder goes too, unless something else is in it
            folder.path.rmdir()
