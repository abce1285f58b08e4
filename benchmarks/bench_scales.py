"""Coarse-to-fine memory and time: guided transfers at growing sizes, each in its own process so
that its peak memory (resident set on the CPU, allocations on a GPU) is its own.

Each run: the astronaut in the style of ihc with the repository's demo masks, --scales auto from
256 px, a few evaluations per stage (time per evaluation is what scales; 300 evaluations cost
proportionally more). Prints, per final size, the stages, seconds per evaluation at the final
stage, the whole run's seconds, and peak memory. Goal: 1024 px on a CPU within 24 GiB; 2048 px
within 24 GB of GPU memory.

    python benchmarks/bench_scales.py [--sizes 512,1024] [--steps 5] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(size: int, steps: int, device: str, folder: Path) -> dict:
    for name in ("astronaut", "ihc"):
        image = folder / f"{name}.png"
        if not image.exists():
            subprocess.run([sys.executable, "-m", "pipeline", "-q", "sample", name, str(image)], check=True)
    out = folder / f"out-{size}.png"
    command = [sys.executable, "-m", "pipeline", "-q", "transfer", "--weights", "random", "--device", device]
    command += ["--content", str(folder / "astronaut.png"), "--style", str(folder / "ihc.png"), "--out", str(out)]
    command += ["--content-mask", str(ROOT / "masks/content/astronaut.png")]
    command += ["--style-mask", str(ROOT / "masks/style/ihc.png"), "--colors", "subject=#e6194b,background=#4363d8"]
    command += ["--size", str(size), "--scales", "auto", "--stage-steps", str(steps), "--steps", str(steps)]
    subprocess.run(command, check=True)
    return json.loads(Path(f"{out}.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="512,1024")
    parser.add_argument("--steps", type=int, default=5, help="evaluations per stage")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            m = run(size, args.steps, args.device, Path(tmp))
            final = m["stages"][-1]
            per_evaluation = final["seconds"] / final["evaluations"]
            stages = " → ".join(str(max(s["width"], s["height"])) for s in m["stages"])
            print(
                f"{size:5d} px on {m['device']}: stages {stages}; final stage {per_evaluation:.2f} s/evaluation; "
                f"whole run {m['timings_s']['total']:.1f} s; peak memory "
                + ", ".join(f"{k} {v / 1024:.2f} GiB" for k, v in m["peak_memory_mb"].items())
            )


if __name__ == "__main__":
    main()
