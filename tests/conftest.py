"""Shared fixtures: small synthetic images, a seeded random VGG, and a guard against stray files."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from pipeline.core.features import INDEX, LAYERS, VGGEncoder, check_layers


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
