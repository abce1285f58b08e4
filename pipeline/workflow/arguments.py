"""The command-line arguments of each workflow job, and the choices they rest on (which pairs run,
which guided), from a :class:`~pipeline.workflow.planning.Plan`: one-line answers the rules' parameter
functions (:class:`~pipeline.workflow.jobs.Jobs`) pass on, tested without Snakemake."""

from __future__ import annotations

import logging
import shlex
from collections.abc import Mapping
from typing import Any

from pipeline.workflow.paths import Paths
from pipeline.workflow.planning import GUIDE_KEYS, TARGET_KEYS, Plan
from pipeline.workflow.videos import VIDEO_FLAGS

log = logging.getLogger(__name__)

# --- stills ---------------------------------------------------------------------------------------


def cli_args(options: Mapping[str, Any]) -> str:
    """``{"style_weight": 1e6, "style_layers": [...]}`` → ``--style-weight 1000000.0 --style-layers a,b``;
    None and empty lists are left out, lists join with commas, mappings become ``k=v,...``."""
    parts: list[str] = []
    for key, value in options.items():
        if value is None or (isinstance(value, (Mapping, list, tuple)) and not value):
            continue
        if isinstance(value, Mapping):
            value = ",".join(f"{k}={v}" for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        parts += [f"--{key.replace('_', '-')}", shlex.quote(str(value))]
    return " ".join(parts)


def colours_arg(labels: Mapping[str, str]) -> str | None:
    return ",".join(f"{name}={colour}" for name, colour in labels.items()) or None


def clean_args(plan: Plan, kind: str | None = None, name: str | None = None) -> str:
    """Arguments of ``stylesnake clean-mask``: the project's labels, or K-means with ``k``; none
    for a proposed mask (exact already, in its own colours)."""
    if (kind, name) in plan.proposed:
        return ""
    if plan.labels:
        return cli_args({"colors": colours_arg(plan.labels), "min_area": plan.cleaning.get("min_area")})
    return cli_args({"k": plan.cleaning.get("k"), "min_area": plan.cleaning.get("min_area")})


def targets_args(plan: Plan, style: str) -> str:
    """Arguments of ``stylesnake style-targets`` for one style (mask and paths come from the rule)."""
    settings = plan.settings[style]
    options = {"weights": plan.weights, **{k: settings[k] for k in TARGET_KEYS if k in settings}}
    if plan.painted("style", style):
        options["colors"] = colours_arg(plan.labels)  # names the labels (None: named by colour)
    return cli_args(options)


def fast_data(plan: Plan) -> list[str]:
    """The training images (demo) or folder the fast-style rules train on."""
    data = plan.fast.get("data")
    return list(data) if isinstance(data, list) else [str(data)]


def fast_masks(plan: Plan) -> list[str]:
    """Masks of the training images for guided fast style: the folder ``fast.masks``, or (demo
    data) the cleaned masks of the demo content images that have one; empty: no guided training."""
    if not plan.fast.get("guided"):
        return []
    if plan.fast.get("masks"):
        return [str(plan.fast["masks"])]
    data = plan.fast.get("data")
    if not isinstance(data, list):
        return []
    return [
        Paths.mask.format(kind="content", name=name)
        for name, path in plan.images["content"].items()
        if path in data and plan.painted("content", name)
    ]


def fast_guided(plan: Plan, style: str) -> bool:
    """Whether a style's fast network is trained guided: ``fast.guided``, a painted mask for the
    style, and masks for the training images (proposed masks are not in the project's labels)."""
    return bool(plan.painted("style", style) and fast_masks(plan))


def fast_pairs(plan: Plan) -> list[tuple[str, str]]:
    """Content × style for fast style; a guided network takes only content images with a mask."""
    return [
        (content, style)
        for style in plan.images["style"]
        for content in plan.images["content"]
        if not fast_guided(plan, style) or plan.painted("content", content)
    ]


def fast_results(plan: Plan) -> list[str]:
    """Every fast-style result the run makes (none when fast style is off)."""
    if not plan.fast.get("enabled"):
        return []
    return [Paths.stylized.format(content=content, style=style) for content, style in fast_pairs(plan)]


def gatys_pairs(plan: Plan) -> list[tuple[str, str]]:
    """The pairs Gatys optimisation paints (``method`` both or gatys)."""
    return [(content, style) for content, style in plan.pairs if plan.method_of(content, style) != "instant"]


def instant_results(plan: Plan) -> list[str]:
    """Every instant-style result the run makes: one per pair of ``method`` both or instant (none
    when instant style is off)."""
    if not plan.instant.get("enabled"):
        return []
    return [
        Paths.instant.format(content=content, style=style)
        for content, style in plan.pairs
        if plan.method_of(content, style) != "gatys"
    ]


def instant_args(plan: Plan, content: str, style: str) -> str:
    """Arguments of ``stylesnake stylize --style`` for one pair (inputs and output come from the
    rule): the pair's size (``instant.size``, else its Gatys size), and, guided, how its masks read."""
    settings = plan.pair_settings(content, style)
    options: dict[str, Any] = {"size": plan.instant.get("size") or settings.get("size")}
    if (content, style) in plan.guided:
        options["label_map"] = settings.get("label_map")
        if not plan.proposes(content, style):
            options["colors"] = colours_arg(plan.labels)
    return cli_args(options)


def train_args(plan: Plan, style: str) -> str:
    """Arguments of ``stylesnake train`` (style, data, masks and output come from the rule)."""
    skip = ("enabled", "data", "guided", "masks")
    options = {"weights": plan.weights, **{k: v for k, v in plan.fast.items() if k not in skip}}
    if fast_guided(plan, style):
        masks = fast_masks(plan)
        options["masks"] = masks[0] if plan.fast.get("masks") else Paths.masks.format(kind="content")
        options["colors"] = colours_arg(plan.labels)
    return cli_args(options)


def transfer_args(plan: Plan, content: str, style: str) -> str:
    """Arguments of ``stylesnake transfer`` for one pair (inputs and output come from the rule)."""
    settings = dict(plan.pair_settings(content, style))
    guides = {k: settings.pop(k, None) for k in GUIDE_KEYS}
    options: dict[str, Any] = {"weights": plan.weights, **settings}
    if (content, style) in plan.guided:
        options.update(guides)
        if not plan.proposes(content, style):  # a proposal's regions are paired, not named
            options["colors"] = colours_arg(plan.labels)
    return cli_args(options)


# --- clips ----------------------------------------------------------------------------------------


#: ``gatys`` settings the video verb has no flag for: a frame runs as one stage.
NOT_FOR_VIDEO = ("scales", "scale_base", "stage_steps", "label_map", "region_weights")


def segment_names(plan: Plan, clip: str) -> list[str]:
    """The ``{segment}`` wildcards of a clip's jobs: 000, 001, …"""
    return [f"{i:03d}" for i in range(len(plan.clips.segments(clip)))]


def video_guided(plan: Plan, clip: str, style: str) -> bool:
    """A clip is painted region by region when it has keyframe masks and the style a painted mask."""
    return clip in plan.clips.keyframes and plan.painted("style", style)


def video_settings(plan: Plan, style: str) -> dict[str, Any]:
    """A style's Gatys settings as the frames of its clips take them (``video.size`` and
    ``video.steps`` over the style's own)."""
    settings = {k: v for k, v in plan.settings[style].items() if k not in NOT_FOR_VIDEO}
    for key in ("size", "steps"):
        if plan.clips.settings.get(key) is not None:
            settings[key] = plan.clips.settings[key]
    return settings


def video_uses_targets(plan: Plan, style: str) -> bool:
    """Whether a clip's frames can take the style's shared targets (see Plan.uses_targets)."""
    settings, shared = video_settings(plan, style), plan.settings[style]
    return settings.get("color", "none") == "none" and all(settings.get(k) == shared.get(k) for k in TARGET_KEYS)


def video_args(plan: Plan, clip: str, style: str, segment: str) -> str:
    """Arguments of ``stylesnake video`` for one segment (inputs and output come from the rule)."""
    start, stop = plan.clips.segments(clip)[int(segment)]
    guides = {k: plan.settings[style].get(k) for k in ("label_map", "region_weights")}
    options: dict[str, Any] = {"weights": plan.weights, "frames": f"{start}:{stop}", **video_settings(plan, style)}
    options.update({k: plan.clips.settings.get(k) for k in VIDEO_FLAGS})
    if video_guided(plan, clip, style):
        options.update(guides, colors=colours_arg(plan.labels))
    switches = " --long-term" if options.pop("long_term", False) else ""
    return cli_args(options) + switches


def video_masks_args(plan: Plan, clip: str) -> str:
    """Arguments of ``stylesnake video-masks`` for one clip: the frames' size, the flow, the labels."""
    sizes = {video_settings(plan, style)["size"] for c, style in plan.clips.pairs if c == clip}
    return cli_args({"size": max(sizes), "flow": plan.clips.settings.get("flow"), "colors": colours_arg(plan.labels)})


def optimised_pairs(plan: Plan) -> list[tuple[str, str]]:
    """Clip × style pairs whose every frame is optimised (``video.method`` optimise or both)."""
    return list(plan.clips.pairs) if plan.clips.settings.get("method", "optimise") != "fast" else []


def fast_video_pairs(plan: Plan) -> list[tuple[str, str]]:
    """Clip × style pairs stylised by the style's fast network (``video.method`` fast or both, with
    fast style on). A guided network needs the clip's keyframe masks in the project's labels: a clip
    without them is said and left out."""
    if plan.clips.settings.get("method", "optimise") == "optimise" or not plan.fast.get("enabled"):
        return []
    pairs = []
    for clip, style in plan.clips.pairs:
        if fast_guided(plan, style) and clip not in plan.clips.keyframes:
            log.info("video.method fast: clip '%s' has no keyframe masks for style '%s''s guided network", clip, style)
            continue
        pairs.append((clip, style))
    return pairs


def fast_video_args(plan: Plan, clip: str, style: str) -> str:
    """Arguments of ``stylesnake video --model`` for one pair (inputs and output come from the rule):
    the frames' size as the optimisation takes them, and the flow that carries masks."""
    return cli_args({"size": video_settings(plan, style)["size"], "flow": plan.clips.settings.get("flow")})
