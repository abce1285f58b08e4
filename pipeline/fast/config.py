"""A fast-style network's training settings (:class:`TrainConfig`), checked when made, and the
loss network's layers they choose between."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.core.channels import GUIDE_MODES
from pipeline.core.features import check_layers
from pipeline.errors import InputError, check_finite_non_negative

STYLE_LAYERS = {
    "vgg16": ("relu1_2", "relu2_2", "relu3_3", "relu4_3"),
    "vgg19": ("relu1_1", "relu2_1", "relu3_1", "relu4_1"),
}
CONTENT_LAYER = {"vgg16": "relu2_2", "vgg19": "relu2_2"}
#: ``--temporal-weight``'s default (:mod:`pipeline.fast.stability` says its units; the choice:
#: docs/design-notes.md, "Fast style").
TEMPORAL_WEIGHT = 30.0


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 40_000  # about two epochs of COCO train2014 at batch 4
    size: int = 256  # training crop, px
    style_size: int | None = None  # long side of the style image (None = size)
    batch: int = 4
    width: float = 1.0
    lr: float = 1e-3
    content_weight: float = 1e5
    style_weight: float = 1e10
    tv_weight: float = 0.0
    temporal_weight: float = TEMPORAL_WEIGHT  # stability under motion (pipeline.fast.stability); 0: off
    loss_network: str = "vgg16"
    guide_mode: str = "simple"  # guided training: how label guides reach the loss layers
    checkpoint_every: int = 500
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"  # bf16 autocast on CUDA, fp32 elsewhere
    workers: int = 2  # threads preparing batches ahead

    def __post_init__(self) -> None:
        for name in ("steps", "size", "batch", "checkpoint_every", "workers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise InputError(f"{name.replace('_', '-')} must be a positive integer, got {value}")
        if self.size % 4:
            raise InputError(f"size must be a multiple of 4 (the network halves twice), got {self.size}")
        if not 0 < self.width <= 4:
            raise InputError(f"width must be in (0, 4], got {self.width}")
        for name in ("content_weight", "style_weight", "tv_weight", "temporal_weight", "lr"):
            check_finite_non_negative(name.replace("_", "-"), getattr(self, name))
        check_layers(STYLE_LAYERS.get(self.loss_network, ()), self.loss_network)
        if self.guide_mode not in GUIDE_MODES:
            raise InputError(f"unknown guide mode '{self.guide_mode}'; use one of {', '.join(GUIDE_MODES)}")
