"""Training a fast-style network (Johnson et al. 2016) with the perceptual losses.

Loss network VGG-16 (VGG-19 selectable): style Grams of the style image at relu1_2, relu2_2,
relu3_3, relu4_3, computed once; content loss at relu2_2 between the output and the input batch;
optional total variation. Adam, batch 4, 256 px crops by default (pytorch/examples' settings:
content weight 1e5, style weight 1e10).

Reproducible and resumable by construction: step ``i``'s batch (which images, which crops, which
flips) is a pure function of ``(seed, i)``, so a checkpoint needs only the network, the optimiser
and the step, and a resumed run continues exactly as if it had never stopped.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image

from pipeline import io
from pipeline.device import resolve_device
from pipeline.errors import InputError
from pipeline.fast import model as fast_model
from pipeline.fast.network import TransformerNet
from pipeline.features import VGGEncoder, check_layers
from pipeline.gallery import loss_curve_svg
from pipeline.losses import gram_matrix, tv_loss

log = logging.getLogger(__name__)

STYLE_LAYERS = {
    "vgg16": ("relu1_2", "relu2_2", "relu3_3", "relu4_3"),
    "vgg19": ("relu1_1", "relu2_1", "relu3_1", "relu4_1"),
}
CONTENT_LAYER = {"vgg16": "relu2_2", "vgg19": "relu2_2"}
CHECKPOINT_FORMAT = "stylesnake-fast-checkpoint/1"

#: ``progress(step, steps, losses)`` after every step (``losses`` every tenth step and at the last).
Progress = Callable[[int, int, Mapping[str, float] | None], None]


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 40_000  # about two epochs of COCO train2014 at batch 4
    size: int = 256  # training crop, px
    style_size: int | None = None  # long side of the style image (None = size)
    batch: int = 4
    width: float = 1.0
    lr: float = 1e-3
    content_weight: float = 1e5
    style_weight: float = 1e10
    tv_weight: float = 0.0
    loss_network: str = "vgg16"
    checkpoint_every: int = 500
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        for name in ("steps", "size", "batch", "checkpoint_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise InputError(f"{name.replace('_', '-')} must be a positive integer, got {value}")
        if self.size % 4:
            raise InputError(f"size must be a multiple of 4 (the network halves twice), got {self.size}")
        if not 0 < self.width <= 4:
            raise InputError(f"width must be in (0, 4], got {self.width}")
        for name in ("content_weight", "style_weight", "tv_weight", "lr"):
            if getattr(self, name) < 0:
                raise InputError(f"{name.replace('_', '-')} must be >= 0")
        check_layers(STYLE_LAYERS.get(self.loss_network, ()), self.loss_network)


# --- data --------------------------------------------------------------------------------------


def dataset(
    data: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], *, max_pixels: int = io.MAX_PIXELS
) -> list[Path]:
    """The readable images in ``data`` (a folder, searched recursively, or a list of folders and
    image files), sorted. Unreadable ones are skipped and counted in a warning; none at all is an
    :class:`InputError`."""
    sources = _sources(data)
    folder = ", ".join(sources)
    candidates = []
    for source in map(Path, sources):
        if source.is_dir():
            candidates += [
                p for p in source.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg") and p.is_file()
            ]
        elif source.is_file():
            candidates.append(source)
        else:
            raise InputError(f"{source}: no such folder or image to train on")
    candidates = sorted(set(candidates))
    good, bad = [], 0
    for path in candidates:
        try:
            with Image.open(path) as image:
                image.verify()
                if image.width * image.height > max_pixels:
                    raise OSError("too large")
            good.append(path)
        except Exception:  # any decoding failure means "skip this file"
            bad += 1
    if bad:
        log.warning("%s: skipped %d unreadable image(s) of %d", folder, bad, len(candidates))
    if not good:
        raise InputError(f"{folder}: no readable .png/.jpg images to train on ({bad} unreadable)")
    return good


def batch_for(paths: list[Path], step: int, config: TrainConfig) -> torch.Tensor:
    """Step ``step``'s batch (B, 3, size, size): images, crops and flips drawn from ``(seed, step)``."""
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
    images = []
    for _ in range(config.batch):
        index = int(torch.randint(len(paths), (1,), generator=generator))
        image = io.load_image(paths[index])
        scale = config.size / min(image.size) * float(1 + 0.25 * torch.rand(1, generator=generator))
        image = image.resize(
            (max(config.size, round(image.width * scale)), max(config.size, round(image.height * scale))),
            Image.Resampling.BILINEAR,
        )
        x = int(torch.randint(image.width - config.size + 1, (1,), generator=generator))
        y = int(torch.randint(image.height - config.size + 1, (1,), generator=generator))
        tensor = io.image_to_tensor(image.crop((x, y, x + config.size, y + config.size)))
        if bool(torch.rand(1, generator=generator) < 0.5):
            tensor = tensor.flip(-1)
        images.append(tensor)
    return torch.cat(images)


# --- training ----------------------------------------------------------------------------------


def _sources(data: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[str]:
    return [str(data)] if isinstance(data, (str, os.PathLike)) else [str(d) for d in data]


def checkpoint_path(out: str | os.PathLike[str]) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".ckpt")


def train(
    style_path: str | os.PathLike[str],
    data: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    config: TrainConfig = TrainConfig(),
    *,
    weights: str | os.PathLike[str] = "imagenet",
    resume: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train on the images under ``data`` to paint like ``style_path``; write the model to ``out``
    (with ``out.json`` and a loss curve ``out.loss.svg``), checkpointing to ``out.ckpt`` every
    ``checkpoint_every`` steps. ``resume`` continues from that checkpoint, exactly."""
    started = time.perf_counter()
    out = Path(out)
    io.check_writable(out)
    paths = dataset(data)
    style = io.read_image(style_path, size=config.style_size or config.size)
    device = resolve_device(config.device)
    layers = STYLE_LAYERS[config.loss_network]
    content_layer = CONTENT_LAYER[config.loss_network]
    encoder = VGGEncoder([*layers, content_layer], weights=weights, arch=config.loss_network).to(device)
    with torch.no_grad():
        targets = {k: gram_matrix(v) for k, v in encoder(io.image_to_tensor(style.image).to(device)).items()}

    torch.manual_seed(config.seed)  # the network's initial weights
    network = TransformerNet(width=config.width).to(device)
    optimizer = torch.optim.Adam(network.parameters(), lr=config.lr)
    history: dict[str, list[float]] = {"total": [], "content": [], "style": []}
    start = 0
    checkpoint = checkpoint_path(out)
    if resume:
        start, history = _restore(checkpoint, network, optimizer, config)
        log.info("resuming from %s at step %d", checkpoint, start)
    network.train()
    step_seconds = []
    for step in range(start, config.steps):
        tick = time.perf_counter()
        batch = batch_for(paths, step, config).to(device)
        optimizer.zero_grad(set_to_none=True)
        output = network(batch)
        features, content = encoder(output), encoder(batch)
        terms = {
            "content": config.content_weight * F.mse_loss(features[content_layer], content[content_layer]),
            "style": config.style_weight
            * sum(F.mse_loss(gram_matrix(features[k]), targets[k].expand(len(batch), -1, -1)) for k in layers),
        }
        if config.tv_weight:
            terms["tv"] = config.tv_weight * tv_loss(output)
        total = torch.stack(list(terms.values())).sum()
        total.backward()
        optimizer.step()
        values = {"total": total.item(), **{k: v.item() for k, v in terms.items()}}
        for key, value in values.items():
            history.setdefault(key, []).append(value)
        step_seconds.append(time.perf_counter() - tick)
        if progress is not None:  # losses every tenth step, as the Gatys loop reports them
            progress(step + 1, config.steps, values if (step + 1) % 10 == 0 or step + 1 == config.steps else None)
        if (step + 1) % config.checkpoint_every == 0 and step + 1 < config.steps:
            _save_checkpoint(checkpoint, network, optimizer, step + 1, history, config)

    network.eval()
    info = {
        "training": {**dataclasses.asdict(config), "images": len(paths), "data": _sources(data)},
        "weights": encoder.weights_info,
        "style": {"path": str(style_path), "sha256": style.sha256},
        "final_losses": {k: v[-1] for k, v in history.items() if v},
        "images_per_second": round(config.batch / (sum(step_seconds) / len(step_seconds)), 3) if step_seconds else None,
        "seconds": round(time.perf_counter() - started, 3),
    }
    trained = fast_model.FastModel(
        network.cpu(), Path(style_path).stem, fast_model.thumbnail_of(io.load_image(style_path)), info
    )
    io.write_bytes(Path(f"{out}.json"), io.json_bytes({**info, "history": history}))
    io.write_bytes(out.with_suffix(".loss.svg"), loss_curve_svg(history, title=f"training {out.name}").encode())
    fast_model.save(trained, out)
    checkpoint.unlink(missing_ok=True)
    log.info("wrote %s (%d steps, %.1f s)", out, config.steps, info["seconds"])
    return info


def _save_checkpoint(
    path: Path,
    network: TransformerNet,
    optimizer: torch.optim.Optimizer,
    step: int,
    history: dict[str, list[float]],
    config: TrainConfig,
) -> None:
    import io as _bytes_io

    state = {
        "format": CHECKPOINT_FORMAT,
        "step": step,
        "network": network.state_dict(),
        "optimizer": optimizer.state_dict(),
        "history": history,
        "config": dataclasses.asdict(config),
    }
    buffer = _bytes_io.BytesIO()
    torch.save(state, buffer)
    io.write_bytes(path, buffer.getvalue())
    log.info("checkpoint at step %d: %s", step, path)


def _restore(
    path: Path, network: TransformerNet, optimizer: torch.optim.Optimizer, config: TrainConfig
) -> tuple[int, dict[str, list[float]]]:
    if not path.is_file():
        raise InputError(f"{path}: no checkpoint to resume from; start without --resume")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        raise InputError(f"{path}: damaged checkpoint; delete it and start without --resume") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{path}: not a Stylesnake training checkpoint")
    changed = {
        k
        for k, v in dataclasses.asdict(config).items()
        if k not in ("steps", "checkpoint_every", "device") and state["config"].get(k) != v
    }
    if changed:
        raise InputError(
            f"{path}: the checkpoint was trained with other settings ({', '.join(sorted(changed))}); "
            "resume with the same ones, or start again without --resume"
        )
    network.load_state_dict(state["network"])
    optimizer.load_state_dict(state["optimizer"])
    return int(state["step"]), {k: list(v) for k, v in state["history"].items()}
