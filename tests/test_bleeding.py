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


def test_guided_coarse_to_fine_does_not_bleed_at_its_final_size(tmp_path) -> None:
    """Guides recomputed per stage: 64 px (60 evaluations) then 128 px (60), from files and masks."""
    from PIL import Image

    from pipeline.gatys import transfer_files
    from pipeline.guidance import Guidance
    from pipeline.io import image_to_tensor

    content, content_labels, style, style_labels = two_region_scene(128)
    colours = np.array([(200, 30, 30), (30, 30, 200)], np.uint8)
    paths = {}
    for name, array in (("content", content), ("style", style)):
        paths[name] = tmp_path / f"{name}.png"
        Image.fromarray((array * 255).round().astype(np.uint8)).save(paths[name])
    for name, labels in (("content_mask", content_labels), ("style_mask", style_labels)):
        paths[name] = tmp_path / f"{name}.png"
        Image.fromarray(colours[labels]).save(paths[name])
    config = GatysConfig(size=128, steps=60, stage_steps=60, scales=(64, 128), style_weight=1e7, seed=0)
    guidance = Guidance(str(paths["content_mask"]), (str(paths["style_mask"]),), k=2)
    out = tmp_path / "out.png"
    metadata = transfer_files(paths["content"], paths["style"], out, config, weights="random", guidance=guidance)
    assert [s["width"] for s in metadata["stages"]] == [64, 128]
    result = image_to_tensor(Image.open(out))
    shares = bleeding(result, content_labels, _tensor(style), style_labels)
    assert float(np.mean(shares)) <= 0.105, shares
