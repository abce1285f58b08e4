"""The fast-style model file and stylising with it.

A model file is one ``torch.save`` dict, loadable with ``weights_only=True``: the network's
weights and width, the style's name and a thumbnail of the style image (so a web page can list
models without anything else), the training parameters, and which VGG weights trained it.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from pipeline import io, outputs, record
from pipeline.core.channels import one_hot
from pipeline.core.color import blend_strength, recombine
from pipeline.device import place, resolve_device, resolve_precision
from pipeline.errors import InputError, Mismatch, option
from pipeline.fast.network import TransformerNet, for_inference
from pipeline.fast.runtime import OnnxNetwork
from pipeline.masks import Palette, labels_at
from pipeline.version import __version__

log = logging.getLogger(__name__)

FORMAT = "stylesnake-fast-model/1"
THUMBNAIL = 128  # px, long side


class Network(Protocol):
    """What stylises a batch (B, 3 + guide channels, H, W) → (B, 3, H, W): a network, a
    :class:`Runner`, an exported model in onnxruntime, or instant style's networks."""

    guide_channels: int

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


class Described(Protocol):
    """What a record says of a model: its style's name and what it knows of itself."""

    style_name: str
    info: dict[str, Any]


@dataclass
class FastModel:
    network: TransformerNet
    style_name: str
    thumbnail: Image.Image
    info: dict[str, Any] = field(default_factory=dict)  # training parameters, weights, losses


def thumbnail_of(image: Image.Image) -> Image.Image:
    thumb = image.convert("RGB")
    thumb.thumbnail((THUMBNAIL, THUMBNAIL), Image.Resampling.LANCZOS)
    return thumb


def payload(network: TransformerNet, style_name: str, thumbnail: Image.Image, info: dict[str, Any]) -> dict[str, Any]:
    """What a model file holds (see :func:`save`); also the core of a training checkpoint."""
    return {
        "format": FORMAT,
        "stylesnake": __version__,
        "state_dict": {k: v.detach().cpu() for k, v in network.state_dict().items()},
        "width": float(network.width),
        "guide_channels": int(network.guide_channels),
        "style_name": style_name,
        "thumbnail": torch.from_numpy(np.asarray(thumbnail.convert("RGB")).copy()),
        "info": json.dumps(info, sort_keys=True),
    }


def save(model: FastModel, path: str | os.PathLike[str]) -> None:
    """Write the model file atomically."""
    record.save_torch(payload(model.network, model.style_name, model.thumbnail, model.info), path)


def from_payload(data: Any, *, name: str) -> FastModel:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"{name}: not a Stylesnake fast-style model (train one with `stylesnake train`)")
    network = TransformerNet(width=data["width"], guide_channels=data["guide_channels"])
    try:
        network.load_state_dict(data["state_dict"])
    except (RuntimeError, KeyError) as exc:
        raise InputError(f"{name}: the model's weights do not fit its network ({str(exc).splitlines()[0]})") from None
    network.eval().requires_grad_(False)
    thumbnail = Image.fromarray(data["thumbnail"].numpy(), "RGB")
    return FastModel(network, data["style_name"], thumbnail, json.loads(data["info"]))


def load(path: str | os.PathLike[str]) -> FastModel:
    """Read a model file; anything else (or a damaged file) is one :class:`InputError` line."""
    data = record.load_torch(path, what="a Stylesnake fast-style model", fix="train one with `stylesnake train`")
    return from_payload(data, name=str(path))


class Runner:
    """A network ready to stylise on a device: weights in the precision's dtype, the layout the
    device's convolutions like, optionally compiled.

    On a GPU the fast path is ``torch.compile`` of the bf16 channels-last network (instance norm
    written as one ``var_mean``, so the compiler fuses it with padding and ReLU); eager bf16 gains
    little, as padding, instance norm and upsampling are memory-bound kernels outside cuDNN. On
    CPUs contiguous fp32 eager, with the rearranged upsampling layers, is fastest. The timings:
    docs/design-notes.md, "Fast style"."""

    def __init__(
        self, network: TransformerNet, device: torch.device, *, precision: str = "fp32", compile: bool = False
    ) -> None:
        self.device = device
        self.guide_channels = network.guide_channels
        self.dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        # Channels-last pays only once compiled (eager, it is slower).
        self.layout = torch.channels_last if device.type == "cuda" and compile else torch.contiguous_format
        # A copy either way: .to() below works in place, and the caller's network must stay as it is.
        # On CPUs the rearranged network is faster.
        module: torch.nn.Module = for_inference(network) if device.type == "cpu" else copy.deepcopy(network)
        if compile:
            _fusable_instance_norms(module)
        module = place(module, device, self.layout, self.dtype).eval().requires_grad_(False)
        self.module: Any = torch.compile(module, dynamic=False) if compile else module

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True).to(dtype=self.dtype, memory_format=self.layout)
        with torch.inference_mode():
            return self.module(x)


class _VarMeanInstanceNorm(torch.nn.Module):
    """InstanceNorm2d(affine) as one reduction and one multiply-add, same parameters, any layout."""

    def __init__(self, norm: torch.nn.InstanceNorm2d) -> None:
        super().__init__()
        self.weight, self.bias, self.eps = norm.weight, norm.bias, norm.eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
        scale = self.weight.view(1, -1, 1, 1) * torch.rsqrt(var.float() + self.eps)
        shift = self.bias.view(1, -1, 1, 1) - mean.float() * scale
        return torch.addcmul(shift.to(x.dtype), x, scale.to(x.dtype))


def _fusable_instance_norms(module: torch.nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, torch.nn.InstanceNorm2d):
            setattr(module, name, _VarMeanInstanceNorm(child))
        else:
            _fusable_instance_norms(child)


def stylize(
    network: Network,
    images: torch.Tensor,
    guides: torch.Tensor | None = None,
) -> torch.Tensor:
    """Stylise a batch (B, 3, H, W) in [0, 1] of any size: reflection-padded to a multiple of 4
    (the network halves twice and doubles twice), then cropped back; the result is clamped, fp32,
    on the CPU. A bare network runs as it is (fp32, where its weights are); a :class:`Runner`
    brings its device, precision and compilation."""
    if (guides is None) != (network.guide_channels == 0):
        raise InputError(
            "this model was trained with masks: give the content's mask"
            if guides is None
            else "this model was trained without masks; leave out the mask"
        )
    x = images if guides is None else torch.cat([images, guides.to(images)], dim=1)
    h, w = x.shape[-2:]
    pad_h, pad_w = -h % 4, -w % 4
    if pad_h or pad_w:
        mode = "reflect" if min(h, w) > max(pad_h, pad_w) else "replicate"
        x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
    if isinstance(network, TransformerNet):
        x = x.to(next(network.parameters()).device)
    with torch.inference_mode():
        out = network(x)
    return out[..., :h, :w].float().clamp(0, 1).cpu()


def labels_of(info: dict[str, Any]) -> Palette | None:
    """A guided model's labels (name → colour, from its training record); None if unguided."""
    labels = info.get("labels")
    return Palette.from_mapping(labels) if labels else None


def content_guides(
    model: Described, mask: Image.Image | np.ndarray, size: tuple[int, int], *, name: str = "mask"
) -> torch.Tensor:
    """The guide channels (1, K, H, W) a guided model takes with a content image of ``size``
    (width, height): the painted ``mask`` cleaned onto the model's labels, resized to ``size``.
    A mask in other colours, or drawn for another picture, is an :class:`InputError`."""
    palette = labels_of(model.info)
    if palette is None:
        raise InputError("this model was trained without masks; leave out the mask")
    painted = np.asarray(io.to_rgb(mask)) if isinstance(mask, Image.Image) else mask
    return one_hot(labels_at(painted, size, palette, name=name), range(len(palette.names)))[None]


@dataclass(frozen=True)
class OpenedModel:
    """A fast-style model ready to stylise: the network to call, the model (its record and labels),
    the device and precision it runs at, and the file it came from (None: one built in memory)."""

    network: Network
    model: Described
    device: torch.device
    precision: str
    path: Path | None = None

    @property
    def name(self) -> str:
        """What records and messages call it: its file, else its style's name."""
        return str(self.path) if self.path is not None else self.model.style_name


def open_model(
    model_path: str | os.PathLike[str], *, device: str = "auto", precision: str = "auto", compile: bool = False
) -> OpenedModel:
    """A model file (or its ONNX export, which runs in onnxruntime on the CPU) ready to stylise.

    Example (seeded random VGG weights: a plumbing run; ``weights="imagenet"`` for a real one)::

        >>> from pipeline import TrainConfig, train
        >>> from pipeline.samples import sample_image
        >>> sample_image("chelsea").save("photo.png"); sample_image("hubble_deep_field").save("painting.png")
        >>> tiny = TrainConfig(steps=2, size=32, batch=1, width=0.25)
        >>> _ = train("painting.png", ["photo.png"], "painting.pth", tiny, weights="random")
        >>> from pipeline import open_model
        >>> opened = open_model("painting.pth", device="cpu")
        >>> opened.model.style_name, opened.device.type, opened.precision, opened.name
        ('painting', 'cpu', 'fp32', 'painting.pth')
    """
    if Path(model_path).suffix.lower() == ".onnx":
        onnx = OnnxNetwork(model_path)
        return OpenedModel(onnx, onnx, torch.device("cpu"), "fp32", Path(model_path))
    model = load(model_path)
    where = resolve_device(device)
    precision = resolve_precision(precision, where)
    runner = Runner(model.network, where, precision=precision, compile=compile)
    return OpenedModel(runner, model, where, precision, Path(model_path))


def paint(
    network: Network,
    photos: torch.Tensor,
    guides: torch.Tensor | None = None,
    *,
    preserve_color: bool = False,
    strength: float = 1.0,
) -> torch.Tensor:
    """The photos (B, 3, H, W in [0, 1]) stylised as a user asks: the network's output
    (:func:`stylize`), with the photos' colours under its luminance when ``preserve_color``
    (:func:`pipeline.core.color.recombine`), over the photos at ``strength``
    (:func:`pipeline.core.color.blend_strength`)."""
    result = stylize(network, photos, guides)
    if preserve_color:
        result = recombine(result, photos).clamp(0, 1)
    return blend_strength(result, photos, strength)


def stylize_files(
    model_path: str | os.PathLike[str],
    contents: list[str | os.PathLike[str]],
    outs: list[str | os.PathLike[str]],
    *,
    masks: list[str | os.PathLike[str]] | None = None,
    size: int | None = None,
    preserve_color: bool = False,
    device: str = "auto",
    precision: str = "auto",
    compile: bool = False,
    max_pixels: int = io.MAX_PIXELS,
    strength: float = 1.0,
    alpha: str = "keep",
) -> list[dict[str, Any]]:
    """Stylise each content image into its output (PNG/JPEG by extension, with a JSON sidecar).
    ``masks`` (one per content) feed a guided model. ``size`` resizes the long side first;
    ``preserve_color`` keeps the photo's colours (the result's luminance with the photo's chroma,
    :func:`pipeline.core.color.recombine`). ``compile`` compiles the network first (worth it on a GPU for
    many photos of one size; see :class:`Runner`). ONNX models run in onnxruntime on the CPU.
    ``strength`` (0–1) blends the result with the photo (:func:`pipeline.core.color.blend_strength`). A transparent
    photo keeps its alpha (``alpha="keep"``; the network paints the colour) or is flattened on
    white (``"drop"``).

    Example (seeded random VGG weights: a plumbing run; ``weights="imagenet"`` for a real one)::

        >>> from pipeline import TrainConfig, train
        >>> from pipeline.samples import sample_image
        >>> sample_image("chelsea").save("photo.png"); sample_image("hubble_deep_field").save("painting.png")
        >>> tiny = TrainConfig(steps=2, size=32, batch=1, width=0.25)
        >>> _ = train("painting.png", ["photo.png"], "painting.pth", tiny, weights="random")
        >>> from pipeline import stylize_files
        >>> [record] = stylize_files("painting.pth", ["photo.png"], ["photo_painted.png"], size=64)
        >>> record["output"], record["method"]
        ({'path': 'photo_painted.png', 'width': 64, 'height': 43}, 'johnson2016')
    """
    if not (math.isfinite(strength) and 0 <= strength <= 1):
        raise InputError(f"strength must be a number from 0 (the photo) to 1 (full style), got {strength}")

    opened = open_model(model_path, device=device, precision=precision, compile=compile)
    network, model, where, precision = opened.network, opened.model, opened.device, opened.precision
    _check_stylize(opened, contents, outs, masks)
    written = []
    for index, (content_path, out) in enumerate(zip(contents, outs, strict=True)):
        content = io.read_image(content_path, size=size, max_pixels=max_pixels)
        tensor = io.image_to_tensor(content.image)
        guides = None
        if masks is not None:
            painted = np.asarray(io.load_image(masks[index], max_pixels=max_pixels))
            guides = content_guides(model, painted, content.image.size, name=str(masks[index]))
        started = time.perf_counter()
        result = paint(network, tensor, guides, preserve_color=preserve_color, strength=strength)
        seconds = time.perf_counter() - started
        header = record.header("johnson2016" + ("+guided" if guides is not None else ""), model.info.get("weights"))
        parameters = {"size": size, "preserve_color": preserve_color, "strength": strength, "alpha": alpha}
        metadata = {
            **header,
            "parameters": parameters,
            "model": {"path": str(model_path), "style": model.style_name},
            "content": {"path": str(content_path), "sha256": content.sha256},
            "mask": str(masks[index]) if masks is not None else None,
            "output": {"path": str(out), "width": content.image.width, "height": content.image.height},
            **record.environment(where, precision),
            "seconds": round(seconds, 4),
        }
        transparency = io.kept_alpha(content, out, alpha)
        encoded = io.encode_image(result, out, metadata=record.summary(header, parameters), alpha=transparency)
        record.write(out, encoded, metadata)
        log.info("wrote %s (%.2f s)", out, seconds)
        written.append(metadata)
    return written


def _check_stylize(
    opened: OpenedModel,
    contents: Sequence[str | os.PathLike[str]],
    outs: Sequence[str | os.PathLike[str]],
    masks: Sequence[str | os.PathLike[str]] | None,
) -> None:
    """Before any photo is stylised: a mask for each photo when the model is guided, and outputs
    that can be written and overwrite no input."""
    if masks is not None and len(masks) != len(contents):
        raise Mismatch(
            f"{len(contents)} photos but {len(masks)} masks; give one {option('mask')} per {option('content')}"
        )
    if masks is None and opened.network.guide_channels:
        raise Mismatch(
            f"{opened.name}: this model was trained with masks; give each photo's mask with {option('mask')}"
        )
    for out in outs:
        io.save_format(out)
        outputs.check_writable(out)
    outputs.check_outputs(
        [*outs, *map(record.sidecar_path, outs)],
        [*([opened.path] if opened.path else []), *contents, *(masks or [])],
        sources=[*contents, *contents],
    )
