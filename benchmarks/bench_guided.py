"""Spatial control: how much guided transfer bleeds, and what it costs.

1. Bleeding (``--bleeding``): the two-region scene of tests/test_bleeding.py (grey astronaut split
   left | right; red bricks above, blue grass below), random VGG weights, 128 px, 100 L-BFGS
   evaluations, style weight 1e7. Prints the bleeding (share of each content region closer in
   colour to the wrong style region) for unguided transfer and each guide mode.
2. Speed: time per loss evaluation of guided transfer with 4 regions against unguided transfer,
   at 256 px, in alternating blocks (goal: guided <= 1.15x unguided on CPU).

    python benchmarks/bench_guided.py --bleeding
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch

from pipeline.gatys import GatysConfig, build_encoder, transfer
from pipeline.guidance import GUIDE_MODES, Regions, bleeding, one_hot
from pipeline.synthetic import truth_labels, two_region_scene


def tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]


def measure_bleeding() -> None:
    content, content_labels, style, style_labels = two_region_scene(128)
    regions = Regions(
        names=("bricks", "grass"),
        content=one_hot(content_labels, [0, 1]),
        styles=(one_hot(style_labels, [0, 1]),),
        sources=((0, 1),),
        weights=torch.tensor([0.5, 0.5]),
    )
    encoder = build_encoder(GatysConfig(), weights="random")
    for mode in (None, *GUIDE_MODES):
        config = GatysConfig(size=128, steps=100, style_weight=1e7, guide_mode=mode or "simple")
        result = transfer(tensor(content), tensor(style), config, encoder=encoder, regions=regions if mode else None)
        shares = bleeding(result.image, content_labels, tensor(style), style_labels)
        per_region = ", ".join(f"{share:.3f}" for share in shares)
        print(f"bleeding {mode or 'unguided':9s} {np.mean(shares):.3f} (per region: {per_region})")


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
    parser.add_argument("--bleeding", action="store_true", help="also measure bleeding (~2 min on 2 cores)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--evals", type=int, default=5)
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--mode", default="simple", choices=GUIDE_MODES)
    args = parser.parse_args()
    if args.bleeding:
        measure_bleeding()
    measure_speed(args.size, args.evals, args.blocks, args.mode)


if __name__ == "__main__":
    main()
