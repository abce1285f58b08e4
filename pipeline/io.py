"""Images in and out: safe loading, resizing, tensors, and atomic saving.

Loading turns whatever people feed us (phone photos with EXIF rotation, greyscale scans, RGBA
PNGs, palette GIFs, CMYK JPEGs from print workflows, 16-bit PNGs and TIFFs) into 8-bit RGB, and
refuses files that are not images, are truncated, or would decode into more pixels than
``max_pixels`` (decompression bombs). Every failure is an :class:`InputError` naming the file.

Saving writes to a temporary file beside the target and renames it into place, so an
interrupted run never leaves a half-written image where a finished one is expected.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import secrets
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple

import numpy as np
from PIL import Image, ImageCms, ImageOps, PngImagePlugin

from pipeline.errors import Damaged, Empty, InputError, Unsupported, check_pixels

if TYPE_CHECKING:  # torch is imported where tensors are made: light verbs should not pay for it
    import torch

#: Default ceiling on decoded pixels (width × height): about a 16k × 12k photo. Above this a
#: file is far more likely a decompression bomb than a photo anyone wants repainted.
log = logging.getLogger(__name__)

MAX_PIXELS = 200_000_000

SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


def load_image(
    path: str | os.PathLike[str],
    *,
    size: int | None = None,
    max_pixels: int = MAX_PIXELS,
) -> Image.Image:
    """Read ``path`` as an 8-bit RGB image, upright, optionally resized to long side ``size``."""
    return read_image(path, size=size, max_pixels=max_pixels).image


class LoadedImage(NamedTuple):
    image: Image.Image  # upright 8-bit RGB, resized if asked (transparency composited on white)
    sha256: str  # of the file's bytes, the very bytes decoded
    original_size: tuple[int, int]  # (width, height) before resizing
    alpha: Image.Image | None = None  # the transparency ("L", as ``image``), None when opaque


def read_image(
    path: str | os.PathLike[str],
    *,
    size: int | None = None,
    max_pixels: int = MAX_PIXELS,
) -> LoadedImage:
    """:func:`load_image`, plus the SHA-256 of the bytes decoded (read once, so they match) and
    the size before resizing."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected an image file")
    try:
        data = path.read_bytes()
    except PermissionError:
        raise InputError(f"{path}: permission denied; check the file's permissions") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not data:
        raise Empty(f"{path}: file is empty (0 bytes); re-export the image")
    image, alpha = _decode(io.BytesIO(data), max_pixels=max_pixels, name=str(path))
    original_size = image.size
    if size is not None:
        if size <= 0:
            raise InputError(f"size must be a positive number of pixels, got {size}")
        width, height = image.size
        scale = size / max(width, height)
        fix = "use a smaller size (or raise the pixel limit)"
        check_pixels(f"{path} at size {size}", round(width * scale), round(height * scale), max_pixels, fix=fix)
        image = resize_long_side(image, size)
        alpha = resize_long_side(alpha, size) if alpha is not None else None
    return LoadedImage(image, hashlib.sha256(data).hexdigest(), original_size, alpha)


def decode_image(fh: IO[bytes], *, max_pixels: int = MAX_PIXELS, name: str = "image") -> Image.Image:
    """Decode an open binary stream into an upright 8-bit RGB image (see :func:`load_image`)."""
    return _decode(fh, max_pixels=max_pixels, name=name)[0]


def _decode(fh: IO[bytes], *, max_pixels: int, name: str) -> tuple[Image.Image, Image.Image | None]:
    """The upright RGB image, and its alpha channel when it has transparency."""
    with _decoding(name):
        image = _opened(fh, max_pixels=max_pixels, name=name)
        image.load()
        upright = ImageOps.exif_transpose(image)
        return to_rgb(upright), _alpha(upright)


def image_size(path: str | os.PathLike[str], *, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """An image file's (width, height) as stored, from its header alone, checked as
    :func:`read_image` checks it (a file that is no image, or has too many pixels, is an
    :class:`InputError` naming it)."""
    with _decoding(str(path)), open(path, "rb") as fh, _opened(fh, max_pixels=max_pixels, name=str(path)) as image:
        return image.size


@contextlib.contextmanager
def _decoding(name: str) -> Iterator[None]:
    """Pillow's errors for a file that is no image, or a damaged one, as one :class:`InputError` line."""
    try:
        yield
    except Image.UnidentifiedImageError:
        raise Unsupported(f"{name}: not an image file Pillow can read (PNG, JPEG, TIFF, ...)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        # Pillow reports truncation and corrupt chunks as OSError/SyntaxError/ValueError.
        raise Damaged(f"{name}: cannot decode image ({exc}); the file is truncated or corrupt") from None


def _opened(fh: IO[bytes], *, max_pixels: int, name: str) -> Image.Image:
    """The image in ``fh``, its header read and its size checked; nothing decoded yet."""
    _register_heif_if_needed(fh, name)
    image = _open_without_pillow_limit(fh)
    width, height = image.size
    if width <= 0 or height <= 0:
        raise Empty(f"{name}: image has zero size ({width}x{height})")
    check_pixels(
        name, width, height, max_pixels, fix="downscale it first (or raise the pixel limit if you trust the file)"
    )
    return image


#: ISO-BMFF brands of HEIF images (what iPhones save as .heic).
HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1")


#: What a picture file starts with (PNG, JPEG, GIF, WebP, TIFF, BMP).
_PICTURE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"RIFF", b"II*\x00", b"MM\x00*", b"BM")
#: ISO media brands of still pictures (HEIF/HEIC, AVIF); other brands are MP4 and MOV clips.
_PICTURE_BRANDS = (*HEIF_BRANDS, b"avif", b"avis")


def is_picture(stream: IO[bytes]) -> bool:
    """Whether a file looks like a still picture rather than a clip, by its first bytes (the stream
    is rewound). An empty file counts as a picture, so that the picture path says it is empty."""
    head = stream.read(12)
    stream.seek(0)
    if not head:
        return True
    if head.startswith(b"RIFF"):
        return head[8:12] == b"WEBP"  # RIFF is also AVI's container
    if head[4:8] == b"ftyp":  # ISO media: HEIC and AVIF photos, else MP4 and MOV clips
        return head[8:12] in _PICTURE_BRANDS
    return head.startswith(_PICTURE_MAGIC)


def _register_heif_if_needed(fh: IO[bytes], name: str) -> None:
    """Pillow reads HEIF only through the pillow-heif plug-in (the optional ``heif`` extra):
    registered when a HEIF file comes, and named when it is missing."""
    position = fh.tell()
    header = fh.read(12)
    fh.seek(position)
    if header[4:8] != b"ftyp" or header[8:12] not in HEIF_BRANDS:
        return
    try:
        import pillow_heif
    except ImportError:
        raise InputError(
            f"{name}: a HEIC/HEIF photo, which needs the heif extra: pip install 'stylesnake[heif]' "
            "(or convert it to JPEG or PNG)"
        ) from None
    pillow_heif.register_heif_opener()


_PILLOW_LIMIT_LOCK = threading.Lock()


def _open_without_pillow_limit(fh: IO[bytes]) -> Image.Image:
    """``Image.open`` with Pillow's own bomb limit (179 M pixels) lifted: ``max_pixels`` is ours to
    set, in both directions. Opening reads only the header; the lock keeps the global swap safe
    between threads (the web app decodes uploads concurrently)."""
    with _PILLOW_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            return Image.open(fh)
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _alpha(image: Image.Image) -> Image.Image | None:
    """The alpha channel of an image with transparency that is not all opaque, else None."""
    if image.mode not in ("RGBA", "LA", "PA", "RGBa", "La") and not (
        image.mode in ("P", "L", "RGB") and "transparency" in image.info
    ):
        return None
    alpha = image.convert("RGBA").getchannel("A")
    return alpha if int(np.asarray(alpha).min()) < 255 else None


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB: alpha composited on white, 16-bit scaled, CMYK via ICC."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # Pillow's own convert("L") clips 16-bit values at 255 instead of scaling them.
        grey = np.asarray(image, dtype=np.float64)
        scale = 65535.0 if grey.max(initial=0) <= 65535 else float(grey.max())
        grey = np.clip(np.round(grey / scale * 255.0), 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if mode == "F":
        grey = np.asarray(image, dtype=np.float64)
        if grey.max(initial=0) <= 1.0:
            grey = grey * 255.0
        grey = np.clip(np.round(grey), 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if mode == "CMYK":
        return _cmyk_to_rgb(image)
    if mode == "P":
        # Palette images may carry transparency; go through RGBA so it is honoured.
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _cmyk_to_rgb(image: Image.Image) -> Image.Image:
    # Print-workflow CMYK files usually embed an ICC profile; honour it when we can, because the
    # naive formula Pillow falls back to shifts colours visibly.
    icc = image.info.get("icc_profile")
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            target = ImageCms.createProfile("sRGB")
            converted = ImageCms.profileToProfile(image, source, target, outputMode="RGB")
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass
    return image.convert("RGB")


def resize_long_side(image: Image.Image, size: int) -> Image.Image:
    """Resize so the longer side is ``size`` pixels, keeping the aspect ratio."""
    if size <= 0:
        raise InputError(f"size must be a positive number of pixels, got {size}")
    width, height = image.size
    scale = size / max(width, height)
    new = (max(1, round(width * scale)), max(1, round(height * scale)))
    if new == image.size:
        return image
    return image.resize(new, Image.Resampling.LANCZOS)


def image_to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB image → float tensor of shape (1, 3, H, W) with values in [0, 1]."""
    import torch

    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def tensor_to_image(tensor: torch.Tensor) -> Image.Image:
    """(1, 3, H, W) or (3, H, W) tensor in [0, 1] → RGB image (values clamped, rounded)."""
    if tensor.dim() == 4:
        if tensor.shape[0] != 1:
            raise ValueError(f"expected a batch of one image, got {tensor.shape[0]}")
        tensor = tensor[0]
    array = tensor.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array, mode="RGB")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary file name beside ``path``, renamed to ``path`` when the block succeeds and
    removed otherwise: a reader never sees half a file (for writers that open files themselves)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """A temporary file beside ``path``, open for writing; on success synced and renamed to
    ``path``, else deleted (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        # os.open with 0o666 honours the umask (mkstemp would make every output 0600).
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())


def save_format(path: str | os.PathLike[str]) -> str:
    """The Pillow format for ``path``'s extension, or an :class:`InputError` for unknown ones."""
    suffix = Path(path).suffix.lower()
    if suffix not in SAVE_FORMATS:
        known = ", ".join(sorted(SAVE_FORMATS))
        raise InputError(f"{path}: cannot save as '{suffix or '(no extension)'}'; use one of {known}")
    return SAVE_FORMATS[suffix]


PNG_COMPRESSION = 4  #: zlib's level for results: twice as fast as 6, 1–3 % larger (design notes)


def encode_image(
    image: Image.Image | torch.Tensor,
    path: str | os.PathLike[str],
    *,
    metadata: Mapping[str, str] | None = None,
    quality: int = 95,
    alpha: Image.Image | None = None,
) -> bytes:
    """The bytes of ``image`` in the format ``path``'s extension names (PNG or JPEG); ``metadata``
    goes into PNG text chunks or the JPEG comment, so a file separated from its JSON sidecar still
    says how it was made. ``alpha`` (resized to the image) makes a PNG transparent; JPEG has none."""
    if not isinstance(image, Image.Image):
        image = tensor_to_image(image)
    fmt = save_format(path)
    if alpha is not None and fmt == "PNG":
        image = image.copy()
        image.putalpha(alpha if alpha.size == image.size else alpha.resize(image.size, Image.Resampling.LANCZOS))
    options: dict[str, Any] = {}
    if fmt == "PNG":
        options["compress_level"] = PNG_COMPRESSION
        if metadata:
            info = PngImagePlugin.PngInfo()
            for key, value in metadata.items():
                info.add_itxt(key, value)
            options["pnginfo"] = info
    else:
        options.update(quality=quality, subsampling=0 if quality >= 90 else 2)
        if metadata:
            options["comment"] = json.dumps(dict(metadata), sort_keys=True)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


ALPHA_MODES = ("keep", "drop")


def kept_alpha(loaded: LoadedImage, out: str | os.PathLike[str], mode: str) -> Image.Image | None:
    """The alpha a result of ``loaded`` keeps (``mode`` keep or drop): none for an opaque input, and
    none in a JPEG (which cannot hold it; said once, so a user can ask for PNG)."""
    if mode not in ALPHA_MODES:
        raise InputError(f"alpha must be one of {', '.join(ALPHA_MODES)}, got '{mode}'")
    if mode == "drop" or loaded.alpha is None:
        return None
    if save_format(out) != "PNG":
        log.warning("%s: JPEG has no transparency; the transparent parts are white (write .png to keep them)", out)
        return None
    return loaded.alpha


def save_image(
    image: Image.Image | torch.Tensor,
    path: str | os.PathLike[str],
    *,
    metadata: Mapping[str, str] | None = None,
    quality: int = 95,
) -> None:
    """Save by extension (PNG or JPEG), atomically (see :func:`encode_image`)."""
    write_bytes(path, encode_image(image, path, metadata=metadata, quality=quality))


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically; a failure is an :class:`InputError` naming the path."""
    try:
        with atomic_write(path) as fh:
            fh.write(data)
    except OSError as exc:
        raise InputError(
            f"{path}: cannot write ({exc.strerror or exc}); check the folder is writable and the disk has space"
        ) from None


def json_bytes(data: Mapping[str, Any]) -> bytes:
    """Indented, strict JSON (NaN and infinity are refused, as JSON itself refuses them)."""
    return (json.dumps(data, indent=2, allow_nan=False) + "\n").encode()
