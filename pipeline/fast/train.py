"""Training a fast-style network (Johnson et al. 2016) with the perceptual losses.

Loss network VGG-16 (VGG-19 selectable): style Grams of the style image at relu1_2, relu2_2,
relu3_3, relu4_3, computed once; content loss at relu2_2 between the output and the input batch;
optional total variation. Adam, batch 4, 256 px crops by default (pytorch/examples' settings:
content weight 1e5, style weight 1e10).

Guided training (beyond Johnson): with a style mask and masks for the training images, the
content's labels enter the network as extra one-hot channels, and the style loss is the guided
Gram loss of spatial control (Gatys et al. 2017, :mod:`pipeline.core.guidance`): each labelled region
of the output must match the statistics of the same label's region of the style image. The style
mask's labels are the model's; training masks are cleaned onto them, so a colour means the same
label in every mask.

On CUDA the network and the loss network run channels-last under bf16 autocast (Grams in fp32);
batches are prepared by worker threads ahead of the step that needs them.

Reproducible and resumable by construction: step ``i``'s batch (which images, which crops, which
flips) is a pure function of ``(seed, i)``, so a checkpoint needs only the network, the optimiser
and the step, and a resumed run continues exactly as if it had never stopped.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from pipeline import io, outputs, record
from pipeline.core import targets
from pipeline.core.channels import propagate
from pipeline.core.features import Encoder, VGGEncoder
from pipeline.core.losses import batch_gram_loss, batch_guided_gram_loss, gram_matrix, tv_loss
from pipeline.device import autocast, place, resolve_device, resolve_precision
from pipeline.errors import InputError, option
from pipeline.fast import checkpoints
from pipeline.fast import model as fast_model
from pipeline.fast.config import CONTENT_LAYER, STYLE_LAYERS, TrainConfig
from pipeline.fast.data import Guided, Sources, batches, dataset, pair_masks, sources
from pipeline.fast.network import TransformerNet
from pipeline.fast.stability import Motion, Pair, guided_pair, motion_generator, moved_pair, temporal_term
from pipeline.gallery.curves import loss_curve_png, loss_curve_svg
from pipeline.masks import LabelMap, Palette, hex_colour, load_label_map
from pipeline.progress import Progress

log = logging.getLogger(__name__)


# --- training ----------------------------------------------------------------------------------


def loss_curve_paths(out: Path) -> tuple[Path, Path]:
    """``starry.pth`` → ``starry.loss.svg``, ``starry.loss.png``."""
    return out.with_suffix(".loss.svg"), out.with_suffix(".loss.png")


@dataclass
class _Setup:
    """What a training run works with, loaded and checked before the first step."""

    paths: list[Path]
    style: io.LoadedImage
    guided: Guided | None
    encoder: Encoder
    style_grams: dict[str, torch.Tensor]
    device: torch.device
    precision: str
    layout: torch.memory_format


def train(
    style_path: str | os.PathLike[str],
    data: Sources,
    out: str | os.PathLike[str],
    config: TrainConfig = TrainConfig(),
    *,
    weights: str | os.PathLike[str] = "imagenet",
    resume: bool = False,
    progress: Progress | None = None,
    style_mask: str | os.PathLike[str] | None = None,
    masks: Sources | None = None,
    palette: Palette | None = None,
    k: int | None = None,
    min_area: int | None = None,
    encoder: Encoder | None = None,
) -> dict[str, Any]:
    """Train on the images under ``data`` to paint like ``style_path``; write the model to ``out``
    (with ``out.json`` and loss curves ``out.loss.png``/``.svg``), checkpointing to ``out.ckpt``
    every ``checkpoint_every`` steps. ``resume`` continues from that checkpoint, exactly.

    Guided training: ``style_mask`` (read with ``palette`` or ``k`` like any mask) gives the
    model's labels; ``masks`` are folders holding a mask for each training image (same stem).
    ``encoder`` replaces the loss network built from ``weights`` (it must have the layers).

    Example (seeded random VGG weights: a plumbing run; ``weights="imagenet"`` for a real one)::

        >>> from pipeline import TrainConfig, train
        >>> from pipeline.samples import sample_image
        >>> sample_image("chelsea").save("photo.png"); sample_image("hubble_deep_field").save("painting.png")
        >>> tiny = TrainConfig(steps=2, size=32, batch=1, width=0.25)
        >>> record = train("painting.png", ["photo.png"], "painting.pth", tiny, weights="random")
        >>> record["method"], record["training"]["steps"], record["training"]["images"]
        ('johnson2016', 2, 1)
    """
    started = time.perf_counter()
    out = Path(out)
    checkpoint = _checked(out, style_path, data, style_mask, masks, resume)
    setup = _setup(style_path, data, config, weights, style_mask, masks, palette, k, min_area, encoder)
    channels = len(setup.guided.style.names) if setup.guided else 0
    torch.manual_seed(config.seed)  # the network's initial weights
    network = TransformerNet(width=config.width, guide_channels=channels)
    network = place(network, setup.device, setup.layout)
    optimizer = torch.optim.Adam(network.parameters(), lr=config.lr)
    history: dict[str, list[float]] = {"total": [], "content": [], "style": []}
    start = 0
    if resume:
        start, history = checkpoints.restore(checkpoint, network, optimizer, config)
        log.info("resuming from %s at step %d", checkpoint, start)
    step_seconds = _fit(setup, network, optimizer, config, start, history, checkpoint, progress)
    info = _training_record(setup, config, style_path, data, style_mask, masks, history, step_seconds, started)
    trained = fast_model.FastModel(
        place(network, torch.device("cpu"), torch.contiguous_format),
        Path(style_path).stem,
        fast_model.thumbnail_of(io.load_image(style_path)),
        info,
    )
    _write_record(out, info, history)
    fast_model.save(trained, out)
    checkpoint.unlink(missing_ok=True)
    log.info("wrote %s (%d steps, %.1f s)", out, config.steps, info["seconds"])
    return info


def _checked(
    out: Path,
    style_path: str | os.PathLike[str],
    data: Sources,
    style_mask: str | os.PathLike[str] | None,
    masks: Sources | None,
    resume: bool,
) -> Path:
    """Before any work: the outputs (model, record, curves, checkpoint) can be written and
    overwrite no input, and guided training has both kinds of mask; the checkpoint's path."""
    checkpoint = checkpoints.path_for(out)
    outputs.check_writable(out)
    written = [out, record.sidecar_path(out), *loss_curve_paths(out), checkpoint]
    outputs.check_outputs(written, [style_path, style_mask, *sources(data), *sources(masks or [])])
    if not resume and checkpoint.exists():
        checkpoints.replacing(checkpoint)
    if (style_mask is None) != (masks is None):
        raise InputError(
            f"guided training needs both {option('style_mask')} and {option('masks')} (the training images' masks)"
        )
    return checkpoint


def _training_record(
    setup: _Setup,
    config: TrainConfig,
    style_path: str | os.PathLike[str],
    data: Sources,
    style_mask: str | os.PathLike[str] | None,
    masks: Sources | None,
    history: dict[str, list[float]],
    step_seconds: list[float],
    started: float,
) -> dict[str, Any]:
    """What the model file and its ``.json`` record of the training: settings, data, style, losses,
    speed, and the seconds since ``started``."""
    steady = step_seconds[1:] or step_seconds  # the first step pays for warm-up
    guided = setup.guided
    info = {
        **record.header("johnson2016" + ("+guided" if guided is not None else ""), setup.encoder.weights_info),
        "training": {**dataclasses.asdict(config), "images": len(setup.paths), "data": sources(data)},
        **record.environment(setup.device, setup.precision),
        "style": {"path": str(style_path), "sha256": setup.style.sha256},
        "final_losses": {k: v[-1] for k, v in history.items() if v},
        "images_per_second": round(config.batch / (sum(steady) / len(steady)), 3) if steady else None,
        "seconds": round(time.perf_counter() - started, 3),
    }
    if config.temporal_weight:
        info["stability"] = {"motion": dataclasses.asdict(Motion()), "term": "output, certainty-masked, less lighting"}
    if guided is not None:
        info["labels"] = dict(zip(guided.style.names, map(hex_colour, guided.style.colours), strict=True))
        info["guided"] = {"style_mask": str(style_mask), "masks": sources(masks or []), "mode": config.guide_mode}
    return info


def _write_record(out: Path, info: dict[str, Any], history: dict[str, list[float]]) -> None:
    """The model's record (``out.json``, with the loss history) and its loss curves."""
    title = f"training {out.name}"
    io.write_bytes(record.sidecar_path(out), io.json_bytes({**info, "history": history}))
    svg, png = loss_curve_paths(out)
    io.write_bytes(svg, loss_curve_svg(history, title=title, x_label="step").encode())
    io.write_bytes(png, loss_curve_png(history, title=title))


def _setup(
    style_path: str | os.PathLike[str],
    data: Sources,
    config: TrainConfig,
    weights: str | os.PathLike[str],
    style_mask: str | os.PathLike[str] | None,
    masks: Sources | None,
    palette: Palette | None,
    k: int | None,
    min_area: int | None,
    encoder: Encoder | None,
) -> _Setup:
    """The training images (those with a mask, for guided training), the style, the loss network
    on its device, and the style's (guided) Grams."""
    paths = dataset(data)
    style = io.read_image(style_path, size=config.style_size or config.size)
    guided = None
    if style_mask is not None and masks is not None:
        guided = Guided(_style_label_map(style_mask, style, palette, k, min_area), pair_masks(paths, masks), min_area)
        paths = sorted(guided.masks)
        for path in paths[:1]:  # a mask in other colours fails here, not at a random later step
            guided.labels(path, io.load_image(path).size)
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    layout = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    layers = STYLE_LAYERS[config.loss_network]
    content_layer = CONTENT_LAYER[config.loss_network]
    loss_network: Encoder = encoder or VGGEncoder([*layers, content_layer], weights=weights, arch=config.loss_network)
    encoder = loss_network.to(device=device, memory_format=layout)
    style_tensor = io.image_to_tensor(style.image).to(device=device, memory_format=layout)
    if guided is None:
        with torch.no_grad():
            style_grams = {k: gram_matrix(v) for k, v in encoder(style_tensor).items() if k in layers}
    else:
        computed = targets.compute(encoder, style_tensor, layers=layers, mode=config.guide_mode, labels=guided.style)
        # A label the style mask does not hold takes the style's whole-image Gram (the last entry).
        style_grams = {
            layer: torch.where(held[:-1, None, None], grams[:-1], grams[-1:]).to(device)
            for (layer, grams), held in zip(computed.grams.items(), computed.held.values(), strict=True)
        }
    return _Setup(paths, style, guided, encoder, style_grams, device, precision, layout)


def _fit(
    setup: _Setup,
    network: TransformerNet,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    start: int,
    history: dict[str, list[float]],
    checkpoint: Path,
    progress: Progress | None,
) -> list[float]:
    """Steps ``start`` … ``config.steps`` − 1, appending to ``history``; returns each step's seconds."""
    channels = len(setup.guided.style.names) if setup.guided else 0
    stable = config.temporal_weight > 0
    network.train()
    step_seconds = []
    tick = time.perf_counter()
    steps = range(start, config.steps)
    for step, (batch, labels) in zip(steps, batches(setup.paths, steps, config, setup.guided), strict=True):
        pair = moved_pair(batch, motion_generator(config.seed, step)) if stable else None
        batch = batch.to(device=setup.device, memory_format=setup.layout, non_blocking=True)
        onehot = None if labels is None else F.one_hot(labels, channels).permute(0, 3, 1, 2).float().to(setup.device)
        optimizer.zero_grad(set_to_none=True)
        terms = _losses(setup, network, config, batch, onehot, pair)
        total = torch.stack(list(terms.values())).sum()
        total.backward()
        optimizer.step()
        values = {"total": total.item(), **{k: v.item() for k, v in terms.items()}}
        for key, value in values.items():
            history.setdefault(key, []).append(value)
        now = time.perf_counter()
        step_seconds.append(now - tick)
        tick = now
        if progress is not None:  # losses every tenth step, as the Gatys loop reports them
            progress(step + 1, config.steps, values if (step + 1) % 10 == 0 or step + 1 == config.steps else None)
        if (step + 1) % config.checkpoint_every == 0 and step + 1 < config.steps:
            checkpoints.save(checkpoint, network, optimizer, step + 1, history, config)
    network.eval()
    return step_seconds


def _losses(
    setup: _Setup,
    network: TransformerNet,
    config: TrainConfig,
    batch: torch.Tensor,
    onehot: torch.Tensor | None,
    pair: Pair | None,
) -> dict[str, torch.Tensor]:
    """One step's weighted loss terms: content, style (guided by the labels ``onehot`` when the
    model is), the temporal term on the moved ``pair`` when training for stability, and total
    variation when weighted."""
    encoder, device, layout = setup.encoder, setup.device, setup.layout
    content_layer = CONTENT_LAYER[config.loss_network]
    with autocast(device, setup.precision):
        output = network(_with_guides(batch, onehot, layout))
        features = encoder(output)
        with torch.no_grad():
            content = encoder(batch, until=content_layer)[content_layer]
    terms = {"content": config.content_weight * F.mse_loss(features[content_layer].float(), content.float())}
    if onehot is None:
        terms["style"] = config.style_weight * batch_gram_loss(features, setup.style_grams)
    else:
        wanted = {index: name for index, name in encoder.wanted.items() if name in setup.style_grams}
        per_image = [propagate(g, encoder.body, wanted, mode=config.guide_mode) for g in onehot]
        guides = {layer: torch.stack([p[layer] for p in per_image]) for layer in setup.style_grams}
        terms["style"] = config.style_weight * batch_guided_gram_loss(features, guides, setup.style_grams)
    if pair is not None:
        pair = pair.to(device)
        moved_guides = None
        if onehot is not None:
            pair, moved_guides = guided_pair(pair, onehot)
        with autocast(device, setup.precision):
            moved_output = network(_with_guides(pair.moved, moved_guides, layout))
        perceptual = (terms["content"] + terms["style"]).detach()
        terms["temporal"] = config.temporal_weight * perceptual * temporal_term(output, moved_output, pair)
    if config.tv_weight:
        terms["tv"] = config.tv_weight * tv_loss(output.float())
    return terms


def _with_guides(images: torch.Tensor, onehot: torch.Tensor | None, layout: torch.memory_format) -> torch.Tensor:
    """The network's input: the images, and a guided model's label channels after them."""
    if onehot is None:
        return images
    return torch.cat([images, onehot], dim=1).contiguous(memory_format=layout)


def _style_label_map(
    style_mask: str | os.PathLike[str],
    style: io.LoadedImage,
    palette: Palette | None,
    k: int | None,
    min_area: int | None,
) -> LabelMap:
    """The style's labels, which become the model's; a mask of one region guides nothing."""
    label_map = load_label_map(style_mask, image=style, palette=palette, k=k, min_area=min_area)
    if (label_map.counts() > 0).sum() < 2:
        raise InputError(f"{style_mask}: style mask holds a single region, so there is nothing to guide; paint regions")
    return label_map
