"""Spatial control: guide propagation (receptive fields checked by brute force), region-area
normalisation, region matching, and the guided Gram loss against plain autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from pipeline.core.channels import normalise, propagate
from pipeline.core.features import VGGEncoder
from pipeline.core.guidance import Regions, guided_style_loss, match_regions
from pipeline.core.losses import (
    GramStyleLoss,
    GuidedGramStyleLoss,
    GuideSupport,
    _GuidedGramMSETap,
    gram_matrix,
    guided_gram,
)
from pipeline.core.targets import compute
from pipeline.errors import InputError
from pipeline.masks import LabelMap
from pipeline.masks.pairs import WHOLE

LAYERS = ["relu1_1", "relu2_1", "relu3_1"]


def _disc_mask(size: int = 32) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    inside = ((y - 12) ** 2 + (x - 18) ** 2) < 81
    return torch.stack([inside.float(), (~inside).float()])


def _receptive_fields(body: nn.Sequential, size: int, layer_index: int) -> torch.Tensor:
    """Brute force: which input pixels each neuron of a layer can see, by autograd on a copy of
    the network with all-positive weights, identity activations and average pooling."""
    probe: list[nn.Module] = []
    for module in body[: layer_index + 1]:
        if isinstance(module, nn.Conv2d):
            conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
            nn.init.constant_(conv.weight, 1.0)
            probe.append(conv)
        elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
            probe.append(nn.AvgPool2d(2, 2))
    net = nn.Sequential(*probe)
    x = torch.ones(1, 1, size, size, requires_grad=True)
    out = net(x)
    fields = torch.zeros(out.shape[-2] * out.shape[-1], size, size, dtype=torch.bool)
    for n in range(fields.shape[0]):
        (grad,) = torch.autograd.grad(out.flatten()[n], x, retain_graph=True)
        fields[n] = grad[0, 0] != 0
    return fields.view(out.shape[-2], out.shape[-1], size, size)


@pytest.mark.parametrize("mode", ["all", "inside"])
def test_receptive_field_modes_match_brute_force(mode: str) -> None:
    encoder = VGGEncoder(LAYERS, weights="random")
    guides = _disc_mask()
    propagated = propagate(guides, encoder.body, encoder.wanted, mode=mode)
    for layer in ("relu2_1", "relu3_1"):
        index = next(i for i, n in encoder.wanted.items() if n == layer)
        fields = _receptive_fields(encoder.body, 32, index)
        for r in range(2):
            region = guides[r].bool()
            if mode == "all":
                expected = (fields & region).flatten(2).any(dim=2)
            else:  # every pixel the neuron sees (inside the image) is in the region
                expected = ~(fields & ~region).flatten(2).any(dim=2)
            assert torch.equal(propagated[layer][r] > 0, expected), (layer, r)


def test_simple_mode_is_area_share_and_normalised() -> None:
    encoder = VGGEncoder(LAYERS, weights="random")
    guides = torch.zeros(2, 32, 32)
    guides[0, :, :10] = 1
    guides[1, :, 10:] = 1
    out = propagate(guides, encoder.body, encoder.wanted, mode="simple")
    relu2 = out["relu2_1"]  # 16 px wide: column 4 holds pixels 8, 9 (in) -> share 1; column 5: 10, 11 -> 0
    assert relu2.shape == (2, 16, 16)
    assert torch.allclose(relu2.pow(2).mean(dim=(1, 2)), torch.ones(2))  # unit RMS
    relu3 = out["relu3_1"]  # 8 px wide: column 2 holds pixels 8..11: share 0.5
    assert relu3[0, 0, 2] / relu3[0, 0, 0] == pytest.approx(0.5)


def test_grow_and_shrink() -> None:
    encoder = VGGEncoder(LAYERS, weights="random")
    guides = _disc_mask()
    area = {
        k: (propagate(guides, encoder.body, encoder.wanted, mode="all", grow=k)["relu2_1"][0] > 0).sum()
        for k in (-1, 0, 1)
    }
    assert area[-1] < area[0] < area[1]


def test_same_texture_in_small_and_large_region_gives_the_same_guided_gram() -> None:
    encoder = VGGEncoder(["relu1_1", "relu2_1"], weights="random")
    generator = torch.Generator().manual_seed(0)
    tile = torch.rand(1, 3, 8, 8, generator=generator)
    image = tile.repeat(1, 1, 16, 16)  # a stationary texture, 128×128
    guides = torch.zeros(2, 128, 128)
    guides[0, 24:40, 24:40] = 1  # 16×16: whole tiles, away from the image border
    guides[1, 48:112, 48:112] = 1  # 64×64: 16 times the area
    propagated = propagate(guides, encoder.body, encoder.wanted, mode="simple")
    features = encoder(image)
    for layer in ("relu1_1", "relu2_1"):
        grams = guided_gram(features[layer], propagated[layer])
        assert (grams[0] - grams[1]).norm() / grams[1].norm() < 1e-4, layer
        # Without the RMS normalisation (pystiche's way) the Grams scale with the region's area.
        raw = guided_gram(features[layer], (propagated[layer] > 0).float())
        assert (raw[1].norm() / raw[0].norm()).item() == pytest.approx(16, rel=1e-3)


def test_one_region_covering_everything_is_the_plain_gram() -> None:
    features = {"l": torch.rand(1, 6, 10, 12)}
    style = {"l": torch.rand(1, 6, 10, 12)}
    guides = normalise(torch.ones(1, 10, 12))
    guided = GuidedGramStyleLoss({"l": guided_gram(style["l"], guides)}, {"l": guides}, {"l": torch.ones(1)})
    plain = GramStyleLoss.from_features(style, {"l": 1.0})
    assert guided(features).item() == pytest.approx(plain(features).item(), rel=1e-6)
    assert torch.allclose(guided_gram(style["l"], guides)[0], gram_matrix(style["l"])[0], rtol=1e-6)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("with_upstream", [False, True])
def test_fused_guided_tap_matches_plain_autograd(channels_last: bool, with_upstream: bool, fused_and_plain) -> None:
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    source = torch.rand(1, 5, 9, 7).contiguous(memory_format=fmt)
    soft = torch.rand(3, 9, 7)
    soft[0, :4] = 0  # regions with holes: supports of different sizes
    soft[2, :, 3:] = 0
    guides = normalise(soft)
    targets = guided_gram(torch.rand(1, 5, 9, 7), guides)
    loss = GuidedGramStyleLoss({"l": targets}, {"l": guides}, {"l": torch.tensor([0.2, 0.5, 0.3])})
    upstream = torch.rand(1, 5, 9, 7)

    (fused_value, fused_grad), (plain_value, plain_grad) = fused_and_plain(
        loss, source, upstream if with_upstream else None
    )
    assert torch.allclose(fused_value, plain_value, rtol=1e-5)
    assert torch.allclose(fused_grad, plain_grad, rtol=1e-4, atol=1e-8)


def test_fused_guided_tap_gradcheck() -> None:
    features = torch.rand(1, 3, 5, 4, dtype=torch.float64, requires_grad=True)
    guides = torch.zeros(3, 5, 4, dtype=torch.float64)
    guides[0, :4] = torch.rand(4, 4, dtype=torch.float64) + 0.1  # a large soft region
    guides[1, 4, :2] = 1.0  # a tiny one: padded chunks
    guides[2, 4, 2:] = 0.5  # (region 2 overlaps nothing; region 0 needs several chunks)
    support = GuideSupport.of(guides)
    assert len(support.owner) > 3
    targets = torch.rand(3, 3, 3, dtype=torch.float64)
    targets = targets + targets.transpose(1, 2)
    weights = torch.tensor([0.4, 0.6, 0.2], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda f: _GuidedGramMSETap.apply(f, support, targets, weights), (features,))


def test_chunked_support_costs_about_one_map_for_unequal_regions() -> None:
    guides = torch.zeros(4, 32, 32)
    guides[0, :29] = 1  # 90 % of the map
    guides[1, 29:, :10] = 1
    guides[2, 29:, 10:20] = 1
    guides[3, 29:, 20:] = 1
    support = GuideSupport.of(guides)
    assert support.index.numel() <= 2 * 32 * 32  # padding to the largest region would be 4 × 0.9
    grams = guided_gram(torch.rand(1, 6, 32, 32), normalise(guides))
    features = torch.rand(1, 6, 32, 32)
    loss = GuidedGramStyleLoss({"l": grams}, {"l": normalise(guides)}, {"l": torch.ones(4)})
    terms: dict[str, torch.Tensor] = {}
    loss.taps(terms)["l"](features)
    assert terms["l"].item() == pytest.approx(loss({"l": features}).item(), rel=1e-5)


def test_guided_tap_under_bf16_autocast() -> None:
    guides = normalise(torch.rand(2, 8, 8).round())
    targets = guided_gram(torch.rand(1, 4, 8, 8), guides)
    loss = GuidedGramStyleLoss({"l": targets}, {"l": guides}, {"l": torch.ones(2)})
    source = torch.rand(1, 4, 8, 8)
    grads = {}
    for precision in ("fp32", "bf16"):
        x = source.clone().to(torch.bfloat16 if precision == "bf16" else torch.float32).requires_grad_(True)
        terms: dict[str, torch.Tensor] = {}
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss.taps(terms)["l"](x)
        assert terms["l"].dtype == torch.float32
        terms["l"].backward()
        assert x.grad.dtype == x.dtype
        grads[precision] = x.grad.float()
    # The inputs are unseeded torch.rand, so each run draws others. The absolute part is bf16's
    # rounding of the larger terms (8 bits: 0.4 % of them): over 5000 seeded draws (torch 2.14, any
    # ATEN_CPU_CAPABILITY, 1 or 2 threads) the worst needed 1.4e-2 x the largest gradient, the median
    # 7.6e-4; at 1e-3 about 40 % of runs failed. A broken bf16 path is off by far more than 3 %.
    assert torch.allclose(grads["bf16"], grads["fp32"], rtol=0.05, atol=3e-2 * grads["fp32"].abs().max().item())


# --- matching regions --------------------------------------------------------------------------


def _label_map(labels: np.ndarray, names: tuple[str, ...]) -> LabelMap:
    colours = np.array([(40 * i, 200 - 40 * i, 100) for i in range(len(names))], np.uint8)
    return LabelMap(labels=labels.astype(np.uint8), colours=colours, names=names)


def test_match_regions_by_name_map_and_plain() -> None:
    content = _label_map(np.array([[0, 1, 2], [0, 1, 2]]), ("sky", "tree", "road"))
    style = _label_map(np.array([[0, 0, 1, 1]]), ("sky", "forest"))
    regions = match_regions(content, [style], label_map={"tree": "forest", "road": "plain"}, region_weights={"sky": 2})
    assert regions.names == ("sky", "tree", "road")
    assert regions.sources == ((0, 1, WHOLE),)  # plain: the whole style image
    assert regions.styles[0].tolist() == [[[1, 1, 0, 0]], [[0, 0, 1, 1]]]  # one guide per style label
    assert regions.weights.tolist() == pytest.approx([0.5, 0.25, 0.25])  # relative, normalised


def test_missing_style_label_names_the_labels() -> None:
    content = _label_map(np.array([[0, 1]]), ("sky", "tree"))
    style = _label_map(np.array([[0, 1]]), ("sky", "water"))
    with pytest.raises(InputError, match=r"label\(s\) tree that no style mask holds \(they hold: sky, water\)"):
        match_regions(content, [style])
    with pytest.raises(InputError, match="label-map names bogus"):
        match_regions(content, [style], label_map={"bogus": "sky"})


def test_regions_from_several_style_images() -> None:
    content = _label_map(np.array([[0, 0, 1, 1]] * 4), ("sky", "ground"))
    sky_painting = _label_map(np.zeros((4, 4), int), ("sky",))
    ground_painting = _label_map(np.zeros((4, 4), int), ("ground",))
    regions = match_regions(content, [sky_painting, ground_painting])
    assert regions.sources == ((0, None), (None, 0))
    encoder = VGGEncoder(["relu1_1"], weights="random")
    image = torch.rand(1, 3, 4, 4)
    a, b = torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4)
    targets = [
        compute(encoder, x, guides, layers=["relu1_1"]) for x, guides in zip((a, b), regions.styles, strict=True)
    ]
    loss = guided_style_loss(encoder.body, encoder.wanted, regions, targets, {"relu1_1": 1.0})
    # Each region's target comes only from the painting that holds it.
    assert torch.allclose(loss.targets["relu1_1"][0], gram_matrix(encoder(a)["relu1_1"])[0], rtol=1e-5)
    assert torch.allclose(loss.targets["relu1_1"][1], gram_matrix(encoder(b)["relu1_1"])[0], rtol=1e-5)
    assert loss(encoder(image)) > 0


def test_style_blend_mixes_grams() -> None:
    a, b = {"l": torch.rand(1, 4, 5, 5)}, {"l": torch.rand(1, 4, 5, 5)}
    loss = GramStyleLoss.from_features([a, b], {"l": 1.0}, blend=[3, 1])
    assert torch.allclose(loss.targets["l"], 0.75 * gram_matrix(a["l"]) + 0.25 * gram_matrix(b["l"]))
    with pytest.raises(InputError, match="style-blend needs 2 weights"):
        GramStyleLoss.from_features([a, b], {"l": 1.0}, blend=[1.0])


def test_regions_dataclass_shapes() -> None:
    content = _label_map(np.array([[0, 1]]), ("a", "b"))
    regions = match_regions(content, [content])
    assert isinstance(regions, Regions)
    assert regions.content.shape == (2, 1, 2)


def test_grow_and_shrink_move_the_border_by_k_pixels() -> None:
    encoder = VGGEncoder(["relu1_1"], weights="random")
    guides = torch.zeros(1, 16, 16)
    guides[0, 4:12, 4:12] = 1  # an 8×8 square
    for mode in ("simple", "all", "inside"):
        widths = {}
        for k in (-2, 0, 2):
            guide = propagate(guides, encoder.body, encoder.wanted, mode=mode, grow=k)["relu1_1"][0]
            widths[k] = int((guide[8] > 0).sum())
        base = {"simple": 8, "all": 10, "inside": 6}[mode]  # conv1_1 sees 1 px around each neuron
        assert widths == {-2: base - 4, 0: base, 2: base + 4}, mode


def test_label_map_by_colour_finds_the_painted_shade() -> None:
    content = _label_map(np.array([[0, 1]]), ("sky", "tree"))
    style = LabelMap(np.array([[0, 1]], np.uint8), np.array([(40, 200, 100), (200, 30, 30)], np.uint8), ("a", "b"))
    regions = match_regions(content, [style], label_map={"sky": "a", "tree": "#c81e1e"})  # b is #c81e1e exactly
    assert regions.sources == ((0, 1),)
    regions = match_regions(content, [style], label_map={"sky": "a", "tree": "#cc2020"})  # a near shade
    assert regions.sources == ((0, 1),)


def test_mask_aspect_ratio_must_match_within_one_percent(tmp_path) -> None:
    from PIL import Image

    from pipeline.io import read_image
    from pipeline.masks import load_label_map

    Image.new("RGB", (400, 300)).save(tmp_path / "photo.png")
    image = read_image(tmp_path / "photo.png", size=64)
    colours = np.array([(255, 0, 0), (0, 0, 255)], np.uint8)
    for width, ok in ((402, True), (406, False)):  # 0.5 % and 1.5 % wider
        labels = np.zeros((300, width), np.uint8)
        labels[:, width // 2 :] = 1
        Image.fromarray(colours[labels]).save(tmp_path / "mask.png")
        if ok:
            assert load_label_map(tmp_path / "mask.png", image=image).labels.shape == (48, 64)
        else:
            with pytest.raises(InputError, match=r"aspect ratios differ by 1\.5 %"):
                load_label_map(tmp_path / "mask.png", image=image)
