"""The VGG encoder (VGG-19 for Gatys, VGG-16 for Johnson's fast style): named layers, max or
average pooling, and an honest weights story.

Layers are addressed by the names the papers use (``conv1_1``, ``relu1_1`` … ``pool5``); the
network is cut right after the deepest layer any loss asks for, so nothing is computed that no
loss reads. Inputs are RGB in [0, 1]; ImageNet normalisation happens inside.

Weights (``weights=``):

- ``"imagenet"``: torchvision's ``VGG19_Weights.IMAGENET1K_V1`` (``VGG16_Weights`` for VGG-16), from
  the torch hub cache under ``$TORCH_HOME`` (downloaded there if possible). The real thing, and the default.
- a path to a local state dict: a whole torchvision VGG or only its ``features``.
- ``"random"`` or ``"random:SEED"``: a seeded random network (torchvision's initialisation). It
  exercises every code path but does not transfer style; every output says so.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import torch
from torch import nn

from pipeline.errors import InputError, option
from pipeline.record import load_torch

log = logging.getLogger(__name__)

#: (block, channels, convolutions) per block: torchvision's configurations "E" and "D".
_BLOCKS = {
    "vgg19": ((1, 64, 2), (2, 128, 2), (3, 256, 4), (4, 512, 4), (5, 512, 4)),
    "vgg16": ((1, 64, 2), (2, 128, 2), (3, 256, 3), (4, 512, 3), (5, 512, 3)),
}
ARCHS = tuple(_BLOCKS)
_DISPLAY = {"vgg19": "VGG-19", "vgg16": "VGG-16"}
_TORCHVISION_WEIGHTS = {"vgg19": "VGG19_Weights", "vgg16": "VGG16_Weights"}


def _layer_names(arch: str) -> tuple[str, ...]:
    names: list[str] = []
    for block, _, convs in _BLOCKS[arch]:
        for i in range(1, convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return tuple(names)


#: Every layer of torchvision's ``features``, in order; the index is torchvision's.
LAYERS: dict[str, tuple[str, ...]] = {arch: _layer_names(arch) for arch in ARCHS}
INDEX: dict[str, dict[str, int]] = {arch: {n: i for i, n in enumerate(names)} for arch, names in LAYERS.items()}
VGG19_LAYERS = LAYERS["vgg19"]
LAYER_INDEX = INDEX["vgg19"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
POOLINGS = ("max", "avg")


def check_layers(layers: Iterable[str], arch: str = "vgg19") -> list[str]:
    """Return ``layers`` as a list, or raise :class:`InputError` naming the first unknown one."""
    if arch not in _BLOCKS:
        raise InputError(f"unknown network '{arch}'; use one of {', '.join(ARCHS)}")
    layers = list(layers)
    for name in layers:
        if name not in INDEX[arch]:
            raise InputError(
                f"unknown {_DISPLAY[arch]} layer '{name}'; use names like relu1_1, conv4_2, pool3 "
                f"(conv/relu block_index with blocks 1-5)"
            )
    return layers


def _build_body(last: int, pooling: str, keep_conv_output: set[int], arch: str = "vgg19") -> nn.Sequential:
    """torchvision's VGG ``features`` up to index ``last`` (inclusive), with torchvision's indices."""
    modules: list[nn.Module] = []
    in_channels = 3
    for _, channels, convs in _BLOCKS[arch]:
        for _ in range(convs):
            modules.append(nn.Conv2d(in_channels, channels, kernel_size=3, padding=1))
            # In-place ReLU saves memory, but would overwrite a conv output a loss still needs.
            modules.append(nn.ReLU(inplace=len(modules) - 1 not in keep_conv_output))
            in_channels = channels
        modules.append(nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2))
    return nn.Sequential(*modules[: last + 1])


class Encoder(Protocol):
    """What a Gatys transfer and fast-style training need of a loss network: named activations
    (with taps, see :meth:`VGGEncoder.forward`), the layers and pooling it was cut for, its body
    and the indices of its named layers (to propagate guides), the smallest side it accepts, and
    what its weights are. :class:`VGGEncoder` is the real one; the tests bring a tiny one."""

    layers: list[str]
    pooling: str
    weights_info: dict[str, Any]
    body: nn.Sequential
    wanted: dict[int, str]
    arch: str

    @property
    def min_side(self) -> int: ...

    def __call__(
        self,
        image: torch.Tensor,
        taps: Mapping[str, Callable[[torch.Tensor], torch.Tensor]] | None = None,
        *,
        until: str | None = None,
    ) -> dict[str, torch.Tensor]: ...

    def to(self, *args: Any, **kwargs: Any) -> Encoder: ...


class VGGEncoder(nn.Module):
    """VGG cut after the deepest requested layer; ``forward`` returns ``{layer: activation}``.

    ``weights_info`` says which weights are loaded; put it into every output's metadata.
    """

    mean: torch.Tensor  # ImageNet normalisation, buffers
    std: torch.Tensor

    def __init__(
        self,
        layers: Iterable[str],
        *,
        weights: str | os.PathLike[str] = "imagenet",
        pooling: str = "max",
        arch: str = "vgg19",
    ) -> None:
        super().__init__()
        self.layers = check_layers(layers, arch)
        self.arch = arch
        if not self.layers:
            raise InputError("the encoder needs at least one layer")
        if pooling not in POOLINGS:
            raise InputError(f"unknown pooling '{pooling}'; use one of {', '.join(POOLINGS)}")
        self.pooling = pooling
        index = INDEX[arch]
        last = max(index[name] for name in self.layers)
        keep = {index[name] for name in self.layers if name.startswith("conv")}
        self.body = _build_body(last, pooling, keep, arch)
        state, self.weights_info = load_weights(weights, arch)
        _load_into(self.body, state, source=self.weights_info.get("path", str(weights)), arch=arch)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.wanted = {index[name]: name for name in self.layers}
        self.requires_grad_(False)
        self.eval()

    def forward(
        self,
        image: torch.Tensor,
        taps: Mapping[str, Callable[[torch.Tensor], torch.Tensor]] | None = None,
        *,
        until: str | None = None,
    ) -> dict[str, torch.Tensor]:
        """Activations of the requested layers for ``image`` (B, 3, H, W) in [0, 1].

        ``taps`` maps a requested layer to a function of its activation whose result the network
        continues with: the hook through which a loss fuses its gradient into the backward pass
        (see :meth:`pipeline.core.losses.GramStyleLoss.taps`). ``until`` (a requested layer) stops the
        pass there: a content target at relu2_2 needs a fifth of VGG-16's work to relu4_3.
        """
        last = len(self.body) - 1
        if until is not None:
            stop = next((i for i, name in self.wanted.items() if name == until), None)
            if stop is None:
                raise ValueError(f"until={until!r} is not one of this encoder's layers {self.layers}")
            last = stop
        x = (image - self.mean) / self.std
        out: dict[str, torch.Tensor] = {}
        for index, module in enumerate(self.body):
            x = module(x)
            name = self.wanted.get(index)
            if name is not None:
                if taps and name in taps:
                    x = taps[name](x)
                out[name] = x
            if index == last:
                break
        return out

    @property
    def min_side(self) -> int:
        """Smallest input side (px) for which every pooling layer of the cut network has output."""
        return 2 ** sum(isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)) for m in self.body)

    def features_state_dict(self) -> dict[str, torch.Tensor]:
        """Weights in torchvision's ``features`` key format (``"0.weight"`` …), loadable back."""
        return {k: v.detach().cpu().clone() for k, v in self.body.state_dict().items()}


# --- weights -----------------------------------------------------------------------------------


def load_weights(
    weights: str | os.PathLike[str], arch: str = "vgg19"
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Resolve a weights option to a features state dict and a description for metadata."""
    state, info = _resolve_weights(os.fspath(weights), arch)
    return state, {**info, "arch": arch}


def _resolve_weights(spec: str, arch: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    name = _DISPLAY[arch]
    if spec == "imagenet":
        return _imagenet_weights(arch)
    if spec == "random" or spec.startswith("random:"):
        seed_text = spec.partition(":")[2] or "0"
        try:
            seed = int(seed_text)
        except ValueError:
            raise InputError(f"weights '{spec}': the seed after 'random:' must be an integer") from None
        info = {
            "kind": "random",
            "seed": seed,
            "note": f"seeded random {name} weights, not ImageNet-trained: a plumbing run, not a real style transfer",
        }
        return random_weights(seed, arch), info
    path = Path(spec)
    if not path.exists():
        raise InputError(f"weights '{spec}': no such file; use 'imagenet', 'random', or a path to a {name} state dict")
    info = {"kind": "file", "path": str(path), "sha256": _sha256(path)}
    return _read_state_dict(path, arch), info


@functools.lru_cache(maxsize=4)
def random_weights(seed: int = 0, arch: str = "vgg19") -> dict[str, torch.Tensor]:
    """A VGG features state dict drawn from a private generator: torchvision's weight
    initialisation (Kaiming normal, fan-out) and PyTorch's default bias initialisation
    (uniform in ±1/√fan-in).

    Why not torchvision's zero biases: with them, every channel of a random network answers a
    flat patch in proportion to its distance from the ImageNet mean colour, and a Gram loss's
    gradient at a pixel is proportional to its features. A grey patch near that mean (a sky, a
    wall, the suit of chelsea's owner) then has features and gradients near zero at every layer,
    and content-initialised transfer leaves it as it was, which a guided result shows as bleeding
    (docs/design-notes.md, "Random weights"). Trained networks have non-zero biases; these make the
    random network a better stand-in for one.

    Always the whole network, so a layer's weights do not depend on where the encoder is cut.
    Cached: callers copy the tensors (``load_state_dict``) and must not modify them.
    """
    generator = torch.Generator().manual_seed(seed)
    body = _build_body(len(LAYERS[arch]) - 1, "max", set(), arch)
    for module in body:
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu", generator=generator)
            bound = 1 / math.sqrt(module.weight[0].numel())
            assert module.bias is not None
            nn.init.uniform_(module.bias, -bound, bound, generator=generator)
    return body.state_dict()


def _imagenet_url(arch: str) -> str:
    import torchvision.models

    return getattr(torchvision.models, _TORCHVISION_WEIGHTS[arch]).IMAGENET1K_V1.url


def imagenet_cache_path(arch: str = "vgg19") -> Path:
    """Where torch hub keeps the ImageNet VGG file (follows ``$TORCH_HOME``)."""
    filename = os.path.basename(urlparse(_imagenet_url(arch)).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def _imagenet_weights(arch: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    url = _imagenet_url(arch)
    cache = imagenet_cache_path(arch)
    name = _DISPLAY[arch]
    if cache.exists():
        return _read_state_dict(cache, arch), _imagenet_info(cache, arch)
    # Debug, not info: when offline, the error below should be the only line the user sees.
    log.debug("downloading ImageNet %s weights to %s", name, cache)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        # torch writes to a temporary file and renames it, so a broken download leaves no cache file.
        torch.hub.download_url_to_file(url, str(cache), hash_prefix=_hash_prefix(cache), progress=sys.stderr.isatty())
    except Exception as exc:  # any failure here has the same two fixes
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(
            f"{name} ImageNet weights are not in the cache ({cache}) and could not be downloaded "
            f"({reason}). Fix: put {cache.name} from {url} at that path (or set TORCH_HOME, or pass "
            f"{option('weights', 'PATH')} to a local {name} state dict), or use {option('weights', 'random')} "
            "for a plumbing run (random network, not a real style transfer)"
        ) from None
    return _read_state_dict(cache, arch), _imagenet_info(cache, arch)


def _imagenet_info(cache: Path, arch: str = "vgg19") -> dict[str, Any]:
    """Describe the cached file honestly: say so when it is not the file torchvision publishes."""
    digest = _sha256(cache)
    expected = _hash_prefix(cache)
    verified = expected is not None and digest.startswith(expected)
    if not verified:
        log.warning("%s is not torchvision's published file (sha256 %s...); recording it as such", cache, digest[:12])
    return {
        "kind": "imagenet" if verified else "imagenet-unverified",
        "source": f"torchvision {_TORCHVISION_WEIGHTS[arch]}.IMAGENET1K_V1",
        "path": str(cache),
        "sha256": digest,
        "verified": verified,
    }


def _hash_prefix(cache: Path) -> str | None:
    """torch hub file names end in the first hex digits of the file's SHA-256 (vgg19-dcbb9e9d.pth)."""
    match = re.search(r"-([a-f0-9]{6,})\.", cache.name)
    return match.group(1) if match else None


def _read_state_dict(path: Path, arch: str = "vgg19") -> dict[str, torch.Tensor]:
    if path.is_dir():
        raise InputError(f"weights '{path}': is a directory, expected a {_DISPLAY[arch]} state dict file (.pth)")
    # One sentence whatever the file holds: never PyTorch's advice to unpickle it without weights_only.
    state = load_torch(
        path,
        what=f"a readable {_DISPLAY[arch]} state dict (weights)",
        fix=f"pass a {_DISPLAY[arch]} .pth file saved with torch.save(model.state_dict())",
    )
    return _features_only(state, source=str(path))


def _features_only(state: Any, *, source: str) -> dict[str, torch.Tensor]:
    """Accept a whole torchvision VGG state dict or only its features; return the features."""
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise InputError(f"weights '{source}': expected a state dict (mapping of tensors), got {type(state).__name__}")
    features: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        key = str(key).removeprefix("module.")
        if key.startswith("classifier."):
            continue
        key = key.removeprefix("features.")
        if isinstance(value, torch.Tensor):
            features[key] = value
    return features


def _load_into(body: nn.Sequential, state: Mapping[str, torch.Tensor], *, source: str, arch: str = "vgg19") -> None:
    """Copy the weights the cut network needs, checking every key and shape against the architecture."""
    expected = body.state_dict()
    name = _DISPLAY[arch]
    for key, tensor in expected.items():
        if key not in state:
            raise InputError(
                f"weights '{source}': missing '{key}' ({LAYERS[arch][int(key.split('.')[0])]}); "
                f"this is not a {name} state dict"
            )
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise InputError(
                f"weights '{source}': '{key}' has shape {tuple(state[key].shape)}, {name} needs "
                f"{tuple(tensor.shape)}; this is not a {name} state dict"
            )
    body.load_state_dict({key: state[key].float() for key in expected})


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
