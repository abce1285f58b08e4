"""Keyframe masks, and every frame's mask carried from them through a clip.

``--content-mask`` is one mask (frame 0's) or a folder of keyframe masks named by frame number
(``000000.png``, ``000120.png``, …); each is cleaned as any painted mask (``--colors`` or ``--k``)
and must have the clip's shape. The masks of the other frames are carried along the flow
(:mod:`pipeline.video.masks`): forward from the keyframe before, backward from the keyframe after,
each pixel from the side it is surer of. Each frame's mask is written as ``NNNNNN.png`` (a label
map like ``clean-mask``'s, so a user can correct one and give it back as a keyframe).

Memory stays flat: frames are read once in order; the frames between two keyframes, and what was
carried forward through them, wait on disk (a temporary folder) for the backward pass.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pipeline import io, outputs, record
from pipeline.errors import InputError
from pipeline.masks import FOREIGN_DISTANCE, LabelMap, Palette, check_drawn_for, clean_mask, read_mask
from pipeline.masks.label_maps import label_map_png, read_chunks
from pipeline.masks.propose import propose_mask
from pipeline.outputs import OwnedFolder
from pipeline.video.clip import (
    FRAME_NAME,
    ClipInfo,
    numbered_images,
    parse_frames,
    probe,
    read_frames,
    resized,
    working_size,
)
from pipeline.video.flow import QUICK_FLOW, flow_function
from pipeline.video.masks import Carried, carry, combine, keyframe

log = logging.getLogger(__name__)

#: ``--content-mask propose``: frame 0's mask proposed from its colours, then carried.
PROPOSE = "propose"
Flow = Callable[[np.ndarray, np.ndarray], np.ndarray]
#: ``frames(start, stop)``: the clip's frames ``start`` … ``stop - 1`` at the working size.
Frames = Callable[[int, int], Iterator[np.ndarray]]


def keyframe_masks(
    source: str | os.PathLike[str],
    info: ClipInfo,
    *,
    span: tuple[int, int] | None = None,
    k: int | None = None,
    palette: Palette | None = None,
    min_area: int | None = None,
    max_pixels: int,
) -> dict[int, LabelMap]:
    """The keyframe masks of a clip by frame number, cleaned onto one set of labels: those that
    frames ``span`` ([start, stop), default all) are carried from (the keyframes inside it and
    the nearest on either side)."""
    source = Path(source)
    if source.is_dir():
        found = numbered_images(source)
        if not found:
            raise InputError(f"{source}: no keyframe masks; name them by frame number, e.g. 000000.png, 000120.png")
    else:
        found = {0: source}
    late = [n for n in found if n >= info.frames]
    if late:
        raise InputError(
            f"{found[late[0]]}: frame {late[0]} is past the clip's end ({info.frames} frames, 0 to {info.frames - 1})"
        )
    start, stop = span or (0, info.frames)
    before = [n for n in found if n <= start]
    after = [n for n in found if n >= stop - 1]
    wanted = {n for n in found if start <= n < stop} | set(before[-1:]) | set(after[:1])
    masks: dict[int, LabelMap] = {}
    for number, path in sorted((n, p) for n, p in found.items() if n in wanted):
        painted = read_mask(path, max_pixels=max_pixels)
        check_drawn_for((painted.shape[1], painted.shape[0]), (info.width, info.height), mask=path, image=info.path)
        masks[number] = clean_mask(painted, k=k, palette=palette, min_area=min_area, name=str(path))
    return _unified(masks)


def _unified(masks: dict[int, LabelMap]) -> dict[int, LabelMap]:
    """The keyframes' labels as one list: a label is the same label in every keyframe when its
    colour is (within :data:`FOREIGN_DISTANCE`); a colour only a later keyframe has is added."""
    names: list[str] = []
    colours: list[np.ndarray] = []  # float32, for distances
    unified = {}
    for number, mask in masks.items():
        remap = np.zeros(len(mask.colours), np.uint8)
        for i, colour in enumerate(mask.colours.astype(np.float32)):
            near = [j for j, c in enumerate(colours) if np.linalg.norm(c - colour) <= FOREIGN_DISTANCE]
            if not near:
                names.append(mask.names[i])
                colours.append(mask.colours[i].astype(np.float32))
                near = [len(colours) - 1]
            remap[i] = near[0]
        unified[number] = remap[mask.labels]
    palette = np.stack(colours).astype(np.uint8)
    return {n: LabelMap(labels=labels, colours=palette, names=tuple(names)) for n, labels in unified.items()}


def _working(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if labels.shape[::-1] == size:
        return labels
    return np.asarray(Image.fromarray(labels).resize(size, Image.Resampling.NEAREST))


def carry_masks(
    keyframes: dict[int, LabelMap],
    frames: Frames,
    out: OwnedFolder,
    *,
    span: tuple[int, int],
    size: tuple[int, int],
    flow: Flow,
) -> None:
    """Write the mask of every frame in ``span`` ([start, stop)) into ``out``, carried from the
    ``keyframes`` through the clip's ``frames`` (at the working ``size``, width and height)."""
    start, stop = span
    numbers = sorted(keyframes)
    reference = keyframes[numbers[0]]
    if all(index in keyframes for index in range(start, stop)):  # every frame has its mask already
        count = len(reference.colours)
        for index in range(start, stop):
            _save(out, index, keyframe(_working(keyframes[index].labels, size), count), reference)
        return
    before = [n for n in numbers if n <= start]
    after = [n for n in numbers if n >= stop - 1]
    first = before[-1] if before else start
    last = max(stop - 1, after[0] if after else stop - 1)
    with tempfile.TemporaryDirectory(prefix="stylesnake-masks-") as scratch:
        waiting = _forward(keyframes, frames, out, reference, first, last, span, size, flow, Path(scratch))
        _backward(keyframes, out, reference, waiting, span, size, flow, Path(scratch))


def _save(out: OwnedFolder, index: int, carried: Carried, reference: LabelMap) -> None:
    mask = LabelMap(labels=carried.labels, colours=reference.colours, names=reference.names)
    out.write(FRAME_NAME.format(index), label_map_png(mask))


def _forward(
    keyframes: dict[int, LabelMap],
    frames: Frames,
    out: OwnedFolder,
    reference: LabelMap,
    first: int,
    last: int,
    span: tuple[int, int],
    size: tuple[int, int],
    flow: Flow,
    scratch: Path,
) -> list[int]:
    """Carry forward from each keyframe through frames ``first`` … ``last``. A frame after the
    last keyframe is final; the others wait in ``scratch`` (the frame, and what came forward) for
    the backward pass. Returns the frames that wait, in order."""
    count, latest = len(reference.colours), max(keyframes)
    waiting = []
    carried: Carried | None = None
    previous: np.ndarray | None = None
    for index, image in zip(range(first, last + 1), frames(first, last + 1), strict=True):
        if index in keyframes:
            carried = keyframe(_working(keyframes[index].labels, size), count)
        elif carried is not None and previous is not None:
            carried = carry(carried, image, previous, flow(image, previous), flow(previous, image))
        previous = image
        if index > latest:
            if span[0] <= index < span[1] and carried is not None:
                _save(out, index, carried, reference)
            continue
        Image.fromarray(image).save(scratch / f"{index}.png")
        if carried is not None:
            np.savez(
                scratch / f"{index}.npz",
                soft=carried.soft.astype(np.float16),
                confidence=carried.confidence.astype(np.float16),
            )
        waiting.append(index)
    return waiting


def _backward(
    keyframes: dict[int, LabelMap],
    out: OwnedFolder,
    reference: LabelMap,
    waiting: list[int],
    span: tuple[int, int],
    size: tuple[int, int],
    flow: Flow,
    scratch: Path,
) -> None:
    """Carry backward from each keyframe through the waiting frames (the last first; it is a
    keyframe), combine with what came forward, and write the frames of ``span``."""
    count = len(reference.colours)
    carried: Carried | None = None
    after: np.ndarray | None = None
    for index in reversed(waiting):
        image = np.asarray(Image.open(scratch / f"{index}.png").convert("RGB"))
        if index in keyframes:
            carried = keyframe(_working(keyframes[index].labels, size), count)
        elif carried is not None and after is not None:
            carried = carry(carried, image, after, flow(image, after), flow(after, image))
        after = image
        if not span[0] <= index < span[1]:
            continue
        forward = _load(scratch / f"{index}.npz")
        chosen = carried if forward is None else forward if carried is None else combine(forward, carried)
        assert chosen is not None  # a keyframe lies on one side of every frame
        _save(out, index, chosen, reference)


def _load(path: Path) -> Carried | None:
    if not path.exists():
        return None
    with np.load(path) as data:
        return Carried(data["soft"].astype(np.float32), data["confidence"].astype(np.float32))


def carry_clip_masks(
    info: ClipInfo,
    source: str | os.PathLike[str],
    folder: OwnedFolder,
    *,
    span: tuple[int, int],
    size: tuple[int, int],
    flow: str,
    k: int | None = None,
    palette: Palette | None = None,
    min_area: int | None = None,
    max_pixels: int,
    regions: int | None = None,
) -> list[int]:
    """Every frame of ``span`` given its mask in ``folder`` (emptied first of what runs of ours
    wrote), from the keyframe masks ``source`` or, for :data:`PROPOSE`, from frame 0's proposed
    mask (``k`` regions, else ``regions``, else as many as its colours suggest). Returns the
    keyframes' numbers."""
    if str(source) == PROPOSE:
        count = k or regions
        log.info("%s: frame 0's mask proposed from its colours%s", info.path, f" ({count} regions)" if count else "")
        first = next(read_frames(info, 0, 1))
        keyframes = {0: propose_mask(first, k=count, palette=palette, min_area=min_area)}  # in the labels' colours
    else:
        keyframes = keyframe_masks(
            source, info, span=span, k=k, palette=palette, min_area=min_area, max_pixels=max_pixels
        )
    folder.clear()

    def frames(start: int, stop: int) -> Iterator[np.ndarray]:
        return (resized(frame, size) for frame in read_frames(info, start, stop))

    carry_masks(keyframes, frames, folder, span=span, size=size, flow=flow_function(flow))
    return sorted(keyframes)


def read_carried(path: Path) -> LabelMap:
    """A mask as :func:`carry_masks` writes it (a palette PNG whose entries are the label colours,
    the names in its text chunk)."""
    with Image.open(path) as image:
        labels = np.asarray(image)
        palette = np.asarray(image.getpalette() or [], np.uint8).reshape(-1, 3)
        names = tuple(read_chunks(image)[0])
    return LabelMap(labels=labels, colours=palette[: len(names)], names=names)


def video_masks_files(
    content_path: str | os.PathLike[str],
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    size: int,
    flow: str = QUICK_FLOW,
    frames: str | None = None,
    fps: float | None = None,
    k: int | None = None,
    palette: Palette | None = None,
    min_area: int | None = None,
    max_pixels: int = io.MAX_PIXELS,
) -> dict[str, Any]:
    """Every frame's mask of the clip ``content_path`` (frames ``"A:B"``, all by default) carried
    from the keyframe masks ``source`` into the folder ``out``, at long side ``size``; its record
    (``OUT.json``) is returned. What the workflow runs once per clip before its segments."""
    folder = OwnedFolder(out, what="video-masks")
    inputs = [content_path, source if str(source) != PROPOSE else None]
    outputs.check_outputs([folder.path, record.sidecar_path(folder.path)], inputs)
    if folder.holds(inputs):
        raise InputError(f"{folder.holds(inputs)[0]}: an input inside {folder.path}, which this writes; move it out")
    info = probe(content_path, max_pixels=max_pixels, fps=fps)
    span = parse_frames(frames, info.frames)
    working = working_size(info, size)
    keyframes = carry_clip_masks(
        info,
        source,
        folder,
        span=span,
        size=working,
        flow=flow,
        k=k,
        palette=palette,
        min_area=min_area,
        max_pixels=max_pixels,
    )
    metadata = {
        **record.header("stylesnake-video-masks", None),
        "content": {"path": str(content_path), "frames": info.frames},
        "source": str(source),
        "keyframes": keyframes,
        "span": list(span),
        "size": list(working),
        "flow": flow,
    }
    io.write_bytes(record.sidecar_path(folder.path), io.json_bytes(metadata))
    log.info("wrote %s (masks of frames %d to %d)", folder.path, span[0], span[1] - 1)
    return metadata
