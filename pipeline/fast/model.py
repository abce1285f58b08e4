"""The fast-style model file and stylising with it.

A model file is one ``torch.save`` dict, loadable with ``weights_only=True``: the network's
weights and width, the style's name and a thumbnail of the style image (so a web page can list
models without anything else), the training parameters, and which VGG weights trained it.
"""

from __future__ import annotations

import io as _bytes_io
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import pipeline
from pipeline import io
from pipeline.errors import InputError
from pipeline.fast.network import TransformerNet

FORMAT = "stylesnake-fast-model/1"
THUMBNAIL = 128  # px, long side


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
        "stylesnake": pipeline.__version__,
        "state_dict": {k: v.detach().cpu() for k, v in network.state_dict().items()},
        "width": float(network.width),
        "guide_channels": int(network.guide_channels),
        "style_name": style_name,
        "thumbnail": torch.from_numpy(np.asarray(thumbnail.convert("RGB")).copy()),
        "info": json.dumps(info, sort_keys=True),
    }


def save(model: FastModel, path: str | os.PathLike[str]) -> None:
    """Write the model file atomically."""
    buffer = _bytes_io.BytesIO()
    torch.save(payload(model.network, model.style_name, model.thumbnail, model.info), buffer)
    io.write_bytes(path, buffer.getvalue())


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
    if not Path(path).is_file():
        raise InputError(f"{path}: no such model file")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # unpickling fails in many ways; all mean "not a model file"
        raise InputError(f"{path}: not a Stylesnake fast-style model, or a damaged one; train it again") from None
    return from_payload(data, name=str(path))


def stylize(
    network: TransformerNet | OnnxNetwork, images: torch.Tensor, guides: torch.Tensor | None = None
) -> torch.Tensor:
    """Stylise a batch (B, 3, H, W) in [0, 1] of any size: reflection-padded to a multiple of 4
    (the network halves twice and doubles twice), then cropped back; the result is clamped."""
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
    with torch.inference_mode():
        out = network(x)
    return out[..., :h, :w].clamp(0, 1)


def export_onnx(model_path: str | os.PathLike[str], out: str | os.PathLike[str], *, opset: int = 17) -> Path:
    """Export a model to ONNX with dynamic batch, height and width (multiples of 4; the ONNX path of
    :func:`stylize_files` pads like :func:`stylize`). The style's name and the training record
    travel in the ONNX metadata."""
    import warnings

    model = load(model_path)
    channels = 3 + model.network.guide_channels
    buffer = _bytes_io.BytesIO()
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and shape-inference chatter
        torch.onnx.export(
            model.network,
            (torch.rand(1, channels, 64, 64),),
            buffer,
            input_names=["image"],
            output_names=["stylized"],
            dynamic_axes={"image": axes, "stylized": axes},
            opset_version=opset,
            dynamo=False,
        )
    import onnx

    graph = onnx.load_from_string(buffer.getvalue())
    for key, value in (("stylesnake_style", model.style_name), ("stylesnake_info", json.dumps(model.info))):
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    io.write_bytes(out, graph.SerializeToString())
    return Path(out)


class OnnxNetwork:
    """An exported model in onnxruntime, called like the network (B, C, H, W) → (B, 3, H, W)."""

    def __init__(self, path: str | os.PathLike[str]):
        import onnxruntime

        try:
            self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise InputError(f"{path}: not a readable ONNX model ({str(exc).splitlines()[0][:200]})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if "stylesnake_style" not in meta:
            raise InputError(f"{path}: an ONNX model, but not one exported by `stylesnake export`")
        self.style_name = meta["stylesnake_style"]
        self.info = json.loads(meta.get("stylesnake_info", "{}"))
        self.guide_channels = self.session.get_inputs()[0].shape[1] - 3

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.session.run(None, {"image": x.float().contiguous().numpy()})[0])


def stylize_files(
    model_path: str | os.PathLike[str],
    contents: list[str | os.PathLike[str]],
    outs: list[str | os.PathLike[str]],
    *,
    size: int | None = None,
    preserve_color: bool = False,
    max_pixels: int = io.MAX_PIXELS,
) -> list[dict[str, Any]]:
    """Stylise each content image into its output (PNG/JPEG by extension, with a JSON sidecar).
    ``size`` resizes the long side first; ``preserve_color`` keeps the photo's colours (the
    result's luminance with the photo's chroma, :func:`pipeline.color.recombine`)."""
    from pipeline.color import recombine

    if Path(model_path).suffix.lower() == ".onnx":
        onnx_network = OnnxNetwork(model_path)
        network, style_name, info = onnx_network, onnx_network.style_name, onnx_network.info
    else:
        model = load(model_path)
        network, style_name, info = model.network, model.style_name, model.info
    for out in outs:
        io.save_format(out)
        io.check_writable(out)
    written = []
    for content_path, out in zip(contents, outs, strict=True):
        content = io.read_image(content_path, size=size, max_pixels=max_pixels)
        tensor = io.image_to_tensor(content.image)
        started = time.perf_counter()
        result = stylize(network, tensor)
        if preserve_color:
            result = recombine(result, tensor).clamp(0, 1)
        seconds = time.perf_counter() - started
        metadata = {
            "stylesnake": pipeline.__version__,
            "method": "johnson2016",
            "model": {"path": str(model_path), "style": style_name, "weights": info.get("weights")},
            "content": {"path": str(content_path), "sha256": content.sha256},
            "parameters": {"size": size, "preserve_color": preserve_color},
            "output": {"path": str(out), "width": content.image.width, "height": content.image.height},
            "seconds": round(seconds, 4),
        }
        io.write_bytes(Path(f"{out}.json"), io.json_bytes(metadata))
        io.save_image(result, out)
        written.append(metadata)
    return written
