"""The style transformer with a style vector per region, in one pass: conditional instance
normalisation with per-region statistics.

Each of the transformer's 13 conditional instance normalisations computes a feature map's mean and
variance over the whole picture and applies the style vector's scale and shift. Here the graph
(already float, :func:`pipeline.instant.networks._dequantised`) is rewritten so that every one of
them takes, for each of R regions, the mean and variance over that region alone (weighted by the
region's soft mask at that layer's resolution) and that region's own scale and shift (the style
vectors come as a batch of R), and lays the R normalised maps together under the masks. Nothing
else in the network changes, so with one region covering the picture it computes what the plain
graph does; and the convolutions, which are most of the cost, run once whatever R is.

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
            numpy_helper.from_array(np.array([2, 3], np.int64), "regional/hw"),
            numpy_helper.from_array(np.array([0], np.int64), "regional/regions"),
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
        node("ReduceSum", [masks, "regional/hw"], "area", keepdims=1),
        node("Mul", [x, masks], "weighted"),
        node("ReduceSum", [p + "weighted", "regional/hw"], "sum", keepdims=1),
        node("Div", [p + "sum", p + "area"], "mean"),
        node("Sub", [x, p + "mean"], "centred"),
        node("Mul", [p + "centred", p + "centred"], "squared"),
        node("Mul", [p + "squared", masks], "weighted_squared"),
        node("ReduceSum", [p + "weighted_squared", "regional/hw"], "squared_sum", keepdims=1),
        node("Div", [p + "squared_sum", p + "area"], "variance"),
        node("Add", [p + "variance", eps], "variance_eps"),
        node("Sqrt", [p + "variance_eps"], "deviation"),
        node("Reciprocal", [p + "deviation"], "inverse"),
        node("Mul", [p + "inverse", gamma], "scale"),
        node("Mul", [p + "mean", p + "scale"], "mean_scaled"),
        node("Sub", [beta, p + "mean_scaled"], "shift"),
        node("Mul", [masks, p + "scale"], "scale_regions"),
        node("ReduceSum", [p + "scale_regions", "regional/regions"], "scale_map", keepdims=1),
        node("Mul", [masks, p + "shift"], "shift_regions"),
        node("ReduceSum", [p + "shift_regions", "regional/regions"], "shift_map", keepdims=1),
        node("Mul", [x, p + "scale_map"], "scaled"),
        helper.make_node("Add", [p + "scaled", p + "shift_map"], [out], name=p + "out"),
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
