"""The ``stylesnake`` command (also ``python -m pipeline``): thin verbs over the package.

One module per verb family (:mod:`~pipeline.cli.gatys`, :mod:`~pipeline.cli.video`, :mod:`~pipeline.cli.fast`,
:mod:`~pipeline.cli.masks`, :mod:`~pipeline.cli.report`, :mod:`~pipeline.cli.serve`), each with a
``register(verbs, full=...)``; shared flags are declared once in :mod:`~pipeline.cli.options`.
Every verb parses its flags, calls one ``pipeline`` function, and turns an :class:`InputError`
into one line on stderr and exit status 2. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import pipeline
from pipeline.cli import fast, gatys, masks, report, serve, video
from pipeline.cli.options import Help, Parser, add_verbosity, flag
from pipeline.errors import InputError

#: The verb families, in the order ``--help`` lists them.
FAMILIES = (gatys, video, fast, masks, report, serve)
#: Verbs whose flags' defaults come from modules that import torch (seconds to load).
TORCH_VERBS = ("transfer", "style-targets", "mix-scales", "video", "video-masks", "train", "export")


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The whole command line. Given ``verb`` (not one of :data:`TORCH_VERBS`), those verbs get no
    flags, so a light verb does not import torch."""
    parser = Parser(
        prog="stylesnake", description="Semantic-segmentation-guided neural style transfer.", formatter_class=Help
    )
    parser.add_argument("--version", action="version", version=f"stylesnake {pipeline.__version__}")
    add_verbosity(parser)
    parser.set_defaults(verbosity=0)
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB", parser_class=Parser)
    full = verb is None or verb in TORCH_VERBS
    for family in FAMILIES:
        family.register(verbs, full=full)
    return parser


def verbs(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Each verb's parser, by name, in the order ``--help`` lists them (the docs' CLI reference and
    the test that documented flags exist read them here)."""
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


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
        print(f"stylesnake: error: {exc.worded(flag)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stylesnake: interrupted; no output written", file=sys.stderr)
        return 130
