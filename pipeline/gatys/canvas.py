"""The canvas of a transfer: the image optimised with a free margin of :data:`CANVAS_MARGIN` px
around it, cut off at the end by :func:`pipeline.gatys.transfer.transfer`.

Without it every result has a coloured fringe one or two pixels wide: the 3 × 3 windows of conv1_1
that straddle the border see the encoder's padding, windows unlike any the style holds, and the
cheapest way for relu1_1's Gram loss to make them look like the style's is to repaint the one
pixel row they share, the outermost. On a canvas those windows take the margin's pixels, which
nothing keeps, so the image's border is optimised like its interior. The margin starts as the
content (and the starting image, and the region guides) mirrored at the border; it adds its
content loss and its share of the Gram statistics, so the loss history is the canvas's. How the
cause was found and what the margin buys: docs/design-notes.md, "The canvas".
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

#: Pixels of free canvas optimised around the image on every side and cut off at the end.
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
