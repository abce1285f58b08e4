"""Scale mixing (Gatys et al. 2016): a new style image with the coarse structure of one
painting and the fine texture of another (``stylesnake mix-scales``)."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from pipeline import io, outputs, record
from pipeline.core import targets as style_targets
from pipeline.core.features import Encoder, check_layers
from pipeline.core.targets import StyleTargets
from pipeline.device import autocast, resolve_device, resolve_precision
from pipeline.errors import InputError, option
from pipeline.gatys.config import GatysConfig
from pipeline.gatys.stills import PathLike
from pipeline.gatys.transfer import build_encoder, check_fits, transfer
from pipeline.progress import Progress

log = logging.getLogger(__name__)

#: The layers whose Grams come from the fine painting by default: the two finest.
FINE_LAYERS = ("relu1_1", "relu2_1")


def mix_scales_files(
    coarse_path: PathLike,
    fine_path: PathLike,
    out_path: PathLike,
    config: GatysConfig = GatysConfig(),
    *,
    fine_layers: Sequence[str] = FINE_LAYERS,
    weights: PathLike = "imagenet",
    max_pixels: int = io.MAX_PIXELS,
    progress: Progress | None = None,
    encoder: Encoder | None = None,
) -> dict[str, Any]:
    """Scale mixing (Gatys et al. 2016): a new style image with the coarse structure of one style
    image and the fine texture of another. Starting from ``coarse_path``, the image's Grams are
    matched to the fine image's at ``fine_layers`` and to its own at the other style layers (its
    content loss keeps the layout). Use the result as a style image. Writes the image and its JSON."""
    started = time.perf_counter()
    check_layers(fine_layers)
    unknown = [layer for layer in fine_layers if layer not in config.style_layers]
    if unknown:
        raise InputError(
            f"fine layers {', '.join(unknown)} are not among the style layers; add them to {option('style_layers')}"
        )
    out_path = Path(out_path)
    io.save_format(out_path)
    outputs.check_writable(out_path)
    outputs.check_outputs([out_path, record.sidecar_path(out_path)], [coarse_path, fine_path])
    coarse = io.read_image(coarse_path, size=config.size, max_pixels=max_pixels)
    fine = io.read_image(fine_path, size=config.style_size or config.size, max_pixels=max_pixels)
    encoder = encoder or build_encoder(config, weights)
    for path, loaded in ((coarse_path, coarse), (fine_path, fine)):
        check_fits(encoder, loaded.image.size, name=str(path))
    mixed, encoder = _mixed_targets(coarse, fine, fine_layers, config, encoder)
    result = transfer(
        io.image_to_tensor(coarse.image),
        mixed,
        dataclasses.replace(config, color="none", scales=()),
        encoder=encoder,
        progress=progress,
    )
    header = record.header("gatys2016-scale-mixing", result.weights)
    parameters = {**config.recorded(), "fine_layers": list(fine_layers), "max_pixels": max_pixels}
    metadata = {
        **header,
        "parameters": parameters,
        "coarse": {"path": str(coarse_path), "sha256": coarse.sha256},
        "fine": {"path": str(fine_path), "sha256": fine.sha256},
        **record.environment(result.device, result.precision),
        "evaluations": result.evaluations,
        "converged": result.converged,
        "loss_drop": round(result.loss_drop, 6),
        "seconds": round(time.perf_counter() - started, 3),
        "final_losses": result.final_losses,
        "history": result.history,
    }
    image_bytes = io.encode_image(result.image, out_path, metadata=record.summary(header, parameters))
    record.write(out_path, image_bytes, metadata)
    log.info("wrote %s (coarse structure of %s, fine texture of %s)", out_path, coarse_path, fine_path)
    return metadata


def _mixed_targets(
    coarse: io.LoadedImage, fine: io.LoadedImage, fine_layers: Sequence[str], config: GatysConfig, encoder: Encoder
) -> tuple[StyleTargets, Encoder]:
    """Style targets with the fine image's Grams at ``fine_layers`` and the coarse image's at the
    other style layers; and the encoder, on the configured device."""
    device = resolve_device(config.device)
    encoder = encoder.to(device)
    with torch.no_grad(), autocast(device, resolve_precision(config.precision, device)):
        own, other = (
            style_targets.compute(encoder, io.image_to_tensor(x.image).to(device), layers=config.style_layers)
            for x in (coarse, fine)
        )
    mixed = StyleTargets(
        grams={layer: (other if layer in fine_layers else own).grams[layer] for layer in config.style_layers},
        held={layer: own.held[layer] for layer in config.style_layers},
        image=own.image,
        info=config.target_settings(encoder.weights_info),
    )
    return mixed, encoder
