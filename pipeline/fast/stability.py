"""Stable fast networks: a temporal term at training time (Gupta et al. 2017, Huang et al. 2017,
ReCoNet 2018), so that a network stylising a clip frame by frame does not flicker.

Each training crop is paired with the same crop moved by a random known motion: a shift, a small
zoom and rotation (one affine map, so the flow is exact), a brightness change and a little sensor
noise. The network sees both; the temporal term penalises the difference between "stylise, then
move" and "move, then stylise" where the motion is certain (pixels that came from inside the
crop), less the brightness change the input itself went through (ReCoNet's luminance term: a
frame that gets brighter may get brighter in the output too, nothing else may change):

    T = mean over certain pixels of ‖(N(M x) − M N(x)) − Y(M x − M x̄)‖²

with M the motion, x̄ the crop before its brightness change, Y the luminance. The noise is not
subtracted: the output should not follow it at all (Gupta's noise stability).

The term is weighed against the perceptual loss of the same step, not in absolute units:
``temporal_weight × (content + style).detach() × T``. At weight W a mean squared flicker of 1/W
costs as much as the content and style terms together, whatever the loss network's weights or the
style weight (ImageNet and random VGG weights give perceptual losses orders of magnitude apart).
The default (30) is chosen in ``benchmarks/bench_video.py --fast`` (docs/guides/fast-video.md).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from pipeline.core.color import luminance

_MOTION_STREAM = 0x6D6F7665  # "move": tells the motions' seeds from the batches'


@dataclass(frozen=True)
class Motion:
    """How far a training pair's second crop moves (each drawn uniformly within ±)."""

    shift: float = 0.06  # of the crop's side
    zoom: float = 0.06  # relative scale
    rotate: float = 4.0  # degrees
    brightness: float = 0.10  # relative gain
    noise: float = 0.01  # std of additive noise, in [0, 1] units


@dataclass(frozen=True)
class Pair:
    """A batch moved by known motions, and how to bring anything else along the same motions."""

    moved: torch.Tensor  # (B, 3, H, W): the crops moved, brighter or darker, noisy
    grid: torch.Tensor  # (B, H, W, 2): where each pixel of a moved crop came from (grid_sample's units)
    certainty: torch.Tensor  # (B, 1, H, W): 1 where it came from inside the crop
    lighting: torch.Tensor  # (B, 1, H, W): the luminance change brightness alone made

    def to(self, device: torch.device) -> Pair:
        return Pair(*(t.to(device, non_blocking=True) for t in (self.moved, self.grid, self.certainty, self.lighting)))

    def bring(self, x: torch.Tensor, *, mode: str = "bilinear") -> torch.Tensor:
        """``x`` (B, C, H, W), aligned with the crops, moved as they were."""
        return F.grid_sample(x, self.grid.to(x.dtype), mode=mode, padding_mode="border", align_corners=False)


def motion_generator(seed: int, step: int) -> torch.Generator:
    """The random numbers of step ``step``'s motions: a pure function of (seed, step), as the
    step's batch is (so resuming stays exact), but a stream of its own, not the numbers that chose
    the batch's crops and flips (a crop's zoom would follow its flip)."""
    state = np.random.SeedSequence([seed, step, _MOTION_STREAM]).generate_state(2, np.uint64)
    return torch.Generator().manual_seed(int(state[0] >> np.uint64(1)))


def moved_pair(batch: torch.Tensor, generator: torch.Generator, motion: Motion = Motion()) -> Pair:
    """The batch (B, 3, H, W) in [0, 1], each crop moved by its own random motion drawn from
    ``generator`` (so a step's pair is a pure function of its seed, like its batch)."""
    b = batch.shape[0]

    def uniform(limit: float, *shape: int) -> torch.Tensor:
        return (torch.rand((b, *shape), generator=generator) * 2 - 1) * limit

    angle = uniform(math.radians(motion.rotate))
    scale = 1 + uniform(motion.zoom)
    shift = uniform(2 * motion.shift, 2)  # grid units span 2 per side
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    gain = (1 + uniform(motion.brightness)).view(b, 1, 1, 1)
    noise = torch.randn(batch.shape, generator=generator) * motion.noise
    grid = F.affine_grid(theta.to(batch), list(batch.shape), align_corners=False)
    inside = (grid.abs() <= 1).all(dim=-1, keepdim=True).permute(0, 3, 1, 2).to(batch.dtype)
    # A pixel whose neighbourhood reaches outside is uncertain too (border padding repeats the edge).
    certainty = -F.max_pool2d(-inside, 5, stride=1, padding=2)
    still = F.grid_sample(batch, grid, mode="bilinear", padding_mode="border", align_corners=False)
    lit = (still * gain).clamp(0, 1)
    lighting = luminance(lit) - luminance(still)
    moved = (lit + noise.to(batch)).clamp(0, 1)
    return Pair(moved, grid, certainty, lighting)


def guided_pair(pair: Pair, guides: torch.Tensor) -> tuple[Pair, torch.Tensor]:
    """For guided training: the guides (B, labels, H, W, one-hot) moved as the crops were (nearest:
    a label stays a label), and the pair no longer certain where regions meet. There the moved
    output is resampled across the boundary while the network, told the moved guides, may keep
    it sharp: the term would teach it to blur regions into each other."""
    moved = pair.bring(guides, mode="nearest")
    across = (pair.bring(guides) - moved).abs().amax(dim=1, keepdim=True) > 1e-3
    near = F.max_pool2d(across.to(pair.certainty.dtype), 5, stride=1, padding=2)
    return dataclasses.replace(pair, certainty=pair.certainty * (1 - near)), moved


def temporal_term(output: torch.Tensor, moved_output: torch.Tensor, pair: Pair) -> torch.Tensor:
    """``T`` above: the certainty-weighted mean squared difference between the moved crops'
    outputs and the outputs moved, less the lighting change."""
    difference = moved_output.float() - pair.bring(output.float()) - pair.lighting
    weight = pair.certainty.float()
    return (weight * difference.square()).sum() / (weight.sum() * difference.shape[1]).clamp_min(1)
