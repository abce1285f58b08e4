"""Mask proposals (``stylesnake propose-mask``) and region pairing (``match-regions``), measured on
synthetic scenes with known regions (``pipeline.synthetic.textured_scene``).

Proposals: K textured regions (2 <= K <= 5) with distinct colour statistics, two families (``photo``:
tinted texture and photo structure; ``noise``: additive blurred colour noise); pixel accuracy after
the best one-to-one pairing of proposed and true labels, and time per image at 512 and 2048 px
(goal: >= 95 % accuracy, <= 2 s at 2048 px on 2 CPU cores); how often k chosen automatically
(no --k) is the true K. Beside it, plain K-means on each pixel's colour and position.

Pairing: the scene's truth against a moved, rescaled, recoloured copy of itself (a painting of a
similar scene), its labels shuffled; share of regions paired with their counterpart, with images
(position, size, colour) and with masks only (position, size).

    python benchmarks/bench_propose.py [--scenes 24]
"""

from __future__ import annotations

import argparse
import statistics
import time

import cv2
import numpy as np

from pipeline.masks import LabelMap
from pipeline.masks.match import match_label_maps
from pipeline.masks.propose import propose_mask
from pipeline.synthetic import PALETTE, matched_accuracy, textured_scene


def plain_kmeans(image: np.ndarray, k: int) -> np.ndarray:
    """Each pixel's CIELAB colour and position, K-means: what a quick script does."""
    from sklearn.cluster import KMeans

    small = cv2.resize(image, (128, round(128 * image.shape[0] / image.shape[1])), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small.astype(np.float32) / 255, cv2.COLOR_RGB2Lab).reshape(-1, 3)
    yy, xx = np.mgrid[0 : small.shape[0], 0 : small.shape[1]]
    features = np.concatenate([lab, 50 * np.stack([yy.ravel(), xx.ravel()], 1) / 128], axis=1)
    labels = KMeans(k, n_init=4, random_state=0).fit_predict(features).reshape(small.shape[:2]).astype(np.uint8)
    return cv2.resize(labels, image.shape[1::-1], interpolation=cv2.INTER_NEAREST)


def proposals(scenes: int) -> None:
    print(f"proposals, {scenes} scenes per family and size, K = 2..5")
    for texture in ("photo", "noise"):
        for side in (512, 2048):
            ours, plain, times, auto = [], [], [], 0
            for i in range(scenes):
                k = 2 + i % 4
                image, truth = textured_scene(3000 + i, size=(side, side * 3 // 4), k=k, texture=texture)
                start = time.perf_counter()
                proposal = propose_mask(image, k=k)
                times.append(time.perf_counter() - start)
                ours.append(matched_accuracy(proposal.labels.astype(int), truth))
                if side == 512:
                    plain.append(matched_accuracy(plain_kmeans(image, k).astype(int), truth))
                    auto += len(propose_mask(image).colours) == k
            line = (
                f"  {texture:5s} {side:4d} px: accuracy mean {statistics.mean(ours):.2%} min {min(ours):.2%}, "
                f"time mean {statistics.mean(times):.2f} s max {max(times):.2f} s"
            )
            if plain:
                line += f"; plain K-means {statistics.mean(plain):.2%}; auto k right {auto}/{scenes}"
            print(line)
    print("  goal: >= 95 % accuracy, <= 2 s at 2048 px")


def _painting_of(image: np.ndarray, truth: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The scene moved (±25 %), rescaled (0.7–1.3) and recoloured (gains 0.6–1.4 per channel)."""
    height, width = truth.shape
    scale = rng.uniform(0.7, 1.3)
    dx, dy = rng.uniform(-0.25, 0.25, 2) * (width, height)
    affine = np.array([[scale, 0, dx + (1 - scale) * width / 2], [0, scale, dy + (1 - scale) * height / 2]], np.float32)
    labels = cv2.warpAffine(
        truth.astype(np.uint8), affine, (width, height), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT
    )
    painting = cv2.warpAffine(image, affine, (width, height), borderMode=cv2.BORDER_REFLECT).astype(np.float32)
    return np.clip(painting * rng.uniform(0.6, 1.4, 3), 0, 255).astype(np.uint8), labels


def pairing(scenes: int) -> None:
    right = {"images": 0, "masks only": 0}
    total = 0
    for i in range(scenes):
        rng = np.random.default_rng(i)
        k = 2 + i % 4
        image, truth = textured_scene(2000 + i, size=(384, 288), k=k)
        painting, labels = _painting_of(image, truth, rng)
        shuffle = rng.permutation(k)
        content = LabelMap(truth.astype(np.uint8), PALETTE[:k].copy(), tuple(f"c{r}" for r in range(k)))
        style = LabelMap(shuffle[labels].astype(np.uint8), PALETTE[:k].copy(), tuple(f"s{r}" for r in range(k)))
        for name, images in (("images", (image, painting)), ("masks only", (None, None))):
            pairs = match_label_maps(content, style, content_image=images[0], style_image=images[1])
            right[name] += sum(pairs.get(f"c{r}") == f"s{shuffle[r]}" for r in range(k) if (truth == r).any())
        total += sum((truth == r).any() for r in range(k))
    print(f"pairing, {scenes} scene/painting pairs: " + ", ".join(f"{n} {c}/{total}" for n, c in right.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=24)
    args = parser.parse_args()
    proposals(args.scenes)
    pairing(40)


if __name__ == "__main__":
    main()
