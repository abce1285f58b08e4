"""Showing results: a side-by-side panel per transfer, its loss curve (:mod:`pipeline.gallery.curves`), and a
contact sheet.

Everything here reads what the transfer wrote (the image and its JSON sidecar) and the inputs it
names; nothing is recomputed. Light on purpose (Pillow, no torch): the workflow runs it once per
result and once for the sheet.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from pipeline import io
from pipeline.errors import InputError
from pipeline.gallery.curves import loss_curve_png, loss_curve_svg
from pipeline.record import read_sidecar, sidecar_path

#: The height of a panel's pictures, px.
TILE = 192
#: The text chunk of a panel that names its pictures, left to right: what the contact sheet says it shows.
PANEL_CHUNK = "stylesnake-panel"


def summary(metadata: Mapping[str, Any]) -> str:
    """One line of the parameters that matter most, for captions."""
    p = metadata.get("parameters", {})
    weights = metadata.get("weights", {}).get("kind", "?")
    guide = f"guided ({p.get('guide_mode')})" if metadata.get("method") == "gatys2016-guided" else "unguided"
    kinds = (metadata.get("guidance") or {}).get("mask_kinds") or {}
    named = [kinds.get("content"), *kinds.get("style", [])]
    if any(k and k != "painted" for k in named):  # said where a mask was proposed (semantic or from colours)
        guide += f", masks {' / '.join(str(k) for k in named if k)}"
    return (
        f"{p.get('size')} px, {p.get('steps')} steps, {p.get('optimizer')}, style:content "
        f"{p.get('style_weight', 0):g}:{p.get('content_weight', 0):g}, {p.get('pooling')} pooling, {guide}, "
        f"weights {weights}"
    )


def unseen_notes(metadata: Mapping[str, Any]) -> list[str]:
    """What the contact sheet says of a semantic mask whose parser saw one group over nearly all of
    its picture (a parser trained on photos, shown a painting): the mask did not tell its regions."""
    guidance = metadata.get("guidance") or {}
    seen, kinds = guidance.get("one_group") or {}, guidance.get("mask_kinds") or {}
    styles, style_kinds = seen.get("style") or [], kinds.get("style") or []
    masks = [("content", seen.get("content"), kinds.get("content"))]
    masks += [("style", one, style_kinds[i] if i < len(style_kinds) else None) for i, one in enumerate(styles)]
    notes = []
    for role, one, kind in masks:
        if not one:
            continue
        fix = (  # the workflow's --colours-if-unseen has proposed the regions from colours already
            "proposed from colours instead; paint a mask to choose the regions"
            if kind == "colours"
            else "paint a mask, or propose one from colours"
        )
        notes.append(
            f"the parser saw only {one.get('name')} ({100 * one.get('share', 1):.0f} %) in the {role} image: {fix}"
        )
    return notes


# --- the panel ---------------------------------------------------------------------------------


#: A picture of a strip: a file, an image already in memory, or None (a grey "no mask" tile).
Picture = str | os.PathLike[str] | Image.Image | None


def _tile(path: Picture, label: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont) -> Image.Image:
    if path is None:
        tile = Image.new("RGB", (TILE * 3 // 4, TILE), "#eeeeee")
        ImageDraw.Draw(tile).text((8, TILE // 2 - 8), "no mask", fill="#888888", font=font)
    elif isinstance(path, Image.Image):
        tile = path.convert("RGB").resize(
            (max(1, round(path.width * TILE / path.height)), TILE), Image.Resampling.LANCZOS
        )
    else:
        try:
            with Image.open(path) as image:
                image.draft("RGB", (TILE * 4, TILE * 4))
                tile = image.convert("RGB")
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc})") from None
        tile = tile.resize((max(1, round(tile.width * TILE / tile.height)), TILE), Image.Resampling.LANCZOS)
    framed = Image.new("RGB", (tile.width, TILE + 20), "white")
    framed.paste(tile, (0, 20))
    ImageDraw.Draw(framed).text((2, 2), label, fill="#333333", font=font)
    return framed


def panel(
    result: str | os.PathLike[str],
    content: str | os.PathLike[str],
    style: str | os.PathLike[str],
    *,
    content_mask: str | os.PathLike[str] | None = None,
    style_mask: str | os.PathLike[str] | None = None,
    title: str = "",
) -> Image.Image:
    """The :func:`panel_pictures` side by side (content, style and result; each mask after its
    image when both masks are given), with a caption."""
    font = ImageFont.load_default(size=14)
    paths = {
        "content": content,
        "content mask": content_mask,
        "style": style,
        "style mask": style_mask,
        "result": result,
    }
    sheet = strip([(paths[name], name) for name in panel_pictures(content_mask, style_mask)], below=44)
    draw, gap = ImageDraw.Draw(sheet), STRIP_GAP
    caption = caption_of(read_sidecar(result))
    draw.text((gap, TILE + 20 + gap + 6), title, fill="black", font=font)
    draw.text((gap, TILE + 20 + gap + 24), caption, fill="#555555", font=font)
    return sheet


#: Space between and around a strip's pictures, px.
STRIP_GAP = 8


def strip(pictures: Sequence[tuple[Picture, str]], *, below: int = 0) -> Image.Image:
    """Labelled pictures side by side, each :data:`TILE` px high, on white, with ``below`` px left
    free under them (for a caption)."""
    font = ImageFont.load_default(size=14)
    tiles = [_tile(picture, label, font) for picture, label in pictures]
    gap = STRIP_GAP
    sheet = Image.new(
        "RGB", (sum(t.width for t in tiles) + gap * (len(tiles) + 1), TILE + 20 + 2 * gap + below), "white"
    )
    x = gap
    for tile in tiles:
        sheet.paste(tile, (x, gap))
        x += tile.width + gap
    return sheet


def panel_pictures(
    content_mask: str | os.PathLike[str] | None, style_mask: str | os.PathLike[str] | None
) -> tuple[str, ...]:
    """The pictures of a panel, left to right: the masks only when both are given."""
    if content_mask is not None and style_mask is not None:
        return ("content", "content mask", "style", "style mask", "result")
    return ("content", "style", "result")


def _panel_shows(path: Path) -> str | None:
    """What a panel written by :func:`write_figures` shows (its :data:`PANEL_CHUNK`), or None."""
    try:
        with Image.open(path) as image:  # the chunk comes before the pixels: nothing is decoded
            shows = image.info.get(PANEL_CHUNK)
    except OSError:
        return None
    return shows if isinstance(shows, str) else None


# --- the contact sheet -------------------------------------------------------------------------


def figure_paths(result: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Where a result's panel and loss curve go: beside it (``a__b.png`` → ``a__b.panel.png``, ``a__b.loss.svg``)."""
    result = Path(result)
    return result.with_suffix(".panel.png"), result.with_suffix(".loss.svg")


def _is_fast(metadata: Mapping[str, Any]) -> bool:
    """A fast-style result (``stylesnake stylize``) rather than a Gatys transfer."""
    return str(metadata.get("method", "")).startswith("johnson")


def fast_summary(metadata: Mapping[str, Any]) -> str:
    """One line for a fast-style result's caption: the network, the size, the weights it trained with."""
    p = metadata.get("parameters", {})
    guided = "guided" if metadata.get("method") == "johnson2016+guided" else "unguided"
    colour = ", photo's colours kept" if p.get("preserve_color") else ""
    weights = metadata.get("weights", {}).get("kind", "?")
    return f"fast style ({guided} network), {p.get('size')} px{colour}, loss network weights {weights}"


def _weights_kind(metadata: Mapping[str, Any]) -> str | None:
    """Which VGG weights a result was made with: a record's ``weights`` is their description, or
    (a clip through a fast network) the name its training recorded."""
    weights = metadata.get("weights")
    return str(weights.get("kind")) if isinstance(weights, Mapping) else weights


def _is_instant(metadata: Mapping[str, Any]) -> bool:
    """An instant-style result (``stylesnake stylize --style``): real pretrained networks."""
    return str(metadata.get("method", "")).startswith("ghiasi2017-instant")


def instant_summary(metadata: Mapping[str, Any]) -> str:
    """One line for an instant-style still's caption: regions, size, and whose networks."""
    guidance = metadata.get("guidance") or {}
    regions = f"{len(guidance['regions'])} regions" if guidance.get("regions") else "unguided"
    output = metadata.get("output", {})
    return f"instant style ({regions}), {output.get('width')}x{output.get('height')} px, Magenta's pretrained networks"


def caption_of(metadata: Mapping[str, Any]) -> str:
    """The one-line caption of any still's record: a Gatys transfer, a fast or an instant result."""
    if _is_instant(metadata):
        return instant_summary(metadata)
    return fast_summary(metadata) if _is_fast(metadata) else summary(metadata)


def _is_video(metadata: Mapping[str, Any]) -> bool:
    return str(metadata.get("method", "")).endswith("-video")


def video_summary(metadata: Mapping[str, Any]) -> str:
    """One line for a clip's caption: frames, rate, and how it was held together."""
    video, content = metadata.get("video", {}), metadata.get("content", {})
    if _is_instant(metadata):
        held = f"instant style, flow blend {metadata.get('parameters', {}).get('blend', 0):g}"
    elif "model" in metadata:  # a fast network's: its stability came from training
        trained = metadata["model"].get("training", {}).get("temporal_weight") or 0
        held = f"fast network, trained with temporal weight {trained:g}" if trained else "fast network, frame by frame"
    else:
        weight = video.get("temporal_weight")
        held = "frames independent" if weight == 0 else f"temporal weight {weight:g}, {video.get('flow')} flow"
    fps = content.get("fps")
    return f"clip of {metadata.get('output', {}).get('frames')} frames{f' at {fps:g} fps' if fps else ''}, {held}"


def _figure(result: Path, metadata: Mapping[str, Any], link: Callable[[Path], str]) -> tuple[str, str]:
    """One result's ``<figure>`` and the style it is filed under."""
    content = Path(metadata["content"]["path"]).stem
    links = [f'<a href="{link(result)}">result</a>']
    if _is_video(metadata):  # its poster frame, linked to the clip
        style = metadata["model"]["style"] if "model" in metadata else Path(metadata["styles"][0]["path"]).stem
        what, caption, loss = " (clip)", video_summary(metadata), ""
        poster = Path(metadata.get("output", {}).get("poster") or result)
        shown = poster if poster.exists() else result
        links[0] = f'<a href="{link(result)}">play the clip</a>'
    elif _is_instant(metadata):  # the result itself: no loss, no panel
        style, what, caption, shown, loss = (
            Path(metadata["styles"][0]["path"]).stem,
            " (instant style)",
            instant_summary(metadata),
            result,
            "",
        )
    elif _is_fast(metadata):  # no panel of its own; the network's training curve sits beside the model
        style, what, caption = metadata["model"]["style"], " (fast style)", fast_summary(metadata)
        shown, curve = result, Path(metadata["model"]["path"]).with_suffix(".loss.png")
        links += [f'<a href="{link(curve)}">training curve</a>'] if curve.exists() else []
        loss = ""
    else:
        style, caption = Path(metadata["styles"][0]["path"]).stem, summary(metadata)
        panel_path, curve_path = figure_paths(result)
        shown = panel_path if panel_path.exists() else result
        shows = _panel_shows(panel_path) if shown == panel_path else None
        what = f" (panel: {shows})" if shows else ""  # without a panel, the result itself
        links += [f'<a href="{link(curve_path)}">loss curve</a>'] if curve_path.exists() else []
        final = metadata.get("final_losses", {}).get("total")
        loss = f" · final loss {final:.4g}" if final is not None else ""
        if metadata.get("converged") is False:
            loss += f' · <b class="stalled">not converged: the loss fell by only {metadata["loss_drop"]:.0%}</b>'
        loss += "".join(f' · <b class="stalled">{html.escape(note)}</b>' for note in unseen_notes(metadata))
    links += [f'<a href="{link(sidecar_path(result))}">metadata</a>']
    figure = (
        f'<figure><a href="{link(result)}"><img src="{link(shown)}" loading="lazy" '
        f'alt="{html.escape(content)} in the style of {html.escape(style)}{what}"></a>\n'
        f"<figcaption><b>{html.escape(content)}</b>{what}: {html.escape(caption)}{loss}<br>"
        f"{' · '.join(links)}</figcaption></figure>"
    )
    return style, figure


def contact_sheet(results: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str]) -> str:
    """A plain HTML page of every result, grouped by style: a Gatys transfer's panel (or the result
    itself, when there is none) and a fast-style result's image, each with a caption of its
    parameters and links to the result, its loss curve and metadata. A panel's caption names its
    pictures as the panel recorded them (masks only in a panel drawn with them). Paths are relative
    to ``out``'s folder, so the folder can be copied as it is."""
    base = Path(out).parent

    def link(path: Path) -> str:
        return html.escape(os.path.relpath(path, base))

    groups: dict[str, list[str]] = {}
    instant: list[str] = []
    fast = random = 0
    for result in map(Path, results):
        metadata = read_sidecar(result)
        fast += _is_fast(metadata)
        random += _weights_kind(metadata) == "random"
        style, figure = _figure(result, metadata, link)
        (instant if _is_instant(metadata) and not _is_video(metadata) else groups.setdefault(style, [])).append(figure)
    sections = "\n".join(
        f"<section><h2>Style: {html.escape(style)}</h2>\n" + "\n".join(items) + "\n</section>"
        for style, items in sorted(groups.items())
    )
    if instant:  # first: what real pretrained networks make of every pair
        sections = _instant_section(instant, random) + "\n" + sections
    # Said only when there are fast results, so a Gatys-only sheet stays as it was (tests/golden/record.json).
    fast_note = f" {fast} of them fast style: the stylised image alone." if fast else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Stylesnake results</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
figure {{ margin: 0 0 1.5rem; }} img {{ max-width: 100%; height: auto; border: 1px solid #ddd; }}
figcaption {{ font-size: .9rem; color: #555; }} .stalled {{ color: #b00; }} h2 {{ border-bottom: 1px solid #ddd; }}
</style></head><body>
<h1>Stylesnake results</h1>
<p>{len(results)} result(s), grouped by style.{fast_note}</p>
{sections}
</body></html>
"""


def _instant_section(figures: Sequence[str], random: int) -> str:
    """The sheet's first section: instant-style results, made with real pretrained networks; and,
    when the others were made with random VGG weights, what those are."""
    note = (
        f" The {random} result(s) below it were made with seeded random VGG weights (no ImageNet weights here):"
        " they show the methods at work, not paintings."
        if random
        else ""
    )
    return (
        "<section><h2>Instant style: every pair in one pass, real pretrained networks</h2>\n"
        f"<p>Magenta's arbitrary-style networks (Ghiasi et al. 2017), region by region where the pair has masks.{note}"
        "</p>\n" + "\n".join(figures) + "\n</section>"
    )


def write_figures(
    result: str | os.PathLike[str],
    content: str | os.PathLike[str],
    style: str | os.PathLike[str],
    *,
    content_mask: str | os.PathLike[str] | None = None,
    style_mask: str | os.PathLike[str] | None = None,
    panel_out: str | os.PathLike[str] | None = None,
    curve_out: str | os.PathLike[str] | None = None,
    curve_png_out: str | os.PathLike[str] | None = None,
) -> tuple[Path, Path]:
    """Write a result's panel (PNG) and loss curve (SVG), by default beside it, and given
    ``curve_png_out`` the curve as PNG too (what fast style's training writes); atomically."""
    default_panel, default_curve = figure_paths(result)
    panel_out, curve_out = Path(panel_out or default_panel), Path(curve_out or default_curve)
    metadata = read_sidecar(result)
    title = f"{Path(content).stem} in the style of {Path(style).stem}"
    image = panel(result, content, style, content_mask=content_mask, style_mask=style_mask, title=title)
    shows = ", ".join(panel_pictures(content_mask, style_mask))
    history, curve_title = metadata.get("history", {}), f"{title}: weighted losses"
    io.write_bytes(curve_out, loss_curve_svg(history, title=curve_title).encode())
    if curve_png_out is not None:
        io.write_bytes(curve_png_out, loss_curve_png(history, title=curve_title, x_label="evaluation"))
    io.save_image(image, panel_out, metadata={PANEL_CHUNK: shows})
    return panel_out, curve_out


def write_contact_sheet(results: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str]) -> Path:
    """Write :func:`contact_sheet` to ``out``, atomically."""
    io.write_bytes(out, contact_sheet(results, out).encode())
    return Path(out)
