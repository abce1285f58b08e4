"""The web app's own-painting tab (instant style, in a painting the visitor uploads) and the region
painter's proposed masks (POST /propose, /own/propose): masks in a style's or a painting's label
colours, a painting's regions paired with the photo's by resemblance, and their refusals; through
Flask's test client."""

from __future__ import annotations

import io as _bytes_io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.masks import parse_colour
from pipeline.samples import sample_image
from pipeline.web import create_app

from support.web import (
    GROUND,
    GUIDED_LABELS,
    JPEG,
    SKY,
    bomb_png,
    encoded,
    picture,
    propose,
    proposed_mask,
    two_regions,
)

pytestmark = pytest.mark.usefixtures("plain_pipeline_logger")


# --- proposed masks (POST /propose) ---------------------------------------------------------------


def _colours_of(mask: Image.Image) -> set[str]:
    return {"#{:02x}{:02x}{:02x}".format(*c) for _, c in mask.convert("RGB").getcolors()}


def test_propose_paints_a_proposed_mask_in_the_guided_styles_label_colours(client) -> None:
    response = propose(client, style="regions")
    assert response.status_code == 200 and response.mimetype == "application/json"
    answer = response.get_json()
    assert set(answer) == {"width", "height", "labels", "mask"} and (answer["width"], answer["height"]) == (300, 200)
    assert {label["name"]: label["colour"] for label in answer["labels"]} == GUIDED_LABELS
    mask = proposed_mask(answer)
    assert _colours_of(mask) <= set(GUIDED_LABELS.values()) and len(_colours_of(mask)) > 1  # exact colours
    big = propose(client, photo=encoded(picture(1200, 800)), style="regions").get_json()
    assert (big["width"], big["height"]) == (1200, 800)  # proposed smaller, returned at the photo's size
    assert response.headers["Cache-Control"] == "no-store"


def test_propose_pairs_a_paintings_regions_by_resemblance(slow_app) -> None:
    client = slow_app.test_client()
    photo = encoded(two_regions(120, 90, "#3060f0", "#704010"))  # a blue sky over brown ground
    answer = propose(client, photo=photo, painting="ochre_sky").get_json()
    assert {label["name"]: label["colour"] for label in answer["labels"]} == {"sky": SKY, "ground": GROUND}
    mask = np.asarray(proposed_mask(answer).convert("RGB"))
    assert "#{:02x}{:02x}{:02x}".format(*mask[5, 60]) == SKY and "#{:02x}{:02x}{:02x}".format(*mask[85, 60]) == GROUND
    refused = propose(client, painting="plain")
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
    response = propose(client, photo=bomb_png() if photo == "bomb" else photo, **fields)
    assert response.status_code == 400 and message in response.get_json()["error"]
    assert "Traceback" not in response.get_data(as_text=True)


def test_propose_over_the_size_limit_is_a_413_with_one_sentence(models: Path, tmp_path: Path) -> None:
    app = create_app(models, results=tmp_path / "r", max_upload_mb=0.05)
    response = propose(app.test_client(), photo=os.urandom(100_000), style="regions")
    assert response.status_code == 413
    assert response.get_json() == {"error": "The upload is too large: photo and mask together may be at most 0.05 MB."}


# --- your own painting (instant style) ------------------------------------------------------------


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
    photo, painting = encoded(picture(120, 80, seed=1)), encoded(sample_image("hubble_deep_field").convert("RGB"))
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
    photo, painting = encoded(picture(120, 80, seed=1)), encoded(picture(64, 64, seed=2))

    def masks() -> dict:
        return {
            "photo_mask": (_bytes_io.BytesIO(encoded(Image.fromarray(photo_mask))), "pm.png"),
            "painting_mask": (_bytes_io.BytesIO(encoded(Image.fromarray(painting_mask))), "sm.png"),
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
    photo, painting = encoded(picture(120, 80, seed=1)), encoded(sample_image("coffee").convert("RGB"))
    data = {"photo": (_bytes_io.BytesIO(photo), "photo.png"), "painting": (_bytes_io.BytesIO(painting), "p.png")}
    answer = client.post("/own/propose", data=data, content_type="multipart/form-data")
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    proposed = answer.get_json()
    assert proposed["painting"]["labels"] == proposed["photo"]["labels"] and len(proposed["photo"]["labels"]) >= 2
    palette = {tuple(parse_colour(label["colour"]).tolist()) for label in proposed["photo"]["labels"]}
    for name, size in (("painting", (600, 400)), ("photo", (120, 80))):
        mask = proposed_mask(proposed[name])
        assert mask.size == size and (proposed[name]["width"], proposed[name]["height"]) == size
        assert {colour for _, colour in mask.convert("RGB").getcolors()} <= palette
    assert len({colour for _, colour in proposed_mask(proposed["painting"]).convert("RGB").getcolors()}) >= 2
    missing = client.post("/own/propose", data={"photo": (_bytes_io.BytesIO(photo), "photo.png")})
    assert missing.status_code == 400 and "Please choose a painting" in missing.get_json()["error"]
