"""Every file the workflow writes, spelt once."""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.errors import InputError

#: What an image or clip may be called: its name is a wildcard of every output path made from it,
#: and a content and a style name joined by :data:`SEPARATOR` name a pair.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
#: What joins a content and a style name into a pair's name.
SEPARATOR = "__"


def check_name(name: str, path: Path) -> None:
    """An :class:`InputError` unless ``name`` (of the file ``path``) can be a wildcard."""
    if not NAME.fullmatch(name) or SEPARATOR in name:
        raise InputError(
            f"{path}: rename it; image names may hold letters, digits, '.', '-' and '_' (not '{SEPARATOR}')"
        )


class Paths:
    """Every file the workflow writes, as Snakemake patterns (relative to the working directory)."""

    images = "images/{kind}"  # the inputs, by convention (demo images are written there)
    image = "images/{kind}/{name}.png"  # a demo image, written from scikit-image's samples
    masks = "results/masks/{kind}"
    mask = "results/masks/{kind}/{name}.png"  # a painted (or proposed) mask, cleaned
    proposed = "results/masks/proposed/{kind}/{name}.png"  # masks: propose, for an image without one
    semantic = "results/masks/semantic/{kind}/{name}.png"  # masks: semantic, for an image without one
    targets = "results/targets/{style}.pt"
    result = "results/gatys/{content}__{style}.png"
    panel = "results/gatys/{content}__{style}.panel.png"
    curve = "results/gatys/{content}__{style}.loss.svg"
    curve_png = "results/gatys/{content}__{style}.loss.png"  # the same curve, as fast style's training writes it
    sheet = "results/index.html"
    models = "results/fast"
    model = "results/fast/{style}.pth"
    model_curve = "results/fast/{style}.loss.svg"
    onnx = "results/fast/{style}.onnx"
    stylized = "results/fast/{content}__{style}.png"
    instant = "results/instant/{content}__{style}.png"  # any painting in one pass (pretrained networks)
    clip = "videos/{clip}.mp4"  # a demo clip, written from scikit-image's samples with known motion
    video_masks = "results/video/{clip}.masks"  # every frame's mask, carried from the keyframe masks
    segment = "results/video/{clip}__{style}/{segment}"  # one job's frames (folder), {segment} = 000, 001, …
    video = "results/video/{clip}__{style}.mp4"
    poster = "results/video/{clip}__{style}.poster.png"
    fast_video = "results/video/fast/{clip}__{style}.mp4"  # the clip through the style's fast network
    fast_poster = "results/video/fast/{clip}__{style}.poster.png"

    @staticmethod
    def sidecar(pattern: str) -> str:
        """The record beside an output (:func:`pipeline.record.sidecar_path`)."""
        return f"{pattern}.json"

    @staticmethod
    def log(rule: str, job: str = "") -> str:
        return f"logs/{rule}/{job}.log" if job else f"logs/{rule}.log"

    @staticmethod
    def benchmark(rule: str, job: str = "") -> str:
        return f"results/benchmarks/{rule}/{job}.tsv" if job else f"results/benchmarks/{rule}.tsv"
