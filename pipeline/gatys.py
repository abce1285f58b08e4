"""Gatys et al. (2015) style transfer: optimise an image so its VGG features match the content
image's at one layer and its Gram matrices match the style image's at several.

Three layers, each usable alone:

- :func:`optimize` is the loop: any criterion, L-BFGS or Adam, ``steps`` loss evaluations.
- :func:`transfer` wires the encoder and the losses for one content and one style tensor.
- :func:`transfer_files` is what the CLI and the Snakefile call: paths in, image and JSON out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

import pipeline
from pipeline import io
from pipeline import targets as style_targets
from pipeline.color import COLOR_MODES, MATCH_METHODS, grey, luminance_image, match_colours, recombine
from pipeline.device import autocast, memory_format, resolve_device, resolve_precision
from pipeline.errors import InputError
from pipeline.features import LAYERS, POOLINGS, VGGEncoder, check_layers
from pipeline.guidance import GUIDE_MODES, WHOLE, Guidance, Regions, guided_style_loss
from pipeline.losses import ContentLoss, GramStyleLoss, GuidedGramStyleLoss, blend_weights, layer_weights, tv_loss
from pipeline.masks import Palette, hex_colour, load_label_map
from pipeline.optim import LBFGS
from pipeline.targets import StyleTargets

log = logging.getLogger(__name__)

CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
INITS = ("content", "noise", "style")
OPTIMIZERS = ("lbfgs", "adam")
#: Learning rates for images in [0, 1]. L-BFGS: the first trial step of each line search (1 = the
#: full quasi-Newton step, which the search almost always keeps); Adam's 0.02 moves a pixel by at
#: most ~5/255 per step, which is what keeps it from ringing.
DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02}
#: Curvature pairs L-BFGS keeps. neural-style keeps 100; 20 is the top of the range Nocedal &
#: Wright recommend and reaches the same loss (within 0.4 % after 150 evaluations at 128 px), while
#: the history costs 2 · m · 3 · H · W floats of memory and as many reads per step: at m = 100 that
#: is ~4 % of a 256 px evaluation on a CPU and 10 GB at 2048 px.
LBFGS_HISTORY = 20

#: ``progress(step, steps, losses)``: called after every loss evaluation; ``losses`` (weighted
#: terms and their total) is filled every ``PROGRESS_EVERY`` evaluations and at the last one.
Progress = Callable[[int, int, Mapping[str, float] | None], None]
Criterion = Callable[[torch.Tensor], dict[str, torch.Tensor]]
PROGRESS_EVERY = 10
#: A transfer whose loss fell by less than this share, and that did not reach a stationary point,
#: is reported as not converged. Stalled runs of the old fixed-step L-BFGS fell by 1–13 % and
#: returned the photo; every run of the convergence suite (benchmarks/bench_convergence.py) falls by
#: more than 98 % at the default weights, and a legitimate balance (style weight 1e3, where the
#: content term holds the image near the photo) by 58 %.
STALL_DROP = 0.5


@dataclass(frozen=True)
class GatysConfig:
    """Every knob of a Gatys transfer; the defaults are the ones our users came from."""

    size: int = 512
    style_size: int | None = None  # long side of the style image; None = same as ``size``
    steps: int = 300  # loss evaluations
    content_weight: float = 1.0
    style_weight: float = 1e6
    tv_weight: float = 0.0
    content_layer: str = CONTENT_LAYER
    style_layers: tuple[str, ...] = STYLE_LAYERS
    style_layer_weights: tuple[float, ...] | None = None  # None = 1 for every layer
    pooling: str = "max"
    init: str = "content"
    optimizer: str = "lbfgs"
    lr: float | None = None  # None = DEFAULT_LR[optimizer]
    lbfgs_history: int = LBFGS_HISTORY
    guide_mode: str = "simple"  # spatial control: how region guides reach each layer
    guide_grow: int = 0  # grow (> 0) or shrink (< 0) guides by this many feature-map pixels
    color: str = "none"  # colour control: none, preserve (luminance-only transfer), match (recolour the style)
    color_match: str = "sym"  # how ``match`` maps colours: sym, chol or pca (see pipeline.color)
    scales: tuple[int, ...] = ()  # coarse-to-fine stage sizes, ending at ``size``; () = one stage
    stage_steps: int | None = None  # evaluations of each stage before the last (None = ``steps``)
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"

    def __post_init__(self) -> None:
        for name in ("size", "steps", "lbfgs_history"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise InputError(f"{name.replace('_', '-')} must be a positive integer, got {value}")
        if self.style_size is not None and self.style_size <= 0:
            raise InputError(f"style-size must be a positive integer, got {self.style_size}")
        for name in ("content_weight", "style_weight", "tv_weight"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise InputError(f"{name.replace('_', '-')} must be a finite number >= 0, got {value}")
        if self.lr is not None and not (math.isfinite(self.lr) and self.lr > 0):
            raise InputError(f"lr must be a finite positive number, got {self.lr}")
        if self.style_layer_weights is not None and not all(
            math.isfinite(w) and w >= 0 for w in self.style_layer_weights
        ):
            raise InputError(f"style-layer-weights must be finite numbers >= 0, got {self.style_layer_weights}")
        if not 0 <= self.seed < 2**63:
            raise InputError(f"seed must be between 0 and 2**63 - 1, got {self.seed}")
        _check_choice("pooling", self.pooling, POOLINGS)
        _check_choice("init", self.init, INITS)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("guide mode", self.guide_mode, GUIDE_MODES)
        _check_choice("color mode", self.color, COLOR_MODES)
        _check_choice("color match method", self.color_match, MATCH_METHODS)
        if self.stage_steps is not None and (not isinstance(self.stage_steps, int) or self.stage_steps <= 0):
            raise InputError(f"stage-steps must be a positive integer, got {self.stage_steps}")
        if self.scales:
            if any(b <= a for a, b in zip(self.scales, self.scales[1:], strict=False)) or self.scales[0] <= 0:
                raise InputError(f"scales must be increasing sizes, got {','.join(map(str, self.scales))}")
            if self.scales[-1] != self.size:
                raise InputError(
                    f"scales must end at the output size ({self.scales[-1]} != {self.size}); "
                    f"give --size {self.scales[-1]}"
                )
        if not self.style_layers:
            raise InputError("style-layers must name at least one layer")
        check_layers([self.content_layer, *self.style_layers])
        layer_weights(self.style_layers, self.style_layer_weights)

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]

    @property
    def layers(self) -> list[str]:
        return list(dict.fromkeys([self.content_layer, *self.style_layers]))

    def target_settings(self, weights_info: Mapping[str, Any]) -> dict[str, Any]:
        """What style targets computed for this config depend on (see :mod:`pipeline.targets`)."""
        return {
            "size": self.style_size or self.size,
            "pooling": self.pooling,
            "weights": style_targets.weights_fingerprint(weights_info),
            "guide_mode": self.guide_mode,
            "guide_grow": self.guide_grow,
        }


def auto_scales(size: int, base: int = 256) -> tuple[int, ...]:
    """Coarse-to-fine sizes from ``base`` up to ``size`` in steps of √2 (the last step may be shorter)."""
    if base >= size:
        return (size,)
    sizes = [base]
    while sizes[-1] * math.sqrt(2) < size - 1:
        sizes.append(round(sizes[-1] * math.sqrt(2)))
    return (*sizes, size)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputError(f"unknown {name} '{value}'; use one of {', '.join(choices)}")


@dataclass
class TransferResult:
    image: torch.Tensor  # (1, 3, H, W) in [0, 1], on the CPU
    history: dict[str, list[float]]  # per evaluation: total and each weighted term
    evaluations: int
    device: str
    precision: str
    weights: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    converged: bool = True  # see :func:`convergence`
    loss_drop: float = 0.0  # share of the starting loss the optimisation removed

    @property
    def final_losses(self) -> dict[str, float]:
        return {name: values[-1] for name, values in self.history.items()}


@dataclass
class Optimised:
    image: torch.Tensor  # the best image (L-BFGS) or the last one (Adam), clamped to [0, 1]
    history: dict[str, list[float]]  # per evaluation: total and each weighted term
    stationary: bool = False  # L-BFGS stopped early: no step could lower the loss


def convergence(history: Mapping[str, Sequence[float]], *, stationary: bool = False) -> tuple[bool, float]:
    """(converged, loss drop): the share of the first evaluation's total loss that the last one
    removed, and whether that is enough (:data:`STALL_DROP`) or the optimiser reached a
    stationary point (where a small drop is the right answer, e.g. a tiny style weight)."""
    total = history.get("total", [])
    if not total or total[0] <= 0:
        return True, 0.0
    drop = 1.0 - total[-1] / total[0]
    return stationary or drop >= STALL_DROP, drop


# --- the loop ----------------------------------------------------------------------------------


def optimize(
    init: torch.Tensor,
    criterion: Criterion,
    *,
    steps: int,
    optimizer: str = "lbfgs",
    lr: float | None = None,
    history_size: int = LBFGS_HISTORY,
    progress: Progress | None = None,
    precision_context: Callable[[], Any] | None = None,
) -> Optimised:
    """Minimise the sum of ``criterion(image)``'s terms over the image, for ``steps`` evaluations.

    L-BFGS (:mod:`pipeline.optim`) searches along each direction with a Wolfe line search, so an
    evaluation may be a trial that is not kept: the history records, per evaluation, the losses
    of the best image so far (the one returned had the run stopped there), and the result is
    that best image. L-BFGS stops early once no step can lower the loss (a stationary point). It
    is left unconstrained (clamping would break its curvature pairs), so its result is clamped
    to [0, 1] once at the end; Adam's iterate is projected into [0, 1] after each step, and its
    history and result are those of the last evaluation.
    Raises :class:`InputError` if the loss stops being finite (the optimisation diverged).
    """
    _check_choice("optimizer", optimizer, OPTIMIZERS)
    lr = DEFAULT_LR[optimizer] if lr is None else lr
    context = precision_context or contextlib.nullcontext
    image = init.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
    lbfgs = LBFGS(image, lr=lr, history_size=history_size) if optimizer == "lbfgs" else None
    adam = torch.optim.Adam([image], lr=lr) if lbfgs is None else None

    records: list[torch.Tensor] = []
    names: list[str] = []
    best: torch.Tensor | None = None
    for step in range(1, steps + 1):
        image.grad = None
        with context():
            terms = criterion(image)
        total = torch.stack(list(terms.values())).sum()
        total.backward()
        names = names or ["total", *terms]
        # Kept on the device: converting to float here would sync a GPU on every step.
        record = torch.stack([total.detach(), *(t.detach().float() for t in terms.values())])
        if lbfgs is not None:
            if lbfgs.tell(total.detach(), image.grad) or best is None:
                best = record
            records.append(best)
        else:
            records.append(record)
        if progress is not None:
            report = step % PROGRESS_EVERY == 0 or step == steps
            progress(step, steps, dict(zip(names, records[-1].tolist(), strict=True)) if report else None)
        if lbfgs is not None and lbfgs.converged:
            log.info("L-BFGS reached a stationary point after %d evaluations", step)
            break
        if adam is not None and step < steps:
            adam.step()
            with torch.no_grad():
                image.clamp_(0, 1)

    table = torch.stack(records).cpu().tolist()
    history = {name: [row[i] for row in table] for i, name in enumerate(names)}
    if not math.isfinite(history["total"][-1]):
        first_bad = next(i for i, value in enumerate(history["total"]) if not math.isfinite(value))
        raise InputError(
            f"the optimisation diverged (loss {history['total'][-1]} from evaluation {first_bad + 1}); "
            "lower --lr or the style weight, or try --optimizer adam"
        )
    result = lbfgs.best.view_as(image) if lbfgs is not None else image
    return Optimised(result.detach().clamp(0, 1), history, stationary=lbfgs is not None and lbfgs.converged)


# --- one transfer ------------------------------------------------------------------------------


def initial_image(init: str, content: torch.Tensor, style: torch.Tensor, seed: int) -> torch.Tensor:
    """The starting point: the content image, white noise, or the style image at content size."""
    _check_choice("init", init, INITS)
    if init == "content":
        return content.clone()
    if init == "style":
        return F.interpolate(style, size=content.shape[-2:], mode="bilinear", antialias=True, align_corners=False)
    # Noise from a private CPU generator: the same seed gives the same start on every device.
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(content.shape, generator=generator).to(content.device)


def build_encoder(config: GatysConfig, weights: str | os.PathLike[str] = "imagenet") -> VGGEncoder:
    """The VGG-19 encoder cut after the deepest layer ``config`` needs."""
    return VGGEncoder(config.layers, weights=weights, pooling=config.pooling)


def transfer(
    content: torch.Tensor,
    style: torch.Tensor | StyleTargets | Sequence[torch.Tensor | StyleTargets],
    config: GatysConfig = GatysConfig(),
    *,
    weights: str | os.PathLike[str] = "imagenet",
    encoder: VGGEncoder | None = None,
    progress: Progress | None = None,
    style_blend: Sequence[float] | None = None,
    regions: Regions | None = None,
    init: torch.Tensor | None = None,
) -> TransferResult:
    """Repaint ``content`` (1, 3, H, W) in the style of ``style`` (1, 3, H', W'), all in [0, 1].

    A style is an image tensor or its saved :class:`~pipeline.targets.StyleTargets` (which must
    fit ``config``). Several styles: without ``regions`` their Grams are mixed by ``style_blend``
    (equal by default); with ``regions`` (Gatys 2016 spatial control, see
    :mod:`pipeline.guidance`) each region of the output takes the statistics of the same region
    in the styles that hold it. Pass ``encoder`` to reuse a loaded network (its pooling and layers
    must cover ``config``); it is moved to the configured device. ``init`` replaces the
    configured starting image (a coarse-to-fine stage starts from the previous stage's result).
    ``config.color`` applies colour control (:mod:`pipeline.color`), region by region with
    ``regions``. The loss history holds the weighted terms.
    """
    styles = [style] if isinstance(style, (torch.Tensor, StyleTargets)) else list(style)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    if encoder is None:
        encoder = build_encoder(config, weights)
    elif encoder.pooling != config.pooling or not set(config.layers) <= set(encoder.layers):
        raise ValueError(f"encoder ({encoder.pooling} pooling, {encoder.layers}) does not fit the config")
    for name, tensor in (("content", content), *(("style", s) for s in styles if isinstance(s, torch.Tensor))):
        if min(tensor.shape[-2:]) < encoder.min_side:
            raise InputError(
                f"{name} image is {tuple(tensor.shape[-2:])} px; the network needs >= {encoder.min_side} px a side"
            )
    for i, s in enumerate(styles):
        if isinstance(s, StyleTargets):
            style_targets.check_fits(
                s, config.target_settings(encoder.weights_info), config.style_layers, name=f"style {i + 1}"
            )
    if regions is not None and len(regions.sources) != len(styles):
        raise ValueError(f"regions for {len(regions.sources)} styles, but {len(styles)} styles given")
    original_content = content
    if config.color != "none":
        content, styles = _colour_control(content, styles, config, regions)
        if init is not None and config.color == "preserve":
            init = grey(init)  # a previous stage's result, recombined in colour: optimise its luminance
    layout = memory_format(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # one input size for hundreds of evaluations
    encoder = encoder.to(device=device, memory_format=layout)
    content = content.to(device=device, memory_format=layout)

    def precision_context() -> Any:
        return autocast(device, precision)

    with torch.no_grad(), precision_context():
        content_target = ContentLoss(config.content_layer, encoder(content))
        targets = [
            s
            if isinstance(s, StyleTargets)
            else style_targets.compute(
                encoder,
                s.to(device=device, memory_format=layout),
                regions.styles[i] if regions is not None else None,
                layers=config.style_layers,
                mode=config.guide_mode,
                grow=config.guide_grow,
            )
            for i, s in enumerate(styles)
        ]
    weights_by_layer = layer_weights(config.style_layers, config.style_layer_weights)
    if regions is None:
        mix = blend_weights(style_blend, len(targets))
        style_loss: GramStyleLoss | GuidedGramStyleLoss = GramStyleLoss(
            {
                layer: sum(m * t.grams[layer][WHOLE] for m, t in zip(mix, targets, strict=True)).unsqueeze(0).to(device)
                for layer in weights_by_layer
            },
            weights_by_layer,
        )
    else:
        style_loss = guided_style_loss(
            encoder.body,
            encoder.wanted,
            regions,
            targets,
            weights_by_layer,
            blend=style_blend,
            mode=config.guide_mode,
            grow=config.guide_grow,
            device=device,
        )

    def criterion(image: torch.Tensor) -> dict[str, torch.Tensor]:
        # The optimised image stays contiguous (L-BFGS flattens its gradient with .view).
        style_terms: dict[str, torch.Tensor] = {}
        features = encoder(image.contiguous(memory_format=layout), taps=style_loss.taps(style_terms))
        terms = {
            "content": config.content_weight * content_target(features),
            "style": config.style_weight * torch.stack(list(style_terms.values())).sum(),
        }
        if config.tv_weight:
            terms["tv"] = config.tv_weight * tv_loss(image.float())
        return terms

    starts_fresh = init is None  # not a later coarse-to-fine stage, which starts near its answer
    if init is None:
        first_style = styles[0].image if isinstance(styles[0], StyleTargets) else styles[0]
        init = initial_image(config.init, content, first_style.to(device), config.seed)
    init = init.to(device).contiguous()
    _sync(device)
    timings["setup"] = time.perf_counter() - start
    start = time.perf_counter()
    optimised = optimize(
        init,
        criterion,
        steps=config.steps,
        optimizer=config.optimizer,
        lr=config.learning_rate,
        history_size=config.lbfgs_history,
        progress=progress,
        precision_context=precision_context,
    )
    _sync(device)
    timings["optimize"] = time.perf_counter() - start
    history = optimised.history
    evaluations = len(history.get("total", []))
    converged, drop = convergence(history, stationary=optimised.stationary)
    if not converged and starts_fresh:
        log.warning(stall_message(drop, history, evaluations))
    timings["per_evaluation"] = timings["optimize"] / max(evaluations, 1)
    image = optimised.image.cpu().float()
    if config.color == "preserve":
        image = recombine(image, original_content.cpu().float())
    return TransferResult(
        image=image.contiguous(),
        history=history,
        evaluations=evaluations,
        device=str(device),
        precision=precision,
        weights=encoder.weights_info,
        timings=timings,
        converged=converged,
        loss_drop=drop,
    )


def stall_message(drop: float, history: Mapping[str, Sequence[float]], evaluations: int) -> str:
    total = history["total"]
    return (
        f"the loss fell by only {drop:.0%} in {evaluations} evaluations ({total[0]:.4g} -> {total[-1]:.4g}): "
        "the result is close to its starting image; try more --steps, a higher --style-weight or --optimizer adam"
    )


def _colour_control(
    content: torch.Tensor,
    styles: Sequence[torch.Tensor | StyleTargets],
    config: GatysConfig,
    regions: Regions | None,
) -> tuple[torch.Tensor, list[torch.Tensor | StyleTargets]]:
    """Content and styles as the optimisation sees them under ``config.color``: for ``preserve``
    both in luminance (the style's matched to the content's mean and spread), for ``match`` the
    styles recoloured to the content's colour statistics; per region with ``regions``."""
    if any(isinstance(s, StyleTargets) for s in styles):
        raise InputError(
            f"--color {config.color} adapts each style to the content image, so it needs the style image, "
            "not its saved targets (.pt)"
        )
    content_masks = regions.content if regions is not None else None
    adapted: list[torch.Tensor | StyleTargets] = []
    for i, style in enumerate(styles):
        assert isinstance(style, torch.Tensor)
        style_masks = _style_masks(regions, i, style) if regions is not None else None
        if config.color == "preserve":
            adapted.append(luminance_image(style, content, style_masks=style_masks, content_masks=content_masks))
        else:
            adapted.append(
                match_colours(
                    style, content, method=config.color_match, style_masks=style_masks, content_masks=content_masks
                )
            )
    return (grey(content) if config.color == "preserve" else content), adapted


def _style_masks(regions: Regions, index: int, style: torch.Tensor) -> torch.Tensor:
    """(R, H, W) masks of style image ``index``: the label each region takes, all of it for a
    region that takes the whole image, nothing where the image does not hold the region."""
    labels = regions.styles[index]
    masks = torch.zeros(len(regions.names), *style.shape[-2:])
    for r, source in enumerate(regions.sources[index]):
        if source == WHOLE:
            masks[r] = 1
        elif source is not None and labels is not None:
            masks[r] = labels[source]
    return masks


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --- files in, files out -----------------------------------------------------------------------


def sidecar_path(out: str | os.PathLike[str]) -> Path:
    """``result.png`` → ``result.png.json``: the metadata file written beside every output."""
    out = Path(out)
    return out.with_name(out.name + ".json")


def transfer_files(
    content_path: str | os.PathLike[str],
    style_path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    out_path: str | os.PathLike[str],
    config: GatysConfig = GatysConfig(),
    *,
    weights: str | os.PathLike[str] = "imagenet",
    max_pixels: int = io.MAX_PIXELS,
    progress: Progress | None = None,
    style_blend: Sequence[float] | None = None,
    guidance: Guidance | None = None,
) -> dict[str, Any]:
    """Load, transfer, save ``out_path`` and ``out_path.json``; return the metadata written.

    ``style_path`` may name several styles (mixed by ``style_blend``, or region by region with
    ``guidance``), each a style image or its saved targets (``.pt``, see
    :func:`style_targets_file`). Every check on the inputs, masks and output location runs
    before any work; the image and its sidecar are both written only once everything succeeded.
    """
    started = time.perf_counter()
    style_paths = [style_path] if isinstance(style_path, (str, os.PathLike)) else list(style_path)
    out_path = Path(out_path)
    io.save_format(out_path)
    io.check_writable(out_path)
    sizes = config.scales or (config.size,)
    if len(sizes) > 1 and any(style_targets.is_targets_path(p) for p in style_paths):
        raise InputError(
            "--scales recomputes the style's Grams at every stage's size; pass the style image, not its targets (.pt)"
        )
    encoder = build_encoder(config, weights)
    stages = []  # every stage's inputs are loaded and checked before any optimisation starts
    for size in sizes:
        stage = stage_config(config, size)
        content = io.read_image(content_path, size=size, max_pixels=max_pixels)
        styles = [
            style_targets.load(p)
            if style_targets.is_targets_path(p)
            else io.read_image(p, size=stage.style_size or size, max_pixels=max_pixels)
            for p in style_paths
        ]
        wanted = stage.target_settings(encoder.weights_info)
        for path, style in zip(style_paths, styles, strict=True):
            if isinstance(style, StyleTargets):
                style_targets.check_fits(style, wanted, config.style_layers, name=str(path))
        regions = guidance.regions(content, styles, max_pixels=max_pixels) if guidance is not None else None
        images = [(content_path, content.image)]
        images += [(p, s.image) for p, s in zip(style_paths, styles, strict=True) if isinstance(s, io.LoadedImage)]
        for path, image in images:
            _check_fits(encoder, image.size, name=str(path))
        stages.append((stage, content, styles, regions))
    loaded = time.perf_counter()
    content_image = content.image
    log.info("content %s at %dx%d; style %s", content_path, *content_image.size, ", ".join(map(str, style_paths)))
    if regions is not None:
        log.info("regions: %s (guides: %s)", ", ".join(regions.names), config.guide_mode)
    result, stage_records, first = None, [], None
    history: dict[str, list[float]] = {}
    stage_timings = {"setup": 0.0, "optimize": 0.0}
    for stage, content, styles, regions in stages:
        init = None
        if result is not None:  # start from the previous stage's result, upsampled
            init = F.interpolate(result.image, size=content.image.size[::-1], mode="bicubic", align_corners=False)
            init = init.clamp(0, 1)
        if len(stages) > 1:
            log.info(
                "stage %d/%d: %dx%d, %d evaluations",
                len(stage_records) + 1,
                len(stages),
                *content.image.size,
                stage.steps,
            )
        result = transfer(
            io.image_to_tensor(content.image),
            [s if isinstance(s, StyleTargets) else io.image_to_tensor(s.image) for s in styles],
            stage,
            encoder=encoder,
            progress=progress,
            style_blend=style_blend,
            regions=regions,
            init=init,
        )
        first = first or result  # the stage that starts from the configured init judges convergence
        for name, values in result.history.items():
            history.setdefault(name, []).extend(values)
        for key in stage_timings:
            stage_timings[key] += result.timings[key]
        stage_records.append(
            {
                "width": content.image.width,
                "height": content.image.height,
                "evaluations": result.evaluations,
                "seconds": round(result.timings["setup"] + result.timings["optimize"], 3),
                "loss_drop": round(result.loss_drop, 6),
            }
        )
    assert result is not None and first is not None
    result = dataclasses.replace(
        result,
        history=history,
        evaluations=len(history.get("total", [])),
        timings={**stage_timings, "per_evaluation": stage_timings["optimize"] / max(len(history.get("total", [])), 1)},
    )
    summary = {
        "stylesnake": pipeline.__version__,
        "method": "gatys2016-guided" if regions is not None else "gatys2015",
        "weights": result.weights,
        "parameters": {
            **dataclasses.asdict(config),
            "max_pixels": max_pixels,
            "style_blend": list(style_blend) if style_blend is not None else None,
        },
    }
    encode_start = time.perf_counter()
    image_bytes = io.encode_image(result.image, out_path, metadata={"stylesnake": _compact_json(summary)})
    timings = {"load": loaded - started, **result.timings, "encode": time.perf_counter() - encode_start}
    timings["total"] = time.perf_counter() - started

    def describe(path: str | os.PathLike[str], style: io.LoadedImage | StyleTargets) -> dict[str, Any]:
        if isinstance(style, StyleTargets):
            height, width = style.image.shape[-2:]
            return {"path": str(path), "targets_of": style.info.get("style"), "width": width, "height": height}
        return {"path": str(path), "sha256": style.sha256, "width": style.image.width, "height": style.image.height}

    metadata: dict[str, Any] = {
        **summary,
        "content": describe(content_path, content),
        "styles": [describe(p, s) for p, s in zip(style_paths, styles, strict=True)],
        "output": {"path": str(out_path), "width": content_image.width, "height": content_image.height},
    }
    if guidance is not None and regions is not None:
        metadata["guidance"] = {
            "content_mask": str(guidance.content_mask),
            "style_masks": [str(p) for p in guidance.style_masks]
            + [s.info.get("mask", {}).get("path") for s in styles if isinstance(s, StyleTargets)],
            "regions": {
                name: {"content_share": round(float(regions.content[r].mean()), 4), "weight": float(regions.weights[r])}
                for r, name in enumerate(regions.names)
            },
            "label_map": dict(guidance.label_map or {}),
        }
    metadata.update(
        {
            "code": pipeline.code_version(),
            "device": result.device,
            "precision": result.precision,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "evaluations": result.evaluations,
            "converged": first.converged,
            "loss_drop": round(first.loss_drop, 6),
            "stages": stage_records,
            "timings_s": {k: round(v, 4) for k, v in timings.items()},
            "peak_memory_mb": peak_memory_mb(result.device),
            "final_losses": result.final_losses,
            "history": result.history,
        }
    )
    # Sidecar first: an image on disk always has its metadata beside it.
    io.write_bytes(sidecar_path(out_path), io.json_bytes(metadata))
    io.write_bytes(out_path, image_bytes)
    log.info("wrote %s (%d evaluations, %.1f s)", out_path, result.evaluations, timings["total"])
    return metadata


def style_targets_file(
    style_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    config: GatysConfig = GatysConfig(),
    *,
    weights: str | os.PathLike[str] = "imagenet",
    style_mask: str | os.PathLike[str] | None = None,
    k: int | None = None,
    palette: Palette | None = None,
    min_area: int | None = None,
    max_pixels: int = io.MAX_PIXELS,
) -> dict[str, Any]:
    """Compute one style image's targets (plain Gram, and guided Grams per label of ``style_mask``)
    at ``config``'s style size, layers, pooling and guide settings; save ``out_path`` (``.pt``) and
    its JSON sidecar; return the sidecar's contents."""
    started = time.perf_counter()
    if not style_targets.is_targets_path(out_path):
        raise InputError(f"{out_path}: style targets are saved as {style_targets.SUFFIX}")
    io.check_writable(out_path)
    style = io.read_image(style_path, size=config.style_size or config.size, max_pixels=max_pixels)
    labels = None
    if style_mask is not None:
        labels = load_label_map(style_mask, image=style, k=k, palette=palette, min_area=min_area, max_pixels=max_pixels)
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    encoder = VGGEncoder(config.style_layers, weights=weights, pooling=config.pooling)
    _check_fits(encoder, style.image.size, name=str(style_path))
    encoder = encoder.to(device=device, memory_format=memory_format(device))
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
    metadata = {
        "stylesnake": pipeline.__version__,
        "method": "style-targets",
        "weights": encoder.weights_info,
        **info,
        "labels": {
            name: {"colour": colour, "share": round(int(count) / max(int(computed.pixels.sum()), 1), 4)}
            for name, colour, count in zip(
                computed.names, map(hex_colour, computed.colours), computed.pixels, strict=True
            )
        },
        "code": pipeline.code_version(),
        "device": str(device),
        "precision": precision,
        "torch": torch.__version__,
        "seconds": round(time.perf_counter() - started, 3),
    }
    io.write_bytes(sidecar_path(out_path), io.json_bytes(metadata))
    style_targets.save(computed, out_path)
    log.info("wrote %s (%s)", out_path, ", ".join(computed.names) or "no mask: whole-image Grams only")
    return metadata


FINE_LAYERS = ("relu1_1", "relu2_1")


def mix_scales_files(
    coarse_path: str | os.PathLike[str],
    fine_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    config: GatysConfig = GatysConfig(),
    *,
    fine_layers: Sequence[str] = FINE_LAYERS,
    weights: str | os.PathLike[str] = "imagenet",
    max_pixels: int = io.MAX_PIXELS,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Scale mixing (Gatys et al. 2016): a new style image with the coarse structure of one style
    image and the fine texture of another. Starting from ``coarse_path``, the image's Grams are
    matched to the fine image's at ``fine_layers`` and to its own at the other style layers (its
    content loss keeps the layout). Use the result as a style image. Writes the image and its JSON."""
    started = time.perf_counter()
    check_layers(fine_layers)
    unknown = [layer for layer in fine_layers if layer not in config.style_layers]
    if unknown:
        raise InputError(f"fine layers {', '.join(unknown)} are not among the style layers; add them to --style-layers")
    out_path = Path(out_path)
    io.save_format(out_path)
    io.check_writable(out_path)
    coarse = io.read_image(coarse_path, size=config.size, max_pixels=max_pixels)
    fine = io.read_image(fine_path, size=config.style_size or config.size, max_pixels=max_pixels)
    encoder = build_encoder(config, weights)
    for path, loaded in ((coarse_path, coarse), (fine_path, fine)):
        _check_fits(encoder, loaded.image.size, name=str(path))
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
    result = transfer(
        io.image_to_tensor(coarse.image),
        mixed,
        dataclasses.replace(config, color="none", scales=()),
        encoder=encoder,
        progress=progress,
    )
    metadata = {
        "stylesnake": pipeline.__version__,
        "method": "gatys2016-scale-mixing",
        "weights": result.weights,
        "parameters": {**dataclasses.asdict(config), "fine_layers": list(fine_layers), "max_pixels": max_pixels},
        "coarse": {"path": str(coarse_path), "sha256": coarse.sha256},
        "fine": {"path": str(fine_path), "sha256": fine.sha256},
        "code": pipeline.code_version(),
        "device": result.device,
        "evaluations": result.evaluations,
        "converged": result.converged,
        "loss_drop": round(result.loss_drop, 6),
        "seconds": round(time.perf_counter() - started, 3),
        "final_losses": result.final_losses,
        "history": result.history,
    }
    image_bytes = io.encode_image(
        result.image, out_path, metadata={"stylesnake": _compact_json(metadata["parameters"])}
    )
    io.write_bytes(sidecar_path(out_path), io.json_bytes(metadata))
    io.write_bytes(out_path, image_bytes)
    log.info("wrote %s (coarse structure of %s, fine texture of %s)", out_path, coarse_path, fine_path)
    return metadata


def stage_config(config: GatysConfig, size: int) -> GatysConfig:
    """The settings of the coarse-to-fine stage at ``size``: the style scaled alike, ``stage_steps``
    evaluations for every stage but the last."""
    if size == config.size:
        return dataclasses.replace(config, scales=())
    style_size = round(config.style_size * size / config.size) if config.style_size else None
    steps = config.stage_steps or config.steps
    return dataclasses.replace(config, size=size, style_size=style_size, steps=steps, scales=())


def peak_memory_mb(device: str) -> dict[str, float]:
    """Peak memory so far: the process's resident set on the CPU, and the GPU's allocations."""
    import resource

    peak = {"process_rss": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}  # KiB on Linux
    if device.startswith("cuda"):
        peak["cuda_allocated"] = round(torch.cuda.max_memory_allocated(torch.device(device)) / 2**20, 1)
    return peak


def _check_fits(encoder: VGGEncoder, size: tuple[int, int], *, name: str) -> None:
    if min(size) < encoder.min_side:
        raise InputError(
            f"{name}: at this size the image is {size[0]}x{size[1]} px, but layer "
            f"{LAYERS[encoder.arch][len(encoder.body) - 1]} needs at least {encoder.min_side} px a side; "
            "use a larger --size"
        )


def _compact_json(data: Mapping[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))
