"""The web app's tests' helpers: pictures and uploads, the forms as a browser posts them, the
slow tab's queue, the region proposals, and the browser the real-browser tests drive (the fixtures
that use them, ``models``, ``app``, ``client``, ``slow_app``, ``browser`` and ``page``, are in
``tests/conftest.py``)."""

from __future__ import annotations

import base64
import io as _bytes_io
import logging
import os
import re
import stat
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.fast import model as fast_model
from pipeline.fast.network import TransformerNet
from pipeline.web import loadtest, state

CHROMIUM = Path("/usr/bin/chromium")
RESULT_URL = re.compile(r"/result/([0-9a-f]{32})$")
GUIDED_LABELS = {"sky": "#4287f5", "tree": "#28a03c", "ground": "#8c5a28"}
SKY, GROUND = "#4287f5", "#8c5a28"
JPEG = loadtest.photo(300, 200, seed=5)


def picture(width: int, height: int, seed: int = 0) -> Image.Image:
    return Image.open(_bytes_io.BytesIO(loadtest.photo(width, height, seed))).convert("RGB")


def encoded(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = _bytes_io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def bomb_png() -> bytes:
    return encoded(Image.new("1", (10_000, 10_000)))  # 100 megapixels in a few kB


def two_regions(width: int, height: int, top: str, bottom: str) -> Image.Image:
    """A flat two-label mask: ``top`` above 40 % of the height, ``bottom`` below."""
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[: int(0.4 * height)] = [int(top[i : i + 2], 16) for i in (1, 3, 5)]
    rgb[int(0.4 * height) :] = [int(bottom[i : i + 2], 16) for i in (1, 3, 5)]
    return Image.fromarray(rgb)


def direct_model(folder: Path, key: str, name: str, *, guide_channels: int = 0, seed: int = 0) -> None:
    """A model file without training: the app only needs a network, a name and a thumbnail. Its
    weights are drawn from ``seed`` without touching the global generator other tests draw from."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = TransformerNet(width=0.25, guide_channels=guide_channels).eval()
    thumbnail = fast_model.thumbnail_of(picture(96, 64, seed))
    info: dict = {"weights": {"kind": "random"}, "training": {}}
    if guide_channels:  # a guided model's labels, as training records them
        info["labels"] = dict(list(GUIDED_LABELS.items())[:guide_channels])
    fast_model.save(fast_model.FastModel(network, name, thumbnail, info), folder / f"{key}.pth")


def reset_pipeline_logger() -> None:
    """`main()` (in the web tests and in other test files) points the package's logger at the stderr
    of the test that called it, closed once that test ends; the app's threads log later. Back to
    plain propagation, so log records reach caplog and nothing writes to a closed stream."""
    logger = logging.getLogger("pipeline")
    logger.handlers[:] = []
    logger.propagate = True


def post_photo(client, *, style: str | None = "pastel", size: str | None = "256", photo=None, **extra):
    """The fast tab's form, as a browser posts it."""
    data: dict = {**extra}
    if style is not None:
        data["style"] = style
    if size is not None:
        data["size"] = size
    if photo is not None:
        data["photo"] = (_bytes_io.BytesIO(photo), "my holiday.jpg")
    return client.post("/stylize", data=data, content_type="multipart/form-data")


def stored_results(app) -> list[Path]:
    """The stored results (not the job queues' folders beside them)."""
    return [p for p in state(app).store.root.iterdir() if re.fullmatch(r"[0-9a-f]{32}", p.name)]


def file_modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.lstat().st_mode) for p in [root, *root.rglob("*")]}


# --- proposed masks (POST /propose) -----------------------------------------------------------------


def propose(client, photo: bytes | None = JPEG, **fields):
    data: dict = {**fields}
    if photo is not None:
        data["photo"] = (_bytes_io.BytesIO(photo), "my holiday.jpg")
    return client.post("/propose", data=data, content_type="multipart/form-data")


def proposed_mask(answer: dict) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert answer["mask"].startswith(prefix)
    mask = Image.open(_bytes_io.BytesIO(base64.b64decode(answer["mask"][len(prefix) :])))
    assert mask.format == "PNG" and mask.size == (answer["width"], answer["height"])
    return mask


# --- queued jobs: the slow tab and clips ------------------------------------------------------------


def queue_slow(
    client, *, painting: str | None = "ochre_sky", photo: bytes | None = None, mask: bytes | None = None, **extra
):
    """The slow tab's form, as a browser posts it."""
    data: dict = {"size": "64", **extra}
    if painting is not None:
        data["painting"] = painting
    if photo is not None:
        data["photo"] = (_bytes_io.BytesIO(photo), "beach day.png")
    if mask is not None:
        data["mask"] = (_bytes_io.BytesIO(mask), "beach-mask.png")
    return client.post("/slow", data=data, content_type="multipart/form-data")


def wait_for_result(client, location: str) -> str:
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


def clip_bytes(tmp_path: Path, *, frames: int = 6, size: tuple[int, int] = (64, 48), audio: bool = True) -> bytes:
    from pipeline.synthetic.clips import ClipSpec, write_clip

    path = tmp_path / f"clip-{frames}-{size[0]}.mp4"
    write_clip(ClipSpec(size=size, frames=frames), path, audio=audio)
    return path.read_bytes()


# --- a real browser -------------------------------------------------------------------------------

BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def playwright_or_skip():
    """Playwright's ``sync_playwright``, for Debian's chromium; in CI (which installs both) their
    absence fails."""
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
