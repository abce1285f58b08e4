"""Fast style (Johnson 2016): the network, training with exact resume, the model file, stylising."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.cli import main
from pipeline.errors import InputError
from pipeline.fast import model as fast_model
from pipeline.fast.network import TransformerNet
from pipeline.fast.train import TrainConfig, dataset, train

TINY = TrainConfig(steps=4, size=32, batch=2, width=0.25, checkpoint_every=2, seed=3)


def test_network_matches_johnsons_and_keeps_any_size() -> None:
    assert sum(p.numel() for p in TransformerNet().parameters()) == 1_679_235  # pytorch/examples' net
    half = TransformerNet(width=0.5)
    assert half.net[0][1].out_channels == 16
    for h, w in ((36, 52), (33, 47), (5, 7)):  # any size: padded to a multiple of 4, cropped back
        out = fast_model.stylize(half.eval(), torch.rand(2, 3, h, w))
        assert out.shape == (2, 3, h, w) and out.min() >= 0 and out.max() <= 1


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (40 + 8 * i, 56, 3), dtype=np.uint8)).save(folder / "sub" / f"{i}.jpg")
    return folder


def test_dataset_skips_unreadable_images_and_refuses_none(data: Path, tmp_path: Path, caplog) -> None:
    (data / "broken.png").write_bytes(b"not a png")
    assert len(dataset(data)) == 3
    assert "skipped 1 unreadable image(s) of 4" in caplog.text
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"no readable \.png/\.jpg images"):
        dataset(tmp_path / "empty")


def test_training_writes_a_model_that_lists_itself(data: Path, style_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.pth"
    info = train(style_path, data, out, TINY, weights="random")
    loaded = fast_model.load(out)
    assert loaded.style_name == "style" and loaded.thumbnail.size == (64, 64)
    assert loaded.info["weights"]["kind"] == "random" and loaded.info["weights"]["arch"] == "vgg16"
    assert loaded.info["training"]["steps"] == 4 and info["images_per_second"] > 0
    assert len(json.loads((tmp_path / "m.pth.json").read_text())["history"]["total"]) == 4
    assert (tmp_path / "m.loss.svg").read_text().startswith("<svg")
    assert not (tmp_path / "m.pth.ckpt").exists()  # the finished model replaces the checkpoint


def test_a_killed_run_resumes_exactly(data: Path, style_path: Path, tmp_path: Path) -> None:
    straight = tmp_path / "straight.pth"
    train(style_path, data, straight, TINY, weights="random")

    class Killed(Exception):
        pass

    def kill_at_step_3(step: int, steps: int, losses) -> None:
        if step == 3:
            raise Killed

    resumed = tmp_path / "resumed.pth"
    with pytest.raises(Killed):
        train(style_path, data, resumed, TINY, weights="random", progress=kill_at_step_3)
    assert not resumed.exists() and (tmp_path / "resumed.pth.ckpt").exists()  # checkpoint of step 2
    train(style_path, data, resumed, TINY, weights="random", resume=True)
    a, b = fast_model.load(straight).network.state_dict(), fast_model.load(resumed).network.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    history = lambda p: json.loads(Path(f"{p}.json").read_text())["history"]  # noqa: E731
    assert history(straight) == history(resumed)


def test_resume_refuses_other_settings(data: Path, style_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.pth"
    with pytest.raises(Exception, match="stop"):
        train(style_path, data, out, TINY, weights="random", progress=_stop_at(3))
    other = TrainConfig(**{**TINY.__dict__, "width": 0.5})
    with pytest.raises(InputError, match=r"other settings \(width\)"):
        train(style_path, data, out, other, weights="random", resume=True)


def _stop_at(step_to_stop: int):
    def progress(step: int, steps: int, losses) -> None:
        if step == step_to_stop:
            raise RuntimeError("stop")

    return progress


def test_cli_train_then_stylize(data: Path, style_path: Path, content_path: Path, tmp_path: Path, capsys) -> None:
    model = tmp_path / "m.pth"
    argv = ["-q", "train", "--style", str(style_path), "--data", str(data), "--out", str(model), "--steps", "2"]
    assert main([*argv, "--size", "32", "--batch", "1", "--width", "0.25", "--weights", "random"]) == 0
    out_dir = tmp_path / "out"
    argv = ["-q", "stylize", "--model", str(model), "--content", str(content_path), "--content", str(style_path)]
    assert main([*argv, "--out-dir", str(out_dir), "--preserve-color"]) == 0, capsys.readouterr().err
    assert Image.open(out_dir / "content.png").size == Image.open(content_path).size
    assert json.loads((out_dir / "style.png.json").read_text())["model"]["style"] == "style"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("not-ours", "not a Stylesnake fast-style model"),
        ("missing", "no such model file"),
        ("empty-data", "no readable"),
    ],
)
def test_bad_fast_input_is_one_line_exit_2(
    case: str, message: str, tmp_path: Path, content_path: Path, style_path: Path, capsys
) -> None:
    if case == "empty-data":
        (tmp_path / "empty").mkdir()
        argv = [
            "train",
            "--style",
            str(style_path),
            "--data",
            str(tmp_path / "empty"),
            "--out",
            str(tmp_path / "m.pth"),
        ]
        argv += ["--weights", "random"]
    else:
        model = tmp_path / "m.pth"
        if case == "not-ours":
            torch.save({"weights": torch.zeros(3)}, model)
        argv = ["stylize", "--model", str(model), "--content", str(content_path), "--out", str(tmp_path / "o.png")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "m.pth.json").exists()


def test_onnx_export_stylizes_like_pytorch(data: Path, style_path: Path, content_path: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    model = tmp_path / "m.pth"
    train(style_path, data, model, TrainConfig(**{**TINY.__dict__, "steps": 2}), weights="random")
    assert main(["-q", "export", str(model), "--onnx", str(tmp_path / "m.onnx")]) == 0
    odd = tmp_path / "odd.png"
    Image.open(content_path).resize((75, 61)).save(odd)  # not multiples of 4: padded, then cropped back
    outs = []
    for path in (model, tmp_path / "m.onnx"):
        out = tmp_path / f"{path.suffix[1:]}.png"
        assert main(["-q", "stylize", "--model", str(path), "--content", str(odd), "--out", str(out)]) == 0
        outs.append(np.asarray(Image.open(out), dtype=np.int16))
    assert outs[0].shape == outs[1].shape == (61, 75, 3)
    assert np.abs(outs[0] - outs[1]).max() <= 1  # the same image, within rounding
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"junk")
    argv = ["stylize", "--model", str(bad), "--content", str(content_path), "--out", str(tmp_path / "x.png")]
    assert main(argv) == 2
