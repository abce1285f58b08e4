"""Regions paired across masks, and spatial control read from files: which label of each style
image every region of the content takes its statistics from (Gatys et al., "Controlling
Perceptual Factors in Neural Style Transfer", CVPR 2017).

A content label map and one label map per style image are matched label by label (by name, or
through a ``label_map``); each matched label is a *region*. What a method does with the pairs is its
own: the guided Gram loss (:mod:`pipeline.core.guidance`), or a style vector per region
(:mod:`pipeline.arbitrary`). Kept free of torch, and of OpenCV until masks are read, so that a
method that needs neither loads neither.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from pipeline.errors import InputError, option
from pipeline.io import LoadedImage
from pipeline.masks.palette import FOREIGN_DISTANCE, LabelMap, Palette, hex_colour, parse_colour

log = logging.getLogger(__name__)

#: ``label_map`` value meaning "no style region: use the style image's plain (whole-image) statistics".
PLAIN = "plain"

#: A region's source in a style image that has no such label but takes its whole-image statistics
#: (a region mapped to :data:`PLAIN`): the last entry of the style's targets.
WHOLE = -1


class Labelled(Protocol):
    """What region matching reads of a style: a :class:`~pipeline.masks.LabelMap`, or saved
    :class:`~pipeline.core.targets.StyleTargets` (which keep their mask's names, colours and counts)."""

    @property
    def names(self) -> tuple[str, ...]: ...

    @property
    def colours(self) -> np.ndarray: ...

    def counts(self) -> np.ndarray: ...


class SavedStyle(Labelled, Protocol):
    """Saved style targets as pairing reads them: their labels, and whether they have any."""

    @property
    def guided(self) -> bool: ...

    @property
    def info(self) -> dict[str, Any]: ...


#: A style as pairing takes it: a loaded image (its mask comes from the files) or saved targets.
Style = LoadedImage | SavedStyle


@dataclass(frozen=True)
class Pairing:
    """Regions paired across masks. ``present`` are the content labels that cover pixels, one
    region each, named ``names``; ``sources[i][r]`` is the label of style image ``i`` that region
    ``r`` takes its statistics from, :data:`WHOLE` for the whole image, or None where style image
    ``i`` does not hold the region; ``weights`` are the regions' weights as given (1 each unless
    asked otherwise); ``label_map`` the map the regions were paired with."""

    names: tuple[str, ...]
    present: tuple[int, ...]
    sources: tuple[tuple[int | None, ...], ...]
    weights: tuple[float, ...]
    label_map: Mapping[str, str]


@dataclass(frozen=True)
class Paired:
    """A pairing with the label maps it pairs: the content's and each style's."""

    content: LabelMap
    styles: tuple[Labelled, ...]
    pairing: Pairing


def pair_regions(
    content: LabelMap,
    styles: Sequence[Labelled],
    *,
    label_map: Mapping[str, str] | None = None,
    region_weights: Mapping[str, float] | None = None,
    content_name: str = "content mask",
) -> Pairing:
    """Pair every label present in the content map with the same label in the style maps.

    ``label_map`` sends a content label to another style label, or to ``"plain"`` (the style
    images' whole-image statistics). A content label that no style map holds, and that
    ``label_map`` does not send elsewhere, is an :class:`InputError` naming the labels.
    """
    label_map = dict(label_map or {})
    counts = content.counts()
    present = [i for i, n in enumerate(counts) if n > 0]
    for index, count in enumerate(counts):
        if count == 0:
            log.debug("%s: label %s covers no pixel; skipped", content_name, content.names[index])
    unknown = set(label_map) - set(content.names) - {hex_colour(c) for c in content.colours}
    if unknown:
        raise InputError(f"label-map names {', '.join(sorted(unknown))}, which the {content_name} does not have")
    names = tuple(content.names[index] for index in present)
    return Pairing(
        names=names,
        present=tuple(present),
        sources=_sources(content, present, styles, label_map, content_name),
        weights=region_weights_of(names, region_weights or {}),
        label_map=label_map,
    )


def _find(label_map: Labelled, name: str) -> int | None:
    """A label of ``label_map`` by name, or, when the name is a colour (``#rrggbb``), the label of
    the nearest colour within :data:`~pipeline.masks.FOREIGN_DISTANCE` (cleaned masks hold the
    painted shade, which is rarely the exact colour a user types)."""
    if name in label_map.names:
        return label_map.names.index(name)
    if name.startswith("#") and len(label_map.colours):
        colour = parse_colour(name).astype(np.float32)
        distances = np.linalg.norm(label_map.colours.astype(np.float32) - colour, axis=1)
        if distances.min() <= FOREIGN_DISTANCE:
            return int(distances.argmin())
    return None


def _sources(
    content: LabelMap,
    present: Sequence[int],
    styles: Sequence[Labelled],
    label_map: Mapping[str, str],
    content_name: str,
) -> tuple[tuple[int | None, ...], ...]:
    """Per style map, the label each present content label takes its statistics from (None: that
    map lacks it; :data:`WHOLE`: the whole image). A label no map holds is an :class:`InputError`."""
    sources: list[list[int | None]] = [[] for _ in styles]
    style_counts = [style.counts() for style in styles]
    missing: list[str] = []
    for index in present:
        name = content.names[index]
        wanted = label_map.get(name, label_map.get(hex_colour(content.colours[index]), name))
        if wanted == PLAIN:
            for source in sources:
                source.append(WHOLE)
            continue
        found = False
        for style, counts, source in zip(styles, style_counts, sources, strict=True):
            style_index = _find(style, wanted)
            held = style_index is not None and counts[style_index] > 0
            source.append(style_index if held else None)
            found |= held
        if not found:
            missing.append(name if wanted == name else f"{name} (mapped to {wanted})")
    if missing:
        pairs = zip(styles, style_counts, strict=True)
        held = sorted({n for s, counts in pairs for n, c in zip(s.names, counts, strict=True) if c})
        raise InputError(
            f"the {content_name} has label(s) {', '.join(missing)} that no style mask holds (they hold: "
            f"{', '.join(held)}); map them with {option('label_map')} CONTENT=STYLE, or CONTENT=plain for the "
            "style's overall look"
        )
    return tuple(tuple(source) for source in sources)


def region_weights_of(names: Sequence[str], given: Mapping[str, float]) -> tuple[float, ...]:
    """Each region's weight (1 unless given; :mod:`pipeline.core.guidance` normalises them to sum 1,
    the authors' 1/R by default)."""
    weights = [1.0] * len(names)
    for name, weight in given.items():
        if name not in names:
            raise InputError(f"region weight for '{name}', which is not a region here ({', '.join(names)})")
        if not (math.isfinite(weight) and weight >= 0):
            raise InputError(f"region weight for '{name}' must be a finite number >= 0, got {weight}")
        weights[list(names).index(name)] = float(weight)
    if sum(weights) <= 0:
        raise InputError("region weights are all 0; give at least one region a positive weight")
    return tuple(weights)


@dataclass(frozen=True)
class Guidance:
    """Spatial control from files: the content's mask, one mask per style image, and how to read
    them: ``k`` clusters (one number for every mask, or one per mask, content first) or a
    ``palette``; masks that are already exact need neither."""

    content_mask: str
    style_masks: tuple[str, ...]
    k: int | tuple[int, ...] | None = None
    palette: Palette | None = None
    min_area: int | None = None
    label_map: Mapping[str, str] | None = None
    region_weights: Mapping[str, float] | None = None

    @classmethod
    def from_options(
        cls,
        content_mask: str | None,
        style_masks: Sequence[str] | None = None,
        *,
        k: Sequence[int] | None = None,
        palette: Palette | None = None,
        min_area: int | None = None,
        label_map: Mapping[str, str] | None = None,
        region_weights: Mapping[str, str | float] | None = None,
    ) -> Guidance | None:
        """Spatial control as a user asks for it (the CLI's flags, the web's slow tab): None without
        a content mask, and then no mask option may be given; ``region_weights`` may come as text."""
        if content_mask is None:
            flags = ("--style-mask", "--k", "--colors", "--min-area", "--label-map", "--region-weights")
            values = (style_masks, k, palette, min_area, label_map, region_weights)
            given = [flag for flag, value in zip(flags, values, strict=True) if value]
            if given:
                raise InputError(f"{', '.join(given)} only work(s) with {option('content_mask')} (spatial control)")
            return None
        weights = {}
        for name, value in (region_weights or {}).items():
            try:
                weights[name] = float(value)
            except ValueError:
                raise InputError(f"region weight for '{name}' is not a number: '{value}'") from None
        return cls(
            content_mask=content_mask,
            style_masks=tuple(style_masks or ()),
            k=None if k is None else k[0] if len(k) == 1 else tuple(k),
            palette=palette,
            min_area=min_area,
            label_map=label_map,
            region_weights=weights,
        )

    def paired(self, content: LoadedImage, styles: Sequence[Style], *, max_pixels: int) -> Paired:
        """Load, clean and pair the masks for the loaded (and resized) images. Style images take
        the style masks in order; saved style targets bring their own labels."""
        images = sum(isinstance(s, LoadedImage) for s in styles)
        content_labels = self.content_labels(content, count=1 + images, max_pixels=max_pixels)
        style_labels = self.style_labels(styles, max_pixels=max_pixels)
        return self.pair(content, content_labels, styles, style_labels)

    def _ks(self, masks: int) -> tuple[int | None, ...]:
        ks = self.k if isinstance(self.k, tuple) else (self.k,) * masks
        if len(ks) != masks:
            raise InputError(f"{option('k')} gives {len(ks)} numbers for {masks} masks; give one, or one per mask")
        return ks

    def content_k(self, count: int) -> int | None:
        """``--k`` for the content's mask, ``count`` masks in all (one number, or one per mask)."""
        return self._ks(count)[0]

    def content_labels(self, content: LoadedImage, *, count: int, max_pixels: int) -> LabelMap:
        """The content's mask, cleaned, at the content's working size (``count`` masks in all, for ``--k``)."""
        from pipeline.masks.label_maps import load_label_map  # deferred: the cleaner's OpenCV, for masks only

        return load_label_map(
            self.content_mask, image=content, k=self.content_k(count), palette=self.palette, min_area=self.min_area,
            max_pixels=max_pixels,
        )  # fmt: skip

    def style_labels(self, styles: Sequence[Style], *, max_pixels: int) -> list[Labelled]:
        """Each style's labels: its mask, cleaned (style images take the style masks in order), or
        the labels saved targets carry."""
        images = [s for s in styles if isinstance(s, LoadedImage)]
        if len(self.style_masks) != len(images):
            raise InputError(
                f"{len(images)} style image(s) but {len(self.style_masks)} style mask(s); give one mask per style image"
            )
        for style in styles:
            if not isinstance(style, LoadedImage) and not style.guided:
                raise InputError(
                    f"style targets {style.info.get('style', {}).get('path', '')} were computed without a mask, so "
                    f"they cannot guide regions; recompute them with {option('style_mask')}, "
                    f"or leave out {option('content_mask')}"
                )
        from pipeline.masks.label_maps import load_label_map  # deferred: the cleaner's OpenCV, for masks only

        ks = iter(self._ks(1 + len(images))[1:])
        masks = iter(self.style_masks)
        return [
            load_label_map(
                next(masks), image=style, k=next(ks), palette=self.palette, min_area=self.min_area,
                max_pixels=max_pixels,
            )
            if isinstance(style, LoadedImage)
            else style
            for style in styles
        ]  # fmt: skip

    def pair(
        self,
        content: LoadedImage,
        content_labels: LabelMap,
        styles: Sequence[Style],
        style_labels: Sequence[Labelled],
    ) -> Paired:
        """The regions of a content whose labels are known (a still's mask, a video frame's carried
        mask) paired with the styles' labels."""
        if int((content_labels.counts() > 0).sum()) < 2:
            if content_labels.lost:
                raise InputError(
                    f"{self.content_mask}: {content_labels.lost[0][1]}, leaving a single region; "
                    f"use a larger {option('size')}, or paint the region larger"
                )
            raise InputError(
                f"{self.content_mask}: mask is blank (a single region), so there is nothing to guide; "
                f"paint the regions, or leave out {option('content_mask')} for a plain transfer"
            )
        label_map = self.label_map
        if self.palette is None:
            from pipeline.masks.label_maps import named_like  # deferred: OpenCV, for masks only
            from pipeline.masks.match import pairing_when_unshared

            style_labels = [named_like(s, content_labels) for s in style_labels]
            if label_map is None:
                images = [np.asarray(s.image) if isinstance(s, LoadedImage) else None for s in styles]
                label_map = pairing_when_unshared(
                    content_labels, style_labels, content_image=np.asarray(content.image), style_images=images,
                    name=str(self.content_mask),
                )  # fmt: skip
        pairing = pair_regions(
            content_labels,
            style_labels,
            label_map=label_map,
            region_weights=self.region_weights,
            content_name=str(self.content_mask),
        )
        return Paired(content_labels, tuple(style_labels), pairing)
