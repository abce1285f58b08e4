"""Tiled transfer (``--tile``): peak memory and time of a large tiled run against an untiled run at
the tile's size (and, with ``--untiled-large``, an untiled run at the large size), each in its own
process so that its peak memory (resident set on the CPU, allocations on a GPU) is its own.

Each run: the astronaut in the style of ihc, random VGG-19 weights, a few evaluations (time per
evaluation is what scales). What a tile bounds is the network's activations and autograd graph;
the image, its gradient, the content features and the optimiser's state still grow with the image:
L-BFGS keeps 2 · --lbfgs-history image-sized vectors (20 pairs: 480 MiB at 1024 px, 7.5 GiB at
4096 px), so the large runs are repeated with a short history to show that share.

    python benchmarks/bench_tiles.py [--size 1024] [--tile 256] [--steps 3] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def run(folder: Path, size: int, steps: int, device: str, *extra: str) -> dict:
    for name in ("astronaut", "ihc"):
        image = folder / f"{name}.png"
        if not image.exists():
            subprocess.run([sys.executable, "-m", "pipeline", "-q", "sample", name, str(image)], check=True)
    out = folder / f"out-{size}-{'-'.join(extra) or 'untiled'}.png"
    command = [sys.executable, "-m", "pipeline", "-q", "transfer", "--weights", "random", "--device", device]
    command += ["--content", str(folder / "astronaut.png"), "--style", str(folder / "ihc.png"), "--out", str(out)]
    command += ["--size", str(size), "--steps", str(steps), *extra]
    subprocess.run(command, check=True)
    return json.loads(Path(f"{out}.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024, help="the large (tiled) size")
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--steps", type=int, default=3, help="evaluations per run")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--untiled-large", action="store_true", help="also run the large size untiled")
    args = parser.parse_args()
    runs = [
        (args.tile, ()),
        (args.size, ("--tile", str(args.tile))),
        (args.size, ("--tile", str(args.tile), "--lbfgs-history", "2")),
    ]
    if args.untiled_large:
        runs += [(args.size, ()), (args.size, ("--lbfgs-history", "2"))]
    with tempfile.TemporaryDirectory() as tmp:
        for size, extra in runs:
            m = run(Path(tmp), size, args.steps, args.device, *extra)
            stage = m["stages"][-1]
            memory = ", ".join(f"{k} {v:.0f} MiB" for k, v in m["peak_memory_mb"].items())
            print(
                f"{size:5d} px {' '.join(extra) or 'untiled':30s} tiles {stage.get('tiles', 1):3d}  "
                f"{m['timings_s']['per_evaluation']:6.2f} s/evaluation  peak {memory}  on {m['device']}",
                flush=True,
            )


if __name__ == "__main__":
    main()
