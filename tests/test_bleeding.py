"""Spatial control works without ImageNet weights: with a seeded random VGG, guided transfer keeps
each content region in its own style region's colours, and unguided transfer does not.

Scene (pipeline.synthetic.two_region_scene): grey astronaut split left | right; style red bricks
above, blue grass below. 128 px, 100 L-BFGS evaluations, style weight 1e7 (with random weights
the style terms are small; 1e7 makes style, not content, decide the colours, guided or not).
Measured (benchmarks/bench_guided.py): unguided 0.62, simple 0.09, inside 0.04, all 0.09.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.features import VGGEncoder
from pipeline.gatys import GatysConfig, transfer
from pipeline.guidance import Regions, bleeding, one_hot
from pipeline.synthetic import two_region_scene

pytestmark = pytest.mark.slow


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]


@pytest.fixture(scope="module")
def scene():
    content, content_labels, style, style_labels = two_region_scene(128)
    regions = Regions(
        names=("bricks", "grass"),
        content=one_hot(content_labels, [0, 1]),
        styles=(one_hot(style_labels, [0, 1]),),
        sources=((0, 1),),
        weights=torch.tensor([0.5, 0.5]),
    )
    encoder = VGGEncoder(GatysConfig().layers, weights="random")
    return _tensor(content), content_labels, _tensor(style), style_labels, regions, encoder


def _bleeding(scene, mode: str | None) -> float:
    content, content_labels, style, style_labels, regions, encoder = scene
    config = GatysConfig(size=128, steps=100, style_weight=1e7, guide_mode=mode or "simple")
    result = transfer(content, style, config, encoder=encoder, regions=regions if mode else None)
    return float(np.mean(bleeding(result.image, content_labels, style, style_labels)))


@pytest.fixture(scope="module")
def unguided(scene) -> float:
    return _bleeding(scene, None)


def test_unguided_transfer_bleeds(unguided: float) -> None:
    assert unguided > 0.5


# Locked in with a margin below the measured values (simple 0.092, inside 0.043, all 0.090), and
# well under the 0.12.
@pytest.mark.parametrize(("mode", "bound"), [("simple", 0.105), ("inside", 0.06), ("all", 0.105)])
def test_guided_transfer_does_not_bleed(scene, unguided: float, mode: str, bound: float) -> None:
    guided = _bleeding(scene, mode)
    assert guided <= bound
    assert guided < unguided / 5
