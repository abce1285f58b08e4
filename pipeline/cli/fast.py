"""Verbs of fast style (Johnson et al. 2016): ``train``, ``stylize``, ``export``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pipeline.cli import options
from pipeline.cli.options import Help, add, add_labels, add_verbosity
from pipeline.cli.progress import reporting
from pipeline.errors import InputError


def register(verbs: Any, *, full: bool) -> None:
    """Add the verbs; without ``full``, ``train`` and ``export`` get no flags (their defaults come
    from torch modules). ``stylize``'s load none: with ``--style`` it runs without torch."""
    tr = verbs.add_parser(
        "train",
        help="train a fast-style network for one style (Johnson et al. 2016)",
        description="Train on a folder of images (COCO train2014 for real use) to paint like --style. Writes "
        "OUT, OUT.json and a loss curve; checkpoints to OUT.ckpt (continue a killed run with --resume).",
        formatter_class=Help,
    )
    sz = verbs.add_parser(
        "stylize",
        help="stylise photos in one forward pass each: with a trained model (--model), or any painting (--style)",
        description="With --model, a network from `stylesnake train` (Johnson et al. 2016). With --style, any "
        "painting through Magenta's pretrained arbitrary-style networks (Ghiasi et al. 2017; the instant extra), "
        "region by region with --content-mask and --style-mask.",
        formatter_class=Help,
    )
    ex = verbs.add_parser(
        "export",
        help="export a fast-style model to ONNX (dynamic height and width) for onnxruntime",
        formatter_class=Help,
    )
    for parser in (tr, sz, ex):
        add_verbosity(parser)
    _stylize_flags(sz)
    if not full:
        return
    _train_flags(tr)
    ex.add_argument("model", metavar="MODEL", help="model file from `stylesnake train`")
    ex.add_argument("--onnx", required=True, metavar="PATH", help="ONNX file to write")
    ex.add_argument(
        "--int8", action="store_true", help="quantise to int8 (static, calibrated on sample photos): faster on CPUs"
    )
    ex.set_defaults(handler=_export)


def _train_flags(tr: argparse.ArgumentParser) -> None:
    tr.add_argument("--style", required=True, metavar="PATH", help="style image")
    tr.add_argument(
        "--data",
        required=True,
        nargs="+",
        metavar="PATH",
        help="folder(s) of training images (searched recursively) or images",
    )
    tr.add_argument("--out", required=True, metavar="PATH", help="model file to write (e.g. starry.pth)")
    add(tr, "train_steps", "train_size", "style_size", "batch", "width", "train_lr")
    add(tr, "train_content_weight", "train_style_weight", "train_tv_weight", "train_temporal_weight")
    add(tr, "loss_network", "checkpoint_every")
    add(tr, "weights", "train_seed", "device", "precision", "workers")
    tr.add_argument("--resume", action="store_true", help="continue from OUT.ckpt, exactly as if never stopped")
    g = tr.add_argument_group(
        "guided training", "one model paints each labelled region of a photo with its own region of the style"
    )
    add(g, "style_mask", help="the style image's mask: its labels are the model's")
    g.add_argument(
        "--masks", nargs="+", metavar="DIR", help="folder(s) with a mask per training image (same file name)"
    )
    add(g, "guide_mode")
    add_labels(g)
    tr.set_defaults(handler=_train)


def _stylize_flags(sz: argparse.ArgumentParser) -> None:
    which = sz.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", metavar="PATH", help="model file from `stylesnake train`, or its .onnx export")
    which.add_argument(
        "--style",
        action="extend",
        nargs="+",
        metavar="PAINTING",
        help="any painting(s), no training (instant style); several mix by --style-blend",
    )
    sz.add_argument(
        "--content",
        required=True,
        action="extend",
        nargs="+",
        metavar="PATH",
        help="photo(s): several after one flag (a shell glob such as *.jpg), or the flag repeated",
    )
    where = sz.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", metavar="PATH", help="output image (one --content)")
    where.add_argument("--out-dir", metavar="DIR", help="folder for the outputs (<content name>.png each)")
    sz.add_argument("--size", type=int, default=None, help="long side of the output, px (default: the photo's)")
    sz.add_argument(
        "--mask",
        action="extend",
        nargs="+",
        metavar="PATH",
        help="the photo's mask, for a guided model; one per --content, in the same order",
    )
    sz.add_argument("--preserve-color", action="store_true", help="keep the photo's colours")
    add(sz, "alpha")
    sz.add_argument(
        "--strength", type=float, default=1.0, help="style strength, 0 (the photo) to 1 (full style): blends the result"
    )
    add(
        sz,
        "device",
        help="auto, cpu, cuda, cuda:N or mps (.onnx models: the CPU; --style: onnxruntime on the CPU, the PyTorch "
        "port on a GPU)",
    )
    add(sz, "precision", "max_pixels")
    sz.add_argument(
        "--compile", action="store_true", help="torch.compile the network first (GPU batches: ~2.5x faster)"
    )
    g = sz.add_argument_group(
        "instant style (--style)", "any painting, mixed or region by region: masks with one flat colour per region"
    )
    add(g, "style_blend")
    add(g, "content_mask", help="label mask of the photo(s), for regions")
    add(g, "style_mask", action="append", help="label mask of each painting, in order")
    add_labels(g)
    add(g, "label_map")
    sz.set_defaults(handler=_stylize)


def _train(args: argparse.Namespace) -> int:
    from pipeline.fast.train import TrainConfig, train  # loads torch: per verb

    if args.style_mask is None and (args.k or args.colors or args.min_area):
        raise InputError("--k, --colors and --min-area only work with --style-mask (guided training)")
    k = options.single_k(args, "the one style mask")
    config = options.config_from(args, TrainConfig)
    with reporting(quiet=args.verbosity < 0, what="train") as progress:
        train(
            args.style,
            args.data,
            args.out,
            config,
            weights=args.weights,
            resume=args.resume,
            progress=progress,
            style_mask=args.style_mask,
            masks=args.masks,
            palette=options.palette(args),
            k=k,
            min_area=args.min_area,
        )
    return 0


def _stylize(args: argparse.Namespace) -> int:
    if args.out is not None and len(args.content) > 1:
        raise InputError(f"{len(args.content)} photos but one --out; give --out-dir for several")
    outs = [args.out] if args.out else [str(Path(args.out_dir) / f"{Path(c).stem}.png") for c in args.content]
    if args.style:
        return _instant(args, outs)
    instant_only = ("--style-blend", "--content-mask", "--style-mask", "--label-map", "--k", "--colors", "--min-area")
    given = [flag for flag in instant_only if getattr(args, flag[2:].replace("-", "_"))]
    if given:
        raise InputError(f"{', '.join(given)} only work(s) with --style (instant style); a --model takes --mask")
    from pipeline.fast.model import stylize_files  # loads torch: per verb

    stylize_files(
        args.model,
        args.content,
        outs,
        masks=args.mask,
        size=args.size,
        preserve_color=args.preserve_color,
        device=args.device,
        precision=args.precision,
        compile=args.compile,
        max_pixels=args.max_pixels,
        strength=args.strength,
        alpha=args.alpha,
    )
    return 0


def _instant(args: argparse.Namespace, outs: list[str]) -> int:
    if args.mask or args.compile:
        raise InputError(
            f"{'--mask' if args.mask else '--compile'} is for a trained --model; with --style give the photo's "
            "regions with --content-mask and --style-mask"
        )
    from pipeline.arbitrary.stills import instant_files  # loads onnxruntime: per verb

    instant_files(
        args.style,
        args.content,
        outs,
        blend=args.style_blend,
        guidance=options.guidance(args),
        size=args.size,
        strength=args.strength,
        preserve_color=args.preserve_color,
        max_pixels=args.max_pixels,
        alpha=args.alpha,
        device=args.device,
    )
    return 0


def _export(args: argparse.Namespace) -> int:
    import logging

    from pipeline.fast.export import export_onnx  # loads torch: per verb

    logging.getLogger("pipeline").info("wrote %s", export_onnx(args.model, args.onnx, int8=args.int8))
    return 0
