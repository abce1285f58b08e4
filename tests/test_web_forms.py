"""The web app's fast tab through Flask's test client: the form (page 1), stylising and the result
page with its download (page 2), bad input refused as a page with one sentence (400, 404, 405,
413, 500), results' time to live, and the security headers of every response."""

from __future__ import annotations

import io as _bytes_io
import os
import re
import time
from html import unescape
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline import io
from pipeline.arbitrary import networks as instant_networks
from pipeline.core.color import blend_strength, recombine
from pipeline.errors import InputError
from pipeline.fast import model as fast_model
from pipeline.web import SECURITY_HEADERS, create_app, state
from pipeline.web.catalog import load_styles

from support.web import JPEG, RESULT_URL, bomb_png, encoded, picture, post_photo, stored_results

pytestmark = pytest.mark.usefixtures("plain_pipeline_logger")


# --- page 1 ---------------------------------------------------------------------------------------


def test_form_lists_every_style_with_thumbnail_and_labelled_fields(client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert re.findall(r'name="style" value="([^"]+)"', html) == ["ink", "pastel", "regions"]  # broken.pth skipped
    assert "ink" in html and "Pastel &lt;dreams&gt;" in html and "<dreams>" not in html  # names escaped
    assert html.count("needs a mask") == 1 and 'name="mask"' in html
    assert re.findall(r'<option value="(\d+)"(?: selected)?>\d+ px', html) == ["256", "512", "768", "1024"]
    assert 'value="512" selected' in html and 'name="keep_colours"' in html
    assert 'enctype="multipart/form-data"' in html  # works without JavaScript: the painter is hidden till it runs
    scripts = re.findall(r"<script[^>]*>[^<]*</script>", html)
    assert scripts == ['<script src="/static/paint.js" defer></script>']  # ours, no inline script
    assert re.search(r'<section class="painter" id="painter" data-field="style"[^>]* hidden ', html)
    assert re.findall(r'value="([^"]+)" required data-regions', html) == ["regions"]  # only styles with labels
    ids = re.findall(r'<(?:input|select)[^>]* id="([^"]+)"', html)
    assert ids and all(f'<label for="{i}"' in html for i in ids)  # every field has its label
    for key in ("ink", "pastel", "regions"):
        thumb = client.get(f"/styles/{key}.png")
        assert thumb.status_code == 200 and thumb.mimetype == "image/png"
        assert (
            Image.open(_bytes_io.BytesIO(thumb.data)).size == state(client.application).styles[key].model.thumbnail.size
        )
    css = client.get("/static/style.css")
    assert css.status_code == 200 and b".styles" in css.data


def test_broken_model_files_are_skipped_and_a_site_with_nothing_refused(
    models: Path, tmp_path: Path, caplog, monkeypatch
) -> None:
    monkeypatch.setattr(instant_networks, "installed", lambda: False)  # no own-painting tab either
    assert sorted(load_styles(models)) == ["ink", "pastel", "regions"]
    assert "broken.pth: not a Stylesnake fast-style model" in caplog.text
    (tmp_path / "empty").mkdir()
    for folder, message in ((tmp_path / "empty", "no fast-style models"), (tmp_path / "nope", "no such models folder")):
        with pytest.raises(InputError, match=f"nothing to serve: {message}"):
            create_app(folder, results=tmp_path / "r")
        with pytest.raises(InputError, match=f"{message}.*, no paintings in"):
            create_app(folder, results=tmp_path / "r", paintings=tmp_path / "empty")


# --- stylising, page 2, download ------------------------------------------------------------------


def test_upload_redirects_to_the_result_page_with_both_images_and_a_png_download(app, client) -> None:
    posted = post_photo(client, photo=JPEG, style="ink")
    assert posted.status_code == 303  # POST–redirect–GET
    rid = RESULT_URL.search(posted.headers["Location"]).group(1)
    page = client.get(f"/result/{rid}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for link in (f"/result/{rid}/original.png", f"/result/{rid}/result.png", f"/result/{rid}/download", 'href="/"'):
        assert link in html
    original = Image.open(_bytes_io.BytesIO(client.get(f"/result/{rid}/original.png").data))
    shown = Image.open(_bytes_io.BytesIO(client.get(f"/result/{rid}/result.png").data))
    download = client.get(f"/result/{rid}/download")
    assert download.mimetype == "image/png"
    assert download.headers["Content-Disposition"] == "attachment; filename=my_holiday-ink.png"
    result = Image.open(_bytes_io.BytesIO(download.data))
    assert result.format == "PNG" and result.size == shown.size == original.size == (256, 171)
    assert "johnson2016" in result.info["stylesnake"]  # the PNG says how it was made
    client.get(f"/result/{rid}")  # reloading page 2 stylises nothing again
    assert len(stored_results(app)) == 1


def test_result_is_the_models_output_and_keep_colours_recombines(app, client) -> None:
    network = state(app).styles["pastel"].network  # the inference form the page runs
    photo = picture(120, 90, seed=3)
    tensor = io.image_to_tensor(photo)
    plain = fast_model.stylize(network, tensor)
    for keep, expected in ((False, plain), (True, recombine(plain, tensor).clamp(0, 1))):
        extra = {"keep_colours": "on"} if keep else {}
        posted = post_photo(client, photo=encoded(photo), size="512", **extra)
        rid = RESULT_URL.search(posted.headers["Location"]).group(1)
        got = np.asarray(Image.open(_bytes_io.BytesIO(client.get(f"/result/{rid}/download").data)))
        assert np.array_equal(got, np.asarray(io.tensor_to_image(expected)))  # smaller photos are not enlarged


def test_the_style_strength_blends_the_photo_back_in_and_only_offered_strengths_are_taken(app, client) -> None:
    html = client.get("/").get_data(as_text=True)
    assert re.findall(r'name="strength".*?</select>', html, re.S)
    assert re.findall(r'<option value="([\d.]+)"(?: selected)?>\d+ %', html) == ["1", "0.75", "0.5", "0.25"]
    assert '<option value="1" selected>100 % (full)' in html and '<label for="strength">' in html
    photo = picture(120, 90, seed=3)
    tensor = io.image_to_tensor(photo)
    plain = fast_model.stylize(state(app).styles["pastel"].network, tensor)
    posted = post_photo(client, photo=encoded(photo), size="512", strength="0.5")
    rid = RESULT_URL.search(posted.headers["Location"]).group(1)
    got = np.asarray(Image.open(_bytes_io.BytesIO(client.get(f"/result/{rid}/download").data)))
    assert np.array_equal(got, np.asarray(io.tensor_to_image(blend_strength(plain, tensor, 0.5))))
    assert state(app).store.get(rid).meta["strength"] == 0.5 and "style at 50 %" in client.get(f"/result/{rid}").text
    for odd in ("0.3", "strong", "2"):
        refused = post_photo(client, photo=JPEG, strength=odd)
        assert refused.status_code == 400 and "Please choose one of the style strengths offered." in refused.text
    again = post_photo(client, photo=JPEG, style="cubism", strength="0.25").text  # the form comes back as chosen
    assert '<option value="0.25" selected>' in again


def test_exif_orientation_is_applied_and_large_photos_are_downscaled(models: Path, tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": a phone held upright
    sideways = encoded(picture(300, 120), "JPEG", exif=exif.tobytes())
    client = create_app(models, results=tmp_path / "r").test_client()
    rid = RESULT_URL.search(post_photo(client, photo=sideways).headers["Location"]).group(1)
    assert Image.open(_bytes_io.BytesIO(client.get(f"/result/{rid}/download").data)).size == (102, 256)
    small = create_app(models, results=tmp_path / "r", max_side=64).test_client()
    html = small.get("/").get_data(as_text=True)
    assert re.findall(r'<option value="(\d+)"(?: selected)?>\d+ px', html) == ["64"]
    rid = RESULT_URL.search(post_photo(small, photo=JPEG, size="64").headers["Location"]).group(1)
    assert Image.open(_bytes_io.BytesIO(small.get(f"/result/{rid}/download").data)).size == (64, 43)


def test_guided_style_needs_the_mask_and_unguided_ones_ignore_it(app, client) -> None:
    refused = post_photo(client, photo=JPEG, style="regions")
    assert refused.status_code == 400 and "please add the photo’s mask" in refused.get_data(as_text=True)
    mask = encoded(Image.new("RGB", (300, 200), (255, 0, 0)))
    ignored = post_photo(client, photo=JPEG, style="pastel", mask=(_bytes_io.BytesIO(mask), "mask.png"))
    assert ignored.status_code == 303
    labels = np.zeros((200, 300, 3), np.uint8)
    labels[:100] = (66, 135, 245)  # sky
    labels[100:, :150] = (40, 160, 60)  # tree
    labels[100:, 150:] = (140, 90, 40)  # ground
    posted = post_photo(
        client, photo=JPEG, style="regions", mask=(_bytes_io.BytesIO(encoded(Image.fromarray(labels))), "m.png")
    )
    assert posted.status_code == 303, posted.get_data(as_text=True)
    rid = RESULT_URL.search(posted.headers["Location"]).group(1)
    assert Image.open(_bytes_io.BytesIO(client.get(f"/result/{rid}/download").data)).size == (256, 171)
    recorded = np.asarray(Image.open(state(app).store.get(rid).file("mask.png")).convert("RGB"))
    assert recorded.shape == (171, 256, 3)  # the cleaned mask, kept beside the result at its size
    assert recorded[10, 10].tolist() == [66, 135, 245] and recorded[160, 250].tolist() == [140, 90, 40]
    unguided = RESULT_URL.search(ignored.headers["Location"]).group(1)
    assert not state(app).store.get(unguided).file("mask.png").exists()
    foreign = post_photo(client, photo=JPEG, style="regions", mask=(_bytes_io.BytesIO(mask), "mask.png"))
    assert foreign.status_code == 400 and "Traceback" not in foreign.get_data(as_text=True)


def test_heic_and_avif_photos_are_photos_and_mp4_clips_are_clips(client) -> None:
    def head(brand: bytes) -> _bytes_io.BytesIO:
        return _bytes_io.BytesIO(b"\x00\x00\x00\x1cftyp" + brand + b"\x00" * 16)

    assert io.is_picture(head(b"avif")) and io.is_picture(head(b"heic")) and io.is_picture(head(b"mif1"))
    assert not io.is_picture(head(b"isom")) and not io.is_picture(head(b"qt  "))
    avif = encoded(picture(96, 64), "AVIF")
    posted = post_photo(client, photo=avif)
    assert posted.status_code == 303 and RESULT_URL.search(posted.headers["Location"])  # a photo, painted at once


def test_results_are_removed_after_their_time_to_live(app, client) -> None:
    store = state(app).store
    first = RESULT_URL.search(post_photo(client, photo=JPEG).headers["Location"]).group(1)
    second = RESULT_URL.search(post_photo(client, photo=JPEG).headers["Location"]).group(1)
    assert first != second and client.get(f"/result/{first}").status_code == 200
    leftover = store.root / f".{'de' * 16}.tmp"  # a staging folder a killed worker left behind
    leftover.mkdir()
    # Things the store did not write stay, however old and whatever their names look like.
    theirs = [store.root / "holiday.jpg", store.root / ".notes.del", store.root / ("ab" * 16)]
    theirs[0].write_bytes(b"a photo")
    theirs[1].write_text("notes")
    theirs[2].mkdir()
    for path in [leftover, *theirs]:
        os.utime(path, (time.time() - store.ttl - 10,) * 2)
    now = time.time() + store.ttl + 1
    store.clock = lambda: now
    assert client.get(f"/result/{first}").status_code == 404  # expired on read, and removed
    assert not (store.root / first).exists()
    assert store.sweep() == 2  # the other result and the leftover
    assert sorted(p for p in store.root.iterdir() if p.name != "clips") == sorted(theirs)  # clips: the app's queue


# --- bad input ------------------------------------------------------------------------------------


def _corrupt() -> bytes:
    data = bytearray(encoded(picture(64, 48)))
    data[len(data) // 2] ^= 0xFF  # one flipped byte: the PNG chunk's checksum no longer matches
    return bytes(data)


@pytest.mark.parametrize(
    ("case", "fields", "message"),
    [
        ("not an image", {"photo": b"hello, I am a text file"}, "neither a photo nor a clip we can read"),
        ("truncated", {"photo": JPEG[: len(JPEG) // 2]}, "looks damaged or incomplete"),
        ("corrupt", {"photo": "corrupt"}, "looks damaged or incomplete"),
        ("bomb", {"photo": "bomb"}, "has more pixels than this site accepts (at most 40 megapixels)"),
        ("empty file", {"photo": b""}, "The photo file is empty."),
        ("no photo", {}, "Please choose a photo to upload."),
        ("unknown style", {"style": "cubism", "photo": JPEG}, "Please choose one of the styles shown."),
        ("style as a path", {"style": "../models/ink", "photo": JPEG}, "Please choose one of the styles shown."),
        ("style as a file", {"style": "ink.pth", "photo": JPEG}, "Please choose one of the styles shown."),
        ("no style", {"style": None, "photo": JPEG}, "Please choose a style."),
        ("odd size", {"size": "300", "photo": JPEG}, "Please choose one of the output sizes offered."),
        ("size not a number", {"size": "big", "photo": JPEG}, "Please choose one of the output sizes offered."),
    ],
)
def test_bad_input_is_a_400_page_with_a_sentence(
    app, client, case: str, fields: dict, message: str, wording: str
) -> None:
    fields = dict(fields)  # a copy: the parameters are shared by both wordings
    photo = fields.pop("photo", None)
    photo = {"bomb": bomb_png, "corrupt": _corrupt}.get(photo, lambda: photo)() if isinstance(photo, str) else photo
    response = post_photo(client, photo=photo, **fields) if photo is not None else post_photo(client, **fields)
    html = response.get_data(as_text=True)
    assert response.status_code == 400, case
    alert = re.search(r'role="alert" id="form-error">([^<]*)<', html)
    assert alert and message in unescape(alert.group(1)), html[:2000]
    assert '<form method="post"' in html and "Traceback" not in html  # the form again, ready for another try
    assert stored_results(app) == []


def test_a_request_over_the_size_limit_is_a_413_page(models: Path, tmp_path: Path) -> None:
    app = create_app(models, results=tmp_path / "r", max_upload_mb=0.05)
    response = post_photo(app.test_client(), photo=os.urandom(100_000))
    html = response.get_data(as_text=True)
    assert response.status_code == 413
    assert "The upload is too large: photo and mask together may be at most 0.05 MB." in html
    assert '<form method="post"' in html and stored_results(app) == []


@pytest.mark.parametrize(
    "path",
    [
        "/result/0123456789abcdef0123456789abcdef",
        "/result/0123456789abcdef0123456789abcdef/download",
        "/result/0123456789abcdef0123456789abcdef/result.png",
        "/result/..%2F..%2Fetc%2Fpasswd",
        "/result/../../etc/passwd",
        "/styles/cubism.png",
        "/styles/..%2Fink.png",
        "/nowhere",
    ],
)
def test_unknown_results_and_pages_are_404_pages(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404 and b"Back to the start page" in response.data


def test_wrong_method_is_a_405_page(client) -> None:
    response = client.get("/stylize")
    assert response.status_code == 405 and b"Method Not Allowed" in response.data


def test_a_crash_is_a_500_page_without_the_traceback(app, client, monkeypatch) -> None:
    def crash(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(state(app).stylist, "stylize", crash)
    response = post_photo(client, photo=JPEG)
    html = response.get_data(as_text=True)
    assert response.status_code == 500 and "Something went wrong on our side" in html
    assert "secret internal detail" not in html and "Traceback" not in html and "RuntimeError" not in html


# --- every response -------------------------------------------------------------------------------


def test_every_response_carries_the_security_headers(app, client) -> None:
    rid = RESULT_URL.search(post_photo(client, photo=JPEG).headers["Location"]).group(1)
    responses = [client.get(p) for p in ("/", f"/result/{rid}", f"/result/{rid}/download", "/static/style.css")]
    responses += [client.get("/nowhere"), post_photo(client, photo=b"junk")]
    for response in responses:
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value
    policy = SECURITY_HEADERS["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    script = client.get("/static/paint.js")
    assert script.status_code == 200 and "javascript" in script.mimetype
