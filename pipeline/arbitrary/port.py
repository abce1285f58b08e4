"""The style transformer in PyTorch, for GPUs: the per-region float graph
(:mod:`pipeline.arbitrary.regional`) run op by op with torch, its weights the graph's initialisers
(the int8 weights dequantised once).

The graph has a handful of op types (convolutions, reflection padding, nearest upsampling, the
instance normalisations' arithmetic and reductions); each maps to one torch call, so the network
computes what onnxruntime computes from the same graph (the tests hold them together on the CPU).
On CUDA it runs on the GPU; on CPUs onnxruntime is faster (docs/guides/instant.md), so
:func:`pipeline.arbitrary.networks.open_networks` uses it there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


class TorchTransformer:
    """The transformer graph's nodes, run in order with torch on ``device``."""

    def __init__(self, graph: bytes, device: torch.device) -> None:
        import onnx  # deferred: read once, here
        from onnx import numpy_helper

        model = onnx.load_from_string(graph)
        self.device = device
        self.constants = {
            t.name: torch.from_numpy(np.array(numpy_helper.to_array(t))).to(device) for t in model.graph.initializer
        }
        self.nodes = [
            (
                n.op_type,
                list(n.input),
                list(n.output),
                {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute},
            )
            for n in model.graph.node
        ]
        self.inputs = [i.name for i in model.graph.input]
        self.output = model.graph.output[0].name
        unknown = {op for op, *_ in self.nodes} - set(OPS)
        if unknown:
            raise ValueError(f"the transformer graph has ops the port does not run: {', '.join(sorted(unknown))}")

    @torch.inference_mode()
    def run(self, outputs: None, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The graph's output for ``feed`` (its inputs by name), called as an onnxruntime session is."""
        values: dict[str, torch.Tensor] = dict(self.constants)
        for name in self.inputs:
            values[name] = torch.from_numpy(np.ascontiguousarray(feed[name])).to(self.device)
        for op, inputs, written, attributes in self.nodes:
            values[written[0]] = OPS[op]([values[name] if name else None for name in inputs], attributes)
        return [values[self.output].float().cpu().numpy()]


def _conv(x: list[Any], a: dict[str, Any]) -> torch.Tensor:
    pads = a.get("pads", [0, 0, 0, 0])
    if pads[:2] != pads[2:]:
        raise ValueError(f"asymmetric convolution padding {pads}")
    return F.conv2d(
        x[0], x[1], x[2] if len(x) > 2 else None, stride=a.get("strides", [1, 1]), padding=pads[:2],
        dilation=a.get("dilations", [1, 1]), groups=a.get("group", 1),
    )  # fmt: skip


def _pad(x: list[Any], a: dict[str, Any]) -> torch.Tensor:
    """ONNX Pad (``[begin…, end…]`` per dimension) with torch's, which pads the last dimensions."""
    tensor, pads = x[0], x[1].tolist()
    rank = tensor.dim()
    padded = [d for d in range(rank) if pads[d] or pads[d + rank]]
    order = [d for d in range(rank) if d not in padded] + padded  # the padded dimensions last
    moved = tensor.permute(order)
    amounts: list[int] = []
    for d in reversed(padded):
        amounts += [pads[d], pads[d + rank]]
    mode = a.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    out = F.pad(moved, amounts, mode="constant" if mode == "constant" else mode)
    return out.permute(np.argsort(order).tolist())


def _reshape(x: list[Any], a: dict[str, Any]) -> torch.Tensor:
    shape = [x[0].shape[i] if s == 0 else s for i, s in enumerate(x[1].tolist())]
    return x[0].reshape(shape)


def _resize(x: list[Any], a: dict[str, Any]) -> torch.Tensor:
    if a.get("mode", b"nearest") not in (b"nearest", "nearest"):
        raise ValueError("the port resizes nearest only")
    scales = x[2].tolist()
    if scales[:2] != [1.0, 1.0]:
        raise ValueError(f"resize of batch or channels {scales}")
    if scales[2:] == [1.0, 1.0]:
        return x[0]
    return F.interpolate(x[0], scale_factor=scales[2:], mode="nearest")  # asymmetric, floor: ONNX's own


def _gemm(x: list[Any], a: dict[str, Any]) -> torch.Tensor:
    first = x[0].T if a.get("transA", 0) else x[0]
    second = x[1].T if a.get("transB", 0) else x[1]
    product = a.get("alpha", 1.0) * (first @ second)
    return product + a.get("beta", 1.0) * x[2] if len(x) > 2 and x[2] is not None else product


def _reduce_sum(x: list[Any], a: dict[str, Any]) -> torch.Tensor:
    return x[0].sum(dim=x[1].tolist(), keepdim=bool(a.get("keepdims", 1)))


OPS: dict[str, Callable[[list[Any], dict[str, Any]], torch.Tensor]] = {
    "Identity": lambda x, a: x[0],
    "Conv": _conv,
    "Pad": _pad,
    "Transpose": lambda x, a: x[0].permute(a["perm"]),
    "Reshape": _reshape,
    "Resize": _resize,
    "Relu": lambda x, a: torch.relu(x[0]),
    "Sigmoid": lambda x, a: torch.sigmoid(x[0]),
    "Sqrt": lambda x, a: torch.sqrt(x[0]),
    "Reciprocal": lambda x, a: torch.reciprocal(x[0]),
    "Add": lambda x, a: x[0] + x[1],
    "Sub": lambda x, a: x[0] - x[1],
    "Mul": lambda x, a: x[0] * x[1],
    "Div": lambda x, a: x[0] / x[1],
    "GlobalAveragePool": lambda x, a: x[0].mean(dim=(2, 3), keepdim=True),
    "ReduceSum": _reduce_sum,
    "Flatten": lambda x, a: x[0].reshape(int(np.prod(x[0].shape[: a.get("axis", 1)])), -1),
    "Gemm": _gemm,
    "Shape": lambda x, a: torch.tensor(x[0].shape, dtype=torch.int64),
}
