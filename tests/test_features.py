"""The VGG-19 encoder: named layers, the cut, pooling, normalisation, and every weights source."""

from __future__ import annotations

import socket
import urllib.error
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import vgg

from pipeline.cli.options import flag
from pipeline.core.features import IMAGENET_MEAN, IMAGENET_STD, VGG19_LAYERS, VGGEncoder, imagenet_cache_path
from pipeline.errors import InputError

STYLE_AND_CONTENT = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"]


def test_layer_names_match_torchvision_vgg19() -> None:
    reference = vgg.make_layers(vgg.cfgs["E"])  # torchvision's VGG-19 `features`
    assert len(VGG19_LAYERS) == len(reference) == 37
    kinds = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}
    for name, module in zip(VGG19_LAYERS, reference, strict=True):
        assert isinstance(module, kinds[name[:4]]), name


def test_network_is_cut_after_the_deepest_needed_layer() -> None:
    encoder = VGGEncoder(STYLE_AND_CONTENT, weights="random")
    assert len(encoder.body) == VGG19_LAYERS.index("relu5_1") + 1 == 30
    assert isinstance(encoder.body[-1], nn.ReLU)
    assert len(VGGEncoder(["relu1_1"], weights="random").body) == 2


def test_forward_returns_named_layers_with_vgg_shapes() -> None:
    encoder = VGGEncoder(STYLE_AND_CONTENT, weights="random")
    out = encoder(torch.rand(1, 3, 64, 48))
    assert list(out) == STYLE_AND_CONTENT
    shapes = {name: tuple(t.shape[1:]) for name, t in out.items()}
    assert shapes["relu1_1"] == (64, 64, 48)
    assert shapes["relu3_1"] == (256, 16, 12)
    assert shapes["relu5_1"] == (512, 4, 3)


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_pooling_replaces_every_pool(pooling: str) -> None:
    body = VGGEncoder(["relu5_4"], weights="random", pooling=pooling).body
    wanted, other = (nn.MaxPool2d, nn.AvgPool2d) if pooling == "max" else (nn.AvgPool2d, nn.MaxPool2d)
    assert sum(isinstance(m, wanted) for m in body) == 4  # pool1..pool4 come before relu5_4
    assert not any(isinstance(m, other) for m in body)


def test_avg_pooling_averages_each_window_where_max_pooling_takes_its_largest() -> None:
    x = torch.rand(1, 3, 32, 32)
    conv2_1 = VGG19_LAYERS.index("conv2_1")
    out = {}
    for pooling, pool in (("max", F.max_pool2d), ("avg", F.avg_pool2d)):
        encoder = VGGEncoder(["relu1_2", "relu2_1"], weights="random", pooling=pooling)
        out[pooling] = encoder(x)
        # relu2_1 is conv2_1 (the same seeded weights either way) on pool1 of relu1_2: 2x2 windows, stride 2.
        pooled = pool(out[pooling]["relu1_2"], kernel_size=2, stride=2)
        assert out[pooling]["relu2_1"].shape == (1, 128, 16, 16)
        torch.testing.assert_close(out[pooling]["relu2_1"], encoder.body[conv2_1](pooled).clamp(min=0))
    assert torch.equal(out["max"]["relu1_2"], out["avg"]["relu1_2"])  # the same network before pool1
    assert not torch.allclose(out["max"]["relu2_1"], out["avg"]["relu2_1"])


def test_imagenet_normalisation_happens_inside() -> None:
    encoder = VGGEncoder(["relu1_1"], weights="random")
    x = torch.rand(1, 3, 16, 16)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    assert torch.equal(encoder(x)["relu1_1"], encoder.body((x - mean) / std))


def test_captured_conv_output_is_not_overwritten_by_inplace_relu() -> None:
    out = VGGEncoder(["conv1_1", "relu1_1"], weights="random")(torch.rand(1, 3, 16, 16))
    assert out["conv1_1"].min() < 0  # pre-activation keeps its negative values
    assert torch.equal(out["relu1_1"], out["conv1_1"].clamp(min=0))


def test_taps_change_what_the_network_continues_with() -> None:
    encoder = VGGEncoder(["relu1_1", "relu2_1"], weights="random")
    x = torch.rand(1, 3, 16, 16)
    plain = encoder(x)
    tapped = encoder(x, taps={"relu1_1": torch.zeros_like})
    assert torch.count_nonzero(tapped["relu1_1"]) == 0
    # The layers after relu1_1 (conv1_2 … relu2_1) ran on the tap's zeros, not on relu1_1's activation.
    after = encoder.body[VGG19_LAYERS.index("relu1_1") + 1 : VGG19_LAYERS.index("relu2_1") + 1]
    torch.testing.assert_close(tapped["relu2_1"], after(torch.zeros_like(plain["relu1_1"])))
    torch.testing.assert_close(plain["relu2_1"], after(plain["relu1_1"].clone()))
    assert not torch.equal(tapped["relu2_1"], plain["relu2_1"])


def test_until_stops_the_pass_at_that_layer() -> None:
    encoder = VGGEncoder(["relu1_1", "relu2_2", "relu4_3"], weights="random", arch="vgg16")
    ran = []
    for module in encoder.body:
        module.register_forward_hook(lambda m, i, o: ran.append(m))
    x = torch.rand(1, 3, 32, 32)
    full = encoder(x)
    ran.clear()
    short = encoder(x, until="relu2_2")
    assert list(short) == ["relu1_1", "relu2_2"] and torch.equal(short["relu2_2"], full["relu2_2"])
    assert len(ran) == 9  # conv1_1 … relu2_2, and nothing after
    with pytest.raises(ValueError, match="conv5_1"):
        encoder(x, until="conv5_1")


def test_encoder_is_frozen() -> None:
    encoder = VGGEncoder(["relu1_1"], weights="random")
    assert not any(p.requires_grad for p in encoder.parameters())
    assert not encoder.training


def test_unknown_layer_name() -> None:
    with pytest.raises(InputError, match="unknown VGG-19 layer 'relu6_1'"):
        VGGEncoder(["relu1_1", "relu6_1"], weights="random")


# --- weights -----------------------------------------------------------------------------------


def test_random_weights_are_seeded() -> None:
    x = torch.rand(1, 3, 16, 16)
    a = VGGEncoder(["relu2_1"], weights="random")(x)["relu2_1"]
    b = VGGEncoder(["relu2_1"], weights="random:0")(x)["relu2_1"]
    c = VGGEncoder(["relu2_1"], weights="random:1")(x)["relu2_1"]
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    info = VGGEncoder(["relu1_1"], weights="random:3").weights_info
    assert info["kind"] == "random" and info["seed"] == 3 and "not a real style transfer" in info["note"]


def test_saved_random_state_dict_loads_back_identically(tmp_path: Path) -> None:
    encoder = VGGEncoder(STYLE_AND_CONTENT, weights="random")
    path = tmp_path / "vgg19_features.pth"
    torch.save(encoder.features_state_dict(), path)
    reloaded = VGGEncoder(STYLE_AND_CONTENT, weights=path)
    x = torch.rand(1, 3, 32, 32)
    for name, value in encoder(x).items():
        assert torch.equal(value, reloaded(x)[name])
    assert reloaded.weights_info["kind"] == "file"
    assert len(reloaded.weights_info["sha256"]) == 64


def test_full_torchvision_state_dict_is_accepted(tmp_path: Path) -> None:
    features = VGGEncoder(["relu5_4"], weights="random").features_state_dict()
    full = {f"features.{k}": v for k, v in features.items()}
    full["classifier.0.weight"] = torch.zeros(2, 2)  # a whole VGG-19 also carries its classifier
    path = tmp_path / "vgg19_full.pth"
    torch.save(full, path)
    x = torch.rand(1, 3, 16, 16)
    expected = VGGEncoder(["relu3_1"], weights="random")(x)["relu3_1"]
    assert torch.equal(VGGEncoder(["relu3_1"], weights=path)(x)["relu3_1"], expected)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"definitely not a pickle", "not a readable VGG-19 state dict"),
        ({"0.weight": torch.zeros(64, 3, 3, 3)}, "missing '0.bias'"),
        ({"0.weight": torch.zeros(32, 3, 3, 3), "0.bias": torch.zeros(32)}, "has shape"),
        ([1, 2, 3], "expected a state dict"),
    ],
    ids=["garbage", "missing-key", "wrong-shape", "not-a-mapping"],
)
def test_bad_weights_file(tmp_path: Path, content, message: str) -> None:
    path = tmp_path / "weights.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    with pytest.raises(InputError, match=message) as info:
        VGGEncoder(["relu1_1"], weights=path)
    assert str(path) in str(info.value)
    assert "weights_only" not in str(info.value) and len(str(info.value).replace(str(path), "")) < 160


def test_missing_weights_path() -> None:
    with pytest.raises(InputError, match="no such file; use 'imagenet', 'random'"):
        VGGEncoder(["relu1_1"], weights="/nonexistent/vgg19.pth")


def _offline_imagenet_error(monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[str]]:
    attempts = []

    def blocked_download(url: str, *args, **kwargs):
        attempts.append(url)
        raise urllib.error.URLError("network blocked by test")

    def no_sockets(*args, **kwargs):
        raise OSError("network blocked by test")

    monkeypatch.setattr(torch.hub, "download_url_to_file", blocked_download)
    monkeypatch.setattr(socket.socket, "connect", no_sockets)
    with pytest.raises(InputError) as info:
        VGGEncoder(["relu1_1"], weights="imagenet")
    return info.value.worded(flag), attempts  # as the command line says it


def test_imagenet_offline_gives_the_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STYLESNAKE_WORKFLOW", raising=False)
    message, attempts = _offline_imagenet_error(monkeypatch)
    assert attempts and attempts[0].endswith("vgg19-dcbb9e9d.pth")
    assert str(imagenet_cache_path()) in message  # fix 1: put the file in the cache (or pass a path)
    assert "--weights PATH" in message
    assert "--weights random" in message  # fix 2: a plumbing run
    assert "\n" not in message


def test_imagenet_offline_error_in_the_workflow_names_the_config_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The workflow's jobs are configured with --config weights=..., where --weights means nothing."""
    monkeypatch.setenv("STYLESNAKE_WORKFLOW", "1")  # what the Snakefile sets for its jobs
    message, _ = _offline_imagenet_error(monkeypatch)
    assert "--config weights=PATH" in message and "--config weights=random" in message
    assert "--weights" not in message and "\n" not in message


def test_imagenet_reads_the_torch_hub_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = imagenet_cache_path()  # under the test's private TORCH_HOME
    cache.parent.mkdir(parents=True)
    torch.save(
        {f"features.{k}": v for k, v in VGGEncoder(["relu5_4"], weights="random:5").features_state_dict().items()},
        cache,
    )
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("must not download"))
    encoder = VGGEncoder(["relu2_1"], weights="imagenet")
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(encoder(x)["relu2_1"], VGGEncoder(["relu2_1"], weights="random:5")(x)["relu2_1"])
    # A file at the cache path that is not torchvision's published one is recorded as such.
    assert encoder.weights_info["kind"] == "imagenet-unverified"
    assert encoder.weights_info["verified"] is False
    assert "IMAGENET1K_V1" in encoder.weights_info["source"]


def test_vgg16_for_fast_style_matches_torchvision() -> None:
    from pipeline.core.features import LAYERS

    reference = vgg.make_layers(vgg.cfgs["D"])  # torchvision's VGG-16 `features`
    assert len(LAYERS["vgg16"]) == len(reference) == 31
    kinds = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}
    for name, module in zip(LAYERS["vgg16"], reference, strict=True):
        assert isinstance(module, kinds[name[:4]]), name
    encoder = VGGEncoder(["relu1_2", "relu2_2", "relu3_3", "relu4_3"], weights="random", arch="vgg16")
    assert len(encoder.body) == LAYERS["vgg16"].index("relu4_3") + 1 == 23
    assert encoder.weights_info["arch"] == "vgg16"
    keys = set(encoder.body.state_dict())  # torchvision's own keys for the cut network
    assert keys <= {k.removeprefix("features.") for k in vgg.vgg16().state_dict()}
    with pytest.raises(InputError, match="unknown VGG-16 layer 'relu3_4'"):
        VGGEncoder(["relu3_4"], weights="random", arch="vgg16")
    assert "vgg16" in imagenet_cache_path("vgg16").name


def test_a_pickle_with_code_is_refused_in_one_sentence(tmp_path: Path) -> None:
    """A pickle that would run code when unpickled: refused by weights_only, and the message must
    not repeat PyTorch's suggestion to load it with weights_only=False."""
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"0.weight": Evil()}))
    with pytest.raises(InputError) as info:
        VGGEncoder(["relu1_1"], weights=path)
    message = str(info.value)
    assert "weights_only" not in message and "\n" not in message and len(message.replace(str(path), "")) < 160
