"""The style transformer with a style vector per region, in one pass: conditional instance
normalisation with per-region statistics.

Each of the transformer's 13 conditional instance normalisations computes a feature map's mean and
variance over the whole picture and applies the style vector's scale and shift. Here the graph
(already float, :func:`pipeline.arbitrary.networks._dequantised`) is rewritten so that every one of
them takes, for each of R regions, the mean and variance over that region alone (weighted by the
region's soft mask at that layer's resolution) and that region's own scale and shift (the style
vectors come as a batch of R), and applies at each pixel the scale and shift its masks mix. The
per-region sums and the mixed maps are matrix products of the (R, h·w) masks with the (C, h·w)
feature map, so a layer's normalisation passes over its feature map a fixed number of times
whatever R is. Nothing else in the network changes, so with one region covering the picture it
computes what the plain graph does; and the convolutions, most of the cost, run once.

The graph takes the photo (1, H, W, 3), the vectors (R, 1, 1, 100), and the regions' masks at the
three resolutions the normalisations work at: full, 1/2 and 1/4 (``masks_1``, ``masks_2``,
``masks_4``, each (R, 1, h, w), summing to 1 at each pixel).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

#: The resolution (1/scale) each normalisation works at, by its layer.
SCALES = {"residual": 4, "expand/conv1": 2, "expand/conv2": 1, "expand/conv3": 1}
MASKS = {scale: f"masks_{scale}" for scale in (1, 2, 4)}


def regional_graph(float_graph: bytes) -> bytes:
    """``float_graph`` with per-region conditional instance normalisation (see the module)."""
    import onnx  # deferred: loaded only to convert, once per machine
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_from_string(float_graph)
    graph = model.graph
    for initializer in graph.initializer:  # the vector's reshape takes a batch of R vectors
        if numpy_helper.to_array(initializer).tolist() == [1, 100, 1, 1]:
            initializer.CopyFrom(numpy_helper.from_array(np.array([-1, 100, 1, 1], np.int64), initializer.name))
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array([1], np.int64), "regional/w"),
        ]
    )
    graph.input[1].type.tensor_type.shape.dim[0].dim_param = "regions"
    for scale, name in MASKS.items():
        graph.input.append(
            helper.make_tensor_value_info(name, TensorProto.FLOAT, ["regions", 1, f"height_{scale}", f"width_{scale}"])
        )
    by_name = {node.name: node for node in graph.node}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    replaced = {}  # the node that applied a normalisation → the nodes that now do, in its place
    for node in list(graph.node):
        if node.op_type == "GlobalAveragePool" and node.name.endswith("StyleNorm/moments/mean_prequant"):
            final, nodes = _regional_norm(node, by_name, consumers, helper)
            replaced[final.name] = nodes
    rebuilt = []
    for node in graph.node:
        rebuilt += replaced.get(node.name, [node])
    del graph.node[:]
    graph.node.extend(rebuilt)
    _prune(graph)
    del graph.value_info[:]
    return bytes(model.SerializeToString())


def _regional_norm(
    mean: Any, by_name: dict[str, Any], consumers: dict[str, list[Any]], helper: Any
) -> tuple[Any, list[Any]]:
    """The node that applied one normalisation, and the per-region nodes that write its output."""
    prefix = mean.name.removesuffix("moments/mean_prequant")
    x = mean.input[0]
    scale_node, shift_node = by_name[prefix + "batchnorm/mul_prequant"], by_name[prefix + "batchnorm/sub_prequant"]
    eps = by_name[prefix + "batchnorm/add_prequant"].input[1]
    gamma = next(name for name in scale_node.input if not name.startswith(prefix))
    beta = shift_node.input[0]
    applied = by_name[prefix + "batchnorm/mul_1_prequant"]
    final = _next_op(applied.output[0], consumers, "Add")
    out = final.output[0]
    masks = MASKS[next(scale for layer, scale in SCALES.items() if f"/{layer}/" in prefix)]
    p = prefix + "regional/"

    def node(op: str, inputs: list[str], name: str, **attributes: Any) -> Any:
        return helper.make_node(op, inputs, [p + name], name=p + name, **attributes)

    return final, [
        node("Flatten", [masks], "masks_flat", axis=1),  # (R, h·w)
        node("ReduceSum", [p + "masks_flat", "regional/w"], "area", keepdims=1),
        node("Sub", [x, mean.output[0]], "centred"),  # about the picture's mean: variances without cancellation
        node("Flatten", [p + "centred"], "centred_flat", axis=2),
        node("Gemm", [p + "masks_flat", p + "centred_flat"], "sum", transB=1),
        node("Mul", [p + "centred_flat", p + "centred_flat"], "squared"),
        node("Gemm", [p + "masks_flat", p + "squared"], "squared_sum", transB=1),
        node("Div", [p + "sum", p + "area"], "offset"),  # (R, C): each region's mean less the picture's
        node("Div", [p + "squared_sum", p + "area"], "second_moment"),
        node("Mul", [p + "offset", p + "offset"], "offset_squared"),
        node("Sub", [p + "second_moment", p + "offset_squared"], "variance"),
        node("Flatten", [eps], "eps", axis=1),  # (1, 1, 1, 1) as (1, 1)
        node("Add", [p + "variance", p + "eps"], "variance_eps"),
        node("Sqrt", [p + "variance_eps"], "deviation"),
        node("Reciprocal", [p + "deviation"], "inverse"),
        node("Flatten", [gamma], "gamma_flat", axis=1),
        node("Mul", [p + "inverse", p + "gamma_flat"], "scale"),
        node("Flatten", [mean.output[0]], "picture_mean", axis=1),
        node("Add", [p + "offset", p + "picture_mean"], "mean"),
        node("Mul", [p + "mean", p + "scale"], "mean_scaled"),
        node("Flatten", [beta], "beta_flat", axis=1),
        node("Sub", [p + "beta_flat", p + "mean_scaled"], "shift"),
        node("Gemm", [p + "scale", p + "masks_flat"], "scale_map", transA=1),  # (C, h·w): Σ_r mask_r · scale_r
        node("Gemm", [p + "shift", p + "masks_flat"], "shift_map", transA=1),
        node("Flatten", [x], "x_flat", axis=2),
        node("Mul", [p + "x_flat", p + "scale_map"], "scaled"),
        node("Add", [p + "scaled", p + "shift_map"], "normalised"),
        node("Shape", [x], "shape"),
        helper.make_node("Reshape", [p + "normalised", p + "shape"], [out], name=p + "out"),
    ]


def _next_op(name: str, consumers: dict[str, list[Any]], op: str) -> Any:
    """The first ``op`` node reading ``name``, through the identities the conversion left."""
    for node in consumers.get(name, []):
        if node.op_type == op:
            return node
        if node.op_type == "Identity":
            found = _next_op(node.output[0], consumers, op)
            if found is not None:
                return found
    return None


def _prune(graph: Any) -> None:
    """Drop the nodes no output needs (the replaced normalisations)."""
    needed = {output.name for output in graph.output}
    kept = []
    for node in reversed(list(graph.node)):
        if any(name in needed for name in node.output):
            kept.append(node)
            needed.update(name for name in node.input if name)
    order = {id(node): i for i, node in enumerate(graph.node)}
    kept.sort(key=lambda node: order[id(node)])
    del graph.node[:]
    graph.node.extend(kept)
    used = {name for node in kept for name in node.input}
    initializers = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(initializers)


def region_masks(weights: np.ndarray, height: int, width: int) -> dict[str, np.ndarray]:
    """The graph's mask inputs from (R, h, w) weights summing to 1 at each pixel, for a photo padded
    to ``height`` × ``width`` (multiples of 4): mirrored out as the photo is, then averaged down."""
    h, w = weights.shape[1:]
    padded = np.pad(weights, ((0, 0), (0, height - h), (0, width - w)), mode="reflect").astype(np.float32)
    found = {}
    for scale, name in MASKS.items():
        size = (width // scale, height // scale)
        found[name] = np.stack([cv2.resize(m, size, interpolation=cv2.INTER_AREA) for m in padded])[:, None]
    return found
