"""The `stylesnake` command: success, verbosity, and one clear line with exit 2 for every bad input."""

from __future__ import annotations

import io as _io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.cli import main

FAST = ["--size", "48", "--steps", "3", "--weights", "random"]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the CLI in-process; argparse's own errors exit via SystemExit, ours return 2."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_transfer_writes_image_and_sidecar(tmp_path: Path, content_path: Path, style_path: Path, capsys) -> None:
    out = tmp_path / "out.jpg"
    code, _, err = _run(
        capsys, "transfer", "--content", str(content_path), "--style", str(style_path), "--out", str(out), *FAST
    )
    assert code == 0, err
    assert Image.open(out).format == "JPEG"
    sidecar = json.loads((tmp_path / "out.jpg.json").read_text())
    assert sidecar["parameters"]["size"] == 48 and sidecar["weights"]["kind"] == "random"
    assert "wrote" in err  # default verbosity logs progress to stderr


def test_quiet_is_silent_and_options_reach_the_config(
    tmp_path: Path, content_path: Path, style_path: Path, capsys
) -> None:
    out = tmp_path / "out.png"
    argv = ["-q", "transfer", "--content", str(content_path), "--style", str(style_path), "--out", str(out), *FAST]
    argv += ["--pooling", "avg", "--init", "noise", "--optimizer", "adam", "--lr", "0.05", "--tv-weight", "0.5"]
    argv += ["--style-layers", "relu1_1,relu2_1", "--style-layer-weights", "1,0.25", "--content-layer", "relu2_1"]
    argv += ["--steps", "12"]  # enough for Adam to converge: a stalled run warns even under -q
    code, stdout, err = _run(capsys, *argv)
    assert code == 0 and stdout == "" and err == ""
    params = json.loads((tmp_path / "out.png.json").read_text())["parameters"]
    assert params["pooling"] == "avg" and params["init"] == "noise" and params["optimizer"] == "adam"
    assert params["lr"] == 0.05 and params["tv_weight"] == 0.5
    assert params["style_layers"] == ["relu1_1", "relu2_1"] and params["style_layer_weights"] == [1.0, 0.25]


def test_quiet_still_warns_when_the_loss_stalls(tmp_path: Path, content_path: Path, style_path: Path, capsys) -> None:
    out = tmp_path / "out.png"
    argv = ["-q", "transfer", "--content", str(content_path), "--style", str(style_path), "--out", str(out), *FAST]
    code, _, err = _run(capsys, *argv, "--optimizer", "adam", "--lr", "1e-7")
    assert code == 0
    assert err.count("\n") == 1 and err.startswith("stylesnake: the loss fell by only 0% in 3 evaluations")
    assert json.loads((tmp_path / "out.png.json").read_text())["converged"] is False


def _truncated(path: Path) -> None:
    buffer = _io.BytesIO()
    Image.effect_noise((64, 64), 50).convert("RGB").save(buffer, "PNG")
    path.write_bytes(buffer.getvalue()[:300])


@pytest.mark.parametrize(
    ("case", "extra", "message"),
    [
        ("missing", [], "no such file"),
        ("directory", [], "is a directory"),
        ("not-image", [], "not an image"),
        ("truncated", [], "truncated or corrupt"),
        ("zero-size", [], "empty"),
        ("pixel-limit", ["--max-pixels", "100"], "over the limit"),
        ("unknown-layer", ["--content-layer", "relu9_9"], "unknown VGG-19 layer 'relu9_9'"),
        ("bad-weights", ["--weights", "WEIGHTS"], "not a readable VGG-19 state dict"),
        ("steps", ["--steps", "0"], "steps must be a positive integer"),
        ("size", ["--size", "-1"], "size must be a positive integer"),
        ("size-text", ["--size", "big"], "invalid int value: 'big'"),
        ("out-ext", ["--out", "OUT.tiff"], "cannot save as '.tiff'"),
    ],
)
def test_bad_input_is_one_line_exit_2_no_output(
    tmp_path: Path, content_path: Path, style_path: Path, capsys, case: str, extra: list[str], message: str
) -> None:
    bad = tmp_path / "bad.png"
    {
        "missing": lambda: None,
        "directory": bad.mkdir,
        "not-image": lambda: bad.write_text("plain text"),
        "truncated": lambda: _truncated(bad),
        "zero-size": lambda: bad.write_bytes(b""),
    }.get(case, lambda: None)()
    content = bad if case in {"missing", "directory", "not-image", "truncated", "zero-size"} else content_path
    weights = tmp_path / "weights.pth"
    weights.write_text("garbage")
    out = tmp_path / "out" / "result.png"
    argv = ["transfer", "--content", str(content), "--style", str(style_path), "--out", str(out)]
    argv += ["--size", "48", "--steps", "2", "--weights", "random"]
    argv += [str(weights) if a == "WEIGHTS" else str(tmp_path / "out.tiff") if a == "OUT.tiff" else a for a in extra]
    code, _, err = _run(capsys, *argv)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1, err  # exactly one line
    assert "Traceback" not in err
    if case in {"missing", "directory", "not-image", "truncated", "zero-size"}:
        assert str(bad) in err  # says which file
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob("out*"))


@pytest.mark.slow
def test_python_m_pipeline_is_the_same_program(tmp_path: Path, content_path: Path, style_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    missing = tmp_path / "nope.png"
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", "transfer", "--content", str(missing), "--style", str(style_path),
         "--out", str(tmp_path / "o.png"), "--weights", "random"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr == f"stylesnake: error: {missing}: no such file; check the path\n"
    version = subprocess.run([sys.executable, "-m", "pipeline", "--version"], capture_output=True, text=True, env=env)
    assert version.returncode == 0 and version.stdout.startswith("stylesnake ")


def test_offline_imagenet_is_one_line(
    tmp_path: Path, content_path: Path, style_path: Path, capsys, monkeypatch
) -> None:
    def blocked(*args, **kwargs):
        raise OSError("network blocked by test")

    monkeypatch.setattr(torch.hub, "download_url_to_file", blocked)
    argv = ["transfer", "--content", str(content_path), "--style", str(style_path), "--out", str(tmp_path / "o.png")]
    code, _, err = _run(capsys, *argv, "--size", "32", "--steps", "1")
    assert code == 2
    assert err.count("\n") == 1
    assert "--weights random" in err
    assert not (tmp_path / "o.png").exists()


# --- spatial control from the command line -----------------------------------------------------


def _masks(tmp_path: Path, content_size: tuple[int, int], style_size: tuple[int, int]) -> tuple[Path, Path]:
    colours = np.array([(66, 135, 245), (40, 160, 60)], np.uint8)
    (cw, ch), (sw, sh) = content_size, style_size
    content = np.zeros((ch, cw), int)
    content[:, cw // 2 :] = 1
    style = np.zeros((sh, sw), int)
    style[sh // 2 :] = 1
    Image.fromarray(colours[content]).save(tmp_path / "cm.png")
    Image.fromarray(colours[style]).save(tmp_path / "sm.png")
    return tmp_path / "cm.png", tmp_path / "sm.png"


def test_guided_transfer(tmp_path: Path, content_path: Path, style_path: Path, capsys) -> None:
    cm, sm = _masks(tmp_path, (80, 64), (64, 64))
    out = tmp_path / "guided.png"
    argv = ["-q", "transfer", "--content", str(content_path), "--style", str(style_path), "--out", str(out), *FAST]
    argv += ["--content-mask", str(cm), "--style-mask", str(sm), "--guide-mode", "inside", "--guide-grow", "-1"]
    code, _, err = _run(capsys, *argv, "--colors", "sky=#4287f5,tree=#28a03c", "--region-weights", "sky=2")
    assert code == 0, err
    sidecar = json.loads((tmp_path / "guided.png.json").read_text())
    assert sidecar["method"] == "gatys2016-guided"
    assert sidecar["parameters"]["guide_mode"] == "inside"
    assert sidecar["guidance"]["regions"] == {
        "sky": {"content_share": 0.5, "weight": pytest.approx(2 / 3)},
        "tree": {"content_share": 0.5, "weight": pytest.approx(1 / 3)},
    }


def test_two_style_images_blended(tmp_path: Path, content_path: Path, style_path: Path, capsys) -> None:
    out = tmp_path / "blend.png"
    argv = ["-q", "transfer", "--content", str(content_path), "--style", str(style_path), "--style", str(content_path)]
    code, _, err = _run(capsys, *argv, "--style-blend", "3,1", "--out", str(out), *FAST)
    assert code == 0, err
    sidecar = json.loads((tmp_path / "blend.png.json").read_text())
    assert len(sidecar["styles"]) == 2
    assert sidecar["parameters"]["style_blend"] == [3.0, 1.0]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("aspect", "aspect ratios differ by"),
        ("no-style-mask", "1 style image(s) but 0 style mask(s)"),
        ("unreadable-mask", "not an image"),
        ("missing-label", "that no style mask holds"),
        ("blank-mask", "mask is blank"),
        ("bad-label-map", "expected NAME=VALUE pairs"),
    ],
)
def test_bad_guided_input_is_one_line_exit_2(
    tmp_path: Path, content_path: Path, style_path: Path, capsys, case, message
) -> None:
    cm, sm = _masks(tmp_path, (80, 64), (64, 64))
    extra = ["--content-mask", str(cm), "--style-mask", str(sm)]
    if case == "aspect":
        _masks(tmp_path, (64, 64), (64, 64))  # content mask now square, its image is 80×64
    elif case == "no-style-mask":
        extra = ["--content-mask", str(cm)]
    elif case == "unreadable-mask":
        sm.write_text("not a png")
    elif case == "missing-label":
        style = np.zeros((64, 64, 3), np.uint8)  # sky and a red label, but no tree
        style[...] = (66, 135, 245)
        style[:32, :32] = (200, 30, 30)
        Image.fromarray(style).save(sm)
        # The project's labels name the regions: a label the style lacks is an error. (Without
        # --colors, masks in different colours have their regions paired instead: tests/test_propose.py.)
        extra += ["--colors", "sky=#4287f5,tree=#28a03c,red=#c81e1e"]
    elif case == "blank-mask":
        Image.new("RGB", (80, 64), (66, 135, 245)).save(cm)
    elif case == "bad-label-map":
        extra += ["--label-map", "sky"]
    out = tmp_path / "out.png"
    argv = ["transfer", "--content", str(content_path), "--style", str(style_path), "--out", str(out), *FAST, *extra]
    code, _, err = _run(capsys, *argv)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1, err
    assert not out.exists()


def test_regions_from_two_paintings_with_painted_masks(
    tmp_path: Path, content_path: Path, style_path: Path, capsys
) -> None:
    """Sky from one painting, ground from another; masks hand-painted (k-means) or one colour."""
    rng = np.random.default_rng(0)
    sky, ground = np.array((66, 135, 245)), np.array((140, 90, 40))
    painted = np.zeros((64, 80, 3))
    painted[:32], painted[32:] = sky, ground
    painted = np.clip(painted + rng.integers(-6, 7, painted.shape), 0, 255).astype(np.uint8)  # jittered shades
    Image.fromarray(painted).save(tmp_path / "cm.jpg", quality=80)
    Image.new("RGB", (64, 64), tuple(int(v) for v in sky + 3)).save(tmp_path / "sky.png")  # all sky, another shade
    Image.new("RGB", (80, 64), tuple(int(v) for v in ground - 4)).save(tmp_path / "ground.png")
    out = tmp_path / "two.png"
    argv = ["-q", "transfer", "--content", str(content_path), "--out", str(out), *FAST, "--k", "2,1,1"]
    argv += ["--content-mask", str(tmp_path / "cm.jpg")]
    argv += ["--style", str(style_path), "--style-mask", str(tmp_path / "sky.png")]
    argv += ["--style", str(content_path), "--style-mask", str(tmp_path / "ground.png")]
    code, _, err = _run(capsys, *argv)
    assert code == 0, err
    regions = json.loads((tmp_path / "two.png.json").read_text())["guidance"]["regions"]
    assert len(regions) == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--k", "2"], "--k only work(s) with --content-mask"),
        (["--content-mask", "CM", "--style-mask", "SM", "--k", "2,2,2"], "--k gives 3 numbers for 2 masks"),
        (["--content-mask", "CM", "--style-mask", "SM", "--region-weights", "#4287f5=inf"], "must be a finite number"),
    ],
)
def test_bad_mask_options(tmp_path: Path, content_path: Path, style_path: Path, capsys, extra, message) -> None:
    cm, sm = _masks(tmp_path, (80, 64), (64, 64))
    extra = [str(cm) if a == "CM" else str(sm) if a == "SM" else a for a in extra]
    argv = ["transfer", "--content", str(content_path), "--style", str(style_path), "--out", str(tmp_path / "o.png")]
    code, _, err = _run(capsys, *argv, *FAST, *extra)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1


# --- style targets: computed once, reused by every transfer ------------------------------------


@pytest.mark.parametrize("guided", [False, True], ids=["plain", "guided"])
def test_saved_style_targets_give_the_same_bytes(
    tmp_path: Path, content_path: Path, style_path: Path, capsys, guided: bool
) -> None:
    cm, sm = _masks(tmp_path, (80, 64), (64, 64))
    colours = ["--colors", "sky=#4287f5,tree=#28a03c"] if guided else []
    targets = tmp_path / "style.pt"
    argv = ["-q", "style-targets", "--style", str(style_path), "--out", str(targets), "--size", "48"]
    argv += ["--weights", "random", *(["--style-mask", str(sm), *colours] if guided else [])]
    code, _, err = _run(capsys, *argv)
    assert code == 0, err
    sidecar = json.loads((tmp_path / "style.pt.json").read_text())
    assert sidecar["method"] == "style-targets" and sidecar["size"] == 48
    assert sorted(sidecar["labels"]) == (["sky", "tree"] if guided else [])

    outs = []
    for style in (style_path, targets):
        out = tmp_path / f"from-{style.suffix[1:]}.png"
        argv = ["-q", "transfer", "--content", str(content_path), "--style", str(style), "--out", str(out), *FAST]
        if guided:
            argv += ["--content-mask", str(cm), *colours]
            argv += ["--style-mask", str(sm)] if style == style_path else []
        code, _, err = _run(capsys, *argv)
        assert code == 0, err
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]  # the cached Grams are exactly the ones a direct transfer computes


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("pooling", "computed with pooling max, this transfer uses avg"),
        ("size", "computed with size 48, this transfer uses 64"),
        ("layers", "hold no Grams for relu3_1"),
        ("unmasked", "computed without a mask"),
        ("not-targets", "not a style targets file"),
    ],
)
def test_unfit_style_targets_are_one_line_exit_2(
    tmp_path: Path, content_path: Path, style_path: Path, capsys, case: str, message: str
) -> None:
    cm, _ = _masks(tmp_path, (80, 64), (64, 64))
    targets = tmp_path / "style.pt"
    argv = ["-q", "style-targets", "--style", str(style_path), "--out", str(targets), "--size", "48"]
    assert _run(capsys, *argv, "--weights", "random", "--style-layers", "relu1_1,relu2_1")[0] == 0
    extra = {
        "pooling": ["--pooling", "avg"],
        "size": ["--size", "64"],
        "layers": ["--style-layers", "relu1_1,relu3_1"],
        "unmasked": ["--content-mask", str(cm)],
        "not-targets": [],
    }[case]
    if case == "not-targets":
        targets.write_bytes(b"junk")
    out = tmp_path / "out.png"
    argv = ["transfer", "--content", str(content_path), "--style", str(targets), "--out", str(out), *FAST]
    code, _, err = _run(capsys, *argv, "--style-layers", "relu1_1,relu2_1", *extra)
    assert code == 2
    assert err.count("\n") == 1 and message in err, err
    assert not out.exists()


# --- outputs never destroy inputs ------------------------------------------------------------


@pytest.mark.parametrize("target", ["content", "style", "content_mask", "style_mask"])
def test_transfer_refuses_an_output_that_is_an_input(
    tmp_path: Path, content_path: Path, style_path: Path, capsys, target: str
) -> None:
    cm, sm = _masks(tmp_path, Image.open(content_path).size, Image.open(style_path).size)
    inputs = {"content": content_path, "style": style_path, "content_mask": cm, "style_mask": sm}
    before = {name: path.read_bytes() for name, path in inputs.items()}
    argv = ["transfer", "--content", str(content_path), "--style", str(style_path), *FAST]
    argv += ["--content-mask", str(cm), "--style-mask", str(sm), "--out", str(inputs[target])]
    code, _, err = _run(capsys, *argv)
    assert code == 2 and err.count("\n") == 1 and "is also an input" in err, err
    assert {name: path.read_bytes() for name, path in inputs.items()} == before


def test_stylize_refuses_to_overwrite_its_photo_or_to_merge_two_results(
    tmp_path: Path, content_path: Path, style_path: Path, capsys
) -> None:
    model = tmp_path / "m.pth"
    argv = ["-q", "train", "--style", str(style_path), "--data", str(content_path.parent), "--out", str(model)]
    assert main([*argv, "--steps", "1", "--size", "32", "--batch", "1", "--width", "0.25", "--weights", "random"]) == 0
    before = content_path.read_bytes()
    code, _, err = _run(
        capsys, "stylize", "--model", str(model), "--content", str(content_path), "--out", str(content_path)
    )
    assert code == 2 and "is also an input" in err and content_path.read_bytes() == before
    # Two photos of one name in different folders would both become out/<name>.png.
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for folder in ("a", "b"):
        Image.open(content_path).save(tmp_path / folder / "photo.png")
    argv = ["stylize", "--model", str(model), "--content", str(tmp_path / "a/photo.png")]
    argv += ["--content", str(tmp_path / "b/photo.png"), "--out-dir", str(tmp_path / "out")]
    code, _, err = _run(capsys, *argv)
    assert code == 2 and err.count("\n") == 1, err
    assert "a/photo.png and " in err and "b/photo.png both would be written to" in err
    assert not (tmp_path / "out" / "photo.png").exists()


def test_stylize_takes_a_shell_glob_and_says_what_it_wrote(
    tmp_path: Path, content_path: Path, style_path: Path, capsys
) -> None:
    model = tmp_path / "m.pth"
    argv = ["-q", "train", "--style", str(style_path), "--data", str(content_path), "--out", str(model)]
    assert main([*argv, "--steps", "1", "--size", "32", "--batch", "1", "--width", "0.25", "--weights", "random"]) == 0
    photos = []
    for name in ("a", "b", "c"):
        photos.append(tmp_path / "photos" / f"{name}.jpg")
        photos[-1].parent.mkdir(exist_ok=True)
        Image.open(content_path).convert("RGB").save(photos[-1])
    # `--content *.jpg`: the shell hands over every match after the one flag.
    argv = ["stylize", "--model", str(model), "--content", *map(str, photos), "--out-dir", str(tmp_path / "out")]
    code, _, err = _run(capsys, *argv)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["a.png", "b.png", "c.png"]
    assert [line for line in err.splitlines() if "wrote" in line] == [
        f"stylesnake: wrote {tmp_path / 'out' / name}.png ({seconds})"
        for name, seconds in zip("abc", re.findall(r"\(([0-9.]+ s)\)", err), strict=True)
    ]


def test_stylize_strength_blends_towards_the_photo(
    tmp_path: Path, content_path: Path, style_path: Path, capsys
) -> None:
    model = tmp_path / "m.pth"
    argv = ["-q", "train", "--style", str(style_path), "--data", str(content_path.parent), "--out", str(model)]
    assert main([*argv, "--steps", "1", "--size", "32", "--batch", "1", "--width", "0.25", "--weights", "random"]) == 0
    photo = np.asarray(Image.open(content_path).convert("RGB"), np.float32)
    distances = []
    for strength in ("0", "0.5", "1"):
        out = tmp_path / f"s{strength}.png"
        argv = ["-q", "stylize", "--model", str(model), "--content", str(content_path), "--out", str(out)]
        assert main([*argv, "--strength", strength]) == 0
        assert json.loads((tmp_path / f"s{strength}.png.json").read_text())["parameters"]["strength"] == float(strength)
        distances.append(np.abs(np.asarray(Image.open(out), np.float32) - photo).mean())
    assert distances[0] < 1.0  # strength 0 is the photo itself
    assert abs(distances[1] - distances[2] / 2) < 1.5  # linear in between
    code, _, err = _run(
        capsys,
        "stylize",
        "--model",
        str(model),
        "--content",
        str(content_path),
        "--out",
        str(tmp_path / "x.png"),
        "--strength",
        "1.5",
    )
    assert code == 2 and "strength must be a number from 0" in err and not (tmp_path / "x.png").exists()


def test_save_every_writes_snapshots_with_their_losses(
    tmp_path: Path, content_path: Path, style_path: Path, capsys
) -> None:
    out = tmp_path / "out.png"
    argv = ["-q", "transfer", "--content", str(content_path), "--style", str(style_path), "--out", str(out), *FAST]
    assert _run(capsys, *argv, "--steps", "12", "--save-every", "2")[0] == 0  # an earlier run: 2, 4, ... 12
    (tmp_path / "out.png.steps" / "notes.txt").write_text("mine")  # a file stylesnake did not write
    code, _, err = _run(capsys, *argv, "--steps", "6", "--save-every", "2", "--scales", "32,48", "--stage-steps", "4")
    assert code == 0, err
    index = json.loads((tmp_path / "out.png.steps" / "index.json").read_text())["snapshots"]
    # Stage one: evaluations 2 and 4 (at 32 px); stage two continues the count: 6, 8, 10 (48 px).
    assert [entry["evaluation"] for entry in index] == [2, 4, 6, 8, 10]
    # The earlier run's snapshots are gone (00012.png among them); the user's file stays.
    assert sorted(p.name for p in (tmp_path / "out.png.steps").glob("*.png")) == [e["file"] for e in index]
    assert (tmp_path / "out.png.steps" / "notes.txt").read_text() == "mine"
    assert Image.open(tmp_path / "out.png.steps" / index[-1]["file"]).size == Image.open(out).size
    assert all(np.isfinite(entry["loss"]) for entry in index)
    assert json.loads((tmp_path / "out.png.json").read_text())["snapshots"] == str(tmp_path / "out.png.steps")


def test_a_run_that_starts_from_a_snapshot_keeps_it(
    tmp_path: Path, content_path: Path, style_path: Path, capsys
) -> None:
    """README's "watch it and pick one": the picked snapshot (and any input kept in that folder) is
    never removed or replaced; the new run's snapshots go to the next free folder."""
    out, steps = tmp_path / "out.png", tmp_path / "out.png.steps"
    argv = ["-q", "transfer", "--style", str(style_path), "--out", str(out), *FAST, "--save-every", "2"]
    assert _run(capsys, *argv, "--content", str(content_path), "--steps", "6")[0] == 0
    picked = steps / "00004.png"
    before = picked.read_bytes()
    kept_content = steps / "photo.png"  # a content image kept in the snapshot folder
    kept_content.write_bytes(content_path.read_bytes())
    code, _, err = _run(capsys, *argv, "--content", str(kept_content), "--init", f"image:{picked}", "--steps", "4")
    assert code == 0, err
    assert picked.read_bytes() == before and kept_content.read_bytes() == content_path.read_bytes()
    assert sorted(p.name for p in steps.glob("0*.png")) == ["00002.png", "00004.png", "00006.png"]  # untouched
    again = tmp_path / "out.png.steps-2"
    assert [e["evaluation"] for e in json.loads((again / "index.json").read_text())["snapshots"]] == [2, 4]
    sidecar = json.loads((tmp_path / "out.png.json").read_text())
    assert sidecar["parameters"]["init"] == f"image:{picked}" and sidecar["snapshots"] == str(again)


def test_save_every_over_a_file_is_one_line(tmp_path: Path, content_path: Path, style_path: Path, capsys) -> None:
    out = tmp_path / "out.png"
    (tmp_path / "out.png.steps").write_text("a file where the snapshot folder goes")
    argv = ["transfer", "--content", str(content_path), "--style", str(style_path), "--out", str(out), *FAST]
    code, _, err = _run(capsys, *argv, "--save-every", "2")
    assert code == 2 and err.count("\n") == 1 and "out.png.steps: is a file, but --save-every writes a folder" in err
    assert not out.exists() and (tmp_path / "out.png.steps").read_text().startswith("a file")


def test_transparent_photo_keeps_its_alpha_unless_dropped(
    tmp_path: Path, content_path: Path, style_path: Path, capsys
) -> None:
    rgba = Image.open(content_path).convert("RGBA")
    alpha = np.zeros(rgba.size[::-1], np.uint8)
    alpha[:, : rgba.width // 2] = 255  # the left half opaque, the right half transparent
    rgba.putalpha(Image.fromarray(alpha))
    photo = tmp_path / "cutout.png"
    rgba.save(photo)
    for mode in ("keep", "drop"):
        out = tmp_path / f"{mode}.png"
        argv = ["-q", "transfer", "--content", str(photo), "--style", str(style_path), "--out", str(out), *FAST]
        assert _run(capsys, *argv, "--steps", "1", "--alpha", mode)[0] == 0
    kept = Image.open(tmp_path / "keep.png")
    assert kept.mode == "RGBA"
    channel = np.asarray(kept.getchannel("A"))
    assert channel[:, : kept.width // 2 - 2].min() > 250 and channel[:, kept.width // 2 + 2 :].max() < 5
    assert Image.open(tmp_path / "drop.png").mode == "RGB"
    assert json.loads((tmp_path / "keep.png.json").read_text())["parameters"]["alpha"] == "keep"
    # A JPEG cannot hold it: said once, and the result is flattened.
    code, _, err = _run(
        capsys,
        "transfer",
        "--content",
        str(photo),
        "--style",
        str(style_path),
        "--out",
        str(tmp_path / "k.jpg"),
        *FAST,
        "--steps",
        "1",
    )
    assert code == 0 and "JPEG has no transparency" in err
