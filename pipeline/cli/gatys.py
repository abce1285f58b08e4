"""Verbs of the Gatys optimisation: ``transfer``, ``style-targets``, ``mix-scales``."""

from __future__ import annotations

import argparse
from typing import Any

from pipeline.cli import options
from pipeline.cli.options import Help, add, add_labels, add_verbosity
from pipeline.cli.progress import reporting
from pipeline.errors import InputError

#: What the style's Grams depend on, and where they are computed (every Gatys verb).
STYLE_FLAGS = ("size", "style_size", "style_layers", "pooling", "weights", "device", "precision", "max_pixels")


def register(verbs: Any, *, full: bool) -> None:
    """Add the verbs; without ``full`` they get no flags (their defaults come from torch modules)."""
    t = verbs.add_parser(
        "transfer",
        help="Gatys et al. 2015 style transfer of one content image",
        description="Optimise an image to have the content of --content and the style of --style. "
        "Writes OUT and OUT.json (parameters, weights, timings, losses).",
        formatter_class=Help,
    )
    st = verbs.add_parser(
        "style-targets",
        help="compute a style image's Gram targets once, for many transfers",
        description="Run the style image (and its mask) through VGG-19 and save its Gram matrix and the "
        "guided Gram of every mask label at each style layer. Pass OUT to `transfer --style`: every "
        "content image reuses it. Writes OUT (.pt) and OUT.json.",
        formatter_class=Help,
    )
    mx = verbs.add_parser(
        "mix-scales",
        help="a new style image: coarse structure of one painting, fine texture of another",
        description="Scale mixing (Gatys et al. 2016): starting from --coarse, match --fine's Gram matrices at "
        "the fine layers and --coarse's own at the others. Use OUT as a style image. Writes OUT and OUT.json.",
        formatter_class=Help,
    )
    for parser in (t, st, mx):
        add_verbosity(parser)
    if full:
        _transfer_flags(t)
        _style_targets_flags(st)
        _mix_scales_flags(mx)


def _transfer_flags(t: argparse.ArgumentParser) -> None:
    t.add_argument("--content", required=True, metavar="PATH", help="content image")
    t.add_argument(
        "--style",
        required=True,
        action="append",
        metavar="PATH",
        help="style image, or its targets (.pt) from `stylesnake style-targets`; repeat for several "
        "(mixed by --style-blend, or region by region with masks)",
    )
    t.add_argument("--out", required=True, metavar="PATH", help="output image (.png or .jpg)")
    add(t, "alpha")
    t.add_argument(
        "--save-every",
        type=int,
        default=0,
        metavar="N",
        help="write the image so far every N evaluations to OUT.steps/ (with index.json of losses)",
    )
    add(t, *STYLE_FLAGS)
    add(t, "steps", "content_weight", "style_weight", "tv_weight", "content_layer", "style_layer_weights")
    add(t, "init", "optimizer", "lr", "lbfgs_history", "seed", "style_blend", "tile")
    c = t.add_argument_group("colour and scale control (Gatys 2016)")
    add(c, "color", "color_match", "scales", "scale_base", "stage_steps")
    g = t.add_argument_group("spatial control (Gatys 2016): masks with one flat colour per region")
    add(g, "content_mask")
    add(g, "style_mask", action="append", help="label mask of each style image, in order (targets carry their own)")
    add(g, "guide_mode", "guide_grow")
    add_labels(g)
    add(g, "label_map", "region_weights")
    t.set_defaults(handler=_transfer)


def _style_targets_flags(st: argparse.ArgumentParser) -> None:
    st.add_argument("--style", required=True, metavar="PATH", help="style image")
    st.add_argument("--out", required=True, metavar="PATH", help="targets file to write (.pt)")
    add(st, *STYLE_FLAGS)
    g = st.add_argument_group("spatial control: the style image's mask")
    add(g, "style_mask")
    add(g, "guide_mode", "guide_grow")
    add_labels(g)
    st.set_defaults(handler=_style_targets)


def _mix_scales_flags(mx: argparse.ArgumentParser) -> None:
    from pipeline.gatys import FINE_LAYERS  # loads torch: per verb

    mx.add_argument("--coarse", required=True, metavar="PATH", help="style image whose coarse structure is kept")
    mx.add_argument("--fine", required=True, metavar="PATH", help="style image whose fine texture is taken")
    mx.add_argument("--out", required=True, metavar="PATH", help="new style image (.png or .jpg)")
    mx.add_argument(
        "--fine-layers", type=options.csv, default=",".join(FINE_LAYERS), help="layers whose Grams come from --fine"
    )
    add(mx, *STYLE_FLAGS)
    add(mx, "steps", "style_weight", "seed")
    add(mx, "content_weight", help="keeps --coarse's layout")
    mx.set_defaults(handler=_mix_scales)


# --- handlers -------------------------------------------------------------------------------------


def gatys_config(args: argparse.Namespace) -> Any:
    """The Gatys settings a verb was given; the ones it has no flag for keep their defaults."""
    from pipeline import gatys  # loads torch: per verb

    if getattr(args, "scales", None) == "auto":
        args.scales = gatys.auto_scales(args.size, args.scale_base)
    elif hasattr(args, "scales") and args.scales is None:
        del args.scales
    return options.config_from(args, gatys.GatysConfig)


def _transfer(args: argparse.Namespace) -> int:
    from pipeline import gatys  # loads torch: per verb

    guidance = options.guidance(args)
    config = gatys_config(args)
    with reporting(quiet=args.verbosity < 0, what="transfer") as progress:
        gatys.transfer_files(
            args.content,
            args.style,
            args.out,
            config,
            weights=args.weights,
            max_pixels=args.max_pixels,
            progress=progress,
            style_blend=args.style_blend,
            guidance=guidance,
            save_every=args.save_every,
            alpha=args.alpha,
        )
    return 0


def _style_targets(args: argparse.Namespace) -> int:
    from pipeline import gatys  # loads torch: per verb

    k = options.single_k(args, "the one style mask")
    if args.style_mask is None and (args.k or args.colors or args.min_area):
        raise InputError("--k, --colors and --min-area only work with --style-mask")
    gatys.style_targets_file(
        args.style,
        args.out,
        gatys_config(args),
        weights=args.weights,
        style_mask=args.style_mask,
        k=k,
        palette=options.palette(args),
        min_area=args.min_area,
        max_pixels=args.max_pixels,
    )
    return 0


def _mix_scales(args: argparse.Namespace) -> int:
    from pipeline import gatys  # loads torch: per verb

    with reporting(quiet=args.verbosity < 0, what="mix-scales") as progress:
        gatys.mix_scales_files(
            args.coarse,
            args.fine,
            args.out,
            gatys_config(args),
            fine_layers=args.fine_layers,
            weights=args.weights,
            max_pixels=args.max_pixels,
            progress=progress,
        )
    return 0
