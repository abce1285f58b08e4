"""Gatys 2015 transfer: determinism, falling loss, exact evaluation counts, metadata."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from pipeline import gatys
from pipeline.errors import InputError
from pipeline.gatys import GatysConfig, transfer, transfer_files

SMALL = {"size": 64, "steps": 6}


def test_same_seed_gives_byte_identical_output(tmp_path: Path, content_path: Path, style_path: Path, tiny) -> None:
    config = GatysConfig(**SMALL, init="noise", seed=3)
    transfer_files(content_path, style_path, tmp_path / "a.png", config, encoder=tiny)
    transfer_files(content_path, style_path, tmp_path / "b.png", config, encoder=tiny)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    transfer_files(
        content_path, style_path, tmp_path / "c.png", GatysConfig(**SMALL, init="noise", seed=4), encoder=tiny
    )
    assert (tmp_path / "a.png").read_bytes() != (tmp_path / "c.png").read_bytes()


@pytest.mark.parametrize(("optimizer", "init"), [("lbfgs", "content"), ("lbfgs", "noise"), ("adam", "style")])
def test_total_loss_falls(images, optimizer: str, init: str) -> None:
    content, style = images
    config = GatysConfig(steps=25, optimizer=optimizer, init=init, tv_weight=1e-3)
    result = transfer(content, style, config, weights="random")
    total = result.history["total"]
    assert len(total) == 25
    assert total[-1] < 0.5 * total[0]
    assert set(result.history) == {"total", "content", "style", "tv"}
    assert result.image.shape == content.shape
    assert result.image.min() >= 0
    assert result.image.max() <= 1


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_steps_count_loss_evaluations(images, optimizer: str, tiny) -> None:
    calls = []
    transfer(
        *images,
        GatysConfig(steps=7, optimizer=optimizer),
        encoder=tiny,
        progress=lambda step, steps, losses: calls.append((step, steps, losses)),
    )
    assert [c[0] for c in calls] == list(range(1, 8))
    assert calls[-1][2] is not None and set(calls[-1][2]) == {"total", "content", "style"}


def test_style_targets_are_computed_once_without_gradients(images, tiny) -> None:
    seen = []
    tiny.register_forward_pre_hook(lambda module, args: seen.append(torch.is_grad_enabled()))
    transfer(*images, GatysConfig(steps=4), encoder=tiny)
    # Two target passes (content, style) without gradients, then one pass per evaluation.
    assert seen == [False, False, True, True, True, True]


def test_content_init_starts_at_zero_content_loss(images, tiny) -> None:
    result = transfer(*images, GatysConfig(steps=2), encoder=tiny)
    assert result.history["content"][0] == pytest.approx(0.0, abs=1e-12)


def test_initial_images(images) -> None:
    content, style = images
    assert torch.equal(gatys.initial_image("content", content, style, 0), content)
    styled = gatys.initial_image("style", content, style, 0)
    assert styled.shape == content.shape
    noise = gatys.initial_image("noise", content, style, 1)
    assert torch.equal(noise, gatys.initial_image("noise", content, style, 1))
    assert not torch.equal(noise, gatys.initial_image("noise", content, style, 2))


def test_bf16_precision_runs_on_cpu_autocast(images, tiny) -> None:
    result = transfer(*images, GatysConfig(steps=3, precision="bf16"), encoder=tiny)
    assert result.precision == "bf16"
    assert all(torch.isfinite(torch.tensor(v)).all() for v in result.history.values())


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("steps", 0, "steps must be a positive integer"),
        ("size", -3, "size must be a positive integer"),
        ("style_weight", -1.0, "style-weight must be a finite number >= 0"),
        ("content_weight", float("nan"), "content-weight must be a finite number"),
        ("lr", float("nan"), "lr must be a finite positive number"),
        ("seed", 2**70, "seed must be between 0 and 2\\*\\*63 - 1"),
        ("lbfgs_history", 0, "lbfgs-history must be a positive integer"),
        ("pooling", "min", "unknown pooling 'min'"),
        ("init", "zeros", "unknown init 'zeros'"),
        ("optimizer", "sgd", "unknown optimizer 'sgd'"),
        ("content_layer", "relu4_9", "unknown VGG-19 layer 'relu4_9'"),
        ("style_layer_weights", (1.0, 2.0), "5 style layers but 2"),
    ],
)
def test_config_validation(field: str, value, message: str) -> None:
    with pytest.raises(InputError, match=message):
        GatysConfig(**{field: value})


def test_outputs_and_metadata(tmp_path: Path, content_path: Path, style_path: Path) -> None:
    out = tmp_path / "nested" / "result.png"
    metadata = transfer_files(content_path, style_path, out, GatysConfig(**SMALL), weights="random")
    sidecar = json.loads((tmp_path / "nested" / "result.png.json").read_text())
    assert sidecar == json.loads(json.dumps(metadata))
    assert sidecar["weights"]["kind"] == "random" and "not a real style transfer" in sidecar["weights"]["note"]
    assert sidecar["parameters"]["steps"] == 6 and sidecar["parameters"]["style_weight"] == 1e6
    assert sidecar["evaluations"] == 6 and len(sidecar["history"]["total"]) == 6
    assert sidecar["final_losses"]["total"] == sidecar["history"]["total"][-1]
    assert sidecar["converged"] is True and sidecar["loss_drop"] > 0.9
    assert sidecar["stages"][0]["loss_drop"] == sidecar["loss_drop"]
    assert {"load", "setup", "optimize", "per_evaluation", "encode", "total"} <= set(sidecar["timings_s"])
    assert sidecar["parameters"]["max_pixels"] > 0
    assert sidecar["stylesnake"] and sidecar["device"] == "cpu"
    with Image.open(out) as image:
        assert image.size == (64, 51)  # content 80×64 scaled to long side 64
        embedded = json.loads(image.text["stylesnake"])
    assert embedded["weights"]["kind"] == "random"  # the PNG alone still says how it was made


def test_bad_output_extension_fails_before_any_work(
    tmp_path: Path, content_path: Path, style_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(gatys.stills, "transfer", lambda *a, **k: pytest.fail("must not start"))
    with pytest.raises(InputError, match=r"cannot save as '\.gif'"):
        transfer_files(content_path, style_path, tmp_path / "x.gif", GatysConfig(**SMALL), weights="random")


def test_images_smaller_than_the_network_are_refused(tmp_path: Path, content_path: Path, style_path: Path) -> None:
    with pytest.raises(InputError, match=r"content.png: at this size the image is 15x12 px, but layer relu5_1 needs"):
        transfer_files(content_path, style_path, tmp_path / "o.png", GatysConfig(size=15, steps=1), weights="random")
    assert not list(tmp_path.glob("o.png*"))


def test_a_stall_is_reported_in_a_warning_and_the_sidecar(
    tmp_path: Path, content_path: Path, style_path: Path, caplog, tiny
) -> None:
    config = GatysConfig(**SMALL, optimizer="adam", lr=1e-7)  # too small a step to change anything
    with caplog.at_level("WARNING", logger="pipeline.gatys"):
        metadata = transfer_files(content_path, style_path, tmp_path / "o.png", config, encoder=tiny)
    assert metadata["converged"] is False and 0 <= metadata["loss_drop"] < 0.01
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "the loss fell by only 0% in 6 evaluations" in warnings[0]


def test_the_guides_mask_examples_run_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The guides' commands for many photos with one painting, and for masks, on tiny stand-ins of the
    files they name (painted as people paint), plus only what makes them quick and offline."""
    import re
    import shlex

    import numpy as np

    from pipeline.cli import main
    from pipeline.synthetic import painted_mask

    guides = Path(__file__).resolve().parents[1] / "docs" / "guides"
    text = (guides / "gatys.md").read_text() + (guides / "masks.md").read_text()
    start = text.index("Many photos, one painting")
    blocks = re.findall(r"```sh\n(.*?)```", text[start : text.index("`transfer` does the same pairing")], re.S)
    commands = [
        shlex.split(line, comments=True)
        for line in "\n".join(blocks).replace("\\\n", " ").splitlines()
        if line.startswith("stylesnake ") and "deeplabv3" not in line  # no segmentation weights here
    ]
    assert len(commands) == 8, commands
    sky, tree, ground = (66, 135, 245), (40, 160, 60), (140, 90, 40)  # the guides' colours
    monkeypatch.chdir(tmp_path)
    for name, size in (("photo", (64, 48)), ("painting", (64, 64)), ("sky", (48, 48)), ("ground", (48, 48))):
        labels = {"sky": [sky, tree], "ground": [ground, tree]}.get(name, [sky, tree, ground])
        mask = painted_mask(len(name), size=size, k=len(labels), palette=np.array(labels, np.uint8), jpeg_quality=90)
        for spelling in (f"{name}_mask.png", f"{name}-mask.png"):
            Image.fromarray(mask.painted).save(spelling)
        noise = np.random.default_rng(len(name)).normal(0, 12, mask.painted.shape)  # regions a proposal can find
        Image.fromarray((mask.painted + noise).clip(0, 255).astype(np.uint8)).save(f"{name}.jpg")
    Image.open("photo_mask.png").resize((96, 72)).convert("RGB").save("painted.jpg", quality=85)
    quick = {
        "transfer": ["--weights", "random", "--size", "48", "--steps", "2"],
        "style-targets": ["--weights", "random", "--size", "48"],
    }
    for argv in commands:
        verb = argv[1]
        assert main(["-q", *argv[1:], *quick.get(verb, [])]) == 0, shlex.join(argv)
