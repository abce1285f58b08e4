"""Image I/O: every kind of input becomes upright 8-bit RGB; bad files fail clearly; saves are atomic."""

from __future__ import annotations

import hashlib
import io as _io
import json
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageCms

from pipeline import io, outputs
from pipeline.errors import InputError, TooLarge


def _png_with_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width``×``height`` but holds (almost) no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


# --- modes and orientation ---------------------------------------------------------------------


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 10, 20))  # red strip on the left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif, quality=95)
    loaded = io.load_image(path)
    assert loaded.size == (20, 40)
    top = np.asarray(loaded)[2, 10]
    assert top[0] > 200 and top[2] < 60  # the left strip is now at the top


def test_grey_becomes_rgb(tmp_path: Path) -> None:
    path = tmp_path / "grey.png"
    Image.new("L", (8, 6), 77).save(path)
    loaded = io.load_image(path)
    assert loaded.mode == "RGB"
    assert np.all(np.asarray(loaded) == 77)


def test_rgba_is_composited_on_white(tmp_path: Path) -> None:
    array = np.zeros((4, 4, 4), np.uint8)
    array[..., 0] = 255  # red
    array[0, 0, 3] = 0  # fully transparent
    array[0, 1, 3] = 128  # half transparent
    array[0, 2, 3] = 255  # opaque
    path = tmp_path / "rgba.png"
    Image.fromarray(array, "RGBA").save(path)
    pixels = np.asarray(io.load_image(path)).astype(int)
    assert pixels[0, 0].tolist() == [255, 255, 255]
    assert pixels[0, 1, 0] == 255 and abs(pixels[0, 1, 1] - 127) <= 1
    assert pixels[0, 2].tolist() == [255, 0, 0]


def test_palette_with_transparency(tmp_path: Path) -> None:
    image = Image.new("P", (4, 4), 1)
    image.putpalette([0, 0, 0, 0, 128, 0] + [0] * 762)
    image.putpixel((0, 0), 0)
    path = tmp_path / "palette.png"
    image.save(path, transparency=0)
    pixels = np.asarray(io.load_image(path))
    assert pixels[0, 0].tolist() == [255, 255, 255]  # transparent index → white
    assert pixels[1, 1].tolist() == [0, 128, 0]


def test_cmyk_becomes_rgb(tmp_path: Path) -> None:
    image = Image.new("CMYK", (6, 6), (0, 0, 0, 0))  # no ink = white paper
    image.paste((0, 255, 255, 0), (0, 0, 3, 6))  # magenta + yellow = red
    path = tmp_path / "cmyk.jpg"
    image.save(path, quality=95)
    pixels = np.asarray(io.load_image(path)).astype(int)
    assert pixels[0, 5].min() > 240  # white
    assert pixels[0, 0, 0] > 200 and pixels[0, 0, 1] < 60 and pixels[0, 0, 2] < 60  # red


def test_cmyk_with_icc_profile_uses_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = ImageCms.profileToProfile

    def spy(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(ImageCms, "profileToProfile", spy)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    image = Image.new("CMYK", (4, 4), (0, 0, 0, 0))
    path = tmp_path / "cmyk_icc.tif"
    image.save(path, icc_profile=srgb)  # not a CMYK profile: conversion falls back, still RGB
    assert io.load_image(path).mode == "RGB"
    assert calls  # the embedded profile was tried


def test_16bit_grey_is_scaled_not_clipped(tmp_path: Path) -> None:
    array = np.array([[0, 32896, 65535]], dtype=np.uint16)
    path = tmp_path / "grey16.png"
    assert cv2.imwrite(str(path), array)
    pixels = np.asarray(io.load_image(path))
    assert pixels[0, :, 0].tolist() == [0, 128, 255]


def test_16bit_colour_becomes_8bit_rgb(tmp_path: Path) -> None:
    bgr = np.zeros((2, 2, 3), np.uint16)
    bgr[..., 2] = 65535  # red in OpenCV's BGR order
    bgr[..., 1] = 257 * 100
    path = tmp_path / "rgb16.png"
    assert cv2.imwrite(str(path), bgr)
    pixels = np.asarray(io.load_image(path))
    assert pixels[0, 0].tolist() == [255, 100, 0]


def test_resize_keeps_aspect(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    Image.new("RGB", (300, 150)).save(path)
    assert io.load_image(path, size=100).size == (100, 50)
    assert io.load_image(path, size=600).size == (600, 300)
    with pytest.raises(InputError, match="size must be a positive"):
        io.load_image(path, size=0)


def test_tensor_round_trip_is_exact() -> None:
    array = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    tensor = io.image_to_tensor(Image.fromarray(array))
    assert tensor.shape == (1, 3, 5, 7) and tensor.dtype == torch.float32
    assert np.array_equal(np.asarray(io.tensor_to_image(tensor)), array)


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_text("hello, I am not a picture\n"), "not an image"),
        (lambda p: p.write_bytes(_png_with_header(0, 10)), "image.png"),
    ],
    ids=["missing", "directory", "empty", "not-an-image", "zero-width"],
)
def test_bad_files_raise_one_clear_error(tmp_path: Path, make, message: str) -> None:
    path = tmp_path / "image.png"
    make(path)
    with pytest.raises(InputError, match=message) as info:
        io.load_image(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_truncated_image(tmp_path: Path) -> None:
    buffer = _io.BytesIO()
    Image.effect_noise((64, 64), 50).convert("RGB").save(buffer, "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(InputError, match="truncated or corrupt"):
        io.load_image(path)


def test_pixel_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (100, 100)).save(path)
    with pytest.raises(InputError, match="over the limit of 5,000"):
        io.load_image(path, max_pixels=5_000)
    assert io.load_image(path, max_pixels=10_000).size == (100, 100)


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_with_header(100_000, 100_000))  # 10 G pixels claimed, 60 bytes on disk
    with pytest.raises(InputError, match="over the limit"):
        io.load_image(path)


# --- saving ------------------------------------------------------------------------------------


def test_save_by_extension_with_metadata(tmp_path: Path) -> None:
    image = Image.new("RGB", (8, 8), (10, 20, 30))
    io.save_image(image, tmp_path / "a.png", metadata={"stylesnake": '{"weights": "random"}'})
    io.save_image(image, tmp_path / "b.JPG", metadata={"stylesnake": "x"})
    with Image.open(tmp_path / "a.png") as png:
        assert png.format == "PNG"
        assert png.text["stylesnake"] == '{"weights": "random"}'
    with Image.open(tmp_path / "b.JPG") as jpg:
        assert jpg.format == "JPEG"
        assert json.loads(jpg.info["comment"]) == {"stylesnake": "x"}
    with pytest.raises(InputError, match=r"cannot save as '\.bmp'"):
        io.save_image(image, tmp_path / "c.bmp")


def test_interrupted_write_leaves_old_file_and_no_partial(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    io.save_image(Image.new("RGB", (4, 4), (1, 2, 3)), target)
    before = target.read_bytes()

    def interrupted_write() -> None:
        with io.atomic_write(target) as fh:
            fh.write(b"\x89PNG half written")
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted_write()
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_unwritable_output_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(InputError, match="cannot write"):
        io.save_image(Image.new("RGB", (2, 2)), tmp_path / "file" / "x.png")
    with pytest.raises(InputError, match=r"cannot create the output folder, .* is a file"):
        outputs.check_writable(tmp_path / "file" / "sub" / "x.png")
    with pytest.raises(InputError, match="is a directory"):
        outputs.check_writable(tmp_path)


def test_pixel_limit_can_exceed_pillows_own(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    path.write_bytes(_png_with_header(20_000, 10_000))  # 200 M pixels claimed: over Pillow's 179 M
    with pytest.raises(InputError, match="200,000,000 pixels, over the limit of 100,000,000"):
        io.load_image(path, max_pixels=100_000_000)
    with pytest.raises(InputError, match="truncated or corrupt"):  # our limit let it through to decoding
        io.load_image(path, max_pixels=250_000_000)


def test_read_image_hashes_the_bytes_it_decoded(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    Image.new("RGB", (3, 3), (9, 9, 9)).save(path)
    loaded = io.read_image(path, size=6)
    assert loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert loaded.image.size == (6, 6)
    assert loaded.original_size == (3, 3)


def test_resized_size_must_fit_the_pixel_limit(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    Image.new("RGB", (30, 20)).save(path)
    with pytest.raises(TooLarge, match=r"at size 5000: 5000x3333 is 16,665,000 pixels, over the limit of 1,000,000"):
        io.load_image(path, size=5000, max_pixels=1_000_000)


def test_saved_files_honour_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        io.save_image(Image.new("RGB", (2, 2)), tmp_path / "x.png")
    finally:
        os.umask(old)
    assert (tmp_path / "x.png").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
