"""Every flag of the ``stylesnake`` command, declared once.

:data:`FLAGS` holds the flags several verbs share or that stand for a field of
:class:`~pipeline.gatys.GatysConfig` or :class:`~pipeline.fast.config.TrainConfig`; a verb adds them
by name with :func:`add`, and their defaults come from those config classes, the same defaults
the workflow's schema and ``config.yaml`` are tested against (tests/test_workflow.py). Flags only
one verb has are declared in that verb's module.

Choices and defaults that live in torch-importing modules are looked up when the flag is added,
not at import: ``stylesnake clean-mask --help`` should not pay for torch.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from pipeline import io
from pipeline.errors import InputError


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (what, and where to look), not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class Help(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except where there is none or the help text already explains it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, argparse.SUPPRESS) or action.nargs == 0 or "default" in text:
            return text
        return super()._get_help_string(action) or text


# --- value types --------------------------------------------------------------------------------


def csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def csv_floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in csv(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got '{text}'") from None


def csv_ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in csv(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got '{text}'") from None


def scales(text: str) -> str | tuple[int, ...]:
    return "auto" if text.strip() == "auto" else csv_ints(text)


def pairs(text: str) -> dict[str, str]:
    found = {}
    for item in csv(text):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise argparse.ArgumentTypeError(f"expected NAME=VALUE pairs separated by commas, got '{item}'")
        found[key.strip()] = value.strip()
    return found


# --- the table ----------------------------------------------------------------------------------


def _gatys_default(name: str) -> Callable[[], Any]:
    def default() -> Any:
        from pipeline.gatys import GatysConfig  # loads torch: per verb

        value = getattr(GatysConfig(), name)
        return ",".join(value) if name == "style_layers" else value

    return default


def _train_default(name: str) -> Callable[[], Any]:
    def default() -> Any:
        from pipeline.fast.config import TrainConfig  # loads torch: per verb

        return getattr(TrainConfig(), name)

    return default


def _choices(module: str, name: str) -> Callable[[], tuple[str, ...]]:
    def choices() -> tuple[str, ...]:
        value = _constant(module, name)()
        return tuple(sorted(value)) if isinstance(value, Mapping) else tuple(value)

    return choices


def _constant(module: str, name: str) -> Callable[[], Any]:
    def constant() -> Any:
        import importlib

        return getattr(importlib.import_module(module), name)

    return constant


@dataclass(frozen=True)
class Flag:
    """One flag: argparse's keywords, with ``default`` and ``choices`` possibly computed late;
    ``note`` adds to the help what the flag means when left out, where that is not its default."""

    help: str
    type: Callable[[str], Any] | None = None
    default: Any = None
    choices: Callable[[], tuple[str, ...]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # action, nargs, metavar, required
    note: Callable[[], str] | None = None

    def keywords(self, **overrides: Any) -> dict[str, Any]:
        kw: dict[str, Any] = {"help": self.help + (self.note() if self.note else ""), **self.extra}
        if self.type is not None:
            kw["type"] = self.type
        if "default" not in overrides:  # computing it may import torch
            kw["default"] = self.default() if callable(self.default) else self.default
        if self.choices is not None and "choices" not in overrides:
            kw["choices"] = self.choices()
        kw.update(overrides)
        return kw


_G, _T = _gatys_default, _train_default
#: The shared flags, by the name of the argument each fills (declared once, added by :func:`add`).
FLAGS: dict[str, Flag] = {
    # What the style's Grams depend on, and where they are computed (transfer, style-targets, mix-scales).
    "size": Flag("long side of the output, px", int, _G("size")),
    "style_size": Flag("long side of the style image, px (default: --size)", int),
    "style_layers": Flag("comma-separated VGG-19 layers of the style loss", csv, _G("style_layers")),
    "pooling": Flag(
        "VGG pooling (Gatys used avg)", None, _G("pooling"), _choices("pipeline.core.features", "POOLINGS")
    ),
    "weights": Flag(
        "VGG weights: imagenet (torchvision, cached in $TORCH_HOME), a path to a state dict, "
        "or random[:SEED] for a plumbing run",
        None,
        "imagenet",
    ),
    "device": Flag("auto, cpu, cuda, cuda:N or mps", None, "auto"),
    "precision": Flag("auto = bf16 on CUDA", None, "auto", _choices("pipeline.device", "PRECISIONS")),
    "max_pixels": Flag("refuse larger input images", int, io.MAX_PIXELS),
    # Clips (video, video-masks, video-join).
    "flow": Flag(
        "optical flow method (OpenCV)",
        None,
        None,
        _choices("pipeline.video.flow", "FLOW_METHODS"),
        note=lambda: (
            f" (default {_constant('pipeline.video.flow', 'DEFAULT_FLOW')()} for an optimised clip, "
            f"{_constant('pipeline.video.flow', 'QUICK_FLOW')()} for fast or instant video and for masks)"
        ),
    ),
    "frames": Flag("only frames A to B-1 (numbered from 0)", extra={"metavar": "A:B"}),
    "fps": Flag(
        "frame rate of a folder of frames",
        float,
        note=lambda: f" (default {_constant('pipeline.video.clip', 'FOLDER_FPS')():g}; a clip keeps its own)",
    ),
    # Masks of the style images (transfer and video: one per style image, in order).
    "style_mask": Flag("label mask of the style image", extra={"metavar": "PATH"}),
    "content_mask": Flag("label mask of the content image", extra={"metavar": "PATH"}),
    "alpha": Flag(
        "a transparent photo: keep its alpha in the result (PNG), or drop it (flattened on white)",
        None,
        "keep",
        lambda: ("keep", "drop"),
    ),
    # The Gatys optimisation.
    "steps": Flag("loss evaluations", int, _G("steps")),
    "content_weight": Flag("content loss weight", float, _G("content_weight")),
    "style_weight": Flag("style loss weight", float, _G("style_weight")),
    "tv_weight": Flag("total-variation weight", float, _G("tv_weight")),
    "content_layer": Flag("VGG-19 layer of the content loss", None, _G("content_layer")),
    "style_layer_weights": Flag("comma-separated weight per style layer (default: 1 each)", csv_floats),
    "init": Flag(
        "starting image: content, noise, style, or image:PATH (any size; resized to the output)", None, _G("init")
    ),
    "optimizer": Flag("optimiser", None, _G("optimizer"), _choices("pipeline.core.optim", "OPTIMIZERS")),
    "lr": Flag(
        "lbfgs: first trial step of each line search (default 1, the full quasi-Newton step); "
        "adam: learning rate (default 0.02)",
        float,
    ),
    "lbfgs_history": Flag("L-BFGS curvature pairs kept", int, _G("lbfgs_history")),
    "seed": Flag("random seed (noise init)", int, _G("seed")),
    "style_blend": Flag("weight per style image, e.g. 0.7,0.3 (default: equal)", csv_floats),
    # Colour and scale control.
    "color": Flag(
        "keep the photo's colours: preserve = luminance-only transfer, match = recolour the style first",
        None,
        _G("color"),
        _choices("pipeline.core.color", "COLOUR_MODES"),
    ),
    "color_match": Flag(
        "how --color match maps", None, _G("color_match"), _choices("pipeline.core.color", "MATCH_METHODS")
    ),
    "scales": Flag(
        "coarse-to-fine stage sizes ending at --size (each stage starts from the previous result), "
        "or auto: steps of √2 from --scale-base",
        scales,
        extra={"metavar": "S1,S2,...|auto"},
    ),
    "scale_base": Flag("first stage size for --scales auto", int, 256),
    "stage_steps": Flag("evaluations per stage before the last (default: --steps)", int),
    "tile": Flag(
        "beyond memory: when the output's long side exceeds T px, compute the loss in windows of at most "
        "TxT px (the memory of a T px run; the style statistics stay the whole image's, so no seams)",
        int,
        extra={"metavar": "T"},
    ),
    # Spatial control and masks.
    "guide_mode": Flag("guide propagation", None, _G("guide_mode"), _choices("pipeline.core.channels", "GUIDE_MODES")),
    "guide_grow": Flag("grow (>0) / shrink (<0) guides, px", int, _G("guide_grow")),
    "k": Flag(
        "labels per hand-painted mask (cleaned with K-means); transfer takes one number, or one per mask, "
        "content first",
        csv_ints,
        extra={"metavar": "K[,K...]"},
    ),
    "colors": Flag(
        "the project's label colours, '#rrggbb,...' or 'sky=#rrggbb,...'; painted shades snap to them",
        extra={"metavar": "COLOURS"},
    ),
    "min_area": Flag("smallest mask region kept, px (default: 1/1500 of the mask, >= 120)", int),
    "label_map": Flag(
        "content label C takes style label S; S=plain takes the style's overall statistics",
        pairs,
        extra={"metavar": "C=S,..."},
    ),
    "region_weights": Flag("weight per region", pairs, extra={"metavar": "L=W,..."}),
    # Fast-style training.
    "train_steps": Flag("training steps (batches)", int, _T("steps")),
    "train_size": Flag("training crop size, px (multiple of 4)", int, _T("size")),
    "batch": Flag("images per step", int, _T("batch")),
    "width": Flag("channel multiplier (1 = 32/64/128; 0.25 for CPUs)", float, _T("width")),
    "train_lr": Flag("Adam learning rate", float, _T("lr")),
    "train_content_weight": Flag("content loss weight", float, _T("content_weight")),
    "train_style_weight": Flag("style loss weight", float, _T("style_weight")),
    "train_tv_weight": Flag("total-variation weight", float, _T("tv_weight")),
    "train_temporal_weight": Flag(
        "stability under motion: weight of the temporal term, relative to the perceptual loss (0: off)",
        float,
        _T("temporal_weight"),
    ),
    "loss_network": Flag(
        "VGG of the losses", None, _T("loss_network"), _choices("pipeline.fast.train", "STYLE_LAYERS")
    ),
    "checkpoint_every": Flag("steps between checkpoints", int, _T("checkpoint_every")),
    "train_seed": Flag("seed of the initial weights and of every batch", int, _T("seed")),
    "workers": Flag("threads preparing batches ahead", int, _T("workers")),
}
#: Flags whose name on the command line is not their key (the fast-style ones share Gatys' flag names).
_SPELLING = {key: key.removeprefix("train_") for key in FLAGS if key.startswith("train_")}


#: Options the workflow's jobs take from the config (``--config weights=...``), not as flags.
WORKFLOW_KEYS = ("weights",)


def flag(name: str, value: str | None = None) -> str:
    """The command line's spelling of an option a library error names (``label_map``, with the
    value it suggests): the flag, or in a workflow's job (its Snakefile sets
    ``STYLESNAKE_WORKFLOW``) the config key for the options the workflow sets from its config."""
    if name in WORKFLOW_KEYS and os.environ.get("STYLESNAKE_WORKFLOW"):
        return f"--config {name}={value if value is not None else '...'}"
    return f"--{name.replace('_', '-')}" + ("" if value is None else f" {value}")


def add(parser: argparse.ArgumentParser | argparse._ArgumentGroup, *names: str, **overrides: Any) -> None:
    """Add the flags ``names`` (keys of :data:`FLAGS`) to ``parser``; ``overrides`` replace
    argparse keywords of the one flag given (e.g. ``help=``)."""
    if overrides and len(names) != 1:
        raise ValueError("overrides need exactly one flag")
    for name in names:
        spelt = _SPELLING.get(name, name)
        parser.add_argument(f"--{spelt.replace('_', '-')}", dest=spelt, **FLAGS[name].keywords(**overrides))


def add_labels(group: argparse._ArgumentGroup) -> None:
    """--k or --colors (one of them), and --min-area: how a hand-painted mask is read."""
    labels = group.add_mutually_exclusive_group()
    add(labels, "k", "colors")
    add(group, "min_area")


def add_verbosity(parser: argparse.ArgumentParser) -> None:
    # Accepted before and after the verb; SUPPRESS keeps a verb's parser from resetting the
    # value the top-level parser already set.
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-q", "--quiet", action="store_const", const=-1, dest="verbosity", default=argparse.SUPPRESS,
        help="only warnings and errors",
    )  # fmt: skip
    group.add_argument(
        "-v", "--verbose", action="store_const", const=1, dest="verbosity", default=argparse.SUPPRESS,
        help="debug output",
    )  # fmt: skip


def config_from(args: argparse.Namespace, cls: type) -> Any:
    """The ``cls`` (a config dataclass) a verb was given: its fields that the verb has flags for,
    the others at their defaults."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{name: value for name, value in vars(args).items() if name in names})


def single_k(args: argparse.Namespace, what: str) -> int | None:
    """``--k`` where one number is allowed (one mask)."""
    if args.k is None:
        return None
    if len(args.k) != 1:
        raise InputError(f"--k takes one number here: the labels of {what}")
    return int(args.k[0])


def palette(args: argparse.Namespace) -> Any:
    from pipeline.masks import Palette  # loads cv2: per verb

    return Palette.from_colours(args.colors) if args.colors is not None else None


def guidance(args: argparse.Namespace) -> Any:
    """Spatial control as the mask flags ask for it (``--content-mask``, ``--style-mask``, how the
    masks read, ``--label-map`` and, where the verb has it, ``--region-weights``); None without a
    content mask."""
    from pipeline.masks.pairs import Guidance  # loads cv2: per verb

    return Guidance.from_options(
        args.content_mask,
        args.style_mask,
        k=args.k,
        palette=palette(args),
        min_area=args.min_area,
        label_map=args.label_map,
        region_weights=getattr(args, "region_weights", None),
    )
