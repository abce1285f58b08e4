"""The web app in a real browser (Debian's chromium, driven by Playwright: one Chromium per session,
a fresh context per test; see ``browser`` and ``page`` in tests/conftest.py): a photo uploaded and
its result downloaded, a painting of one's own, a slow job watched to its result, a clip played,
and the region painter (fill, brush, undo, eraser) on a photo, a clip's first frame and one's own
painting, its mask sent with the form."""

from __future__ import annotations

import io as _bytes_io
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.masks import parse_colour
from pipeline.samples import sample_image
from pipeline.web import loadtest, state

from support.web import GROUND, RESULT_URL, SKY, clip_bytes, propose, proposed_mask, two_regions

# Each test drives Chromium through a whole visit: 3 to 6 s apiece, with the browser's start.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("plain_pipeline_logger")]


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


def _shown_result_size(page, timeout: float = 30_000) -> list[int]:
    """Once the page reaches a result page: the result image's natural size, after it loaded."""
    page.wait_for_url(RESULT_URL, timeout=timeout)
    result = page.locator("#result")
    result.wait_for()
    page.wait_for_function("document.getElementById('result').complete")
    return result.evaluate("img => [img.naturalWidth, img.naturalHeight]")


# --- the tabs -------------------------------------------------------------------------------------


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
    two_regions(640, 480, SKY, GROUND).save(mask)
    page.goto(slow_server + "/")
    page.get_by_role("link", name="Best quality (slow)").click()
    page.wait_for_url(slow_server + "/slow")
    page.set_input_files("#photo", str(photo))
    page.get_by_label("ochre sky").check()
    page.set_input_files("#mask", str(mask))
    page.get_by_role("button", name="Queue it").click()
    page.wait_for_url(re.compile(r"/job/[0-9a-f]{32}$"))  # the progress page …
    assert _shown_result_size(page, timeout=120_000) == [64, 48]  # … refreshes itself until the result


def test_a_real_browser_uploads_a_clip_watches_it_and_plays_the_result(
    page, threaded_server: str, tmp_path: Path
) -> None:
    clip = tmp_path / "walk.mp4"
    clip.write_bytes(clip_bytes(tmp_path, frames=8, size=(96, 64)))
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


# --- the region painter ---------------------------------------------------------------------------


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
    proposed = propose(app.test_client(), photo=photo.read_bytes(), style="regions").get_json()
    names = [label["name"] for label in proposed["labels"]]
    colours = {label["name"]: parse_colour(label["colour"]).tolist() for label in proposed["labels"]}
    index = {tuple(c): i for i, c in enumerate(colours.values())}
    labels = np.array([[index[tuple(p)] for p in row] for row in np.asarray(proposed_mask(proposed).convert("RGB"))])
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
    two_regions(160, 120, "#3060f0", "#704010").save(photo)  # a blue sky over brown ground
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


def test_a_real_browser_paints_a_clips_first_frame(page, app, threaded_server: str, tmp_path: Path) -> None:
    clip = tmp_path / "walk.mp4"
    clip.write_bytes(clip_bytes(tmp_path, frames=8, size=(96, 64), audio=False))
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
    mask = np.asarray(proposed_mask(proposed["photo"]).convert("RGB"))
    labels = np.array([[index[tuple(p)] for p in row] for row in mask])
    x, y = _interior_point(labels, slice(0, 480), margin=32)
    fill = names[(labels[y, x] + 1) % len(names)]
    painting_mask = np.asarray(proposed_mask(proposed["painting"]).convert("RGB"))
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
