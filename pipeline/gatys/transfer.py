"""One transfer on tensors: the losses of Gatys et al. (2015) — content loss at one layer, Gram
style loss at several — or the guided Gram loss of spatial control (2016), wired to an encoder
and handed to the optimisation loop of :mod:`pipeline.core.optim`.

:func:`transfer` checks the inputs, applies colour control, builds the criterion
(:mod:`pipeline.gatys.criterion`, the loss builder), optimises and reports. Files in and out are
:mod:`pipeline.gatys.stills`' business.

The image optimised sits on a slightly larger canvas (:mod:`pipeline.gatys.canvas`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image

from pipeline import io
from pipeline.core import targets as style_targets
from pipeline.core.color import grey, luminance_image, match_colours, recombine
from pipeline.core.features import LAYERS, Encoder, VGGEncoder
from pipeline.core.guidance import Regions
from pipeline.core.optim import Optimised, Snapshot, convergence, optimize, stall_message
from pipeline.core.targets import StyleTargets
from pipeline.device import autocast, memory_format, resolve_device, resolve_precision
from pipeline.errors import InputError, check_choice, option
from pipeline.gatys import tiles
from pipeline.gatys.canvas import CANVAS_MARGIN, crop, extend, margin_for
from pipeline.gatys.config import INIT_IMAGE, INITS, GatysConfig
from pipeline.gatys.criterion import Style, Term, build_criterion
from pipeline.masks.pairs import WHOLE
from pipeline.progress import Progress

log = logging.getLogger(__name__)


@dataclass
class TransferResult:
    image: torch.Tensor  # (1, 3, H, W) in [0, 1], on the CPU
    history: dict[str, list[float]]  # per evaluation: total and each weighted term
    evaluations: int
    device: str
    precision: str
    weights: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    converged: bool = True  # see :func:`pipeline.core.optim.convergence`
    loss_drop: float = 0.0  # share of the starting loss the optimisation removed

    @property
    def final_losses(self) -> dict[str, float]:
        return {name: values[-1] for name, values in self.history.items()}


def build_encoder(config: GatysConfig, weights: str | os.PathLike[str] = "imagenet") -> VGGEncoder:
    """The VGG-19 encoder cut after the deepest layer ``config`` needs."""
    return VGGEncoder(config.layers, weights=weights, pooling=config.pooling)


def initial_image(
    init: str, content: torch.Tensor, style: torch.Tensor, seed: int, *, max_pixels: int = io.MAX_PIXELS
) -> torch.Tensor:
    """The starting point: the content image, white noise, the style image at content size, or
    (``image:PATH``) an image of one's own, resized to the content's size whatever its own."""
    if init.startswith(INIT_IMAGE):
        path = init[len(INIT_IMAGE) :]
        start = io.read_image(path, max_pixels=max_pixels).image
        start = start.resize((content.shape[-1], content.shape[-2]), Image.Resampling.BICUBIC, reducing_gap=3.0)
        return io.image_to_tensor(start).to(content.device)
    check_choice("init", init, INITS)
    if init == "content":
        return content.clone()
    if init == "style":
        return F.interpolate(style, size=content.shape[-2:], mode="bilinear", antialias=True, align_corners=False)
    # Noise from a private CPU generator: the same seed gives the same start on every device.
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(content.shape, generator=generator).to(content.device)


def check_fits(encoder: Encoder, size: tuple[int, int], *, name: str) -> None:
    """An image of ``size`` (width, height) must reach the encoder's deepest layer."""
    if min(size) < encoder.min_side:
        raise InputError(
            f"{name}: at this size the image is {size[0]}x{size[1]} px, but layer "
            f"{LAYERS[encoder.arch][len(encoder.body) - 1]} needs at least {encoder.min_side} px a side; "
            f"use a larger {option('size')}"
        )


# --- one transfer --------------------------------------------------------------------------------


def transfer(
    content: torch.Tensor,
    style: Style | Sequence[Style],
    config: GatysConfig = GatysConfig(),
    *,
    weights: str | os.PathLike[str] = "imagenet",
    encoder: Encoder | None = None,
    progress: Progress | None = None,
    style_blend: Sequence[float] | None = None,
    regions: Regions | None = None,
    init: torch.Tensor | None = None,
    snapshot: Snapshot | None = None,
    snapshot_every: int = 0,
    terms: Sequence[Term] = (),
    canvas_margin: int = CANVAS_MARGIN,
) -> TransferResult:
    """Repaint ``content`` (1, 3, H, W) in the style of ``style`` (1, 3, H', W'), all in [0, 1].

    A style is an image tensor or its saved :class:`~pipeline.core.targets.StyleTargets` (which must
    fit ``config``). Several styles: without ``regions`` their Grams are mixed by ``style_blend``
    (equal by default); with ``regions`` (Gatys 2016 spatial control, see
    :mod:`pipeline.core.guidance`) each region of the output takes the statistics of the same region
    in the styles that hold it. Pass ``encoder`` to reuse a loaded network (its pooling and layers
    must cover ``config``); it is moved to the configured device. ``init`` replaces the
    configured starting image (a coarse-to-fine stage starts from the previous stage's result).
    ``config.color`` applies colour control (:mod:`pipeline.core.color`), region by region with
    ``regions``: under ``preserve`` the image optimised, and what ``terms`` see, is luminance.
    ``terms`` are further loss terms of the image (a video's temporal loss). The loss history
    holds the weighted terms. ``snapshot`` receives the image so far (on the CPU, in colour)
    every ``snapshot_every`` evaluations. The image optimised is a canvas ``canvas_margin`` px
    larger on every side (see the module docstring; 0 optimises the image alone, and gives it a
    fringe); the losses in the history are the canvas's, and ``terms`` see the image without it
    (the whole canvas, for a term whose ``on_canvas`` attribute is true).

    Example (seeded random VGG weights: a plumbing run; ``weights="imagenet"`` for a real one)::

        >>> import torch
        >>> from pipeline import GatysConfig, transfer
        >>> photo, painting = torch.rand(1, 3, 48, 64), torch.rand(1, 3, 48, 48)
        >>> result = transfer(photo, painting, GatysConfig(size=64, steps=5), weights="random")
        >>> tuple(result.image.shape), result.evaluations, sorted(result.final_losses)
        ((1, 3, 48, 64), 5, ['content', 'style', 'total'])
    """
    styles = [style] if isinstance(style, (torch.Tensor, StyleTargets)) else list(style)
    start = time.perf_counter()
    encoder = _fitting_encoder(encoder, config, weights)
    _check_inputs(encoder, content, styles, config, regions)
    original_content = content
    content, styles, init = _colour_controlled(content, styles, init, config, regions)
    run = _placed(encoder, config, content.shape, canvas_margin)
    device, precision, encoder, margin, home = run.device, run.precision, run.encoder, run.margin, run.home
    content = content.to(device=home)
    criterion = build_criterion(
        encoder, extend(content, margin).to(memory_format=memory_format(home)), styles, config,
        regions=_extended_regions(regions, margin), style_blend=style_blend, precision_context=run.precision_context,
        device=device, terms=[_on_image(term, margin) for term in terms], tiled=run.tiled,
    )  # fmt: skip
    starts_fresh = init is None  # not a later coarse-to-fine stage, which starts near its answer
    init = init if init is not None else _first_image(config, content, styles[0], home)
    _sync(device)
    timings = {"setup": time.perf_counter() - start}
    start = time.perf_counter()
    optimised = optimize(
        extend(init.to(home), margin).contiguous(), criterion, steps=config.steps, optimizer=config.optimizer,
        lr=config.learning_rate, history_size=config.lbfgs_history, progress=progress,
        precision_context=run.precision_context, snapshot_every=snapshot_every,
        snapshot=_in_colour(snapshot, original_content, config, margin) if snapshot is not None else None,
    )  # fmt: skip
    _sync(device)
    timings["optimize"] = time.perf_counter() - start
    image = _final_image(optimised.image, margin, config, original_content)
    return _result(optimised, image, timings, str(device), precision, encoder, warn=starts_fresh)


def _final_image(canvas: torch.Tensor, margin: int, config: GatysConfig, content: torch.Tensor) -> torch.Tensor:
    """The optimised canvas cut back to the image, on the CPU, in colour again under ``preserve``."""
    image = crop(canvas, margin).cpu().float()
    if config.color == "preserve":
        image = recombine(image, content.cpu().float())
    return image.contiguous()


def _extended_regions(regions: Regions | None, margin: int) -> Regions | None:
    """``regions`` with the output's guides on the canvas (mirrored as the content is)."""
    if regions is None or margin == 0:
        return regions
    return dataclasses.replace(regions, content=extend(regions.content, margin))


def _on_image(term: Term, margin: int) -> Term:
    """A further term of the image, given the canvas: it sees the image without the margin, unless
    it holds the margin too (a true ``on_canvas`` attribute, as a video's temporal loss has)."""
    if margin == 0 or getattr(term, "on_canvas", False):
        return term

    def on_image(canvas: torch.Tensor) -> dict[str, torch.Tensor]:
        return term(crop(canvas, margin))

    return on_image


def _in_colour(snapshot: Snapshot, content: torch.Tensor, config: GatysConfig, margin: int = 0) -> Snapshot:
    """A snapshot callback fed what the result would be: on the CPU, without the canvas's margin,
    and recombined with the content's colours when only luminance is optimised."""

    def seen(step: int, image: torch.Tensor, loss: float) -> None:
        image = crop(image, margin).cpu().float()
        if config.color == "preserve":
            image = recombine(image, content.cpu().float())
        snapshot(step, image, loss)

    return seen


def _result(
    optimised: Optimised,
    image: torch.Tensor,
    timings: dict[str, float],
    device: str,
    precision: str,
    encoder: Encoder,
    *,
    warn: bool,
) -> TransferResult:
    """The result, judged: a run that did not converge says so (``warn``: in one line)."""
    history = optimised.history
    evaluations = len(history.get("total", []))
    converged, drop = convergence(history, stationary=optimised.stationary)
    if not converged and warn:
        log.warning(stall_message(drop, history, evaluations))
    timings["per_evaluation"] = timings["optimize"] / max(evaluations, 1)
    return TransferResult(
        image=image,
        history=history,
        evaluations=evaluations,
        device=device,
        precision=precision,
        weights=encoder.weights_info,
        timings=timings,
        converged=converged,
        loss_drop=drop,
    )


def _fitting_encoder(encoder: Encoder | None, config: GatysConfig, weights: str | os.PathLike[str]) -> Encoder:
    if encoder is None:
        return build_encoder(config, weights)
    if encoder.pooling != config.pooling or not set(config.layers) <= set(encoder.layers):
        raise ValueError(f"encoder ({encoder.pooling} pooling, {encoder.layers}) does not fit the config")
    return encoder


@dataclass(frozen=True)
class _Placement:
    """Where a transfer runs: the device and precision, the encoder placed there, the canvas's
    margin, and whether it is tiled. Tiled, what grows with the image (it, the optimiser's state)
    stays in host memory (``home``) and the device sees one tile at a time; untiled, everything
    lives on the device. Whether to tile is the image's size against the tile size (a canvas a
    few pixels over it is not worth tiles); the tiles, windows of at most that size, then cover
    the canvas."""

    device: torch.device
    precision: str
    encoder: Encoder
    margin: int
    tiled: bool

    @property
    def home(self) -> torch.device:
        return tiles.HOST if self.tiled else self.device

    def precision_context(self) -> Any:
        return autocast(self.device, self.precision)


def _placed(encoder: Encoder, config: GatysConfig, shape: torch.Size, canvas_margin: int) -> _Placement:
    """The :class:`_Placement` of a transfer of an image of ``shape``, its encoder moved there."""
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # one input size for hundreds of evaluations
    encoder = encoder.to(device=device, memory_format=memory_format(device))
    margin = margin_for(shape, canvas_margin)
    return _Placement(device, precision, encoder, margin, tiles.tiles_needed(config.tile, shape))


def _colour_controlled(
    content: torch.Tensor, styles: list[Style], init: torch.Tensor | None, config: GatysConfig, regions: Regions | None
) -> tuple[torch.Tensor, list[Style], torch.Tensor | None]:
    """The content, styles and start as colour control (``config.color``) has them optimised: the
    styles' colours matched to the content's, or everything in luminance (``preserve``)."""
    if config.color == "none":
        return content, styles, init
    content, styles = _colour_control(content, styles, config, regions)
    if init is not None and config.color == "preserve":
        init = grey(init)  # a previous stage's result, recombined in colour: optimise its luminance
    return content, styles, init


def _first_image(config: GatysConfig, content: torch.Tensor, style: Style, home: torch.device) -> torch.Tensor:
    """The configured start (``config.init``) of a transfer that is not a later stage's."""
    first_style = style.image if isinstance(style, StyleTargets) else style
    return initial_image(config.init, content, first_style.to(home), config.seed)


def _check_inputs(
    encoder: Encoder, content: torch.Tensor, styles: Sequence[Style], config: GatysConfig, regions: Regions | None
) -> None:
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


def _colour_control(
    content: torch.Tensor,
    styles: Sequence[Style],
    config: GatysConfig,
    regions: Regions | None,
) -> tuple[torch.Tensor, list[Style]]:
    """Content and styles as the optimisation sees them under ``config.color``: for ``preserve``
    both in luminance (the style's matched to the content's mean and spread), for ``match`` the
    styles recoloured to the content's colour statistics; per region with ``regions``."""
    if any(isinstance(s, StyleTargets) for s in styles):
        raise InputError(
            f"{option('color')} {config.color} adapts each style to the content image, so it needs the style image, "
            "not its saved targets (.pt)"
        )
    content_masks = regions.content if regions is not None else None
    adapted: list[Style] = []
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
