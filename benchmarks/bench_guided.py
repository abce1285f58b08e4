"""Spatial control on scenes we did not tune to: how much guided transfer bleeds, and what it costs.

1. The suite (``--suite``): the ten guided scenes of :func:`pipeline.synthetic.guided_scenes`
   (2–4 regions; halves, a region enclosed by another, a thin band, a 5 % corner, stripes across
   stripes, organic regions, a hand-painted mask, natural style images), random VGG-19, 128 px,
   100 evaluations. For each scene: the bleeding (share of each content region's pixels closer
   in colour to another style region's mean, averaged over regions; 0 is none, an output that
   ignores the regions scores about 1 − 1/R) unguided, with each guide mode, and with a
   from-scratch reference of the paper's formulation (below), side by side in one run; then the
   suite's mean, worst scene and worst guided/unguided ratio per column.
2. The sweep (``--sweep``): the same suite over guide modes × layer balances × style weights,
   one summary row per setting (this is how the defaults were chosen; ~1 h on 2 cores).
3. Speed (``--speed``): time per loss evaluation of guided transfer with 4 regions against
   unguided transfer, at 256 px, in alternating blocks (goal: guided <= 1.15x unguided on CPU).

The reference (:func:`reference_transfer`, ~50 lines sharing nothing with pipeline's losses,
guides or optimiser but the network): guides resized to each layer by bicubic interpolation
(the authors' zoom) and divided by their RMS, guided Grams ``(F∘T)(F∘T)ᵀ / (H·W)``, the 2015
paper's balance (equal layer weights on the mean squared Gram error), region weights 1/R, content
relu4_2, and torch's L-BFGS with a strong-Wolfe line search.

    python benchmarks/bench_guided.py --suite           # ~12 min on 2 cores
    python benchmarks/bench_guided.py --sweep           # ~1 h
    python benchmarks/bench_guided.py --speed
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from pipeline.core.channels import GUIDE_MODES, one_hot
from pipeline.core.features import LAYER_INDEX, VGGEncoder
from pipeline.core.guidance import Regions
from pipeline.gatys import STYLE_LAYERS, GatysConfig, build_encoder, transfer
from pipeline.synthetic import GuidedScene, guided_scenes, truth_labels
from pipeline.synthetic.measures import bleeding

SIZE, STEPS = 128, 100
#: The suite runs at the default style weight (1e6).
STYLE_WEIGHT = GatysConfig().style_weight
#: The reference's style weight, in its own units: its Grams are over H·W, ours over C·H·W, so the
#: same weight on relu1_1 (C = 64) is ours / 64²; deeper layers then weigh (C / 64)² more than ours.
REFERENCE_STYLE_WEIGHT = STYLE_WEIGHT / 64**2
#: Per-layer weights (relu1_1 … relu5_1) for our Grams (which carry 1/C): "channels" is our
#: default (equal weights: the authors' code's 1/N_l² balance), "paper" the 2015 paper's (equal
#: weights on Grams over H·W, i.e. (C_l / 64)² here), "sqrt" halfway between.
BALANCES = {"channels": (1.0,) * 5, "sqrt": (1.0, 2.0, 4.0, 8.0, 8.0), "paper": (1.0, 4.0, 16.0, 64.0, 64.0)}


def tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].float()


def scene_regions(scene: GuidedScene) -> Regions:
    r = scene.regions
    return Regions(
        names=tuple(str(i) for i in range(r)),
        content=one_hot(scene.content_labels, range(r)),
        styles=(one_hot(scene.style_labels, range(r)),),
        sources=(tuple(range(r)),),
        weights=torch.full((r,), 1 / r),
    )


def scene_bleeding(scene: GuidedScene, output: torch.Tensor) -> float:
    return float(np.mean(bleeding(output, scene.content_labels, tensor(scene.style), scene.style_labels)))


def ours(scene: GuidedScene, encoder: VGGEncoder, mode: str | None, **settings) -> float:
    """Bleeding of our transfer: unguided (``mode`` None) or guided with ``mode``."""
    settings = {"size": SIZE, "steps": STEPS, "style_weight": STYLE_WEIGHT, **settings}
    config = GatysConfig(guide_mode=mode or "simple", **settings)
    regions = scene_regions(scene) if mode else None
    result = transfer(tensor(scene.content), tensor(scene.style), config, encoder=encoder, regions=regions)
    return scene_bleeding(scene, result.image)


# --- the reference ------------------------------------------------------------------------------

_STYLE_INDICES = [LAYER_INDEX[name] for name in STYLE_LAYERS]
_CONTENT_INDEX = LAYER_INDEX["relu4_2"]


def _features(encoder: VGGEncoder, image: torch.Tensor) -> dict[int, torch.Tensor]:
    h, out = (image - encoder.mean) / encoder.std, {}
    for index, module in enumerate(encoder.body):
        h = module(h)
        if index in _STYLE_INDICES or index == _CONTENT_INDEX:
            out[index] = h
    return out


def _guides(labels: np.ndarray, regions: int, size: torch.Size) -> torch.Tensor:
    masks = torch.stack([torch.from_numpy(labels == r).float() for r in range(regions)])[None]
    zoomed = F.interpolate(masks, size=size, mode="bicubic", align_corners=False).clamp(0, 1)[0]
    rms = zoomed.pow(2).mean(dim=(1, 2), keepdim=True).sqrt()
    return torch.where(rms > 0, zoomed / rms.clamp_min(1e-12), zoomed)


def _guided_grams(features: torch.Tensor, guides: torch.Tensor) -> torch.Tensor:
    c, h, w = features.shape[1:]
    x = (features[0][None] * guides[:, None]).reshape(len(guides), c, h * w)
    return x @ x.transpose(1, 2) / (h * w)


def reference_transfer(
    encoder: VGGEncoder, scene: GuidedScene, *, steps: int = STEPS, style_weight: float = REFERENCE_STYLE_WEIGHT
) -> torch.Tensor:
    """Gatys 2016 guided transfer as the paper writes it (see the module docstring)."""
    content, style, regions = tensor(scene.content), tensor(scene.style), scene.regions
    with torch.no_grad():
        fc, fs = _features(encoder, content), _features(encoder, style)
        targets = {i: _guided_grams(fs[i], _guides(scene.style_labels, regions, fs[i].shape[-2:])) for i in fs}
        guides = {i: _guides(scene.content_labels, regions, fc[i].shape[-2:]) for i in fc}
    image = content.clone().requires_grad_(True)
    optimiser = torch.optim.LBFGS(
        [image], lr=1, max_iter=steps, max_eval=steps, history_size=100, tolerance_grad=-1, tolerance_change=-1,
        line_search_fn="strong_wolfe",
    )  # fmt: skip

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        f = _features(encoder, image)
        style_loss = sum(
            (_guided_grams(f[i], guides[i]) - targets[i]).pow(2).mean(dim=(1, 2)).mean() for i in _STYLE_INDICES
        ) / len(_STYLE_INDICES)
        loss = F.mse_loss(f[_CONTENT_INDEX], fc[_CONTENT_INDEX]) + style_weight * style_loss
        loss.backward()
        return loss

    optimiser.step(closure)
    return image.detach().clamp(0, 1)


# --- reports -------------------------------------------------------------------------------------


def _summary(values: list[float], unguided: list[float]) -> str:
    ratios = [v / u for v, u in zip(values, unguided, strict=True)]
    return f"mean {statistics.mean(values):.3f}  worst {max(values):.3f}  worst ratio to unguided {max(ratios):.2f}"


def measure_suite(encoder: VGGEncoder, scenes: list[GuidedScene]) -> None:
    columns = ["unguided", *GUIDE_MODES, "reference"]
    weights = f"style weight {STYLE_WEIGHT:g} (reference {REFERENCE_STYLE_WEIGHT:g})"
    print(f"bleeding, {SIZE} px, {STEPS} evaluations, {weights}, random VGG-19")
    print(f"{'scene':14s} {'R':>2s} " + " ".join(f"{c:>9s}" for c in columns))
    table: dict[str, list[float]] = {c: [] for c in columns}
    for scene in scenes:
        started = time.perf_counter()
        for column in columns:
            if column == "reference":
                value = scene_bleeding(scene, reference_transfer(encoder, scene))
            else:
                value = ours(scene, encoder, None if column == "unguided" else column)
            table[column].append(value)
        row = " ".join(f"{table[c][-1]:9.3f}" for c in columns)
        print(f"{scene.name:14s} {scene.regions:2d} {row}   ({time.perf_counter() - started:.0f} s)", flush=True)
    for column in columns[1:]:
        print(f"{column:10s} {_summary(table[column], table['unguided'])}")


def measure_sweep(encoder: VGGEncoder, scenes: list[GuidedScene], weights: list[float], modes: list[str]) -> None:
    print(f"sweep: {SIZE} px, {STEPS} evaluations; per setting, over {len(scenes)} scenes")
    for balance, style_weight in itertools.product(BALANCES, weights):
        settings = {"style_weight": style_weight, "style_layer_weights": BALANCES[balance]}
        unguided = [ours(scene, encoder, None, **settings) for scene in scenes]
        for mode in modes:
            values = [ours(scene, encoder, mode, **settings) for scene in scenes]
            per_scene = " ".join(f"{v:.3f}" for v in values)
            label = f"{balance:8s} {style_weight:7.0e} {mode:6s}"
            print(f"{label}  {_summary(values, unguided)}   [{per_scene}]", flush=True)


def measure_speed(size: int, evals: int, blocks: int, mode: str) -> None:
    rng = np.random.default_rng(0)
    generator = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, size, size, generator=generator)
    style = torch.rand(1, 3, size, size, generator=generator)
    regions = Regions(
        names=("a", "b", "c", "d"),
        content=one_hot(truth_labels(rng, size, size, 4, min_share=0.1), range(4)),
        styles=(one_hot(truth_labels(rng, size, size, 4, min_share=0.1), range(4)),),
        sources=((0, 1, 2, 3),),
        weights=torch.full((4,), 0.25),
    )
    encoder = build_encoder(GatysConfig(), weights="random")
    config = GatysConfig(size=size, steps=evals, guide_mode=mode)
    transfer(content, style, config, encoder=encoder, regions=regions)  # warm-up
    plain, guided = [], []
    for block in range(blocks):
        for side in ("plain", "guided") if block % 2 == 0 else ("guided", "plain"):
            use = regions if side == "guided" else None
            per_eval = transfer(content, style, config, encoder=encoder, regions=use).timings["per_evaluation"]
            (guided if use else plain).append(per_eval)
    p, g = statistics.median(plain), statistics.median(guided)
    paired = statistics.median(a / b for a, b in zip(guided, plain, strict=True))
    shares = ", ".join(f"{float(s):.2f}" for s in regions.content.mean(dim=(1, 2)))
    print(f"{size} px, 4 regions (content shares {shares}), guides '{mode}', {blocks} blocks x {evals} evaluations")
    print(f"unguided {p * 1000:7.1f} ms/eval, guided {g * 1000:7.1f} ms/eval")
    print(f"ratio guided/unguided: {g / p:.3f} (medians), {paired:.3f} (paired); goal <= 1.15 on CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", action="store_true", help="bleeding on the suite, with the reference")
    parser.add_argument("--sweep", action="store_true", help="bleeding over modes x balances x style weights")
    parser.add_argument("--sweep-weights", default="1e6,1e7,1e8,1e9")
    parser.add_argument("--sweep-modes", default=",".join(GUIDE_MODES))
    parser.add_argument("--speed", action="store_true", help="time guided against unguided evaluations")
    parser.add_argument("--size", type=int, default=256, help="speed: image size")
    parser.add_argument("--evals", type=int, default=5)
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--mode", default="simple", choices=GUIDE_MODES)
    args = parser.parse_args()
    if not (args.suite or args.sweep or args.speed):
        parser.error("choose --suite, --sweep and/or --speed")
    scenes = guided_scenes(SIZE)
    encoder = build_encoder(GatysConfig(), weights="random")
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    if args.suite:
        measure_suite(encoder, scenes)
    if args.sweep:
        weights = [float(w) for w in args.sweep_weights.split(",")]
        measure_sweep(encoder, scenes, weights, args.sweep_modes.split(","))
    if args.speed:
        measure_speed(args.size, args.evals, args.blocks, args.mode)


if __name__ == "__main__":
    main()
