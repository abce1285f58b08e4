"""Training a fast-style network (Johnson et al. 2016) with the perceptual losses.

Loss network VGG-16 (VGG-19 selectable): style Grams of the style image at relu1_2, relu2_2,
relu3_3, relu4_3, computed once; content loss at relu2_2 between the output and the input batch;
optional total variation. Adam, batch 4, 256 px crops by default (pytorch/examples' settings:
content weight 1e5, style weight 1e10).

Guided training (beyond Johnson): with a style mask and masks for the training images, the
content's labels enter the network as extra one-hot channels, and the style loss is the guided
Gram loss of spatial control (Gatys et al. 2017, :mod:`pipeline.guidance`): each labelled region
of the output must match the statistics of the same label's region of the style image. The style
mask's labels are the model's; training masks are cleaned onto them, so a colour means the same
label in every mask.

On CUDA the network and the loss network run channels-last under bf16 autocast (Grams in fp32);
batches are prepared by worker threads ahead of the step that needs them.

Reproducible and resumable by construction: step ``i``'s batch (which images, which crops, which
flips) is a pure function of ``(seed, i)``, so a checkpoint needs only the network, the optimiser
and the step, and a resumed run continues exactly as if it had never stopped.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from pipeline import io, record, targets
from pipeline.device import autocast, resolve_device, resolve_precision
from pipeline.errors import InputError
from pipeline.fast import model as fast_model
from pipeline.fast.network import TransformerNet
from pipeline.features import VGGEncoder, check_layers
from pipeline.gallery import loss_curve_png, loss_curve_svg
from pipeline.guides import GUIDE_MODES, propagate
from pipeline.losses import batch_guided_grams, gram_matrix, tv_loss
from pipeline.masks import LabelMap, Palette, hex_colour, labels_at, load_label_map, read_mask

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
    guide_mode: str = "simple"  # guided training: how label guides reach the loss layers
    checkpoint_every: int = 500
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"  # bf16 autocast on CUDA, fp32 elsewhere
    workers: int = 2  # threads preparing batches ahead

    def __post_init__(self) -> None:
        for name in ("steps", "size", "batch", "checkpoint_every", "workers"):
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
        if self.guide_mode not in GUIDE_MODES:
            raise InputError(f"unknown guide mode '{self.guide_mode}'; use one of {', '.join(GUIDE_MODES)}")


#: Settings that do not change what is trained (a resumed run may change them).
RUN_ONLY = ("steps", "checkpoint_every", "device", "precision", "workers")


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


@dataclass(frozen=True)
class Guided:
    """Guided training's labels: the style's label map, and a mask for every training image."""

    style: LabelMap
    masks: dict[Path, Path]  # training image -> its painted mask
    min_area: int | None = None

    def labels(self, image: Path, size: tuple[int, int]) -> np.ndarray:
        """The image's label map, in the style's labels, at ``size`` (its own size, as loaded)."""
        labels = tuple(zip(self.style.names, map(hex_colour, self.style.colours), strict=True))
        return _cleaned(self.masks[image], labels, self.min_area, size)


@functools.lru_cache(maxsize=256)  # cleaning costs more than decoding; a few hundred maps are cheap to keep
def _cleaned(
    mask: Path, labels: tuple[tuple[str, str], ...], min_area: int | None, size: tuple[int, int]
) -> np.ndarray:
    palette = Palette.from_mapping(dict(labels))
    return labels_at(read_mask(mask), size, palette, min_area=min_area, name=str(mask))


def pair_masks(paths: list[Path], masks: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> dict[Path, Path]:
    """Each training image's mask: the file of the same stem in the ``masks`` folder(s). Images
    without one are left out (counted in a warning); none at all is an :class:`InputError`."""
    found: dict[str, Path] = {}
    for source in map(Path, _sources(masks)):
        if not source.is_dir():
            raise InputError(f"{source}: no such folder of training masks")
        for mask in sorted(source.rglob("*")):
            if mask.suffix.lower() in (".png", ".jpg", ".jpeg") and mask.is_file():
                found.setdefault(mask.stem, mask)
    paired = {path: found[path.stem] for path in paths if path.stem in found}
    if len(paired) < len(paths):
        log.warning("%d of %d training image(s) have no mask (same file name) and are left out",
                    len(paths) - len(paired), len(paths))  # fmt: skip
    if not paired:
        raise InputError(
            f"none of the {len(paths)} training image(s) has a mask in {', '.join(_sources(masks))}; "
            "a mask is the image's file name with .png, painted in the style mask's colours"
        )
    return paired


def batch_for(
    paths: list[Path], step: int, config: TrainConfig, guided: Guided | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Step ``step``'s batch (B, 3, size, size), images, crops and flips drawn from ``(seed, step)``,
    and for guided training the crops' label maps (B, size, size) cut the same way."""
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
    images, label_maps = [], []
    for _ in range(config.batch):
        index = int(torch.randint(len(paths), (1,), generator=generator))
        image = io.load_image(paths[index])
        labels = Image.fromarray(guided.labels(paths[index], image.size)) if guided else None
        scale = config.size / min(image.size) * float(1 + 0.25 * torch.rand(1, generator=generator))
        size = (max(config.size, round(image.width * scale)), max(config.size, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BILINEAR)
        x = int(torch.randint(image.width - config.size + 1, (1,), generator=generator))
        y = int(torch.randint(image.height - config.size + 1, (1,), generator=generator))
        box = (x, y, x + config.size, y + config.size)
        flip = bool(torch.rand(1, generator=generator) < 0.5)
        tensor = io.image_to_tensor(image.crop(box))
        images.append(tensor.flip(-1) if flip else tensor)
        if labels is not None:
            crop = np.asarray(labels.resize(size, Image.Resampling.NEAREST).crop(box))
            crop = torch.from_numpy(crop.astype(np.int64))
            label_maps.append(crop.flip(-1) if flip else crop)
    return torch.cat(images), torch.stack(label_maps) if label_maps else None


def _batches(
    paths: list[Path], steps: range, config: TrainConfig, guided: Guided | None
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """:func:`batch_for` for each step, prepared ``workers`` threads ahead (decoding and resizing
    release the GIL); the order, and so the result, does not depend on the number of threads."""
    ahead = 2 * config.workers
    with ThreadPoolExecutor(config.workers, thread_name_prefix="batches") as pool:
        pending = [pool.submit(batch_for, paths, step, config, guided) for step in steps[:ahead]]
        for i in range(len(steps)):
            if i + ahead < len(steps):
                pending.append(pool.submit(batch_for, paths, steps[i + ahead], config, guided))
            yield pending[i].result()
            pending[i] = None  # type: ignore[call-overload]  # let the batch go


# --- losses ------------------------------------------------------------------------------------


def guided_style_loss(
    features: Mapping[str, torch.Tensor],
    guides: Mapping[str, torch.Tensor],
    style_grams: Mapping[str, torch.Tensor],
) -> torch.Tensor:
    """Guided Gram loss of a batch, averaged over it: ``Σ_l Σ_r w_r · mean((G_r(F_l) − A_r)²)``
    with ``G_r = (F∘T_r)(F∘T_r)ᵀ / (C·h·w)`` under each image's normalised guides ``T`` (B, R, h, w)
    and ``w_r = 1/R'`` over the R' labels present in that image (the authors' 1/R)."""
    total = torch.zeros(())
    for layer, target in style_grams.items():
        f = features[layer]
        guide = guides[layer].to(f.device)
        grams = batch_guided_grams(f, guide)  # (B, R, C, C)
        present = guide.flatten(2).any(dim=2).float()  # (B, R)
        weights = present / present.sum(dim=1, keepdim=True).clamp_min(1)
        per_region = (grams - target.to(grams)).pow(2).mean(dim=(-2, -1))
        total = total.to(f.device) + (weights * per_region).sum() / len(f)
    return total


# --- training ----------------------------------------------------------------------------------


def _sources(data: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[str]:
    return [str(data)] if isinstance(data, (str, os.PathLike)) else [str(d) for d in data]


def checkpoint_path(out: str | os.PathLike[str]) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".ckpt")


def _style_label_map(
    style_mask: str | os.PathLike[str],
    style: io.LoadedImage,
    palette: Palette | None,
    k: int | None,
    min_area: int | None,
) -> LabelMap:
    """The style's labels, which become the model's; a mask of one region guides nothing."""
    label_map = load_label_map(style_mask, image=style, palette=palette, k=k, min_area=min_area)
    if (label_map.counts() > 0).sum() < 2:
        raise InputError(f"{style_mask}: style mask holds a single region, so there is nothing to guide; paint regions")
    return label_map


def train(
    style_path: str | os.PathLike[str],
    data: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    config: TrainConfig = TrainConfig(),
    *,
    weights: str | os.PathLike[str] = "imagenet",
    resume: bool = False,
    progress: Progress | None = None,
    style_mask: str | os.PathLike[str] | None = None,
    masks: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    palette: Palette | None = None,
    k: int | None = None,
    min_area: int | None = None,
) -> dict[str, Any]:
    """Train on the images under ``data`` to paint like ``style_path``; write the model to ``out``
    (with ``out.json`` and loss curves ``out.loss.png``/``.svg``), checkpointing to ``out.ckpt``
    every ``checkpoint_every`` steps. ``resume`` continues from that checkpoint, exactly.

    Guided training: ``style_mask`` (read with ``palette`` or ``k`` like any mask) gives the
    model's labels; ``masks`` are folders holding a mask for each training image (same stem)."""
    started = time.perf_counter()
    out = Path(out)
    io.check_writable(out)
    if (style_mask is None) != (masks is None):
        raise InputError("guided training needs both --style-mask and --masks (the training images' masks)")
    paths = dataset(data)
    style = io.read_image(style_path, size=config.style_size or config.size)
    guided = None
    if style_mask is not None and masks is not None:
        style_labels = _style_label_map(style_mask, style, palette, k, min_area)
        guided = Guided(style_labels, pair_masks(paths, masks), min_area)
        paths = sorted(guided.masks)
        for path in paths[:1]:  # a mask in other colours fails here, not at a random later step
            guided.labels(path, io.load_image(path).size)
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    layout = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    layers = STYLE_LAYERS[config.loss_network]
    content_layer = CONTENT_LAYER[config.loss_network]
    encoder = VGGEncoder([*layers, content_layer], weights=weights, arch=config.loss_network)
    encoder = encoder.to(device=device, memory_format=layout)
    wanted = {index: name for index, name in encoder.wanted.items() if name in layers}
    style_tensor = io.image_to_tensor(style.image).to(device=device, memory_format=layout)
    if guided is None:
        with torch.no_grad():
            style_grams = {k: gram_matrix(v) for k, v in encoder(style_tensor).items() if k in layers}
    else:
        computed = targets.compute(encoder, style_tensor, layers=layers, mode=config.guide_mode, labels=guided.style)
        # A label the style mask does not hold takes the style's whole-image Gram (the last entry).
        style_grams = {
            layer: torch.where(held[:-1, None, None], grams[:-1], grams[-1:]).to(device)
            for (layer, grams), held in zip(computed.grams.items(), computed.held.values(), strict=True)
        }
    channels = len(guided.style.names) if guided else 0

    torch.manual_seed(config.seed)  # the network's initial weights
    network = TransformerNet(width=config.width, guide_channels=channels).to(device=device, memory_format=layout)
    optimizer = torch.optim.Adam(network.parameters(), lr=config.lr)
    history: dict[str, list[float]] = {"total": [], "content": [], "style": []}
    start = 0
    checkpoint = checkpoint_path(out)
    if resume:
        start, history = _restore(checkpoint, network, optimizer, config)
        log.info("resuming from %s at step %d", checkpoint, start)
    network.train()
    step_seconds = []
    tick = time.perf_counter()
    for step, (batch, labels) in zip(
        range(start, config.steps), _batches(paths, range(start, config.steps), config, guided), strict=True
    ):
        batch = batch.to(device=device, memory_format=layout, non_blocking=True)
        x = batch
        if labels is not None:
            onehot = F.one_hot(labels, channels).permute(0, 3, 1, 2).float()
            x = torch.cat([batch, onehot.to(device)], dim=1).contiguous(memory_format=layout)
        optimizer.zero_grad(set_to_none=True)
        with autocast(device, precision):
            output = network(x)
            features = encoder(output)
            with torch.no_grad():
                content = encoder(batch, until=content_layer)[content_layer]
        terms = {"content": config.content_weight * F.mse_loss(features[content_layer].float(), content.float())}
        if labels is None:
            terms["style"] = config.style_weight * sum(
                F.mse_loss(gram_matrix(features[k]), style_grams[k].expand(len(batch), -1, -1)) for k in layers
            )
        else:
            per_image = [propagate(g, encoder.body, wanted, mode=config.guide_mode) for g in onehot]
            guides = {layer: torch.stack([p[layer] for p in per_image]) for layer in layers}
            terms["style"] = config.style_weight * guided_style_loss(features, guides, style_grams)
        if config.tv_weight:
            terms["tv"] = config.tv_weight * tv_loss(output.float())
        total = torch.stack(list(terms.values())).sum()
        total.backward()
        optimizer.step()
        values = {"total": total.item(), **{k: v.item() for k, v in terms.items()}}
        for key, value in values.items():
            history.setdefault(key, []).append(value)
        now = time.perf_counter()
        step_seconds.append(now - tick)
        tick = now
        if progress is not None:  # losses every tenth step, as the Gatys loop reports them
            progress(step + 1, config.steps, values if (step + 1) % 10 == 0 or step + 1 == config.steps else None)
        if (step + 1) % config.checkpoint_every == 0 and step + 1 < config.steps:
            _save_checkpoint(checkpoint, network, optimizer, step + 1, history, config)

    network.eval()
    steady = step_seconds[1:] or step_seconds  # the first step pays for warm-up
    info = {
        **record.header("johnson2016" + ("+guided" if guided is not None else ""), encoder.weights_info),
        "training": {**dataclasses.asdict(config), "images": len(paths), "data": _sources(data)},
        **record.environment(device, precision),
        "style": {"path": str(style_path), "sha256": style.sha256},
        "final_losses": {k: v[-1] for k, v in history.items() if v},
        "images_per_second": round(config.batch / (sum(steady) / len(steady)), 3) if steady else None,
        "seconds": round(time.perf_counter() - started, 3),
    }
    if guided is not None:
        info["labels"] = dict(zip(guided.style.names, map(hex_colour, guided.style.colours), strict=True))
        info["guided"] = {"style_mask": str(style_mask), "masks": _sources(masks or []), "mode": config.guide_mode}
    trained = fast_model.FastModel(
        network.to(device="cpu", memory_format=torch.contiguous_format),
        Path(style_path).stem,
        fast_model.thumbnail_of(io.load_image(style_path)),
        info,
    )
    title = f"training {out.name}"
    io.write_bytes(record.sidecar_path(out), io.json_bytes({**info, "history": history}))
    io.write_bytes(out.with_suffix(".loss.svg"), loss_curve_svg(history, title=title, x_label="step").encode())
    io.write_bytes(out.with_suffix(".loss.png"), loss_curve_png(history, title=title))
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
    state = {
        "format": CHECKPOINT_FORMAT,
        "step": step,
        "network": network.state_dict(),
        "optimizer": optimizer.state_dict(),
        "history": history,
        "config": dataclasses.asdict(config),
    }
    record.save_torch(state, path)
    log.info("checkpoint at step %d: %s", step, path)


def _restore(
    path: Path, network: TransformerNet, optimizer: torch.optim.Optimizer, config: TrainConfig
) -> tuple[int, dict[str, list[float]]]:
    if not path.is_file():
        raise InputError(f"{path}: no checkpoint to resume from; start without --resume")
    state = record.load_torch(
        path,
        what="a Stylesnake training checkpoint",
        fix="delete it and start without --resume",
        format=CHECKPOINT_FORMAT,
    )
    changed = {k for k, v in dataclasses.asdict(config).items() if k not in RUN_ONLY and state["config"].get(k) != v}
    if changed:
        raise InputError(
            f"{path}: the checkpoint was trained with other settings ({', '.join(sorted(changed))}); "
            "resume with the same ones, or start again without --resume"
        )
    try:
        network.load_state_dict(state["network"])
    except RuntimeError:  # another width or number of label channels than this run's
        raise InputError(
            f"{path}: the checkpoint's network does not fit this run (trained with other masks or labels?); "
            "resume with the same ones, or start again without --resume"
        ) from None
    optimizer.load_state_dict(state["optimizer"])
    return int(state["step"]), {k: list(v) for k, v in state["history"].items()}
