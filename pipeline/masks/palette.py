"""Label maps and label colours: :class:`LabelMap` (an exact map: every pixel one label), the
project's :class:`Palette` (name → colour, the same colour meaning the same label in every
mask), and colour parsing and printing."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from pipeline.errors import InputError

log = logging.getLogger(__name__)

#: A painted colour farther than this from every palette colour (and from every blend of two or
#: three of them) is not a label of the project.
FOREIGN_DISTANCE = 60.0
#: Labels are stored as uint8 and saved in a PNG palette.
MAX_LABELS = 255


@dataclass(frozen=True)
class LabelMap:
    """An exact label map: ``labels[y, x]`` indexes ``colours`` (and ``names``)."""

    labels: np.ndarray  # (H, W) uint8
    colours: np.ndarray  # (n, 3) uint8
    names: tuple[str, ...]
    #: Labels of the cleaned mask that this (resized) map no longer holds, each with a sentence
    #: saying why: what a "blank mask" error explains.
    lost: tuple[tuple[str, str], ...] = ()
    #: A semantic mask's relations between its labels (group → related groups, nearest first):
    #: where a painting lacks a group, which of its regions stands in (pipeline.masks.semantic).
    related: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def to_image(self) -> Image.Image:
        image = Image.fromarray(self.labels, mode="P")
        image.putpalette(self.colours.reshape(-1).tolist())
        return image

    def counts(self) -> np.ndarray:
        return np.bincount(self.labels.ravel(), minlength=len(self.colours))

    def shares(self) -> str:
        """``sky 41.2%, tree 30.5%, ...``: what a log line says of the map."""
        size = self.labels.size
        return ", ".join(f"{n} {100 * c / size:.1f}%" for n, c in zip(self.names, self.counts(), strict=True))


def parse_colour(text: str) -> np.ndarray:
    """``#rrggbb`` (or ``rrggbb``) → uint8 RGB."""
    match = re.fullmatch(r"#?([0-9a-fA-F]{6})", text.strip())
    if not match:
        raise InputError(f"'{text}' is not a colour; write it as #rrggbb, e.g. #3366ff")
    value = int(match.group(1), 16)
    return np.array([(value >> 16) & 255, (value >> 8) & 255, value & 255], dtype=np.uint8)


def hex_colour(colour: Sequence[int] | np.ndarray) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in colour))


@dataclass(frozen=True)
class Palette:
    """The project's labels: a name and an exact colour for each."""

    names: tuple[str, ...]
    colours: np.ndarray  # (n, 3) uint8

    @classmethod
    def from_mapping(cls, labels: Mapping[str, str]) -> Palette:
        """From config's ``labels:`` (name → ``#rrggbb``)."""
        if not labels:
            raise InputError("the label palette is empty; give at least one name: '#rrggbb'")
        colours = np.stack([parse_colour(c) for c in labels.values()])
        palette = cls(tuple(labels), colours)
        palette._check_distinct()
        return palette

    @classmethod
    def from_colours(cls, text: str | Sequence[str]) -> Palette:
        """From ``"#ff0000,#0000ff"`` or ``"sky=#4287f5,tree=#28a03c"`` (unnamed labels are
        named by their colour)."""
        items = [c.strip() for c in (text.split(",") if isinstance(text, str) else text) if c.strip()]
        if not items:
            raise InputError("no colours given; write them as '#rrggbb,#rrggbb,...' or 'name=#rrggbb,...'")
        names, colours = [], []
        for item in items:
            name, _, colour = item.rpartition("=")
            colours.append(parse_colour(colour))
            names.append(name.strip() or hex_colour(colours[-1]))
        palette = cls(tuple(names), np.stack(colours))
        palette._check_distinct()
        if len(set(names)) != len(names):
            raise InputError(f"label names repeat in '{text}'; give every label its own name")
        return palette

    def _check_distinct(self) -> None:
        if len({tuple(c) for c in self.colours.tolist()}) != len(self.colours):
            raise InputError("two labels share one colour; give every label its own colour")
