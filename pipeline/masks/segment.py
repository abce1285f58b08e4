"""Mask proposals from a pretrained segmentation model, for users who have one.

Never required (:mod:`pipeline.masks.propose` needs no weights): ``propose-mask --weights PATH``
takes a state dict of one of torchvision's segmentation models (DeepLabV3 with a ResNet-50,
ResNet-101 or MobileNetV3 backbone, or LR-ASPP MobileNetV3), recognised by its keys and shapes.
Its classes become the regions: the ``k`` largest (or every class covering at least the minimum
area), the rest filled from their surroundings; with 21 classes they are named after Pascal VOC's.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from pipeline.errors import InputError, option
from pipeline.record import load_torch

log = logging.getLogger(__name__)

#: The classes of torchvision's pretrained segmentation weights (Pascal VOC, COCO subset).
VOC_CLASSES = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)
#: The short side torchvision's segmentation weights were evaluated at.
SHORT_SIDE = 520
_FIX = f"give a state dict of torchvision's DeepLabV3 or LR-ASPP (or leave out {option('weights')})"


def _builders() -> dict[str, Callable[..., Any]]:
    from torchvision.models import segmentation

    return {
        "lraspp_mobilenet_v3_large": segmentation.lraspp_mobilenet_v3_large,
        "deeplabv3_mobilenet_v3_large": segmentation.deeplabv3_mobilenet_v3_large,
        "deeplabv3_resnet50": segmentation.deeplabv3_resnet50,
        "deeplabv3_resnet101": segmentation.deeplabv3_resnet101,
    }


def load_segmenter(path: str | os.PathLike[str]) -> tuple[Any, tuple[str, ...]]:
    """The model a state dict at ``path`` fits (eval mode, CPU) and its class names."""
    state = load_torch(path, what="a segmentation model's state dict", fix=_FIX)
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # torchvision's reference training scripts save {"model": ..., ...}
    if not isinstance(state, dict) or not state:
        raise InputError(f"{path}: not a segmentation model's state dict; {_FIX}")
    classes = _class_count(state)
    if classes is None:
        raise InputError(f"{path}: no classifier in this state dict; {_FIX}")
    aux = any(key.startswith("aux_classifier.") for key in state)
    for name, build in _builders().items():
        kwargs: dict[str, Any] = {"weights": None, "weights_backbone": None, "num_classes": classes}
        if not name.startswith("lraspp"):
            kwargs["aux_loss"] = aux
        model = build(**kwargs)
        try:
            model.load_state_dict(state, strict=True)
        except (RuntimeError, KeyError):
            continue
        log.info("%s: %s, %d classes", path, name, classes)
        names = VOC_CLASSES if classes == len(VOC_CLASSES) else tuple(f"class{i}" for i in range(classes))
        return model.eval(), names
    raise InputError(f"{path}: a state dict of no segmentation model we know; {_FIX}")


def _class_count(state: dict[str, Any]) -> int | None:
    # DeepLabV3's last classifier conv is classifier.4; LR-ASPP's are classifier.low/high_classifier.
    for key in ("classifier.4.weight", "classifier.high_classifier.weight"):
        if key in state and hasattr(state[key], "shape"):
            return int(state[key].shape[0])
    return None


def segment(image: np.ndarray, model: Any) -> np.ndarray:
    """Class index per pixel of an (H, W, 3) uint8 RGB image, at its own size."""
    import torch
    import torch.nn.functional as F

    height, width = image.shape[:2]
    scale = SHORT_SIDE / min(height, width)
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    tensor = torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1)[None].float() / 255
    tensor = F.interpolate(tensor, size=size, mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.inference_mode():
        logits = model((tensor - mean) / std)["out"]
        logits = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)
    return logits.argmax(dim=1)[0].numpy().astype(np.int64)
