"""Semantic masks: regions that know sky from sea, from a scene parser trained on ADE20K.

A parser labels every pixel with one of ADE20K's 150 classes; our group table
(``pipeline/masks/groups.yaml``, or ``--groups FILE``) folds them into the few named regions
paintings are made of (sky, water, vegetation, ground, mountain, building, person, vehicle, other),
each with a fixed colour. Every photo's and every painting's semantic mask therefore shares one
palette, and ``transfer`` pairs their regions by name. The mask also carries the table's
*relations* (a text chunk): when a painting has no region of a photo's group, the region takes its
style from the nearest related group the painting has (:func:`related_label_map`), never nothing.

Parsers (:data:`MODELS`, through ``transformers``, the optional extra ``.[semantic]``):
UperNet-ConvNeXt (MIT licence; the default) and SegFormer (NVIDIA's licence: research and evaluation
only, used only when named). A model is fetched into the Hugging Face cache (``$HF_HOME``) on first
use, or read from a directory holding a saved model; a torchvision DeepLabV3/LR-ASPP state dict
(Pascal VOC's 21 classes: only people are told apart) is taken too. The parser runs at a working
size (at most :data:`WORK_SIDE` px), its class scores are brought back to full size bilinearly
(smooth borders), and pieces under a share of the image (``min_share``, default :data:`MIN_SHARE`)
fold into the neighbour they share the longest border with; a group whose pieces are all that small
keeps its largest, so no group the parser saw vanishes only for being in small pieces.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.errors import InputError
from pipeline.masks.palette import LabelMap, hex_colour, parse_colour

log = logging.getLogger(__name__)

#: Long side the parser works at (the models are trained on 512 px crops).
WORK_SIDE = 512
#: Regions under this share of the image fold into a neighbour (FastPhotoStyle folds under 2 %).
MIN_SHARE = 0.02
#: The largest fold share taken (the workflow schema's too): above half the picture a "small" piece
#: could be most of it, so every group but one would shrink to its largest piece.
MAX_SHARE = 0.5
#: A painting that one group covers beyond this share was probably not seen: said and recorded.
ONE_GROUP = 0.95
#: Known parsers: our name → (Hugging Face repository, licence, parameters in millions, ADE20K mIoU).
MODELS = {
    "upernet-convnext-tiny": ("openmmlab/upernet-convnext-tiny", "MIT", 60, 46.0),
    "upernet-convnext-small": ("openmmlab/upernet-convnext-small", "MIT", 82, 48.1),
    "segformer-b0": ("nvidia/segformer-b0-finetuned-ade-512-512", "NVIDIA (research and evaluation only)", 3.8, 37.4),
    "segformer-b2": ("nvidia/segformer-b2-finetuned-ade-512-512", "NVIDIA (research and evaluation only)", 27, 45.6),
}
DEFAULT_MODEL = "upernet-convnext-tiny"
#: The text chunk of a semantic mask that carries its groups' relations.
RELATED_CHUNK = "stylesnake-related"
NEEDS_EXTRA = "semantic masks need the optional extra: pip install -e '.[semantic]' (transformers)"

#: ADE20K's classes in the order of the parsers' outputs (transformers' id2label), for a saved
#: model whose config names its 150 labels only by number.
ADE20K = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass", "cabinet",
    "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair", "car", "water",
    "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat", "fence", "desk",
    "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box", "column", "signboard",
    "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand",
    "path", "stairs", "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge",
    "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove",
    "palm", "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus",
    "towel", "light", "truck", "tower", "chandelier", "awning", "streetlight", "booth", "television receiver",
    "airplane", "dirt track", "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle", "buffet",
    "poster", "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything",
    "swimming pool", "stool", "barrel", "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball",
    "food", "step", "tank", "trade name", "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen",
    "blanket", "sculpture", "hood", "sconce", "vase", "traffic light", "tray", "ashcan", "fan", "pier",
    "crt screen", "plate", "monitor", "bulletin board", "shower", "radiator", "glass", "clock", "flag",
)  # fmt: skip


# --- the group table ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Groups:
    """The group table: names and colours in order, each class's group, and each group's relations."""

    names: tuple[str, ...]
    colours: np.ndarray  # (G, 3) uint8
    classes: dict[str, str]  # class name → group name
    related: dict[str, tuple[str, ...]]
    source: str = "pipeline/masks/groups.yaml"

    @property
    def fallback(self) -> str:
        """The group of classes no group names: ``other`` (the last group when there is none)."""
        return "other" if "other" in self.names else self.names[-1]

    def lookup(self, class_names: Sequence[str]) -> np.ndarray:
        """Group index of each of a parser's classes."""
        index = {name: i for i, name in enumerate(self.names)}
        return np.array([index[self.classes.get(c, self.fallback)] for c in class_names], np.uint8)


def load_groups(path: str | os.PathLike[str] | None = None) -> Groups:
    """Our group table, or the one at ``path`` (see groups.yaml for the format)."""
    import yaml

    try:
        text = Path(path).read_text() if path else resources.files("pipeline.masks").joinpath("groups.yaml").read_text()
        table = yaml.safe_load(text)["groups"]
        names = tuple(str(n) for n in table)
        colours = np.stack([parse_colour(str(table[n]["colour"])) for n in names]).astype(np.uint8)
        listed = [(str(c), n) for n in names for c in (table[n].get("classes") or [])]
        classes = dict(listed)
        related = {n: tuple(str(r) for r in (table[n].get("related") or [])) for n in names}
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError, InputError) as exc:
        raise InputError(f"{path}: not a group table ({exc}); copy pipeline/masks/groups.yaml and edit it") from None
    _check_classes(path or Groups.source, classes)
    twice = sorted({c for c, n in listed if classes[c] != n})
    if twice:  # one would silently win: the last group listing it
        raise InputError(f"{path or Groups.source}: class {twice[0]} is in two groups; keep it in one")
    if len({hex_colour(c) for c in colours}) != len(names):
        raise InputError(f"{path}: two groups share a colour; give every group its own")
    unknown = sorted({r for rs in related.values() for r in rs} - set(names))
    if unknown:
        raise InputError(f"{path}: related names {', '.join(unknown)}, which are not groups here")
    return Groups(names, colours, classes, related, str(path or Groups.source))


def _check_classes(path: str | os.PathLike[str], classes: Mapping[str, str]) -> None:
    """Every class a table names is one a parser gives: a misspelt one would match nothing, and
    its pixels would go to ``other`` without a word. ADE20K's names (the scene parsers'), and Pascal
    VOC's (torchvision's DeepLabV3, which ``--semantic`` also takes)."""
    from pipeline.masks.segment import VOC_CLASSES

    known = set(ADE20K) | set(VOC_CLASSES)
    for name in classes:
        if name not in known:
            nearest = difflib.get_close_matches(name, ADE20K + VOC_CLASSES, n=1, cutoff=0)
            hint = f"; did you mean {nearest[0]}?" if nearest else ""
            raise InputError(f"{path}: class {name} is not an ADE20K class{hint}")


# --- parsers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parser:
    """A scene parser: its class names, and the class scores of an RGB image, (C, h, w)."""

    name: str
    classes: tuple[str, ...]
    licence: str
    scores: Callable[[np.ndarray], np.ndarray]


def load_parser(model: str | os.PathLike[str] | None = None) -> Parser:
    """The parser ``model`` names: one of :data:`MODELS`, a directory holding a saved model, or a
    torchvision segmentation state dict (``.pth``); the default is :data:`DEFAULT_MODEL`."""
    model = str(model or DEFAULT_MODEL)
    path = Path(model)
    if path.suffix in (".pth", ".pt") and path.is_file():
        return _torchvision(path)
    if model not in MODELS and not path.is_dir():
        known = ", ".join(MODELS)
        raise InputError(f"--semantic {model}: neither a known model ({known}) nor a folder holding a saved one")
    try:
        import transformers  # noqa: F401
    except ImportError:
        raise InputError(NEEDS_EXTRA) from None
    if path.is_dir():
        return _transformers(str(path), name=path.name, licence="as its files say", local=True)
    repository, licence, *_ = MODELS[model]
    if not licence.startswith("MIT"):
        log.warning("%s: %s's licence: %s", model, repository, licence)
    return _transformers(repository, name=model, licence=licence, local=False)


def _transformers(source: str, *, name: str, licence: str, local: bool) -> Parser:
    import torch
    from transformers import AutoModelForSemanticSegmentation
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our one line says what was loaded
    hf_logging.set_verbosity_error()
    try:
        network = AutoModelForSemanticSegmentation.from_pretrained(source, local_files_only=local).eval()
    except OSError:
        if local:
            raise InputError(f"{source}: no saved model there (config.json and weights from save_pretrained)") from None
        raise InputError(
            f"--semantic {name}: not in the Hugging Face cache ({os.environ.get('HF_HOME', '~/.cache/huggingface')}) "
            f"and no network to fetch {source}; connect once to fetch it, or pass a folder holding a saved model, "
            "or leave out --semantic for regions from colours"
        ) from None
    labels = dict(network.config.id2label)
    names = tuple(str(labels[i]) for i in range(len(labels)))
    log.info("%s: %s, %d classes", name, type(network).__name__, len(names))
    if len(names) == len(ADE20K) and all(n.startswith("LABEL_") for n in names):
        names = ADE20K  # a config that numbers its labels: ADE20K's, in their order
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def scores(image: np.ndarray) -> np.ndarray:
        tensor = torch.from_numpy(np.array(image, dtype=np.float32)).permute(2, 0, 1)[None] / 255
        with torch.inference_mode():
            logits = network(pixel_values=(tensor - mean) / std).logits
        return logits[0].float().numpy()

    return Parser(name, names, licence, scores)


def _torchvision(path: Path) -> Parser:
    import torch

    from pipeline.masks.segment import load_segmenter

    network, names = load_segmenter(path)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def scores(image: np.ndarray) -> np.ndarray:
        tensor = torch.from_numpy(np.array(image, dtype=np.float32)).permute(2, 0, 1)[None] / 255
        with torch.inference_mode():
            return network((tensor - mean) / std)["out"][0].float().numpy()

    return Parser(path.name, names, "as its weights'", scores)


# --- masks -------------------------------------------------------------------------------------


def group_scores(image: np.ndarray, parser: Parser, groups: Groups) -> np.ndarray:
    """(G, H, W) each group's score at each pixel of the (H, W, 3) uint8 image: the parser's class
    probabilities at the working size, summed per group, brought back to full size bilinearly."""
    height, width = image.shape[:2]
    scale = min(1.0, WORK_SIDE / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA) if scale < 1 else image
    logits = parser.scores(small)
    if logits.shape[0] != len(parser.classes):
        raise InputError(f"{parser.name}: gives {logits.shape[0]} class scores for {len(parser.classes)} classes")
    probabilities = np.exp(logits - logits.max(axis=0))
    probabilities /= probabilities.sum(axis=0)
    lookup = groups.lookup(parser.classes)
    grouped = np.zeros((len(groups.names), *probabilities.shape[1:]), np.float32)
    np.add.at(grouped, lookup, probabilities)
    return np.stack([cv2.resize(g, (width, height), interpolation=cv2.INTER_LINEAR) for g in grouped])


def check_min_share(share: float, *, name: str = "min_share") -> float:
    """``share`` if it is a share of the picture from 0 (fold nothing) to :data:`MAX_SHARE`, else an
    :class:`InputError` in one line under ``name`` (the flag or key it came from)."""
    number = isinstance(share, int | float) and not isinstance(share, bool)
    if not (number and math.isfinite(share) and 0 <= share <= MAX_SHARE):
        shown = f"{share:g}" if number else repr(share)
        raise InputError(f"{name} {shown}: a share of the picture, from 0 to {MAX_SHARE:g} (2 % is 0.02)")
    return float(share)


def fold_small(labels: np.ndarray, count: int, min_area: int) -> np.ndarray:
    """Pieces smaller than ``min_area`` pixels join the neighbouring label they share the longest
    border with. A label whose pieces are all that small keeps its largest (the first of equals):
    a region the image does have stays, as the one piece with the most evidence, not as specks."""
    labels = labels.copy()
    for label in range(count):
        pieces, component = cv2.connectedComponents((labels == label).astype(np.uint8), connectivity=4)
        if pieces <= 2:  # background + at most one piece: nothing to fold, or the label's only piece
            continue
        sizes = np.bincount(component.ravel())
        small = np.flatnonzero(sizes[1:] < min_area) + 1
        if len(small) == pieces - 1:  # all of them: the largest stays
            small = small[small != int(sizes[1:].argmax()) + 1]
        for piece in small:
            inside = component == piece
            ring = cv2.dilate(inside.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~inside
            neighbours = np.bincount(labels[ring], minlength=count)
            neighbours[label] = 0
            if neighbours.any():
                labels[inside] = int(neighbours.argmax())
    return labels


def semantic_mask(image: np.ndarray, parser: Parser, groups: Groups, *, min_share: float = MIN_SHARE) -> LabelMap:
    """The image's semantic mask: every pixel's group, small pieces folded (see the module docstring).
    Its colours are the whole table's, present or not, so every semantic mask shares one palette."""
    min_share = check_min_share(min_share)
    labels = group_scores(image, parser, groups).argmax(axis=0).astype(np.uint8)
    labels = fold_small(labels, len(groups.names), max(1, round(min_share * labels.size)))
    return LabelMap(labels=labels, colours=groups.colours.copy(), names=groups.names)


def one_group(label_map: LabelMap) -> tuple[str, float] | None:
    """The group covering more than :data:`ONE_GROUP` of a mask, with its share, if one does."""
    counts = label_map.counts()
    top = int(counts.argmax())
    share = float(counts[top] / max(counts.sum(), 1))
    return (label_map.names[top], share) if share > ONE_GROUP else None


def related_label_map(
    present: Sequence[str], held: Sequence[str], related: Mapping[str, Sequence[str]]
) -> dict[str, str]:
    """For each content group the styles hold no region of, the nearest related group they do hold
    (``plain``, the styles' overall statistics, when none): a ``--label-map``."""
    chosen = {}
    for name in present:
        if name in held:
            continue
        chosen[name] = next((r for r in related.get(name, ()) if r in held), "plain")
    return chosen


# --- files ---------------------------------------------------------------------------------------


def semantic_mask_file(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | None = None,
    groups: str | os.PathLike[str] | None = None,
    colours_if_unseen: bool = False,
    max_pixels: int | None = None,
    parser: Parser | None = None,
    min_share: float = MIN_SHARE,
    seed: int = 0,
) -> dict[str, Any]:
    """Write ``source``'s semantic mask to ``out`` (a label map whose names are the groups', with
    their relations) and its record ``OUT.json`` (which mask it is, from what); return the record.
    Pieces under ``min_share`` of the picture fold (see :func:`fold_small`).

    A mask one group covers beyond :data:`ONE_GROUP` (a parser trained on photos that did not see
    the painting) is said; with ``colours_if_unseen`` the colour proposal (K-means ``seed``)
    replaces it (the order a workflow takes: a painted mask, then the semantic mask, then the
    colour proposal)."""
    from pipeline import io, record
    from pipeline.masks.files import check_label_map_out, label_map_png
    from pipeline.masks.propose import propose_mask

    min_share = check_min_share(min_share)
    check_label_map_out(out, source)
    table = load_groups(groups)
    parser = parser or load_parser(model)
    image = np.asarray(io.read_image(source, max_pixels=max_pixels or io.MAX_PIXELS).image)
    label_map = semantic_mask(image, parser, table, min_share=min_share)
    seen = one_group(label_map)
    label_map, kind = dataclasses.replace(label_map, related=table.related), "semantic"
    if seen is not None:
        name, share = seen
        log.warning(
            "%s: the parser saw only %s (%.0f %% of the picture): paint a mask, or propose one from colours%s",
            source, name, 100 * share, "; proposed from colours instead" if colours_if_unseen else "",
        )  # fmt: skip
        if colours_if_unseen:
            label_map, kind = propose_mask(image, seed=seed), "colours"
    metadata = {
        **record.header("stylesnake-mask", None),
        "mask": kind,
        "image": {"path": str(source)},
        "model": {"name": parser.name, "licence": parser.licence},
        "groups": {"table": table.source, "min_share": min_share, "shares": _shares(label_map)},
        "one_group": None if seen is None else {"name": seen[0], "share": round(seen[1], 4)},
    }
    record.write(out, label_map_png(label_map), metadata)
    log.info(
        "%s: %s mask, %s -> %s", source, kind, ", ".join(f"{k} {v:.0%}" for k, v in _shares(label_map).items()), out
    )
    return metadata


def _shares(label_map: LabelMap) -> dict[str, float]:
    counts = label_map.counts()
    return {n: round(float(c / counts.sum()), 4) for n, c in zip(label_map.names, counts, strict=True) if c}
