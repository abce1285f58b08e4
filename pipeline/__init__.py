"""Stylesnake: semantic-segmentation-guided neural style transfer.

The calls a Python user needs are here, at the top, and cost nothing to import until one is used
(torch loads with the first of them)::

    from pipeline import GatysConfig, transfer_files, InputError

- Gatys optimisation: :class:`GatysConfig`, :func:`transfer` (tensors in, a
  :class:`TransferResult` out), :func:`transfer_files` (files in, results and their records out);
- fast style: :class:`TrainConfig`, :func:`train`, :func:`stylize_files`, :func:`open_model`;
- instant style (any painting, pretrained networks, the ``instant`` extra): :func:`instant`
  (arrays in and out), :func:`instant_files`;
- clips: :class:`VideoConfig`, :func:`video_files` (optimised), :func:`fast_video_files`;
- masks: :func:`clean_mask`/:func:`clean_mask_file` (painted → exact label map),
  :func:`propose_mask`/:func:`propose_mask_file` (by colour), :func:`semantic_mask_file` (by a
  scene parser), :class:`LabelMap`, :class:`Palette`;
- errors: :class:`InputError` and its kinds (:class:`TooLarge`, :class:`Empty`,
  :class:`Unsupported`, :class:`NoPictures`, :class:`Damaged`, :class:`Mismatch`).

The packages, by layer (each imports only from those below it): ``cli``, ``web``, ``workflow``
and ``gallery`` (presentation); ``synthetic`` (clips and scenes with known answers) and
``video``; ``gatys``, ``fast`` and ``arbitrary`` (the three methods; ``arbitrary`` is instant
style); ``core`` (the style-transfer core: encoder, losses, guide channels, region guidance,
targets, colour, optimiser) over ``masks``; and the
infrastructure, the modules at this top level (``device``, ``outputs``, ``record``, ``samples``,
``io``, ``errors``, ``version``, ``progress``). ``pyproject.toml`` holds the layers as contracts
that CI checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.lazy import lazy_names
from pipeline.version import __version__, code_version

if TYPE_CHECKING:  # the names below, for type checkers; at run time they load on first use
    from pipeline.arbitrary.stills import instant, instant_files
    from pipeline.errors import Damaged, Empty, InputError, Mismatch, NoPictures, TooLarge, Unsupported
    from pipeline.fast.config import TrainConfig
    from pipeline.fast.model import open_model, stylize_files
    from pipeline.fast.train import train
    from pipeline.gatys.config import GatysConfig
    from pipeline.gatys.stills import transfer_files
    from pipeline.gatys.transfer import TransferResult, transfer
    from pipeline.masks.clean import clean_mask
    from pipeline.masks.label_maps import clean_mask_file
    from pipeline.masks.palette import LabelMap, Palette
    from pipeline.masks.propose import propose_mask, propose_mask_file
    from pipeline.masks.semantic import semantic_mask_file
    from pipeline.video.fast import fast_video_files
    from pipeline.video.run import video_files
    from pipeline.video.transfer import VideoConfig

#: The public name → the module that defines it.
_PUBLIC = {
    **dict.fromkeys(
        ("InputError", "TooLarge", "Empty", "Unsupported", "NoPictures", "Damaged", "Mismatch"), "pipeline.errors"
    ),
    "GatysConfig": "pipeline.gatys.config",
    "TransferResult": "pipeline.gatys.transfer",
    "transfer": "pipeline.gatys.transfer",
    "transfer_files": "pipeline.gatys.stills",
    "TrainConfig": "pipeline.fast.config",
    "train": "pipeline.fast.train",
    "stylize_files": "pipeline.fast.model",
    "open_model": "pipeline.fast.model",
    "instant": "pipeline.arbitrary.stills",
    "instant_files": "pipeline.arbitrary.stills",
    "VideoConfig": "pipeline.video.transfer",
    "video_files": "pipeline.video.run",
    "fast_video_files": "pipeline.video.fast",
    "clean_mask": "pipeline.masks.clean",
    "clean_mask_file": "pipeline.masks.label_maps",
    "LabelMap": "pipeline.masks.palette",
    "Palette": "pipeline.masks.palette",
    "propose_mask": "pipeline.masks.propose",
    "propose_mask_file": "pipeline.masks.propose",
    "semantic_mask_file": "pipeline.masks.semantic",
}

__all__ = [
    "Damaged",
    "Empty",
    "GatysConfig",
    "InputError",
    "LabelMap",
    "Mismatch",
    "NoPictures",
    "Palette",
    "TooLarge",
    "TrainConfig",
    "TransferResult",
    "Unsupported",
    "VideoConfig",
    "__version__",
    "clean_mask",
    "clean_mask_file",
    "code_version",
    "fast_video_files",
    "instant",
    "instant_files",
    "open_model",
    "propose_mask",
    "propose_mask_file",
    "semantic_mask_file",
    "stylize_files",
    "train",
    "transfer",
    "transfer_files",
    "video_files",
]


__getattr__, __dir__ = lazy_names(__name__, _PUBLIC)
