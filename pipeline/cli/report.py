"""Verbs that show results: ``figures``, ``contact-sheet``, and ``sample`` (the demo's images)."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from pipeline import samples
from pipeline.cli.options import Help, add, add_verbosity
from pipeline.gallery import sheets

log = logging.getLogger("pipeline")


def register(verbs: Any, *, full: bool) -> None:
    f = verbs.add_parser(
        "figures",
        help="a result's side-by-side panel (PNG) and loss curve (SVG, and PNG if asked)",
        description="Reads RESULT and its RESULT.json; writes the panel and curve beside it unless told where.",
        formatter_class=Help,
    )
    add_verbosity(f)
    f.add_argument("result", metavar="RESULT", help="a transfer's output image")
    f.add_argument("--content", required=True, metavar="PATH", help="its content image")
    f.add_argument("--style", required=True, metavar="PATH", help="its style image")
    add(f, "content_mask", help="its content mask (cleaned)")
    add(f, "style_mask", help="its style mask (cleaned)")
    f.add_argument("--panel", metavar="PATH", help="panel to write (default: RESULT with .panel.png)")
    f.add_argument("--loss-curve", metavar="PATH", help="loss curve to write (default: RESULT with .loss.svg)")
    f.add_argument("--loss-curve-png", metavar="PATH", help="the loss curve as PNG too, for viewers without SVG")
    f.set_defaults(handler=_figures)

    c = verbs.add_parser("contact-sheet", help="an HTML page of results, grouped by style", formatter_class=Help)
    add_verbosity(c)
    c.add_argument("out", metavar="OUT", help="HTML file to write")
    c.add_argument(
        "results", nargs="+", metavar="RESULT", help="transfer and fast-style outputs (with their .json sidecars)"
    )
    c.set_defaults(handler=_contact_sheet)

    s = verbs.add_parser(
        "sample",
        help="write one of scikit-image's bundled sample images, or a demo clip made from them (no network)",
        formatter_class=Help,
    )
    add_verbosity(s)
    s.add_argument("name", choices=[*sorted(samples.SAMPLES), *samples.CLIPS], help="sample or demo clip name")
    s.add_argument("out", metavar="OUT", help="output image (.png or .jpg), or clip (.mp4)")
    s.set_defaults(handler=_sample)


def _figures(args: argparse.Namespace) -> int:
    sheets.write_figures(
        args.result,
        args.content,
        args.style,
        content_mask=args.content_mask,
        style_mask=args.style_mask,
        panel_out=args.panel,
        curve_out=args.loss_curve,
        curve_png_out=args.loss_curve_png,
    )
    return 0


def _contact_sheet(args: argparse.Namespace) -> int:
    out = sheets.write_contact_sheet(args.results, args.out)
    log.info("wrote %s (%d results)", out, len(args.results))
    return 0


def _sample(args: argparse.Namespace) -> int:
    if args.name in samples.CLIPS:
        from pipeline.synthetic.clips import write_demo_clip  # cv2, PyAV: per verb

        write_demo_clip(args.name, args.out)
    else:
        samples.write_sample(args.name, args.out)
    log.info("wrote %s", args.out)
    return 0
