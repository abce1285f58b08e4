"""Verbs of video: ``video`` (a clip repainted, frame after frame, without flicker),
``video-masks`` (every frame's mask carried from keyframes) and ``video-join`` (segments, painted
as separate jobs, joined into one clip)."""

from __future__ import annotations

import argparse
from typing import Any

from pipeline.cli import options
from pipeline.cli.gatys import STYLE_FLAGS, gatys_config
from pipeline.cli.options import Help, add, add_labels, add_verbosity
from pipeline.cli.progress import reporting
from pipeline.errors import InputError


def register(verbs: Any, *, full: bool) -> None:
    """Add the verb; without ``full`` it gets no flags (their defaults come from torch modules)."""
    v = verbs.add_parser(
        "video",
        help="style transfer of a clip that holds still where the scene does (Ruder et al. 2016)",
        description="Repaint every frame of --content (a clip, or a folder of frames) in the style of --style: "
        "each frame starts from the previous result carried along the optical flow and keeps to it where the "
        "flow is certain. Writes OUT (an MP4 with the clip's timestamps and audio, or a folder of PNG frames), "
        "OUT.json (settings, and every frame's losses), OUT.masks/ (each frame's mask, when guided); a killed "
        "run continues where it stopped when run again with the same settings.",
        formatter_class=Help,
    )
    m = verbs.add_parser(
        "video-masks",
        help="carry keyframe masks to every frame of a clip along the motion",
        description="Write the mask of every frame of CLIP into OUT/ (NNNNNN.png, label maps like clean-mask's), "
        "carried along the optical flow from MASKS: one mask (frame 0's), a folder of keyframe masks named by frame "
        "number, or propose. The workflow runs it once per clip; its output is a mask for every frame, which "
        "`video --content-mask` takes as it is.",
        formatter_class=Help,
    )
    j = verbs.add_parser(
        "video-join",
        help="join segments of a clip (painted as separate jobs) into one clip, faded across their overlaps",
        description="Each SEGMENT is a folder `stylesnake video --frames A:B --out SEGMENT` wrote; frames two "
        "segments share are faded from the earlier into the later. Writes OUT (MP4 with the clip's timestamps and "
        "audio), OUT.json and a poster frame OUT.poster.png.",
        formatter_class=Help,
    )
    for parser in (v, m, j):
        add_verbosity(parser)
    if full:
        _video_flags(v)
        _masks_flags(m)
    j.add_argument("segments", nargs="+", metavar="SEGMENT", help="segment folders, in order")
    j.add_argument("--content", required=True, metavar="CLIP", help="the clip the segments were painted from")
    j.add_argument("--out", required=True, metavar="PATH", help="the joined clip (.mp4)")
    add(j, "fps", "max_pixels")
    j.set_defaults(handler=_join)


def _masks_flags(m: argparse.ArgumentParser) -> None:
    m.add_argument("--content", required=True, metavar="CLIP", help="the clip, or a folder of frames")
    m.add_argument(
        "--masks", required=True, metavar="MASKS", help="frame 0's mask, a folder of keyframe masks, or propose"
    )
    m.add_argument("--out", required=True, metavar="DIR", help="folder for every frame's mask")
    add(m, "size", help="long side the masks are made at, px (the video's --size)")
    add(m, "flow", "frames", "fps")
    add_labels(m.add_argument_group("labels (painted masks; exact ones need none)"))
    add(m, "max_pixels")
    m.set_defaults(handler=_masks)


def _video_flags(v: argparse.ArgumentParser) -> None:
    from pipeline.gatys.config import GatysConfig  # loads torch: per verb

    v.add_argument(
        "--content", required=True, metavar="CLIP", help="the clip (MP4, MOV, MKV, WebM…) or a folder of frames"
    )
    v.add_argument(
        "--style",
        action="append",
        metavar="PATH",
        help="style image (or targets .pt); repeat for several",
    )
    v.add_argument(
        "--model",
        metavar="PATH",
        help="instead of --style: a fast-style model (train's .pth, or its .onnx export), one pass per frame",
    )
    v.add_argument("--out", required=True, metavar="PATH", help="the stylised clip (.mp4), or a folder for PNG frames")
    add(v, *(f for f in STYLE_FLAGS if f != "size"))
    add(v, "size", default=None, help=f"long side of the frames, px (default: {GatysConfig().size} with --style, "
        "the clip's own with --model)")  # fmt: skip
    add(v, "steps", help="loss evaluations per frame")
    add(v, "content_weight", "style_weight", "tv_weight", "content_layer", "style_layer_weights")
    add(v, "init", help="the first frame's starting image: content, noise, style, or image:PATH")
    add(v, "optimizer", "lr", "lbfgs_history", "seed", "style_blend", "tile")
    _time_flags(v.add_argument_group("time (Ruder et al. 2016)"))
    c = v.add_argument_group("colour control (Gatys 2016)")
    add(c, "color", "color_match")
    _region_flags(v.add_argument_group("spatial control: masks with one flat colour per region"))
    _fast_flags(v.add_argument_group("one pass per frame (--model, or --style with --instant)"))
    # Flags that belong to one path only are refused on the other, rather than silently dropped.
    # (argparse passes a string default through the flag's type, as it does a given value.)
    defaults = {
        a.dest: a.type(a.default) if isinstance(a.default, str) and callable(a.type) else a.default
        for a in v._actions
        if a.dest not in _BOTH
    }
    v.set_defaults(handler=_video, path_only=defaults)


def _time_flags(t: argparse._ArgumentGroup) -> None:
    from pipeline.video.transfer import VideoConfig  # torch: built only for the verb run

    d = VideoConfig()
    t.add_argument(
        "--temporal-weight",
        type=float,
        default=d.temporal_weight,
        help="how strongly each frame keeps to the previous result where the flow is certain, relative "
        "to the first frame's loss; 0 makes every frame independent",
    )
    add(t, "flow")
    t.add_argument(
        "--long-term",
        action="store_true",
        help="also keep to frames t-2 and t-4 (Ruder's long-term consistency: what an object hid comes back as it was)",
    )
    t.add_argument("--first-steps", type=int, metavar="N", help="evaluations of the first frame (default: --steps)")
    t.add_argument(
        "--reveal-steps",
        type=int,
        metavar="N",
        help="evaluations of the pass that paints what the motion revealed on its own, as an independent frame "
        "(default: --steps; 0: copy it from its stylised surroundings instead, cheaper)",
    )
    t.add_argument(
        "--reveal-frames",
        type=int,
        metavar="N",
        default=d.reveal_frames,
        help="frames what the motion revealed is painted on its own before it is held, so that the halo a painting "
        "draws around a moving object moves with it; held sooner where its paint looks as that painting's does "
        f"(default: {d.reveal_frames}; 1: held from the next frame)",
    )
    add(t, "frames", "fps")
    t.add_argument("--keep-frames", action="store_true", help="keep OUT.frames/ (every frame as PNG) after writing OUT")


def _region_flags(g: argparse._ArgumentGroup) -> None:
    add(
        g,
        "content_mask",
        help="frame 0's mask, a folder of keyframe masks named by frame number (000000.png, 000120.png, "
        "…), or propose (frame 0's, proposed from its colours); carried to every frame along the flow",
    )
    add(g, "style_mask", action="append", help="label mask of each style image, in order")
    add(g, "guide_mode", "guide_grow")
    add_labels(g)
    add(g, "label_map", "region_weights")


def _fast_flags(f: argparse._ArgumentGroup) -> None:
    f.add_argument(
        "--instant",
        action="store_true",
        help="with --style: each frame in one pass through Magenta's pretrained arbitrary-style networks "
        "(instant style, any painting; the instant extra) instead of optimised",
    )
    f.add_argument("--batch", type=int, metavar="N", help="frames per forward pass (default: 8 on a GPU, 1 on a CPU)")
    f.add_argument("--compile", action="store_true", help="torch.compile the network first (GPU)")
    f.add_argument(
        "--blend",
        type=float,
        default=None,
        metavar="SHARE",
        help="keep this share of the previous output where the flow is certain (default 0.5; 0: off)",
    )


#: ``video`` flags that mean the same with --style and --model.
_BOTH = {"help", "verbosity", "content", "out", "size", "device", "precision", "max_pixels", "frames", "fps",
         "content_mask", "min_area", "flow", "style", "model"}  # fmt: skip
#: Flags of the one-pass paths (--model, --style --instant) alone; every other flag is the
#: optimisation's alone, but for the paintings' weights, which instant style mixes too.
_FAST = {"batch", "compile", "blend", "instant"}
_INSTANT = {"style_blend", "style_mask", "k", "colors"}


def _check_path(args: argparse.Namespace) -> None:
    """--style or --model, and no flag of another path."""
    if (args.style is None) == (args.model is None):
        raise InputError("give --style (optimise every frame) or --model (a fast-style network), not both or neither")
    if args.instant and args.model is not None:
        raise InputError("--instant takes paintings: give them with --style, not --model")
    fast = args.model is not None or args.instant
    for dest, default in args.path_only.items():
        allowed = (dest in _FAST or (args.instant and dest in _INSTANT)) if fast else dest not in _FAST
        if not allowed and getattr(args, dest) != default:
            flag = "--" + dest.replace("_", "-")
            path = "--style (optimisation)" if not fast else "--style --instant" if args.instant else "--model"
            raise InputError(f"{flag} is not for {path}; leave it out")


def _flow(args: argparse.Namespace) -> dict[str, Any]:
    """``--flow`` where given: left out, each kind of run takes its own default."""
    return {} if args.flow is None else {"flow": args.flow}


def _video(args: argparse.Namespace) -> int:
    from pipeline.gatys.config import GatysConfig  # loads torch: per verb
    from pipeline.video.run import video_files  # loads torch: per verb
    from pipeline.video.transfer import VideoConfig  # loads torch: per verb

    _check_path(args)
    if args.model is not None or args.instant:
        return _fast_video(args)
    if args.size is None:  # a frame is optimised at a still's default size
        args.size = GatysConfig().size

    guidance = options.guidance(args)
    video = VideoConfig(
        temporal_weight=args.temporal_weight, long_term=args.long_term, first_steps=args.first_steps,
        reveal_steps=args.reveal_steps, reveal_frames=args.reveal_frames, **_flow(args),
    )  # fmt: skip
    with reporting(quiet=args.verbosity < 0, what="video", unit="frame") as progress:
        video_files(
            args.content,
            args.style,
            args.out,
            gatys_config(args),
            video,
            weights=args.weights,
            max_pixels=args.max_pixels,
            frames=args.frames,
            fps=args.fps,
            guidance=guidance,
            style_blend=args.style_blend,
            keep_frames=args.keep_frames,
            progress=progress,
        )
    return 0


def _fast_video(args: argparse.Namespace) -> int:
    from pipeline.video.fast import FastClipConfig, fast_video_files  # loads torch: per verb
    from pipeline.video.instant import open_instant  # loads onnxruntime: per verb

    config = FastClipConfig(
        size=args.size, batch=args.batch, device=args.device, precision=args.precision, compile=args.compile,
        **_flow(args), **({} if args.blend is None else {"blend": args.blend}),
    )  # fmt: skip
    with reporting(quiet=args.verbosity < 0, what="video", unit="frame") as progress:
        model = args.model
        if args.instant:
            if (args.content_mask is None) != (args.style_mask is None) or len(args.style_mask or []) > 1:
                raise InputError("regions on a clip take its --content-mask and one --style-mask (the painting's)")
            model = open_instant(
                args.style, blend=args.style_blend, style_mask=(args.style_mask or [None])[0],
                palette=options.palette(args), k=options.single_k(args, "the painting's mask"),
                max_pixels=args.max_pixels, device=args.device,
            )  # fmt: skip
        fast_video_files(
            model,
            args.content,
            args.out,
            config,
            content_mask=args.content_mask,
            min_area=args.min_area,
            frames=args.frames,
            fps=args.fps,
            max_pixels=args.max_pixels,
            progress=progress,
        )
    return 0


def _masks(args: argparse.Namespace) -> int:
    from pipeline.video.keyframes import video_masks_files  # loads torch: per verb

    video_masks_files(
        args.content,
        args.masks,
        args.out,
        size=args.size,
        **_flow(args),
        frames=args.frames,
        fps=args.fps,
        k=options.single_k(args, "the keyframe masks"),
        palette=options.palette(args),
        min_area=args.min_area,
        max_pixels=args.max_pixels,
    )
    return 0


def _join(args: argparse.Namespace) -> int:
    from pipeline.video.segments import join_files  # loads torch: per verb

    join_files(args.content, args.segments, args.out, max_pixels=args.max_pixels, fps=args.fps)
    return 0
