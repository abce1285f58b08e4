"""Every knob of a Gatys transfer, checked once: :class:`GatysConfig`, and the coarse-to-fine
stages (:func:`auto_scales`, :func:`stage_config`)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.core import targets as style_targets
from pipeline.core.channels import GUIDE_MODES
from pipeline.core.color import COLOUR_MODES, MATCH_METHODS
from pipeline.core.features import POOLINGS, check_layers
from pipeline.core.losses import layer_weights
from pipeline.core.optim import DEFAULT_LR, LBFGS_HISTORY, OPTIMIZERS
from pipeline.errors import InputError, check_choice, option

CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
INITS = ("content", "noise", "style")
#: ``init: image:PATH`` starts from an image of one's own (any size; resized to the output).
INIT_IMAGE = "image:"
#: The smallest ``tile`` (px): a 16 px margin around a 32 px core (see :mod:`pipeline.gatys.tiles`).
MIN_TILE = 64


@dataclass(frozen=True)
class GatysConfig:
    """Every knob of a Gatys transfer; the defaults are the ones our users came from."""

    size: int = 512
    style_size: int | None = None  # long side of the style image; None = same as ``size``
    steps: int = 300  # loss evaluations
    content_weight: float = 1.0
    style_weight: float = 1e6
    tv_weight: float = 0.0
    content_layer: str = CONTENT_LAYER
    style_layers: tuple[str, ...] = STYLE_LAYERS
    style_layer_weights: tuple[float, ...] | None = None  # None = 1 for every layer
    pooling: str = "max"
    init: str = "content"  # or image:PATH
    optimizer: str = "lbfgs"
    lr: float | None = None  # None = DEFAULT_LR[optimizer]
    lbfgs_history: int = LBFGS_HISTORY
    guide_mode: str = "simple"  # spatial control: how region guides reach each layer
    guide_grow: int = 0  # grow (> 0) or shrink (< 0) guides by this many feature-map pixels
    color: str = "none"  # colour control: none, preserve (luminance-only transfer), match (recolour the style)
    color_match: str = "sym"  # how ``match`` maps colours: sym, chol or pca (see pipeline.core.color)
    scales: tuple[int, ...] = ()  # coarse-to-fine stage sizes, ending at ``size``; () = one stage
    stage_steps: int | None = None  # evaluations of each stage before the last (None = ``steps``)
    seed: int = 0
    tile: int | None = None  # tiled criterion for images whose long side exceeds this (px); None = off
    device: str = "auto"
    precision: str = "auto"

    def __post_init__(self) -> None:
        for name in ("size", "steps", "lbfgs_history"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise InputError(f"{name.replace('_', '-')} must be a positive integer, got {value}")
        if self.style_size is not None and self.style_size <= 0:
            raise InputError(f"style-size must be a positive integer, got {self.style_size}")
        for name in ("content_weight", "style_weight", "tv_weight"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise InputError(f"{name.replace('_', '-')} must be a finite number >= 0, got {value}")
        if self.lr is not None and not (math.isfinite(self.lr) and self.lr > 0):
            raise InputError(f"lr must be a finite positive number, got {self.lr}")
        if self.style_layer_weights is not None and not all(
            math.isfinite(w) and w >= 0 for w in self.style_layer_weights
        ):
            raise InputError(f"style-layer-weights must be finite numbers >= 0, got {self.style_layer_weights}")
        if self.tile is not None and (not isinstance(self.tile, int) or self.tile < MIN_TILE):
            raise InputError(f"tile must be a whole number of pixels >= {MIN_TILE}, got {self.tile}")
        if not 0 <= self.seed < 2**63:
            raise InputError(f"seed must be between 0 and 2**63 - 1, got {self.seed}")
        check_choice("pooling", self.pooling, POOLINGS)
        if not self.init.startswith(INIT_IMAGE):
            check_choice("init", self.init, (*INITS, f"{INIT_IMAGE}PATH"))
        elif not self.init[len(INIT_IMAGE) :].strip():
            raise InputError(f"init image: give its path, e.g. {option('init')} image:start.png")
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("guide mode", self.guide_mode, GUIDE_MODES)
        check_choice("color mode", self.color, COLOUR_MODES)
        check_choice("color match method", self.color_match, MATCH_METHODS)
        if self.stage_steps is not None and (not isinstance(self.stage_steps, int) or self.stage_steps <= 0):
            raise InputError(f"stage-steps must be a positive integer, got {self.stage_steps}")
        if self.scales:
            if any(b <= a for a, b in zip(self.scales, self.scales[1:], strict=False)) or self.scales[0] <= 0:
                raise InputError(f"scales must be increasing sizes, got {','.join(map(str, self.scales))}")
            if self.scales[-1] != self.size:
                raise InputError(
                    f"scales must end at the output size ({self.scales[-1]} != {self.size}); "
                    f"give {option('size')} {self.scales[-1]}"
                )
        if not self.style_layers:
            raise InputError("style-layers must name at least one layer")
        check_layers([self.content_layer, *self.style_layers])
        layer_weights(self.style_layers, self.style_layer_weights)

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]

    @property
    def layers(self) -> list[str]:
        return list(dict.fromkeys([self.content_layer, *self.style_layers]))

    def recorded(self) -> dict[str, Any]:
        """Every field as a record's parameters, but ``tile`` only when set: an untiled record says
        nothing of tiles (and the workflow's captions get no ``--tile None``)."""
        fields = dataclasses.asdict(self)
        if fields["tile"] is None:
            del fields["tile"]
        return fields

    def target_settings(self, weights_info: Mapping[str, Any]) -> dict[str, Any]:
        """What style targets computed for this config depend on (see :mod:`pipeline.core.targets`)."""
        return {
            "size": self.style_size or self.size,
            "pooling": self.pooling,
            "weights": style_targets.weights_fingerprint(weights_info),
            "guide_mode": self.guide_mode,
            "guide_grow": self.guide_grow,
        }


def auto_scales(size: int, base: int = 256) -> tuple[int, ...]:
    """Coarse-to-fine sizes from ``base`` up to ``size`` in steps of √2 (the last step may be shorter)."""
    if base >= size:
        return (size,)
    sizes = [base]
    while sizes[-1] * math.sqrt(2) < size - 1:
        sizes.append(round(sizes[-1] * math.sqrt(2)))
    return (*sizes, size)


def stage_config(config: GatysConfig, size: int) -> GatysConfig:
    """The settings of the coarse-to-fine stage at ``size``: the style scaled alike, ``stage_steps``
    evaluations for every stage but the last."""
    if size == config.size:
        return dataclasses.replace(config, scales=())
    style_size = round(config.style_size * size / config.size) if config.style_size else None
    steps = config.stage_steps or config.steps
    return dataclasses.replace(config, size=size, style_size=style_size, steps=steps, scales=())
