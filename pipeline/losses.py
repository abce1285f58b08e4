"""Perceptual losses of Gatys et al. (2015): content loss, Gram style loss, total variation.

Normalisation (chosen so the defaults users know keep their meaning):

- Gram matrix ``G = F Fᵀ / (C·H·W)`` for a feature map ``F`` of C channels and H·W positions, as
  in the PyTorch tutorial whose style weight 1e6 / content weight 1 our users settled on.
- Style loss ``Σ_l w_l · mean((G_l(x) − G_l(s))²)``. Because G carries 1/C, this equals the
  authors' per-layer weighting ``1e3 / N_l²`` (NeuralImageSynthesis) up to a constant factor,
  so equal ``w_l`` already balance shallow and deep layers the way the authors do.
- Content loss ``mean((F(x) − F(c))²)`` at one layer.
- Total variation ``mean(Δx²) + mean(Δy²)`` on the image (off by default).

Losses are small callables over the encoder's ``{layer: activation}`` dict, so the optimisation
loop can take any criterion, and guided (masked) style losses can replace :class:`GramStyleLoss`.
The style loss can also run as encoder *taps* (:meth:`GramStyleLoss.taps`), which fuse its
gradient into the network's backward pass; that is the fast path :mod:`pipeline.gatys` uses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from pipeline.errors import InputError

Features = Mapping[str, torch.Tensor]


Tap = Callable[[torch.Tensor], torch.Tensor]


def _flat_for_gram(features: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) → (B, C, H·W), upcast from half precision to fp32 (fp32/fp64 kept as they are).

    flatten(2) is a view for both contiguous and channels-last maps; bmm takes the strides as is.
    """
    flat = features.flatten(2)
    return flat.float() if flat.dtype in (torch.float16, torch.bfloat16) else flat


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """``F Fᵀ / (C·H·W)`` per batch item, shape (B, C, C); accumulated in fp32 even under autocast."""
    c, h, w = features.shape[1:]
    flat = _flat_for_gram(features)
    # bf16 autocast would round the C×C sums of H·W products; the Gram is where precision matters.
    with torch.autocast(device_type=flat.device.type, enabled=False):
        return torch.bmm(flat, flat.transpose(1, 2)).div_(c * h * w)


class _GramMSETap(torch.autograd.Function):
    """``(F, w · mean((gram(F) − A)²))``: passes F through and adds the Gram loss on the side.

    Why a custom function: a captured activation feeds both the next layer and the style loss,
    so plain autograd computes the loss gradient ``S F`` (S = the symmetric C×C error term) in
    one buffer, then adds it to the next layer's gradient in another pass over the activation.
    Here ``baddbmm`` writes ``grad + S F`` in one go, and the Gram's backward costs one matmul
    instead of autograd's two. Measured at 256 px on a 2-core CPU (forward + backward only, no
    optimiser step): plain autograd 1.09×, these taps 1.04× the bare network.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, features: torch.Tensor, target: torch.Tensor, weight: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        ctx.set_materialize_grads(False)
        c, h, w = features.shape[1:]
        flat = _flat_for_gram(features)
        with torch.autocast(device_type=flat.device.type, enabled=False):
            gram = torch.bmm(flat, flat.transpose(1, 2)).div_(c * h * w)
            diff = gram - target
            loss = diff.pow(2).mean().mul_(weight)
        ctx.save_for_backward(flat, diff)
        # d loss / d F = (2 w / numel) · 2 (G − A) F / (C·H·W), the factor 2 from G's symmetry.
        ctx.factor = 4.0 * weight / (diff.numel() * c * h * w)
        ctx.shape, ctx.dtype = features.shape, features.dtype
        return features.view_as(features), loss

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor | None, grad_loss: torch.Tensor | None) -> tuple[Any, None, None]:
        if grad_loss is None:
            return grad_out, None, None
        flat, diff = ctx.saved_tensors
        # Symmetric, as G and the target both are Grams; the shortcut above relies on it.
        error = diff * (grad_loss * ctx.factor)
        with torch.autocast(device_type=flat.device.type, enabled=False):
            if flat.stride(2) != 1:
                # Channels-last: (E F)ᵀ = Fᵀ E, computed on the contiguous (B, N, C) view.
                rows = flat.transpose(1, 2)
                if grad_out is None:
                    grad = torch.bmm(rows, error)
                else:
                    upstream = grad_out.contiguous(memory_format=torch.channels_last).flatten(2).transpose(1, 2)
                    grad = torch.baddbmm(upstream.to(flat.dtype), rows, error)
                grad = grad.transpose(1, 2)
            elif grad_out is None:
                grad = torch.bmm(error, flat)
            else:
                grad = torch.baddbmm(grad_out.contiguous().flatten(2).to(flat.dtype), error, flat)
        return grad.unflatten(2, ctx.shape[2:]).to(ctx.dtype), None, None


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of feature maps (Gatys' content loss up to a constant)."""
    return F.mse_loss(features.float(), target)


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Squared total variation: mean of squared neighbour differences, down and across."""
    dy = image[..., 1:, :] - image[..., :-1, :]
    dx = image[..., :, 1:] - image[..., :, :-1]
    return dy.pow(2).mean() + dx.pow(2).mean()


class ContentLoss:
    """Content loss at one layer against a fixed target activation (computed once, no grad)."""

    def __init__(self, layer: str, target_features: Features) -> None:
        self.layer = layer
        self.target = target_features[layer].detach().float()

    def __call__(self, features: Features) -> torch.Tensor:
        return content_loss(features[self.layer], self.target)


class GramStyleLoss:
    """Σ_l w_l · MSE(Gram_l(x), Gram_l(style)); the style Grams are computed once, no grad.

    Use it either on a features dict (``loss(features)``) or as encoder taps (``taps``), which
    give the same value and gradient, faster.
    """

    def __init__(self, target_features: Features, layer_weights: Mapping[str, float]) -> None:
        self.layer_weights = dict(layer_weights)
        with torch.no_grad():
            self.targets = {layer: gram_matrix(target_features[layer]) for layer in self.layer_weights}

    def __call__(self, features: Features) -> torch.Tensor:
        terms = [
            w * F.mse_loss(gram_matrix(features[layer]), self.targets[layer]) for layer, w in self.layer_weights.items()
        ]
        return torch.stack(terms).sum()

    def taps(self, terms: dict[str, torch.Tensor]) -> dict[str, Tap]:
        """Encoder taps that compute each layer's weighted term into ``terms[layer]``."""

        def tap_for(layer: str) -> Tap:
            def tap(features: torch.Tensor) -> torch.Tensor:
                out, terms[layer] = _GramMSETap.apply(features, self.targets[layer], self.layer_weights[layer])
                return out

            return tap

        return {layer: tap_for(layer) for layer in self.layer_weights}


def layer_weights(layers: Sequence[str], weights: Sequence[float] | None = None) -> dict[str, float]:
    """Pair style layers with their weights (all 1 when ``weights`` is None)."""
    if weights is None:
        weights = [1.0] * len(layers)
    if len(weights) != len(layers):
        raise InputError(f"{len(layers)} style layers but {len(weights)} style layer weights; give one per layer")
    return dict(zip(layers, (float(w) for w in weights), strict=True))
