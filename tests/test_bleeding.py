"""Spatial control generalises: on the ten guided scenes of pipeline.synthetic.guided_scenes (2–4
regions: halves, an enclosed region, a thin band, a 5 % corner, stripes across stripes, organic
regions, a hand-painted mask, natural style images), a seeded random VGG-19 and the default
settings (simple guides, style weight 1e6), guided transfer keeps each content region in its own
style region's colours, and unguided transfer does not.

The suite runs here at 96 px and 80 evaluations to keep the tests short; benchmarks/bench_guided.py
runs it at 128 px / 100 (README: mean 0.024, worst 0.048, worst ratio to unguided 0.09).
"""

from __future__ import annotations

import statistics

import numpy as np
import pytest
import torch

from pipeline.core.channels import one_hot
from pipeline.core.features import VGGEncoder
from pipeline.core.guidance import Regions
from pipeline.gatys import GatysConfig, transfer
from pipeline.synthetic import GuidedScene, guided_scenes
from pipeline.synthetic.measures import bleeding

pytestmark = pytest.mark.slow

SIZE, STEPS = 96, 80


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].float()


def _regions(scene: GuidedScene) -> Regions:
    r = scene.regions
    return Regions(
        names=tuple(map(str, range(r))),
        content=one_hot(scene.content_labels, range(r)),
        styles=(one_hot(scene.style_labels, range(r)),),
        sources=(tuple(range(r)),),
        weights=torch.full((r,), 1 / r),
    )


@pytest.fixture(scope="module")
def measured() -> dict[str, tuple[float, float]]:
    """Per scene: (guided, unguided) bleeding at the default settings."""
    encoder = VGGEncoder(GatysConfig().layers, weights="random")
    config = GatysConfig(size=SIZE, steps=STEPS)
    out = {}
    for scene in guided_scenes(SIZE):
        content, style = _tensor(scene.content), _tensor(scene.style)
        values = []
        for regions in (_regions(scene), None):
            result = transfer(content, style, config, encoder=encoder, regions=regions)
            values.append(float(np.mean(bleeding(result.image, scene.content_labels, style, scene.style_labels))))
        out[scene.name] = (values[0], values[1])
    return out


def test_the_suite_has_ten_different_scenes(measured) -> None:
    scenes = guided_scenes(SIZE)
    assert len(scenes) == 10 and len({s.name for s in scenes}) == 10
    assert {s.regions for s in scenes} == {2, 3, 4}
    assert len({s.content.shape for s in scenes}) >= 3  # square, landscape and portrait


def test_unguided_transfer_bleeds(measured) -> None:
    unguided = [u for _, u in measured.values()]
    assert statistics.mean(unguided) > 0.4


def test_guided_transfer_keeps_regions_apart_on_every_scene(measured) -> None:
    guided = {name: g for name, (g, _) in measured.items()}
    # Measured (torch 2.14, AVX-512 Xeon: its own kernels at 2 threads; ATEN_CPU_CAPABILITY=default
    # with oneDNN at SSE4.1, 1 thread; avx2 with oneDNN at AVX2, 2 threads, five scenes with the 3 worst):
    # mean 0.028-0.029, worst 0.055-0.065 (thin band, organic 4), worst ratio to unguided 0.12-0.14
    # (thin band): the bounds are over 2x beyond. Unguided mean 0.54-0.55 (the bound on it: 0.4).
    assert statistics.mean(guided.values()) <= 0.10, guided
    assert max(guided.values()) <= 0.15, guided
    for name, (g, u) in measured.items():
        assert g <= 0.35 * u, (name, g, u)


def test_guided_coarse_to_fine_does_not_bleed_at_its_final_size(tmp_path) -> None:
    """Guides recomputed per stage: 64 px (60 evaluations) then 128 px (60), from files and masks."""
    from PIL import Image

    from pipeline.gatys import transfer_files
    from pipeline.io import image_to_tensor
    from pipeline.masks.pairs import Guidance
    from pipeline.synthetic import two_region_scene

    content, content_labels, style, style_labels = two_region_scene(128)
    colours = np.array([(200, 30, 30), (30, 30, 200)], np.uint8)
    paths = {}
    for name, array in (("content", content), ("style", style)):
        paths[name] = tmp_path / f"{name}.png"
        Image.fromarray((array * 255).round().astype(np.uint8)).save(paths[name])
    for name, labels in (("content_mask", content_labels), ("style_mask", style_labels)):
        paths[name] = tmp_path / f"{name}.png"
        Image.fromarray(colours[labels]).save(paths[name])
    config = GatysConfig(size=128, steps=60, stage_steps=60, scales=(64, 128), seed=0)
    guidance = Guidance(str(paths["content_mask"]), (str(paths["style_mask"]),), k=2)
    out = tmp_path / "out.png"
    metadata = transfer_files(paths["content"], paths["style"], out, config, weights="random", guidance=guidance)
    assert [s["width"] for s in metadata["stages"]] == [64, 128]
    assert metadata["converged"]
    result = image_to_tensor(Image.open(out))
    shares = bleeding(result, content_labels, _tensor(style), style_labels)
    assert float(np.mean(shares)) <= 0.05, shares  # measured 0.008-0.010 (the kernels and threads above)
