"""Mask cleaning: quality against painted ground truth, and speed on a 4096×4096 mask.

Quality: a dozen masks painted the way people paint (pipeline.synthetic: per-stroke jitter ±6,
soft brush, stray 1–3 px dabs, bilinear resampling, JPEG 60–90), 3–6 labels each. For each, the
pixel accuracy against the painted truth and the specks left (pieces smaller than the default
minimum area), for plain K-means (every pixel to its nearest K-means centre) and for the cleaner.

Speed: :func:`pipeline.masks.clean_mask` on a 4096×4096 painted mask in memory, and the whole
``clean_mask_file`` (read JPEG, clean, write palette PNG). Goal: <= 3 s on 2 cores.

    python benchmarks/bench_masks.py
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline import masks
from pipeline.synthetic import count_specks, painted_mask


def to_truth(colours: np.ndarray, palette: np.ndarray) -> np.ndarray:
    return np.array([int(np.argmin(np.abs(palette.astype(int) - c.astype(int)).sum(1))) for c in colours])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--masks", type=int, default=12)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=768)
    parser.add_argument("--big", type=int, default=4096, help="side of the speed-test mask")
    args = parser.parse_args()

    rows = []
    for seed in range(args.masks):
        k = 3 + seed % 4
        mask = painted_mask(seed, size=(args.width, args.height), k=k)
        min_area = masks.default_min_area(args.height, args.width)
        centres = masks.clean._kmeans_centres(mask.painted, k, seed=0)
        plain = masks.clean._colour_table(centres).label[masks.clean._bins(mask.painted)]
        plain_truth = to_truth(np.clip(np.round(centres), 0, 255).astype(np.uint8), mask.palette)[plain]
        cleaned = masks.clean_mask(mask.painted, k=k)
        ours = to_truth(cleaned.colours, mask.palette)[cleaned.labels]
        rows.append(
            (
                (plain_truth == mask.truth).mean(),
                count_specks(plain, min_area),
                (ours == mask.truth).mean(),
                count_specks(cleaned.labels, min_area),
                len(np.unique(cleaned.labels)) == k,
            )
        )
    print(f"{args.masks} painted masks, {args.width}x{args.height}, 3-6 labels")
    for name, acc, spk in (("plain K-means", 0, 1), ("stylesnake", 2, 3)):
        accuracies = [r[acc] for r in rows]
        print(
            f"{name:14s} accuracy mean {statistics.mean(accuracies):.4%}, min {min(accuracies):.4%}, "
            f"specks {sum(r[spk] for r in rows)}"
        )
    print(f"stylesnake gives exactly k colours on every mask: {all(r[4] for r in rows)}")

    big = painted_mask(1, size=(args.big, args.big), k=5)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        masks.clean_mask(big.painted, k=5)
        times.append(time.perf_counter() - start)
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "painted.jpg"
        Image.fromarray(big.painted).save(source, quality=85)
        start = time.perf_counter()
        masks.clean_mask_file(source, Path(folder) / "clean.png", k=5)
        whole = time.perf_counter() - start
    print(
        f"{args.big}x{args.big}: clean_mask {min(times):.2f} s (best of 3); with JPEG read and PNG write {whole:.2f} s"
    )
    print("goal <= 3 s")


if __name__ == "__main__":
    main()
