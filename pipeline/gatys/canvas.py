"""The canvas of a transfer. What is optimised is the image and a free margin of :data:`CANVAS_MARGIN`
px around it, cut off at the end by :func:`pipeline.gatys.transfer.transfer`. Without it every
result had a coloured fringe one or two pixels wide: the outermost pixel jumping from its neighbour
1.5–7× as much as neighbours do inside (:func:`pipeline.synthetic.measures.edge_jumps`; chelsea ×
hubble_deep_field, random VGG-19, 128 px: 3.8×). The cause is the Gram loss at relu1_1 (with it
alone: 6.9×; relu2_1–relu5_1 without it: 1.5×): the 3×3 windows of conv1_1 that straddle the border
see the padding (VGG's zeros, the ImageNet mean colour), windows unlike any the style holds, and the
cheapest way to make their features look like the style's is to repaint the one pixel row they
share, the outermost. Other paddings in every conv only weaken the fringe (reflect 2.5×, replicate
2.0×, circular 1.4×, and change every feature, fast-style training's included), and so does leaving
those windows out of relu1_1's Gram (3.0×: the outermost row is then seen by one window row instead
of two); it is neither the optimiser (Adam, which clamps every step: 2.7×), nor the start (noise:
4.0×), nor total variation (off by default), nor the resize (the content's own border: 1.0×). On a
canvas the straddling windows take the margin's pixels, which nothing keeps, so the image's border
is optimised like its interior (margin 1 px: 2.1×; 2: 1.3×; 4: 1.3×; 8: 1.2×;
benchmarks/bench_edges.py measures pairs it was not chosen on). The margin starts as the content
(and the starting image, and the region guides) mirrored at the border; it adds its content loss and
its share of the Gram statistics, so the loss history is the canvas's.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

#: Pixels of free canvas optimised around the image on every side and cut off at the end (see the
#: module docstring): twice the fringe's depth (1–2 px; 2 px left it on some results). It costs
#: (1 + 8/W)(1 + 8/H) the pixels of the image: +4 % at 512×341, +8 % at 256×171, +17 % at 128×85.
#: It leaves the calmer band along the border that the deeper layers' padding makes (within ~10 px,
#: texture ~0.85× the interior's; with ``pooling="avg"`` a band 6–8 px deep clamped to black, which
#: a 12 px margin removes).
CANVAS_MARGIN = 4


def margin_for(shape: Sequence[int], margin: int = CANVAS_MARGIN) -> int:
    """The canvas margin of an image of ``shape`` (…, H, W): ``margin``, or less where the image
    is too small to mirror that much (under ``margin`` + 1 px a side)."""
    return max(0, min(margin, shape[-2] - 1, shape[-1] - 1))


def canvas_shape(shape: Sequence[int], margin: int = CANVAS_MARGIN) -> tuple[int, ...]:
    """The shape of the canvas :func:`transfer` optimises for an image of ``shape`` (…, H, W)."""
    m = margin_for(shape, margin)
    return (*shape[:-2], shape[-2] + 2 * m, shape[-1] + 2 * m)


def extend(image: torch.Tensor, margin: int) -> torch.Tensor:
    """``image`` (…, H, W) on a canvas ``margin`` px larger on every side, mirrored at the border
    (the border pixel itself not repeated); ``margin`` must be smaller than H and W."""
    if margin == 0:
        return image
    flat = image.reshape(-1, *image.shape[-3:]) if image.dim() >= 3 else image[None, None]
    extended = F.pad(flat, (margin,) * 4, mode="reflect")
    return extended.reshape(*image.shape[:-2], *extended.shape[-2:])


def crop(image: torch.Tensor, margin: int) -> torch.Tensor:
    """The image on a canvas made by :func:`extend` (a view)."""
    if margin == 0:
        return image
    return image[..., margin:-margin, margin:-margin]
