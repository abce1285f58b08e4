"""The guided Gram loss of spatial control (Gatys et al., "Controlling Perceptual Factors in
Neural Style Transfer", CVPR 2017): regions paired across masks (:mod:`pipeline.masks.pairs`) as
guide channels, and each region of the output held to the Gram of its region in the style images.

The output image uses the content's guides, each style image its own. Guides per layer
(propagation, normalisation) live in :mod:`pipeline.core.channels`. How much a result bleeds is
measured in :mod:`pipeline.synthetic.measures`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from pipeline.core.channels import one_hot, propagate
from pipeline.core.losses import GuidedGramStyleLoss, blend_weights
from pipeline.core.targets import StyleTargets
from pipeline.io import LoadedImage
from pipeline.masks import LabelMap
from pipeline.masks.pairs import Guidance, Labelled, Pairing, Style, pair_regions

log = logging.getLogger(__name__)

# --- regions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Regions:
    """Matched regions: the output's guides, and where each style image's Grams come from.

    ``sources[i][r]`` is the label of style image ``i`` that region ``r`` takes its guided Gram
    from, :data:`WHOLE` for the style's whole-image Gram (a region mapped to :data:`PLAIN`), or
    None where style image ``i`` does not hold the region. ``styles[i]`` are style image ``i``'s
    label guides (L_i, H_s, W_s), one channel per label of its mask; None when that style comes
    as saved targets, whose guided Grams are already computed.
    """

    names: tuple[str, ...]
    content: torch.Tensor  # (R, H, W) float, one-hot
    styles: tuple[torch.Tensor | None, ...]
    sources: tuple[tuple[int | None, ...], ...]
    weights: torch.Tensor  # (R,) region weights (default 1/R)
    #: The ``label_map`` the regions were matched with: given, or chosen by pairing regions.
    label_map: Mapping[str, str] = field(default_factory=dict)


def regions_of(content: LabelMap, styles: Sequence[Labelled], pairing: Pairing) -> Regions:
    """The :class:`Regions` of a pairing: the content's guides (one-hot over its present labels),
    each style map's label guides, the weights normalised to sum 1 (the authors' 1/R by default)."""
    weights = torch.tensor(pairing.weights, dtype=torch.float32)
    return Regions(
        names=pairing.names,
        content=one_hot(content.labels, pairing.present),
        styles=tuple(
            one_hot(style.labels, range(len(style.names))) if isinstance(style, LabelMap) else None for style in styles
        ),
        sources=pairing.sources,
        weights=weights / weights.sum(),
        label_map=pairing.label_map,
    )


def match_regions(
    content: LabelMap,
    styles: Sequence[Labelled],
    *,
    label_map: Mapping[str, str] | None = None,
    region_weights: Mapping[str, float] | None = None,
    content_name: str = "content mask",
) -> Regions:
    """:func:`~pipeline.masks.pairs.pair_regions` as :class:`Regions`."""
    pairing = pair_regions(
        content, styles, label_map=label_map, region_weights=region_weights, content_name=content_name
    )
    return regions_of(content, styles, pairing)


def guided_regions(guidance: Guidance, content: LoadedImage, styles: Sequence[Style], *, max_pixels: int) -> Regions:
    """The regions of spatial control read from files (:meth:`Guidance.paired`)."""
    paired = guidance.paired(content, styles, max_pixels=max_pixels)
    return regions_of(paired.content, paired.styles, paired.pairing)


# --- the guided style loss ---------------------------------------------------------------------


def guided_style_loss(
    body: nn.Sequential,
    wanted: Mapping[int, str],
    regions: Regions,
    targets: Sequence[StyleTargets],
    layer_weights: Mapping[str, float],
    *,
    blend: Sequence[float] | None = None,
    mode: str = "simple",
    grow: int = 0,
    device: torch.device | None = None,
) -> GuidedGramStyleLoss:
    """The guided Gram loss for ``regions``: each region's target is the guided Gram of its
    source label in every style image that holds it (mixed by ``blend`` where several do, see
    :mod:`pipeline.core.targets`); the output's guides come from the content's regions."""
    if len(regions.sources) != len(targets):
        raise ValueError(f"{len(regions.sources)} style sources for {len(targets)} style targets")
    style_layers = {i: name for i, name in wanted.items() if name in layer_weights}
    content_guides = {
        k: v.to(device) for k, v in propagate(regions.content, body, style_layers, mode=mode, grow=grow).items()
    }
    mix = torch.tensor(blend_weights(blend, len(targets)))
    n_regions = len(regions.names)
    grams, weights = {}, {}
    usable_somewhere = torch.zeros(n_regions, dtype=torch.bool)
    for layer, layer_weight in layer_weights.items():
        channels = targets[0].grams[layer].shape[-1]
        layer_grams = torch.zeros(len(targets), n_regions, channels, channels)
        held = torch.zeros(len(targets), n_regions)
        for i, (target, sources) in enumerate(zip(targets, regions.sources, strict=True)):
            for r, source in enumerate(sources):
                if source is not None and bool(target.held[layer][source]):
                    layer_grams[i, r], held[i, r] = target.grams[layer][source], 1.0
        share = held * mix[:, None]
        total = share.sum(dim=0)  # (R,)
        grams[layer] = ((layer_grams * share[:, :, None, None]).sum(dim=0) / total.clamp_min(1e-12)[:, None, None]).to(
            device
        )
        usable = (total > 0) & content_guides[layer].flatten(1).any(dim=1).cpu()
        usable_somewhere |= usable
        for r in torch.nonzero(~usable).flatten().tolist():
            log.debug("region %s has no pixels at %s (mode %s); skipped there", regions.names[r], layer, mode)
        weights[layer] = (layer_weight * regions.weights * usable.float()).to(device)
    for r in torch.nonzero(~usable_somewhere).flatten().tolist():
        log.warning(
            "region %s is too small for '%s' guides at every style layer: it gets no style", regions.names[r], mode
        )
    return GuidedGramStyleLoss(grams, content_guides, weights)
