"""Fast video (``bench_video.py --fast``): does the temporal term at training time make a fast-style
network hold still, without costing it its style? And how many frames per second?

Networks are trained alike (same data, style, steps, seed; random VGG-16 loss network) with several
``--temporal-weight``s, 0 among them, then stylise bench_video's synthetic clips (photos never
trained on), measured with the **true** flow:

- warping error (Lai et al. 2018) against the network trained without the term: target ≤ 0.5×;
- style loss (the Gram loss against the style, of the loss network, mean over frames): within 10 %;
- a flow-based blend with the previous output on top (DIS flow, the method's own, as deployed):
  kept only if it lowers the warping error further at no style cost;
- frames per second at 512 px on this machine's CPU: width 0.25 and 1.0, ONNX and eager PyTorch.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from pipeline import io
from pipeline.core.features import VGGEncoder
from pipeline.core.losses import batch_gram_loss, gram_matrix
from pipeline.fast import model as fast_model
from pipeline.fast.export import export_onnx
from pipeline.fast.network import TransformerNet
from pipeline.fast.runtime import OnnxNetwork
from pipeline.fast.train import CONTENT_LAYER, STYLE_LAYERS, TrainConfig, train
from pipeline.samples import sample_image
from pipeline.synthetic.clips import ClipSpec, synthetic_clip
from pipeline.synthetic.measures import warping_error
from pipeline.video.fast import blended
from pipeline.video.flow import QUICK_FLOW, flow_function

#: Training photos: none of them is a clip's world.
DATA = ("chelsea", "brick", "grass", "gravel", "hubble_deep_field")
STYLE = "ihc"
WEIGHTS = (0.0, 30.0, 300.0)
BLEND = 0.5  # share of the previous output where the flow is certain
NOISE = "W=0, another seed"
FLOOR = "input clip (floor)"


def _stylised(network: TransformerNet, frames: list[np.ndarray]) -> list[np.ndarray]:
    out = []
    for frame in frames:
        x = torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255
        y = fast_model.stylize(network, x)[0]
        out.append((y.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8))
    return out


def _blended(results: list[np.ndarray], frames: list[np.ndarray], share: float) -> list[np.ndarray]:
    """What ``video --model --blend`` does: each output mixed with the previous one along DIS flow."""
    return list(blended(results, frames, share, flow_function(QUICK_FLOW)))


def _style_loss(results: list[np.ndarray], encoder: VGGEncoder, grams: dict[str, torch.Tensor]) -> float:
    values = []
    with torch.no_grad():
        for result in results:
            x = torch.from_numpy(result).permute(2, 0, 1)[None].float() / 255
            values.append(float(batch_gram_loss(encoder(x), grams)))
    return float(np.mean(values))


def stability(
    clips: dict[str, tuple[ClipSpec, str]],
    frames: int,
    steps: int,
    size: int,
    width: float,
    weights: tuple[float, ...] = WEIGHTS,
    keep: Path | None = None,
) -> dict:
    """Train one network per temporal weight, stylise every clip, compare with the weight-0 network.

    ``keep``: a folder where the trained networks stay and are taken from when already there (so
    that weights can be trained in parallel processes, one thread each, and compared in one run)."""
    found: dict = {"training": {"steps": steps, "size": size, "width": width, "data": DATA, "style": STYLE}}
    with tempfile.TemporaryDirectory() as folder:
        data, style = Path(folder) / "data", Path(folder) / "style.png"
        data.mkdir()
        for name in DATA:
            io.resize_long_side(sample_image(name), 2 * size).save(data / f"{name}.png")
        sample_image(STYLE).save(style)
        networks, seconds = {}, {}
        # W=0 once more from another seed: how far two trainings differ with no term at all, the
        # noise floor under the style-loss ratios.
        for name, weight, seed in [*((f"W={w:g}", w, 1) for w in weights), (NOISE, 0.0, 2)]:
            config = TrainConfig(steps=steps, size=size, batch=4, width=width, temporal_weight=weight,
                                 checkpoint_every=10**6, seed=seed)  # fmt: skip
            tag = "" if seed == 1 else f"-seed{seed}"
            out = (keep or Path(folder)) / f"w{weight:g}-{steps}steps-{size}px-width{width:g}{tag}.pth"
            timing = out.with_suffix(".seconds")
            if not timing.exists():
                timing.write_text(str(train(style, data, out, config, weights="random")["seconds"]))
            networks[name], seconds[name] = fast_model.load(out).network, float(timing.read_text())
        layers = STYLE_LAYERS["vgg16"]
        encoder = VGGEncoder([*layers, CONTENT_LAYER["vgg16"]], weights="random", arch="vgg16")
        with torch.no_grad():
            style_image = io.image_to_tensor(io.read_image(style, size=size).image)
            grams = {k: gram_matrix(v) for k, v in encoder(style_image).items() if k in layers}
    found["train_seconds"] = seconds
    for clip_name, (spec, _) in clips.items():
        clip = list(synthetic_clip(dataclasses.replace(spec, frames=frames)))
        images = [f.image for f in clip]
        truth = ([f.flow for f in clip], [f.visible for f in clip])
        rows = {FLOOR: {"warp": warping_error(images, *truth)}}
        for name, network in networks.items():
            results = _stylised(network, images)
            variants = [(name, results)]
            if name != NOISE:
                variants.append((f"{name} + flow blend {BLEND:g}", _blended(results, images, BLEND)))
            for row, painted in variants:
                rows[row] = {"warp": warping_error(painted, *truth), "style": _style_loss(painted, encoder, grams)}
        found[clip_name] = rows
    return found


def frame_rates(size: int = 512, frames: int = 8) -> dict[str, float]:
    """Frames per second stylising 512 px frames (4:3), one at a time, on this machine's CPU."""
    rates = {}
    x = torch.rand(1, 3, size * 3 // 4, size)
    with tempfile.TemporaryDirectory() as folder:
        for width in (0.25, 1.0):
            torch.manual_seed(0)
            network = TransformerNet(width=width).eval()
            model = fast_model.FastModel(network, "bench", fast_model.thumbnail_of(sample_image(STYLE)), {})
            path = Path(folder) / f"w{width}.pth"
            fast_model.save(model, path)
            onnx = export_onnx(path, Path(folder) / f"w{width}.onnx")
            for kind, runner in (
                ("onnx", OnnxNetwork(onnx)),
                ("pytorch", fast_model.Runner(network, torch.device("cpu"))),
            ):
                fast_model.stylize(runner, x)  # warm-up
                started = time.perf_counter()
                for _ in range(frames):
                    fast_model.stylize(runner, x)
                rates[f"width {width:g}, {kind}"] = frames / (time.perf_counter() - started)
    return rates


def _mean_ratio(clips: list[dict], name: str, key: str) -> float:
    return float(np.exp(np.mean([np.log(rows[name][key] / rows["W=0"][key]) for rows in clips])))


def report(found: dict, rates: dict[str, float]) -> None:
    training = found["training"]
    print(
        f"\nfast networks trained alike ({training['steps']} steps, {training['size']} px crops, width "
        f"{training['width']:g}, style {training['style']}), by --temporal-weight; clips never trained on"
    )
    for clip_name, rows in found.items():
        if not isinstance(rows, dict) or FLOOR not in rows:
            continue
        base = rows["W=0"]
        print(f"\n{clip_name}")
        print("| network | warping error | vs W=0 | style loss vs W=0 |")
        print("|---|---|---|---|")
        for name, row in rows.items():
            style = f"{row['style'] / base['style']:.2f}x" if "style" in row else ""
            print(f"| {name} | {row['warp']:.5f} | {row['warp'] / base['warp']:.2f}x | {style} |")
    clips = [rows for rows in found.values() if isinstance(rows, dict) and FLOOR in rows]
    print("\nover the clips (geometric mean of the ratios to W=0):")
    print("| network | warping error vs W=0 | style loss vs W=0 |")
    print("|---|---|---|")
    for name in clips[0]:
        if "style" in clips[0][name]:
            warp, style = (_mean_ratio(clips, name, key) for key in ("warp", "style"))
            print(f"| {name} | {warp:.2f}x | {style:.2f}x |")
    print("\ntraining seconds: " + ", ".join(f"{name} {s:.0f} s" for name, s in found["train_seconds"].items()))
    print("\nframes per second at 512x384 on this CPU, one frame at a time:")
    for name, rate in rates.items():
        print(f"- {name}: {rate:.2f}")
