"""A clip in instant style (``stylesnake video --style PAINTING --instant``): every frame through
Magenta's pretrained arbitrary-style networks (:mod:`pipeline.arbitrary`), by the same road a fast
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
from pipeline.arbitrary.networks import Networks, check_fits, open_networks
from pipeline.arbitrary.regions import feather, region_square
from pipeline.arbitrary.stills import METHOD, Vectors, check_blend
from pipeline.errors import InputError
from pipeline.fast.model import OpenedModel
from pipeline.masks import Palette, hex_colour, load_label_map


class InstantNetwork:
    """Instant style called like a fast network: each image of a batch painted by one vector, or
    (with ``vectors`` (K, 100), one per label of the painting's mask) region by region in one pass,
    the frame's label guides (K channels after the picture's 3) saying where each label is."""

    def __init__(self, networks: Networks, vectors: np.ndarray) -> None:
        self.networks, self.vectors = networks, vectors
        self.guide_channels = len(vectors) if vectors.ndim == 2 else 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        images = x.float().permute(0, 2, 3, 1).contiguous().numpy()
        painted = [self._paint(image) for image in images]
        return torch.from_numpy(np.stack(painted)).permute(0, 3, 1, 2)

    def _paint(self, image: np.ndarray) -> np.ndarray:
        check_fits(image.shape[1], image.shape[0], "the clip's frames")
        if not self.guide_channels:
            return self.networks.transform(image[..., :3], self.vectors)
        guides = np.moveaxis(image[..., 3:], -1, 0)
        present = np.flatnonzero(guides.reshape(len(guides), -1).max(axis=1) > 0)  # labels in this frame
        weights = feather(guides[present].astype(np.float32))
        return self.networks.transform_regions(image[..., :3], self.vectors[present], weights)


@dataclass
class InstantModel:
    """What a clip's record says of its paintings (as a fast model's says of its training)."""

    style_name: str
    info: dict[str, Any] = field(default_factory=dict)


def open_instant(
    paintings: Sequence[str | os.PathLike[str]],
    *,
    blend: Sequence[float] | None = None,
    style_mask: str | os.PathLike[str] | None = None,
    palette: Palette | None = None,
    k: int | None = None,
    max_pixels: int = io.MAX_PIXELS,
    device: str = "auto",
) -> OpenedModel:
    """The paintings as a model :func:`~pipeline.video.fast.fast_video_files` stylises a clip with.
    With ``style_mask`` (one painting's mask), a guided model: its labels are the ones the clip's
    keyframe masks are painted in, each taking the style of its region of the painting."""
    weights = check_blend(blend, len(paintings))
    loaded = [io.read_image(p, max_pixels=max_pixels) for p in paintings]
    networks = open_networks(device=device)
    vectors = Vectors(networks, [np.asarray(image.image) for image in loaded], weights)
    labels: dict[str, str] = {}
    if style_mask is None:
        vector = vectors.whole()
    else:
        if len(paintings) != 1:
            raise InputError(f"a clip takes regions from one painting and its mask; {len(paintings)} paintings given")
        mask = load_label_map(style_mask, image=loaded[0], k=k, palette=palette, max_pixels=max_pixels)
        present = [i for i, count in enumerate(mask.counts()) if count]
        labels = {mask.names[i]: hex_colour(mask.colours[i]) for i in present}
        painting = np.asarray(loaded[0].image)
        vector = np.stack([networks.style_vector(region_square(painting, mask.labels == i)) for i in present])
    info = {
        "clip_method": f"{METHOD}-video",
        "weights": None,
        "networks": networks.record,
        "styles": [{"path": str(p), "sha256": s.sha256} for p, s in zip(paintings, loaded, strict=True)],
        "blend": weights,
        **({"labels": labels, "style_mask": str(style_mask)} if labels else {}),
    }
    name = "+".join(Path(p).stem for p in paintings)
    where = torch.device(networks.record["device"])
    return OpenedModel(InstantNetwork(networks, vector), InstantModel(name, info), where, "fp32")
