"""Turning an upload into a stylised image, a bounded number at a time.

Decoding a photo and running the network are what cost memory (a decoded 40-megapixel photo is
120 MB before any activations), so both happen inside a slot: at most ``slots`` requests at once
per process, the rest wait up to ``wait`` seconds and are then told the site is busy. Uploads
waiting for a slot hold only their request body, which Werkzeug spools to disk.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import torch
from PIL import Image

from pipeline import io
from pipeline.errors import Damaged, Empty, InputError, TooLarge, Unsupported
from pipeline.fast import model as fast_model
from pipeline.web.catalog import Style

log = logging.getLogger(__name__)


class Busy(Exception):
    """Every slot stayed taken for the whole wait."""


@dataclass(frozen=True)
class Stylised:
    original: Image.Image  # the photo as stylised: upright, RGB, downscaled
    result: Image.Image
    seconds: float
    mask: Image.Image | None = None  # a guided style's cleaned mask at the photo's size, in its label colours


def human_decode_error(exc: InputError, what: str, max_pixels: int) -> InputError:
    """:func:`pipeline.io.decode_image`'s error (its message written for the command line: it names
    files and flags) as one of the same kind, in a sentence for someone in a browser."""
    if isinstance(exc, TooLarge):
        return TooLarge(
            f"The {what} has more pixels than this site accepts (at most {max_pixels / 1e6:g} megapixels); "
            "please upload a smaller version.",
            limit=max_pixels,
            argument="max_pixels",
        )
    if isinstance(exc, Unsupported):
        return Unsupported(
            f"The {what} is not an image we can read; please upload a PNG, JPEG, WebP, GIF or TIFF file."
        )
    if isinstance(exc, Empty):
        return Empty(f"The {what} is an empty image (zero pixels wide or high).")
    return Damaged(f"The {what} could not be read: the file looks damaged or incomplete. Please export it again.")


def decode_upload(stream: IO[bytes], what: str, max_pixels: int) -> Image.Image:
    """An uploaded file as an upright RGB image (EXIF orientation applied), or an
    :class:`InputError` whose message is a sentence for the page."""
    head = stream.read(1)
    if not head:
        raise Empty(f"The {what} file is empty.")
    stream.seek(0)
    try:
        return io.decode_image(stream, max_pixels=max_pixels, name=what)
    except InputError as exc:
        raise human_decode_error(exc, what, max_pixels) from None


class Stylist:
    def __init__(self, *, slots: int = 2, wait: float = 60.0, max_pixels: int = 40_000_000):
        if slots < 1:
            raise ValueError(f"slots must be >= 1, got {slots}")
        self.slots, self.wait, self.max_pixels = slots, wait, max_pixels
        self._semaphore = threading.BoundedSemaphore(slots)

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        if not self._semaphore.acquire(timeout=self.wait):
            raise Busy
        try:
            yield
        finally:
            self._semaphore.release()

    def stylize(
        self,
        style: Style,
        photo: IO[bytes],
        *,
        size: int,
        keep_colours: bool = False,
        strength: float = 1.0,
        mask: IO[bytes] | None = None,
    ) -> Stylised:
        """Decode ``photo`` (and ``mask`` for a guided style), shrink its long side to at most
        ``size`` (never enlarge), and paint it in ``style`` (``strength``: blended with the photo,
        as the command line's ``--strength``)."""
        if style.guided and mask is None:
            raise InputError(f"The style “{style.name}” paints region by region: please add the photo’s mask.")
        with self.slot():
            started = time.perf_counter()
            image = decode_upload(photo, "photo", self.max_pixels)
            if max(image.size) > size:
                image = io.resize_long_side(image, size)
            tensor = io.image_to_tensor(image)
            guides, cleaned = None, None
            if style.guided:
                assert mask is not None
                mask_image = decode_upload(mask, "mask", self.max_pixels)
                # (width, height): the mask is resized to the photo as stylised.
                guides = fast_model.content_guides(style.model, mask_image, image.size)
                cleaned = _label_image(style, guides)
            result = fast_model.paint(style.network, tensor, guides, preserve_color=keep_colours, strength=strength)
            seconds = time.perf_counter() - started
        log.info("stylised %dx%d in %s in %.2f s", *image.size, style.key, seconds)
        return Stylised(image, io.tensor_to_image(result), seconds, cleaned)


def _label_image(style: Style, guides: torch.Tensor) -> Image.Image:
    """The mask the guides were made from (one channel per label, one-hot) in the labels' colours."""
    palette = fast_model.labels_of(style.model.info)
    assert palette is not None  # a guided style has labels
    labels = guides[0].argmax(dim=0).to(torch.uint8).cpu().numpy()
    return Image.fromarray(palette.colours[labels], mode="RGB")
