"""Refactors keep outputs byte-identical: every verb runs on tiny inputs through the CLI, and what
it writes (image bytes, tensors, the deterministic part of each sidecar) is hashed and compared with
tests/golden.json.

When an output is meant to change, regenerate the file and say why in the commit:

    STYLESNAKE_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from pipeline.cli import main
from pipeline.samples import sample_image
from pipeline.synthetic import painted_mask, save_two_region_scene

GOLDEN = Path(__file__).with_name("golden.json")
#: Sidecar keys that change from run to run or machine to machine (or name temporary paths).
VOLATILE = {"timings_s", "peak_memory_mb", "code", "seconds", "torch", "python", "device", "path", "images_per_second"}
TINY = ["--size", "48", "--steps", "4", "--weights", "random"]


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in sorted(value.items()) if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    if isinstance(value, str) and "/" in value:
        return Path(value).name  # temporary folders differ; the file name does not
    return value


def _digest(path: Path) -> str:
    """sha256 of what a file says: its bytes, or for torch files the tensors' bytes, for sidecars
    their stable keys."""
    digest = hashlib.sha256()
    if path.suffix == ".json":
        digest.update(json.dumps(_stable(json.loads(path.read_text())), sort_keys=True).encode())
    elif path.suffix in (".pt", ".pth"):
        payload = torch.load(path, map_location="cpu", weights_only=True)

        def walk(value: Any) -> None:
            if isinstance(value, torch.Tensor):
                digest.update(value.detach().contiguous().cpu().numpy().tobytes())
            elif isinstance(value, dict):
                for key in sorted(value, key=str):
                    if key not in VOLATILE and key != "info" and key != "history":
                        digest.update(str(key).encode())
                        walk(value[key])
            elif isinstance(value, (list, tuple)):
                for item in value:
                    walk(item)
            elif isinstance(value, (int, float, str, bool)) or value is None:
                digest.update(repr(value).encode())

        walk(payload)
    else:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _cli(*argv: str) -> None:
    assert main(["-q", *map(str, argv)]) == 0, argv


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("golden")
    sample_image("astronaut").resize((64, 64)).save(root / "content.png")
    sample_image("ihc").resize((64, 48)).save(root / "style.png")
    sample_image("retina").resize((56, 56)).save(root / "fine.png")
    scene = save_two_region_scene(root / "scene", 64)
    painted = painted_mask(3, size=(96, 64), k=3)
    Image.fromarray(painted.painted).save(root / "painted.jpg", quality=85)
    content, style, out = root / "content.png", root / "style.png", root / "out"
    out.mkdir()
    colours = "--colors", "left=#e6194b,right=#4363d8"

    _cli("transfer", "--content", content, "--style", style, "--out", out / "plain.png", *TINY, "--init", "noise")
    _cli("transfer", "--content", content, "--style", style, "--out", out / "adam.png", *TINY, "--optimizer", "adam")
    _cli(
        "transfer", "--content", scene["content"], "--content-mask", scene["content_mask"], "--style",
        scene["style"], "--style-mask", scene["style_mask"], "--out", out / "guided.png", *TINY, *colours,
    )  # fmt: skip
    _cli(
        "style-targets", "--style", scene["style"], "--style-mask", scene["style_mask"], "--out",
        out / "targets.pt", "--size", "48", "--weights", "random", *colours,
    )  # fmt: skip
    _cli(
        "transfer", "--content", scene["content"], "--content-mask", scene["content_mask"], "--style",
        out / "targets.pt", "--out", out / "from_targets.png", *TINY, *colours,
    )  # fmt: skip
    _cli(
        "transfer", "--content", content, "--style", style, "--out", out / "preserve.png", *TINY, "--color", "preserve"
    )
    _cli("transfer", "--content", content, "--style", style, "--out", out / "match.png", *TINY, "--color", "match")
    _cli("transfer", "--content", content, "--style", style, "--out", out / "scales.png", *TINY, "--scales", "32,48")
    _cli("mix-scales", "--coarse", style, "--fine", root / "fine.png", "--out", out / "mixed.png", *TINY)
    _cli("clean-mask", root / "painted.jpg", out / "mask_k.png", "--k", "3")
    _cli("figures", out / "guided.png", "--content", scene["content"], "--style", scene["style"])
    _cli("contact-sheet", out / "index.html", out / "plain.png", out / "guided.png")
    train = ["--steps", "2", "--size", "32", "--batch", "1", "--width", "0.25", "--weights", "random"]
    _cli("train", "--style", style, "--data", root / "content.png", "--out", out / "model.pth", *train)
    _cli(
        "train", "--style", scene["style"], "--style-mask", scene["style_mask"], "--data", scene["data"],
        "--masks", scene["masks"], "--out", out / "guided_model.pth", *train, *colours,
    )  # fmt: skip
    _cli("stylize", "--model", out / "model.pth", "--content", content, "--out", out / "fast.png")
    _cli(
        "stylize", "--model", out / "guided_model.pth", "--content", scene["content"], "--mask",
        scene["content_mask"], "--out", out / "fast_guided.png",
    )  # fmt: skip
    found = {p.name: _digest(p) for p in sorted(out.iterdir()) if p.is_file()}
    # The pixels on their own too: a change of metadata alone shows as the file's digest only.
    for image in sorted(out.glob("*.png")):
        with Image.open(image) as decoded:
            found[f"pixels of {image.name}"] = hashlib.sha256(decoded.tobytes()).hexdigest()
    return found


def test_outputs_are_byte_identical_to_the_golden_record(outputs: dict[str, str]) -> None:
    if os.environ.get("STYLESNAKE_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(outputs, indent=1, sort_keys=True) + "\n")
    golden = json.loads(GOLDEN.read_text())
    changed = sorted(name for name in golden.keys() | outputs.keys() if golden.get(name) != outputs.get(name))
    assert not changed, f"outputs differ from tests/golden.json: {changed}"


def test_the_record_covers_every_verb(outputs: dict[str, str]) -> None:
    names = set(outputs)
    for expected in ("plain.png", "guided.png", "targets.pt", "mixed.png", "mask_k.png", "model.pth", "fast.png"):
        assert (expected in names and f"{expected}.json" in names) or expected == "mask_k.png"
    assert {"guided.panel.png", "guided.loss.svg", "index.html"} <= names
    # The painting's saved targets give the very result the painting itself gives; nothing else repeats.
    assert outputs["guided.png"] == outputs["from_targets.png"]
    assert outputs["pixels of guided.png"] == outputs["pixels of from_targets.png"]
    files = {k: v for k, v in outputs.items() if not k.startswith("pixels of")}
    assert len(set(files.values())) == len(files) - 1
