"""The web app's slow tab (a queued Gatys transfer into one of the site's paintings) through Flask's
test client: the tab and its job pages (progress, the newest snapshot, the result), guided jobs,
refusals, the queue itself, the job folders' upkeep (private files, abandoned uploads), and the
site's paintings and their masks as the site finds them at start."""

from __future__ import annotations

import functools
import io as _bytes_io
import json
import logging
import os
import re
import stat
import struct
import subprocess
import sys
import threading
import time
import zlib
from html import unescape
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline import io
from pipeline.errors import InputError
from pipeline.web import create_app, state
from pipeline.web.store import ResultStore

from support.web import (
    GROUND,
    JPEG,
    SKY,
    encoded,
    file_modes,
    picture,
    post_photo,
    queue_slow,
    two_regions,
    wait_for_result,
)

pytestmark = pytest.mark.usefixtures("plain_pipeline_logger")


# --- the tab and its jobs -------------------------------------------------------------------------


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


def test_a_site_with_paintings_and_no_fast_models_serves_the_slow_tab(tmp_path: Path) -> None:
    paintings = tmp_path / "images" / "style"
    paintings.mkdir(parents=True)
    picture(96, 64, seed=7).save(paintings / "ochre_sky.png")
    app = create_app(tmp_path / "results" / "fast", results=tmp_path / "r", paintings=paintings,
                     painting_masks=tmp_path / "masks", weights="random", slow_steps=2, slow_max_side=64)  # fmt: skip
    client = app.test_client()
    start = client.get("/")
    assert start.status_code == 302 and start.headers["Location"] == "/slow"  # it opens on the tab it has
    html = client.get("/slow").get_data(as_text=True)
    assert re.findall(r'name="painting" value="([^"]+)"', html) == ["ochre_sky"]
    assert ">Fast</a>" not in html  # no fast tab to switch to (the "your own painting" tab is there)
    assert client.post("/stylize", data={"style": "ink"}).status_code == 404
    rid = wait_for_result(client, queue_slow(client, photo=JPEG).headers["Location"])
    assert client.get(f"/result/{rid}").status_code == 200


def test_a_slow_job_shows_progress_then_the_result_page(slow_app) -> None:
    client = slow_app.test_client()
    posted = queue_slow(client, photo=encoded(picture(120, 90, seed=4)), keep_colours="on")
    assert posted.status_code == 303 and "/job/" in posted.headers["Location"]  # POST–redirect–GET
    rid = wait_for_result(client, posted.headers["Location"])
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
    photo = encoded(picture(120, 90, seed=4))
    # Painted like a person paints: soft, JPEG-saved; cleaned onto the painting's labels on upload.
    painted = encoded(two_regions(120, 90, GROUND, SKY), "JPEG", quality=70)
    rid = wait_for_result(client, queue_slow(client, photo=photo, mask=painted).headers["Location"])
    made = json.loads(Image.open(_bytes_io.BytesIO(client.get(f"/result/{rid}/download").data)).info["stylesnake"])
    assert made["method"] == "gatys2016-guided"
    for mask, message in (
        (encoded(two_regions(120, 90, "#ff00ff", SKY)), "far from every label colour"),
        (encoded(two_regions(90, 90, GROUND, SKY)), "a different shape from the photo"),
        (b"not an image", "The mask is not an image"),
    ):
        page = queue_slow(client, photo=photo, mask=mask)
        assert page.status_code == 400 and message in unescape(page.get_data(as_text=True))


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
    page = queue_slow(client, **{"photo": JPEG, **fields})
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
    page = queue_slow(off, painting="plain", photo=JPEG)
    assert page.status_code == 503 and page.headers["Retry-After"] == "30"


def test_the_job_page_shows_the_newest_snapshot_of_a_running_transfer(slow_app, monkeypatch) -> None:
    from pipeline.gatys.snapshots import Snapshots

    jobs, release, client = state(slow_app).jobs, threading.Event(), slow_app.test_client()

    def run(job, progress):  # a transfer as gatys_runner's: snapshots beside out, progress, then the result
        snapshots = Snapshots(job.folder / "result.png")
        for evaluation in (1, 2):
            snapshots(evaluation, io.image_to_tensor(picture(64, 48, seed=evaluation)), 1.0)
        progress(2, 4)
        release.wait(30)
        return {"original.png": encoded(picture(64, 48)), "result.png": encoded(picture(64, 48))}, {"width": 64}

    monkeypatch.setattr(jobs, "run", run)
    location = queue_slow(client, photo=encoded(picture(64, 48))).headers["Location"]
    jid = location.rsplit("/", 1)[1]
    deadline = time.monotonic() + 30
    while "after round 2" not in (html := client.get(location).get_data(as_text=True)):
        assert time.monotonic() < deadline, html
        time.sleep(0.05)
    assert f'<img id="snapshot" src="/job/{jid}/latest.png?round=2"' in html
    latest = client.get(f"/job/{jid}/latest.png")
    assert latest.status_code == 200 and latest.headers["Cache-Control"] == "no-store"
    assert np.array_equal(np.asarray(Image.open(_bytes_io.BytesIO(latest.data))), np.asarray(picture(64, 48, seed=2)))
    release.set()
    wait_for_result(client, location)
    assert client.get(f"/job/{jid}/latest.png").status_code == 404  # the job ended: its snapshots are gone
    assert [p.name for p in (jobs.root / jid).iterdir()] == ["status.json"]
    assert client.get("/job/..%2Fx/latest.png").status_code == 404


# --- the queue and its folders --------------------------------------------------------------------


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
        return {"original.png": encoded(picture(8, 8)), "result.png": encoded(picture(8, 8))}, {"width": 8}

    store = ResultStore(tmp_path / "results")
    jobs = Jobs(tmp_path / "jobs", store, run, max_pending=2)
    painting = Painting("p", tmp_path / "p.png", None, None, b"", None)
    submit = functools.partial(jobs.submit, painting, picture(8, 8), mask=None, size=8, keep_colours=False)
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
    stored = store.get(jobs.status(first)["result"])  # the first job's files and record, as its run made them
    assert stored is not None and stored.file("result.png").read_bytes() == encoded(picture(8, 8))
    assert stored.meta["width"] == 8 and stored.file("original.png").exists()
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


def test_visitors_photos_are_readable_by_this_user_only(slow_app, monkeypatch) -> None:
    jobs, waiting = state(slow_app).jobs, {}
    real = jobs.run

    def run(job, progress):
        waiting.update(file_modes(job.folder))  # the photo and the status, as the job starts
        return real(job, progress)

    monkeypatch.setattr(jobs, "run", run)
    old = os.umask(0o022)  # the usual umask: without explicit modes, files would be 0644
    try:
        client = slow_app.test_client()
        assert post_photo(client, photo=JPEG).status_code == 303
        wait_for_result(client, queue_slow(client, photo=encoded(picture(120, 90, seed=4))).headers["Location"])
    finally:
        os.umask(old)
    modes = file_modes(state(slow_app).store.root)
    assert len(modes) >= 10 and {".", "photo.png", "status.json"} <= set(waiting)  # root, jobs, 2 results, files
    assert {name: mode for name, mode in {**modes, **waiting}.items() if mode & 0o077} == {}


def test_an_upload_spooled_by_a_process_that_died_is_swept_like_an_abandoned_job(tmp_path: Path) -> None:
    from pipeline.web.jobs import Jobs

    jobs = Jobs(tmp_path / "jobs", ResultStore(tmp_path / "results"), lambda job, progress: ({}, {}))
    old, fresh = jobs.spool(b"a clip"), jobs.spool(b"another clip")
    assert stat.S_IMODE(old.stat().st_mode) == 0o600  # a visitor's upload: ours alone
    os.utime(old, (time.time() - jobs.ttl - 10,) * 2)  # the server crashed between spool and submit
    jobs.sweep()
    assert not old.exists() and fresh.read_bytes() == b"another clip"


# --- the site's paintings, as found at start ------------------------------------------------------


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
    picture(64, 48, seed=1).save(paintings / "calm.png")
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


def test_a_paintings_mask_of_another_shape_is_refused_at_start_naming_both_files(
    models: Path, tmp_path: Path, caplog
) -> None:
    """The one aspect check wherever a mask meets its image (check_drawn_for): a mask drawn for
    another picture would be stretched onto this one, its regions moved."""
    from pipeline.masks import Palette, clean_mask, save_label_map

    paintings, masks = tmp_path / "paintings", tmp_path / "masks"
    paintings.mkdir()
    masks.mkdir()
    picture(64, 48, seed=1).save(paintings / "calm.png")
    picture(64, 48, seed=2).save(paintings / "storm.png")
    palette = Palette.from_mapping({"sky": SKY, "ground": GROUND})
    save_label_map(clean_mask(np.asarray(two_regions(20, 60, SKY, GROUND)), palette=palette), masks / "calm.png")
    save_label_map(clean_mask(np.asarray(two_regions(32, 24, SKY, GROUND)), palette=palette), masks / "storm.png")
    with caplog.at_level(logging.WARNING):
        found = state(create_app(models, results=tmp_path / "r", paintings=paintings, painting_masks=masks,
                                 weights="random")).paintings  # fmt: skip
    assert found["calm"].mask is None and found["calm"].palette is None  # offered unguided, not stretched
    assert found["storm"].mask == masks / "storm.png"  # half the size, the same shape: guided
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "painting" in r.getMessage()]
    assert len(warnings) == 1 and "\n" not in warnings[0], warnings
    assert str(masks / "calm.png") in warnings[0] and str(paintings / "calm.png") in warnings[0]
    assert "mask is 20x60 but" in warnings[0] and "is 64x48" in warnings[0]
