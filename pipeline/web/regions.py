"""Proposed masks for painting regions in the browser (``POST /propose``): a first guess of the
photo's regions, already in the chosen style's label colours, that the page lets a visitor fix;
on the own-painting tab (``POST /own/propose``), a painting's regions and the photo's with them.

Regions come from :func:`pipeline.propose_mask` (no weights needed), or with ``serve
--semantic`` from a scene parser (:mod:`pipeline.masks.semantic`), named. A painting with a mask
pairs them to its own regions by what they are (:func:`pipeline.masks.match.match_label_maps`:
place, share, colour); a guided model has no picture of its labels, so its labels go from the top
of the photo down, in the order training recorded them.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from io import BytesIO
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from pipeline import io
from pipeline.errors import InputError
from pipeline.fast.model import labels_of
from pipeline.masks import LabelMap, Palette, check_drawn_for, clean_mask, hex_colour, labels_at
from pipeline.masks.match import match_label_maps
from pipeline.masks.parsers import Parser
from pipeline.masks.propose import propose_mask
from pipeline.masks.semantic import Groups, related_label_map, semantic_mask
from pipeline.web.paintings import read_mask_rgb
from pipeline.web.stylist import Busy, decode_upload

if TYPE_CHECKING:
    from pipeline.web.settings import WebState

#: Long side (px) the proposal works at: the regions' layout needs no more, and it keeps a
#: request well under a second; the mask is brought back to the photo's size (nearest).
PROPOSE_SIDE = 512
#: Long side (px) the painting and its mask are compared at when pairing regions.
PAINTING_SIDE = 256


@dataclass(frozen=True)
class Proposal:
    labels: np.ndarray  # (H, W) uint8 at the photo's size: index into the palette
    palette: Palette

    def png(self) -> bytes:
        """The mask in the palette's exact colours (RGB: browsers and the cleaner read it alike)."""
        image = LabelMap(self.labels, self.palette.colours, self.palette.names).to_image().convert("RGB")
        buffer = BytesIO()
        image.save(buffer, "PNG")
        return buffer.getvalue()

    def as_json(self) -> dict[str, object]:
        height, width = self.labels.shape
        return {
            "width": width,
            "height": height,
            "labels": [
                {"name": name, "colour": hex_colour(colour)}
                for name, colour in zip(self.palette.names, self.palette.colours, strict=True)
            ],
            "mask": "data:image/png;base64," + base64.b64encode(self.png()).decode("ascii"),
        }


def answer(web: WebState, form: Mapping[str, str], files: Mapping[str, Any]) -> tuple[dict[str, object], int]:
    """``POST /propose``'s JSON and status: the proposal, or ``{"error": sentence}`` with 400 for
    bad input (as the forms' pages) and 503 when every slot stays taken."""

    def proposed() -> dict[str, object]:
        palette, painting = labels_for(web, form)
        [photo] = _uploads(web, files, "photo")
        return propose(photo, palette, painting, web.semantic).as_json()

    return _answered(web, proposed)


def answer_own(web: WebState, files: Mapping[str, Any]) -> tuple[dict[str, object], int]:
    """``POST /own/propose``'s JSON and status: ``{"painting": proposal, "photo": proposal}`` (the
    painting's regions, and the photo's paired with them in the same colours), or an error as
    :func:`answer`'s."""

    def proposed() -> dict[str, object]:
        photo, painting = _uploads(web, files, "photo", "painting")
        return {name: proposal.as_json() for name, proposal in propose_pair(photo, painting, web.semantic).items()}

    return _answered(web, proposed)


def _uploads(web: WebState, files: Mapping[str, Any], *names: str) -> list[Image.Image]:
    """The uploads of ``names`` decoded (upright RGB), or an :class:`InputError` sentence."""
    for name in names:
        upload = files.get(name)
        if upload is None or not upload.filename:
            raise InputError(f"Please choose a {name} to upload.")
    return [decode_upload(files[name].stream, name, web.settings.max_pixels) for name in names]


def _answered(web: WebState, proposed: Callable[[], dict[str, object]]) -> tuple[dict[str, object], int]:
    """``proposed()`` inside one of the stylist's slots (proposing costs CPU like stylising: the
    same bound), with 200; an :class:`InputError` as 400 and every slot taken as 503."""
    try:
        with web.stylist.slot():
            return proposed(), 200
    except InputError as exc:
        return {"error": str(exc)}, 400
    except Busy:
        return {"error": "The site is busy right now; please try again in a minute."}, 503


def labels_for(web: WebState, form: Mapping[str, str]) -> tuple[Palette, tuple[Image.Image, np.ndarray] | None]:
    """The labels of the style (``style``, the fast tab's field) or painting (``painting``, the
    slow tab's) asked for, and the painting with its mask's colours to pair regions with (None for
    a model). A name not offered, or a choice without labels, is an :class:`InputError` sentence."""
    if "painting" in form and web.paintings:
        painting = web.paintings.get(form["painting"])
        if painting is None:
            raise InputError("Please choose one of the paintings shown.")
        if painting.palette is None or painting.mask is None:
            raise InputError(f"The painting “{painting.name}” has no regions to paint; it needs no mask.")
        # At the size regions are compared at: a large painting is not decoded in full per photo.
        image = io.read_image(painting.image, size=PAINTING_SIDE, max_pixels=web.settings.max_pixels).image
        return painting.palette, (image, read_mask_rgb(painting.mask, web.settings.max_pixels))
    style = web.styles.get(form.get("style", ""))
    if style is None:
        raise InputError("Please choose one of the styles shown." if form.get("style") else "Please choose a style.")
    palette = labels_of(style.model.info)
    if palette is None:
        raise InputError(f"The style “{style.name}” has no regions to paint; it needs no mask.")
    return palette, None


def propose(
    photo: Image.Image,
    palette: Palette,
    painting: tuple[Image.Image, np.ndarray] | None,
    semantic: tuple[Parser, Groups] | None = None,
) -> Proposal:
    """The proposed mask of ``photo`` (upright RGB) on ``palette``'s labels. ``painting``: the
    painting and its mask's (H, W, 3) RGB, to pair regions with; None: labels top-down.
    ``semantic`` (a scene parser and the group table, ``serve --semantic``): the photo's regions
    are its groups, named: each takes the palette's label of its name (or of its nearest related
    group), else the painting's region it resembles most."""
    small = io.resize_long_side(photo, PROPOSE_SIDE) if max(photo.size) > PROPOSE_SIDE else photo
    pixels = np.asarray(small.convert("RGB"))
    proposal = semantic_mask(pixels, *semantic) if semantic is not None else None
    named = _by_name(proposal, palette, semantic[1]) if proposal is not None and semantic is not None else None
    if named is not None:
        labels = named
    elif painting is None:  # without a painting to compare with, the palette's order goes from the top down
        labels = propose_mask(pixels, palette=palette).labels
    else:
        labels = _paired(pixels, palette, *painting, proposal=proposal)
    full = Image.fromarray(labels, mode="L").resize(photo.size, Image.Resampling.NEAREST)
    return Proposal(np.asarray(full), palette)


def propose_pair(
    photo: Image.Image, painting: Image.Image, semantic: tuple[Parser, Groups] | None = None
) -> dict[str, Proposal]:
    """Regions for a painting that has no mask and a photo to paint in its style: the painting's
    proposed (as :func:`propose` proposes a photo's, its labels named and coloured by
    :func:`~pipeline.propose_mask` or the scene parser), and the photo's paired with them."""
    small = io.resize_long_side(painting, PROPOSE_SIDE) if max(painting.size) > PROPOSE_SIDE else painting
    pixels = np.asarray(small.convert("RGB"))
    regions = semantic_mask(pixels, *semantic) if semantic is not None else propose_mask(pixels)
    palette = Palette(regions.names, regions.colours)
    full = Image.fromarray(regions.labels, mode="L").resize(painting.size, Image.Resampling.NEAREST)
    return {
        "painting": Proposal(np.asarray(full), palette),
        "photo": propose(photo, palette, (small, regions.colours[regions.labels]), semantic),
    }


def _by_name(proposal: LabelMap, palette: Palette, groups: Groups) -> np.ndarray | None:
    """The semantic proposal on the palette's labels by name (a group the palette lacks: its nearest
    related group the palette has); None when some group has no stand-in there."""
    present = [proposal.names[i] for i in np.flatnonzero(proposal.counts())]
    chosen = related_label_map(present, palette.names, groups.related)
    index = {name: i for i, name in enumerate(palette.names)}
    lookup = np.zeros(len(proposal.names), np.uint8)
    for name in present:
        target = chosen.get(name, name)
        if target not in index:
            return None
        lookup[proposal.names.index(name)] = index[target]
    return lookup[proposal.labels]


def _paired(
    pixels: np.ndarray, palette: Palette, painting: Image.Image, mask: np.ndarray, *, proposal: LabelMap | None = None
) -> np.ndarray:
    """Proposed regions (one per label, or the semantic groups present) each given the painting's
    region they resemble most."""
    proposal = proposal or propose_mask(pixels, k=len(palette.names))
    small = io.resize_long_side(painting, PAINTING_SIDE) if max(painting.size) > PAINTING_SIDE else painting
    theirs = labels_at(mask, small.size, palette, name="the painting's mask")
    style = LabelMap(theirs, palette.colours, palette.names)
    pairs = match_label_maps(proposal, style, content_image=pixels, style_image=np.asarray(small.convert("RGB")))
    index = {name: i for i, name in enumerate(palette.names)}
    lookup = np.zeros(max(len(proposal.names), 1), np.uint8)
    for i, name in enumerate(proposal.names):
        lookup[i] = index.get(pairs.get(name, palette.names[0]), 0)
    return lookup[proposal.labels]


def uploaded_mask(
    mask: Image.Image,
    size: tuple[int, int],
    palette: Palette | None,
    *,
    picture: str,
    drawn_on: str,
    resized: bool = False,
) -> LabelMap:
    """A visitor's mask (uploaded or painted) of ``picture`` (``size``), checked (drawn for that
    shape, in the style's colours) and cleaned onto its labels; else an :class:`InputError`
    sentence for the page that says to draw it on ``drawn_on``. ``resized``: brought to ``size``
    (nearest), for a picture that was made smaller than the one the mask was drawn on."""
    try:
        check_drawn_for(mask.size, size, mask="Your mask")
    except InputError:
        raise InputError(
            f"The mask is {mask.width} × {mask.height} px, a different shape from {picture} ({size[0]} × {size[1]}); "
            f"please draw the mask on {drawn_on}."
        ) from None
    try:
        cleaned = clean_mask(np.asarray(mask), palette=palette, name="Your mask")
    except InputError as exc:
        raise InputError(f"{exc}.") from None
    if resized and mask.size != size:
        return dataclasses.replace(
            cleaned, labels=np.asarray(Image.fromarray(cleaned.labels).resize(size, Image.Resampling.NEAREST))
        )
    return cleaned
