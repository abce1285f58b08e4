"""The border of a Gatys result: no coloured fringe (the outermost pixel jumping from its neighbour
more than neighbours do inside), thanks to the canvas margin of :mod:`pipeline.gatys.transfer`;
and the measure, :func:`pipeline.synthetic.measures.edge_jumps`, on images with a known answer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline import io
from pipeline.core.channels import one_hot
from pipeline.core.features import VGGEncoder
from pipeline.core.guidance import Regions
from pipeline.gatys import GatysConfig, transfer
from pipeline.gatys.canvas import CANVAS_MARGIN, canvas_shape, crop, extend
from pipeline.samples import sample_image
from pipeline.synthetic.measures import edge_jumps

#: The done criterion of the fringe: every border within 1.3x the interior's jump.
WITHIN = 1.3


def _texture(height: int = 64, width: int = 80, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(60, 190, (height, width, 3)).astype(np.uint8)


def test_edge_jumps_sees_a_one_pixel_fringe_and_nothing_in_a_clean_image() -> None:
    clean = _texture()
    assert edge_jumps(clean)["worst"] < WITHIN
    fringed = clean.copy()
    fringed[-1] = (255, 0, 255)  # a magenta bottom row
    found = edge_jumps(fringed)
    assert found["bottom"] > 2 and found["worst"] == found["bottom"]
    assert max(found["top"], found["left"], found["right"]) < WITHIN
    # The same fringe as a tensor in [0, 1] (as transfer returns it) scores the same.
    as_tensor = torch.from_numpy(fringed).permute(2, 0, 1)[None].float() / 255
    assert edge_jumps(as_tensor) == pytest.approx(found)


def test_edge_jumps_compares_a_calm_strip_with_the_whole_interior() -> None:
    """A flat dark strip along a border has tiny jumps everywhere (4 levels) and a slightly larger
    one at the border (9 levels): no fringe anyone sees, and not one by the measure."""
    image = _texture().astype(float)
    image[:, -12:] = 10 + np.random.default_rng(1).integers(0, 2, (64, 12, 3))
    image[:, -1] += 3
    assert edge_jumps(image.astype(np.uint8))["right"] < 1


def test_the_canvas_mirrors_the_image_and_crops_back() -> None:
    image = torch.rand(1, 3, 20, 30)
    canvas = extend(image, CANVAS_MARGIN)
    assert canvas.shape == (1, 3, 20 + 2 * CANVAS_MARGIN, 30 + 2 * CANVAS_MARGIN) == canvas_shape(image.shape)
    assert torch.equal(crop(canvas, CANVAS_MARGIN), image)
    # Mirrored at the border, the border pixel not repeated.
    assert torch.equal(canvas[..., CANVAS_MARGIN - 1, CANVAS_MARGIN:-CANVAS_MARGIN], image[..., 1, :])
    guides = torch.rand(2, 20, 30)  # (R, H, W), as regions hold them
    assert extend(guides, 1).shape == (2, 22, 32)
    assert canvas_shape((1, 3, 2, 40)) == (1, 3, 4, 42)  # too small to mirror CANVAS_MARGIN px: 1


def test_terms_snapshots_and_the_result_see_the_image_not_the_canvas(images, tiny) -> None:
    content, style = images
    seen: list[tuple[int, ...]] = []

    def term(image: torch.Tensor) -> dict[str, torch.Tensor]:
        seen.append(tuple(image.shape))
        return {"extra": image.mean()}

    snapshots: list[tuple[int, ...]] = []
    result = transfer(
        content,
        style,
        GatysConfig(size=48, steps=4),
        encoder=tiny,
        terms=[term],
        snapshot=lambda step, image, loss: snapshots.append(tuple(image.shape)),
        snapshot_every=2,
    )
    assert result.image.shape == content.shape
    assert set(seen) == {tuple(content.shape)}
    assert snapshots == [tuple(content.shape)] * 2


def test_guided_transfer_takes_its_guides_onto_the_canvas(images, tiny) -> None:
    content, style = images
    content_labels = np.zeros(content.shape[-2:], int)
    content_labels[:, 20:] = 1
    style_labels = np.zeros(style.shape[-2:], int)
    style_labels[30:] = 1
    regions = Regions(
        names=("a", "b"),
        content=one_hot(content_labels, range(2)),
        styles=(one_hot(style_labels, range(2)),),
        sources=((0, 1),),
        weights=torch.full((2,), 0.5),
    )
    result = transfer(content, style, GatysConfig(size=48, steps=3), encoder=tiny, regions=regions)
    assert result.image.shape == content.shape


# --- Gatys results -------------------------------------------------------------------------------

#: Demo pairs whose results had the fringe (random VGG-19, 64 px, 30 evaluations: worst border
#: 1.84-2.21x the interior's before the canvas, 0.66-0.98x with it).
PAIRS = [("chelsea", "hubble_deep_field"), ("coffee", "hubble_deep_field"), ("astronaut", "retina")]
SIZE, STEPS = 64, 30


def _sample(name: str) -> torch.Tensor:
    """A demo image at the test's size, as ``stylesnake transfer --size`` loads it."""
    return io.image_to_tensor(io.resize_long_side(sample_image(name), SIZE))


@pytest.fixture(scope="module")
def vgg() -> VGGEncoder:
    config = GatysConfig()
    return VGGEncoder(config.layers, weights="random")


@pytest.mark.slow
@pytest.mark.parametrize(("content_name", "style_name"), PAIRS, ids=[f"{c}-{s}" for c, s in PAIRS])
def test_gatys_results_have_no_fringe(vgg: VGGEncoder, content_name: str, style_name: str) -> None:
    content, style = _sample(content_name), _sample(style_name)
    config = GatysConfig(size=SIZE, steps=STEPS, device="cpu")

    def worst(canvas_margin: int) -> float:
        result = transfer(content, style, config, encoder=vgg, canvas_margin=canvas_margin)
        return edge_jumps(io.image_to_tensor(io.tensor_to_image(result.image)))["worst"]  # as saved, 8 bits

    assert worst(CANVAS_MARGIN) <= WITHIN
    assert worst(0) > 1.5  # the image alone has the fringe: the test can tell
