"""Style targets: everything one style image contributes to a transfer, computed once.

A style's contribution is its Gram matrix at each style layer and, when it has a mask, the guided
Gram of every label of the mask (Gatys 2016). None of it depends on the content image, so the
workflow computes it once per style, saves it (``stylesnake style-targets``), and every content
image's transfer loads it instead of running the style image through VGG again.

The file records what the Grams depend on (style size, layers, pooling, weights, guide mode and
growth); a transfer whose settings differ refuses it with one line saying what differs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline import io, record
from pipeline.core.channels import one_hot, propagate
from pipeline.core.features import Encoder
from pipeline.core.losses import gram_matrix, guided_gram
from pipeline.errors import InputError
from pipeline.masks import LabelMap
from pipeline.version import __version__

log = logging.getLogger(__name__)

FORMAT = "stylesnake-style-targets/1"
SUFFIX = ".pt"


@dataclass(frozen=True)
class StyleTargets:
    """The Gram targets of one style image.

    ``grams[layer]`` is (L + 1, C, C): the guided Gram of each of the mask's L labels, then the
    whole image's plain Gram (index :data:`~pipeline.masks.pairs.WHOLE`); ``held[layer]``
    (L + 1,) says whether a label's guide has any weight at that layer (small regions vanish in
    deep layers). ``names``, ``colours`` and ``counts()`` describe the labels like a
    :class:`~pipeline.masks.LabelMap`, so regions are matched the same way for a mask file and for
    saved targets.
    """

    grams: dict[str, torch.Tensor]
    held: dict[str, torch.Tensor]
    image: torch.Tensor  # (1, 3, H, W) in [0, 1]: the style image as used, for init=style
    names: tuple[str, ...] = ()
    colours: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.uint8))
    pixels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    info: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> np.ndarray:
        return self.pixels

    @property
    def guided(self) -> bool:
        """Whether there are guided Grams (a mask was given), not just the whole image's."""
        return len(next(iter(self.held.values()))) > 1


def compute(
    encoder: Encoder,
    image: torch.Tensor,
    guides: torch.Tensor | None = None,
    *,
    layers: Sequence[str],
    mode: str = "simple",
    grow: int = 0,
    labels: LabelMap | None = None,
) -> StyleTargets:
    """Targets of ``image`` (1, 3, H, W) on the encoder's device, at ``layers``.

    ``guides`` (L, H, W), one channel per label, add the guided Grams, with the guides propagated
    to each layer by ``mode`` and ``grow`` (see :func:`pipeline.core.channels.propagate`); ``labels``
    names them (and gives the guides when ``guides`` is None).
    """
    device = image.device
    if guides is None and labels is not None:
        guides = one_hot(labels.labels, range(len(labels.names)))
    with torch.no_grad():
        features = encoder(image)
        wanted = {index: name for index, name in encoder.wanted.items() if name in layers}
        per_layer = propagate(guides, encoder.body, wanted, mode=mode, grow=grow) if guides is not None else {}
        grams, held = {}, {}
        for layer in layers:
            whole = gram_matrix(features[layer])
            if layer in per_layer:
                guide = per_layer[layer].to(device)
                grams[layer] = torch.cat([guided_gram(features[layer], guide), whole]).float().cpu()
                held[layer] = torch.cat([guide.flatten(1).any(dim=1).cpu(), torch.ones(1, dtype=torch.bool)])
            else:
                grams[layer] = whole.float().cpu()
                held[layer] = torch.ones(1, dtype=torch.bool)
    if labels is not None:
        return StyleTargets(grams, held, image.float().cpu(), labels.names, labels.colours, labels.counts())
    return StyleTargets(grams, held, image.float().cpu())


# --- compatibility -----------------------------------------------------------------------------

#: What the Grams depend on, beyond the style image and mask themselves.
DEPENDS_ON = ("size", "pooling", "weights", "guide_mode", "guide_grow")


def weights_fingerprint(weights_info: Mapping[str, Any]) -> dict[str, Any]:
    """The part of an encoder's ``weights_info`` that identifies the weights (not where they lie)."""
    return {key: weights_info[key] for key in ("arch", "kind", "seed", "sha256") if key in weights_info}


def check_fits(targets: StyleTargets, wanted: Mapping[str, Any], layers: Sequence[str], *, name: str) -> None:
    """Refuse targets computed with other settings than ``wanted`` (keys of :data:`DEPENDS_ON`)."""
    missing = [layer for layer in layers if layer not in targets.grams]
    if missing:
        raise InputError(
            f"{name}: style targets hold no Grams for {', '.join(missing)}; recompute them with these style layers"
        )
    for key in DEPENDS_ON:
        if key.startswith("guide") and not targets.guided:
            continue
        have, want = targets.info.get(key), wanted.get(key)
        if have != want:
            raise InputError(
                f"{name}: style targets were computed with {key.replace('_', ' ')} {have}, this transfer uses "
                f"{want}; recompute them with `stylesnake style-targets` and the same settings"
            )


# --- files -------------------------------------------------------------------------------------


def is_targets_path(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() == SUFFIX


def payload_bytes(targets: StyleTargets) -> bytes:
    """The ``.pt`` file's bytes: tensors, lists and one JSON string only, so it loads with
    ``torch.load(weights_only=True)``."""
    return record.torch_bytes(
        {
            "format": FORMAT,
            "stylesnake": __version__,
            "grams": targets.grams,
            "held": targets.held,
            "image": targets.image.mul(255).round().byte(),
            "names": list(targets.names),
            "colours": torch.from_numpy(np.asarray(targets.colours, np.uint8).reshape(-1, 3).copy()),
            "pixels": torch.from_numpy(np.asarray(targets.pixels, np.int64).copy()),
            "info": io.json_bytes(targets.info).decode(),
        }
    )


def save(targets: StyleTargets, path: str | os.PathLike[str]) -> None:
    """Write ``targets`` atomically as a ``.pt`` file (see :func:`payload_bytes`)."""
    if not is_targets_path(path):
        raise InputError(f"{path}: style targets are saved as {SUFFIX}")
    io.write_bytes(path, payload_bytes(targets))


def load(path: str | os.PathLike[str]) -> StyleTargets:
    """Read targets saved by :func:`save`; anything else is an :class:`InputError`."""
    import json

    payload = record.load_torch(
        path,
        what="a style targets file",
        fix="write one with `stylesnake style-targets` (or recompute it with this version)",
        format=FORMAT,
    )
    return StyleTargets(
        grams=dict(payload["grams"]),
        held=dict(payload["held"]),
        image=payload["image"].float().div(255),
        names=tuple(payload["names"]),
        colours=payload["colours"].numpy(),
        pixels=payload["pixels"].numpy(),
        info=json.loads(payload["info"]),
    )
