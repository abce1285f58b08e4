"""The workflow: wall time of the quick demo on this machine, and of a rerun with nothing to do.

Runs README's main job (``snakemake --cores N --config weights=random preset=quick``) in a fresh
folder holding only the repository's masks, then reruns it a few times; prints the demo's wall
time, the slowest jobs by rule (from the per-rule benchmark files) and the no-op rerun's median.
Goal: the demo in a few minutes on 2 cores; a no-op rerun in <= 5 s.

    python benchmarks/bench_workflow.py [--cores 2] [--reruns 3]
"""

from __future__ import annotations

import argparse
import csv
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def snakemake(folder: Path, cores: int) -> float:
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(folder)]
    command += ["--cores", str(cores), "--quiet", "all", "--config", "weights=random", "preset=quick"]
    start = time.perf_counter()
    subprocess.run(command, cwd=folder, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--reruns", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        shutil.copytree(ROOT / "masks", folder / "masks", ignore=shutil.ignore_patterns("*.py"))
        demo = snakemake(folder, args.cores)
        per_rule: dict[str, list[float]] = defaultdict(list)
        for tsv in (folder / "results" / "benchmarks").rglob("*.tsv"):
            rule = tsv.relative_to(folder / "results" / "benchmarks").parts[0].removesuffix(".tsv")
            with tsv.open() as fh:
                per_rule[rule] += [float(row["s"]) for row in csv.DictReader(fh, delimiter="\t")]
        noop = [snakemake(folder, args.cores) for _ in range(args.reruns)]
    print(f"quick demo, {args.cores} cores: {demo:.1f} s wall")
    for rule, seconds in sorted(per_rule.items(), key=lambda item: -sum(item[1])):
        print(f"  {rule:14s} {len(seconds):2d} jobs, {sum(seconds):6.1f} s in all, {max(seconds):5.1f} s the slowest")
    print(f"no-op rerun: median {statistics.median(noop):.2f} s over {len(noop)} (goal <= 5 s)")


if __name__ == "__main__":
    main()
