"""Files in, files out: what the CLI verbs and the Snakefile call. Every check on the inputs,
masks and output location runs before any work; the output and its record
(:mod:`pipeline.record`) are written only once everything succeeded."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from pipeline import io, outputs, record
from pipeline.core import targets as style_targets
from pipeline.core.features import Encoder, VGGEncoder
from pipeline.core.guidance import Regions, guided_regions
from pipeline.core.targets import StyleTargets
from pipeline.device import autocast, memory_format, resolve_device, resolve_precision
from pipeline.errors import InputError, option
from pipeline.gatys import tiles
from pipeline.gatys.canvas import canvas_shape
from pipeline.gatys.config import INIT_IMAGE, GatysConfig, stage_config
from pipeline.gatys.snapshots import Snapshots
from pipeline.gatys.transfer import TransferResult, build_encoder, check_fits, transfer
from pipeline.masks import Palette, hex_colour, load_label_map, mask_kind
from pipeline.masks.label_maps import mask_record
from pipeline.masks.pairs import Guidance
from pipeline.progress import Progress

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


@dataclass
class _Stage:
    """One coarse-to-fine stage's settings and its loaded, checked inputs."""

    config: GatysConfig
    content: io.LoadedImage
    styles: list[io.LoadedImage | StyleTargets]
    regions: Regions | None


def transfer_files(
    content_path: PathLike,
    style_path: PathLike | Sequence[PathLike],
    out_path: PathLike,
    config: GatysConfig = GatysConfig(),
    *,
    weights: PathLike = "imagenet",
    max_pixels: int = io.MAX_PIXELS,
    progress: Progress | None = None,
    style_blend: Sequence[float] | None = None,
    guidance: Guidance | None = None,
    encoder: Encoder | None = None,
    save_every: int = 0,
    alpha: str = "keep",
) -> dict[str, Any]:
    """Load, transfer, save ``out_path`` and ``out_path.json``; return the metadata written.

    ``style_path`` may name several styles (mixed by ``style_blend``, or region by region with
    ``guidance``), each a style image or its saved targets (``.pt``, see
    :func:`style_targets_file`). With ``config.scales`` it runs coarse to fine, each stage
    starting from the previous one's result. ``encoder`` reuses a loaded network instead of
    building one from ``weights``. ``save_every`` > 0 writes the image so far every that many
    evaluations (:mod:`pipeline.gatys.snapshots`). A transparent content keeps its alpha in the
    result (``alpha="keep"``: the transfer repaints the colour, alpha is copied) or is flattened
    on white (``"drop"``).

    Example (seeded random VGG weights: a plumbing run; ``weights="imagenet"`` for a real one)::

        >>> from pipeline import GatysConfig, transfer_files
        >>> from pipeline.samples import sample_image
        >>> sample_image("chelsea").save("photo.png"); sample_image("hubble_deep_field").save("painting.png")
        >>> record = transfer_files("photo.png", "painting.png", "out.png", GatysConfig(size=64, steps=5),
        ...                         weights="random")
        >>> record["output"], record["method"], record["weights"]["kind"]
        ({'path': 'out.png', 'width': 64, 'height': 43}, 'gatys2015', 'random')
    """
    started = time.perf_counter()
    style_paths = [style_path] if isinstance(style_path, (str, os.PathLike)) else list(style_path)
    out_path = Path(out_path)
    snapshots = _checked(content_path, style_paths, out_path, config, guidance, save_every)
    encoder = encoder or build_encoder(config, weights)
    stages = [
        _load_stage(stage_config(config, size), content_path, style_paths, encoder, guidance, max_pixels)
        for size in config.scales or (config.size,)
    ]
    loaded = time.perf_counter()
    last = stages[-1]
    log.info("content %s at %dx%d; style %s", content_path, *last.content.image.size, ", ".join(map(str, style_paths)))
    if last.regions is not None:
        log.info("regions: %s (guides: %s)", ", ".join(last.regions.names), config.guide_mode)
    result, first, stage_records = _run_stages(
        stages, encoder, progress=progress, style_blend=style_blend, snapshots=snapshots, save_every=save_every
    )
    header = record.header("gatys2016-guided" if last.regions is not None else "gatys2015", result.weights)
    blend = list(style_blend) if style_blend is not None else None
    parameters = {**config.recorded(), "max_pixels": max_pixels, "style_blend": blend, "alpha": alpha}
    encode_start = time.perf_counter()
    transparency = io.kept_alpha(last.content, out_path, alpha)
    image_bytes = io.encode_image(
        result.image, out_path, metadata=record.summary(header, parameters), alpha=transparency
    )
    timings = {"load": loaded - started, **result.timings, "encode": time.perf_counter() - encode_start}
    timings["total"] = time.perf_counter() - started
    metadata = {
        **header,
        "parameters": parameters,
        **_inputs_and_output(content_path, style_paths, out_path, last, guidance, snapshots),
        **_outcome(result, first, stage_records, timings),
    }
    record.write(out_path, image_bytes, metadata)
    log.info("wrote %s (%d evaluations, %.1f s)", out_path, result.evaluations, timings["total"])
    return metadata


def _checked(
    content_path: PathLike,
    style_paths: Sequence[PathLike],
    out_path: Path,
    config: GatysConfig,
    guidance: Guidance | None,
    save_every: int,
) -> Snapshots | None:
    """Before any work: where the result and its record go, that no output is an input, that
    the styles suit the settings; the snapshot writer when ``save_every`` asks for one."""
    io.save_format(out_path)
    outputs.check_writable(out_path)
    masks = [guidance.content_mask, *guidance.style_masks] if guidance else []
    start = config.init[len(INIT_IMAGE) :] if config.init.startswith(INIT_IMAGE) else None
    inputs = [content_path, *style_paths, *masks, start]
    outputs.check_outputs([out_path, record.sidecar_path(out_path)], inputs)
    if save_every < 0:
        raise InputError(f"save-every must be a number of evaluations >= 0, got {save_every}")
    if len(config.scales) > 1 and any(style_targets.is_targets_path(p) for p in style_paths):
        raise InputError(
            f"{option('scales')} recomputes the style's Grams at every stage's size; "
            "pass the style image, not its targets (.pt)"
        )
    return Snapshots(out_path, inputs=inputs) if save_every else None


def _inputs_and_output(
    content_path: PathLike,
    style_paths: Sequence[PathLike],
    out_path: Path,
    last: _Stage,
    guidance: Guidance | None,
    snapshots: Snapshots | None,
) -> dict[str, Any]:
    """The record's keys for what went in (content, styles, guidance) and what came out."""
    described: dict[str, Any] = {
        "content": _describe(content_path, last.content),
        "styles": [_describe(p, s) for p, s in zip(style_paths, last.styles, strict=True)],
        "output": {"path": str(out_path), "width": last.content.image.width, "height": last.content.image.height},
    }
    if guidance is not None and last.regions is not None:
        described["guidance"] = _guidance_record(guidance, last)
    if snapshots is not None:
        described["snapshots"] = str(snapshots.path)
    return described


def _outcome(
    result: TransferResult, first: TransferResult, stages: list[dict[str, Any]], timings: dict[str, float]
) -> dict[str, Any]:
    """The record's closing keys: where it ran, how the optimisation went, and what it cost."""
    return {
        **record.environment(result.device, result.precision),
        "evaluations": result.evaluations,
        "converged": first.converged,
        "loss_drop": round(first.loss_drop, 6),
        "stages": stages,
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
        "peak_memory_mb": peak_memory_mb(result.device),
        "final_losses": result.final_losses,
        "history": result.history,
    }


def _load_stage(
    stage: GatysConfig,
    content_path: PathLike,
    style_paths: Sequence[PathLike],
    encoder: Encoder,
    guidance: Guidance | None,
    max_pixels: int,
) -> _Stage:
    """One stage's content, styles (images, or saved targets that must fit) and regions, checked."""
    content = io.read_image(content_path, size=stage.size, max_pixels=max_pixels)
    styles: list[io.LoadedImage | StyleTargets] = [
        style_targets.load(p)
        if style_targets.is_targets_path(p)
        else io.read_image(p, size=stage.style_size or stage.size, max_pixels=max_pixels)
        for p in style_paths
    ]
    wanted = stage.target_settings(encoder.weights_info)
    for path, style in zip(style_paths, styles, strict=True):
        if isinstance(style, StyleTargets):
            style_targets.check_fits(style, wanted, stage.style_layers, name=str(path))
    regions = guided_regions(guidance, content, styles, max_pixels=max_pixels) if guidance is not None else None
    images = [(content_path, content.image)]
    images += [(p, s.image) for p, s in zip(style_paths, styles, strict=True) if isinstance(s, io.LoadedImage)]
    for path, image in images:
        check_fits(encoder, image.size, name=str(path))
    return _Stage(stage, content, styles, regions)


def _run_stages(
    stages: Sequence[_Stage],
    encoder: Encoder,
    *,
    progress: Progress | None,
    style_blend: Sequence[float] | None,
    snapshots: Snapshots | None = None,
    save_every: int = 0,
) -> tuple[TransferResult, TransferResult, list[dict[str, Any]]]:
    """Optimise stage by stage, each starting from the previous result upsampled. Returns the
    last stage's result with the whole history, the first stage's (which judges convergence: it
    starts from the configured init), and a record per stage."""
    result: TransferResult | None = None
    first: TransferResult | None = None
    stage_records: list[dict[str, Any]] = []
    history: dict[str, list[float]] = {}
    stage_timings = {"setup": 0.0, "optimize": 0.0}
    for stage in stages:
        init = None
        if result is not None:  # start from the previous stage's result, upsampled
            init = F.interpolate(result.image, size=stage.content.image.size[::-1], mode="bicubic", align_corners=False)
            init = init.clamp(0, 1)
        if len(stages) > 1:
            size, steps = stage.content.image.size, stage.config.steps
            log.info("stage %d/%d: %dx%d, %d evaluations", len(stage_records) + 1, len(stages), *size, steps)
        result = transfer(
            io.image_to_tensor(stage.content.image),
            [s if isinstance(s, StyleTargets) else io.image_to_tensor(s.image) for s in stage.styles],
            stage.config,
            encoder=encoder,
            progress=progress,
            style_blend=style_blend,
            regions=stage.regions,
            init=init,
            snapshot=snapshots,
            snapshot_every=save_every,
        )
        if snapshots is not None:
            snapshots.next_stage(result.evaluations)
        first = first or result
        for name, values in result.history.items():
            history.setdefault(name, []).extend(values)
        for key in stage_timings:
            stage_timings[key] += result.timings[key]
        stage_records.append(_stage_record(stage, result, encoder))
    assert result is not None and first is not None
    evaluations = len(history.get("total", []))
    timings = {**stage_timings, "per_evaluation": stage_timings["optimize"] / max(evaluations, 1)}
    whole = dataclasses.replace(result, history=history, evaluations=evaluations, timings=timings)
    return whole, first, stage_records


def _stage_record(stage: _Stage, result: TransferResult, encoder: Encoder) -> dict[str, Any]:
    """What the record says of one stage: its size, evaluations, time, loss drop and tiles."""
    return {
        "width": stage.content.image.width,
        "height": stage.content.image.height,
        "evaluations": result.evaluations,
        "seconds": round(result.timings["setup"] + result.timings["optimize"], 3),
        "loss_drop": round(result.loss_drop, 6),
        **_tiles_record(stage.config.tile, stage.content.image.size[::-1], encoder.min_side),
    }


def _tiles_record(tile: int | None, shape: tuple[int, int], align: int) -> dict[str, int]:
    """``{"tiles": n}`` for a stage whose image (``shape``: H, W) is tiled: the tiles cover the
    canvas :func:`~pipeline.gatys.transfer.transfer` optimises."""
    return tiles.record(tile, canvas_shape(shape), align) if tiles.tiles_needed(tile, shape) else {}


def _describe(path: PathLike, style: io.LoadedImage | StyleTargets) -> dict[str, Any]:
    if isinstance(style, StyleTargets):
        height, width = style.image.shape[-2:]
        return {"path": str(path), "targets_of": style.info.get("style"), "width": width, "height": height}
    return {"path": str(path), "sha256": style.sha256, "width": style.image.width, "height": style.image.height}


def _guidance_record(guidance: Guidance, stage: _Stage) -> dict[str, Any]:
    regions = stage.regions
    assert regions is not None
    return {
        "content_mask": str(guidance.content_mask),
        "style_masks": [str(p) for p in guidance.style_masks]
        + [s.info.get("mask", {}).get("path") for s in stage.styles if isinstance(s, StyleTargets)],
        "regions": {
            name: {"content_share": round(float(regions.content[r].mean()), 4), "weight": float(regions.weights[r])}
            for r, name in enumerate(regions.names)
        },
        "label_map": dict(regions.label_map),
        # Where each mask came from (a painted one, a semantic or colour proposal; its record says).
        "mask_kinds": {
            "content": mask_kind(guidance.content_mask),
            "style": [mask_kind(p) for p in guidance.style_masks],
        },
        **_one_group(guidance),
    }


def _one_group(guidance: Guidance) -> dict[str, Any]:
    """A semantic mask's parser that saw one group over nearly all of a picture (its record says):
    kept beside ``mask_kinds`` for the contact sheet to flag; nothing when no mask says so."""
    content = mask_record(guidance.content_mask).get("one_group")
    styles = [mask_record(p).get("one_group") for p in guidance.style_masks]
    return {"one_group": {"content": content, "style": styles}} if content or any(styles) else {}


def style_targets_file(
    style_path: PathLike,
    out_path: PathLike,
    config: GatysConfig = GatysConfig(),
    *,
    weights: PathLike = "imagenet",
    style_mask: PathLike | None = None,
    k: int | None = None,
    palette: Palette | None = None,
    min_area: int | None = None,
    max_pixels: int = io.MAX_PIXELS,
    encoder: Encoder | None = None,
) -> dict[str, Any]:
    """Compute one style image's targets (plain Gram, and guided Grams per label of ``style_mask``)
    at ``config``'s style size, layers, pooling and guide settings; save ``out_path`` (``.pt``) and
    its JSON sidecar; return the sidecar's contents."""
    started = time.perf_counter()
    if not style_targets.is_targets_path(out_path):
        raise InputError(f"{out_path}: style targets are saved as {style_targets.SUFFIX}")
    outputs.check_writable(out_path)
    outputs.check_outputs([out_path, record.sidecar_path(out_path)], [style_path, style_mask])
    style = io.read_image(style_path, size=config.style_size or config.size, max_pixels=max_pixels)
    labels = None
    if style_mask is not None:
        labels = load_label_map(style_mask, image=style, k=k, palette=palette, min_area=min_area, max_pixels=max_pixels)
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    network: Encoder = encoder or VGGEncoder(config.style_layers, weights=weights, pooling=config.pooling)
    check_fits(network, style.image.size, name=str(style_path))
    encoder = network.to(device=device, memory_format=memory_format(device))
    with autocast(device, precision):
        image = io.image_to_tensor(style.image).to(device=device, memory_format=memory_format(device))
        computed = style_targets.compute(
            encoder, image, layers=config.style_layers, mode=config.guide_mode, grow=config.guide_grow, labels=labels
        )
    info = {
        **config.target_settings(encoder.weights_info),
        "layers": list(config.style_layers),
        "style": {"path": str(style_path), "sha256": style.sha256},
        "mask": {"path": str(style_mask), "labels": list(labels.names)} if labels is not None else None,
    }
    computed = dataclasses.replace(computed, info=info)
    share = max(int(computed.pixels.sum()), 1)
    metadata = {
        **record.header("style-targets", encoder.weights_info),
        **info,
        "labels": {
            name: {"colour": colour, "share": round(int(count) / share, 4)}
            for name, colour, count in zip(
                computed.names, map(hex_colour, computed.colours), computed.pixels, strict=True
            )
        },
        **record.environment(device, precision),
        "seconds": round(time.perf_counter() - started, 3),
    }
    record.write(out_path, style_targets.payload_bytes(computed), metadata)
    log.info("wrote %s (%s)", out_path, ", ".join(computed.names) or "no mask: whole-image Grams only")
    return metadata


def peak_memory_mb(device: str) -> dict[str, float]:
    """Peak memory so far: the process's resident set on the CPU, and the GPU's allocations."""
    import resource

    peak = {"process_rss": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}  # KiB on Linux
    if device.startswith("cuda"):
        peak["cuda_allocated"] = round(torch.cuda.max_memory_allocated(torch.device(device)) / 2**20, 1)
    return peak
