"""The web app: every route and every error through Flask's test client, the real server under a
burst of uploads, gunicorn as README runs it, and a real browser (Debian's chromium + Playwright)."""

from __future__ import annotations

import base64
import functools
import io as _bytes_io
import json
import logging
import os
import re
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks import loadtest
from pipeline import io
from pipeline.cli import main
from pipeline.cli.options import flag
from pipeline.core.color import blend_strength, recombine
from pipeline.errors import InputError
from pipeline.fast import model as fast_model
from pipeline.fast.network import TransformerNet
from pipeline.fast.train import TrainConfig, train
from pipeline.instant import networks as instant_networks
from pipeline.masks import parse_colour
from pipeline.samples import sample_image
from pipeline.web import SECURITY_HEADERS, create_app, state
from pipeline.web.catalog import load_styles
from pipeline.web.store import ResultStore, default_root

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
RESULT_URL = re.compile(r"/result/([0-9a-f]{32})$")


def _image(width: int, height: int, seed: int = 0) -> Image.Image:
    return Image.open(_bytes_io.BytesIO(loadtest.photo(width, height, seed))).convert("RGB")


def _encoded(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = _bytes_io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


GUIDED_LABELS = {"sky": "#4287f5", "tree": "#28a03c", "ground": "#8c5a28"}


def _direct_model(folder: Path, key: str, name: str, *, guide_channels: int = 0, seed: int = 0) -> None:
    """A model file without training: the app only needs a network, a name and a thumbnail."""
    torch.manual_seed(seed)
    network = TransformerNet(width=0.25, guide_channels=guide_channels).eval()
    thumbnail = fast_model.thumbnail_of(_image(96, 64, seed))
    info: dict = {"weights": {"kind": "random"}, "training": {}}
    if guide_channels:  # a guided model's labels, as training records them
        info["labels"] = dict(list(GUIDED_LABELS.items())[:guide_channels])
    fast_model.save(fast_model.FastModel(network, name, thumbnail, info), folder / f"{key}.pth")


def _reset_pipeline_logger() -> None:
    """`main()` (here and in other test files) points the package's logger at the stderr of the
    test that called it, closed once that test ends; the app's threads log later. Back to plain
    propagation, so log records reach caplog and nothing writes to a closed stream."""
    logger = logging.getLogger("pipeline")
    logger.handlers[:] = []
    logger.propagate = True


@pytest.fixture(autouse=True)
def _pipeline_logger() -> Iterator[None]:
    _reset_pipeline_logger()
    yield
    _reset_pipeline_logger()


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ink: trained by `train` (as the workflow does, tiny); pastel: unguided; regions: guided
    (3 label channels); broken.pth: not a model (skipped)."""
    _reset_pipeline_logger()
    root = tmp_path_factory.mktemp("web")
    folder, data = root / "models", root / "data"
    folder.mkdir()
    data.mkdir()
    for i in range(2):
        _image(48, 40, seed=i).save(data / f"{i}.png")
    _image(40, 40, seed=9).save(root / "ink.png")
    config = TrainConfig(steps=2, size=32, batch=1, width=0.25, checkpoint_every=2, seed=3)
    train(root / "ink.png", data, folder / "ink.pth", config, weights="random")
    _direct_model(folder, "pastel", "Pastel <dreams>", seed=1)
    _direct_model(folder, "regions", "Regions", guide_channels=3, seed=2)
    (folder / "broken.pth").write_bytes(b"not a model")
    return folder


@pytest.fixture
def app(models: Path, tmp_path: Path):
    return create_app(models, results=tmp_path / "results")


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(params=["worded", "reworded"])
def wording(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test twice: as the code is, and with every message of an error raised outside the web
    app reworded, so that a page that chose its sentence by the library's words would go wrong."""
    if request.param == "reworded":
        original = InputError.__init__

        def reworded(self: InputError, message: str, **kinds: object) -> None:
            frame = sys._getframe(1)
            while frame.f_back is not None and frame.f_globals.get("__name__") == "pipeline.errors":
                frame = frame.f_back  # past a kind's own __init__
            if not str(frame.f_globals.get("__name__", "")).startswith("pipeline.web"):
                message = "reworded: " + " ".join(reversed(message.split()))
            original(self, message, **kinds)  # type: ignore[arg-type]

        monkeypatch.setattr(InputError, "__init__", reworded)
    return request.param


def _post(client, *, style: str | None = "pastel", size: str | None = "256", photo=None, **extra):
    data: dict = {**extra}
    if style is not None:
        data["style"] = style
    if size is not None:
        data["size"] = size
    if photo is not None:
        data["photo"] = (_bytes_io.BytesIO(photo), "my holiday.jpg")
    return client.post("/stylize", data=data, content_type="multipart/form-data")


def _results(app) -> list[Path]:
    """The stored results (not the job queues' folders beside them)."""
    return [p for p in state(app).store.root.iterdir() if re.fullmatch(r"[0-9a-f]{32}", p.name)]


JPEG = loadtest.photo(300, 200, seed=5)


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
    posted = _post(client, photo=JPEG, style="ink")
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
    assert len(_results(app)) == 1


def test_result_is_the_models_output_and_keep_colours_recombines(app, client) -> None:
    network = state(app).styles["pastel"].network  # the inference form the page runs
    photo = _image(120, 90, seed=3)
    tensor = io.image_to_tensor(photo)
    plain = fast_model.stylize(network, tensor)
    for keep, expected in ((False, plain), (True, recombine(plain, tensor).clamp(0, 1))):
        extra = {"keep_colours": "on"} if keep else {}
        posted = _post(client, photo=_encoded(photo), size="512", **extra)
        rid = RESULT_URL.search(posted.headers["Location"]).group(1)
        got = np.asarray(Image.open(_bytes_io.BytesIO(client.get(f"/result/{rid}/download").data)))
        assert np.array_equal(got, np.asarray(io.tensor_to_image(expected)))  # smaller photos are not enlarged


def test_the_style_strength_blends_the_photo_back_in_and_only_offered_strengths_are_taken(app, client) -> None:
    html = client.get("/").get_data(as_text=True)
    assert re.findall(r'name="strength".*?</select>', html, re.S)
    assert re.findall(r'<option value="([\d.]+)"(?: selected)?>\d+ %', html) == ["1", "0.75", "0.5", "0.25"]
    assert '<option value="1" selected>100 % (full)' in html and '<label for="strength">' in html
    photo = _image(120, 90, seed=3)
    tensor = io.image_to_tensor(photo)
    plain = fast_model.stylize(state(app).styles["pastel"].network, tensor)
    posted = _post(client, photo=_encoded(photo), size="512", strength="0.5")
    rid = RESULT_URL.search(posted.headers["Location"]).group(1)
    got = np.asarray(Image.open(_bytes_io.BytesIO(client.get(f"/result/{rid}/download").data)))
    assert np.array_equal(got, np.asarray(io.tensor_to_image(blend_strength(plain, tensor, 0.5))))
    assert state(app).store.get(rid).meta["strength"] == 0.5 and "style at 50 %" in client.get(f"/result/{rid}").text
    for odd in ("0.3", "strong", "2"):
        refused = _post(client, photo=JPEG, strength=odd)
        assert refused.status_code == 400 and "Please choose one of the style strengths offered." in refused.text
    again = _post(client, photo=JPEG, style="cubism", strength="0.25").text  # the form comes back as chosen
    assert '<option value="0.25" selected>' in again


def test_exif_orientation_is_applied_and_large_photos_are_downscaled(models: Path, tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": a phone held upright
    sideways = _encoded(_image(300, 120), "JPEG", exif=exif.tobytes())
    client = create_app(models, results=tmp_path / "r").test_client()
    rid = RESULT_URL.search(_post(client, photo=sideways).headers["Location"]).group(1)
    assert Image.open(_bytes_io.BytesIO(client.get(f"/result/{rid}/download").data)).size == (102, 256)
    small = create_app(models, results=tmp_path / "r", max_side=64).test_client()
    html = small.get("/").get_data(as_text=True)
    assert re.findall(r'<option value="(\d+)"(?: selected)?>\d+ px', html) == ["64"]
    rid = RESULT_URL.search(_post(small, photo=JPEG, size="64").headers["Location"]).group(1)
    assert Image.open(_bytes_io.BytesIO(small.get(f"/result/{rid}/download").data)).size == (64, 43)


def test_guided_style_needs_the_mask_and_unguided_ones_ignore_it(app, client) -> None:
    refused = _post(client, photo=JPEG, style="regions")
    assert refused.status_code == 400 and "please add the photo’s mask" in refused.get_data(as_text=True)
    mask = _encoded(Image.new("RGB", (300, 200), (255, 0, 0)))
    ignored = _post(client, photo=JPEG, style="pastel", mask=(_bytes_io.BytesIO(mask), "mask.png"))
    assert ignored.status_code == 303
    labels = np.zeros((200, 300, 3), np.uint8)
    labels[:100] = (66, 135, 245)  # sky
    labels[100:, :150] = (40, 160, 60)  # tree
    labels[100:, 150:] = (140, 90, 40)  # ground
    posted = _post(
        client, photo=JPEG, style="regions", mask=(_bytes_io.BytesIO(_encoded(Image.fromarray(labels))), "m.png")
    )
    assert posted.status_code == 303, posted.get_data(as_text=True)
    rid = RESULT_URL.search(posted.headers["Location"]).group(1)
    assert Image.open(_bytes_io.BytesIO(client.get(f"/result/{rid}/download").data)).size == (256, 171)
    recorded = np.asarray(Image.open(state(app).store.get(rid).file("mask.png")).convert("RGB"))
    assert recorded.shape == (171, 256, 3)  # the cleaned mask, kept beside the result at its size
    assert recorded[10, 10].tolist() == [66, 135, 245] and recorded[160, 250].tolist() == [140, 90, 40]
    unguided = RESULT_URL.search(ignored.headers["Location"]).group(1)
    assert not state(app).store.get(unguided).file("mask.png").exists()
    foreign = _post(client, photo=JPEG, style="regions", mask=(_bytes_io.BytesIO(mask), "mask.png"))
    assert foreign.status_code == 400 and "Traceback" not in foreign.get_data(as_text=True)


# --- proposed masks (POST /propose) -----------------------------------------------------------------


def _propose(client, photo: bytes | None = JPEG, **fields):
    data: dict = {**fields}
    if photo is not None:
        data["photo"] = (_bytes_io.BytesIO(photo), "my holiday.jpg")
    return client.post("/propose", data=data, content_type="multipart/form-data")


def _proposed_mask(answer: dict) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert answer["mask"].startswith(prefix)
    mask = Image.open(_bytes_io.BytesIO(base64.b64decode(answer["mask"][len(prefix) :])))
    assert mask.format == "PNG" and mask.size == (answer["width"], answer["height"])
    return mask


def _colours_of(mask: Image.Image) -> set[str]:
    return {"#{:02x}{:02x}{:02x}".format(*c) for _, c in mask.convert("RGB").getcolors()}


def test_propose_paints_a_proposed_mask_in_the_guided_styles_label_colours(client) -> None:
    response = _propose(client, style="regions")
    assert response.status_code == 200 and response.mimetype == "application/json"
    answer = response.get_json()
    assert set(answer) == {"width", "height", "labels", "mask"} and (answer["width"], answer["height"]) == (300, 200)
    assert {label["name"]: label["colour"] for label in answer["labels"]} == GUIDED_LABELS
    mask = _proposed_mask(answer)
    assert _colours_of(mask) <= set(GUIDED_LABELS.values()) and len(_colours_of(mask)) > 1  # exact colours
    big = _propose(client, photo=_encoded(_image(1200, 800)), style="regions").get_json()
    assert (big["width"], big["height"]) == (1200, 800)  # proposed smaller, returned at the photo's size
    assert response.headers["Cache-Control"] == "no-store"


def test_propose_pairs_a_paintings_regions_by_resemblance(slow_app) -> None:
    client = slow_app.test_client()
    photo = _encoded(_two_regions(120, 90, "#3060f0", "#704010"))  # a blue sky over brown ground
    answer = _propose(client, photo=photo, painting="ochre_sky").get_json()
    assert {label["name"]: label["colour"] for label in answer["labels"]} == {"sky": SKY, "ground": GROUND}
    mask = np.asarray(_proposed_mask(answer).convert("RGB"))
    assert "#{:02x}{:02x}{:02x}".format(*mask[5, 60]) == SKY and "#{:02x}{:02x}{:02x}".format(*mask[85, 60]) == GROUND
    refused = _propose(client, painting="plain")
    assert refused.status_code == 400 and "has no regions to paint" in refused.get_json()["error"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"style": "pastel"}, "The style “Pastel <dreams>” has no regions to paint; it needs no mask."),
        ({"style": "cubism"}, "Please choose one of the styles shown."),
        ({"style": "../models/regions"}, "Please choose one of the styles shown."),
        ({}, "Please choose a style."),
        ({"style": "regions", "photo": b"hello, I am a text file"}, "is not an image we can read"),
        ({"style": "regions", "photo": None}, "Please choose a photo to upload."),
        ({"style": "regions", "photo": "bomb"}, "has more pixels than this site accepts"),
    ],
)
def test_propose_refuses_bad_input_with_a_400_and_one_sentence(client, fields: dict, message: str) -> None:
    photo = fields.pop("photo", JPEG)
    response = _propose(client, photo=_bomb() if photo == "bomb" else photo, **fields)
    assert response.status_code == 400 and message in response.get_json()["error"]
    assert "Traceback" not in response.get_data(as_text=True)


def test_propose_over_the_size_limit_is_a_413_with_one_sentence(models: Path, tmp_path: Path) -> None:
    app = create_app(models, results=tmp_path / "r", max_upload_mb=0.05)
    response = _propose(app.test_client(), photo=os.urandom(100_000), style="regions")
    assert response.status_code == 413
    assert response.get_json() == {"error": "The upload is too large: photo and mask together may be at most 0.05 MB."}


# --- bad input ------------------------------------------------------------------------------------


def _bomb() -> bytes:
    return _encoded(Image.new("1", (10_000, 10_000)))  # 100 megapixels in a few kB


def _corrupt() -> bytes:
    data = bytearray(_encoded(_image(64, 48)))
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
    photo = {"bomb": _bomb, "corrupt": _corrupt}.get(photo, lambda: photo)() if isinstance(photo, str) else photo
    response = _post(client, photo=photo, **fields) if photo is not None else _post(client, **fields)
    html = response.get_data(as_text=True)
    assert response.status_code == 400, case
    alert = re.search(r'role="alert" id="form-error">([^<]*)<', html)
    assert alert and message in unescape(alert.group(1)), html[:2000]
    assert '<form method="post"' in html and "Traceback" not in html  # the form again, ready for another try
    assert _results(app) == []


def test_a_request_over_the_size_limit_is_a_413_page(models: Path, tmp_path: Path) -> None:
    app = create_app(models, results=tmp_path / "r", max_upload_mb=0.05)
    response = _post(app.test_client(), photo=os.urandom(100_000))
    html = response.get_data(as_text=True)
    assert response.status_code == 413
    assert "The upload is too large: photo and mask together may be at most 0.05 MB." in html
    assert '<form method="post"' in html and _results(app) == []


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


def test_results_are_removed_after_their_time_to_live(app, client) -> None:
    store = state(app).store
    first = RESULT_URL.search(_post(client, photo=JPEG).headers["Location"]).group(1)
    second = RESULT_URL.search(_post(client, photo=JPEG).headers["Location"]).group(1)
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


# --- the results folder: private, and never one another user prepared ------------------------------


@pytest.fixture
def own_temp(tmp_path: Path, monkeypatch) -> Path:
    """The system temp folder, as the default results folder sees it, is this test's."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def _prepared_by_someone_else(case: str, monkeypatch) -> str:
    """Make the default results folder exist as another user could have left it; the refusal's words."""
    if case == "their folder":
        monkeypatch.setattr(os, "getuid", lambda: os.stat(tempfile.gettempdir()).st_uid + 1)
        default_root().mkdir(mode=0o700)
        return "belongs to another user"
    if case == "open to all":  # what `mkdir -m 777` by anyone leaves
        default_root().mkdir()
        os.chmod(default_root(), 0o777)
        return "other users can write to the default results folder (mode 0777)"
    target = Path(tempfile.gettempdir()) / "elsewhere"
    target.mkdir(mode=0o700)
    default_root().symlink_to(target)
    return "is a symbolic link"


@pytest.mark.parametrize("case", ["their folder", "open to all", "a link"])
def test_a_default_results_folder_someone_else_could_have_made_is_refused(own_temp: Path, monkeypatch, case) -> None:
    words = _prepared_by_someone_else(case, monkeypatch)
    with pytest.raises(InputError) as refused:
        ResultStore()
    message = str(refused.value)
    assert words in message and str(default_root()) in message and "with results" in message
    assert "--results" in refused.value.worded(flag) and "\n" not in message  # as `stylesnake serve` says it


def test_serve_refuses_a_default_results_folder_open_to_all_in_one_line(
    models: Path, own_temp: Path, monkeypatch, capsys
) -> None:
    words = _prepared_by_someone_else("open to all", monkeypatch)
    good = own_temp / "models"  # no broken model: its warning would be a second line
    good.mkdir()
    shutil.copy(models / "pastel.pth", good)
    from werkzeug.serving import BaseWSGIServer

    monkeypatch.setattr(BaseWSGIServer, "serve_forever", lambda *_: None)  # were it accepted: fail, not hang
    assert main(["serve", "-q", "--models", str(good), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"stylesnake: error: {default_root()}: ") and words in err
    assert list(default_root().iterdir()) == []  # nothing written into it


def test_the_default_results_folder_is_made_private_and_a_named_one_is_judged(own_temp: Path, caplog) -> None:
    assert ResultStore().root == default_root() and stat.S_IMODE(default_root().stat().st_mode) == 0o700
    os.chmod(default_root(), 0o755)  # as an older version left it
    ResultStore()
    assert stat.S_IMODE(default_root().stat().st_mode) == 0o700
    named = own_temp / "mine"
    named.mkdir(mode=0o755)
    ResultStore(named)  # the user's own folder, readable by others: kept as it is, with a warning
    assert stat.S_IMODE(named.stat().st_mode) == 0o755 and "other users can list the results" in caplog.text
    os.chmod(named, 0o775)
    with pytest.raises(InputError, match=r"other users can write to the results folder .*with results"):
        ResultStore(named)


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.lstat().st_mode) for p in [root, *root.rglob("*")]}


def test_a_crash_is_a_500_page_without_the_traceback(app, client, monkeypatch) -> None:
    def crash(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(state(app).stylist, "stylize", crash)
    response = _post(client, photo=JPEG)
    html = response.get_data(as_text=True)
    assert response.status_code == 500 and "Something went wrong on our side" in html
    assert "secret internal detail" not in html and "Traceback" not in html and "RuntimeError" not in html


def test_every_response_carries_the_security_headers(app, client) -> None:
    rid = RESULT_URL.search(_post(client, photo=JPEG).headers["Location"]).group(1)
    responses = [client.get(p) for p in ("/", f"/result/{rid}", f"/result/{rid}/download", "/static/style.css")]
    responses += [client.get("/nowhere"), _post(client, photo=b"junk")]
    for response in responses:
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value
    policy = SECURITY_HEADERS["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    script = client.get("/static/paint.js")
    assert script.status_code == 200 and "javascript" in script.mimetype


# --- serving --------------------------------------------------------------------------------------


def test_stylising_is_bounded_and_a_long_wait_is_a_503(models: Path, tmp_path: Path, monkeypatch) -> None:
    app = create_app(models, results=tmp_path / "r", slots=2, wait=30)
    running, peak, lock = 0, 0, threading.Lock()
    real = fast_model.stylize

    def counting(*args, **kwargs):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.2)
        try:
            return real(*args, **kwargs)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(fast_model, "stylize", counting)
    codes: list[int] = []
    threads = [
        threading.Thread(target=lambda: codes.append(_post(app.test_client(), photo=JPEG).status_code))
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == [303] * 6 and peak == 2  # all answered, never more than two at once

    busy = create_app(models, results=tmp_path / "r", slots=1, wait=0.05)
    with state(busy).stylist.slot():  # someone else's photo is being painted
        response = _post(busy.test_client(), photo=JPEG)
    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    assert "busy right now" in response.get_data(as_text=True)


def test_serve_refuses_a_site_with_nothing_to_serve_in_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(instant_networks, "installed", lambda: False)  # no own-painting tab either
    assert main(["serve", "--models", str(tmp_path / "nope"), "--paintings", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nothing to serve: no such models folder" in err


def test_serve_on_a_busy_port_is_one_line_and_exit_2(models: Path, tmp_path: Path, capsys) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["serve", "--models", str(models), "--results", str(tmp_path / "r"), "--port", str(port)])
    assert code == 2
    err = capsys.readouterr().err
    assert err == f"stylesnake: error: port {port} is in use on 127.0.0.1; choose another with --port\n"
    assert not (tmp_path / "r").exists()  # refused before anything was loaded or made
    assert main(["serve", "--models", str(models), "--port", "70000"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.fixture
def served(models: Path, tmp_path: Path) -> Iterator[str]:
    """`stylesnake serve` in a subprocess on a free port of 127.0.0.1; yields its base URL."""
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "pipeline", "serve", "--models", str(models), "--port", "0"]
    command += ["--results", str(tmp_path / "results"), "--slots", "2"]
    with log.open("w") as fh:
        server = subprocess.Popen(command, stdout=fh, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while not (found := re.search(r"serving on (http://127\.0\.0\.1:\d+)/", log.read_text())):
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield found.group(1)
    finally:
        server.terminate()
        server.wait(10)


def test_sixteen_concurrent_uploads_are_all_answered_correctly(served: str, capsys) -> None:
    report = loadtest.run(served, "ink", requests=16, concurrency=16, size=256)
    with capsys.disabled():  # the figures belong in CI's log, pass or fail
        print(f"\nload test, 16 concurrent uploads to `stylesnake serve` (2 slots): {report.summary()}")
    assert report.failures == 0 and len(report.latencies) == 16, report.errors


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def test_gunicorn_serves_the_app_as_readme_says(models: Path, tmp_path: Path) -> None:
    pytest.importorskip("gunicorn")
    import socket

    with socket.socket() as probe:  # a free port (gunicorn does not report one it chose itself)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    factory = f"pipeline.web:create_app(models={str(models)!r}, results={str(tmp_path / 'results')!r})"
    command = [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}", factory]
    log = tmp_path / "gunicorn.log"
    with log.open("w") as fh:
        server = subprocess.Popen(command, stdout=fh, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 90
        while log.read_text().count("Booting worker") < 2 or not _answers(f"http://127.0.0.1:{port}/"):
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        # Two visits: the workers share the results folder, so either may serve either result.
        for seed in (1, 2):
            loadtest.upload(f"http://127.0.0.1:{port}", "pastel", 200, 150, seed, size=256, timeout=60)
    finally:
        server.terminate()
        server.wait(20)


# --- the slow tab: a queued Gatys transfer -----------------------------------------------------------

SKY, GROUND = "#4287f5", "#8c5a28"


def _two_regions(width: int, height: int, top: str, bottom: str) -> Image.Image:
    """A flat two-label mask: ``top`` above 40 % of the height, ``bottom`` below."""
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[: int(0.4 * height)] = [int(top[i : i + 2], 16) for i in (1, 3, 5)]
    rgb[int(0.4 * height) :] = [int(bottom[i : i + 2], 16) for i in (1, 3, 5)]
    return Image.fromarray(rgb)


@pytest.fixture
def slow_app(models: Path, tmp_path: Path):
    """Two paintings, one with a cleaned two-region mask (named labels, as clean-mask writes them)."""
    from pipeline.masks import Palette, clean_mask, save_label_map

    paintings, masks = tmp_path / "images" / "style", tmp_path / "masks"
    paintings.mkdir(parents=True)
    masks.mkdir()
    _image(96, 64, seed=7).save(paintings / "ochre_sky.png")
    _image(80, 80, seed=8).save(paintings / "plain.jpg")
    palette = Palette.from_mapping({"sky": SKY, "ground": GROUND})
    save_label_map(clean_mask(np.asarray(_two_regions(96, 64, SKY, GROUND)), palette=palette), masks / "ochre_sky.png")
    return create_app(
        models,
        results=tmp_path / "results",
        paintings=paintings,
        painting_masks=masks,
        weights="random",
        slow_steps=4,
        slow_max_side=64,
    )


def _queue(
    client, *, painting: str | None = "ochre_sky", photo: bytes | None = None, mask: bytes | None = None, **extra
):
    data: dict = {"size": "64", **extra}
    if painting is not None:
        data["painting"] = painting
    if photo is not None:
        data["photo"] = (_bytes_io.BytesIO(photo), "beach day.png")
    if mask is not None:
        data["mask"] = (_bytes_io.BytesIO(mask), "beach-mask.png")
    return client.post("/slow", data=data, content_type="multipart/form-data")


def _finished(client, location: str) -> str:
    """Follow a job page until it sends the visitor on; returns the result's id."""
    jid = re.search(r"/job/([0-9a-f]{32})$", location).group(1)
    deadline = time.monotonic() + 120
    while True:
        page = client.get(f"/job/{jid}")
        if page.status_code == 303:
            return RESULT_URL.search(page.headers["Location"]).group(1)
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and "could not be painted" not in html, html
        assert '<meta http-equiv="refresh" content="2">' in html and "<progress" in html  # no script needed
        assert time.monotonic() < deadline, "the slow job did not finish in 2 minutes"
        time.sleep(0.2)


def test_slow_tab_lists_the_paintings_and_every_page_links_it(slow_app, client) -> None:
    slow = slow_app.test_client()
    html = slow.get("/slow").get_data(as_text=True)
    assert re.findall(r'name="painting" value="([^"]+)"', html) == ["ochre_sky", "plain"]
    assert "regions: sky, ground" in html and html.count("/mask.png") == 1 and 'name="mask"' in html
    assert re.findall(r'<option value="(\d+)"', html) == ["64"]
    assert '<script src="/static/paint.js" defer></script>' in html and 'data-field="painting"' in html
    assert re.findall(r'value="([^"]+)" required data-regions', html) == ["ochre_sky"]
    ids = re.findall(r'<(?:input|select)[^>]* id="([^"]+)"', html)
    assert ids and all(f'<label for="{i}"' in html for i in ids)
    assert 'href="/slow"' in slow.get("/").get_data(as_text=True)  # the fast page links the tab …
    assert 'href="/slow"' not in client.get("/").get_data(as_text=True)  # … only where there is one
    assert client.get("/slow").status_code == 404
    mask = Image.open(_bytes_io.BytesIO(slow.get("/paintings/ochre_sky/mask.png").data))
    assert {c for _, c in mask.convert("RGB").getcolors()} == {(66, 135, 245), (140, 90, 40)}  # exact colours
    assert slow.get("/paintings/plain/mask.png").status_code == 404
    assert slow.get("/paintings/plain.png").mimetype == "image/png"


def test_a_site_with_only_the_instant_networks_serves_the_own_painting_tab(tmp_path: Path, caplog) -> None:
    caplog.set_level("INFO", logger="pipeline")  # a CLI test before may have set it to warnings
    app = create_app(tmp_path / "nope", results=tmp_path / "r")
    client = app.test_client()
    start = client.get("/")
    assert start.status_code == 302 and start.headers["Location"] == "/own"  # it opens on the tab it has
    html = client.get("/own").get_data(as_text=True)
    assert ">Fast</a>" not in html and 'name="painting"' in html
    assert client.get("/slow").status_code == 404
    assert "no such models folder" in caplog.text and "your own painting" in caplog.text


def test_a_site_with_paintings_and_no_fast_models_serves_the_slow_tab(tmp_path: Path) -> None:
    paintings = tmp_path / "images" / "style"
    paintings.mkdir(parents=True)
    _image(96, 64, seed=7).save(paintings / "ochre_sky.png")
    app = create_app(tmp_path / "results" / "fast", results=tmp_path / "r", paintings=paintings,
                     painting_masks=tmp_path / "masks", weights="random", slow_steps=2, slow_max_side=64)  # fmt: skip
    client = app.test_client()
    start = client.get("/")
    assert start.status_code == 302 and start.headers["Location"] == "/slow"  # it opens on the tab it has
    html = client.get("/slow").get_data(as_text=True)
    assert re.findall(r'name="painting" value="([^"]+)"', html) == ["ochre_sky"]
    assert ">Fast</a>" not in html  # no fast tab to switch to (the "your own painting" tab is there)
    assert client.post("/stylize", data={"style": "ink"}).status_code == 404
    assert client.get("/result/" + _finished(client, _queue(client, photo=JPEG).headers["Location"])).status_code == 200


def test_a_slow_job_shows_progress_then_the_result_page(slow_app) -> None:
    client = slow_app.test_client()
    posted = _queue(client, photo=_encoded(_image(120, 90, seed=4)), keep_colours="on")
    assert posted.status_code == 303 and "/job/" in posted.headers["Location"]  # POST–redirect–GET
    rid = _finished(client, posted.headers["Location"])
    html = client.get(f"/result/{rid}").get_data(as_text=True)
    assert "ochre sky" in html and "random network weights" in html and 'href="/slow"' in html
    result = Image.open(_bytes_io.BytesIO(client.get(f"/result/{rid}/download").data))
    assert result.format == "PNG" and result.size == (64, 48)  # the photo's long side down to 64 px
    made = json.loads(result.info["stylesnake"])
    assert made["method"] == "gatys2015" and made["weights"]["kind"] == "random"
    assert made["parameters"]["steps"] == 4 and made["parameters"]["color"] == "preserve"
    jobs = state(slow_app).jobs
    assert [p.name for p in jobs.root.iterdir() for p in p.iterdir()] == ["status.json"]  # inputs cleaned up


def test_a_photo_mask_makes_the_slow_job_guided_and_bad_masks_are_400(slow_app) -> None:
    client = slow_app.test_client()
    photo = _encoded(_image(120, 90, seed=4))
    # Painted like a person paints: soft, JPEG-saved; cleaned onto the painting's labels on upload.
    painted = _encoded(_two_regions(120, 90, GROUND, SKY), "JPEG", quality=70)
    rid = _finished(client, _queue(client, photo=photo, mask=painted).headers["Location"])
    made = json.loads(Image.open(_bytes_io.BytesIO(client.get(f"/result/{rid}/download").data)).info["stylesnake"])
    assert made["method"] == "gatys2016-guided"
    for mask, message in (
        (_encoded(_two_regions(120, 90, "#ff00ff", SKY)), "far from every label colour"),
        (_encoded(_two_regions(90, 90, GROUND, SKY)), "a different shape from the photo"),
        (b"not an image", "The mask is not an image"),
    ):
        page = _queue(client, photo=photo, mask=mask)
        assert page.status_code == 400 and message in unescape(page.get_data(as_text=True))


def test_visitors_photos_are_readable_by_this_user_only(slow_app, monkeypatch) -> None:
    jobs, waiting = state(slow_app).jobs, {}
    real = jobs.run

    def run(job, progress):
        waiting.update(_modes(job.folder))  # the photo and the status, as the job starts
        return real(job, progress)

    monkeypatch.setattr(jobs, "run", run)
    old = os.umask(0o022)  # the usual umask: without explicit modes, files would be 0644
    try:
        client = slow_app.test_client()
        assert _post(client, photo=JPEG).status_code == 303
        _finished(client, _queue(client, photo=_encoded(_image(120, 90, seed=4))).headers["Location"])
    finally:
        os.umask(old)
    modes = _modes(state(slow_app).store.root)
    assert len(modes) >= 10 and {".", "photo.png", "status.json"} <= set(waiting)  # root, jobs, 2 results, files
    assert {name: mode for name, mode in {**modes, **waiting}.items() if mode & 0o077} == {}


def _huge_png(path: Path, side: int = 20_000) -> None:
    """A PNG whose header claims side × side pixels (400 megapixels): a decompression bomb of 60 bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit grey
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


def test_a_huge_painting_or_mask_is_skipped_with_a_warning_not_a_crash(models: Path, tmp_path: Path, caplog) -> None:
    from pipeline.web.paintings import mask_palette

    paintings, masks = tmp_path / "paintings", tmp_path / "masks"
    paintings.mkdir()
    masks.mkdir()
    _image(64, 48, seed=1).save(paintings / "calm.png")
    _huge_png(masks / "calm.png")
    _huge_png(paintings / "vast.png")
    app = create_app(
        models, results=tmp_path / "r", paintings=paintings, painting_masks=masks, weights="random"
    )  # no DecompressionBombError: the site starts
    found = state(app).paintings
    assert list(found) == ["calm"] and found["calm"].mask is None  # offered unguided
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    for name in (masks / "calm.png", paintings / "vast.png"):
        assert any(str(name) in w and "400,000,000 pixels, over the limit" in w for w in warnings), warnings
    assert all("\n" not in w for w in warnings)
    with pytest.raises(InputError, match="over the limit"):
        mask_palette(masks / "calm.png")


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"painting": None}, 400, "Please choose a painting."),
        ({"painting": "../../etc/passwd"}, 400, "Please choose one of the paintings shown."),
        ({"size": "512"}, 400, "Please choose one of the output sizes offered."),
        ({"photo": None}, 400, "Please choose a photo to upload."),
        ({"photo": b"hello, I am a text file"}, 400, "is not an image we can read"),
    ],
)
def test_slow_tab_bad_input_is_a_page_with_a_sentence(slow_app, fields: dict, status: int, message: str) -> None:
    client = slow_app.test_client()
    page = _queue(client, **{"photo": JPEG, **fields})
    assert page.status_code == status and message in unescape(page.get_data(as_text=True))
    assert not list(state(slow_app).jobs.root.iterdir())  # nothing queued


def test_unknown_jobs_are_404_and_missing_weights_turn_the_tab_off(slow_app, models: Path, tmp_path: Path) -> None:
    client = slow_app.test_client()
    for path in ("/job/" + "0" * 32, "/job/..%2f..%2fetc", "/paintings/nope.png"):
        assert client.get(path).status_code == 404
    junk = tmp_path / "vgg.pth"
    junk.write_bytes(b"not weights")
    paintings = state(slow_app).paintings["plain"].image.parent
    off = create_app(models, results=tmp_path / "r2", paintings=paintings, weights=junk).test_client()
    assert "not available on this site right now" in unescape(off.get("/slow").get_data(as_text=True))
    page = _queue(off, painting="plain", photo=JPEG)
    assert page.status_code == 503 and page.headers["Retry-After"] == "30"


def test_the_job_page_shows_the_newest_snapshot_of_a_running_transfer(slow_app, monkeypatch) -> None:
    from pipeline.gatys.snapshots import Snapshots

    jobs, release, client = state(slow_app).jobs, threading.Event(), slow_app.test_client()

    def run(job, progress):  # a transfer as gatys_runner's: snapshots beside out, progress, then the result
        snapshots = Snapshots(job.folder / "result.png")
        for evaluation in (1, 2):
            snapshots(evaluation, io.image_to_tensor(_image(64, 48, seed=evaluation)), 1.0)
        progress(2, 4)
        release.wait(30)
        return {"original.png": _encoded(_image(64, 48)), "result.png": _encoded(_image(64, 48))}, {"width": 64}

    monkeypatch.setattr(jobs, "run", run)
    location = _queue(client, photo=_encoded(_image(64, 48))).headers["Location"]
    jid = location.rsplit("/", 1)[1]
    deadline = time.monotonic() + 30
    while "after round 2" not in (html := client.get(location).get_data(as_text=True)):
        assert time.monotonic() < deadline, html
        time.sleep(0.05)
    assert f'<img id="snapshot" src="/job/{jid}/latest.png?round=2"' in html
    latest = client.get(f"/job/{jid}/latest.png")
    assert latest.status_code == 200 and latest.headers["Cache-Control"] == "no-store"
    assert np.array_equal(np.asarray(Image.open(_bytes_io.BytesIO(latest.data))), np.asarray(_image(64, 48, seed=2)))
    release.set()
    _finished(client, location)
    assert client.get(f"/job/{jid}/latest.png").status_code == 404  # the job ended: its snapshots are gone
    assert [p.name for p in (jobs.root / jid).iterdir()] == ["status.json"]
    assert client.get("/job/..%2Fx/latest.png").status_code == 404


def test_slow_jobs_wait_in_turn_fail_with_a_sentence_and_a_full_queue_is_busy(tmp_path: Path) -> None:
    from pipeline.errors import InputError
    from pipeline.web.jobs import Jobs
    from pipeline.web.paintings import Painting
    from pipeline.web.store import ResultStore
    from pipeline.web.stylist import Busy

    release, seen = threading.Event(), []

    def run(job, progress):
        seen.append(job.id)
        progress(1, 2)
        release.wait(30)
        if job.photo_name == "bad":
            raise InputError("Your mask: painted colour #ff00ff is far from every label colour")
        return {"original.png": _encoded(_image(8, 8)), "result.png": _encoded(_image(8, 8))}, {"width": 8}

    store = ResultStore(tmp_path / "results")
    jobs = Jobs(tmp_path / "jobs", store, run, max_pending=2)
    painting = Painting("p", tmp_path / "p.png", None, None, b"", None)
    submit = functools.partial(jobs.submit, painting, _image(8, 8), mask=None, size=8, keep_colours=False)
    first, second = submit(photo_name="good"), submit(photo_name="bad")
    with pytest.raises(Busy):
        submit(photo_name="third")
    deadline = time.monotonic() + 30
    while jobs.status(first)["step"] != 1:  # running, and its progress written
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert jobs.status(first)["state"] == "running" and jobs.status(second)["state"] == "queued"
    assert seen == [first]  # one at a time
    release.set()
    while jobs.status(second)["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert store.get(jobs.status(first)["result"]) is not None
    assert jobs.status(second) | {"updated": 0} == {
        "state": "failed",
        "painting": "p",
        "kind": "slow",
        "error": "Your mask: painted colour #ff00ff is far from every label colour",
        "pid": os.getpid(),
        "updated": 0,
    }
    again = submit(photo_name="again")  # the queue has room again
    while jobs.status(again)["state"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert jobs.status("../x") is None and jobs.status("0" * 32) is None
    # A job whose server process died (a restarted gunicorn worker) would wait for ever: it failed.
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    status = jobs.root / again / "status.json"
    status.write_text(json.dumps({"state": "running", "step": 3, "steps": 9, "pid": int(gone.stdout)}))
    assert jobs.status(again)["state"] == "failed" and "restarted" in jobs.status(again)["error"]


def test_heic_and_avif_photos_are_photos_and_mp4_clips_are_clips(client) -> None:
    def head(brand: bytes) -> _bytes_io.BytesIO:
        return _bytes_io.BytesIO(b"\x00\x00\x00\x1cftyp" + brand + b"\x00" * 16)

    assert io.is_picture(head(b"avif")) and io.is_picture(head(b"heic")) and io.is_picture(head(b"mif1"))
    assert not io.is_picture(head(b"isom")) and not io.is_picture(head(b"qt  "))
    avif = _encoded(_image(96, 64), "AVIF")
    posted = _post(client, photo=avif)
    assert posted.status_code == 303 and RESULT_URL.search(posted.headers["Location"])  # a photo, painted at once


def test_an_upload_spooled_by_a_process_that_died_is_swept_like_an_abandoned_job(tmp_path: Path) -> None:
    from pipeline.web.jobs import Jobs

    jobs = Jobs(tmp_path / "jobs", ResultStore(tmp_path / "results"), lambda job, progress: ({}, {}))
    old, fresh = jobs.spool(b"a clip"), jobs.spool(b"another clip")
    assert stat.S_IMODE(old.stat().st_mode) == 0o600  # a visitor's upload: ours alone
    os.utime(old, (time.time() - jobs.ttl - 10,) * 2)  # the server crashed between spool and submit
    jobs.sweep()
    assert not old.exists() and fresh.read_bytes() == b"another clip"


# --- a real browser -------------------------------------------------------------------------------


def _serving(app) -> Iterator[str]:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


@pytest.fixture
def threaded_server(app) -> Iterator[str]:
    yield from _serving(app)


@pytest.fixture
def slow_server(slow_app) -> Iterator[str]:
    yield from _serving(slow_app)


def _browser_or_skip():
    """Playwright with Debian's chromium; in CI (which installs both) their absence fails."""
    missing = []
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing.append("playwright (pip)")
        sync_playwright = None
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the browser test needs {', '.join(missing)}; .ci/run installs them")
        pytest.skip(f"needs {', '.join(missing)}")
    return sync_playwright


BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _shown_result_size(page, timeout: float = 30_000) -> list[int]:
    """Once the page reaches a result page: the result image's natural size, after it loaded."""
    page.wait_for_url(RESULT_URL, timeout=timeout)
    result = page.locator("#result")
    result.wait_for()
    page.wait_for_function("document.getElementById('result').complete")
    return result.evaluate("img => [img.naturalWidth, img.naturalHeight]")


@pytest.fixture(scope="module")
def browser():
    """One Chromium for every browser test of this module (each test gets its own context)."""
    sync_playwright = _browser_or_skip()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=BROWSER_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    """A fresh page in a context of its own (no cookies, cache or downloads shared between tests)."""
    context = browser.new_context(accept_downloads=True)
    yield context.new_page()
    context.close()


def test_a_real_browser_uploads_picks_a_style_and_downloads_the_png(page, threaded_server: str, tmp_path: Path) -> None:
    photo = tmp_path / "beach.jpg"
    photo.write_bytes(loadtest.photo(640, 480, seed=4))
    page.goto(threaded_server + "/")
    assert page.title() == "Stylesnake"
    page.set_input_files("#photo", str(photo))
    page.get_by_label("Pastel <dreams>").check()  # the radio, by its label (thumbnail + name)
    page.get_by_label("Output size (long side)").select_option("256")
    page.get_by_role("button", name="Repaint").click()
    assert _shown_result_size(page) == [256, 192]  # it loaded
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the result (PNG)").click()
    download = info.value
    assert download.suggested_filename == "beach-pastel.png"
    saved = tmp_path / "downloaded.png"
    download.save_as(saved)
    image = Image.open(saved)
    assert image.format == "PNG" and image.size == (256, 192)
    page.get_by_role("link", name="Repaint another photo").click()
    page.wait_for_url(threaded_server + "/")


def test_a_real_browser_repaints_a_photo_in_a_painting_of_its_own(page, threaded_server: str, tmp_path: Path) -> None:
    photo, painting = tmp_path / "beach.jpg", tmp_path / "my painting.png"
    photo.write_bytes(loadtest.photo(640, 480, seed=4))
    sample_image("ihc").save(painting)
    page.goto(threaded_server + "/")
    page.get_by_role("link", name="Your own painting").click()
    page.wait_for_url(threaded_server + "/own")
    page.set_input_files("#photo", str(photo))
    page.set_input_files("#painting", str(painting))
    page.get_by_label("Output size (long side)").select_option("256")
    page.get_by_role("button", name="Repaint").click()
    assert _shown_result_size(page) == [256, 192]
    assert "your painting (my painting)" in page.locator("h1").inner_text()
    page.get_by_role("link", name="Repaint another photo").click()
    page.wait_for_url(threaded_server + "/own")


def test_a_real_browser_queues_a_slow_job_watches_it_and_sees_the_result(
    page, slow_server: str, tmp_path: Path
) -> None:
    photo, mask = tmp_path / "beach.jpg", tmp_path / "beach-mask.png"
    photo.write_bytes(loadtest.photo(640, 480, seed=4))
    _two_regions(640, 480, SKY, GROUND).save(mask)
    page.goto(slow_server + "/")
    page.get_by_role("link", name="Best quality (slow)").click()
    page.wait_for_url(slow_server + "/slow")
    page.set_input_files("#photo", str(photo))
    page.get_by_label("ochre sky").check()
    page.set_input_files("#mask", str(mask))
    page.get_by_role("button", name="Queue it").click()
    page.wait_for_url(re.compile(r"/job/[0-9a-f]{32}$"))  # the progress page …
    assert _shown_result_size(page, timeout=120_000) == [64, 48]  # … refreshes itself until the result


def _interior_point(labels: np.ndarray, rows: slice, margin: int = 24) -> tuple[int, int]:
    """(x, y) in ``rows`` of a label map whose whole (2 margin)² window has one label."""
    for y in range(rows.start + margin, rows.stop - margin, 8):
        for x in range(margin, labels.shape[1] - margin, 8):
            window = labels[y - margin : y + margin, x - margin : x + margin]
            if (window == labels[y, x]).all():
                return x, y
    raise AssertionError("the proposal has no large region there")


def test_a_real_browser_paints_the_regions_and_the_result_uses_the_painted_mask(
    page, app, threaded_server: str, tmp_path: Path
) -> None:
    photo = tmp_path / "beach.jpg"
    photo.write_bytes(loadtest.photo(640, 480, seed=4))
    proposed = _propose(app.test_client(), photo=photo.read_bytes(), style="regions").get_json()
    names = [label["name"] for label in proposed["labels"]]
    colours = {label["name"]: parse_colour(label["colour"]).tolist() for label in proposed["labels"]}
    index = {tuple(c): i for i, c in enumerate(colours.values())}
    labels = np.array([[index[tuple(p)] for p in row] for row in np.asarray(_proposed_mask(proposed).convert("RGB"))])
    x, y = _interior_point(labels, slice(0, 240))  # a region to relabel, in the top half …
    fill = names[(labels[y, x] + 1) % len(names)]  # … with another label than proposed
    brush = next(n for n in names if n != fill)
    page.goto(threaded_server + "/")
    page.get_by_role("radio", name="Regions needs a mask").check()
    page.set_input_files("#photo", str(photo))
    page.get_by_role("status").filter(has_text="Regions ready").wait_for()
    canvas = page.locator("#painter-canvas")
    assert canvas.evaluate("c => [c.width, c.height]") == [640, 480]
    painted = canvas.evaluate("c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some(v => v)")
    assert painted  # the photo and its overlay are drawn
    canvas.scroll_into_view_if_needed()  # the mouse acts inside the viewport only
    box = canvas.bounding_box()
    scale = box["width"] / 640

    def at(px: float, py: float) -> tuple[float, float]:
        return box["x"] + px * scale, box["y"] + py * scale

    page.get_by_role("button", name=f"{names.index(fill) + 1} {fill}", exact=True).click()
    page.mouse.click(*at(x, y))  # Fill is the tool at first: the whole region takes the label
    page.keyboard.press(str(names.index(brush) + 1))  # number keys pick labels …
    page.keyboard.press("b")  # … B the brush …
    for _ in range(4):
        page.keyboard.press("]")  # … and ] makes it bigger
    assert page.locator("#painter-size").input_value() == "39"
    drawn = "c => { c.blur(); return c.getContext('2d').getImageData(0, 0, c.width, c.height).data.join(); }"
    before = canvas.evaluate(drawn)
    page.mouse.click(*at(x, y))  # a dab of the brush …
    assert canvas.evaluate(drawn) != before
    page.keyboard.press("Control+z")  # … undone
    assert canvas.evaluate(drawn) == before
    page.mouse.move(*at(300, 420))
    page.mouse.down()
    page.mouse.move(*at(600, 420), steps=12)
    page.mouse.up()
    page.keyboard.press("e")  # the eraser brings back the proposal under it
    page.mouse.click(*at(590, 420))
    page.get_by_label("Output size (long side)").select_option("512")
    page.get_by_role("button", name="Repaint").click()
    page.wait_for_url(RESULT_URL)
    rid = RESULT_URL.search(page.url).group(1)
    found = state(app).store.get(rid)
    assert found.meta["mask"] is True
    recorded = np.asarray(Image.open(found.file("mask.png")).convert("RGB"))
    assert recorded.shape == (384, 512, 3)  # the painted mask, cleaned at the result's size (0.8 ×)
    assert recorded[round(y * 0.8), round(x * 0.8)].tolist() == colours[fill]  # the region relabelled
    for px in (300, 450):
        assert recorded[round(420 * 0.8), round(px * 0.8)].tolist() == colours[brush]  # the brush stroke
    assert recorded[round(420 * 0.8), round(590 * 0.8)].tolist() == colours[names[labels[420, 590]]]  # erased


def test_a_real_browser_sends_the_proposed_mask_to_a_slow_job(page, slow_app, slow_server: str, tmp_path: Path) -> None:
    photo = tmp_path / "beach.png"
    _two_regions(160, 120, "#3060f0", "#704010").save(photo)  # a blue sky over brown ground
    page.goto(slow_server + "/slow")
    page.set_input_files("#photo", str(photo))
    assert page.locator("#painter").is_hidden()  # no painting with regions chosen yet
    page.get_by_label("ochre sky").check()
    page.get_by_role("status").filter(has_text="Regions ready").wait_for()
    legend = page.locator("#painter-labels button").all_inner_texts()
    assert sorted(text.strip().split(" ", 1)[1] for text in legend) == ["ground", "sky"]  # numbered
    page.get_by_role("button", name="Queue it").click()
    page.wait_for_url(RESULT_URL, timeout=120_000)
    rid = RESULT_URL.search(page.url).group(1)
    found = state(slow_app).store.get(rid)
    made = json.loads(Image.open(found.file("result.png")).info["stylesnake"])
    assert made["method"] == "gatys2016-guided"  # the painter's mask went in as the upload


# --- clips on the fast tab ------------------------------------------------------------------------


def _clip_bytes(tmp_path: Path, *, frames: int = 6, size: tuple[int, int] = (64, 48), audio: bool = True) -> bytes:
    from pipeline.synthetic.clips import ClipSpec, write_clip

    path = tmp_path / f"clip-{frames}-{size[0]}.mp4"
    write_clip(ClipSpec(size=size, frames=frames), path, audio=audio)
    return path.read_bytes()


def _post_clip(client, clip: bytes, *, style: str = "pastel", size: str = "256", **extra):
    data = {"style": style, "size": size, "photo": (_bytes_io.BytesIO(clip), "our walk.mp4"), **extra}
    return client.post("/stylize", data=data, content_type="multipart/form-data")


def test_a_clip_is_queued_painted_frame_by_frame_and_played_with_its_sound(app, client, tmp_path: Path) -> None:
    import av

    from pipeline.video.clip import probe

    clip = _clip_bytes(tmp_path)
    page = client.get("/").get_data(as_text=True)
    assert 'accept="image/*,video/*"' in page and "at most 10 seconds" in page  # the limits, said on the page
    assert "frames of at most 40 megapixels and 120 a second" in page and "MKV" in page
    posted = _post_clip(client, clip)
    assert posted.status_code == 303 and "/job/" in posted.headers["Location"]
    progress = client.get(posted.headers["Location"]).get_data(as_text=True)
    assert "Painting your clip in the style of Pastel &lt;dreams&gt;" in progress or "/result/" in progress
    rid = _finished(client, posted.headers["Location"])
    html = client.get(f"/result/{rid}").get_data(as_text=True)
    assert f'src="/result/{rid}/result.mp4"' in html and "6 frames" in html and "with its sound" in html
    served = client.get(f"/result/{rid}/result.mp4")
    assert served.status_code == 200 and served.mimetype == "video/mp4"
    partial = client.get(f"/result/{rid}/result.mp4", headers={"Range": "bytes=0-99"})
    assert partial.status_code == 206 and len(partial.data) == 100  # a browser can seek
    download = client.get(f"/result/{rid}/download")
    assert download.headers["Content-Disposition"].endswith("our_walk-pastel.mp4") and download.data == served.data
    out = tmp_path / "out.mp4"
    out.write_bytes(served.data)
    info = probe(out)
    assert info.frames == 6 and (info.width, info.height) == (64, 48)  # never enlarged past the clip
    with av.open(str(out)) as got, av.open(_bytes_io.BytesIO(clip)) as given:
        sound = [bytes(p) for p in got.demux(got.streams.audio[0]) if p.size]
        assert sound == [bytes(p) for p in given.demux(given.streams.audio[0]) if p.size]
    assert "media-src 'self'" in client.get(f"/result/{rid}").headers["Content-Security-Policy"]
    jobs = state(app).clips
    assert [p.name for p in jobs.root.iterdir() for p in p.iterdir()] == ["status.json"]  # the upload is gone


def test_a_guided_style_paints_a_clip_with_its_first_frames_mask(app, client, tmp_path: Path) -> None:
    clip = _clip_bytes(tmp_path, audio=False)
    refused = _post_clip(client, clip, style="regions")
    assert refused.status_code == 400 and "mask of the clip’s first frame" in refused.get_data(as_text=True)
    mask = np.zeros((48, 64, 3), np.uint8)
    mask[:] = parse_colour(GUIDED_LABELS["sky"])
    mask[24:] = parse_colour(GUIDED_LABELS["ground"])
    wrong = _post_clip(
        client, clip, style="regions", mask=(_bytes_io.BytesIO(_encoded(Image.fromarray(mask[:, :30]))), "m.png")
    )
    assert wrong.status_code == 400 and "draw the mask on the clip’s first frame" in wrong.get_data(as_text=True)
    posted = _post_clip(
        client, clip, style="regions", mask=(_bytes_io.BytesIO(_encoded(Image.fromarray(mask))), "m.png")
    )
    assert posted.status_code == 303
    rid = _finished(client, posted.headers["Location"])
    meta = json.loads((state(app).store.root / rid / "meta.json").read_text())
    assert meta["kind"] == "clip" and meta["mask"] is True and meta["frames"] == 6


def test_a_real_browser_paints_a_clips_first_frame(page, app, threaded_server: str, tmp_path: Path) -> None:
    clip = tmp_path / "walk.mp4"
    clip.write_bytes(_clip_bytes(tmp_path, frames=8, size=(96, 64), audio=False))
    page.goto(threaded_server + "/")
    page.get_by_role("radio", name="Regions needs a mask").check()
    page.set_input_files("#photo", str(clip))
    page.get_by_role("status").filter(has_text="Regions of the first frame ready").wait_for()
    canvas = page.locator("#painter-canvas")
    assert canvas.evaluate("c => [c.width, c.height]") == [96, 64]  # the frame, decoded in the page
    page.get_by_role("button", name="Repaint").click()
    page.wait_for_url(re.compile(r"/(job|result)/[0-9a-f]{32}$"))
    page.wait_for_url(RESULT_URL, timeout=120_000)
    rid = RESULT_URL.search(page.url).group(1)
    meta = json.loads((state(app).store.root / rid / "meta.json").read_text())
    assert meta["kind"] == "clip" and meta["mask"] is True and meta["frames"] == 8  # the painted mask went along


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("text", "neither a photo nor a clip we can read"),
        ("audio-only", "no pictures"),
        ("cut-short", "neither a photo nor a clip we can read, or it is damaged"),
        ("too-long", "this site paints clips of at most 1 s"),
        ("empty", "The photo file is empty"),
        ("playlist", "neither a photo nor a clip we can read"),
        ("too-many-frames", "this site paints at most 120 per second for 1 s"),
        ("header-bomb", "The clip’s frames are too large for this site"),
    ],
)
def test_a_clip_the_site_cannot_take_is_a_400_with_one_sentence(
    models: Path, tmp_path: Path, case: str, message: str, wording: str
) -> None:
    app = create_app(models, results=tmp_path / "results", clip_seconds=1.0)
    client = app.test_client()
    if case == "text":
        data = b"this is not a video, whatever its name says\n" * 10
    elif case == "audio-only":
        data = _audio_only(tmp_path)
    elif case == "cut-short":
        data = _clip_bytes(tmp_path, frames=12)[:1500]
    elif case == "too-long":
        data = _clip_bytes(tmp_path, frames=60, audio=False)  # 2.4 s at 25 fps
    elif case == "playlist":  # FFmpeg reads it, and would open the files it names
        data = b"ffconcat version 1.0\nfile 'result.mp4'\n"
    elif case == "too-many-frames":  # 1 s, as its times say, of 200 frames: decoding them is the cost
        from pipeline.synthetic.clips import ClipSpec, write_clip

        write_clip(ClipSpec(size=(32, 24), frames=200, fps=200.0), tmp_path / "fast.mp4", audio=False)
        data = (tmp_path / "fast.mp4").read_bytes()
    elif case == "header-bomb":  # 1.5 kB declaring 16000 x 16000 (its memory: tests/test_video.py)
        from tests.hostile import write_header_bomb

        data = write_header_bomb(tmp_path / "bomb.mp4").read_bytes()
    else:
        data = b""
    response = _post_clip(client, data)
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and message in html, html
    assert "Traceback" not in html
    assert not _results(app) and not [p for p in state(app).clips.root.iterdir()]  # nothing kept


def _audio_only(tmp_path: Path) -> bytes:
    import av

    path = tmp_path / "sound.mp4"
    with av.open(str(path), "w", format="mp4") as container:
        sound = container.add_stream("aac", rate=44100, layout="stereo")
        for start in range(0, 44100, 1024):
            samples = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
            samples.sample_rate, samples.pts = 44100, start
            container.mux(sound.encode(samples))
        container.mux(sound.encode())
    return path.read_bytes()


def test_a_real_browser_uploads_a_clip_watches_it_and_plays_the_result(
    page, threaded_server: str, tmp_path: Path
) -> None:
    clip = tmp_path / "walk.mp4"
    clip.write_bytes(_clip_bytes(tmp_path, frames=8, size=(96, 64)))
    page.goto(threaded_server + "/")
    page.set_input_files("#photo", str(clip))
    page.get_by_label("Pastel <dreams>").check()
    page.get_by_role("button", name="Repaint").click()
    page.wait_for_url(re.compile(r"/(job|result)/[0-9a-f]{32}$"))  # the progress page …
    page.wait_for_url(RESULT_URL, timeout=120_000)  # … refreshes itself until the result
    video = page.locator("#result-video")
    video.wait_for()
    page.wait_for_function(
        "(() => { const v = document.getElementById('result-video'); v.muted = true; v.play();"
        " return v.readyState >= 2 && v.videoWidth === 96; })()",
        timeout=30_000,
    )
    assert video.evaluate("v => v.error") is None
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the clip (MP4)").click()
    assert info.value.suggested_filename == "walk-pastel.mp4"


def test_a_paintings_mask_of_another_shape_is_refused_at_start_naming_both_files(
    models: Path, tmp_path: Path, caplog
) -> None:
    """The one aspect check wherever a mask meets its image (check_drawn_for): a mask drawn for
    another picture would be stretched onto this one, its regions moved."""
    from pipeline.masks import Palette, clean_mask, save_label_map

    paintings, masks = tmp_path / "paintings", tmp_path / "masks"
    paintings.mkdir()
    masks.mkdir()
    _image(64, 48, seed=1).save(paintings / "calm.png")
    _image(64, 48, seed=2).save(paintings / "storm.png")
    palette = Palette.from_mapping({"sky": SKY, "ground": GROUND})
    save_label_map(clean_mask(np.asarray(_two_regions(20, 60, SKY, GROUND)), palette=palette), masks / "calm.png")
    save_label_map(clean_mask(np.asarray(_two_regions(32, 24, SKY, GROUND)), palette=palette), masks / "storm.png")
    with caplog.at_level(logging.WARNING):
        found = state(create_app(models, results=tmp_path / "r", paintings=paintings, painting_masks=masks,
                                 weights="random")).paintings  # fmt: skip
    assert found["calm"].mask is None and found["calm"].palette is None  # offered unguided, not stretched
    assert found["storm"].mask == masks / "storm.png"  # half the size, the same shape: guided
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "painting" in r.getMessage()]
    assert len(warnings) == 1 and "\n" not in warnings[0], warnings
    assert str(masks / "calm.png") in warnings[0] and str(paintings / "calm.png") in warnings[0]
    assert "mask is 20x60 but" in warnings[0] and "is 64x48" in warnings[0]


# --- your own painting (instant style) -------------------------------------------------------------


def _post_own(client, *, photo: bytes | None, painting: bytes | None, size: str = "256", **extra):
    data: dict = {"size": size, **extra}
    for name, content in (("photo", photo), ("painting", painting)):
        if content is not None:
            data[name] = (_bytes_io.BytesIO(content), f"{name}.png")
    return client.post("/own", data=data, content_type="multipart/form-data")


def test_your_own_painting_repaints_the_photo_in_its_style(client) -> None:
    page = client.get("/own")
    assert page.status_code == 200 and b"Your own painting" in page.data and b'name="painting"' in page.data
    assert b'href="/own"' in client.get("/").data  # the fast tab links to it
    photo, painting = _encoded(_image(120, 80, seed=1)), _encoded(sample_image("hubble_deep_field").convert("RGB"))
    posted = _post_own(client, photo=photo, painting=painting, strength="1")
    assert posted.status_code == 303, posted.data[:500]
    result = client.get(posted.headers["Location"])
    assert result.status_code == 200 and b"your painting (painting)" in result.data
    rid = posted.headers["Location"].rstrip("/").split("/")[-1]
    image = Image.open(_bytes_io.BytesIO(client.get(f"/result/{rid}/result.png").data))
    assert image.size == (120, 80)
    assert json.loads(image.text["stylesnake"])["method"] == "ghiasi2017-instant"


def test_your_own_painting_with_regions_and_its_refusals(client) -> None:
    photo_mask = np.zeros((80, 120, 3), np.uint8)
    photo_mask[:, 60:] = (66, 135, 245)
    painting_mask = np.zeros((64, 64, 3), np.uint8)
    painting_mask[32:] = (66, 135, 245)
    photo, painting = _encoded(_image(120, 80, seed=1)), _encoded(_image(64, 64, seed=2))

    def masks() -> dict:
        return {
            "photo_mask": (_bytes_io.BytesIO(_encoded(Image.fromarray(photo_mask))), "pm.png"),
            "painting_mask": (_bytes_io.BytesIO(_encoded(Image.fromarray(painting_mask))), "sm.png"),
        }

    guided = _post_own(client, photo=photo, painting=painting, **masks())
    assert guided.status_code == 303, guided.data[-600:]
    refused = [
        (_post_own(client, photo=photo, painting=None), "Please choose a painting"),
        (_post_own(client, photo=photo, painting=b"not a picture"), "The painting is not an image"),
        (_post_own(client, photo=photo, painting=painting, photo_mask=masks()["photo_mask"]), "both masks"),
        (_post_own(client, photo=photo, painting=painting, size="7"), "sizes offered"),
    ]
    for response, said in refused:
        assert response.status_code == 400 and said.encode() in response.data.replace(b"&#39;", b"'"), said


def test_the_own_tab_proposes_the_paintings_regions_and_the_photos_in_the_same_colours(client) -> None:
    photo, painting = _encoded(_image(120, 80, seed=1)), _encoded(sample_image("coffee").convert("RGB"))
    data = {"photo": (_bytes_io.BytesIO(photo), "photo.png"), "painting": (_bytes_io.BytesIO(painting), "p.png")}
    answer = client.post("/own/propose", data=data, content_type="multipart/form-data")
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    proposed = answer.get_json()
    assert proposed["painting"]["labels"] == proposed["photo"]["labels"] and len(proposed["photo"]["labels"]) >= 2
    palette = {tuple(parse_colour(label["colour"]).tolist()) for label in proposed["photo"]["labels"]}
    for name, size in (("painting", (600, 400)), ("photo", (120, 80))):
        mask = _proposed_mask(proposed[name])
        assert mask.size == size and (proposed[name]["width"], proposed[name]["height"]) == size
        assert {colour for _, colour in mask.convert("RGB").getcolors()} <= palette
    assert len({colour for _, colour in _proposed_mask(proposed["painting"]).convert("RGB").getcolors()}) >= 2
    missing = client.post("/own/propose", data={"photo": (_bytes_io.BytesIO(photo), "photo.png")})
    assert missing.status_code == 400 and "Please choose a painting" in missing.get_json()["error"]


def test_a_real_browser_paints_the_regions_of_a_painting_of_its_own_and_of_the_photo(
    page, app, threaded_server: str, tmp_path: Path
) -> None:
    """The own tab's painter: both pictures' regions proposed on "Paint regions", fixed on either
    canvas (a region of the photo relabelled, a brush stroke on the painting undone), and both masks
    sent with the form: the result was painted with the photo's regions as painted."""
    photo, painting = tmp_path / "beach.jpg", tmp_path / "my painting.png"
    photo.write_bytes(loadtest.photo(640, 480, seed=4))
    sample_image("coffee").convert("RGB").save(painting)
    files = {"photo": (_bytes_io.BytesIO(photo.read_bytes()), "beach.jpg"),
             "painting": (_bytes_io.BytesIO(painting.read_bytes()), "p.png")}  # fmt: skip
    proposed = app.test_client().post("/own/propose", data=files, content_type="multipart/form-data").get_json()
    names = [label["name"] for label in proposed["photo"]["labels"]]
    colours = {label["name"]: parse_colour(label["colour"]).tolist() for label in proposed["photo"]["labels"]}
    index = {tuple(c): i for i, c in enumerate(colours.values())}
    mask = np.asarray(_proposed_mask(proposed["photo"]).convert("RGB"))
    labels = np.array([[index[tuple(p)] for p in row] for row in mask])
    x, y = _interior_point(labels, slice(0, 480), margin=32)
    fill = names[(labels[y, x] + 1) % len(names)]
    painting_mask = np.asarray(_proposed_mask(proposed["painting"]).convert("RGB"))
    brush = next(i for i, c in enumerate(colours.values()) if painting_mask[20, 300].tolist() != c)
    page.goto(threaded_server + "/own")
    start = page.get_by_role("button", name="Paint regions")
    assert start.is_disabled()  # until both pictures are chosen
    page.set_input_files("#photo", str(photo))
    page.set_input_files("#painting", str(painting))
    start.click()
    page.get_by_role("status").filter(has_text="Regions ready").wait_for()
    on_painting, on_photo = page.locator("#painter-canvas-painting"), page.locator("#painter-canvas")
    assert on_painting.evaluate("c => [c.width, c.height]") == [600, 400]
    assert on_photo.evaluate("c => [c.width, c.height]") == [640, 480]
    drawn = "c => { c.blur(); return c.getContext('2d').getImageData(0, 0, c.width, c.height).data.join(); }"
    on_painting.scroll_into_view_if_needed()
    box = on_painting.bounding_box()
    before = on_painting.evaluate(drawn)
    page.keyboard.press(str(brush + 1))  # a label other than the painting's along the stroke
    page.keyboard.press("b")
    page.mouse.move(box["x"] + 20, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 20, box["y"] + 20, steps=8)
    page.mouse.up()
    assert on_painting.evaluate(drawn) != before
    page.keyboard.press("Control+z")  # undone on the canvas last used
    assert on_painting.evaluate(drawn) == before
    page.keyboard.press("f")
    page.get_by_role("button", name=f"{names.index(fill) + 1} {fill}", exact=True).click()
    on_photo.scroll_into_view_if_needed()
    box = on_photo.bounding_box()
    scale = box["width"] / 640
    page.mouse.click(box["x"] + x * scale, box["y"] + y * scale)
    page.get_by_label("Output size (long side)").select_option("256")
    page.get_by_role("button", name="Repaint").click()
    page.wait_for_url(RESULT_URL)
    rid = RESULT_URL.search(page.url).group(1)
    found = state(app).store.get(rid)
    assert found.meta["mask"] is True and found.meta["method"] == "ghiasi2017-instant"
    recorded = np.asarray(Image.open(found.file("mask.png")).convert("RGB"))
    assert recorded.shape == (192, 256, 3)  # the painted mask, at the result's size
    assert recorded[round(y * 0.4), round(x * 0.4)].tolist() == colours[fill]  # the region relabelled
