"""Masks for photos that have none (propose-mask), and regions paired across masks whose labels do
not share colours (match-regions, and inside transfer)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline.cli import main
from pipeline.masks import LabelMap, Palette, clean_mask, read_mask
from pipeline.masks.match import match_label_maps
from pipeline.masks.propose import PROPOSAL_COLOURS, propose_mask
from pipeline.synthetic import PALETTE, matched_accuracy, textured_scene


@pytest.mark.slow
def test_proposals_find_textured_regions() -> None:
    accuracies = []
    for i in range(8):  # seeds no benchmark or tuning run used
        k = 2 + i % 4
        image, truth = textured_scene(7100 + i, size=(384, 288), k=k)
        proposal = propose_mask(image, k=k)
        assert len(proposal.colours) == k and set(np.unique(proposal.labels)) == set(range(k))
        accuracies.append(matched_accuracy(proposal.labels.astype(int), truth))
    assert np.mean(accuracies) >= 0.95, accuracies
    assert min(accuracies) >= 0.85, accuracies


def _sky_over_grass(tmp_path: Path) -> Path:
    image = np.zeros((120, 160, 3), np.uint8)
    image[:50] = (80, 140, 230)
    image[50:] = (50, 150, 60)
    noisy = np.clip(image + np.random.default_rng(0).normal(0, 12, image.shape), 0, 255).astype(np.uint8)
    Image.fromarray(noisy).save(tmp_path / "photo.png")
    return tmp_path / "photo.png"


def test_propose_mask_writes_an_exact_mask_the_cleaner_takes_as_it_is(tmp_path: Path) -> None:
    photo = _sky_over_grass(tmp_path)
    assert main(["propose-mask", str(photo), str(tmp_path / "mask.png"), "--colors", "sky=#4287f5,ground=#8c5a28"]) == 0
    written = read_mask(tmp_path / "mask.png")
    cleaned = clean_mask(written, palette=Palette.from_colours("sky=#4287f5,ground=#8c5a28"))
    assert (cleaned.labels[:45] == 0).all() and (cleaned.labels[55:] == 1).all()  # colours given top down
    assert main(["propose-mask", str(photo), str(tmp_path / "k.png"), "--k", "2"]) == 0
    colours = {tuple(c) for c in read_mask(tmp_path / "k.png").reshape(-1, 3).tolist()}
    assert colours == {tuple(c) for c in PROPOSAL_COLOURS[:2].tolist()}


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: ["propose-mask", str(d / "photo.png"), str(d / "photo.png")], "is also an input"),
        (lambda d: ["propose-mask", str(d / "photo.png"), str(d / "m.jpg")], "saved as .png"),
        (lambda d: ["propose-mask", str(d / "none.png"), str(d / "m.png")], "none.png"),
        (
            lambda d: ["propose-mask", str(d / "photo.png"), str(d / "m.png"), "--weights", str(d / "photo.png")],
            "not a segmentation model's state dict",
        ),
    ],
    ids=["output-is-input", "not-png", "missing", "junk-weights"],
)
def test_propose_mask_bad_input_is_one_line(tmp_path: Path, capsys, setup, message: str) -> None:
    photo = _sky_over_grass(tmp_path)
    before = photo.read_bytes()
    assert main(setup(tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert photo.read_bytes() == before
    assert not (tmp_path / "m.png").exists()


def test_propose_mask_with_segmentation_weights(tmp_path: Path) -> None:
    import torch
    from torchvision.models import segmentation

    torch.manual_seed(0)
    model = segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=21)
    torch.save(model.state_dict(), tmp_path / "lraspp.pth")
    photo = _sky_over_grass(tmp_path)
    assert main(["propose-mask", str(photo), str(tmp_path / "m.png"), "--weights", str(tmp_path / "lraspp.pth")]) == 0
    names = Image.open(tmp_path / "m.png").text["stylesnake-labels"]
    from pipeline.masks.segment import VOC_CLASSES

    assert any(f'"{name}"' in names for name in VOC_CLASSES)  # regions named after the model's classes


def _layout(shift: float, size: tuple[int, int] = (96, 64)) -> np.ndarray:
    """Sky on top, a tree on the left, ground at the bottom; ``shift`` moves the borders."""
    width, height = size
    labels = np.full((height, width), 2, np.uint8)
    labels[: int(height * (0.4 + shift))] = 0
    labels[int(height * 0.2) :, : int(width * (0.3 + shift))] = 1
    return labels


def test_match_regions_pairs_by_position_and_size() -> None:
    content = LabelMap(_layout(0.0), PALETTE[:3].copy(), ("sky", "tree", "ground"))
    style = LabelMap(_layout(0.08), PALETTE[3:6].copy(), ("a", "b", "c"))
    assert match_label_maps(content, style) == {"sky": "a", "tree": "b", "ground": "c"}
    # Renumbered style labels pair the same regions.
    order = np.array([2, 0, 1], np.uint8)
    shuffled = LabelMap(order[style.labels], PALETTE[3:6].copy(), ("b", "c", "a"))  # a (sky) is now label 2
    assert match_label_maps(content, shuffled) == {"sky": "a", "tree": "b", "ground": "c"}


def test_match_regions_verb_prints_the_label_map(tmp_path: Path, capsys) -> None:
    Image.fromarray(PALETTE[_layout(0.0)]).save(tmp_path / "content.png")
    Image.fromarray(PALETTE[3:6][_layout(0.05)]).save(tmp_path / "style.png")
    assert main(["match-regions", str(tmp_path / "content.png"), str(tmp_path / "style.png")]) == 0
    out = capsys.readouterr().out.strip()
    assert out == "--label-map #28a03c=#f0bea0,#4287f5=#143c96,#8c5a28=#fadc28"  # tree, sky, ground


def test_transfer_pairs_regions_when_labels_share_no_colour(tmp_path: Path, caplog) -> None:
    from pipeline.core.guidance import guided_regions
    from pipeline.io import read_image
    from pipeline.masks.pairs import Guidance

    content_labels, style_labels = _layout(0.0), _layout(0.06)
    for name, labels, colours in (("content", content_labels, PALETTE[:3]), ("style", style_labels, PALETTE[3:6])):
        Image.fromarray(colours[labels]).save(tmp_path / f"{name}_mask.png")
        tint = np.array([(120, 170, 240), (40, 120, 40), (120, 90, 50)], np.uint8)
        Image.fromarray(tint[labels]).save(tmp_path / f"{name}.png")
    guidance = Guidance(
        content_mask=str(tmp_path / "content_mask.png"), style_masks=(str(tmp_path / "style_mask.png"),)
    )
    images = [read_image(tmp_path / f"{name}.png") for name in ("content", "style")]
    with caplog.at_level(logging.WARNING):
        regions = guided_regions(guidance, images[0], images[1:], max_pixels=10**8)
    assert "not all in the style mask's colours" in caplog.text and "#4287f5=#143c96" in caplog.text
    # Each content region takes the style region in the same place.
    style_guides = regions.styles[0]
    assert style_guides is not None
    for r, source in enumerate(regions.sources[0]):
        content_region = regions.content[r].numpy().astype(bool)
        style_region = style_guides[source].numpy().astype(bool)
        overlap = (content_region & style_region).sum() / content_region.sum()
        assert overlap > 0.7, (regions.names[r], overlap)


def test_match_regions_refuses_an_image_of_another_shape(tmp_path: Path, capsys) -> None:
    Image.fromarray(PALETTE[_layout(0.0)]).save(tmp_path / "content_mask.png")  # 96 x 64
    Image.fromarray(PALETTE[3:6][_layout(0.05)]).save(tmp_path / "style_mask.png")
    Image.new("RGB", (640, 3), (90, 120, 200)).save(tmp_path / "photo.png")  # squashed: not this mask's picture
    Image.new("RGB", (96, 64), (90, 120, 200)).save(tmp_path / "painting.png")
    argv = ["match-regions", str(tmp_path / "content_mask.png"), str(tmp_path / "style_mask.png")]
    code = main([*argv, "--content", str(tmp_path / "photo.png"), "--style", str(tmp_path / "painting.png")])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == "" and captured.err.count("\n") == 1
    assert "content_mask.png: mask is 96x64 but" in captured.err and "photo.png is 640x3" in captured.err
    assert "draw the mask on the image itself" in captured.err


def test_transfer_names_the_pairing_it_chose_in_the_styles_colours_and_records_it(tmp_path: Path, capsys) -> None:
    """A style colour near a content colour (a shade of the photo's tree, painted where the painting
    has its sky) must not make the warning read as if the sky took the photo's tree."""
    near_tree = np.array([(42, 162, 62), (240, 190, 160), (250, 220, 40)], np.uint8)  # at sky, tree, ground
    tint = np.array([(120, 170, 240), (40, 120, 40), (120, 90, 50)], np.uint8)
    for name, layout, colours in (("content", _layout(0.0), PALETTE[:3]), ("style", _layout(0.06), near_tree)):
        Image.fromarray(colours[layout]).save(tmp_path / f"{name}_mask.png")
        Image.fromarray(tint[layout]).save(tmp_path / f"{name}.png")
    out = tmp_path / "out.png"
    argv = ["transfer", "--content", str(tmp_path / "content.png"), "--style", str(tmp_path / "style.png")]
    argv += ["--content-mask", str(tmp_path / "content_mask.png"), "--style-mask", str(tmp_path / "style_mask.png")]
    assert main([*argv, "--out", str(out), "--size", "48", "--steps", "2", "--weights", "random"]) == 0
    err = capsys.readouterr().err
    chosen = {"#4287f5": "#2aa23e", "#28a03c": "#f0bea0", "#8c5a28": "#fadc28"}  # sky, tree, ground
    warning = next(line for line in err.splitlines() if "regions paired by position" in line)
    assert sorted(warning.split("--label-map ")[1].split(" ")[0].split(",")) == sorted(
        f"{c}={s}" for c, s in chosen.items()
    )
    assert json.loads((tmp_path / "out.png.json").read_text())["guidance"]["label_map"] == chosen


@pytest.mark.slow
def test_proposal_stays_fast_at_2048() -> None:
    # Not a timing test (machines are noisy): the work is done at a fixed working size, so a 2048 px
    # photo costs no more superpixels than a 512 px one (benchmarks/bench_propose.py times it).
    image, truth = textured_scene(7200, size=(2048, 1536), k=3)
    proposal = propose_mask(image, k=3)
    assert proposal.labels.shape == truth.shape
    assert matched_accuracy(proposal.labels.astype(int), truth) >= 0.95
    # Borders come back smooth at full size: no staircase of the working size's pixels.
    edges = cv2.Canny(proposal.labels * 80, 1, 1) > 0
    assert edges.mean() < 0.02
