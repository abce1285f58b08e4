"""Perceptual losses of Gatys et al.: content loss, Gram style loss, total variation (2015), and
the guided Gram style loss of spatial control (2016).

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
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F

from pipeline.errors import InputError

#: An encoder's activations, by layer name.
Features = Mapping[str, torch.Tensor]


Tap = Callable[[torch.Tensor], torch.Tensor]


def _upcast(tensor: torch.Tensor) -> torch.Tensor:
    """Half precision → fp32 for Gram sums; fp32 and fp64 are kept as they are."""
    return tensor.float() if tensor.dtype in (torch.float16, torch.bfloat16) else tensor


def _flat_for_gram(features: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) → (B, C, H·W), upcast (see :func:`_upcast`).

    flatten(2) is a view for both contiguous and channels-last maps; bmm takes the strides as is.
    """
    return _upcast(features.flatten(2))


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
    """Σ_l w_l · MSE(Gram_l(x), A_l) against fixed target Grams A_l (computed once, no grad).

    Use it either on a features dict (``loss(features)``) or as encoder taps (``taps``), which
    give the same value and gradient, faster.
    """

    def __init__(self, target_grams: Mapping[str, torch.Tensor], layer_weights: Mapping[str, float]) -> None:
        self.layer_weights = dict(layer_weights)
        self.targets = {layer: target_grams[layer].detach() for layer in self.layer_weights}

    @classmethod
    def from_features(
        cls,
        style_features: Features | Sequence[Features],
        layer_weights: Mapping[str, float],
        blend: Sequence[float] | None = None,
    ) -> GramStyleLoss:
        """Targets from one style image's features, or a ``blend``-weighted mix of several
        images' Grams (Gatys 2015's style mixing; weights are normalised to sum 1)."""
        many = [style_features] if isinstance(style_features, Mapping) else list(style_features)
        mix = blend_weights(blend, len(many))
        with torch.no_grad():
            targets = {
                layer: cast(torch.Tensor, sum(m * gram_matrix(f[layer]) for m, f in zip(mix, many, strict=True)))
                for layer in layer_weights
            }
        return cls(targets, layer_weights)

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


def guided_gram(features: torch.Tensor, guides: torch.Tensor) -> torch.Tensor:
    """Guided Grams (R, C, C) of one feature map (1, C, h, w) under normalised guides (R, h, w):
    ``G_r = (F∘T_r)(F∘T_r)ᵀ / (C·h·w)``, all regions in one batched matmul."""
    return batch_guided_grams(features[:1], guides[None])[0]


def batch_guided_grams(features: torch.Tensor, guides: torch.Tensor) -> torch.Tensor:
    """:func:`guided_gram` for a batch: (B, R, C, C) from features (B, C, h, w) and each item's
    own guides (B, R, h, w); accumulated in fp32 even under autocast."""
    b, c, h, w = features.shape
    flat = _upcast(features.reshape(b, 1, c, h * w))
    weighted = flat * guides.reshape(b, guides.shape[1], 1, h * w).to(flat)
    with torch.autocast(device_type=flat.device.type, enabled=False):
        return torch.matmul(weighted, weighted.transpose(-1, -2)).div_(c * h * w)


class _GuidedGramMSETap(torch.autograd.Function):
    """Guided version of :class:`_GramMSETap`: ``(F, Σ_r w_r · mean((G_r(F) − A_r)²))``.

    ``G_r = X_rᵀ X_r / (C·h·w)`` with ``X_r`` the rows (pixels) of F in region r's support,
    scaled by the guide there. Each region's pixels are gathered in chunks of one common length
    (a region's Gram is the sum of its chunks' Grams), so R regions cost about as much as one
    Gram of the whole map when they do not overlap, however unequal their sizes, instead of R
    full-size products; every chunk of every region goes through one batched matmul.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        features: torch.Tensor,
        support: GuideSupport,
        targets: torch.Tensor,
        weights: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        ctx.set_materialize_grads(False)
        _, c, h, w = features.shape
        rows = _upcast(features[0].permute(1, 2, 0).reshape(h * w, c))  # a view for channels-last maps
        with torch.autocast(device_type=rows.device.type, enabled=False):
            gathered = rows[support.index].mul_(support.values.unsqueeze(-1).to(rows.dtype))  # (chunks, L, C)
            partial = torch.bmm(gathered.transpose(1, 2), gathered)
            grams = partial.new_zeros(targets.shape).index_add_(0, support.owner, partial).div_(c * h * w)
            diff = grams - targets
            loss = (diff.pow(2).mean(dim=(1, 2)) * weights).sum()
        ctx.save_for_backward(gathered, diff, weights)
        ctx.support = support
        ctx.scale = 1.0 / (c * h * w)
        ctx.shape, ctx.dtype = features.shape, features.dtype
        return features.view_as(features), loss

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor | None, grad_loss: torch.Tensor | None) -> tuple[Any, ...]:
        if grad_loss is None:
            return grad_out, None, None, None
        gathered, diff, weights = ctx.saved_tensors
        support = ctx.support
        _, c, h, w = ctx.shape
        # d loss / d X_r = X_r E_r with E_r = 4 w_r (G_r − A_r) / (C² · C·h·w), symmetric.
        error = diff * (weights * (4.0 * ctx.scale / (c * c)) * grad_loss).view(-1, 1, 1)
        with torch.autocast(device_type=gathered.device.type, enabled=False):
            pulled = torch.bmm(gathered, error[support.owner]).mul_(support.values.unsqueeze(-1).to(gathered.dtype))
            if grad_out is None:
                grad = torch.zeros((1, h, w, c), dtype=gathered.dtype, device=gathered.device)
            else:
                grad = grad_out.permute(0, 2, 3, 1).to(gathered.dtype, copy=True).contiguous()
            grad.view(h * w, c).index_add_(0, support.index.reshape(-1), pulled.reshape(-1, c))
        return grad.permute(0, 3, 1, 2).to(ctx.dtype), None, None, None


@dataclass(frozen=True)
class GuideSupport:
    """Where the guides of one layer are non-zero, in equal-length chunks.

    ``index[k]`` / ``values[k]``: pixel indices and guide values of chunk k; ``owner[k]``: its
    region. Padding has value 0 (adds nothing either way) and distinct indices (no collisions in
    the scatter of the backward pass).
    """

    index: torch.Tensor  # (chunks, L) long
    values: torch.Tensor  # (chunks, L)
    owner: torch.Tensor  # (chunks,) long

    @classmethod
    def of(cls, guides: torch.Tensor) -> GuideSupport:
        flat = guides.reshape(len(guides), -1)
        members = [torch.nonzero(row, as_tuple=True)[0] for row in flat]
        length = max(1, -(-sum(len(m) for m in members) // len(members)))
        index, values, owner = [], [], []
        for region, member in enumerate(members):
            for start in range(0, len(member), length):
                chunk = member[start : start + length]
                pad = length - len(chunk)
                index.append(torch.cat([chunk, torch.arange(pad, device=flat.device) % flat.shape[1]]))
                values.append(torch.cat([flat[region, chunk], flat.new_zeros(pad)]))
                owner.append(region)
        if not index:  # no region has a pixel here
            return cls(
                flat.new_zeros((1, 1), dtype=torch.long), flat.new_zeros((1, 1)), flat.new_zeros(1, dtype=torch.long)
            )
        return cls(torch.stack(index), torch.stack(values), torch.tensor(owner, device=flat.device))

    def to(self, device: torch.device) -> GuideSupport:
        return GuideSupport(self.index.to(device), self.values.to(device), self.owner.to(device))


class GuidedGramStyleLoss:
    """Gatys 2016 spatial control: Σ_l w_l Σ_r gw_r · MSE(G_r,l(x), G_r,l(style)).

    ``target_grams[layer]`` are the style's guided Grams (R, C, C) (see :func:`guided_gram`);
    ``content_guides[layer]`` the output's normalised guides (R, h, w); ``weights[layer]`` the
    per-region weights w_l · gw_r, zero where a region is empty on either side at that layer.
    """

    def __init__(
        self,
        target_grams: Mapping[str, torch.Tensor],
        content_guides: Mapping[str, torch.Tensor],
        weights: Mapping[str, torch.Tensor],
    ) -> None:
        self.targets = {layer: t.detach() for layer, t in target_grams.items()}
        self.guides = dict(content_guides)
        self.weights = dict(weights)
        self.supports = {layer: GuideSupport.of(guides) for layer, guides in self.guides.items()}

    def __call__(self, features: Features) -> torch.Tensor:
        terms = []
        for layer, target in self.targets.items():
            per_region = (guided_gram(features[layer], self.guides[layer]) - target).pow(2).mean(dim=(1, 2))
            terms.append((per_region * self.weights[layer]).sum())
        return torch.stack(terms).sum()

    def taps(self, terms: dict[str, torch.Tensor]) -> dict[str, Tap]:
        """Encoder taps that compute each layer's weighted term into ``terms[layer]``."""

        def tap_for(layer: str) -> Tap:
            def tap(features: torch.Tensor) -> torch.Tensor:
                out, terms[layer] = _GuidedGramMSETap.apply(
                    features, self.supports[layer], self.targets[layer], self.weights[layer]
                )
                return out

            return tap

        return {layer: tap_for(layer) for layer in self.targets}


def blend_weights(blend: Sequence[float] | None, n: int) -> list[float]:
    if blend is None:
        return [1.0 / n] * n
    if len(blend) != n or not all(b >= 0 for b in blend) or sum(blend) <= 0:
        raise InputError(f"style-blend needs {n} weights >= 0 (one per style image), not all 0; got {list(blend)}")
    return [float(b) / sum(blend) for b in blend]


def layer_weights(layers: Sequence[str], weights: Sequence[float] | None = None) -> dict[str, float]:
    """Pair style layers with their weights (all 1 when ``weights`` is None)."""
    if weights is None:
        weights = [1.0] * len(layers)
    if len(weights) != len(layers):
        raise InputError(f"{len(layers)} style layers but {len(weights)} style layer weights; give one per layer")
    return dict(zip(layers, (float(w) for w in weights), strict=True))


# --- batches (fast-style training) ----------------------------------------------------------------


def batch_gram_loss(features: Features, style_grams: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Gram loss of a batch against one style: ``Σ_l mean((G_l(F_b) − A_l)²)`` over the batch's
    images and the layers of ``style_grams`` (each (1, C, C))."""
    return sum(  # type: ignore[return-value]
        F.mse_loss(gram_matrix(features[k]), target.expand(len(features[k]), -1, -1))
        for k, target in style_grams.items()
    )


def batch_guided_gram_loss(
    features: Features,
    guides: Mapping[str, torch.Tensor],
    style_grams: Mapping[str, torch.Tensor],
) -> torch.Tensor:
    """Guided Gram loss of a batch, averaged over it: ``Σ_l Σ_r w_r · mean((G_r(F_l) − A_r)²)``
    with ``G_r = (F∘T_r)(F∘T_r)ᵀ / (C·h·w)`` under each image's normalised guides ``T`` (B, R, h, w)
    and ``w_r = 1/R'`` over the R' labels present in that image (the authors' 1/R)."""
    total = torch.zeros(())
    for layer, target in style_grams.items():
        f = features[layer]
        guide = guides[layer].to(f.device)
        grams = batch_guided_grams(f, guide)  # (B, R, C, C)
        present = guide.flatten(2).any(dim=2).float()  # (B, R)
        weights = present / present.sum(dim=1, keepdim=True).clamp_min(1)
        per_region = (grams - target.to(grams)).pow(2).mean(dim=(-2, -1))
        total = total.to(f.device) + (weights * per_region).sum() / len(f)
    return total
