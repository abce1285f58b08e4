"""The ``stylesnake`` command (also ``python -m pipeline``): thin verbs over the package.

Every verb parses its flags, calls one ``pipeline`` function, and turns an :class:`InputError`
into one line on stderr and exit status 2. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, NoReturn

import pipeline
from pipeline import gallery, io, masks, samples
from pipeline.errors import InputError

if TYPE_CHECKING:
    from pipeline import gatys
    from pipeline.guidance import Guidance

#: Verbs that run VGG (see :func:`build_parser`).
_TORCH_VERBS = ("transfer", "style-targets", "mix-scales", "train", "stylize", "export")

log = logging.getLogger("pipeline")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (what, and where to look), not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except where there is none or the help text already explains it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, argparse.SUPPRESS) or action.nargs == 0 or "default" in text:
            return text
        return super()._get_help_string(action) or text


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _csv_floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in _csv(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got '{text}'") from None


def _csv_ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in _csv(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got '{text}'") from None


def _scales(text: str) -> str | tuple[int, ...]:
    return "auto" if text.strip() == "auto" else _csv_ints(text)


def _pairs(text: str) -> dict[str, str]:
    pairs = {}
    for item in _csv(text):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise argparse.ArgumentTypeError(f"expected NAME=VALUE pairs separated by commas, got '{item}'")
        pairs[key.strip()] = value.strip()
    return pairs


def _add_verbosity(parser: argparse.ArgumentParser) -> None:
    # Accepted before and after the verb; SUPPRESS keeps a verb's parser from resetting the
    # value the top-level parser already set.
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-q",
        "--quiet",
        action="store_const",
        const=-1,
        dest="verbosity",
        default=argparse.SUPPRESS,
        help="only warnings and errors",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_const",
        const=1,
        dest="verbosity",
        default=argparse.SUPPRESS,
        help="debug output",
    )


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The whole command line. Given ``verb`` (not one of the VGG verbs), the VGG verbs get no
    flags: their defaults come from modules that import torch, which takes seconds."""
    parser = _Parser(
        prog="stylesnake",
        description="Semantic-segmentation-guided neural style transfer.",
        formatter_class=_Help,
    )
    parser.add_argument("--version", action="version", version=f"stylesnake {pipeline.__version__}")
    _add_verbosity(parser)
    parser.set_defaults(verbosity=0)
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB", parser_class=_Parser)

    t = verbs.add_parser(
        "transfer",
        help="Gatys et al. 2015 style transfer of one content image",
        description="Optimise an image to have the content of --content and the style of --style. "
        "Writes OUT and OUT.json (parameters, weights, timings, losses).",
        formatter_class=_Help,
    )
    _add_verbosity(t)
    st = verbs.add_parser(
        "style-targets",
        help="compute a style image's Gram targets once, for many transfers",
        description="Run the style image (and its mask) through VGG-19 and save its Gram matrix and the "
        "guided Gram of every mask label at each style layer. Pass OUT to `transfer --style`: every "
        "content image reuses it. Writes OUT (.pt) and OUT.json.",
        formatter_class=_Help,
    )
    _add_verbosity(st)
    mx = verbs.add_parser(
        "mix-scales",
        help="a new style image: coarse structure of one painting, fine texture of another",
        description="Scale mixing (Gatys et al. 2016): starting from --coarse, match --fine's Gram matrices at "
        "the fine layers and --coarse's own at the others. Use OUT as a style image. Writes OUT and OUT.json.",
        formatter_class=_Help,
    )
    _add_verbosity(mx)
    tr = verbs.add_parser(
        "train",
        help="train a fast-style network for one style (Johnson et al. 2016)",
        description="Train on a folder of images (COCO train2014 for real use) to paint like --style. Writes "
        "OUT, OUT.json and a loss curve; checkpoints to OUT.ckpt (continue a killed run with --resume).",
        formatter_class=_Help,
    )
    _add_verbosity(tr)
    sz = verbs.add_parser(
        "stylize",
        help="stylise photos with a trained fast-style model, in one forward pass each",
        formatter_class=_Help,
    )
    _add_verbosity(sz)
    ex = verbs.add_parser(
        "export",
        help="export a fast-style model to ONNX (dynamic height and width) for onnxruntime",
        formatter_class=_Help,
    )
    _add_verbosity(ex)
    if verb is None or verb in _TORCH_VERBS:
        _add_transfer_arguments(t)
        _add_style_targets_arguments(st)
        _add_mix_scales_arguments(mx)
        _add_train_arguments(tr)
        _add_stylize_arguments(sz)
        ex.add_argument("model", metavar="MODEL", help="model file from `stylesnake train`")
        ex.add_argument("--onnx", required=True, metavar="PATH", help="ONNX file to write")
        ex.add_argument(
            "--int8", action="store_true", help="quantise to int8 (static, calibrated on sample photos): faster on CPUs"
        )
        ex.set_defaults(handler=_export)

    m = verbs.add_parser(
        "clean-mask",
        help="clean a hand-painted mask into an exact label map (palette PNG)",
        description="K-means on the painted colours, then spatial clean-up: border blends go to a "
        "neighbouring region, specks smaller than --min-area are filled from their surroundings.",
        formatter_class=_Help,
    )
    _add_verbosity(m)
    m.add_argument("source", metavar="IN", help="painted mask (PNG or JPEG; RGB, RGBA or palette)")
    m.add_argument("out", metavar="OUT", help="label map to write (.png)")
    labels = m.add_mutually_exclusive_group()
    labels.add_argument("--k", type=int, help="number of labels painted (colours found by K-means)")
    labels.add_argument(
        "--colors",
        metavar="COLOURS",
        help="the project's label colours, '#rrggbb,...' or 'sky=#rrggbb,...'; painted shades snap to them",
    )
    m.add_argument("--min-area", type=int, default=None, help="smallest region kept, px (default: image/5000, >= 16)")
    m.add_argument("--seed", type=int, default=0, help="K-means seed")
    m.add_argument("--max-pixels", type=int, default=io.MAX_PIXELS, help="refuse larger masks")
    m.set_defaults(handler=_clean_mask)

    f = verbs.add_parser(
        "figures",
        help="a result's side-by-side panel (PNG) and loss curve (SVG)",
        description="Reads RESULT and its RESULT.json; writes the panel and curve beside it unless told where.",
        formatter_class=_Help,
    )
    _add_verbosity(f)
    f.add_argument("result", metavar="RESULT", help="a transfer's output image")
    f.add_argument("--content", required=True, metavar="PATH", help="its content image")
    f.add_argument("--style", required=True, metavar="PATH", help="its style image")
    f.add_argument("--content-mask", metavar="PATH", help="its content mask (cleaned)")
    f.add_argument("--style-mask", metavar="PATH", help="its style mask (cleaned)")
    f.add_argument("--panel", metavar="PATH", help="panel to write (default: RESULT with .panel.png)")
    f.add_argument("--loss-curve", metavar="PATH", help="loss curve to write (default: RESULT with .loss.svg)")
    f.set_defaults(handler=_figures)

    c = verbs.add_parser(
        "contact-sheet",
        help="an HTML page of results, grouped by style",
        formatter_class=_Help,
    )
    _add_verbosity(c)
    c.add_argument("out", metavar="OUT", help="HTML file to write")
    c.add_argument("results", nargs="+", metavar="RESULT", help="transfer outputs (with their .json sidecars)")
    c.set_defaults(handler=_contact_sheet)

    sv = verbs.add_parser(
        "serve",
        help="the web app: upload a photo, pick a trained style, download the result",
        description="Serve every fast-style model in --models on a web page (Werkzeug's threaded server; "
        "for production run gunicorn, see README). Binds 127.0.0.1 unless told otherwise.",
        formatter_class=_Help,
    )
    _add_verbosity(sv)
    _add_serve_arguments(sv)
    sv.set_defaults(handler=_serve)

    s = verbs.add_parser(
        "sample",
        help="write one of scikit-image's bundled sample images (demo data, no network)",
        formatter_class=_Help,
    )
    _add_verbosity(s)
    s.add_argument("name", choices=sorted(samples.SAMPLES), help="sample name")
    s.add_argument("out", metavar="OUT", help="output image (.png or .jpg)")
    s.set_defaults(handler=_sample)
    return parser


def _add_transfer_arguments(t: argparse.ArgumentParser) -> None:
    from pipeline import gatys

    defaults = gatys.GatysConfig()
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
    _add_style_arguments(t, defaults)
    t.add_argument("--steps", type=int, default=defaults.steps, help="loss evaluations")
    t.add_argument("--content-weight", type=float, default=defaults.content_weight, help="content loss weight")
    t.add_argument("--style-weight", type=float, default=defaults.style_weight, help="style loss weight")
    t.add_argument("--tv-weight", type=float, default=defaults.tv_weight, help="total-variation weight")
    t.add_argument("--content-layer", default=defaults.content_layer, help="VGG-19 layer of the content loss")
    t.add_argument(
        "--style-layer-weights",
        type=_csv_floats,
        default=None,
        help="comma-separated weight per style layer (default: 1 each)",
    )
    t.add_argument("--init", choices=gatys.INITS, default=defaults.init, help="starting image")
    t.add_argument("--optimizer", choices=gatys.OPTIMIZERS, default=defaults.optimizer, help="optimiser")
    t.add_argument(
        "--lr",
        type=float,
        default=None,
        help="lbfgs: first trial step of each line search (default 1, the full quasi-Newton step); "
        "adam: learning rate (default 0.02)",
    )
    t.add_argument("--lbfgs-history", type=int, default=defaults.lbfgs_history, help="L-BFGS curvature pairs kept")
    t.add_argument("--seed", type=int, default=defaults.seed, help="random seed (noise init)")
    t.add_argument(
        "--style-blend", type=_csv_floats, default=None, help="weight per style image, e.g. 0.7,0.3 (default: equal)"
    )
    from pipeline.color import COLOUR_MODES, MATCH_METHODS

    c = t.add_argument_group("colour and scale control (Gatys 2016)")
    c.add_argument(
        "--color",
        choices=COLOUR_MODES,
        default=defaults.color,
        help="keep the photo's colours: preserve = luminance-only transfer, match = recolour the style first",
    )
    c.add_argument("--color-match", choices=MATCH_METHODS, default=defaults.color_match, help="how --color match maps")
    c.add_argument(
        "--scales",
        type=_scales,
        default=None,
        metavar="S1,S2,...|auto",
        help="coarse-to-fine stage sizes ending at --size (each stage starts from the previous result), "
        "or auto: steps of √2 from --scale-base",
    )
    c.add_argument("--scale-base", type=int, default=256, help="first stage size for --scales auto")
    c.add_argument(
        "--stage-steps", type=int, default=None, help="evaluations per stage before the last (default: --steps)"
    )
    g = t.add_argument_group("spatial control (Gatys 2016): masks with one flat colour per region")
    g.add_argument("--content-mask", metavar="PATH", help="label mask of the content image")
    g.add_argument(
        "--style-mask",
        action="append",
        metavar="PATH",
        help="label mask of each style image, in order (targets carry their own)",
    )
    _add_guide_arguments(g, defaults, k_help="one number, or one per mask, content first")
    g.add_argument(
        "--label-map",
        type=_pairs,
        default=None,
        metavar="C=S,...",
        help="content label C takes style label S; S=plain takes the style's overall statistics",
    )
    g.add_argument("--region-weights", type=_pairs, default=None, metavar="L=W,...", help="weight per region")
    t.set_defaults(handler=_transfer)


def _add_style_targets_arguments(st: argparse.ArgumentParser) -> None:
    from pipeline import gatys

    defaults = gatys.GatysConfig()
    st.add_argument("--style", required=True, metavar="PATH", help="style image")
    st.add_argument("--out", required=True, metavar="PATH", help="targets file to write (.pt)")
    _add_style_arguments(st, defaults)
    g = st.add_argument_group("spatial control: the style image's mask")
    g.add_argument("--style-mask", metavar="PATH", help="label mask of the style image")
    _add_guide_arguments(g, defaults, k_help="one number")
    st.set_defaults(handler=_style_targets)


def _add_mix_scales_arguments(mx: argparse.ArgumentParser) -> None:
    from pipeline import gatys

    defaults = gatys.GatysConfig()
    mx.add_argument("--coarse", required=True, metavar="PATH", help="style image whose coarse structure is kept")
    mx.add_argument("--fine", required=True, metavar="PATH", help="style image whose fine texture is taken")
    mx.add_argument("--out", required=True, metavar="PATH", help="new style image (.png or .jpg)")
    mx.add_argument(
        "--fine-layers", type=_csv, default=",".join(gatys.FINE_LAYERS), help="layers whose Grams come from --fine"
    )
    _add_style_arguments(mx, defaults)
    mx.add_argument("--steps", type=int, default=defaults.steps, help="loss evaluations")
    mx.add_argument("--content-weight", type=float, default=defaults.content_weight, help="keeps --coarse's layout")
    mx.add_argument("--style-weight", type=float, default=defaults.style_weight, help="style loss weight")
    mx.add_argument("--seed", type=int, default=defaults.seed, help="random seed")
    mx.set_defaults(handler=_mix_scales)


def _add_train_arguments(tr: argparse.ArgumentParser) -> None:
    from pipeline.device import PRECISIONS
    from pipeline.fast.train import STYLE_LAYERS, TrainConfig
    from pipeline.guides import GUIDE_MODES

    d = TrainConfig()
    tr.add_argument("--style", required=True, metavar="PATH", help="style image")
    tr.add_argument(
        "--data",
        required=True,
        nargs="+",
        metavar="PATH",
        help="folder(s) of training images (searched recursively) or images",
    )
    tr.add_argument("--out", required=True, metavar="PATH", help="model file to write (e.g. starry.pth)")
    tr.add_argument("--steps", type=int, default=d.steps, help="training steps (batches)")
    tr.add_argument("--size", type=int, default=d.size, help="training crop size, px (multiple of 4)")
    tr.add_argument("--style-size", type=int, default=None, help="long side of the style image (default: --size)")
    tr.add_argument("--batch", type=int, default=d.batch, help="images per step")
    tr.add_argument("--width", type=float, default=d.width, help="channel multiplier (1 = 32/64/128; 0.25 for CPUs)")
    tr.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate")
    tr.add_argument("--content-weight", type=float, default=d.content_weight, help="content loss weight")
    tr.add_argument("--style-weight", type=float, default=d.style_weight, help="style loss weight")
    tr.add_argument("--tv-weight", type=float, default=d.tv_weight, help="total-variation weight")
    tr.add_argument("--loss-network", choices=sorted(STYLE_LAYERS), default=d.loss_network, help="VGG of the losses")
    tr.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every, help="steps between checkpoints")
    tr.add_argument("--weights", default="imagenet", help="loss network weights: imagenet, a path, or random[:SEED]")
    tr.add_argument("--seed", type=int, default=d.seed, help="seed of the initial weights and of every batch")
    tr.add_argument("--device", default=d.device, help="auto, cpu, cuda, cuda:N or mps")
    tr.add_argument("--precision", choices=PRECISIONS, default=d.precision, help="auto = bf16 autocast on CUDA")
    tr.add_argument("--workers", type=int, default=d.workers, help="threads preparing batches ahead")
    tr.add_argument("--resume", action="store_true", help="continue from OUT.ckpt, exactly as if never stopped")
    g = tr.add_argument_group(
        "guided training", "one model paints each labelled region of a photo with its own region of the style"
    )
    g.add_argument("--style-mask", metavar="PATH", help="the style image's mask: its labels are the model's")
    g.add_argument(
        "--masks", nargs="+", metavar="DIR", help="folder(s) with a mask per training image (same file name)"
    )
    g.add_argument("--guide-mode", choices=GUIDE_MODES, default=d.guide_mode, help="guide propagation to the losses")
    labels = g.add_mutually_exclusive_group()
    labels.add_argument("--k", type=int, help="labels in the hand-painted style mask (cleaned with K-means)")
    labels.add_argument("--colors", metavar="COLOURS", help="label colours, '#rrggbb,...' or 'sky=#rrggbb,...'")
    g.add_argument("--min-area", type=int, default=None, help="smallest mask region kept, px")
    tr.set_defaults(handler=_train)


def _add_stylize_arguments(sz: argparse.ArgumentParser) -> None:
    from pipeline.device import PRECISIONS

    sz.add_argument(
        "--model", required=True, metavar="PATH", help="model file from `stylesnake train`, or its .onnx export"
    )
    sz.add_argument("--content", required=True, action="append", metavar="PATH", help="photo; repeat for several")
    where = sz.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", metavar="PATH", help="output image (one --content)")
    where.add_argument("--out-dir", metavar="DIR", help="folder for the outputs (<content name>.png each)")
    sz.add_argument("--size", type=int, default=None, help="long side of the output, px (default: the photo's)")
    sz.add_argument(
        "--mask", action="append", metavar="PATH", help="the photo's mask, for a guided model; one per --content"
    )
    sz.add_argument("--preserve-color", action="store_true", help="keep the photo's colours")
    sz.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (.onnx models: the CPU)")
    sz.add_argument("--precision", choices=PRECISIONS, default="auto", help="auto = bf16 on CUDA")
    sz.add_argument(
        "--compile", action="store_true", help="torch.compile the network first (GPU batches: ~2.5x faster)"
    )
    sz.add_argument("--max-pixels", type=int, default=io.MAX_PIXELS, help="refuse larger input images")
    sz.set_defaults(handler=_stylize)


def _add_serve_arguments(sv: argparse.ArgumentParser) -> None:
    from pipeline.web import Settings

    d = Settings()
    sv.add_argument("--models", default="results/fast", metavar="DIR", help="folder of model files (*.pth)")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    sv.add_argument("--port", type=int, default=8000, help="port to listen on")
    sv.add_argument(
        "--results",
        default=None,
        metavar="DIR",
        help="folder for results (default: stylesnake-web-UID in the temp folder)",
    )
    sv.add_argument("--max-side", type=int, default=d.max_side, help="largest output long side, px")
    sv.add_argument("--max-upload-mb", type=float, default=d.max_upload_mb, help="largest request (photo + mask), MB")
    sv.add_argument("--max-pixels", type=int, default=d.max_pixels, help="refuse uploads that decode to more pixels")
    sv.add_argument("--slots", type=int, default=d.slots, help="stylisations at once (more wait their turn)")
    sv.add_argument("--ttl", type=float, default=d.ttl, help="seconds a result is kept")
    slow = sv.add_argument_group("the slow tab (a queued Gatys transfer into a painting; off without paintings)")
    slow.add_argument("--paintings", default="images/style", metavar="DIR", help="folder of style images")
    slow.add_argument(
        "--painting-masks", default="results/masks/style", metavar="DIR", help="their cleaned masks, same stems"
    )
    slow.add_argument("--weights", default="imagenet", help="VGG-19 weights: imagenet, random[:SEED] or a path")
    slow.add_argument("--slow-steps", type=int, default=d.slow_steps, help="loss evaluations per slow job")
    slow.add_argument("--slow-max-side", type=int, default=d.slow_max_side, help="largest slow output long side, px")


def _add_style_arguments(parser: argparse.ArgumentParser, defaults: gatys.GatysConfig) -> None:
    """What the style's Grams depend on, and where they are computed: shared by transfer and style-targets."""
    from pipeline.device import DEVICES, PRECISIONS
    from pipeline.features import POOLINGS

    parser.add_argument("--size", type=int, default=defaults.size, help="long side of the output, px")
    parser.add_argument(
        "--style-size", type=int, default=None, help="long side of the style image, px (default: --size)"
    )
    parser.add_argument(
        "--style-layers",
        type=_csv,
        default=",".join(defaults.style_layers),
        help="comma-separated VGG-19 layers of the style loss",
    )
    parser.add_argument("--pooling", choices=POOLINGS, default=defaults.pooling, help="VGG pooling (Gatys used avg)")
    parser.add_argument(
        "--weights",
        default="imagenet",
        help="VGG-19 weights: imagenet (torchvision, cached in $TORCH_HOME), a path to a state dict, "
        "or random[:SEED] for a plumbing run",
    )
    parser.add_argument("--device", default=defaults.device, help=f"one of {', '.join(DEVICES)} or cuda:N")
    parser.add_argument("--precision", choices=PRECISIONS, default=defaults.precision, help="auto = bf16 on CUDA")
    parser.add_argument("--max-pixels", type=int, default=io.MAX_PIXELS, help="refuse larger input images")


def _add_guide_arguments(group: argparse._ArgumentGroup, defaults: gatys.GatysConfig, *, k_help: str) -> None:
    from pipeline.guides import GUIDE_MODES

    group.add_argument("--guide-mode", choices=GUIDE_MODES, default=defaults.guide_mode, help="guide propagation")
    group.add_argument("--guide-grow", type=int, default=defaults.guide_grow, help="grow (>0) / shrink (<0) guides, px")
    labels = group.add_mutually_exclusive_group()
    labels.add_argument(
        "--k",
        type=_csv_ints,
        metavar="K[,K...]",
        help=f"labels per hand-painted mask (cleaned with K-means): {k_help}",
    )
    labels.add_argument("--colors", metavar="COLOURS", help="label colours, '#rrggbb,...' or 'sky=#rrggbb,...'")
    group.add_argument("--min-area", type=int, default=None, help="smallest mask region kept, px")


def _config(args: argparse.Namespace) -> gatys.GatysConfig:
    """The Gatys settings a verb was given; the ones it has no flag for keep their defaults."""
    from pipeline import gatys

    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(gatys.GatysConfig) if hasattr(args, f.name)}
    if given.get("scales") == "auto":
        given["scales"] = gatys.auto_scales(args.size, args.scale_base)
    elif given.get("scales") is None:
        given.pop("scales", None)
    return gatys.GatysConfig(**given)


def _palette(args: argparse.Namespace) -> masks.Palette | None:
    return masks.Palette.from_colours(args.colors) if args.colors is not None else None


def _style_targets(args: argparse.Namespace) -> int:
    from pipeline import gatys

    if args.k is not None and len(args.k) != 1:
        raise InputError("--k takes one number here: the labels of the one style mask")
    if args.style_mask is None and (args.k or args.colors or args.min_area):
        raise InputError("--k, --colors and --min-area only work with --style-mask")
    gatys.style_targets_file(
        args.style,
        args.out,
        _config(args),
        weights=args.weights,
        style_mask=args.style_mask,
        k=args.k[0] if args.k else None,
        palette=_palette(args),
        min_area=args.min_area,
        max_pixels=args.max_pixels,
    )
    return 0


def _train(args: argparse.Namespace) -> int:
    from pipeline.fast.train import TrainConfig, train

    if args.style_mask is None and (args.k or args.colors or args.min_area):
        raise InputError("--k, --colors and --min-area only work with --style-mask (guided training)")
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in vars(args).items() if k in names})
    progress, close = _progress(quiet=args.verbosity < 0, what="train")
    try:
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
            palette=_palette(args),
            k=args.k,
            min_area=args.min_area,
        )
    finally:
        close()
    return 0


def _stylize(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pipeline.fast.model import stylize_files

    if args.out is not None and len(args.content) > 1:
        raise InputError(f"{len(args.content)} photos but one --out; give --out-dir for several")
    outs = [args.out] if args.out else [str(Path(args.out_dir) / f"{Path(c).stem}.png") for c in args.content]
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
    )
    return 0


def _export(args: argparse.Namespace) -> int:
    from pipeline.fast.model import export_onnx

    log.info("wrote %s", export_onnx(args.model, args.onnx, int8=args.int8))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from werkzeug.serving import make_server

    from pipeline.web import create_app

    app = create_app(
        args.models,
        results=args.results,
        max_side=args.max_side,
        max_upload_mb=args.max_upload_mb,
        max_pixels=args.max_pixels,
        slots=args.slots,
        ttl=args.ttl,
        paintings=args.paintings,
        painting_masks=args.painting_masks,
        weights=args.weights,
        slow_steps=args.slow_steps,
        slow_max_side=args.slow_max_side,
    )
    if args.verbosity < 0:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # its access log is INFO
    try:
        server = make_server(args.host, args.port, app, threaded=True)
    except OSError as exc:
        where = f"{args.host}:{args.port}"
        raise InputError(f"cannot listen on {where} ({exc.strerror or exc}); try another --port") from None
    log.info("serving on http://%s:%d/ (Ctrl-C stops)", args.host, server.server_port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("stopped")
    finally:
        server.server_close()
    return 0


def _mix_scales(args: argparse.Namespace) -> int:
    from pipeline import gatys

    progress, close = _progress(quiet=args.verbosity < 0, what="mix-scales")
    try:
        gatys.mix_scales_files(
            args.coarse,
            args.fine,
            args.out,
            _config(args),
            fine_layers=args.fine_layers,
            weights=args.weights,
            max_pixels=args.max_pixels,
            progress=progress,
        )
    finally:
        close()
    return 0


def _transfer(args: argparse.Namespace) -> int:
    from pipeline import gatys

    config = _config(args)
    progress, close = _progress(quiet=args.verbosity < 0, what="transfer")
    try:
        gatys.transfer_files(
            args.content,
            args.style,
            args.out,
            config,
            weights=args.weights,
            max_pixels=args.max_pixels,
            progress=progress,
            style_blend=args.style_blend,
            guidance=_guidance(args),
        )
    finally:
        close()
    return 0


def _guidance(args: argparse.Namespace) -> Guidance | None:
    from pipeline.guidance import Guidance

    if args.content_mask is None:
        given = [
            flag
            for flag, value in (
                ("--style-mask", args.style_mask),
                ("--k", args.k),
                ("--colors", args.colors),
                ("--min-area", args.min_area),
                ("--label-map", args.label_map),
                ("--region-weights", args.region_weights),
            )
            if value
        ]
        if given:
            raise InputError(f"{', '.join(given)} only work(s) with --content-mask (spatial control)")
        return None
    weights = {}
    for name, value in (args.region_weights or {}).items():
        try:
            weights[name] = float(value)
        except ValueError:
            raise InputError(f"region weight for '{name}' is not a number: '{value}'") from None
    return Guidance(
        content_mask=args.content_mask,
        style_masks=tuple(args.style_mask or ()),
        k=None if args.k is None else args.k[0] if len(args.k) == 1 else args.k,
        palette=_palette(args),
        min_area=args.min_area,
        label_map=args.label_map,
        region_weights=weights,
    )


def _clean_mask(args: argparse.Namespace) -> int:
    masks.clean_mask_file(
        args.source,
        args.out,
        k=args.k,
        palette=_palette(args),
        min_area=args.min_area,
        seed=args.seed,
        max_pixels=args.max_pixels,
    )
    return 0


def _figures(args: argparse.Namespace) -> int:
    gallery.write_figures(
        args.result,
        args.content,
        args.style,
        content_mask=args.content_mask,
        style_mask=args.style_mask,
        panel_out=args.panel,
        curve_out=args.loss_curve,
    )
    return 0


def _contact_sheet(args: argparse.Namespace) -> int:
    out = gallery.write_contact_sheet(args.results, args.out)
    log.info("wrote %s (%d results)", out, len(args.results))
    return 0


def _sample(args: argparse.Namespace) -> int:
    samples.write_sample(args.name, args.out)
    return 0


def _progress(*, quiet: bool, what: str) -> tuple[gatys.Progress | None, Callable[[], None]]:
    """A tqdm bar on a terminal; on a pipe (Snakemake logs) a log line every tenth of the run."""
    if quiet:
        return None, lambda: None
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(desc=what, unit="eval", dynamic_ncols=True)

        def update_bar(step: int, steps: int, losses: Mapping[str, float] | None) -> None:
            bar.total = steps
            bar.update(step - bar.n)
            if losses is not None:
                bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()}, refresh=False)

        return update_bar, bar.close

    from pipeline.gatys import PROGRESS_EVERY as every

    def update_log(step: int, steps: int, losses: Mapping[str, float] | None) -> None:
        if losses is not None and (step == steps or step % max(steps // 10, 1) < every):
            shown = ", ".join(f"{k} {v:.4g}" for k, v in losses.items())
            log.info("%s %d/%d: %s", what, step, steps, shown)

    return update_log, lambda: None


def _configure_logging(verbosity: int) -> None:
    level = {-1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}[verbosity]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("stylesnake: %(message)s"))
    root = logging.getLogger("pipeline")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verb = next((a for a in argv if not a.startswith("-")), "")
    args = build_parser(verb).parse_args(argv)
    _configure_logging(args.verbosity)
    try:
        return int(args.handler(args))
    except InputError as exc:
        print(f"stylesnake: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stylesnake: interrupted; no output written", file=sys.stderr)
        return 130
