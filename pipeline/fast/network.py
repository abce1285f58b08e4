"""Johnson's image transformation network, as in pytorch/examples ``fast_neural_style``:
reflection padding, instance norm with affine parameters, three down-convolutions, five residual
blocks, and nearest-neighbour upsampling + convolution instead of transposed convolutions (which
paint checkerboards). ``width`` scales every channel count (1.0 = 32/64/128; 0.25 to serve from
CPUs)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


class ConvLayer(nn.Sequential):
    """Reflection-padded convolution (optionally after a ×2 nearest upsampling).

    ``form`` says which ones :func:`for_inference` rearranges: ×2-upsampling 3×3 layers
    (``"upsample"``, see :func:`upsample_conv`) and layers with fewer than 8 outputs (``"phases"``,
    the last one, see :func:`phase_conv`)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, upsample: bool = False):
        layers: list[nn.Module] = [nn.Upsample(scale_factor=2, mode="nearest")] if upsample else []
        layers += [nn.ReflectionPad2d(kernel // 2), nn.Conv2d(in_channels, out_channels, kernel, stride)]
        super().__init__(*layers)
        self.form = "plain"
        if upsample and kernel == 3 and stride == 1:
            self.form = "upsample"
        elif not upsample and stride == 1 and kernel % 2 == 1 and out_channels < 8:
            self.form = "phases"

    @property
    def conv(self) -> nn.Conv2d:
        conv = self[-1]
        assert isinstance(conv, nn.Conv2d)
        return conv


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


# --- the same function, rearranged for CPUs --------------------------------------------------------
#
# Two layers of Johnson's network are slow for their arithmetic on CPUs: the ×2 upsampling
# convolutions, which convolve a map holding every value four times, and the last 9×9 convolution,
# whose 3 output channels fill a fraction of a CPU's vector registers (onnxruntime, 1024², width
# 0.5: 0.35 s of 1.4). Both have exact equivalents computed from the same weights, which
# :func:`for_inference` installs. (Training keeps the layers as written: with the backward pass
# dominating, the rearrangement gained nothing measurable there on a CPU.)


def upsample_taps(weight: torch.Tensor) -> torch.Tensor:
    """(O, I, 3, 3) → the (I, O, 4, 4) transposed-convolution weight of :func:`upsample_conv`.

    Nearest ×2 upsampling then reflection padding equals edge padding then upsampling; along one
    axis, output pixel 2i sees x[i-1]·w0 + x[i]·(w1 + w2) and 2i + 1 sees x[i]·(w0 + w1) + x[i+1]·w2,
    which is a 4-tap transposed convolution with taps (w2, w1 + w2, w0 + w1, w0)."""
    w = weight
    w = torch.stack([w[..., 2], w[..., 1] + w[..., 2], w[..., 0] + w[..., 1], w[..., 0]], dim=-1)
    w = torch.stack([w[..., 2, :], w[..., 1, :] + w[..., 2, :], w[..., 0, :] + w[..., 1, :], w[..., 0, :]], dim=-2)
    return w.transpose(0, 1)


def upsample_conv(x: torch.Tensor, taps: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """×2 nearest upsampling, reflection padding and a 3×3 convolution as one stride-2 transposed
    convolution of the small map (``taps`` from :func:`upsample_taps`): 4 instead of 9 multiplies
    per output, and no upsampled copy in memory. padding=3 crops what the edge padding added."""
    return F.conv_transpose2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), taps, bias, stride=2, padding=3)


def phase_taps(weight: torch.Tensor) -> torch.Tensor:
    """(O, I, k, k) → the (4·O, I, k+1, k+1) weight of :func:`phase_conv`, channels in
    ``pixel_shuffle``'s order (o, a, b): phase (a, b) holds the kernel shifted by (a, b)."""
    phases = [F.pad(weight, (b, 1 - b, a, 1 - a)) for a in (0, 1) for b in (0, 1)]
    o, i, k, _ = weight.shape
    return torch.stack(phases, dim=1).reshape(4 * o, i, k + 1, k + 1)


def phase_conv(x: torch.Tensor, taps: torch.Tensor, bias: torch.Tensor | None, pad: int) -> torch.Tensor:
    """A stride-1, reflection-padded k×k convolution computed as a stride-2 convolution whose 4·O
    outputs are the four pixel phases of its O outputs, then depth-to-space (``taps`` from
    :func:`phase_taps`, ``bias`` repeated 4×). Output pixel (2i + a, 2j + b) reads padded rows
    2i + a … 2i + a + k - 1: taps a … a + k - 1 of a (k+1)-tap stride-2 kernel. About the same
    arithmetic, but 12 output channels instead of 3 for the last layer."""
    return F.pixel_shuffle(F.conv2d(F.pad(x, (pad,) * 4, mode="reflect"), taps, bias, stride=2), 2)


class UpsampleConvTranspose(nn.Module):
    """An upsampling ``ConvLayer`` as :func:`upsample_conv` with its weights derived once."""

    def __init__(self, layer: ConvLayer):
        super().__init__()
        if layer.form != "upsample":
            raise ValueError("UpsampleConvTranspose replaces a ×2-upsampling 3×3 ConvLayer")
        conv = layer.conv
        self.taps = nn.Parameter(upsample_taps(conv.weight.detach()), requires_grad=False)
        self.bias = nn.Parameter(_bias(conv).clone(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upsample_conv(x, self.taps, self.bias)


class PhaseConv(nn.Module):
    """A ``ConvLayer`` with few outputs as :func:`phase_conv` with its weights derived once."""

    def __init__(self, layer: ConvLayer):
        super().__init__()
        if layer.form != "phases":
            raise ValueError("PhaseConv replaces a stride-1, odd-kernel ConvLayer with fewer than 8 outputs")
        conv = layer.conv
        self.pad = conv.kernel_size[0] // 2
        self.taps = nn.Parameter(phase_taps(conv.weight.detach()), requires_grad=False)
        self.bias = nn.Parameter(_bias(conv).repeat_interleave(4), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return phase_conv(x, self.taps, self.bias, self.pad)


def _bias(conv: nn.Conv2d) -> torch.Tensor:
    assert conv.bias is not None  # every ConvLayer's convolution has one
    return conv.bias.detach()


def for_inference(network: TransformerNet) -> TransformerNet:
    """A copy of ``network`` whose rearranged layers (see :class:`ConvLayer`) have their weights
    derived once, on any device: what CPU stylising and the ONNX export run. For stylising only
    (the derived weights are not trained)."""
    folded = copy.deepcopy(network)
    replace: dict[str, Callable[[ConvLayer], nn.Module]] = {"upsample": UpsampleConvTranspose, "phases": PhaseConv}
    folded.net = nn.Sequential(
        *(
            replace[layer.form](layer) if isinstance(layer, ConvLayer) and layer.form in replace else layer
            for layer in folded.net
        )
    )
    return folded.eval().requires_grad_(False)
