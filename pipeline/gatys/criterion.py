"""The loss builder of a Gatys transfer: the criterion of an image, as named weighted terms.

Content loss at one layer, Gram style loss at several (Gatys et al. 2015), or the guided Gram loss
of spatial control (2016); total variation when weighted; and any further terms a caller adds (a
video's temporal loss, :mod:`pipeline.video.temporal`). Targets are computed once, without
gradients; the style loss runs as encoder taps (its gradient fused into the backward pass).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import torch

from pipeline.core import targets as style_targets
from pipeline.core.features import Encoder
from pipeline.core.guidance import Regions, guided_style_loss
from pipeline.core.losses import ContentLoss, GramStyleLoss, GuidedGramStyleLoss, blend_weights, layer_weights, tv_loss
from pipeline.core.optim import Criterion
from pipeline.core.targets import StyleTargets
from pipeline.device import memory_format
from pipeline.gatys import tiles
from pipeline.gatys.config import GatysConfig
from pipeline.masks.pairs import WHOLE

Style = torch.Tensor | StyleTargets
#: A further term of the criterion: the image → named weighted terms (added to the others).
Term = Callable[[torch.Tensor], dict[str, torch.Tensor]]


def style_loss_for(
    encoder: Encoder,
    targets: Sequence[StyleTargets],
    config: GatysConfig,
    *,
    regions: Regions | None,
    style_blend: Sequence[float] | None,
    device: torch.device,
) -> GramStyleLoss | GuidedGramStyleLoss:
    """The Gram style loss against the styles' (blended) Grams, or with ``regions`` the guided
    Gram loss of spatial control."""
    weights_by_layer = layer_weights(config.style_layers, config.style_layer_weights)
    if regions is None:
        mix = blend_weights(style_blend, len(targets))
        return GramStyleLoss(
            {
                layer: _blend([t.grams[layer][WHOLE] for t in targets], mix).unsqueeze(0).to(device)
                for layer in weights_by_layer
            },
            weights_by_layer,
        )
    return guided_style_loss(
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


def _blend(grams: Sequence[torch.Tensor], mix: Sequence[float]) -> torch.Tensor:
    """Σ mᵢ Gᵢ, summed in order (as Python's ``sum`` from 0, so one style's Gram stays exact)."""
    return cast(torch.Tensor, sum(m * g for m, g in zip(mix, grams, strict=True)))


def build_criterion(
    encoder: Encoder,
    content: torch.Tensor,
    styles: Sequence[Style],
    config: GatysConfig,
    *,
    regions: Regions | None = None,
    style_blend: Sequence[float] | None = None,
    precision_context: Callable[[], Any],
    device: torch.device | None = None,
    terms: Sequence[Term] = (),
    tiled: bool | None = None,
) -> Criterion:
    """The weighted loss terms of an image: content (against ``content``'s features), style,
    total variation when weighted, and each of ``terms``. Targets are computed once, without
    gradients, on ``device`` (where the encoder is; default: where ``content`` is); the style loss
    runs as encoder taps (its gradient fused into the backward). Tiled (``config.tile``; ``tiled``
    says whether, by default whether ``content`` is larger than the tile), ``content`` and the
    images the criterion is called with may stay on the host while the encoder runs on ``device``."""
    if tiled is None:
        tiled = tiles.tiles_needed(config.tile, content.shape)
    base = _gatys_criterion(encoder, content, styles, config, regions, style_blend, precision_context, device, tiled)
    if not terms:
        return base

    def with_terms(image: torch.Tensor) -> dict[str, torch.Tensor]:
        found = base(image)
        for term in terms:
            found.update(term(image))
        return found

    return with_terms


def _gatys_criterion(
    encoder: Encoder,
    content: torch.Tensor,
    styles: Sequence[Style],
    config: GatysConfig,
    regions: Regions | None,
    style_blend: Sequence[float] | None,
    precision_context: Callable[[], Any],
    device: torch.device | None,
    tiled: bool,
) -> Criterion:
    device = content.device if device is None else device
    layout = memory_format(device)
    with torch.no_grad(), precision_context():
        # Tiled, the content's features are computed tile by tile (by the tiled criterion).
        content_target = None if tiled else ContentLoss(config.content_layer, encoder(content))
        targets = [
            s if isinstance(s, StyleTargets) else _targets(encoder, s, regions, i, config, device)
            for i, s in enumerate(styles)
        ]
    style_loss = style_loss_for(
        encoder, targets, config, regions=regions, style_blend=style_blend, device=content.device
    )
    if content_target is None:
        return tiles.TiledCriterion(
            encoder, content, style_loss, config, precision_context=precision_context, device=device
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

    return criterion


def _targets(
    encoder: Encoder,
    style: torch.Tensor,
    regions: Regions | None,
    index: int,
    config: GatysConfig,
    device: torch.device,
) -> StyleTargets:
    """A style image's targets on ``device``: in one pass, or tile by tile (the image staying
    where it is) when it is larger than ``config.tile``."""
    guides = regions.styles[index] if regions is not None else None
    if tiles.tiles_needed(config.tile, style.shape):
        assert config.tile is not None
        return tiles.tiled_targets(
            encoder,
            style,
            guides,
            layers=config.style_layers,
            tile=config.tile,
            mode=config.guide_mode,
            grow=config.guide_grow,
            device=device,
        )
    return style_targets.compute(
        encoder,
        style.to(device=device, memory_format=memory_format(device)),
        guides,
        layers=config.style_layers,
        mode=config.guide_mode,
        grow=config.guide_grow,
    )
