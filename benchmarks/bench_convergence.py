"""Does every transfer converge? The convergence suite, three optimisers side by side.

Every bundled photo we use as content (square and not) × three style images × init content and
noise, seeded random VGG-19, at the quick demo's size and budget (128 px, 30 evaluations, style
weight 1e6). For each run it prints the share of the starting loss removed ("drop") by

- ``ours``: :mod:`pipeline.core.optim` (L-BFGS with a Wolfe line search), as ``stylesnake transfer`` runs it;
- ``fixed``: ``torch.optim.LBFGS`` without a line search, step 1: the iterates Stylesnake's
  L-BFGS produced before the line search (tests checked them equal to torch's);
- ``wolfe``: ``torch.optim.LBFGS(line_search_fn="strong_wolfe")``, torch's own line search
  (which syncs the host ~200 times per evaluation);

all on the same criterion, counting loss evaluations alike. The goal: every ``ours`` run removes
≥ 90 % of its starting loss (tests/test_convergence.py holds the same suite at 64 px).

    python benchmarks/bench_convergence.py                 # ~10 min on 2 CPU cores
    python benchmarks/bench_convergence.py --size 64 --steps 30 --only ours
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from pipeline import io
from pipeline.core.losses import ContentLoss, GramStyleLoss, layer_weights
from pipeline.gatys import CONTENT_LAYER, GatysConfig, build_encoder, initial_image, optimize
from pipeline.samples import sample_image

CONTENTS = ("astronaut", "chelsea", "coffee", "rocket", "camera", "coins")
STYLES = ("hubble_deep_field", "ihc", "retina")
INITS = ("content", "noise")
OPTIMISERS = ("ours", "fixed", "wolfe")


def load(name: str, size: int) -> torch.Tensor:
    image = sample_image(name)
    scale = size / max(image.size)
    return io.image_to_tensor(image.resize((round(image.width * scale), round(image.height * scale))))


def criterion_for(
    encoder: torch.nn.Module, content: torch.Tensor, style: torch.Tensor, config: GatysConfig
) -> Callable[[torch.Tensor], dict[str, torch.Tensor]]:
    """Gatys 2015's loss as :func:`pipeline.gatys.transfer` builds it (content relu4_2, Gram
    style loss over the five style layers, weights from ``config``)."""
    weights = layer_weights(config.style_layers, config.style_layer_weights)
    with torch.no_grad():
        content_loss = ContentLoss(CONTENT_LAYER, encoder(content))
        style_loss = GramStyleLoss.from_features(encoder(style), weights)

    def criterion(image: torch.Tensor) -> dict[str, torch.Tensor]:
        features = encoder(image)
        return {
            "content": config.content_weight * content_loss(features),
            "style": config.style_weight * style_loss(features),
        }

    return criterion


def run_torch(init: torch.Tensor, criterion, steps: int, line_search: str | None) -> list[float]:
    """Losses of torch's L-BFGS, one per evaluation (the lowest so far, as ours records them)."""
    image = init.clone().requires_grad_(True)
    optimiser = torch.optim.LBFGS(
        [image], lr=1, max_iter=steps, max_eval=steps, history_size=20, tolerance_grad=-1,
        tolerance_change=-1, line_search_fn=line_search,
    )  # fmt: skip
    losses: list[float] = []

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        total = sum(criterion(image).values())
        total.backward()
        losses.append(min(total.item(), losses[-1]) if losses else total.item())
        return total

    while len(losses) < steps:
        before = len(losses)
        optimiser.step(closure)
        if len(losses) == before:
            break
    return losses[:steps]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--style-weight", type=float, default=1e6)
    parser.add_argument("--only", choices=OPTIMISERS, action="append", help="run only these optimisers")
    args = parser.parse_args()
    chosen = args.only or list(OPTIMISERS)

    config = GatysConfig(size=args.size, steps=args.steps, style_weight=args.style_weight)
    encoder = build_encoder(config, weights="random").eval()
    for p in encoder.parameters():
        p.requires_grad_(False)
    print(f"{args.size} px, {args.steps} evaluations, style weight {args.style_weight:g}, random VGG-19")
    print(f"{'content':10s} {'style':18s} {'init':8s} " + " ".join(f"{name:>7s}" for name in chosen) + "   (loss drop)")
    drops: dict[str, list[float]] = {name: [] for name in chosen}
    started = time.perf_counter()
    for content_name in CONTENTS:
        content = load(content_name, args.size)
        for style_name in STYLES:
            style = load(style_name, args.size)
            criterion = criterion_for(encoder, content, style, config)
            for init_name in INITS:
                init = initial_image(init_name, content, style, config.seed)
                row = []
                for name in chosen:
                    if name == "ours":
                        losses = optimize(init, criterion, steps=args.steps).history["total"]
                    else:
                        losses = run_torch(init, criterion, args.steps, "strong_wolfe" if name == "wolfe" else None)
                    drops[name].append(1 - losses[-1] / losses[0])
                    row.append(f"{drops[name][-1]:7.4f}")
                print(f"{content_name:10s} {style_name:18s} {init_name:8s} " + " ".join(row), flush=True)
    print(f"\n{len(drops[chosen[0]])} runs in {time.perf_counter() - started:.0f} s")
    for name, values in drops.items():
        stalled = sum(d < 0.9 for d in values)
        print(
            f"{name:6s} drop: min {min(values):.4f}, median {statistics.median(values):.4f}; "
            f"{stalled} run(s) below 0.90"
        )


if __name__ == "__main__":
    main()
