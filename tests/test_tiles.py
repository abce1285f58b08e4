"""Tiled transfer (``--tile``): the tiles partition the image, the tiled criterion gives the untiled
loss and gradient (exactly where the margin covers the receptive field), a tiled transfer shows no
seams, and the CLI records the tiling."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pipeline.cli import main
from pipeline.core import targets as style_targets
from pipeline.core.channels import one_hot
from pipeline.core.guidance import Regions
from pipeline.errors import InputError
from pipeline.gatys import GatysConfig, build_criterion, transfer
from pipeline.gatys import tiles as tiling

#: Layers whose receptive field (radius 12 px at relu3_1) a 16 px margin covers: tiling is exact.
SHALLOW = GatysConfig(content_layer="relu2_1", style_layers=("relu1_1", "relu2_1", "relu3_1"))


def _loss_and_gradient(criterion, image: torch.Tensor) -> tuple[dict[str, float], torch.Tensor]:
    x = image.clone().requires_grad_(True)
    terms = criterion(x)
    torch.stack(list(terms.values())).sum().backward()
    assert x.grad is not None
    return {name: float(value.detach()) for name, value in terms.items()}, x.grad


def _compare(encoder, content, style, config: GatysConfig, tile: int, regions: Regions | None = None):
    """(untiled terms, tiled terms, cosine of the gradients, relative gradient error) at a noisy image."""
    noise = torch.randn(content.shape, generator=torch.Generator().manual_seed(0))
    image = (content + 0.1 * noise).clamp(0, 1)
    built = [
        build_criterion(encoder, content, [style], c, regions=regions, precision_context=contextlib.nullcontext)
        for c in (config, dataclasses.replace(config, tile=tile))
    ]
    assert isinstance(built[1], tiling.TiledCriterion) and len(built[1].tiles) > 1
    (plain, g0), (tiled, g1) = (_loss_and_gradient(c, image) for c in built)
    cosine = float(F.cosine_similarity(g0.flatten(), g1.flatten(), dim=0))
    return plain, tiled, cosine, float((g1 - g0).norm() / g0.norm())


def _pattern_tensor(width: int, height: int, seed: int) -> torch.Tensor:
    """A smooth colour pattern plus noise (as conftest's images), (1, 3, H, W) in [0, 1]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    base = np.stack([np.sin(6 * x + seed), np.cos(5 * y - seed), np.sin(4 * (x + y))])
    array = (base * 0.4 + 0.5 + rng.normal(0, 0.08, (3, height, width))).clip(0, 1)
    return torch.from_numpy(array).float()[None]


@pytest.mark.parametrize("shape", [(160, 128), (77, 200), (64, 64), (1000, 33), (161, 145)])
@pytest.mark.parametrize("tile", [64, 96, 256])
def test_cores_partition_the_image_and_windows_fit_the_tile(shape: tuple[int, int], tile: int) -> None:
    tiles = tiling.layout(shape, tile, 16)
    covered = torch.zeros(shape, dtype=torch.int64)
    for t in tiles:
        y0, y1, x0, x1 = t.window
        assert y1 - y0 <= tile and x1 - x0 <= tile
        assert y0 % 16 == 0 and x0 % 16 == 0  # the pooling grid of the whole image
        cy0, cy1, cx0, cx1 = t.core
        assert y0 <= cy0 < cy1 <= y1 and x0 <= cx0 < cx1 <= x1
        covered[cy0:cy1, cx0:cx1] += 1
    assert bool((covered == 1).all())
    assert (len(tiles) == 1) == (max(shape) <= tile)


def test_a_tile_too_small_is_one_clear_line() -> None:
    with pytest.raises(InputError, match="tile must be a whole number of pixels >= 64, got 32"):
        GatysConfig(tile=32)


def test_tiled_criterion_is_exact_where_the_margin_covers_the_receptive_field(tiny) -> None:
    content, style = _pattern_tensor(160, 128, 1), _pattern_tensor(96, 96, 7)
    plain, tiled, cosine, error = _compare(tiny, content, style, SHALLOW, 64)
    for name in plain:
        assert tiled[name] == pytest.approx(plain[name], rel=1e-5)
    assert cosine > 0.9999 and error < 1e-5


def test_tiled_criterion_matches_untiled_at_the_default_layers(tiny) -> None:
    content, style = _pattern_tensor(144, 200, 1), _pattern_tensor(96, 96, 7)
    plain, tiled, cosine, error = _compare(tiny, content, style, GatysConfig(tv_weight=1.0), 128)
    total = sum(plain.values())
    assert abs(sum(tiled.values()) - total) < 1e-3 * total
    assert tiled["style"] == pytest.approx(plain["style"], rel=1e-3)
    assert tiled["tv"] == pytest.approx(plain["tv"], rel=1e-6)
    assert cosine > 0.99 and error < 1e-2


@pytest.mark.parametrize("mode", ["simple", "inside"])
def test_guided_tiled_criterion_matches_untiled(tiny, mode: str) -> None:
    content, style = _pattern_tensor(128, 160, 1), _pattern_tensor(96, 96, 7)
    labels = np.zeros((160, 128), int)
    labels[:, 70:], labels[100:, :40] = 1, 2
    style_labels = np.zeros((96, 96), int)
    style_labels[50:], style_labels[:30, :30] = 1, 2
    regions = Regions(
        names=("a", "b", "c"),
        content=one_hot(labels, range(3)),
        styles=(one_hot(style_labels, range(3)),),
        sources=((0, 1, 2),),
        weights=torch.full((3,), 1 / 3),
    )
    config = dataclasses.replace(SHALLOW, guide_mode=mode)
    plain, tiled, cosine, error = _compare(tiny, content, style, config, 64, regions)
    for name in plain:
        assert tiled[name] == pytest.approx(plain[name], rel=1e-5)
    assert cosine > 0.9999 and error < 1e-5


def test_tiled_style_targets_equal_the_untiled_ones(tiny) -> None:
    style = _pattern_tensor(130, 150, 3)
    guides = one_hot(np.random.default_rng(0).integers(0, 2, (150, 130)), range(2))
    whole = style_targets.compute(tiny, style, guides, layers=SHALLOW.style_layers)
    tiled = tiling.tiled_targets(tiny, style, guides, layers=SHALLOW.style_layers, tile=64)
    for layer in SHALLOW.style_layers:
        torch.testing.assert_close(tiled.grams[layer], whole.grams[layer], rtol=1e-5, atol=1e-7)
        assert torch.equal(tiled.held[layer], whole.held[layer])


def _border_ratio(image: torch.Tensor, tiles: list[tiling.Tile]) -> float:
    """Mean |neighbour difference| across the cores' borders over the same inside the cores."""
    dx = (image[..., :, 1:] - image[..., :, :-1]).abs()
    dy = (image[..., 1:, :] - image[..., :-1, :]).abs()
    across_x = torch.zeros(dx.shape[-1], dtype=torch.bool)
    across_y = torch.zeros(dy.shape[-2], dtype=torch.bool)
    for t in tiles:
        if t.core[0]:
            across_y[t.core[0] - 1] = True
        if t.core[2]:
            across_x[t.core[2] - 1] = True
    border = torch.cat([dx[..., across_x].flatten(), dy[..., across_y, :].flatten()]).mean()
    inside = torch.cat([dx[..., ~across_x].flatten(), dy[..., ~across_y, :].flatten()]).mean()
    return float(border / inside)


@pytest.mark.slow
def test_a_tiled_transfer_shows_no_seams(tiny) -> None:
    content, style = _pattern_tensor(160, 128, 1), _pattern_tensor(96, 96, 7)
    config = GatysConfig(size=160, steps=30, tile=64)
    result = transfer(content, style, config, encoder=tiny)
    tiles = tiling.layout(content.shape, 64, tiny.min_side)
    assert len(tiles) == 12
    assert result.final_losses["total"] < 0.5 * result.history["total"][0]
    assert _border_ratio(result.image, tiles) <= 1.2
    # What the optimisation changed, on its own: stitching tiles optimised one by one gives 1.24 here.
    assert _border_ratio(result.image - content, tiles) <= 1.1


def test_a_tiled_transfer_hands_the_network_one_tile_at_a_time(tiny, monkeypatch) -> None:
    """What lets a GPU run any size: the network only ever sees windows that came through
    ``to_device`` (its door to the device) and fit the tile; content, style targets and the
    optimised image stay where they are (the host, in a tiled transfer on a GPU)."""
    content, style = _pattern_tensor(200, 160, 1), _pattern_tensor(180, 150, 7)
    carried: list[torch.Tensor] = []
    door = tiling.to_device

    def spy(window: torch.Tensor, device: torch.device) -> torch.Tensor:
        carried.append(door(window, device))
        return carried[-1]

    monkeypatch.setattr(tiling, "to_device", spy)
    seen: list[torch.Tensor] = []
    hook = tiny.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    try:
        result = transfer(content, style, GatysConfig(size=200, steps=3, tile=96), encoder=tiny)
    finally:
        hook.remove()
    assert result.image.shape == content.shape
    # style targets, content features, then two passes per evaluation, each over every tile
    assert len(seen) >= 2 * len(tiling.layout(content.shape, 96, tiny.min_side)) * 3
    assert all(any(x is c for c in carried) for x in seen)
    assert max(max(x.shape[-2:]) for x in seen) <= 96


def test_tiling_off_below_the_tile_size_gives_the_same_bytes(tiny) -> None:
    content, style = _pattern_tensor(96, 80, 1), _pattern_tensor(64, 64, 7)
    config = GatysConfig(size=96, steps=5)
    untiled = transfer(content, style, config, encoder=tiny)
    large_tile = transfer(content, style, dataclasses.replace(config, tile=96), encoder=tiny)
    assert torch.equal(untiled.image, large_tile.image)


def test_bf16_tiled_criterion_runs(tiny) -> None:
    content, style = _pattern_tensor(128, 96, 1), _pattern_tensor(64, 64, 7)
    config = GatysConfig(tile=64, precision="bf16")

    def bf16() -> contextlib.AbstractContextManager[object]:
        return torch.autocast(device_type="cpu", dtype=torch.bfloat16)

    criterion = build_criterion(tiny, content, [style], config, precision_context=bf16)
    with bf16():
        terms, gradient = _loss_and_gradient(criterion, content.clone())
    assert all(np.isfinite(v) for v in terms.values()) and bool(gradient.isfinite().all())


def test_cli_tile_writes_the_result_and_records_the_tiling(
    tmp_path: Path, content_path: Path, style_path: Path
) -> None:
    out = tmp_path / "out.png"
    argv = ["-q", "transfer", "--content", content_path, "--style", style_path, "--out", out]
    argv += ["--size", "96", "--steps", "3", "--weights", "random", "--tile", "64"]
    argv += ["--scales", "64,96", "--color", "preserve"]
    assert main(list(map(str, argv))) == 0
    record = json.loads((tmp_path / "out.png.json").read_text())
    assert out.exists() and record["parameters"]["tile"] == 64
    # 64 px fits one tile; at 96 px the tiles cover the canvas (the image and its margin): 3 x 2
    assert [stage.get("tiles") for stage in record["stages"]] == [None, 6]


def test_cli_refuses_a_tile_too_small(tmp_path: Path, content_path: Path, style_path: Path, capsys) -> None:
    argv = ["transfer", "--content", content_path, "--style", style_path, "--out", tmp_path / "out.png"]
    assert main(list(map(str, [*argv, "--weights", "random", "--tile", "48"]))) == 2
    err = capsys.readouterr().err
    assert "tile must be a whole number of pixels >= 64, got 48" in err and len(err.strip().splitlines()) == 1
