"""Guides (Gatys et al., "Controlling Perceptual Factors in Neural Style Transfer", CVPR 2017):
one channel per region, from image resolution to every VGG layer.

Propagation to a layer (``mode``), following the authors' three choices:

- ``simple``: the guide resized to the layer's size. We resize by area, following the network's
  own pooling grid, so a value is the share of the layer cell the region covers (the authors zoom
  cubically; area resampling gives the same soft guide without overshoot).
- ``all``: a neuron belongs to the region if its receptive field touches the region.
- ``inside``: a neuron belongs only if its receptive field lies entirely inside the region (pixels
  outside the image do not count against it, as zero padding never varies).

``all`` and ``inside`` are computed exactly, by pushing the mask through the network's own
structure: a 3×3 convolution widens the receptive field by one pixel each side (a 3×3 max filter
for ``all``, min filter for ``inside``), a 2×2 pooling halves the grid (2×2 max / min). With
``grow`` k ≠ 0 the binary guide (``simple`` thresholded at 0.5) is then grown (k > 0) or shrunk
(k < 0) by ``|k|`` feature-map pixels.

Normalisation: each propagated guide is divided by its RMS over the feature map, so a region's
guided Gram is the mean of f fᵀ over the region's own area, not the image's: the same texture in
a small and a large region gives the same guided Gram.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pipeline.errors import InputError

GUIDE_MODES = ("simple", "inside", "all")


def one_hot(labels: np.ndarray, indices: Sequence[int]) -> torch.Tensor:
    """(R, H, W) float guides: channel r is 1 where ``labels == indices[r]``."""
    tensor = torch.from_numpy(labels.astype(np.int64))
    return torch.stack([(tensor == index).float() for index in indices])


def _dilate(x: torch.Tensor, steps: int) -> torch.Tensor:
    for _ in range(steps):
        x = F.max_pool2d(x, 3, stride=1, padding=1)
    return x


def _erode(x: torch.Tensor, steps: int, *, outside: float = 1.0) -> torch.Tensor:
    # Min filter; beyond the border counts as ``outside`` (1: the image edge is not the region's).
    for _ in range(steps):
        x = -F.max_pool2d(-F.pad(x, (1, 1, 1, 1), value=outside), 3, stride=1)
    return x


def propagate(
    guides: torch.Tensor,
    body: nn.Sequential,
    layers: Mapping[int, str],
    *,
    mode: str = "simple",
    grow: int = 0,
) -> dict[str, torch.Tensor]:
    """Guides (R, H, W) at image resolution → ``{layer: (R, h, w)}`` for the layers of ``body``
    at the indices in ``layers`` (an encoder's ``wanted``), normalised by their RMS."""
    if mode not in GUIDE_MODES:
        raise InputError(f"unknown guide mode '{mode}'; use one of {', '.join(GUIDE_MODES)}")
    x = guides.float().unsqueeze(0)  # (1, R, H, W): regions as channels
    if mode != "simple":
        x = (x > 0.5).float()
    out: dict[str, torch.Tensor] = {}
    for index, module in enumerate(body):
        if isinstance(module, nn.Conv2d):
            if mode == "all":
                x = _dilate(x, 1)
            elif mode == "inside":
                x = _erode(x, 1)
        elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
            if mode == "simple":
                x = F.avg_pool2d(x, 2, 2)
            elif mode == "all":
                x = F.max_pool2d(x, 2, 2)
            else:
                x = -F.max_pool2d(-x, 2, 2)
        if index in layers:
            guide = x
            if grow:
                guide = (guide > 0.5).float() if mode == "simple" else guide
                guide = _dilate(guide, grow) if grow > 0 else _erode(guide, -grow)
            out[layers[index]] = normalise(guide[0])
    return out


def normalise(guides: torch.Tensor) -> torch.Tensor:
    """Divide each (h, w) guide by its RMS over the map; an empty guide stays all zeros."""
    rms = guides.pow(2).mean(dim=(-2, -1), keepdim=True).sqrt()
    return torch.where(rms > 0, guides / rms.clamp_min(1e-12), torch.zeros_like(guides))
