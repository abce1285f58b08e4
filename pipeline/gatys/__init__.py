"""Gatys et al. (2015) style transfer: optimise an image so its VGG features match the content
image's at one layer and its Gram matrices match the style image's at several; with spatial,
colour and scale control (Gatys et al. 2016).

- :mod:`~pipeline.gatys.config`: :class:`GatysConfig`, every knob checked once, and the
  coarse-to-fine stages.
- :mod:`~pipeline.gatys.criterion`: the loss builder, the criterion of an image as weighted terms.
- :mod:`~pipeline.gatys.transfer`: one transfer on tensors.
- :mod:`~pipeline.gatys.stills`: paths in, image and record out (what the CLI and the Snakefile call).
- :mod:`~pipeline.gatys.mixing`: scale mixing, a style image from two paintings' scales.

The optimisation loop itself is :func:`pipeline.core.optim.optimize`.
"""

from pipeline.core.optim import DEFAULT_LR, LBFGS_HISTORY, OPTIMIZERS
from pipeline.gatys.config import CONTENT_LAYER, INITS, STYLE_LAYERS, GatysConfig, auto_scales, stage_config
from pipeline.gatys.criterion import Term, build_criterion
from pipeline.gatys.mixing import FINE_LAYERS, mix_scales_files
from pipeline.gatys.stills import peak_memory_mb, style_targets_file, transfer_files
from pipeline.gatys.transfer import TransferResult, build_encoder, initial_image, transfer
from pipeline.progress import PROGRESS_EVERY, Progress

__all__ = [
    "CONTENT_LAYER",
    "DEFAULT_LR",
    "FINE_LAYERS",
    "INITS",
    "LBFGS_HISTORY",
    "OPTIMIZERS",
    "PROGRESS_EVERY",
    "STYLE_LAYERS",
    "GatysConfig",
    "Progress",
    "Term",
    "TransferResult",
    "auto_scales",
    "build_criterion",
    "build_encoder",
    "initial_image",
    "mix_scales_files",
    "peak_memory_mb",
    "stage_config",
    "style_targets_file",
    "transfer",
    "transfer_files",
]
