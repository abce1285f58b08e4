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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import cv2
import numpy as np

from pipeline import io, record
from pipeline.errors import InputError, read_yaml
from pipeline.masks.label_maps import check_label_map_out, label_map_png
from pipeline.masks.palette import LabelMap, hex_colour, parse_colour
from pipeline.masks.parsers import ADE20K, Parser, load_parser
from pipeline.masks.propose import propose_mask
from pipeline.masks.segment import VOC_CLASSES

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
    where = str(path or Groups.source)
    fix = "copy pipeline/masks/groups.yaml and edit it"
    ours = None if path else resources.files("pipeline.masks").joinpath("groups.yaml").read_text()
    data = read_yaml(where, fix=fix, text=ours)
    table = data.get("groups") if isinstance(data, dict) else None
    if not isinstance(table, dict) or not table:  # no group: no colour to stack, no region to name
        raise InputError(f"{where}: no groups under 'groups:'; name at least one, with its colour and classes ({fix})")
    try:
        names = tuple(str(n) for n in table)
        colours = np.stack([parse_colour(str(table[n]["colour"])) for n in names]).astype(np.uint8)
        listed = [(str(c), n) for n in names for c in (table[n].get("classes") or [])]
        classes = dict(listed)
        related = {n: tuple(str(r) for r in (table[n].get("related") or [])) for n in names}
    except (KeyError, TypeError, AttributeError, InputError) as exc:
        raise InputError(f"{where}: not a group table ({exc}); {fix}") from None
    _check_classes(where, classes)
    twice = sorted({c for c, n in listed if classes[c] != n})
    if twice:  # one would silently win: the last group listing it
        raise InputError(f"{where}: class {twice[0]} is in two groups; keep it in one")
    if len({hex_colour(c) for c in colours}) != len(names):
        raise InputError(f"{where}: two groups share a colour; give every group its own")
    unknown = sorted({r for rs in related.values() for r in rs} - set(names))
    if unknown:
        raise InputError(f"{where}: related names {', '.join(unknown)}, which are not groups here")
    return Groups(names, colours, classes, related, where)


def _check_classes(path: str | os.PathLike[str], classes: Mapping[str, str]) -> None:
    """Every class a table names is one a parser gives: a misspelt one would match nothing, and
    its pixels would go to ``other`` without a word. ADE20K's names (the scene parsers'), and Pascal
    VOC's (torchvision's DeepLabV3, which ``--semantic`` also takes)."""
    known = set(ADE20K) | set(VOC_CLASSES)
    for name in classes:
        if name not in known:
            nearest = difflib.get_close_matches(name, ADE20K + VOC_CLASSES, n=1, cutoff=0)
            hint = f"; did you mean {nearest[0]}?" if nearest else ""
            raise InputError(f"{path}: class {name} is not an ADE20K class{hint}")


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
    colour proposal).

    Example (a stand-in parser that sees sky above and grass below; a real one is
    :func:`~pipeline.masks.parsers.load_parser`'s)::

        >>> import numpy as np
        >>> from pipeline import semantic_mask_file
        >>> from pipeline.masks.parsers import ADE20K, Parser
        >>> from pipeline.samples import sample_image
        >>> def scores(image):  # class logits (C, h, w)
        ...     height = image.shape[0]
        ...     logits = np.full((len(ADE20K), *image.shape[:2]), -10.0, np.float32)
        ...     logits[ADE20K.index("sky"), : height // 2] = logits[ADE20K.index("grass"), height // 2 :] = 10
        ...     return logits
        >>> sample_image("chelsea").save("photo.png")
        >>> record = semantic_mask_file("photo.png", "semantic.png", parser=Parser("stand-in", ADE20K, "-", scores))
        >>> record["mask"], record["groups"]["shares"]
        ('semantic', {'sky': 0.5, 'vegetation': 0.5})
    """
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
