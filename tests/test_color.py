"""Colour and scale control (Gatys 2016): luminance-only transfer keeps the content's chroma,
colour matching gives the content's colour statistics, coarse-to-fine stages have the right sizes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.cli import main
from pipeline.core import color
from pipeline.errors import InputError
from pipeline.gatys import GatysConfig, auto_scales, transfer
from pipeline.io import image_to_tensor

FAST = ["--weights", "random", "-q"]


def _smooth(seed: int, size: int = 48, tint: tuple[float, float, float] = (0.5, 0.5, 0.5)) -> torch.Tensor:
    """A colourful image well inside the RGB cube (so no clipping hides an error)."""
    g = torch.Generator().manual_seed(seed)
    base = torch.nn.functional.interpolate(torch.rand(1, 3, 6, 6, generator=g), size=(size, size), mode="bilinear")
    return (0.5 * base + torch.tensor(tint).view(1, 3, 1, 1) * 0.5).clamp(0, 1)


def _stats(pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = pixels[0].reshape(3, -1).double()
    return flat.mean(dim=1), torch.cov(flat)


def test_luminance_only_transfer_keeps_the_contents_chroma_exactly() -> None:
    content, style = _smooth(1, tint=(0.8, 0.3, 0.2)), _smooth(2, tint=(0.1, 0.4, 0.9))
    result = transfer(content, style, GatysConfig(size=48, steps=5, color="preserve", init="noise"), weights="random")
    chroma = lambda x: color.rgb_to_yiq(x)[:, 1:]  # noqa: E731
    assert torch.allclose(chroma(result.image), chroma(content), atol=1e-5)
    assert not torch.allclose(color.luminance(result.image), color.luminance(content), atol=1e-3)  # Y did change


def test_recombine_stays_in_the_cube_without_changing_hue() -> None:
    content = _smooth(3, tint=(0.9, 0.1, 0.1))  # saturated: little room for Y
    for extreme in (torch.zeros_like(content), torch.ones_like(content)):
        out = color.recombine(extreme, content)
        assert out.min() >= -1e-6 and out.max() <= 1 + 1e-6
        assert torch.allclose(color.rgb_to_yiq(out)[:, 1:], color.rgb_to_yiq(content)[:, 1:], atol=1e-5)


def test_style_luminance_takes_the_contents_mean_and_spread() -> None:
    content, style = _smooth(4, tint=(0.2, 0.2, 0.2)), _smooth(5, tint=(0.9, 0.9, 0.9))
    grey = color.luminance_image(style, content)
    assert torch.equal(grey[:, 0], grey[:, 1]) and torch.equal(grey[:, 1], grey[:, 2])
    y_content = color.luminance(content)
    assert grey[:, 0].mean() == pytest.approx(y_content.mean().item(), abs=1e-4)
    assert grey[:, 0].std(unbiased=False) == pytest.approx(y_content.std(unbiased=False).item(), rel=1e-3)


@pytest.mark.parametrize("method", color.MATCH_METHODS)
def test_colour_matching_gives_the_contents_mean_and_covariance(method: str) -> None:
    content, style = _smooth(6, tint=(0.7, 0.4, 0.3)), _smooth(7, tint=(0.3, 0.5, 0.7))
    matched = color.match_colours(style, content, method=method)
    assert matched.min() > 0 and matched.max() < 1  # nothing clipped: the statistics are exact
    (mean_m, cov_m), (mean_c, cov_c) = _stats(matched), _stats(content)
    assert torch.allclose(mean_m, mean_c, atol=1e-4)
    assert torch.allclose(cov_m, cov_c, atol=1e-4, rtol=1e-3)


def test_colour_matching_per_region() -> None:
    content, style = _smooth(8, tint=(0.8, 0.2, 0.2)), _smooth(9, tint=(0.2, 0.2, 0.8))
    content[..., 24:] = _smooth(10, tint=(0.2, 0.8, 0.2))[..., 24:]
    masks = torch.zeros(2, 48, 48)
    masks[0, :, :24], masks[1, :, 24:] = 1, 1  # left | right in the content
    style_masks = torch.zeros(2, 48, 48)
    style_masks[0, :24], style_masks[1, 24:] = 1, 1  # top / bottom in the style
    matched = color.match_colours(style, content, style_masks=style_masks, content_masks=masks)
    for r in range(2):
        got = matched[0].reshape(3, -1)[:, style_masks[r].flatten() > 0].mean(dim=1)
        want = content[0].reshape(3, -1)[:, masks[r].flatten() > 0].mean(dim=1)
        assert torch.allclose(got, want, atol=2e-3), r


def test_auto_scales_are_sqrt2_steps_ending_at_the_size() -> None:
    assert auto_scales(1024, 256) == (256, 362, 512, 724, 1024)
    assert auto_scales(300, 256) == (256, 300)
    assert auto_scales(128, 256) == (128,)
    with pytest.raises(InputError, match="scales must end at the output size"):
        GatysConfig(size=512, scales=(256, 1024))
    with pytest.raises(InputError, match="scales must be increasing"):
        GatysConfig(size=512, scales=(512, 256, 512))


def _write(path: Path, tensor: torch.Tensor) -> Path:
    Image.fromarray((tensor[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(path)
    return path


def test_coarse_to_fine_stages_have_the_expected_sizes(tmp_path: Path, capsys) -> None:
    content = _write(tmp_path / "c.png", torch.nn.functional.interpolate(_smooth(11), size=(60, 90)))
    style = _write(tmp_path / "s.png", _smooth(12))
    out = tmp_path / "out.png"
    argv = ["transfer", "--content", str(content), "--style", str(style), "--out", str(out), *FAST]
    code = main([*argv, "--size", "90", "--scales", "auto", "--scale-base", "45", "--stage-steps", "2", "--steps", "3"])
    assert code == 0, capsys.readouterr().err
    metadata = json.loads((tmp_path / "out.png.json").read_text())
    assert [(s["width"], s["height"]) for s in metadata["stages"]] == [(45, 30), (64, 43), (90, 60)]
    assert [s["evaluations"] for s in metadata["stages"]] == [2, 2, 3]
    assert metadata["parameters"]["scales"] == [45, 64, 90] and len(metadata["history"]["total"]) == 7
    assert Image.open(out).size == (90, 60)
    assert metadata["peak_memory_mb"]["process_rss"] > 0


def test_colour_control_refuses_saved_targets_and_scales_must_end_at_size(tmp_path: Path, capsys) -> None:
    style = _write(tmp_path / "s.png", _smooth(13))
    content = _write(tmp_path / "c.png", _smooth(14))
    targets = tmp_path / "s.pt"
    assert main(["style-targets", "--style", str(style), "--out", str(targets), "--size", "48", *FAST]) == 0
    argv = ["transfer", "--content", str(content), "--out", str(tmp_path / "o.png"), "--size", "48", *FAST]
    assert main([*argv, "--style", str(targets), "--color", "preserve"]) == 2
    assert "needs the style image, not its saved targets" in capsys.readouterr().err
    assert main([*argv, "--style", str(style), "--scales", "32,64"]) == 2
    assert "give --size 64" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()


def test_preserve_result_file_keeps_chroma_within_rounding(tmp_path: Path, capsys) -> None:
    content_tensor = _smooth(15, tint=(0.8, 0.5, 0.2))
    content = _write(tmp_path / "c.png", content_tensor)
    style = _write(tmp_path / "s.png", _smooth(16, tint=(0.2, 0.3, 0.9)))
    out = tmp_path / "o.png"
    argv = ["transfer", "--content", str(content), "--style", str(style), "--out", str(out), "--size", "48"]
    assert main([*argv, "--steps", "4", "--color", "preserve", *FAST]) == 0, capsys.readouterr().err
    saved, original = image_to_tensor(Image.open(out)), image_to_tensor(Image.open(content))
    assert (color.rgb_to_yiq(saved)[:, 1:] - color.rgb_to_yiq(original)[:, 1:]).abs().max() < 2.5 / 255


@pytest.mark.slow
def test_scale_mixing_takes_fine_grams_from_one_image_and_keeps_the_others(tmp_path: Path, capsys) -> None:
    from pipeline.core.features import VGGEncoder
    from pipeline.core.losses import gram_matrix

    coarse = _write(tmp_path / "coarse.png", _smooth(17, tint=(0.8, 0.2, 0.2)))
    fine_tensor = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(18))  # a noisy texture
    fine = _write(tmp_path / "fine.png", fine_tensor)
    out = tmp_path / "mixed.png"
    argv = ["mix-scales", "--coarse", str(coarse), "--fine", str(fine), "--out", str(out), "--size", "48"]
    assert main([*argv, "--steps", "40", "--style-weight", "1e9", *FAST]) == 0, capsys.readouterr().err
    encoder = VGGEncoder(["relu1_1", "relu3_1"], weights="random")
    grams = {
        name: {layer: gram_matrix(f) for layer, f in encoder(image_to_tensor(Image.open(path))).items()}
        for name, path in (("coarse", coarse), ("fine", fine), ("mixed", out))
    }

    def distance(a: str, b: str, layer: str) -> float:
        return float((grams[a][layer] - grams[b][layer]).norm())

    assert distance("mixed", "fine", "relu1_1") < 0.5 * distance("coarse", "fine", "relu1_1")
    assert distance("mixed", "coarse", "relu3_1") < distance("mixed", "fine", "relu3_1")
    assert json.loads((tmp_path / "mixed.png.json").read_text())["method"] == "gatys2016-scale-mixing"
    assert main([*argv, "--fine-layers", "relu1_1,relu1_2", *FAST]) == 2
    assert "not among the style layers" in capsys.readouterr().err
