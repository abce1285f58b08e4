"""Instant style on stills: any painting, one forward pass per photo (one per region vector when
guided), no training and no optimisation (:mod:`pipeline.arbitrary.networks`).

Several paintings mix by weight in the style vector's space, as Ghiasi et al. interpolate styles.
The photo is stylised at its own size (or ``size``), and what users know from ``stylize`` means
the same here: ``strength`` blends the result over the photo, ``preserve_color`` keeps the
photo's colours under the result's luminance, ``alpha`` keeps or drops a transparent photo's
alpha. Plain runs load no torch: those two options do, when asked for.
"""

from __future__ import annotations

import logging
import math
import os
import platform
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from pipeline import io, outputs, record
from pipeline.arbitrary.networks import Networks, check_fits, open_networks
from pipeline.arbitrary.regions import feathered, region_square, region_vectors
from pipeline.errors import InputError, Mismatch, option
from pipeline.masks.palette import LabelMap
from pipeline.version import code_version

if TYPE_CHECKING:  # the pairing loads OpenCV; a plain run needs neither
    from pipeline.masks.pairs import Guidance, Paired

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
Picture = np.ndarray | Image.Image
#: The method's name in records.
METHOD = "ghiasi2017-instant"


def instant(
    photo: Picture,
    paintings: Picture | Sequence[Picture],
    *,
    blend: Sequence[float] | None = None,
    content_mask: LabelMap | None = None,
    style_masks: Sequence[LabelMap] | None = None,
    label_map: Mapping[str, str] | None = None,
    strength: float = 1.0,
    preserve_color: bool = False,
    device: str = "auto",
) -> np.ndarray:
    """``photo`` in the style of ``paintings`` (one, or several mixed by ``blend``), as an (H, W, 3)
    uint8 array at the photo's size. With ``content_mask`` and one ``style_masks`` per painting
    (label maps, e.g. from :func:`~pipeline.masks.clean_mask`), each region of the photo takes the
    style of its region of the paintings, paired by name or colour or by ``label_map``. ``device``:
    the CPU (onnxruntime), or a GPU (the PyTorch port; ``auto`` where an NVIDIA driver is present).

    Example (the real networks: ``pip install 'stylesnake[instant]'``)::

        >>> from pipeline import instant
        >>> from pipeline.samples import sample_image
        >>> result = instant(sample_image("chelsea"), sample_image("hubble_deep_field"))
        >>> result.shape, result.dtype
        ((300, 451, 3), dtype('uint8'))
    """
    pictures = [paintings] if isinstance(paintings, np.ndarray | Image.Image) else list(paintings)
    weights = check_blend(blend, len(pictures))
    check_strength(strength)
    arrays = [_rgb(picture) for picture in pictures]
    networks = open_networks(device=device)
    image = _rgb(photo)
    paired = _paired(image, arrays, content_mask, style_masks, label_map)
    result = Vectors(networks, arrays, weights).paint(image, paired)
    return finish(result, image, strength=strength, preserve_color=preserve_color)


def _paired(
    photo: np.ndarray,
    paintings: Sequence[np.ndarray],
    content_mask: LabelMap | None,
    style_masks: Sequence[LabelMap] | None,
    label_map: Mapping[str, str] | None,
) -> Paired | None:
    """The masks paired, each checked to be its picture's size; None without a content mask."""
    if content_mask is None:
        return None
    if style_masks is None or len(style_masks) != len(paintings):
        raise Mismatch(f"{len(paintings)} painting(s) need as many style masks, one each")
    from pipeline.masks.pairs import Paired, pair_regions  # deferred: OpenCV, for regions only

    for mask, picture in zip([content_mask, *style_masks], [photo, *paintings], strict=True):
        if mask.labels.shape != picture.shape[:2]:
            raise Mismatch(
                f"a mask of {mask.labels.shape[1]}x{mask.labels.shape[0]} px for a picture of "
                f"{picture.shape[1]}x{picture.shape[0]} px; give each mask at its picture's size"
            )
    return Paired(content_mask, tuple(style_masks), pair_regions(content_mask, style_masks, label_map=label_map))


class Vectors:
    """The style vectors of a set of paintings, each computed once however many photos and
    regions ask for it, and photos painted with them: region by region in one pass (per-region
    instance-norm statistics, :mod:`pipeline.arbitrary.regional`), or with ``one_pass=False`` one
    pass per region laid together under the masks (what the benchmark compares it with)."""

    def __init__(
        self, networks: Networks, paintings: Sequence[np.ndarray], blend: Sequence[float], *, one_pass: bool = True
    ) -> None:
        self.networks, self.paintings, self.blend, self.one_pass = networks, list(paintings), list(blend), one_pass
        self._whole: np.ndarray | None = None
        self._regions: dict[tuple[int, int], np.ndarray] = {}

    def whole(self) -> np.ndarray:
        """The paintings' vectors mixed by their weights."""
        if self._whole is None:
            mixed = np.zeros(0, np.float32)
            for painting, weight in zip(self.paintings, self.blend, strict=True):
                if weight:
                    vector = np.float32(weight) * self.networks.style_vector(painting)
                    mixed = vector if not mixed.size else mixed + vector
            self._whole = mixed / np.float32(sum(self.blend))
        return self._whole

    def of(self, paired: Paired) -> Callable[[int, int], np.ndarray]:
        """Painting ``i``'s vector of its label ``source`` under ``paired`` (the whole painting's
        for :data:`~pipeline.masks.pairs.WHOLE`), each computed once."""

        from pipeline.masks.pairs import WHOLE  # deferred: OpenCV, for regions only

        def vector_of(i: int, source: int) -> np.ndarray:
            if (i, source) not in self._regions:
                labels = paired.styles[i]
                if source == WHOLE or not isinstance(labels, LabelMap):
                    square = self.paintings[i]
                else:
                    square = region_square(self.paintings[i], labels.labels == source)
                self._regions[i, source] = self.networks.style_vector(square)
            return self._regions[i, source]

        return vector_of

    def paint(self, photo: np.ndarray, paired: Paired | None, name: str = "the photo") -> np.ndarray:
        """``photo`` (uint8, called ``name`` in errors) stylised: by the mixed vector, or region by
        region as ``paired``; a photo too large for this machine's memory is :class:`TooLarge`."""
        check_fits(photo.shape[1], photo.shape[0], name)
        image = photo.astype(np.float32) / 255
        if paired is None:
            return self.networks.transform(image, self.whole())
        vectors = region_vectors(self.of(paired), paired.pairing, self.blend)
        weights = feathered(paired.content, paired.pairing)
        if self.one_pass:
            return self.networks.transform_regions(image, vectors, weights)
        result = np.zeros_like(image)
        for vector, weight in zip(vectors, weights, strict=True):
            result += weight[..., None] * self.networks.transform(image, vector)
        return result


def finish(result: np.ndarray, photo: np.ndarray, *, strength: float, preserve_color: bool) -> np.ndarray:
    """The network's output (H, W, 3 float in [0, 1]) as a user asks for it: the photo's colours
    under its luminance, over the photo at ``strength``; uint8."""
    if preserve_color or strength < 1:
        import torch  # deferred: plain runs need no torch

        from pipeline.core.color import blend_strength, recombine

        tensor = torch.from_numpy(np.ascontiguousarray(result)).permute(2, 0, 1)[None]
        original = torch.from_numpy(photo.astype(np.float32) / 255).permute(2, 0, 1)[None]
        if preserve_color:
            tensor = recombine(tensor, original).clamp(0, 1)
        result = blend_strength(tensor, original, strength)[0].permute(1, 2, 0).numpy()
    return (np.clip(result, 0, 1) * 255 + 0.5).astype(np.uint8)


def check_blend(blend: Sequence[float] | None, count: int) -> list[float]:
    """One finite, non-negative weight per painting, not all 0 (equal when not given)."""
    if blend is None:
        return [1.0] * count
    weights = [float(w) for w in blend]
    if len(weights) != count:
        raise Mismatch(f"{option('style_blend')} gives {len(weights)} weight(s) for {count} painting(s)")
    if not all(math.isfinite(w) and w >= 0 for w in weights) or sum(weights) <= 0:
        raise InputError(f"{option('style_blend')} weights must be numbers >= 0, not all 0; got {blend}")
    return weights


def check_strength(strength: float) -> None:
    if not (math.isfinite(strength) and 0 <= strength <= 1):
        raise InputError(f"{option('strength')} must be a number from 0 (the photo) to 1 (full style), got {strength}")


def _rgb(picture: Picture) -> np.ndarray:
    array = np.asarray(picture.convert("RGB") if isinstance(picture, Image.Image) else picture)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise InputError(f"a picture must be RGB uint8 (H, W, 3), got {array.dtype} {array.shape}")
    return array


def instant_files(
    paintings: Sequence[PathLike],
    contents: Sequence[PathLike],
    outs: Sequence[PathLike],
    *,
    blend: Sequence[float] | None = None,
    guidance: Guidance | None = None,
    size: int | None = None,
    strength: float = 1.0,
    preserve_color: bool = False,
    max_pixels: int = io.MAX_PIXELS,
    alpha: str = "keep",
    device: str = "auto",
) -> list[dict[str, Any]]:
    """Stylise each photo of ``contents`` into its output in ``outs`` (PNG/JPEG by extension, a
    JSON sidecar beside it) in the style of ``paintings`` (mixed by ``blend``); with ``guidance``
    (the photos' mask and the paintings' masks), region by region. ``size`` resizes the photo's
    long side first. Everything is checked before the first photo is stylised.

    Example::

        >>> from pipeline import instant_files
        >>> from pipeline.samples import sample_image
        >>> sample_image("chelsea").save("photo.png"); sample_image("hubble_deep_field").save("painting.png")
        >>> [made] = instant_files(["painting.png"], ["photo.png"], ["photo_instant.png"], size=128)
        >>> made["method"], made["output"]["width"], made["networks"]["licence"].split()[0]
        ('ghiasi2017-instant', 128, 'Apache-2.0')
    """
    weights = check_blend(blend, len(paintings))
    check_strength(strength)
    _check_files(paintings, contents, outs, guidance)
    networks = open_networks(device=device)
    styles = [io.read_image(p, max_pixels=max_pixels) for p in paintings]
    vectors = Vectors(networks, [np.asarray(s.image) for s in styles], weights)
    # Each result is encoded and written while the next photo is painted (PNG encoding leaves
    # Python's lock); one writer, so the files appear in order, each whole.
    with ThreadPoolExecutor(max_workers=1) as writer:
        pending = [
            writer.submit(_write, *made)
            for made in _made(paintings, styles, vectors, contents, outs, guidance=guidance, size=size,
                              strength=strength, preserve_color=preserve_color, max_pixels=max_pixels, alpha=alpha)
        ]  # fmt: skip
        written = [future.result() for future in pending]
    return written


def _made(
    paintings: Sequence[PathLike],
    styles: Sequence[io.LoadedImage],
    vectors: Vectors,
    contents: Sequence[PathLike],
    outs: Sequence[PathLike],
    *,
    guidance: Guidance | None,
    size: int | None,
    strength: float,
    preserve_color: bool,
    max_pixels: int,
    alpha: str,
) -> Iterator[tuple[PathLike, Image.Image, dict[str, Any], dict[str, str], Image.Image | None]]:
    """Each photo painted: its output path, image, record, the image's own summary and its alpha."""
    networks, weights = vectors.networks, vectors.blend
    for content_path, out in zip(contents, outs, strict=True):
        content = io.read_image(content_path, size=size, max_pixels=max_pixels)
        paired = guidance.paired(content, styles, max_pixels=max_pixels) if guidance is not None else None
        started = time.perf_counter()
        photo = np.asarray(content.image)
        painted = vectors.paint(photo, paired, str(content_path))
        image = Image.fromarray(finish(painted, photo, strength=strength, preserve_color=preserve_color))
        seconds = time.perf_counter() - started
        parameters = {"size": size, "strength": strength, "preserve_color": preserve_color, "alpha": alpha,
                      "blend": weights}  # fmt: skip
        header = record.header(METHOD + ("+guided" if paired else ""), None)
        metadata = {
            **header,
            "parameters": parameters,
            "networks": networks.record,
            "styles": [{"path": str(p), "sha256": s.sha256} for p, s in zip(paintings, styles, strict=True)],
            "content": {"path": str(content_path), "sha256": content.sha256},
            "guidance": _guidance_record(guidance, paired),
            "output": {"path": str(out), "width": image.width, "height": image.height},
            **_environment(networks.record["device"]),
            "seconds": round(seconds, 4),
        }
        yield out, image, metadata, record.summary(header, parameters), io.kept_alpha(content, out, alpha)


def _write(
    out: PathLike, image: Image.Image, metadata: dict[str, Any], summary: dict[str, str], alpha: Image.Image | None
) -> dict[str, Any]:
    record.write(out, io.encode_image(image, out, metadata=summary, alpha=alpha), metadata)
    log.info("wrote %s (%.2f s)", out, metadata["seconds"])
    return metadata


def _check_files(
    paintings: Sequence[PathLike], contents: Sequence[PathLike], outs: Sequence[PathLike], guidance: Guidance | None
) -> None:
    """Before any photo is stylised: outputs that can be written and overwrite no input."""
    if len(outs) != len(contents):
        raise Mismatch(f"{len(contents)} photo(s) but {len(outs)} output(s)")
    for out in outs:
        io.save_format(out)
        outputs.check_writable(out)
    masks = [guidance.content_mask, *guidance.style_masks] if guidance is not None else []
    outputs.check_outputs(
        [*outs, *map(record.sidecar_path, outs)], [*paintings, *contents, *masks], sources=[*contents, *contents]
    )


def _guidance_record(guidance: Guidance | None, paired: Paired | None) -> dict[str, Any] | None:
    if guidance is None or paired is None:
        return None
    return {
        "content_mask": str(guidance.content_mask),
        "style_masks": [str(m) for m in guidance.style_masks],
        "regions": list(paired.pairing.names),
        "label_map": dict(paired.pairing.label_map),
    }


def _environment(device: str) -> dict[str, Any]:
    """The last keys of the record: the code, and what ran the networks (no torch here)."""
    import onnxruntime  # deferred: loaded with the networks already

    return {
        "code": code_version(),
        "device": device,
        "onnxruntime": onnxruntime.__version__,
        "python": platform.python_version(),
    }
