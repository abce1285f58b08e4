"""Video: does the clip hold still where the scene does, without washing out the style?

On synthetic clips whose true motion is known (``pipeline.synthetic.clips``: a camera panning and
zooming over a photo while a textured disc crosses it; several photos, speeds and sizes), measured
with the **true** flow, never the method's own:

- **warping error** (Lai et al. 2018): per frame, the mean squared RGB difference in [0, 1] between
  result t and result t−1 brought along the true flow, over pixels whose origin is visible. Ours,
  the same with ``--temporal-weight 0`` (independent frames), a from-scratch reference (Ruder et
  al.'s short-term method: bilinear warp, torch's L-BFGS), and the input clip itself (the floor).
  Target: ours ≤ 0.3× the independent frames', with the mean style loss per frame within 15 %.
- **warm start**: evaluations each later frame needs to reach the loss (content + style) that its
  independent run reaches; target ≤ 40 % of ``--steps``.
- **masks**: frame 0's true labels carried to the last frame (24 frames) of textured scenes; target
  ≥ 98 % pixel accuracy.
- **memory**: the peak resident memory of ``stylesnake video`` on 24 and 480 frames (flat).

Random VGG-19 weights (no ImageNet weights here): they do not paint like a painting, but the losses,
the warm start and the flicker behave as they do with any weights (the temporal weight is relative to
the clip's own loss, see pipeline/video/temporal.py).

    .venv/bin/python benchmarks/bench_video.py                 # the table (about 40 minutes on 2 cores)
    .venv/bin/python benchmarks/bench_video.py --sweep         # the design choices, on two clips
    .venv/bin/python benchmarks/bench_video.py --fast          # fast networks: trained stability, frame rates
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline import io  # noqa: E402
from pipeline.core import targets as style_targets  # noqa: E402
from pipeline.gatys import GatysConfig, build_encoder  # noqa: E402
from pipeline.samples import sample_image  # noqa: E402
from pipeline.synthetic.clips import ClipSpec, Disc, SyntheticFrame, synthetic_clip  # noqa: E402
from pipeline.synthetic.measures import ghost_and_streaks, revealed, warping_error  # noqa: E402
from pipeline.video.flow import DEFAULT_FLOW, certainty, flow_function, warp  # noqa: E402
from pipeline.video.masks import carry_through, keyframe  # noqa: E402
from pipeline.video.transfer import ClipTransfer, FrameResult, VideoConfig  # noqa: E402

#: The suite: photos, speeds (pan, zoom, the disc's), sizes and aspect ratios, each with a painting.
CLIPS = {
    "astronaut 128x96": (
        ClipSpec(world="astronaut", size=(128, 96), frames=24, pan=(0.8, 0.3), speed=(2.2, 0.6)),
        "ihc",
    ),
    "coffee 160x120, fast": (
        ClipSpec(
            world="coffee",
            size=(160, 120),
            frames=24,
            pan=(1.6, -0.5),
            zoom=0.996,
            speed=(-3.2, 1.0),
            texture="gravel",
            tint=(0.3, 0.5, 0.9),
        ),
        "hubble_deep_field",
    ),
    "rocket 96x128, zoom": (
        ClipSpec(
            world="rocket",
            size=(96, 128),
            frames=24,
            pan=(-0.5, 0.2),
            zoom=1.01,
            speed=(0.6, -2.0),
            texture="grass",
            tint=(0.4, 0.8, 0.3),
        ),
        "retina",
    ),
    # What the motion reveals, every way: discs entering and leaving, crossing, a roll, pulling back.
    "chelsea 128x96, roll, discs in and out": (
        ClipSpec(
            world="chelsea",
            size=(128, 96),
            frames=24,
            pan=(0.3, 0.0),
            zoom=1.0,
            roll=0.8,
            speed=(6.0, 0.4),
            start=(-0.15, 0.45),
            others=(Disc(speed=(-5.5, 0.8), start=(1.15, 0.25), texture="gravel", tint=(0.2, 0.6, 0.9)),),
        ),
        "ihc",
    ),
    "scene 160x120, discs crossing": (
        ClipSpec(
            world="scene:11",
            size=(160, 120),
            frames=24,
            pan=(-1.0, 0.4),
            zoom=1.0,
            speed=(3.0, 0.0),
            others=(Disc(speed=(-3.0, 0.2), radius=0.14, texture="grass", tint=(0.9, 0.9, 0.2)),),
        ),
        "hubble_deep_field",
    ),
    "hubble 128x128, dark, pulling back": (
        ClipSpec(
            world="hubble_deep_field",
            size=(128, 128),
            frames=24,
            pan=(0.6, 0.6),
            zoom=0.99,
            speed=(1.5, -2.5),
            texture="brick",
            tint=(0.3, 0.1, 0.1),
        ),
        "retina",
    ),
}
#: Frames of each clip on its contact sheet.
SHEET_FRAMES = (0.0, 1 / 3, 2 / 3, 1.0)
#: Scenes for carrying masks: textured regions whose truth is known (seeds not used elsewhere).
MASK_SEEDS = range(30, 38)


@dataclass
class Run:
    results: list[np.ndarray]
    frames: list[FrameResult]
    seconds: float


def style_of(name: str, config: GatysConfig, encoder: torch.nn.Module) -> style_targets.StyleTargets:
    image = io.image_to_tensor(io.resize_long_side(sample_image(name), config.size))
    computed = style_targets.compute(encoder, image, layers=config.style_layers)
    return dataclasses.replace(computed, info=config.target_settings(encoder.weights_info))


def run(clip: list[SyntheticFrame], style: object, config: GatysConfig, video: VideoConfig, encoder: object) -> Run:
    started = time.perf_counter()
    transfer = ClipTransfer([style], config, video, encoder=encoder)  # type: ignore[arg-type, list-item]
    frames = list(transfer.run((f.index, f.image) for f in clip))
    return Run([f.image for f in frames], frames, time.perf_counter() - started)


def reference(clip: list[SyntheticFrame], style: object, config: GatysConfig, weight: float, encoder: object) -> Run:
    """Ruder et al.'s short-term method from scratch: Gatys losses on the same network, each later
    frame from the previous result warped bilinearly along DIS flow (disoccluded pixels from the
    frame), the certainty-weighted temporal loss, torch's L-BFGS (no line search, as neural-style)."""
    from pipeline.gatys import build_criterion

    started = time.perf_counter()
    flow = flow_function("dis-medium")
    results: list[np.ndarray] = []
    reference_loss = None
    for index, frame in enumerate(clip):
        content = torch.from_numpy(frame.image.astype(np.float32) / 255).permute(2, 0, 1)[None].contiguous()
        criterion = build_criterion(encoder, content, [style], config, precision_context=contextlib.nullcontext)  # type: ignore[arg-type, list-item]
        if reference_loss is None:
            with torch.no_grad():
                reference_loss = float(sum(criterion(content).values()))
        x, target, c = content.clone(), None, None
        if index:
            towards, back = flow(frame.image, clip[index - 1].image), flow(clip[index - 1].image, frame.image)
            c_np = certainty(towards, back)
            moved = warp(results[-1].astype(np.float32) / 255, towards, resampling="bilinear")
            target = torch.from_numpy(moved).permute(2, 0, 1)[None].contiguous()
            c = torch.from_numpy(c_np)[None, None]
            x = c * target + (1 - c) * content
        x = x.clone().requires_grad_(True)
        optimiser = torch.optim.LBFGS([x], lr=1, max_iter=config.steps, history_size=20)

        def closure(
            x=x, criterion=criterion, target=target, c=c, optimiser=optimiser, scale=reference_loss
        ) -> torch.Tensor:
            optimiser.zero_grad()
            loss = sum(criterion(x).values())
            if target is not None:
                loss = loss + weight * scale * (c * (x - target) ** 2).mean()
            loss.backward()
            return loss

        optimiser.step(closure)
        results.append((x.detach()[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8))
    return Run(results, [], time.perf_counter() - started)


def style_loss(
    results: list[np.ndarray], clip: list[SyntheticFrame], style: object, config: GatysConfig, encoder: object
) -> float:
    """The mean style term (as weighted in the transfer) of frames 1…: the same measure for every method."""
    from pipeline.gatys import build_criterion

    values = []
    for result, frame in list(zip(results, clip, strict=True))[1:]:
        content = torch.from_numpy(frame.image.astype(np.float32) / 255).permute(2, 0, 1)[None].contiguous()
        criterion = build_criterion(encoder, content, [style], config, precision_context=contextlib.nullcontext)  # type: ignore[arg-type, list-item]
        with torch.no_grad():
            values.append(
                float(criterion(torch.from_numpy(result.astype(np.float32) / 255).permute(2, 0, 1)[None])["style"])
            )
    return float(np.mean(values))


def warm_start(ours: Run, independent: Run) -> float:
    """Mean share of its evaluations a later frame needed to reach its independent run's final loss."""
    shares = []
    for frame, alone in list(zip(ours.frames, independent.frames, strict=True))[1:]:
        goal = alone.losses["content"] + alone.losses["style"]
        reached = [c + s <= goal for c, s in zip(frame.history["content"], frame.history["style"], strict=True)]
        shares.append((reached.index(True) + 1) / len(reached) if any(reached) else 1.0)
    return float(np.mean(shares))


def measure(
    spec: ClipSpec,
    style_name: str,
    config: GatysConfig,
    variants: dict[str, VideoConfig],
    encoder,
    reference_weight: float | None = None,
) -> dict:
    clip = list(synthetic_clip(spec))
    style = style_of(style_name, config, encoder)
    truth = ([f.flow for f in clip], [f.visible for f in clip])
    rows = {"input clip (floor)": {"warp": warping_error([f.image for f in clip], *truth)}}
    independent = run(clip, style, config, VideoConfig(temporal_weight=0), encoder)
    base = {
        "warp": warping_error(independent.results, *truth),
        "style": style_loss(independent.results, clip, style, config, encoder),
    }
    rows["independent frames"] = {**base, "seconds": independent.seconds}
    if reference_weight is not None:
        ruder = reference(clip, style, config, reference_weight, encoder)
        rows[f"reference: Ruder from scratch, W={reference_weight:g}"] = {
            "warp": warping_error(ruder.results, *truth),
            "style": style_loss(ruder.results, clip, style, config, encoder),
            "seconds": ruder.seconds,
        }
    runs = {"independent frames": independent.results}
    for name, video in variants.items():
        ours = run(clip, style, config, video, encoder)
        ghost, border = ghost_and_streaks(ours.results, independent.results, *truth)
        rows[name] = {
            "warp": warping_error(ours.results, *truth),
            "style": style_loss(ours.results, clip, style, config, encoder),
            "warm": warm_start(ours, independent),
            "ghost": ghost,
            "border": border,
            "seconds": ours.seconds,
        }
        runs[name] = ours.results
    return {"base": base, "rows": rows, "runs": runs, "clip": [f.image for f in clip]}


def guided(spec: ClipSpec, style_name: str, config: GatysConfig, encoder: object, sheets: Path) -> dict:
    """A guided clip as ``stylesnake video --content-mask`` paints it (frame 0's true labels as the
    keyframe mask, carried along the flow; the painting's mask in bands, one per label), with the
    temporal term and without: its ghost trail and border streaks, and its contact sheet."""
    from PIL import Image

    from pipeline.masks.pairs import Guidance
    from pipeline.synthetic.clips import write_clip
    from pipeline.synthetic.masks import PALETTE
    from pipeline.video.run import video_files

    clip = list(synthetic_clip(spec))
    labels = int(max(f.labels.max() for f in clip)) + 1
    truth = ([f.flow for f in clip], [f.visible for f in clip])
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_clip(spec, root / "clip")  # PNG frames: lossless
        (root / "keys").mkdir()
        Image.fromarray(PALETTE[clip[0].labels]).save(root / "keys" / "000000.png")
        painting = io.resize_long_side(sample_image(style_name), config.size)
        painting.save(root / "style.png")
        bands = np.minimum(np.arange(painting.height) * labels // painting.height, labels - 1)
        Image.fromarray(PALETTE[bands][:, None].repeat(painting.width, axis=1)).save(root / "style_mask.png")
        guidance = Guidance(content_mask=str(root / "keys"), style_masks=(str(root / "style_mask.png"),), min_area=0)
        runs = {}
        for name, video in (("independent frames", VideoConfig(temporal_weight=0)), ("ours (default)", VideoConfig())):
            out = root / name.split()[0]
            video_files(root / "clip", [root / "style.png"], out, config, video, weights="random", encoder=encoder,
                        guidance=guidance)  # type: ignore[arg-type]  # fmt: skip
            runs[name] = [np.asarray(Image.open(out / f"{i:06d}.png").convert("RGB")) for i in range(len(clip))]
    ghost, border = ghost_and_streaks(runs["ours (default)"], runs["independent frames"], *truth)
    warp = [warping_error(runs[name], *truth) for name in runs]
    sheet = contact_sheet([f.image for f in clip], runs, sheets / "guided.png")
    return {"warp": warp[1] / warp[0], "ghost": ghost, "border": border, "sheet": str(sheet)}


def contact_sheet(clip: list[np.ndarray], runs: dict[str, list[np.ndarray]], path: Path) -> Path:
    """A PNG of the clip's frames at :data:`SHEET_FRAMES` (columns), the clip itself and then each
    run (rows, named on the left), twice the size: what a person looks at beside the numbers."""
    from PIL import Image, ImageDraw

    picks = sorted({round(share * (len(clip) - 1)) for share in SHEET_FRAMES})
    height, width = clip[0].shape[:2]
    label = 150
    rows = {"clip": clip, **runs}
    sheet = Image.new("RGB", (label + 2 * width * len(picks), 2 * height * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (name, frames) in enumerate(rows.items()):
        draw.text((4, r * 2 * height + 4), name, fill="black")
        for c, index in enumerate(picks):
            tile = Image.fromarray(frames[index]).resize((2 * width, 2 * height), Image.Resampling.NEAREST)
            sheet.paste(tile, (label + c * 2 * width, r * 2 * height))
        if r == 0:
            for c, index in enumerate(picks):
                draw.text((label + c * 2 * width + 4, 4), f"frame {index}", fill="white")
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def masks(flow_method: str = DEFAULT_FLOW) -> list[tuple[float, float]]:
    """Frame 0's true labels carried to the last frame of textured scenes: the share of its pixels
    labelled right, then of those the motion revealed on the way (where a smear would show)."""
    flow = flow_function(flow_method)
    rng = np.random.default_rng(7)
    accuracies = []
    for seed in MASK_SEEDS:
        size = [(128, 96), (160, 120), (192, 144), (96, 128)][seed % 4]
        spec = ClipSpec(
            world=f"scene:{seed}",
            size=size,
            frames=24,
            pan=tuple(rng.uniform(-2, 2, 2)),
            speed=tuple(rng.uniform(-3, 3, 2)),
            zoom=float(rng.uniform(0.995, 1.01)),
            texture=["brick", "gravel", "grass"][seed % 3],
            tint=tuple(rng.uniform(0.1, 0.95, 3)),
        )
        frames = list(synthetic_clip(spec))
        start = keyframe(frames[0].labels, int(max(f.labels.max() for f in frames)) + 1)
        carried = carry_through([f.image for f in frames], start, flow)[-1]
        right = carried.labels == frames[-1].labels
        shown = revealed([f.flow for f in frames], [f.visible for f in frames])[-1]
        accuracies.append((float(right.mean()), float(right[shown].mean())))
    return accuracies


def memory(frames: int) -> float:
    """Peak resident memory (MiB) of `stylesnake video` on a clip of ``frames`` frames (tiny, 1 evaluation each)."""
    with tempfile.TemporaryDirectory() as folder:
        from pipeline.synthetic.clips import write_clip

        clip, style = Path(folder) / "clip.mp4", Path(folder) / "style.png"
        write_clip(ClipSpec(size=(160, 120), frames=frames, zoom=1.0), clip)
        sample_image("ihc").resize((64, 64)).save(style)
        code = (
            "import resource, sys; from pipeline.cli import main; "
            f"assert main(['-q', 'video', '--content', {str(clip)!r}, '--style', {str(style)!r}, '--out', "
            f"{str(Path(folder) / 'out.mp4')!r}, '--size', '64', '--steps', '1', '--weights', 'random']) == 0; "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", action="store_true", help="compare design choices on two clips")
    parser.add_argument("--steps", type=int, default=40, help="evaluations per frame")
    parser.add_argument("--frames", type=int, default=24, help="frames per clip")
    parser.add_argument("--json", metavar="PATH", help="also write the measurements as JSON")
    parser.add_argument(
        "--sheets",
        metavar="DIR",
        type=Path,
        default=ROOT / "benchmarks" / "results" / "video-sheets",
        help="where each clip's contact sheet (clip, independent frames, each run) is written",
    )
    parser.add_argument("--fast", action="store_true", help="fast networks: trained stability, frames per second")
    parser.add_argument("--train-steps", type=int, default=300, help="--fast: training steps per network")
    parser.add_argument("--train-size", type=int, default=96, help="--fast: training crop, px")
    parser.add_argument("--width", type=float, default=0.25, help="--fast: the networks' width")
    parser.add_argument(
        "--temporal-weights", default="0,30,300", help="--fast: the training temporal weights compared (0 first)"
    )
    parser.add_argument(
        "--networks", metavar="DIR", type=Path, help="--fast: keep the trained networks here and reuse them"
    )
    parser.add_argument("--clips", help="only the suite's clips whose names start with these (comma-separated)")
    parser.add_argument("--guided", action="store_true", help="with --clips: the guided clip too")
    parser.add_argument(
        "--defaults-only", action="store_true", help="leave out the warm-start-alone row (a diagnostic)"
    )
    parser.add_argument(
        "--no-reference", action="store_true", help="leave out the from-scratch Ruder (it does not use our code)"
    )
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    found: dict = {}
    if args.fast:
        from fast_video import frame_rates, report, stability

        weights = tuple(float(w) for w in args.temporal_weights.split(","))
        found = stability(CLIPS, args.frames, args.train_steps, args.train_size, args.width, weights, args.networks)
        found["frames_per_second"] = frame_rates()
        report(found, found["frames_per_second"])
        if args.json:
            Path(args.json).write_text(json.dumps(found, indent=1))
        return
    if args.sweep:
        variants = {
            "warm start alone (W=1e-9)": VideoConfig(temporal_weight=1e-9),
            "W=3": VideoConfig(temporal_weight=3),
            "W=10": VideoConfig(temporal_weight=10),
            "W=20": VideoConfig(temporal_weight=20),
            "W=10, bilinear warps": VideoConfig(temporal_weight=10, resampling="bilinear"),
            "W=10, dis-medium flow": VideoConfig(temporal_weight=10, flow="dis-medium"),
            "W=10, long-term": VideoConfig(temporal_weight=10, long_term=True),
        }
        clips = dict(list(CLIPS.items())[:2])
    else:
        # The warm start on its own too: what starting from the warped previous result saves.
        variants = {"ours (default)": VideoConfig(), "warm start alone (W=1e-9)": VideoConfig(temporal_weight=1e-9)}
        if args.defaults_only:
            del variants["warm start alone (W=1e-9)"]
        clips = CLIPS
    if args.clips:
        wanted = tuple(args.clips.split(","))
        clips = {name: clip for name, clip in clips.items() if name.startswith(wanted)}
        if not clips:
            parser.error(f"--clips {args.clips}: the suite has {', '.join(CLIPS)}")
    for clip_name, (spec, style_name) in clips.items():
        spec = dataclasses.replace(spec, frames=args.frames)
        config = GatysConfig(size=max(spec.size), steps=args.steps)
        encoder = build_encoder(config, "random")
        weight = None if args.sweep or args.no_reference else VideoConfig().temporal_weight
        result = measure(spec, style_name, config, variants, encoder, reference_weight=weight)
        sheet = contact_sheet(result.pop("clip"), result.pop("runs"), args.sheets / f"{clip_name.split()[0]}.png")
        found[f"{clip_name} × {style_name}"] = result
        base = result["base"]
        print(f"\n{clip_name} × {style_name} ({args.frames} frames, {args.steps} evaluations each; frames: {sheet})")
        print("| run | warping error | vs independent | style loss vs independent | ghost trail | border streaks "
              "| warm start | seconds |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|")
        for name, row in result["rows"].items():
            ratio = f"{row['warp'] / base['warp']:.2f}x"
            style = f"{row['style'] / base['style']:.2f}x" if "style" in row else ""
            ghost = f"{row['ghost']:.2f}" if "ghost" in row else ""
            border = f"{row['border']:.2f}" if "border" in row else ""
            warm = f"{100 * row['warm']:.0f} %" if "warm" in row else ""
            print(f"| {name} | {row['warp']:.5f} | {ratio} | {style} | {ghost} | {border} | {warm} "
                  f"| {row.get('seconds', 0):.0f} |", flush=True)  # fmt: skip
    if args.guided or not (args.sweep or args.clips):
        spec, style_name = CLIPS["scene 160x120, discs crossing"]
        spec = dataclasses.replace(spec, frames=args.frames)
        config = GatysConfig(size=max(spec.size), steps=args.steps)
        found["guided"] = row = guided(spec, style_name, config, build_encoder(config, "random"), args.sheets)
        print(f"\nguided (scene 160x120, discs crossing, keyframe 0 carried): warping error {row['warp']:.2f}x the "
              f"independent frames', ghost trail {row['ghost']:.2f}, border streaks {row['border']:.2f} "
              f"(frames: {row['sheet']})", flush=True)  # fmt: skip
    if not args.sweep and not args.clips:  # the suite-wide measures once, with the whole table
        accuracy = masks()
        found["masks"] = accuracy
        every, shown = (np.array([a[k] for a in accuracy]) for k in (0, 1))
        print(f"\nmasks carried 24 frames on {len(accuracy)} textured scenes: worst {every.min():.4f}, mean "
              f"{every.mean():.4f}; on the pixels the motion revealed, worst {shown.min():.4f}, "
              f"mean {shown.mean():.4f}")  # fmt: skip
        peaks = {n: memory(n) for n in (24, 480)}
        found["memory_mib"] = peaks
        print(f"peak memory: {peaks[24]:.0f} MiB at 24 frames, {peaks[480]:.0f} MiB at 480 frames")
    if args.json:
        Path(args.json).write_text(json.dumps(found, indent=1))


if __name__ == "__main__":
    main()
