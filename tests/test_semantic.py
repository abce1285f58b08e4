"""Semantic masks: parsers built from their configs with random weights (nothing is downloaded),
saved and loaded through the user's path; a fake parser with chosen class maps for grouping, folding,
pairing by name and the labels a painting lacks; the offline message."""

from __future__ import annotations

import base64
import json
import logging
import os
import pickle
import re
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.cli import main
from pipeline.errors import InputError
from pipeline.masks import LabelMap
from pipeline.masks.parsers import ADE20K, Parser, load_parser
from pipeline.masks.semantic import check_min_share, fold_small, load_groups, semantic_mask, semantic_mask_file

pytest.importorskip("transformers")


def _fake(layout: dict[str, np.ndarray]) -> Parser:
    """A parser that sees class ``name`` where ``layout[name]`` (a boolean map at the image's size) is set."""

    def scores(image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        logits = np.full((len(ADE20K), height, width), -10.0, np.float32)
        for name, where in layout.items():
            resized = np.asarray(Image.fromarray(where.astype(np.uint8) * 255).resize((width, height))) > 127
            logits[ADE20K.index(name)][resized] = 10.0
        return logits

    return Parser("fake", ADE20K, "test", scores)


def _scene(height: int = 120, width: int = 160, *, lake: bool = True) -> dict[str, np.ndarray]:
    """Sky above, a lake at the bottom left (or more field), a field at the bottom right, a tree in it."""
    rows, cols = np.mgrid[0:height, 0:width]
    sky = rows < height * 0.45
    lake_area = ~sky & (cols < width * 0.5) if lake else np.zeros_like(sky)
    tree = (np.abs(rows - height * 0.7) < 10) & (np.abs(cols - width * 0.75) < 8)
    field = ~sky & ~lake_area & ~tree
    return {"sky": sky, "lake": lake_area, "field": field, "tree": tree}


def test_classes_fold_into_named_groups_with_one_palette() -> None:
    groups = load_groups()
    assert groups.names[:3] == ("sky", "water", "vegetation") and "other" in groups.names
    image = np.zeros((120, 160, 3), np.uint8)
    mask = semantic_mask(image, _fake(_scene()), groups)
    counts = dict(zip(mask.names, mask.counts(), strict=True))
    assert counts["sky"] > 0 and counts["water"] > 0 and counts["ground"] > 0  # lake → water, field → ground
    assert counts["vegetation"] > 0  # the tree: small (1.4 %), but the group's only piece, so it stays
    assert np.array_equal(mask.colours, groups.colours)  # every semantic mask shares the table's palette
    # A class no group names goes to "other"; a class the table names goes to its group.
    assert groups.lookup(["sea", "palm", "chandelier"]).tolist() == [
        groups.names.index(n) for n in ("water", "vegetation", "other")
    ]


def test_a_small_piece_folds_into_the_neighbour_it_borders_most() -> None:
    labels = np.zeros((100, 100), np.uint8)  # label 0 everywhere
    labels[:, 50:] = 1  # label 1 on the right
    labels[10:14, 60:64] = 0  # a 16 px piece of label 0 inside label 1: folds into 1
    labels[80:84, 20:24] = 2  # label 2's only piece, inside label 0: stays
    folded = fold_small(labels, 3, min_area=200)
    assert (folded[10:14, 60:64] == 1).all() and (folded[80:84, 20:24] == 2).all()
    assert (folded[:, :50][folded[:, :50] != 2] == 0).all()


@pytest.fixture
def photo_and_painting(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    """A photo with a lake, a painting without water: their semantic masks from the fake parser."""
    rng = np.random.default_rng(0)
    paths = []
    for name, lake in (("photo", True), ("painting", False)):
        image = (rng.random((120, 160, 3)) * 255).astype(np.uint8)
        Image.fromarray(image).save(tmp_path / f"{name}.png")
        semantic_mask_file(tmp_path / f"{name}.png", tmp_path / f"{name}_mask.png", parser=_fake(_scene(lake=lake)))
        paths += [tmp_path / f"{name}.png", tmp_path / f"{name}_mask.png"]
    return paths[0], paths[1], paths[2], paths[3]


def test_transfer_pairs_semantic_regions_by_name_and_maps_what_the_painting_lacks(
    photo_and_painting, tmp_path: Path, capsys
) -> None:
    photo, photo_mask, painting, painting_mask = photo_and_painting
    record = json.loads(photo_mask.with_name("photo_mask.png.json").read_text())
    assert record["mask"] == "semantic" and set(record["groups"]["shares"]) == {"sky", "water", "ground", "vegetation"}
    out = tmp_path / "out.png"
    argv = ["transfer", "--content", str(photo), "--content-mask", str(photo_mask), "--style", str(painting)]
    argv += [
        "--style-mask",
        str(painting_mask),
        "--out",
        str(out),
        "--size",
        "64",
        "--steps",
        "2",
        "--weights",
        "random",
    ]
    assert main(argv) == 0  # no --colors: the masks name their regions
    warnings = [line for line in capsys.readouterr().err.splitlines() if "the painting has no" in line]
    assert len(warnings) == 1 and "the painting has no water" in warnings[0] and "--label-map water=sky" in warnings[0]
    guidance = json.loads((tmp_path / "out.png.json").read_text())["guidance"]
    assert set(guidance["regions"]) == {"sky", "water", "ground", "vegetation"}  # named, not by colour
    assert guidance["label_map"] == {"water": "sky"}


def test_a_painting_the_parser_did_not_see_is_said_and_can_fall_back_to_colours(tmp_path: Path, caplog) -> None:
    rng = np.random.default_rng(1)
    Image.fromarray((rng.random((80, 100, 3)) * 255).astype(np.uint8)).save(tmp_path / "painting.png")
    everywhere = {"sky": np.ones((80, 100), bool)}
    with caplog.at_level(logging.WARNING):
        record = semantic_mask_file(tmp_path / "painting.png", tmp_path / "m.png", parser=_fake(everywhere))
    assert record["one_group"] == {"name": "sky", "share": 1.0} and record["mask"] == "semantic"
    assert "the parser saw only sky (100 % of the picture): paint a mask, or propose one from colours" in caplog.text
    fallback = semantic_mask_file(tmp_path / "painting.png", tmp_path / "c.png", parser=_fake(everywhere),
                                  colours_if_unseen=True)  # fmt: skip
    assert fallback["mask"] == "colours"


def _tiny_upernet(folder: Path) -> None:
    from transformers import ConvNextConfig, UperNetConfig, UperNetForSemanticSegmentation

    backbone = ConvNextConfig(out_features=["stage1", "stage2", "stage3", "stage4"], depths=[1, 1, 1, 1],
                              hidden_sizes=[8, 16, 32, 64])  # fmt: skip
    config = UperNetConfig(backbone_config=backbone, num_labels=150, hidden_size=16, auxiliary_in_channels=32)
    config.id2label = dict(enumerate(ADE20K))
    UperNetForSemanticSegmentation(config).save_pretrained(folder)


def _tiny_segformer(folder: Path) -> None:
    from transformers import SegformerConfig, SegformerForSemanticSegmentation

    config = SegformerConfig(num_labels=150, hidden_sizes=[8, 16, 32, 64], decoder_hidden_size=16, depths=[1, 1, 1, 1])
    SegformerForSemanticSegmentation(config).save_pretrained(folder)  # labels numbered: ADE20K's order assumed


def _tiny_deeplab(folder: Path) -> Path:
    from torchvision.models.segmentation import deeplabv3_mobilenet_v3_large

    folder.mkdir()
    network = deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=21, aux_loss=False)
    torch.save(network.state_dict(), folder / "deeplab.pth")
    return folder / "deeplab.pth"


@pytest.mark.parametrize("family", ["upernet", "segformer", "deeplabv3"])
def test_each_supported_family_loads_from_the_users_path(family: str, tmp_path: Path) -> None:
    folder = tmp_path / family
    source: Path = folder
    if family == "upernet":
        _tiny_upernet(folder)
    elif family == "segformer":
        _tiny_segformer(folder)
    else:
        source = _tiny_deeplab(folder)
    parser = load_parser(source)
    assert len(parser.classes) == (21 if family == "deeplabv3" else 150)
    assert parser.classes[2] == ("bicycle" if family == "deeplabv3" else "sky")  # VOC's, or ADE20K's
    rng = np.random.default_rng(2)
    Image.fromarray((rng.random((90, 120, 3)) * 255).astype(np.uint8)).save(tmp_path / "photo.png")
    out = tmp_path / "mask.png"
    assert main(["-q", "propose-mask", str(tmp_path / "photo.png"), str(out), "--semantic", str(source)]) == 0
    with Image.open(out) as mask:
        assert mask.size == (120, 90) and mask.mode == "P"
        names = json.loads(mask.info["stylesnake-labels"])
    assert list(names) == list(load_groups().names)


def test_offline_with_nothing_cached_is_one_line_naming_both_fixes(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    Image.new("RGB", (64, 48), (90, 140, 200)).save(tmp_path / "photo.png")
    code = main(["propose-mask", str(tmp_path / "photo.png"), str(tmp_path / "m.png"), "--semantic"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and not (tmp_path / "m.png").exists()
    assert "upernet-convnext-tiny: not in the Hugging Face cache" in err
    assert "connect once to fetch it, or pass a folder holding a saved model" in err and "from colours" in err
    with pytest.raises(InputError, match="neither a known model"):
        load_parser("no-such-model")


class _Payload:
    """Unpickled, it would run code: ``touch`` the path it was made with."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.path}",))


def _broken_parser(kind: str, folder: Path) -> None:
    """A scene parser folder broken the way ``kind`` says, made from a tiny saved SegFormer."""
    _tiny_segformer(folder)
    config = json.loads((folder / "config.json").read_text())
    if kind == "labels":  # a config.json listing 10 labels beside weights for 150
        config["id2label"] = {str(i): f"class {i}" for i in range(10)}
        config["label2id"] = {f"class {i}": i for i in range(10)}
        (folder / "config.json").write_text(json.dumps(config))
    elif kind == "empty":  # what a download that never finished leaves
        for path in folder.iterdir():
            path.unlink()
    elif kind == "half-written":
        weights = folder / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif kind == "pickle":  # a pytorch_model.bin whose pickle carries a payload
        (folder / "model.safetensors").unlink()
        (folder / "pytorch_model.bin").write_bytes(pickle.dumps(_Payload(folder.parent / "payload-ran")))


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("labels", "its weights do not match its config.json (another model's config, or another number of labels?)"),
        ("empty", "no saved model there (no config.json; a download or save that did not finish leaves this)"),
        ("half-written", "a damaged weights file (cut short, or not safetensors)"),
        (
            "pickle",
            "pickle weights (pytorch_model.bin) that hold more than tensors, or cannot be read, were not loaded",
        ),
    ],
)
def test_a_broken_parser_folder_is_one_line_naming_it_what_is_wrong_and_the_fix(
    kind: str, said: str, tmp_path: Path, capsys
) -> None:
    folder = tmp_path / "parser"
    _broken_parser(kind, folder)
    photo, out = _photo(tmp_path), tmp_path / "m.png"
    capsys.readouterr()  # saving the tiny model may have drawn a progress bar
    with warnings.catch_warnings(record=True) as caught:  # torch's own note on the pickle would be a 2nd line
        warnings.simplefilter("always")
        code = main(["propose-mask", str(photo), str(out), "--semantic", str(folder)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith(f"stylesnake: error: {folder}: {said}"), err
    assert ("save_pretrained" in err or "safetensors, from a source you trust" in err) and not out.exists()
    assert not caught, [str(w.message) for w in caught]
    assert not (tmp_path / "payload-ran").exists()  # the pickle's payload never ran
    with pytest.raises(InputError, match=re.escape(said)):
        load_parser(folder)  # the workflow's jobs and serve --semantic load it the same way


def test_serve_with_a_parser_folder_holding_no_model_is_one_line(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "parser"
    _broken_parser("empty", folder)
    paintings = tmp_path / "paintings"
    paintings.mkdir()
    Image.new("RGB", (64, 48)).save(paintings / "calm.png")
    capsys.readouterr()  # saving the tiny model may have drawn a progress bar
    serve = ["-q", "serve", "--models", str(tmp_path / "none"), "--paintings", str(paintings), "--port", "0"]
    assert main([*serve, "--semantic", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{folder}: no saved model there (no config.json" in err


@pytest.mark.slow
def test_offline_a_model_not_in_the_cache_is_one_line_at_once(tmp_path: Path) -> None:
    """No network (the hub's address refuses, as it does without one) and an empty cache: the hub
    is asked once, and the one line is all the command says (its client's "Retrying in Ns" lines
    took about 25 s before)."""
    with socket.socket() as probe:  # a local port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(HF_HOME=str(tmp_path / "hf"), HF_HUB_CACHE=str(tmp_path / "hf" / "hub"))
    env.update(HF_ENDPOINT=f"http://127.0.0.1:{port}")
    photo, out = _photo(tmp_path), tmp_path / "m.png"
    command = [sys.executable, "-m", "pipeline", "propose-mask", str(photo), str(out), "--semantic"]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "upernet-convnext-tiny: not in the Hugging Face cache" in proc.stderr and "Retrying" not in proc.stderr
    assert not out.exists()


def test_a_painted_mask_keeps_its_names_without_colors(tmp_path: Path) -> None:
    """Label maps we write carry their names: a semantic mask read back is its groups."""
    from pipeline.io import read_image
    from pipeline.masks import load_label_map, save_label_map

    labels = np.zeros((40, 60), np.uint8)
    labels[20:] = 1
    groups = load_groups()
    save_label_map(LabelMap(labels, groups.colours[:2].copy(), groups.names[:2]), tmp_path / "m.png")
    Image.new("RGB", (60, 40)).save(tmp_path / "photo.png")
    loaded = load_label_map(tmp_path / "m.png", image=read_image(tmp_path / "photo.png"))
    assert loaded.names == ("sky", "water")


def test_the_region_painter_proposes_named_groups_in_the_paintings_palette(tmp_path: Path) -> None:
    import dataclasses
    import io as _bytes_io

    from pipeline.web import create_app, state

    paintings, masks = tmp_path / "paintings", tmp_path / "masks"
    paintings.mkdir()
    masks.mkdir()
    rng = np.random.default_rng(3)
    Image.fromarray((rng.random((120, 160, 3)) * 255).astype(np.uint8)).save(paintings / "shore.png")
    semantic_mask_file(paintings / "shore.png", masks / "shore.png", parser=_fake(_scene(lake=False)))
    app = create_app(None, results=tmp_path / "r", paintings=paintings, painting_masks=masks, weights="random")
    web = state(app)
    app.extensions["stylesnake"] = dataclasses.replace(web, semantic=(_fake(_scene()), load_groups()))
    buffer = _bytes_io.BytesIO()
    Image.fromarray((rng.random((120, 160, 3)) * 255).astype(np.uint8)).save(buffer, "PNG")
    answer = app.test_client().post(
        "/propose", data={"painting": "shore", "photo": (_bytes_io.BytesIO(buffer.getvalue()), "lake.png")},
        content_type="multipart/form-data",
    ).get_json()  # fmt: skip
    assert [label["name"] for label in answer["labels"]] == ["sky", "vegetation", "ground"]  # the painting's groups
    import base64

    mask = np.asarray(Image.open(_bytes_io.BytesIO(base64.b64decode(answer["mask"].split(",")[1]))).convert("RGB"))
    groups = load_groups()
    sky = groups.colours[groups.names.index("sky")]
    assert (mask[5] == sky).all() and (mask[-5, 5] == sky).all()  # the photo's lake takes the painting's sky


# --- the share under which pieces fold, and folding that never erases a group -------------------


def _ponds(height: int = 120, width: int = 160) -> dict[str, np.ndarray]:
    """Sky above, field below, a lake at the bottom left and a pond of 1.5 % of the picture in the field."""
    rows, cols = np.mgrid[0:height, 0:width]
    sky = rows < height * 0.45
    lake = ~sky & (cols < width * 0.3)
    pond = (rows >= 90) & (rows < 108) & (cols >= 110) & (cols < 126)  # 18 x 16 = 288 px of 19200: 1.5 %
    return {"sky": sky, "lake": lake | pond, "field": ~sky & ~lake & ~pond}


@pytest.fixture
def fake_parser(monkeypatch) -> dict[str, Parser]:
    """``propose-mask --semantic`` gets the fake parser put in the returned dict (nothing is loaded)."""
    from pipeline.masks import semantic

    chosen = {"parser": _fake(_ponds())}
    monkeypatch.setattr(semantic, "load_parser", lambda model=None: chosen["parser"])
    return chosen


def _photo(tmp_path: Path) -> Path:
    rng = np.random.default_rng(4)
    Image.fromarray((rng.random((120, 160, 3)) * 255).astype(np.uint8)).save(tmp_path / "photo.png")
    return tmp_path / "photo.png"


def test_min_share_chooses_which_pieces_fold(fake_parser, tmp_path: Path) -> None:
    photo = _photo(tmp_path)
    groups = load_groups()
    water = groups.names.index("water")
    for share, pond in ((None, "ground"), ("0.01", "water"), ("0", "water")):
        out = tmp_path / f"mask_{share}.png"
        argv = ["-q", "propose-mask", str(photo), str(out), "--semantic", "fake"]
        assert main(argv + (["--min-share", share] if share else [])) == 0
        with Image.open(out) as mask:
            labels = np.asarray(mask)
        assert groups.names[labels[100, 118]] == pond  # 1.5 %: under the default 2 %, over 1 %
        assert (labels[80:, :40] == water).all()  # the lake is large: it stays whatever the share
    label_map = semantic_mask(np.zeros((120, 160, 3), np.uint8), _fake(_ponds()), groups, min_share=0.01)
    assert label_map.names[label_map.labels[100, 118]] == "water"
    record = semantic_mask_file(photo, tmp_path / "m.png", parser=_fake(_ponds()), min_share=0.01)
    assert record["groups"]["min_share"] == 0.01


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--min-share", "2"], "--min-share 2: a share of the picture, from 0 to 0.5 (2 % is 0.02)"),
        (["--min-share", "-0.1"], "--min-share -0.1: a share of the picture, from 0 to 0.5"),
        (["--min-share", "0.6"], "--min-share 0.6: a share of the picture, from 0 to 0.5"),
        (["--min-share", "nan"], "--min-share nan: a share of the picture, from 0 to 0.5"),
        (["--min-area", "50"], "--min-area and --semantic: a semantic mask folds small pieces by --min-share"),
        (
            ["--seed", "3"],
            "--seed and --semantic: the seed is the colour proposal's, used only with --colours-if-unseen",
        ),
    ],
)
def test_semantic_flags_out_of_range_or_of_the_colour_proposal_are_one_line(
    fake_parser, tmp_path: Path, capsys, flags: list[str], message: str
) -> None:
    photo = _photo(tmp_path)
    assert main(["propose-mask", str(photo), str(tmp_path / "m.png"), "--semantic", "fake", *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and not (tmp_path / "m.png").exists()
    assert main(["propose-mask", str(photo), str(tmp_path / "c.png"), "--min-share", "0.05"]) == 2
    assert "--min-share only works with --semantic" in capsys.readouterr().err
    with pytest.raises(InputError, match=r"semantic\.min_share 5: a share of the picture"):
        check_min_share(5, name="semantic.min_share")  # the workflow's key says it under its own name
    with pytest.raises(InputError, match=r"min_share 1\.5: a share of the picture"):
        semantic_mask(np.zeros((8, 8, 3), np.uint8), _fake({}), load_groups(), min_share=1.5)


def test_the_seed_is_the_colour_fallbacks_with_colours_if_unseen(fake_parser, tmp_path: Path, monkeypatch) -> None:
    from pipeline.masks import semantic

    seeds = []
    real = semantic.propose_mask
    monkeypatch.setattr(semantic, "propose_mask", lambda image, **kw: seeds.append(kw.get("seed")) or real(image, **kw))
    fake_parser["parser"] = _fake({"sky": np.ones((120, 160), bool)})  # the parser sees only sky
    out = tmp_path / "m.png"
    argv = ["-q", "propose-mask", str(_photo(tmp_path)), str(out), "--semantic", "fake", "--colours-if-unseen"]
    assert main([*argv, "--seed", "7"]) == 0 and main(argv) == 0
    assert json.loads(Path(f"{out}.json").read_text())["mask"] == "colours" and seeds == [7, 0]


def test_a_group_in_small_pieces_only_keeps_its_largest() -> None:
    labels = np.zeros((100, 100), np.uint8)
    labels[:, 50:] = 1
    labels[10:14, 10:14] = 2  # label 2: two small pieces, 16 px …
    labels[70:73, 70:73] = 2  # … and 9 px: the larger stays, the smaller folds
    labels[40:43, 20:23] = 1  # label 1 has a large piece: its small one folds as before
    folded = fold_small(labels, 3, min_area=200)
    assert (folded[10:14, 10:14] == 2).all() and (folded[70:73, 70:73] == 1).all()
    assert (folded[40:43, 20:23] == 0).all()
    assert set(np.unique(folded)) == {0, 1, 2}  # no group present in the parse disappears


# --- custom group tables ---------------------------------------------------------------------------

CUSTOM = """
groups:
  heaven:
    colour: "#0000ff"
    classes: [sky]
    related: [land]
  lakes:
    colour: "#00ffff"
    classes: [lake, water]
    related: [heaven]
  land:
    colour: "#00ff00"
    classes: [field, tree]
  rest:
    colour: "#ff00ff"
"""


def test_a_misspelt_class_in_a_group_table_is_one_line_naming_the_nearest(fake_parser, tmp_path: Path, capsys) -> None:
    table = tmp_path / "mine.yaml"
    table.write_text(CUSTOM.replace("[sky]", "[skyy]"))
    with pytest.raises(InputError) as refused:
        load_groups(table)
    assert str(refused.value) == f"{table}: class skyy is not an ADE20K class; did you mean sky?"
    code = main(
        ["propose-mask", str(_photo(tmp_path)), str(tmp_path / "m.png"), "--semantic", "x", "--groups", str(table)]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "class skyy is not an ADE20K class; did you mean sky?" in err
    table.write_text(CUSTOM.replace("[sky]", "[sky, aeroplane]"))  # Pascal VOC's names: torchvision's parsers
    assert load_groups(table).classes["aeroplane"] == "heaven"
    table.write_text(CUSTOM.replace("[field, tree]", "[field, tree, water]"))  # the last would win unsaid
    with pytest.raises(InputError, match="class water is in two groups; keep it in one"):
        load_groups(table)


def test_a_group_table_with_no_groups_or_a_yaml_mistake_is_one_line_with_its_place(
    fake_parser, tmp_path: Path, capsys
) -> None:
    table = tmp_path / "mine.yaml"
    fix = "copy pipeline/masks/groups.yaml and edit it"
    for text, message in [
        ("groups: {}\n", f"{table}: no groups under 'groups:'; name at least one, with its colour and classes"),
        (  # the flow list on line 5 is never closed: the parser sees the next key's ':'
            CUSTOM.replace("[sky]", "[sky"),
            f"{table}: line 6, column 12: expected ',' or ']', but got ':' (while parsing a flow sequence from "
            f"line 5); {fix}",
        ),
        (CUSTOM.replace("  rest:", "\trest:"), f"{table}: line 14, column 1: found character '\\t' that cannot"),
        ("groups: \x07", f"{table}: line 1, column 9: character U+0007 is not allowed; {fix}"),
    ]:
        table.write_text(text)
        with pytest.raises(InputError) as refused:
            load_groups(table)
        assert str(refused.value).startswith(message) and "\n" not in str(refused.value), str(refused.value)
        argv = ["propose-mask", str(_photo(tmp_path)), str(tmp_path / "m.png"), "--semantic", "x", "--groups"]
        assert main([*argv, str(table)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err and not (tmp_path / "m.png").exists()
    table.write_bytes(b"\xff\xfegroups")
    with pytest.raises(InputError, match=r"mine\.yaml: not a text file \(UTF-8\)"):
        load_groups(table)


def test_a_custom_table_names_and_colours_the_mask_end_to_end(fake_parser, tmp_path: Path) -> None:
    table = tmp_path / "mine.yaml"
    table.write_text(CUSTOM)
    out = tmp_path / "m.png"
    argv = ["-q", "propose-mask", str(_photo(tmp_path)), str(out), "--semantic", "fake", "--groups", str(table)]
    assert main(argv) == 0
    with Image.open(out) as mask:
        names = json.loads(mask.info["stylesnake-labels"])
        labels = np.asarray(mask)
    assert names == {"heaven": "#0000ff", "lakes": "#00ffff", "land": "#00ff00", "rest": "#ff00ff"}
    assert labels[5, 5] == 0 and labels[110, 5] == 1 and labels[70, 80] == 2  # sky, lake, field
    record = json.loads(Path(f"{out}.json").read_text())
    assert record["groups"]["table"] == str(table) and set(record["groups"]["shares"]) == {"heaven", "lakes", "land"}


# --- the web app's --semantic, through create_app and serve ----------------------------------------


def test_the_web_app_loads_a_parser_from_a_folder_and_proposes_named_groups(tmp_path: Path) -> None:
    import io as _bytes_io

    from pipeline.web import create_app, state

    model, table = tmp_path / "parser", tmp_path / "mine.yaml"
    _tiny_upernet(model)
    table.write_text(CUSTOM)
    paintings, masks = tmp_path / "paintings", tmp_path / "masks"
    paintings.mkdir()
    masks.mkdir()
    rng = np.random.default_rng(5)
    Image.fromarray((rng.random((120, 160, 3)) * 255).astype(np.uint8)).save(paintings / "shore.png")
    semantic_mask_file(paintings / "shore.png", masks / "shore.png", parser=_fake(_scene()), groups=table)
    app = create_app(None, results=tmp_path / "r", paintings=paintings, painting_masks=masks, weights="random",
                     semantic=model, groups=table)  # fmt: skip
    parser, groups = state(app).semantic
    assert parser.name == "parser" and parser.classes == ADE20K and groups.source == str(table)
    buffer = _bytes_io.BytesIO()
    Image.fromarray((rng.random((90, 120, 3)) * 255).astype(np.uint8)).save(buffer, "PNG")
    response = app.test_client().post(
        "/propose", data={"painting": "shore", "photo": (_bytes_io.BytesIO(buffer.getvalue()), "lake.png")},
        content_type="multipart/form-data",
    )  # fmt: skip
    answer = response.get_json()
    assert response.status_code == 200 and answer["width"] == 120 and answer["height"] == 90
    assert [label["name"] for label in answer["labels"]] == ["heaven", "lakes", "land"]  # the painting's groups
    mask = Image.open(_bytes_io.BytesIO(base64.b64decode(answer["mask"].split(",")[1]))).convert("RGB")
    assert {c for _, c in mask.getcolors()} <= {(0, 0, 255), (0, 255, 255), (0, 255, 0)}


def test_serve_takes_groups_with_semantic_only(tmp_path: Path, capsys) -> None:
    table = tmp_path / "mine.yaml"
    table.write_text(CUSTOM.replace("[field, tree]", "[feild, tree]"))
    paintings = tmp_path / "paintings"
    paintings.mkdir()
    Image.new("RGB", (64, 48)).save(paintings / "calm.png")
    serve = ["-q", "serve", "--models", str(tmp_path / "none"), "--paintings", str(paintings), "--port", "0"]
    assert main([*serve, "--semantic", str(tmp_path / "nowhere"), "--groups", str(table)]) == 2
    err = capsys.readouterr().err  # the table is read (and refused) first: before any parser loads
    assert err.count("\n") == 1 and f"{table}: class feild is not an ADE20K class; did you mean field?" in err
    assert main([*serve, "--groups", str(table)]) == 2
    assert "--groups only works with --semantic" in capsys.readouterr().err
