"""What one workflow run works on: which images and masks exist, which content × style pairs run
(and which guided), and each style's and pair's settings.

The folders' conventions: :mod:`pipeline.workflow`.

Kept free of torch and scikit-learn on purpose: the Snakefile imports it on every run, and a
run with nothing to do should take a few seconds at most.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.arbitrary.networks import installed as instant_installed
from pipeline.errors import InputError
from pipeline.masks import FOREIGN_DISTANCE, Palette, read_mask
from pipeline.masks.parsers import saved_model_missing
from pipeline.workflow.paths import SEPARATOR, Paths, check_name
from pipeline.workflow.videos import Clips, clips

log = logging.getLogger(__name__)

KINDS = ("content", "style")
IMAGES, MASKS = "images", "masks"  # images/<kind>/<name>.<ext>, masks/<kind>/<name>.<ext>
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".heic", ".heif")  # HEIF needs the heif extra
#: File stems become wildcards and output names (``{content}__{style}``).

#: Keys of the config's ``gatys`` section that only the style targets depend on (besides weights).
TARGET_KEYS = ("size", "style_size", "style_layers", "pooling", "guide_mode", "guide_grow", "device", "precision")
#: Keys that are spatial-control options of a transfer, not fields of GatysConfig.
GUIDE_KEYS = ("label_map", "region_weights")
#: A painted label counts as present when it covers this share of the mask (cleaning removes less).
PRESENT_SHARE = 1 / 5000


@dataclass(frozen=True)
class Plan:
    """What one workflow run works on. Paths are relative to the working directory."""

    images: dict[str, dict[str, str]]  # kind → name → image path
    masks: dict[str, dict[str, str]]  # kind → name → painted mask path
    pairs: list[tuple[str, str]]  # (content, style), in a stable order
    guided: set[tuple[str, str]]
    settings: dict[str, dict[str, Any]]  # style → its gatys settings (global, preset, per style)
    per_pair: dict[tuple[str, str], dict[str, Any]]  # (content, style) → settings, where per_pair sets any
    weights: str
    labels: dict[str, str]  # name → #rrggbb
    cleaning: dict[str, Any]
    skipped: list[str] = field(default_factory=list)  # why pairs of ``pairs: all`` were left out
    #: (kind, name) of the images whose mask is proposed (``masks: propose`` or ``semantic``, none
    #: painted); their entry in ``masks`` is the proposal's path.
    proposed: set[tuple[str, str]] = field(default_factory=set)
    proposal_k: int | None = None
    fast: dict[str, Any] = field(default_factory=dict)  # fast-style settings; data resolved to paths
    clips: Clips = field(default_factory=Clips)  # clips, their keyframe masks, clip × style pairs
    semantic: dict[str, Any] = field(default_factory=dict)  # the scene parser and group table of masks: semantic
    instant: dict[str, Any] = field(default_factory=dict)  # instant style's settings; enabled resolved to a bool
    methods: dict[tuple[str, str], str] = field(default_factory=dict)  # a pair's own ``method``, where it says
    method: str = "both"  # the run's ``method``: both, gatys or instant

    def image(self, kind: str, name: str) -> str:
        return self.images[kind][name]

    def group_table(self) -> str:
        """The group table semantic masks are made with: ``semantic.groups``, or the package's own
        (the file ``propose-mask --semantic`` reads without ``--groups``)."""
        from importlib import resources

        return str(self.semantic.get("groups") or resources.files("pipeline.masks").joinpath("groups.yaml"))

    def mask(self, kind: str, name: str) -> str | None:
        """The image's mask to clean: painted, or proposed; None without one."""
        return self.masks[kind].get(name)

    def painted(self, kind: str, name: str) -> bool:
        return name in self.masks[kind] and (kind, name) not in self.proposed

    def proposes(self, content: str, style: str) -> bool:
        """Whether a pair's guidance comes from a proposed mask: its labels are then not the
        project's, and regions pair by position, size and colour."""
        return bool({("content", content), ("style", style)} & self.proposed)

    def method_of(self, content: str, style: str) -> str:
        """How a pair is painted: ``both`` (instant style first, then Gatys), ``gatys`` or ``instant``."""
        return self.methods.get((content, style), self.method)

    def pair_settings(self, content: str, style: str) -> dict[str, Any]:
        return self.per_pair.get((content, style), self.settings[style])

    def uses_targets(self, content: str, style: str) -> bool:
        """Whether a pair's transfer can start from the style's shared targets: not when colour
        control adapts the style to the content, nor for coarse-to-fine (Grams at every stage's
        size), nor when the pair changes a setting the targets depend on."""
        pair, shared = self.pair_settings(content, style), self.settings[style]
        return (
            pair.get("color", "none") == "none"
            and not pair.get("scales")
            and not self.proposes(content, style)  # pairing regions needs the style image
            and all(pair.get(k) == shared.get(k) for k in TARGET_KEYS)
        )


def exactly(names: Iterable[str]) -> str:
    """A wildcard pattern matching only these names. Names may hold dots, so a general pattern
    would also read ``results/gatys/astronaut__ihc.panel.png`` as a transfer to a style called
    ``ihc.panel``; Snakemake then reports the failed lookup while it tries that rule."""
    ordered = sorted(set(names), key=len, reverse=True)  # longest first: no prefix wins early
    return "|".join(map(re.escape, ordered)) or "(?!)"


def plan(config: Mapping[str, Any], root: str | Path = ".") -> Plan:
    """Read the folders under ``root`` and the (schema-validated) ``config`` into a :class:`Plan`."""
    root = Path(root)
    demo = config.get("demo", {})
    images = {kind: _images(root, f"{IMAGES}/{kind}", demo.get(kind, [])) for kind in KINDS}
    masks, proposed = _masks_of(root, config, images)
    settings, per_pair = _settings_of(root, config, images)
    weights = _weights(root, config)
    labels = dict(config.get("labels") or {})
    pairs, skipped, methods = _pairs(config, root, images, masks, proposed, settings, labels)
    guided = {(c, s) for c, s in pairs if c in masks["content"] and s in masks["style"]}
    fast = _fast_of(root, config)
    # Proposals have as many regions as the project has labels, unless proposal_k says.
    proposal_k = config.get("proposal_k") or (len(labels) if labels else None)
    found = Plan(
        images, masks, pairs, guided, settings, per_pair, weights, labels, dict(config.get("cleaning") or {}),
        skipped, proposed=proposed, proposal_k=proposal_k,
        clips=clips(root, config, list(images["style"]), _preset(config)), semantic=dict(config.get("semantic") or {}),
        instant=_instant_of(config), methods=methods, method=config.get("method", "both"),
    )  # fmt: skip
    _check_methods(found)
    _check_segments(found.clips.settings, _preset(config).get("video") or {})
    found.fast.update(fast)
    if fast.get("enabled") and fast.get("data", "demo") == "demo":
        found.fast["data"] = [images["content"][name] for name in demo.get("content", [])]
        if not found.fast["data"]:
            log.warning("fast: data is demo, but there are no demo content images; set fast.data to a folder")
            found.fast["enabled"] = False
    return found


def _masks_of(
    root: Path, config: Mapping[str, Any], images: Mapping[str, Mapping[str, str]]
) -> tuple[dict[str, dict[str, str]], set[tuple[str, str]]]:
    """Each image's mask: the painted one, else (``masks: propose|semantic``) the one the workflow
    proposes; and which are proposed. A semantic run's group table and parser are checked here."""
    masks = {kind: _masks(root, Path(MASKS) / kind, images[kind]) for kind in KINDS}
    proposed: set[tuple[str, str]] = set()
    mode = config.get("masks", "painted")
    if mode in ("propose", "semantic"):  # a painted mask wins; the others are proposed
        pattern = Paths.semantic if mode == "semantic" else Paths.proposed
        for kind in KINDS:
            for name in images[kind]:
                if name not in masks[kind]:
                    masks[kind][name] = pattern.format(kind=kind, name=name)
                    proposed.add((kind, name))
    if mode == "semantic":
        _check_groups(root, (config.get("semantic") or {}).get("groups"))
        _check_model(root, (config.get("semantic") or {}).get("model"))
    return masks, proposed


def _settings_of(
    root: Path, config: Mapping[str, Any], images: Mapping[str, Mapping[str, str]]
) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], dict[str, Any]]]:
    """Each style's Gatys settings, and each ``per_pair`` pair's; the pairs named must exist, and
    so must every start image the settings name."""
    settings = {name: style_settings(config, name) for name in images["style"]}
    for name in config.get("per_style", {}):
        if name not in images["style"]:
            log.warning("per_style names '%s', which is not a style image here", name)
    per_pair = {}
    for key, overrides in (config.get("per_pair") or {}).items():
        content, _, style = key.partition(SEPARATOR)
        if content not in images["content"] or style not in images["style"]:
            raise InputError(f"per_pair: '{key}' is not <content>{SEPARATOR}<style> of images here")
        per_pair[content, style] = {**settings[style], **overrides}
    # A start image must exist now: Snakemake skips a finished job whose new input is missing
    # ("Nothing to be done"), and the setting would be silently ignored.
    own = config.get("per_style") or {}
    for style, used in settings.items():
        _check_init(root, used, f"per_style {style}" if "init" in own.get(style, {}) else "gatys")
    for (content, style), used in per_pair.items():
        _check_init(root, used, f"per_pair {content}{SEPARATOR}{style}")
    return settings, per_pair


def _weights(root: Path, config: Mapping[str, Any]) -> str:
    """The VGG-19 weights the run uses: imagenet, random (seeded) or a file that exists."""
    weights = str(config["weights"])
    if not (weights in ("imagenet", "random") or weights.startswith("random:") or (root / weights).is_file()):
        raise InputError(f"weights '{weights}': no such file; use imagenet, random, or a path to a VGG-19 state dict")
    return weights


def _fast_of(root: Path, config: Mapping[str, Any]) -> dict[str, Any]:
    """Fast style's settings; the training folders they name must exist."""
    fast = fast_settings(config)
    if fast.get("enabled") and fast.get("data") not in (None, "demo") and not (root / fast["data"]).is_dir():
        raise InputError(f"fast: data folder '{fast['data']}' does not exist; give a folder of images, or demo")
    if fast.get("enabled") and fast.get("guided") and fast.get("masks") and not (root / fast["masks"]).is_dir():
        raise InputError(f"fast: masks folder '{fast['masks']}' does not exist; give the training images' masks")
    return fast


def _instant_of(config: Mapping[str, Any]) -> dict[str, Any]:
    """Instant style's settings: ``enabled: auto`` is on where its networks are installed (the
    ``instant`` extra); ``true`` without them is one line naming the extra."""
    instant = {"enabled": "auto", **dict(config.get("instant") or {})}
    installed = instant_installed()
    if instant["enabled"] is True and not installed:
        raise InputError(
            "instant.enabled is true, but instant style's networks are not installed: "
            "pip install 'stylesnake[instant]' (or set instant.enabled: auto)"
        )
    instant["enabled"] = installed if instant["enabled"] == "auto" else bool(instant["enabled"])
    return instant


def _pairs(
    config: Mapping[str, Any],
    root: Path,
    images: dict[str, dict[str, str]],
    masks: dict[str, dict[str, str]],
    proposed: set[tuple[str, str]],
    settings: dict[str, dict[str, Any]],
    labels: dict[str, Any],
) -> tuple[list[tuple[str, str]], list[str], dict[tuple[str, str], str]]:
    """The (content, style) pairs to transfer, why any of ``pairs: all`` were skipped (with named
    ``labels``, a style mask lacking a label its content mask has), and the methods pairs name."""
    skipped: list[str] = []
    methods: dict[tuple[str, str], str] = {}
    if config["pairs"] == "all":
        pairs = [(c, s) for c in images["content"] for s in images["style"]]
        if labels:
            painted = {
                (kind, name): painted_labels(root / path, labels)
                for kind in KINDS
                for name, path in masks[kind].items()
                if (kind, name) not in proposed  # not painted yet; its regions are paired, not named
            }
            kept = []
            for c, s in pairs:
                if (("content", c) in painted) and (("style", s) in painted):
                    label_map = settings[s].get("label_map") or {}
                    missing = _unmatched(painted["content", c], painted["style", s], label_map)
                    if missing:
                        skipped.append(f"{c} × {s}: the style mask lacks {', '.join(sorted(missing))}")
                        continue
                kept.append((c, s))
            pairs = kept
    else:
        pairs = []
        for entry in config["pairs"]:
            for kind in KINDS:
                if entry[kind] not in images[kind]:
                    known = ", ".join(images[kind]) or "none"
                    raise InputError(f"pairs: no {kind} image '{entry[kind]}' (there are: {known})")
            pairs.append((entry["content"], entry["style"]))
            if "method" in entry:
                methods[entry["content"], entry["style"]] = entry["method"]
        pairs = list(dict.fromkeys(pairs))
    return pairs, skipped, methods


def _check_methods(plan: Plan) -> None:
    """A pair painted in instant style alone needs instant style on."""
    alone = [f"{c} × {s}" for c, s in plan.pairs if plan.method_of(c, s) == "instant"]
    if alone and not plan.instant["enabled"]:
        off = "instant.enabled is false" if instant_installed() else "not installed: pip install 'stylesnake[instant]'"
        raise InputError(f"method instant ({', '.join(alone[:3])}{', …' * (len(alone) > 3)}), but {off}")


def style_settings(config: Mapping[str, Any], style: str) -> dict[str, Any]:
    """The Gatys settings of one style: ``gatys``, then the preset, then ``per_style[style]``."""
    settings = copy.deepcopy(dict(config["gatys"]))
    settings.update(_preset(config).get("gatys", {}))
    settings.update((config.get("per_style") or {}).get(style, {}))
    return settings


def _preset(config: Mapping[str, Any]) -> dict[str, Any]:
    preset = config.get("preset")
    if not preset:
        return {}
    presets = config.get("presets") or {}
    if preset not in presets:
        raise InputError(f"preset '{preset}' is not defined; config.yaml's presets are: {', '.join(presets)}")
    return dict(presets[preset])


def fast_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The fast-style training settings: ``fast``, then the preset's ``fast``."""
    return {**dict(config.get("fast") or {}), **_preset(config).get("fast", {})}


def _images(root: Path, folder: str, demo: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    directory = root / folder
    for path in sorted(directory.iterdir()) if directory.is_dir() else []:
        if path.suffix.lower() not in IMAGE_SUFFIXES or path.name.startswith("."):
            continue
        check_name(path.stem, path)
        if path.stem in found:
            raise InputError(f"{path}: {found[path.stem]} has the same name; keep one image per name")
        found[path.stem] = f"{folder}/{path.name}"
    for name in demo:  # written by the sample rule when missing
        found.setdefault(name, f"{folder}/{name}.png")
    return dict(sorted(found.items()))


def _masks(root: Path, folder: Path, images: Mapping[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    directory = root / folder
    for path in sorted(directory.iterdir()) if directory.is_dir() else []:
        if path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".") and path.stem not in images:
            log.warning(
                "%s matches no image in %s/%s; name a mask after its image", path.relative_to(root), IMAGES, folder.name
            )
    for name in images:
        candidates = [folder / f"{name}{suffix}" for suffix in IMAGE_SUFFIXES]
        existing = [p for p in candidates if (root / p).is_file()]
        if len(existing) > 1:
            raise InputError(f"{existing[0]} and {existing[1]}: two masks for one image; keep one")
        if existing:
            found[name] = existing[0].as_posix()
    return found


def _check_init(root: Path, settings: Mapping[str, Any], where: str) -> None:
    """An ``init: image:PATH`` start image must be a file (relative to the workflow's folder)."""
    init = str(settings.get("init", ""))
    if init.startswith("image:") and not (root / init.removeprefix("image:")).is_file():
        raise InputError(
            f"{where}: init {init}: no such file (relative to the workflow's folder); "
            "give the path of an existing image, or remove the setting"
        )


def _check_groups(root: Path, groups: str | None) -> None:
    """A group table of one's own must be a file now: it is an input of every semantic mask, and
    Snakemake's "missing input" would name a rule, not the setting."""
    if groups and not (root / groups).is_file():
        raise InputError(
            f"semantic: groups '{groups}': no such file (relative to the workflow's folder); "
            "copy pipeline/masks/groups.yaml there and edit it, or set null for ours"
        )


def _check_model(root: Path, model: str | None) -> None:
    """A ``semantic.model`` folder must hold a saved model now: every semantic-mask job would
    otherwise fail the same way, after the jobs before it ran. (A model name is looked up by the
    jobs, in the Hugging Face cache or on the hub.)"""
    folder = root / model if model else None
    missing = saved_model_missing(folder) if folder is not None and folder.is_dir() else None
    if missing:
        raise InputError(
            f"semantic: model '{model}': no saved model in that folder ({missing}; a download or save that "
            "did not finish leaves this); save the model there with save_pretrained, or name a known model"
        )


def _check_segments(video: Mapping[str, Any], preset: Mapping[str, Any]) -> None:
    """Neighbouring segments of a clip share ``video.overlap`` frames of ``video.segment``: said
    now, in one line, not by the first rule that asks for a clip's segments."""
    segment, overlap = int(video["segment"]), int(video["overlap"])
    if overlap >= segment:
        by = " (with the preset's video settings)" if {"segment", "overlap"} & set(preset) else ""
        raise InputError(
            f"video.overlap {overlap} is not below video.segment {segment}{by}: neighbouring segments share "
            "overlap frames of their segment; lower video.overlap or raise video.segment"
        )


def _unmatched(content: set[str], style: set[str], label_map: Mapping[str, str]) -> set[str]:
    """Content labels no style label serves (after ``label_map``; ``plain`` serves any)."""
    return {c for c in content if label_map.get(c, c) != "plain" and label_map.get(c, c) not in style}


def painted_labels(path: str | Path, labels: Mapping[str, str]) -> set[str]:
    """The labels painted in a mask: each pixel goes to the nearest label colour (if any is within
    :data:`FOREIGN_DISTANCE`), and a label counts when it covers :data:`PRESENT_SHARE`. A cheap
    look used to choose pairs before the masks are cleaned; the cleaned map is what guides."""
    painted = read_mask(path)  # the guarded loader: a bomb or a broken file is one line naming it
    step = max(1, max(painted.shape[:2]) // 512)
    pixels = painted[::step, ::step].reshape(-1, 3).astype(np.float32)
    colours = Palette.from_mapping(labels).colours.astype(np.float32)
    distances = np.linalg.norm(pixels[:, None, :] - colours[None], axis=2)
    nearest = np.where(distances.min(axis=1) <= FOREIGN_DISTANCE, distances.argmin(axis=1), -1)
    counts = np.bincount(nearest[nearest >= 0], minlength=len(colours))
    return {name for name, count in zip(labels, counts, strict=True) if count >= PRESENT_SHARE * len(pixels)}
