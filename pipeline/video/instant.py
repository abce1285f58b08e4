"""A clip in instant style (``stylesnake video --style PAINTING --instant``): every frame through
Magenta's pretrained arbitrary-style networks (:mod:`pipeline.instant`), by the same road a fast
network's clip takes (:func:`pipeline.video.fast.fast_video_files`: the clip streamed in and out,
the flow blend with the previous output on top).

The networks are wrapped to be called like a fast network, (B, 3, H, W) → (B, 3, H, W); the
painting's style vector (several paintings mixed by weight) is computed once for the clip.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline import io
from pipeline.fast.model import OpenedModel
from pipeline.instant.networks import Networks, open_networks
from pipeline.instant.stills import METHOD, Vectors, check_blend


class InstantNetwork:
    """Instant style called like a fast network: each image of a batch painted by one vector."""

    guide_channels = 0

    def __init__(self, networks: Networks, vector: np.ndarray) -> None:
        self.networks, self.vector = networks, vector

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        images = x.float().permute(0, 2, 3, 1).contiguous().numpy()
        painted = [self.networks.transform(image, self.vector) for image in images]
        return torch.from_numpy(np.stack(painted)).permute(0, 3, 1, 2)


@dataclass
class InstantModel:
    """What a clip's record says of its paintings (as a fast model's says of its training)."""

    style_name: str
    info: dict[str, Any] = field(default_factory=dict)


def open_instant(
    paintings: Sequence[str | os.PathLike[str]],
    *,
    blend: Sequence[float] | None = None,
    max_pixels: int = io.MAX_PIXELS,
) -> OpenedModel:
    """The paintings as a model :func:`~pipeline.video.fast.fast_video_files` stylises a clip with."""
    weights = check_blend(blend, len(paintings))
    loaded = [io.read_image(p, max_pixels=max_pixels) for p in paintings]
    networks = open_networks()
    vector = Vectors(networks, [np.asarray(image.image) for image in loaded], weights).whole()
    info = {
        "clip_method": f"{METHOD}-video",
        "weights": None,
        "networks": networks.record,
        "styles": [{"path": str(p), "sha256": s.sha256} for p, s in zip(paintings, loaded, strict=True)],
        "blend": weights,
    }
    name = "+".join(Path(p).stem for p in paintings)
    return OpenedModel(InstantNetwork(networks, vector), InstantModel(name, info), torch.device("cpu"), "fp32")
