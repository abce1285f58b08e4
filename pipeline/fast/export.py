"""ONNX: a fast-style model exported for onnxruntime (``stylesnake export``), optionally int8; the
exported graph runs through :class:`pipeline.fast.runtime.OnnxNetwork`."""

from __future__ import annotations

import io as _bytes_io
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from pipeline import io
from pipeline.fast.model import FastModel, load
from pipeline.fast.network import for_inference
from pipeline.samples import sample_image


def export_onnx(
    model_path: str | os.PathLike[str], out: str | os.PathLike[str], *, opset: int = 17, int8: bool = False
) -> Path:
    """Export a model to ONNX with dynamic batch, height and width (multiples of 4; the ONNX path of
    :func:`~pipeline.fast.model.stylize_files` pads like :class:`~pipeline.fast.model.Runner`). The
    style's name and the training record travel in the ONNX metadata. ``int8`` quantises weights and
    activations (static QDQ, calibrated on the bundled sample photos): smaller and faster on CPUs,
    at some loss cost (benchmarks/bench_fast.py reports both)."""
    import warnings

    model = load(model_path)
    channels = 3 + model.network.guide_channels
    buffer = _bytes_io.BytesIO()
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and shape-inference chatter
        torch.onnx.export(
            for_inference(model.network),  # onnxruntime runs on CPUs: the CPU-friendly form
            (torch.rand(1, channels, 64, 64),),
            buffer,  # type: ignore[arg-type]  # any binary file object will do
            input_names=["image"],
            output_names=["stylized"],
            dynamic_axes={"image": axes, "stylized": axes},
            opset_version=opset,
            dynamo=False,
        )
    import onnx

    graph = onnx.load_from_string(buffer.getvalue())
    if int8:
        graph = _quantized(graph, model)
    info = {**model.info, "onnx": {"int8": int8, "opset": opset}}
    for key, value in (("stylesnake_style", model.style_name), ("stylesnake_info", json.dumps(info))):
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    io.write_bytes(out, graph.SerializeToString())
    return Path(out)


CALIBRATION = ("astronaut", "chelsea", "coffee", "rocket")  # bundled photos: varied colour and texture


def _quantized(graph: Any, model: FastModel) -> Any:
    """Static int8 quantisation (QDQ, per-channel weights) of an exported graph, with activation
    ranges calibrated on :data:`CALIBRATION` at 256 px (guided models get a left/right split)."""
    import tempfile

    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    samples = []
    for name in CALIBRATION:
        x = io.image_to_tensor(sample_image(name).resize((256, 256), Image.Resampling.BILINEAR))
        if model.network.guide_channels:
            split = torch.zeros(1, model.network.guide_channels, 256, 256)
            split[:, 0, :, :128] = 1
            split[:, -1, :, 128:] = 1
            x = torch.cat([x, split], dim=1)
        samples.append({"image": x.numpy()})

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(samples)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        onnx.save(graph, source)
        logger = logging.getLogger()
        level = logger.level
        logger.setLevel(logging.ERROR)  # the quantiser warns through the root logger about every bias
        try:
            quantize_static(
                source,
                target,
                Reader(),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                per_channel=True,
            )
        finally:
            logger.setLevel(level)
        return onnx.load(target)
