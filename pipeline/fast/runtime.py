"""An exported fast-style model (``stylesnake export``) in onnxruntime, called like the network
(``video --model``/``stylize`` with an ``.onnx``)."""

from __future__ import annotations

import json
import os

import torch

from pipeline.errors import InputError


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
