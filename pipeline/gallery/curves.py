"""Loss curves: a run's loss history as a small log-scale plot, SVG for the contact sheet and PNG
for viewers that show no SVG. Pillow only."""

from __future__ import annotations

import html
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from pipeline.errors import InputError

CURVE_COLOURS = {"total": "#222222", "content": "#1f77b4", "style": "#d62728", "tv": "#2ca02c"}


@dataclass(frozen=True)
class _Plot:
    """A loss plot laid out once, drawn as SVG or PNG: log-scale y (the terms span decades)."""

    width: int
    height: int
    title: str
    left: int
    right_edge: int
    axis_y: int
    grid: list[tuple[float, str]]  # (y, label) per power of ten
    ticks: list[tuple[float, str]]  # (x, label) on the step axis
    x_label: str
    lines: list[tuple[str, str, list[tuple[float, float]]]]  # (name, colour, points)


def _plot(history: Mapping[str, Sequence[float]], title: str, x_label: str) -> _Plot:
    width, height, left, right, top, bottom = 560, 300, 64, 110, 28, 40
    series = {
        name: [(i + 1, v) for i, v in enumerate(values) if math.isfinite(v) and v > 0]
        for name, values in history.items()
    }
    series = {name: points for name, points in series.items() if points}
    if not series:
        raise InputError("no positive, finite losses to plot")
    steps = max(len(v) for v in history.values())
    values = [v for points in series.values() for _, v in points]
    low, high = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    high = max(high, low + 1)

    def x(step: float) -> float:
        return left + (width - left - right) * (step - 1) / max(steps - 1, 1)

    def y(value: float) -> float:
        return top + (height - top - bottom) * (high - math.log10(value)) / (high - low)

    return _Plot(
        width=width,
        height=height,
        title=title,
        left=left,
        right_edge=width - right,
        axis_y=height - bottom,
        grid=[(y(10.0**power), f"1e{power}") for power in range(low, high + 1)],
        ticks=[(x(step), str(step)) for step in sorted({1, max(1, steps // 2), steps})],
        x_label=x_label,
        lines=[
            (name, CURVE_COLOURS.get(name, "#9467bd"), [(x(s), y(v)) for s, v in points])
            for name, points in series.items()
        ],
    )


def loss_curve_svg(history: Mapping[str, Sequence[float]], *, title: str = "", x_label: str = "evaluation") -> str:
    """An SVG plot of each loss term per evaluation (or step), on a log scale."""
    plot = _plot(history, title, x_label)
    w, h, left, right = plot.width, plot.height, plot.left, plot.right_edge
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<text x="{left}" y="16" font-size="13">{html.escape(plot.title)}</text>',
    ]
    for yy, label in plot.grid:
        out.append(f'<line x1="{left}" x2="{right}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end">{label}</text>')
    out.append(f'<line x1="{left}" x2="{right}" y1="{plot.axis_y}" y2="{plot.axis_y}" stroke="#888"/>')
    for xx, label in plot.ticks:
        out.append(f'<text x="{xx:.1f}" y="{plot.axis_y + 16}" text-anchor="middle">{label}</text>')
    out.append(f'<text x="{(left + right) / 2}" y="{h - 6}" text-anchor="middle">{html.escape(plot.x_label)}</text>')
    for index, (name, colour, points) in enumerate(plot.lines):
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" points="{path}"/>')
        ly = 42 + 18 * index
        out.append(f'<line x1="{right + 10}" x2="{right + 30}" y1="{ly}" y2="{ly}" stroke="{colour}"/>')
        out.append(f'<text x="{right + 36}" y="{ly + 4}">{html.escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def loss_curve_png(history: Mapping[str, Sequence[float]], *, title: str = "", x_label: str = "step") -> bytes:
    """The same plot as :func:`loss_curve_svg`, as PNG bytes (for viewers that show no SVG)."""
    plot = _plot(history, title, x_label)
    scale = 2  # drawn at twice the size: Pillow draws lines without anti-aliasing
    image = Image.new("RGB", (plot.width * scale, plot.height * scale), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=11 * scale)
    left, right = plot.left * scale, plot.right_edge * scale
    draw.text((left, 4 * scale), plot.title, fill="black", font=ImageFont.load_default(size=13 * scale))
    for yy, label in plot.grid:
        draw.line([(left, yy * scale), (right, yy * scale)], fill="#e5e5e5", width=scale)
        draw.text((left - 6 * scale, yy * scale), label, fill="black", font=font, anchor="rm")
    axis = plot.axis_y * scale
    draw.line([(left, axis), (right, axis)], fill="#888888", width=scale)
    for xx, label in plot.ticks:
        draw.text((xx * scale, axis + 10 * scale), label, fill="black", font=font, anchor="mm")
    draw.text(((left + right) / 2, (plot.height - 10) * scale), plot.x_label, fill="black", font=font, anchor="mm")
    for index, (name, colour, points) in enumerate(plot.lines):
        scaled = [(px * scale, py * scale) for px, py in points]
        if len(scaled) > 1:
            draw.line(scaled, fill=colour, width=2 * scale, joint="curve")
        else:
            draw.point(scaled, fill=colour)
        ly = (42 + 18 * index) * scale
        draw.line([(right + 10 * scale, ly), (right + 30 * scale, ly)], fill=colour, width=2 * scale)
        draw.text((right + 36 * scale, ly), name, fill="black", font=font, anchor="lm")
    buffer = io.BytesIO()
    image.resize((plot.width, plot.height), Image.Resampling.LANCZOS).save(buffer, format="PNG")
    return buffer.getvalue()
