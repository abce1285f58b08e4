"""Temporal consistency: each frame starts from the previous result carried along the flow, and a
temporal loss holds it there wherever the flow can be trusted (Ruder et al. 2016).

The temporal loss of frame t is ``λ / D · Σ_j Σ_k c_jk (x_k − ω_jk)²`` (D = C·H·W): ω_j is the
result of an earlier frame warped onto this one along the backward flow, c_j its certainty
(:func:`pipeline.video.flow.certainty`); with the long-term option the earlier frames are t−1,
t−2 and t−4, each counting only where no closer one is certain (Ruder's weights).

λ is the user's ``--temporal-weight`` times the clip's *reference loss*: the loss of the first
frame's photo against the style (content and style terms at the photo itself). The optimiser is
scale-free (:mod:`pipeline.optim`), so only the ratio between the terms matters; tying λ to that
loss makes one weight mean the same with ImageNet or random VGG weights and any style weight
(Ruder's λ = 1e3 was tuned for one network and one normalisation).

See the README's video section for the measurements behind the defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from pipeline.video.flow import warp

#: Earlier frames the long-term option looks back to (Ruder et al.'s J = {1, 2, 4}).
LONG_TERM = (1, 2, 4)


@dataclass(frozen=True)
class Warped:
    """An earlier result brought onto this frame, and where that can be trusted."""

    image: torch.Tensor  # (1, 3, H, W) in [0, 1]
    certainty: torch.Tensor  # (1, 1, H, W) in [0, 1]


def warped(result: np.ndarray, flow: np.ndarray, certainty: np.ndarray, *, resampling: str) -> Warped:
    """``result`` (an earlier frame's, (H, W, 3) uint8) warped along ``flow`` (this frame towards
    that one) as tensors."""
    image = warp(result.astype(np.float32) / 255, flow, resampling=resampling).clip(0, 1)
    return Warped(
        torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None],
        torch.from_numpy(np.ascontiguousarray(certainty, dtype=np.float32))[None, None],
    )


def start_image(previous: Warped) -> torch.Tensor:
    """A later frame's start: the previous result warped onto it, everywhere, as Ruder et al.'s
    paper starts.

    Not the photo where the flow is uncertain: that reads well (a disoccluded pixel has no
    previous result) but the certainty check also fails in flat, dark or noisy parts of a frame
    that did not move, and a pixel started from the photo is repainted from scratch, a new
    texture in every frame, where the temporal term cannot hold it. Measured with the true flow
    (``bench_video.py``, 8 frames, weight 3): on a zoom over a dark photo, where 11 % of truly
    visible pixels fail the check, the warping error went from 1.06x the independent frames' to
    0.27x; on the astronaut pan from 0.24x to 0.21x at a style loss of 0.69x instead of 0.80x.
    What a warp drags into a truly disoccluded pixel is only a start: the style and content terms
    repaint it, free of the temporal term."""
    return previous.image.contiguous()


class TemporalLoss:
    """The temporal term of one frame (a criterion term, see :mod:`pipeline.gatys.criterion`)."""

    def __init__(self, previous: Sequence[Warped], weight: float) -> None:
        self.previous = list(previous)
        self.weight = weight

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        total = image.new_zeros(())
        for earlier in self.previous:
            target = earlier.image.to(image)
            c = earlier.certainty.to(image)
            total = total + (c * (image - target) ** 2).mean()
        return {"temporal": self.weight * total}
