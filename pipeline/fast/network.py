"""Johnson's image transformation network, as in pytorch/examples ``fast_neural_style``:
reflection padding, instance norm with affine parameters, three down-convolutions, five residual
blocks, and nearest-neighbour upsampling + convolution instead of transposed convolutions (which
paint checkerboards). ``width`` scales every channel count (1.0 = 32/64/128; 0.5 for CPU speed)."""

from __future__ import annotations

import torch
from torch import nn


class ConvLayer(nn.Sequential):
    """Reflection-padded convolution (optionally after a ×2 nearest upsampling)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, upsample: bool = False):
        layers: list[nn.Module] = [nn.Upsample(scale_factor=2, mode="nearest")] if upsample else []
        layers += [nn.ReflectionPad2d(kernel // 2), nn.Conv2d(in_channels, out_channels, kernel, stride)]
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            ConvLayer(channels, channels, 3),
            nn.InstanceNorm2d(channels, affine=True),
            nn.ReLU(inplace=True),
            ConvLayer(channels, channels, 3),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TransformerNet(nn.Module):
    """RGB in [0, 1] (plus ``guide_channels`` label channels for a guided model) → RGB, same size.
    Height and width must be multiples of 4 (see :func:`pipeline.fast.model.stylize`, which pads)."""

    def __init__(self, width: float = 1.0, guide_channels: int = 0):
        super().__init__()
        if not 0 < width <= 4:
            raise ValueError(f"width must be in (0, 4], got {width}")
        c1, c2, c3 = (max(4, round(c * width)) for c in (32, 64, 128))
        self.width, self.guide_channels = width, guide_channels

        def block(i: int, o: int, k: int, s: int = 1, up: bool = False) -> list[nn.Module]:
            return [ConvLayer(i, o, k, s, up), nn.InstanceNorm2d(o, affine=True), nn.ReLU(inplace=True)]

        self.net = nn.Sequential(
            *block(3 + guide_channels, c1, 9),
            *block(c1, c2, 3, 2),
            *block(c2, c3, 3, 2),
            *(ResidualBlock(c3) for _ in range(5)),
            *block(c3, c2, 3, up=True),
            *block(c2, c1, 3, up=True),
            ConvLayer(c1, 3, 9),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
