"""Johnson's image transformation network, as in pytorch/examples ``fast_neural_style``:
reflection padding, instance norm with affine parameters, three down-convolutions, five residual
blocks, and nearest-neighbour upsampling + convolution instead of transposed convolutions (which
paint checkerboards). ``width`` scales every channel count (1.0 = 32/64/128; 0.25 to serve from
CPUs)."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
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


# --- the same function, rearranged for inference --------------------------------------------------
#
# Two layers of Johnson's network are slow for their arithmetic on CPUs: the ×2 upsampling
# convolutions, which convolve a map holding every value four times, and the last 9×9 convolution,
# whose 3 output channels fill a fraction of a CPU's vector registers (onnxruntime, 1024², width
# 0.5: 0.35 s of 1.4). :func:`for_inference` swaps them for exactly equivalent layers whose weights
# are derived from the trained ones.


class UpsampleConvTranspose(nn.Module):
    """``ConvLayer(upsample=True)`` (3×3) as one stride-2 transposed convolution of the input.

    Nearest ×2 upsampling then reflection padding equals edge padding then upsampling; along one
    axis, output pixel 2i sees x[i-1]·w0 + x[i]·(w1 + w2) and 2i + 1 sees x[i]·(w0 + w1) + x[i+1]·w2,
    which is a 4-tap transposed convolution with taps (w2, w1 + w2, w0 + w1, w0). 4 instead of 9
    multiplies per output, and no upsampled copy in memory."""

    def __init__(self, layer: ConvLayer):
        super().__init__()
        conv = layer[-1]
        if not (isinstance(layer[0], nn.Upsample) and conv.kernel_size == (3, 3) and conv.stride == (1, 1)):
            raise ValueError("UpsampleConvTranspose replaces a ×2-upsampling 3×3 ConvLayer")
        w = conv.weight.detach()
        w = torch.stack([w[..., 2], w[..., 1] + w[..., 2], w[..., 0] + w[..., 1], w[..., 0]], dim=-1)
        w = torch.stack([w[..., 2, :], w[..., 1, :] + w[..., 2, :], w[..., 0, :] + w[..., 1, :], w[..., 0, :]], dim=-2)
        # padding=3 crops what the edge padding added: output 2i reads padded pixel i + 1 = x[i].
        self.conv = nn.ConvTranspose2d(conv.in_channels, conv.out_channels, 4, stride=2, padding=3)
        with torch.no_grad():
            self.conv.weight.copy_(w.transpose(0, 1))
            self.conv.bias.copy_(conv.bias.detach())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (1, 1, 1, 1), mode="replicate"))


class PhaseConv(nn.Module):
    """A stride-1, odd-kernel, reflection-padded ``ConvLayer`` computed as a stride-2 convolution
    whose 4·O output channels are the four pixel phases of its O outputs, then depth-to-space.

    Output pixel (2i + a, 2j + b) reads padded pixels 2i + a + ky; as a stride-2 convolution over
    rows 2i … 2i + k that is tap a + ky of a (k + 1)-tap kernel for phase a. Same arithmetic as the
    k×k convolution (4·O outputs at a quarter of the positions, taps padded by one), but for the
    last layer 12 output channels instead of 3."""

    def __init__(self, layer: ConvLayer):
        super().__init__()
        pad, conv = layer
        k = conv.kernel_size[0]
        if not (isinstance(pad, nn.ReflectionPad2d) and conv.stride == (1, 1) and k % 2 == 1):
            raise ValueError("PhaseConv replaces a stride-1, odd-kernel, reflection-padded ConvLayer")
        self.pad = k // 2
        o, i = conv.out_channels, conv.in_channels
        weight = conv.weight.new_zeros(o, 2, 2, i, k + 1, k + 1)  # pixel_shuffle's order: (o, a, b)
        for a in (0, 1):
            for b in (0, 1):
                weight[:, a, b, :, a : a + k, b : b + k] = conv.weight.detach()
        self.conv = nn.Conv2d(i, 4 * o, k + 1, stride=2)
        with torch.no_grad():
            self.conv.weight.copy_(weight.reshape(4 * o, i, k + 1, k + 1))
            self.conv.bias.copy_(conv.bias.detach().repeat_interleave(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.conv(F.pad(x, (self.pad,) * 4, mode="reflect")), 2)


def for_inference(network: TransformerNet) -> TransformerNet:
    """A copy of ``network`` computing the same function (to float rounding) faster on CPUs: its
    upsampling layers as :class:`UpsampleConvTranspose`, its last layer as :class:`PhaseConv`.
    Inputs must be multiples of 4 a side, as for the network itself. Weights are derived, not
    trained: for stylising and export, not for training."""
    folded = copy.deepcopy(network)
    layers = [
        UpsampleConvTranspose(layer) if isinstance(layer, ConvLayer) and isinstance(layer[0], nn.Upsample) else layer
        for layer in folded.net
    ]
    layers[-1] = PhaseConv(layers[-1])
    folded.net = nn.Sequential(*layers)
    return folded.eval().requires_grad_(False)
