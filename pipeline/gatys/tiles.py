"""Tiled Gatys transfer for images beyond memory: exact whole-image style statistics, computed tile
by tile, so the result has no seams (the idea of crowsonkb's style-transfer-pytorch tiling).

The optimiser still works on the whole image; only the criterion is tiled. A *tile* is a window
of at most ``tile`` × ``tile`` pixels: a *core* (the tiles' cores partition the image exactly) and a
*margin* around it, there only so the core's features see real neighbours instead of zero
padding. Every evaluation makes two passes over the tiles:

1. without gradients: each tile's style-layer features, cropped to its core, are summed into the
   whole image's Gram ``G = Σ_t F_t F_tᵀ / (C·N)`` (N the whole feature map's positions, as
   :func:`~pipeline.core.losses.gram_matrix` normalises the untiled image; guided Grams alike, with the
   guides normalised over the whole map). That gives the style loss and its error ``D = G − A``.
2. with gradients: each tile runs again with a tap at each style layer whose backward adds the
   whole-image gradient ``4 w D F / (C³ N)`` over the core (zero on the margin: a margin feature is
   another tile's core feature), and the content loss of the core against the content image's
   features of the same tile. The tile's pixel gradient is added into a full-size buffer; margin
   pixels get what core features' receptive fields give them, which is exactly their share.

Memory: the device (a GPU) holds the network, the Grams and one tile's activations and autograd
graph, never an image-sized tensor. What grows with the image lives in host memory (:data:`HOST`):
the image and its gradient, the optimiser's state (L-BFGS keeps 2 · ``lbfgs_history`` image-sized
vectors), the content image's features at the content layer and the guides; each tile's share
travels to the device and its gradient back. So a GPU that runs a ``tile`` px transfer untiled runs
any size tiled at ``tile``; on a CPU host and device are one memory and the whole state counts.

Margin: with the cores aligned to the network's coarsest grid (16 px for relu5_1) every core
feature is exactly the untiled one if the margin covers its receptive-field radius: 44 px at
relu4_2, 84 px at relu5_1 (3×3 convolutions and 2×2 poolings). :data:`MARGIN` = 64 covers the
content layer and every style layer but relu5_1, whose outermost core features see some padding.
Its error against the untiled gradient, and what the tiles cost in memory and time:
docs/design-notes.md, "Tiles". The margin is capped at a quarter of the tile, so a core
keeps at least half the tile's width (the overlap costs at most 4× the pixels, 1.8× at 512 px).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from pipeline.core.channels import propagate
from pipeline.core.features import Encoder
from pipeline.core.losses import GramStyleLoss, GuidedGramStyleLoss, tv_loss
from pipeline.core.targets import StyleTargets
from pipeline.device import memory_format
from pipeline.errors import InputError
from pipeline.gatys.config import MIN_TILE, GatysConfig

log = logging.getLogger(__name__)

#: Margin (px) around each tile's core; see the module's docstring for why 64.
MARGIN = 64
#: Where a tiled run keeps what grows with the image (the image, its gradient, the optimiser's
#: state, the content features): host memory, whatever device runs the network.
HOST = torch.device("cpu")

#: Feature elements the tap's backward works on at once (16 MiB in fp32).
BAND_ELEMENTS = 1 << 22

Window = tuple[int, int, int, int]  # y0, y1, x0, x1 in pixels of the whole image


@dataclass(frozen=True)
class Tile:
    """One window of the image and the core it answers for."""

    window: Window
    core: Window

    def crop(self, image: torch.Tensor) -> torch.Tensor:
        y0, y1, x0, x1 = self.window
        return image[..., y0:y1, x0:x1]

    def core_at(self, stride: int, *, whole: bool = False) -> tuple[slice, slice]:
        """The core in a feature map of ``stride``: of the window's map, or (``whole``) of the
        whole image's. Windows start on the coarsest grid, so ``y // stride`` is exact there; a
        core that ends at the image's edge ends where the floor of the pooling ends the map."""
        cy0, cy1, cx0, cx1 = self.core
        oy, ox = (0, 0) if whole else (self.window[0] // stride, self.window[2] // stride)
        return slice(cy0 // stride - oy, cy1 // stride - oy), slice(cx0 // stride - ox, cx1 // stride - ox)


def tiles_needed(tile: int | None, shape: Sequence[int]) -> bool:
    """Whether ``tile`` applies to an image of ``shape`` (…, H, W): only beyond the tile's size."""
    return tile is not None and max(shape[-2:]) > tile


def record(tile: int | None, shape: Sequence[int], align: int) -> dict[str, int]:
    """``{"tiles": n}`` for a stage's record when it is tiled; nothing when it is not."""
    return {"tiles": len(layout(shape, tile, align))} if tile is not None and tiles_needed(tile, shape) else {}


def margin_for(tile: int, align: int) -> int:
    """:data:`MARGIN`, at most a quarter of the tile, on the ``align`` grid (at least one step)."""
    return max(align, min(MARGIN, tile // 4) // align * align)


def _spans(extent: int, tile: int, margin: int, align: int) -> list[Window]:
    """(window start, end, core start, end) along one axis: cores on the ``align`` grid that
    partition [0, extent), each window (core ± margin, cut at the image's edge) ``tile`` at most."""
    if extent <= tile:
        return [(0, extent, 0, extent)]
    first = (tile - margin) // align * align  # the image's edge needs no margin
    inner = (tile - 2 * margin) // align * align
    bounds = [0, first]
    while extent - bounds[-1] > tile - margin:
        bounds.append(bounds[-1] + inner)
    bounds.append(extent)
    return [(max(0, a - margin), min(extent, b + margin), a, b) for a, b in itertools.pairwise(bounds)]


def layout(shape: Sequence[int], tile: int, align: int, margin: int | None = None) -> list[Tile]:
    """The tiles of an image of ``shape`` (…, H, W), row by row."""
    margin = margin_for(tile, align) if margin is None else margin
    if tile < MIN_TILE or tile - 2 * margin < align or margin % align:
        raise InputError(f"tile must be at least {max(MIN_TILE, 2 * margin + align)} px, got {tile}")
    rows, cols = (_spans(extent, tile, margin, align) for extent in shape[-2:])
    return [Tile((r[0], r[1], c[0], c[1]), (r[2], r[3], c[2], c[3])) for r in rows for c in cols]


def strides(encoder: Encoder, layers: Sequence[str]) -> dict[str, int]:
    """Each layer's stride: 2 to the number of poolings before it."""
    index = {name: i for i, name in encoder.wanted.items()}
    pools = [isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)) for m in encoder.body]
    return {layer: 2 ** sum(pools[: index[layer]]) for layer in layers}


def _upcast(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.float() if tensor.dtype in (torch.float16, torch.bfloat16) else tensor


def to_device(window: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A tile's pixels as the network takes them on ``device`` (its own copy, in the device's
    layout), cut off from the whole image's autograd graph."""
    return window.detach().to(device).contiguous(memory_format=memory_format(device))


# --- pass 1: whole-image Grams, tile by tile -------------------------------------------------------


def gram_sums(
    encoder: Encoder,
    image: torch.Tensor,
    tiles: Sequence[Tile],
    guides: Mapping[str, torch.Tensor | None],
    *,
    whole: bool,
    device: torch.device | None = None,
) -> dict[str, torch.Tensor]:
    """Whole-image Grams (R, C, C) of ``image`` at the layers of ``guides``, one tile at a time, no
    gradients: the guided Grams under ``guides[layer]`` (R, h, w, normalised over the whole map),
    then with ``whole`` (or no guides) the plain Gram, each over ``C·h·w`` of the whole map. The
    network runs on ``device`` (default: the image's), which receives one tile at a time."""
    step = strides(encoder, list(guides))
    device = image.device if device is None else device
    sums: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for tile in tiles:
            features = encoder(to_device(tile.crop(image), device))
            for layer, guide in guides.items():
                rows, cols = tile.core_at(step[layer])
                flat = _upcast(features[layer][0][:, rows, cols]).flatten(1)  # (C, n)
                parts = []
                with torch.autocast(device_type=flat.device.type, enabled=False):
                    if guide is not None:
                        core = guide[(slice(None), *tile.core_at(step[layer], whole=True))].to(device)
                        weighted = flat * core.flatten(1)[:, None]
                        parts.append(torch.bmm(weighted, weighted.transpose(1, 2)))
                    if guide is None or whole:
                        parts.append((flat @ flat.T)[None])
                    part = torch.cat(parts)
                sums[layer] = sums[layer] + part if layer in sums else part
    h, w = image.shape[-2:]
    return {layer: s / (s.shape[-1] * (h // step[layer]) * (w // step[layer])) for layer, s in sums.items()}


def tiled_targets(
    encoder: Encoder,
    image: torch.Tensor,
    guides: torch.Tensor | None,
    *,
    layers: Sequence[str],
    tile: int,
    mode: str = "simple",
    grow: int = 0,
    device: torch.device | None = None,
) -> StyleTargets:
    """:func:`pipeline.core.targets.compute` (without label names) for a style image beyond ``tile``:
    the same Grams, summed tile by tile (on ``device``; the image and guides stay where they are)."""
    wanted = {i: name for i, name in encoder.wanted.items() if name in layers}
    per_layer = propagate(guides, encoder.body, wanted, mode=mode, grow=grow) if guides is not None else {}
    held_guides = {layer: per_layer.get(layer) for layer in layers}
    grams = gram_sums(
        encoder, image, layout(image.shape, tile, encoder.min_side), held_guides, whole=True, device=device
    )
    held = {
        layer: torch.cat([per_layer[layer].flatten(1).any(dim=1).cpu(), torch.ones(1, dtype=torch.bool)])
        if layer in per_layer
        else torch.ones(1, dtype=torch.bool)
        for layer in layers
    }
    return StyleTargets({k: v.float().cpu() for k, v in grams.items()}, held, image.float().cpu())


# --- pass 2: the whole-image gradient, tile by tile ------------------------------------------------


class _FixedErrorTap(torch.autograd.Function):
    """``(F, 0)``: passes F through; backward adds ``Σ_r g_r² E_r F`` over the core, where ``E_r``
    is the whole image's scaled Gram error (fixed by pass 1) and ``g_r`` the core's guide (1 for a
    plain Gram): the whole-image style loss's gradient at this tile's core features, as
    :class:`~pipeline.core.losses._GramMSETap` would give it untiled. The 0 is the handle that makes
    autograd call this backward even at the deepest layer, which nothing downstream reads."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, features: torch.Tensor, error: torch.Tensor, core: tuple[slice, slice], guide: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(features, error, guide)
        ctx.core = core
        return features.view_as(features), error.new_zeros(())

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor | None, grad_zero: torch.Tensor | None) -> tuple[Any, ...]:
        if grad_zero is None:
            return grad_out, None, None, None
        features, error, guide = ctx.saved_tensors
        rows, cols = ctx.core
        grad = grad_out.clone() if grad_out is not None else torch.zeros_like(features)
        # Positions by channels, (h, w, C): E is symmetric, so (E F)ᵀ = Fᵀ E row by row. Worked in
        # bands of rows, so the temporaries stay small beside the layer's gradient itself.
        core = features[0][:, rows, cols].permute(1, 2, 0)
        into = grad[0][:, rows, cols].permute(1, 2, 0)
        weights = guide.pow(2) if guide is not None else None  # (R, h, w)
        height, width, channels = core.shape
        band = max(1, BAND_ELEMENTS // max(1, width * channels))
        with torch.autocast(device_type=core.device.type, enabled=False):
            for y in range(0, height, band):
                flat = _upcast(core[y : y + band]).reshape(-1, channels)  # (n, C)
                if weights is None:
                    pulled = flat @ error[0]
                else:
                    w = weights[:, y : y + band].reshape(len(error), -1, 1).to(flat)
                    pulled = sum((flat @ error[r]) * w[r] for r in range(len(error)))
                into[y : y + band] += (pulled * grad_zero).view(-1, width, channels).to(grad.dtype)
        return grad, None, None, None


@dataclass(frozen=True)
class _StyleLayer:
    targets: torch.Tensor  # (R, C, C)
    weights: torch.Tensor  # (R,) layer weight × region weight
    guides: torch.Tensor | None  # (R, h, w) over the whole map, normalised there; None: plain Gram


def _style_layers(style_loss: GramStyleLoss | GuidedGramStyleLoss, device: torch.device) -> dict[str, _StyleLayer]:
    """The style loss's targets and weights per layer on ``device``, plain Grams as one region
    without guides; the guides (each the size of a feature map) stay where the style loss has them."""
    if isinstance(style_loss, GuidedGramStyleLoss):
        return {
            layer: _StyleLayer(target.to(device), style_loss.weights[layer].to(device), style_loss.guides[layer])
            for layer, target in style_loss.targets.items()
        }
    return {
        layer: _StyleLayer(style_loss.targets[layer].to(device), torch.tensor([weight], device=device), None)
        for layer, weight in style_loss.layer_weights.items()
    }


class TiledCriterion:
    """The criterion of :func:`pipeline.gatys.criterion.build_criterion` (same terms, same values
    and gradient up to the margin's effect on features near a core's edge), computed in tiles of
    ``config.tile`` px. Content and style get their gradient from one backward pass per tile, so
    it rides on the style term (the optimiser only ever differentiates the terms' sum).

    The network runs on ``device`` (default: the content's); the image it is called with, the
    content, the content features and the gradient stay on the content's device, which is
    :data:`HOST` in a tiled transfer, and the terms come back there."""

    def __init__(
        self,
        encoder: Encoder,
        content: torch.Tensor,
        style_loss: GramStyleLoss | GuidedGramStyleLoss,
        config: GatysConfig,
        *,
        precision_context: Callable[[], Any],
        margin: int | None = None,
        device: torch.device | None = None,
    ) -> None:
        assert config.tile is not None
        self.encoder, self.config = encoder, config
        self.device = content.device if device is None else device
        self.tiles = layout(content.shape, config.tile, encoder.min_side, margin)
        self.layers = _style_layers(style_loss, self.device)
        log.info("loss in %d tiles of at most %d px a side", len(self.tiles), config.tile)
        self.content_layer = config.content_layer
        self.step = strides(encoder, [*self.layers, self.content_layer])
        self.size = tuple(content.shape[-2:])
        # The content image's features, core by core, computed through the same tiles, so the
        # margin's effect cancels: the content image itself has content loss 0.
        with torch.no_grad(), precision_context():
            self.content_targets = [
                self._core(
                    self.encoder(to_device(t.crop(content), self.device), until=self.content_layer),
                    self.content_layer,
                    t,
                )
                .to(content.device)
                .contiguous()  # the core alone, not the window's map it is cut from
                for t in self.tiles
            ]
        # Pinned host memory: each evaluation copies them to the GPU without waiting on the copy.
        self.pinned = self.device.type == "cuda" and content.device.type == "cpu"
        if self.pinned:
            self.content_targets = [t.pin_memory() for t in self.content_targets]
        self.content_size = self.content_targets[0].shape[0] * self._positions(self.content_layer)
        self.crops = {  # each tile's core of each guide, cut once
            layer: [s.guides[(slice(None), *t.core_at(self.step[layer], whole=True))] for t in self.tiles]
            for layer, s in self.layers.items()
            if s.guides is not None
        }

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        guides = {layer: s.guides for layer, s in self.layers.items()}
        grams = gram_sums(self.encoder, image.detach(), self.tiles, guides, whole=False, device=self.device)
        style_value = torch.zeros((), device=self.device)
        errors = {}
        for layer, s in self.layers.items():
            diff = grams[layer] - s.targets.to(grams[layer])
            style_value = style_value + (diff.pow(2).mean(dim=(1, 2)) * s.weights).sum()
            # d/dF of w·mean((G − A)²) = 4 w (G − A) F / (C² · C·N), as in _GramMSETap.
            scale = 4.0 * self.config.style_weight / (diff.shape[-1] ** 3 * self._positions(layer))
            errors[layer] = diff * (scale * s.weights)[:, None, None]
        gradient = torch.zeros_like(image, dtype=torch.float32)
        content_sum = torch.zeros((), device=self.device)
        for i, tile in enumerate(self.tiles):
            content_sum = content_sum + self._backward(i, tile, image, gradient, errors)
        # A zero whose gradient is ``gradient``; a dot product needs no image-sized temporary.
        link = torch.dot(image.reshape(-1), gradient.to(image.dtype).reshape(-1))
        home = image.device
        terms = {
            "content": self.config.content_weight * content_sum.to(home) / self.content_size,
            "style": self.config.style_weight * style_value.to(home) + (link - link.detach()),
        }
        if self.config.tv_weight:
            terms["tv"] = self.config.tv_weight * tv_loss(image.float())
        return terms

    def _core(self, features: Mapping[str, torch.Tensor], layer: str, tile: Tile) -> torch.Tensor:
        rows, cols = tile.core_at(self.step[layer])
        return _upcast(features[layer][0][:, rows, cols])

    def _positions(self, layer: str) -> int:
        """Positions of the whole image's feature map at ``layer``."""
        return (self.size[0] // self.step[layer]) * (self.size[1] // self.step[layer])

    def _backward(
        self, i: int, tile: Tile, image: torch.Tensor, gradient: torch.Tensor, errors: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        """Pass 2 on one tile: add its pixels' gradient into ``gradient``; return its content sum."""
        x = to_device(tile.crop(image), self.device).requires_grad_(True)
        handles: list[torch.Tensor] = []

        def tap_for(layer: str) -> Callable[[torch.Tensor], torch.Tensor]:
            def tap(features: torch.Tensor) -> torch.Tensor:
                guide = self.crops[layer][i].to(self.device) if layer in self.crops else None
                out, handle = _FixedErrorTap.apply(features, errors[layer], tile.core_at(self.step[layer]), guide)
                handles.append(handle)
                return out

            return tap

        features = self.encoder(x, taps={layer: tap_for(layer) for layer in self.layers})
        target = self.content_targets[i].to(self.device, non_blocking=self.pinned)
        content_sum = (self._core(features, self.content_layer, tile) - target).pow(2).sum()
        (content_sum * (self.config.content_weight / self.content_size) + torch.stack(handles).sum()).backward()
        assert x.grad is not None
        tile.crop(gradient).add_(x.grad.float().to(gradient.device))
        return content_sum.detach()
