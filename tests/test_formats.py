"""Inputs people have beyond PNG and JPEG: iPhone photos (HEIC, through the optional heif extra)."""

from __future__ import annotations

import builtins
import io as _bytes
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline import io
from pipeline.errors import InputError

# The first bytes of an iPhone photo: an ISO-BMFF 'ftyp' box of brand 'heic'.
HEIC_HEADER = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"


def test_heic_without_the_extra_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_heif(name: str, *args, **kwargs):
        if name == "pillow_heif":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_heif)
    photo = tmp_path / "IMG_0001.HEIC"
    photo.write_bytes(HEIC_HEADER + b"\x00" * 64)
    with pytest.raises(InputError, match=r"IMG_0001\.HEIC: a HEIC/HEIF photo, which needs the heif extra"):
        io.read_image(photo)


def test_heic_photo_is_read_with_the_extra(tmp_path: Path) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    pixels = np.zeros((48, 64, 3), np.uint8)
    pixels[:, 32:] = (200, 40, 40)
    buffer = _bytes.BytesIO()
    pillow_heif.from_pillow(Image.fromarray(pixels)).save(buffer, quality=95)
    (tmp_path / "photo.heic").write_bytes(buffer.getvalue())
    loaded = io.read_image(tmp_path / "photo.heic")
    assert loaded.image.size == (64, 48)
    assert np.abs(np.asarray(loaded.image, np.int16) - pixels).mean() < 6
