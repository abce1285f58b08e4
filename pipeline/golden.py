"""The golden record's fingerprints and tolerances: what every verb writes on tiny inputs, kept in a
form that survives another CPU's floating point and still catches a change of results. A tool for
the project's own checks: ``tests/test_golden.py`` holds the outputs to the record in
``tests/golden/`` (``tests/golden_record.py``), ``benchmarks/bench_golden.py`` measures the
tolerances; nothing in the package imports it.

Floating-point kernels differ from CPU to CPU (vector width, fused multiply-add, the order of a
reduction), so hashes of images, tensors and loss values only hold on the machine that wrote them.
What the record keeps instead, per output (:func:`fingerprint`):

- **images**: the decoded pixels (``tests/golden/pixels/<name>``, plain PNGs). Compared by the share
  of pixels that moved by more than :data:`PIXEL_STEP` levels and by the mean change.
- **tensors** (style targets): per tensor its shape, RMS and a sketch, the projections on
  :data:`SKETCH` seeded ±1 vectors divided by √n. A projection of a difference has the difference's
  RMS as its spread, so sketches compare tensors by relative RMS without storing them. A fast-style
  model is kept as what it computes on a seeded input (see ``_tensors``).
- **text** (sidecars without their timings, SVG curves, HTML): the text with its numbers cut out,
  which must match exactly, and the numbers, compared relatively.
- **masks** (integer label maps): exact, as their pixels are integers end to end.

The tolerances are set from measurements across threads and CPU kernels
(``benchmarks/bench_golden.py``, docs/development.md), with a margin, and below the smallest
change a real edit makes (one more evaluation, another style weight): tests/test_golden.py shows
that such an edit still fails the record.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

#: Sidecar keys that change from run to run or machine to machine (or name temporary paths).
VOLATILE = {"timings_s", "peak_memory_mb", "code", "seconds", "torch", "python", "device", "path", "images_per_second"}
TINY = ["--size", "48", "--steps", "4", "--weights", "random"]
#: Outputs that are integer label maps: compared exactly.
EXACT = ("mask_k.png",)

# Tolerances (see the module docstring and benchmarks/bench_golden.py for the measurements).
#: A pixel "moved" when a channel changed by more than this many levels (of 255).
PIXEL_STEP = 2
#: Images: at most this share of pixels may move, and the mean change (levels) may not exceed MEAN_LEVELS.
MOVED_SHARE = 0.01
MEAN_LEVELS = 0.25
#: Tensors: relative RMS change; numbers in text: relative change (absolute below NUMBER_FLOOR).
TENSOR_RTOL = 1e-3
NUMBER_RTOL = 1e-3
NUMBER_FLOOR = 1e-9
#: How many random projections sketch a tensor in the record.
SKETCH = 16

_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def make_outputs(root: Path, cli: Callable[..., None], *, edit: tuple[str, Sequence[str]] | None = None) -> Path:
    """Run every verb on tiny inputs under ``root`` (through ``cli``, the ``stylesnake`` command);
    return the folder of outputs. ``edit`` (an output's name, extra flags) makes only that output,
    with the flags added: a real change of results, which the record must catch."""
    from pipeline.samples import sample_image
    from pipeline.synthetic import painted_mask, save_two_region_scene

    sample_image("astronaut").resize((64, 64)).save(root / "content.png")
    sample_image("ihc").resize((64, 48)).save(root / "style.png")
    sample_image("retina").resize((56, 56)).save(root / "fine.png")
    scene = save_two_region_scene(root / "scene", 64)
    painted = painted_mask(3, size=(96, 64), k=3)
    Image.fromarray(painted.painted).save(root / "painted.jpg", quality=85)
    content, style, out = root / "content.png", root / "style.png", root / "out"
    out.mkdir()
    colours = "--colors", "left=#e6194b,right=#4363d8"
    guided = ["--content", scene["content"], "--content-mask", scene["content_mask"]]
    plain = ["--content", content, "--style", style, *TINY]
    train = ["--steps", "2", "--size", "32", "--batch", "1", "--width", "0.25", "--weights", "random"]
    # fmt: off
    steps: list[tuple[str, list[Any]]] = [
        ("plain.png", ["transfer", *plain, "--init", "noise"]),
        ("adam.png", ["transfer", *plain, "--optimizer", "adam"]),
        ("guided.png", ["transfer", *guided, "--style", scene["style"], "--style-mask", scene["style_mask"], *TINY,
                        *colours]),
        ("targets.pt", ["style-targets", "--style", scene["style"], "--style-mask", scene["style_mask"], "--size",
                        "48", "--weights", "random", *colours]),
        ("from_targets.png", ["transfer", *guided, "--style", out / "targets.pt", *TINY, *colours]),
        ("preserve.png", ["transfer", *plain, "--color", "preserve"]),
        ("match.png", ["transfer", *plain, "--color", "match"]),
        ("scales.png", ["transfer", *plain, "--scales", "32,48"]),
        ("mixed.png", ["mix-scales", "--coarse", style, "--fine", root / "fine.png", *TINY]),
        ("mask_k.png", ["clean-mask", root / "painted.jpg", out / "mask_k.png", "--k", "3"]),
        ("guided.panel.png", ["figures", out / "guided.png", "--content", scene["content"], "--style", scene["style"]]),
        ("index.html", ["contact-sheet", out / "index.html", out / "plain.png", out / "guided.png"]),
        ("model.pth", ["train", "--style", style, "--data", root / "content.png", *train]),
        ("guided_model.pth", ["train", "--style", scene["style"], "--style-mask", scene["style_mask"], "--data",
                              scene["data"], "--masks", scene["masks"], *train, *colours]),
        ("fast.png", ["stylize", "--model", out / "model.pth", "--content", content]),
        ("fast_guided.png", ["stylize", "--model", out / "guided_model.pth", "--content", scene["content"], "--mask",
                             scene["content_mask"]]),
    ]
    # fmt: on
    for name, argv in steps:
        if edit is not None and name != edit[0]:
            continue
        # Verbs that take --out get it here; the others name their outputs themselves.
        writes = [] if argv[0] in ("clean-mask", "figures", "contact-sheet") else ["--out", out / name]
        cli(*argv, *writes, *(edit[1] if edit is not None else ()))
    return out


# --- fingerprints --------------------------------------------------------------------------------


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in sorted(value.items()) if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    if isinstance(value, str) and "/" in value:
        return Path(value).name  # temporary folders differ; the file name does not
    return value


def _text(text: str) -> dict[str, Any]:
    return {"kind": "text", "skeleton": _NUMBER.sub("#", text), "numbers": [float(n) for n in _NUMBER.findall(text)]}


def _sketch(tensor: torch.Tensor) -> dict[str, Any]:
    values = tensor.detach().cpu().double().reshape(-1).numpy()
    n = max(values.size, 1)
    signs = np.random.default_rng(n).choice([-1.0, 1.0], size=(SKETCH, values.size))
    return {
        "shape": list(tensor.shape),
        "dtype": str(tensor.dtype),
        "rms": float(np.sqrt((values**2).mean())) if values.size else 0.0,
        "sketch": (signs @ values / np.sqrt(n)).tolist(),
    }


def _tensors(path: Path) -> dict[str, Any]:
    """Every tensor (sketched) and every other value (as text) of a torch file, by key path. A
    fast-style model is kept as what it does (its network's output on a seeded input), not as its
    weights: a convolution's bias just before an instance norm has no effect on the output, so its
    gradient is rounding noise that Adam turns into arbitrary steps, and such weights differ wholly
    from CPU to CPU (measured: by 3-5x their own size) while the model computes the same image."""
    from pipeline.fast import model as fast_model

    payload = torch.load(path, map_location="cpu", weights_only=True)
    tensors: dict[str, Any] = {}
    values: dict[str, Any] = {}
    if isinstance(payload, dict) and payload.get("format") == fast_model.FORMAT:
        network = fast_model.from_payload(payload, name=path.name).network
        probe = torch.rand((1, 3 + network.guide_channels, 40, 48), generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            tensors["network(probe)"] = _sketch(network(probe))
        payload = {k: v for k, v in payload.items() if k != "state_dict"}

    def walk(value: Any, key: str) -> None:
        if isinstance(value, torch.Tensor):
            tensors[key] = _sketch(value)
        elif isinstance(value, dict):
            for name in sorted(value, key=str):
                if name not in VOLATILE and name not in ("info", "history"):
                    walk(value[name], f"{key}/{name}")
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                walk(item, f"{key}/{i}")
        else:
            values[key] = _stable(value)

    walk(payload, "")
    return {"kind": "tensors", "tensors": tensors, "values": _text(json.dumps(values, sort_keys=True))}


def pixels_file(pixels: Path, name: str) -> Path:
    """Where the record keeps an image output's pixels (a plain PNG of the same name)."""
    return pixels / (name if name.endswith(".png") else f"{name}.png")


def fingerprint(out: Path, pixels: Path | None = None) -> dict[str, Any]:
    """What the record keeps of every file in ``out``; images' pixels are copied into ``pixels``
    (plain PNGs) when given."""
    found: dict[str, Any] = {}
    for path in sorted(p for p in out.iterdir() if p.is_file()):
        if path.suffix == ".json":
            found[path.name] = _text(json.dumps(_stable(json.loads(path.read_text())), sort_keys=True))
        elif path.suffix in (".pt", ".pth"):
            found[path.name] = _tensors(path)
        elif path.suffix in (".png", ".jpg"):
            with Image.open(path) as image:
                decoded = np.asarray(image.convert("RGBA" if "A" in image.getbands() else "RGB"))
            found[path.name] = {
                "kind": "exact" if path.name in EXACT else "image",
                "shape": list(decoded.shape),
                "sha256": hashlib.sha256(decoded.tobytes()).hexdigest(),
            }
            if pixels is not None:
                pixels.mkdir(parents=True, exist_ok=True)
                Image.fromarray(decoded).save(pixels_file(pixels, path.name))
        else:
            found[path.name] = _text(path.read_text())
    return found


# --- comparing -----------------------------------------------------------------------------------


def _number_change(golden: list[float], found: list[float]) -> float:
    """The largest relative change among the numbers (absolute below :data:`NUMBER_FLOOR`)."""
    return max(
        (abs(a - b) / max(abs(a), abs(b), NUMBER_FLOOR) for a, b in zip(golden, found, strict=True)), default=0.0
    )


def _text_change(golden: dict[str, Any], found: dict[str, Any]) -> tuple[str | None, float]:
    if golden["skeleton"] != found["skeleton"]:
        return "the text differs (not only its numbers)", 0.0
    if len(golden["numbers"]) != len(found["numbers"]):
        return f"{len(found['numbers'])} numbers instead of {len(golden['numbers'])}", 0.0
    return None, _number_change(golden["numbers"], found["numbers"])


def image_change(golden: np.ndarray, found: np.ndarray) -> tuple[float, float]:
    """(share of pixels that moved by more than :data:`PIXEL_STEP`, mean change in levels)."""
    delta = np.abs(golden.astype(np.int16) - found.astype(np.int16))
    return float((delta.max(axis=-1) > PIXEL_STEP).mean()), float(delta.mean())


def tensor_change(golden: dict[str, Any], found: dict[str, Any]) -> float:
    """A tensor's relative RMS change, estimated from the sketches: each projection of a
    difference has the difference's RMS as its spread."""
    delta = np.array(golden["sketch"]) - np.array(found["sketch"])
    change = float(np.sqrt((delta**2).mean())) if delta.size else 0.0
    return change / max(golden["rms"], 1e-30) if change else 0.0


def changes(golden: dict[str, Any], found: dict[str, Any], pixels: Path, out: Path) -> dict[str, dict[str, Any]]:
    """How much each file of ``out`` (fingerprinted as ``found``) changed from ``golden`` (whose
    images' pixels are in ``pixels``): ``structure`` (a change no tolerance covers, else None),
    ``moved`` and ``mean`` (images), ``tensor`` (largest relative RMS change), ``number``
    (largest relative change of a number in text)."""
    measured: dict[str, dict[str, Any]] = {}
    for name in sorted(golden.keys() | found.keys()):
        entry: dict[str, Any] = {"structure": None, "moved": 0.0, "mean": 0.0, "tensor": 0.0, "number": 0.0}
        measured[name] = entry
        if name not in found or name not in golden:
            entry["structure"] = "missing" if name not in found else "not in the record"
            continue
        want, got = golden[name], found[name]
        if want["kind"] != got["kind"]:
            entry["structure"] = f"a {got['kind']} output instead of {want['kind']}"
        elif want["kind"] == "text":
            entry["structure"], entry["number"] = _text_change(want, got)
        elif want["kind"] == "exact":
            entry["structure"] = None if want["sha256"] == got["sha256"] else "its pixels differ (compared exactly)"
        elif want["kind"] == "image":
            if want["shape"] != got["shape"]:
                entry["structure"] = f"shape {got['shape']} instead of {want['shape']}"
                continue
            with Image.open(pixels_file(pixels, name)) as recorded, Image.open(out / name) as image:
                entry["moved"], entry["mean"] = image_change(
                    np.asarray(recorded), np.asarray(image.convert(recorded.mode))
                )
        else:
            entry["structure"], entry["number"] = _text_change(want["values"], got["values"])
            if set(want["tensors"]) != set(got["tensors"]):
                entry["structure"] = f"tensors {sorted(set(want['tensors']) ^ set(got['tensors']))} differ"
                continue
            for key, tensor in want["tensors"].items():
                if tensor["shape"] != got["tensors"][key]["shape"]:
                    entry["structure"] = f"{key}: shape {got['tensors'][key]['shape']} instead of {tensor['shape']}"
                else:
                    entry["tensor"] = max(entry["tensor"], tensor_change(tensor, got["tensors"][key]))
    return measured


def verdict(change: dict[str, Any]) -> str | None:
    """Why a measured change (an entry of :func:`changes`) fails the record; None when it holds."""
    if change["structure"]:
        return str(change["structure"])
    if change["moved"] > MOVED_SHARE or change["mean"] > MEAN_LEVELS:
        return f"{100 * change['moved']:.2f} % of pixels moved by > {PIXEL_STEP} levels, mean {change['mean']:.3f}"
    if change["tensor"] > TENSOR_RTOL:
        return f"a tensor changed by {change['tensor']:.2e} (relative RMS)"
    if change["number"] > NUMBER_RTOL:
        return f"a number changed by {change['number']:.2e} (relative)"
    return None


def differences(golden: dict[str, Any], found: dict[str, Any], pixels: Path, out: Path) -> dict[str, str]:
    """File name → why it fails the record, for every file of ``out`` beyond the tolerances."""
    judged = {name: verdict(change) for name, change in changes(golden, found, pixels, out).items()}
    return {name: why for name, why in judged.items() if why}
