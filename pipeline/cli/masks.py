"""Verbs of masks: ``clean-mask``."""

from __future__ import annotations

import argparse
from typing import Any

from pipeline.cli import options
from pipeline.cli.options import Help, add, add_labels, add_verbosity


def register(verbs: Any, *, full: bool) -> None:
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


def _clean_mask(args: argparse.Namespace) -> int:
    from pipeline.masks import clean_mask_file

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
