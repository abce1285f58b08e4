"""Verbs of masks: ``clean-mask``, ``propose-mask``, ``match-regions``."""

from __future__ import annotations

import argparse
from typing import Any

from pipeline.cli import options
from pipeline.cli.options import Help, add, add_labels, add_verbosity
from pipeline.errors import InputError


def register(verbs: Any, *, full: bool) -> None:
    _clean_mask_verb(verbs)
    _propose_mask_verb(verbs)
    _match_regions_verb(verbs)


def _clean_mask_verb(verbs: Any) -> None:
    m = verbs.add_parser(
        "clean-mask",
        help="clean a hand-painted mask into an exact label map (palette PNG)",
        description="K-means on the painted colours, then spatial clean-up: border blends go to a "
        "neighbouring region, specks smaller than --min-area are filled from their surroundings.",
        formatter_class=Help,
    )
    add_verbosity(m)
    m.add_argument("source", metavar="IN", help="painted mask (PNG or JPEG; RGB, RGBA or palette)")
    m.add_argument("out", metavar="OUT", help="label map to write (.png)")
    add_labels(m.add_argument_group("labels"))
    add(m, "seed", help="K-means seed", default=0)
    add(m, "max_pixels", help="refuse larger masks")
    m.set_defaults(handler=_clean_mask)


def _propose_mask_verb(verbs: Any) -> None:
    p = verbs.add_parser(
        "propose-mask",
        help="propose a mask for a photo that has none (palette PNG, to use or correct in GIMP)",
        description="Regions from the image alone: SLIC superpixels merged by colour, grouped into K "
        "regions by colour statistics, refined pixel by pixel. Regions are numbered from the top of "
        "the image down (--colors gives them colours in that order). With --weights, a torchvision "
        "segmentation model's classes are the regions instead.",
        formatter_class=Help,
    )
    add_verbosity(p)
    p.add_argument("source", metavar="IMAGE", help="the photo (or painting)")
    p.add_argument("out", metavar="OUT", help="label map to write (.png)")
    add_labels(p.add_argument_group("labels (neither: k from 2-6 by silhouette)"))
    # No default here: given with --semantic, it must be told from not given (see _semantic).
    add(p, "seed", help="K-means seed (default 0)", default=None)
    p.add_argument(
        "--weights",
        metavar="PATH",
        help="state dict of torchvision's DeepLabV3 or LR-ASPP: its classes become the regions",
    )
    s = p.add_argument_group(
        "semantic masks", "regions that know sky from sea: an ADE20K scene parser, its classes folded into named groups"
    )
    s.add_argument(
        "--semantic",
        nargs="?",
        const="upernet-convnext-tiny",
        metavar="MODEL",
        help="upernet-convnext-tiny (the default, MIT licence), upernet-convnext-small, segformer-b0, segformer-b2 "
        "(NVIDIA licence: research and evaluation only), a folder holding a saved model, or a torchvision "
        "DeepLabV3 state dict (.pth); fetched into $HF_HOME on first use (needs the .[semantic] extra)",
    )
    s.add_argument("--groups", metavar="FILE", help="the group table (default: pipeline/masks/groups.yaml)")
    s.add_argument(
        "--min-share",
        type=float,
        metavar="S",
        help="pieces under this share of the picture fold into their neighbour (default 0.02: 2 %%; 0 to 0.5); "
        "a group in small pieces only keeps its largest",
    )
    s.add_argument(
        "--colours-if-unseen",
        action="store_true",
        help="when the parser sees one group over 95%% of the picture, propose from colours instead",
    )
    add(p, "max_pixels", help="refuse larger images")
    p.set_defaults(handler=_propose_mask)


def _match_regions_verb(verbs: Any) -> None:
    r = verbs.add_parser(
        "match-regions",
        help="pair the regions of a content mask and a style mask whose colours differ; print --label-map",
        description="Pairs regions one to one by position, size and (with --content/--style images) "
        "colour statistics, at the least total cost (Hungarian assignment), and prints the "
        "--label-map transfer would use.",
        formatter_class=Help,
    )
    add_verbosity(r)
    r.add_argument("content_mask", metavar="CONTENT_MASK")
    r.add_argument("style_mask", metavar="STYLE_MASK")
    r.add_argument("--content", metavar="IMAGE", help="the content photo (adds colour statistics)")
    r.add_argument("--style", metavar="IMAGE", help="the style image (adds colour statistics)")
    add_labels(r.add_argument_group("labels (painted masks; exact ones need none)"))
    add(r, "max_pixels", help="refuse larger masks and images")
    r.set_defaults(handler=_match_regions)


def _clean_mask(args: argparse.Namespace) -> int:
    from pipeline.masks import clean_mask_file  # loads cv2: per verb

    clean_mask_file(
        args.source,
        args.out,
        k=options.single_k(args, "the mask"),
        palette=options.palette(args),
        min_area=args.min_area,
        seed=args.seed,
        max_pixels=args.max_pixels,
    )
    return 0


def _propose_mask(args: argparse.Namespace) -> int:
    from pipeline.masks.propose import propose_mask_file  # loads cv2: per verb

    if args.semantic is not None:
        return _semantic(args)
    semantic_only = [f for f, v in (("--groups", args.groups), ("--colours-if-unseen", args.colours_if_unseen),
                                    ("--min-share", args.min_share is not None)) if v]  # fmt: skip
    if semantic_only:
        raise InputError(f"{', '.join(semantic_only)} only work{'s' * (len(semantic_only) == 1)} with --semantic")

    propose_mask_file(
        args.source,
        args.out,
        k=options.single_k(args, "the proposal"),
        palette=options.palette(args),
        min_area=args.min_area,
        seed=args.seed or 0,
        weights=args.weights,
        max_pixels=args.max_pixels,
    )
    return 0


def _semantic(args: argparse.Namespace) -> int:
    """``propose-mask --semantic``: the colour proposal's flags are refused, not ignored; its seed
    means something only for the colour fallback (``--colours-if-unseen``)."""
    from pipeline.masks.semantic import MIN_SHARE, check_min_share, semantic_mask_file  # loads cv2: per verb

    given = [f for f, v in (("--k", args.k), ("--colors", args.colors), ("--weights", args.weights)) if v]
    if given:
        raise InputError(f"{', '.join(given)} and --semantic: a semantic mask's regions are its groups")
    if args.min_area is not None:
        raise InputError("--min-area and --semantic: a semantic mask folds small pieces by --min-share (default 0.02)")
    if args.seed is not None and not args.colours_if_unseen:
        raise InputError("--seed and --semantic: the seed is the colour proposal's, used only with --colours-if-unseen")
    min_share = MIN_SHARE if args.min_share is None else check_min_share(args.min_share, name="--min-share")
    semantic_mask_file(
        args.source, args.out, model=args.semantic, groups=args.groups, colours_if_unseen=args.colours_if_unseen,
        max_pixels=args.max_pixels, min_share=min_share, seed=args.seed or 0,
    )  # fmt: skip
    return 0


def _match_regions(args: argparse.Namespace) -> int:
    from pipeline.masks.match import label_map_text, match_mask_files  # loads cv2: per verb

    ks = (None, None) if args.k is None else tuple(args.k) * (2 if len(args.k) == 1 else 1)
    if len(ks) != 2:
        raise InputError("--k takes one number, or two (content mask, style mask)")
    pairs = match_mask_files(
        args.content_mask,
        args.style_mask,
        content=args.content,
        style=args.style,
        ks=ks,
        palette=options.palette(args),
        min_area=args.min_area,
        max_pixels=args.max_pixels,
    )
    print(f"--label-map {label_map_text(pairs)}")
    return 0
