"""Shared fixtures: small synthetic images, a seeded random VGG, a guard against stray files, a
training set for fast style, and the web app's site (models, app, test client, slow tab) and
browser (one Chromium per session, a fresh page per test). Helpers shared by several test files
are in ``tests/support/``."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from pipeline.core.features import INDEX, LAYERS, VGGEncoder, check_layers
from pipeline.errors import InputError

from support.web import (
    BROWSER_ARGS,
    CHROMIUM,
    GROUND,
    SKY,
    direct_model,
    picture,
    playwright_or_skip,
    reset_pipeline_logger,
    two_regions,
)


@pytest.fixture(autouse=True)
def _seeded_torch() -> None:
    """Each test starts from the same PyTorch random state, whatever ran before it: the suite runs in
    a shuffled order (pytest-randomly reseeds ``random`` and NumPy, not PyTorch)."""
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _offline_torch_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may find (or download into) the user's real weights cache."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch_home")))


@pytest.fixture(scope="session")
def _instant_cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("stylesnake_cache"))


@pytest.fixture(autouse=True)
def _no_user_cache(_instant_cache: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test writes into the user's cache folder (instant style's converted network): one
    folder for the whole session, so the conversion happens once."""
    monkeypatch.setenv("STYLESNAKE_CACHE", _instant_cache)


@pytest.fixture(autouse=True)
def _own_logging():
    """Each test starts with the package's logger as it found it: the CLI points it at the stderr of
    the test that ran it, which pytest closes when that test ends."""
    logger = logging.getLogger("pipeline")
    handlers, level, propagate = logger.handlers[:], logger.level, logger.propagate
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)
    logger.propagate = propagate


@pytest.fixture(autouse=True)
def _no_temp_files_left(tmp_path: Path):
    """Atomic writes must never leave their ``.NAME.xxxx.tmp`` files behind."""
    yield
    leftovers = list(tmp_path.rglob(".*.tmp"))
    assert not leftovers, f"temporary files left behind: {leftovers}"


def _pattern(width: int, height: int, seed: int) -> Image.Image:
    """A smooth colour pattern plus noise: enough structure for VGG to respond to."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    base = np.stack([np.sin(6 * x + seed), np.cos(5 * y - seed), np.sin(4 * (x + y))], axis=-1)
    array = (base * 0.4 + 0.5 + rng.normal(0, 0.08, (height, width, 3))).clip(0, 1)
    return Image.fromarray((array * 255).astype(np.uint8), "RGB")


@pytest.fixture
def content_path(tmp_path: Path) -> Path:
    path = tmp_path / "content.png"
    _pattern(80, 64, seed=1).save(path)
    return path


@pytest.fixture
def style_path(tmp_path: Path) -> Path:
    path = tmp_path / "style.png"
    _pattern(64, 64, seed=7).save(path)
    return path


@pytest.fixture
def images() -> tuple[torch.Tensor, torch.Tensor]:
    """Content and style tensors (1, 3, H, W) in [0, 1]."""
    from pipeline.io import image_to_tensor

    return image_to_tensor(_pattern(48, 40, seed=1)), image_to_tensor(_pattern(48, 48, seed=7))


def _fused_and_plain(loss, source: torch.Tensor, upstream: torch.Tensor | None):
    """Run a style loss on one layer "l" both ways: as an encoder tap (fused backward) and on a
    features dict (plain autograd), with an optional gradient arriving from later layers.
    Returns ((fused value, fused grad), (plain value, plain grad))."""

    def run(fused: bool) -> tuple[torch.Tensor, torch.Tensor]:
        x = source.clone().requires_grad_(True)
        if fused:
            terms: dict[str, torch.Tensor] = {}
            y = loss.taps(terms)["l"](x)
            value = terms["l"]
        else:
            y, value = x, loss({"l": x})
        (value + ((y * upstream).sum() if upstream is not None else 0)).backward()
        return value.detach(), x.grad

    return run(True), run(False)


@pytest.fixture
def fused_and_plain():
    """:func:`_fused_and_plain`, for comparing a tap with plain autograd."""
    return _fused_and_plain


class TinyEncoder(VGGEncoder):
    """VGG-19's layer names, indices and pooling grid with ``width`` channels per convolution: the
    :class:`~pipeline.core.features.Encoder` for tests of plumbing (shapes, metadata, determinism, files),
    at a small fraction of VGG-19's cost. Tests that judge a transfer's quality keep the real one."""

    def __init__(self, layers, *, pooling: str = "max", width: int = 8, seed: int = 0) -> None:
        nn.Module.__init__(self)
        self.layers, self.arch, self.pooling = check_layers(layers), "vgg19", pooling
        last = max(INDEX["vgg19"][name] for name in self.layers)
        generator = torch.Generator().manual_seed(seed)
        modules: list[nn.Module] = []
        channels = 3
        for name in LAYERS["vgg19"][: last + 1]:
            if name.startswith("conv"):
                conv = nn.Conv2d(channels, width, 3, padding=1)
                nn.init.kaiming_normal_(conv.weight, generator=generator)
                nn.init.uniform_(conv.bias, -0.1, 0.1, generator=generator)
                modules.append(conv)
                channels = width
            elif name.startswith("relu"):
                modules.append(nn.ReLU(inplace=False))
            else:
                modules.append(nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2))
        self.body = nn.Sequential(*modules)
        self.weights_info = {"kind": "random", "arch": "tiny", "seed": seed, "note": "a tiny test encoder"}
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)
        self.wanted = {INDEX["vgg19"][name]: name for name in self.layers}
        self.requires_grad_(False)
        self.eval()


@pytest.fixture
def tiny():
    """A tiny encoder with the Gatys layers (see :class:`TinyEncoder`)."""
    from pipeline.gatys import GatysConfig

    return TinyEncoder(GatysConfig().layers)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A training set for fast style: three random photos of three heights, one folder down, as JPEGs."""
    folder = tmp_path / "data"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (40 + 8 * i, 56, 3), dtype=np.uint8)).save(folder / "sub" / f"{i}.jpg")
    return folder


# --- the web app (tests/test_web_*.py) -------------------------------------------------------------


@pytest.fixture
def plain_pipeline_logger() -> Iterator[None]:
    """The package's logger propagating to the root and with no handlers of its own, before and
    after the test (see :func:`support.web.reset_pipeline_logger`); the web tests' modules use it."""
    reset_pipeline_logger()
    yield
    reset_pipeline_logger()


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ink: trained by `train` (as the workflow does, tiny); pastel: unguided; regions: guided
    (3 label channels); broken.pth: not a model (skipped)."""
    from pipeline.fast.train import TrainConfig, train

    reset_pipeline_logger()
    root = tmp_path_factory.mktemp("web")
    folder, data = root / "models", root / "data"
    folder.mkdir()
    data.mkdir()
    for i in range(2):
        picture(48, 40, seed=i).save(data / f"{i}.png")
    picture(40, 40, seed=9).save(root / "ink.png")
    config = TrainConfig(steps=2, size=32, batch=1, width=0.25, checkpoint_every=2, seed=3)
    train(root / "ink.png", data, folder / "ink.pth", config, weights="random")
    direct_model(folder, "pastel", "Pastel <dreams>", seed=1)
    direct_model(folder, "regions", "Regions", guide_channels=3, seed=2)
    (folder / "broken.pth").write_bytes(b"not a model")
    return folder


@pytest.fixture
def app(models: Path, tmp_path: Path):
    from pipeline.web import create_app

    return create_app(models, results=tmp_path / "results")


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def slow_app(models: Path, tmp_path: Path):
    """Two paintings, one with a cleaned two-region mask (named labels, as clean-mask writes them)."""
    from pipeline.masks import Palette, clean_mask, save_label_map
    from pipeline.web import create_app

    paintings, masks = tmp_path / "images" / "style", tmp_path / "masks"
    paintings.mkdir(parents=True)
    masks.mkdir()
    picture(96, 64, seed=7).save(paintings / "ochre_sky.png")
    picture(80, 80, seed=8).save(paintings / "plain.jpg")
    palette = Palette.from_mapping({"sky": SKY, "ground": GROUND})
    save_label_map(clean_mask(np.asarray(two_regions(96, 64, SKY, GROUND)), palette=palette), masks / "ochre_sky.png")
    return create_app(
        models,
        results=tmp_path / "results",
        paintings=paintings,
        painting_masks=masks,
        weights="random",
        slow_steps=4,
        slow_max_side=64,
    )


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


@pytest.fixture(scope="session")
def browser():
    """One Chromium (Debian's, through Playwright) for every browser test of the session; each test
    gets a context of its own (:func:`page`)."""
    sync_playwright = playwright_or_skip()
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
