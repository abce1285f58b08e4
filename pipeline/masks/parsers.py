"""Scene parsers: networks that label every pixel of a photo with one of ADE20K's 150 classes
(:data:`MODELS`, through ``transformers``, the optional extra ``.[semantic]``), loaded from the
Hugging Face cache, a folder holding a saved model, or a torchvision DeepLabV3/LR-ASPP state dict,
each called the same way (:class:`Parser`). :mod:`pipeline.masks.semantic` folds their classes into
named groups.
"""

from __future__ import annotations

import logging
import os
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import InputError, option
from pipeline.masks.segment import load_segmenter

log = logging.getLogger(__name__)

#: Known parsers: our name → (Hugging Face repository, licence, parameters in millions, ADE20K mIoU).
MODELS = {
    "upernet-convnext-tiny": ("openmmlab/upernet-convnext-tiny", "MIT", 60, 46.0),
    "upernet-convnext-small": ("openmmlab/upernet-convnext-small", "MIT", 82, 48.1),
    "segformer-b0": ("nvidia/segformer-b0-finetuned-ade-512-512", "NVIDIA (research and evaluation only)", 3.8, 37.4),
    "segformer-b2": ("nvidia/segformer-b2-finetuned-ade-512-512", "NVIDIA (research and evaluation only)", 27, 45.6),
}
#: The scene parser ``--semantic`` takes when it names none.
DEFAULT_MODEL = "upernet-convnext-tiny"
NEEDS_EXTRA = "semantic masks need the optional extra: pip install -e '.[semantic]' (transformers)"

#: ADE20K's classes in the order of the parsers' outputs (transformers' id2label), for a saved
#: model whose config names its 150 labels only by number.
ADE20K = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass", "cabinet",
    "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair", "car", "water",
    "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat", "fence", "desk",
    "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box", "column", "signboard",
    "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand",
    "path", "stairs", "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge",
    "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove",
    "palm", "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus",
    "towel", "light", "truck", "tower", "chandelier", "awning", "streetlight", "booth", "television receiver",
    "airplane", "dirt track", "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle", "buffet",
    "poster", "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything",
    "swimming pool", "stool", "barrel", "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball",
    "food", "step", "tank", "trade name", "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen",
    "blanket", "sculpture", "hood", "sconce", "vase", "traffic light", "tray", "ashcan", "fan", "pier",
    "crt screen", "plate", "monitor", "bulletin board", "shower", "radiator", "glass", "clock", "flag",
)  # fmt: skip


# --- the group table ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Parser:
    """A scene parser: its class names, and the class scores of an RGB image, (C, h, w)."""

    name: str
    classes: tuple[str, ...]
    licence: str
    scores: Callable[[np.ndarray], np.ndarray]


def load_parser(model: str | os.PathLike[str] | None = None) -> Parser:
    """The parser ``model`` names: one of :data:`MODELS`, a directory holding a saved model, or a
    torchvision segmentation state dict (``.pth``); the default is :data:`DEFAULT_MODEL`. A model
    that cannot be loaded (not saved, damaged, not cached and no network) is an :class:`InputError`
    in one line naming the folder or model, what is wrong and what to do."""
    model = str(model or DEFAULT_MODEL)
    path = Path(model)
    if path.suffix in (".pth", ".pt") and path.is_file():
        return _torchvision(path)
    known = ", ".join(MODELS)
    if model not in MODELS and not path.is_dir():
        raise InputError(
            f"{option('semantic')} {model}: neither a known model ({known}) nor a folder holding a saved one"
        )
    if path.is_dir():
        missing = saved_model_missing(path)
        if missing:
            raise InputError(
                f"{path}: no saved model there ({missing}; a download or save that did not finish leaves this); "
                f"save the model there with save_pretrained, or give a known model ({known})"
            )
    try:
        import transformers  # noqa: F401
    except ImportError:
        raise InputError(NEEDS_EXTRA) from None
    if path.is_dir():
        return _transformers(_from_folder(path), name=path.name, licence="as its files say")
    repository, licence, *_ = MODELS[model]
    if not licence.startswith("MIT"):
        log.warning("%s: %s's licence: %s", model, repository, licence)
    return _transformers(_from_hub(repository, model), name=model, licence=licence)


#: The files ``save_pretrained`` writes a model's weights to: one file, or the index of its shards.
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
#: Seconds the one request that asks whether the Hugging Face hub answers may take.
HUB_TIMEOUT = 10


def saved_model_missing(folder: str | os.PathLike[str]) -> str | None:
    """What keeps ``folder`` from holding a saved model (``save_pretrained``'s config.json and a
    weights file), or None when it has both. Looked at before transformers reads the folder: its
    own errors for an empty folder name neither what is missing nor the fix. Needs no transformers
    (the workflow checks its ``semantic.model`` with it before any job runs)."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        return "no config.json"
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        return f"config.json but no weights file ({' or '.join(WEIGHT_FILES[::2])})"
    return None


def _from_folder(folder: Path) -> Any:
    """The scene parser saved in ``folder`` (which :func:`saved_model_missing` passed), read
    without the network. Each way a folder can be wrong is told apart by the exception's type
    and by the phase it comes from (the config, then the weights), not by its message."""
    from transformers import AutoConfig

    fix = "save the model there again (save_pretrained)"
    _quiet()
    try:
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError):
        raise InputError(
            f"{folder}: its config.json is not a model configuration transformers can read "
            f"(damaged, or no model_type it knows); {fix}"
        ) from None
    for weights in folder.glob("*.bin"):  # torch saves zip archives: one cut short has lost its directory
        with weights.open("rb") as head:
            zipped = head.read(4) == b"PK\x03\x04"
        if zipped and not zipfile.is_zipfile(weights):
            raise InputError(
                f"{weights}: a damaged weights file (cut short: a save or copy that did not finish); {fix}"
            )
    try:
        return _read_model(str(folder), where=str(folder), fix=fix, local_files_only=True, config=config)
    except OSError:  # the weights file is there (checked) but cannot be read
        raise InputError(f"{folder}: a damaged weights file (it cannot be read); {fix}") from None
    except ValueError:
        raise InputError(
            f"{folder}: its config.json describes a {config.model_type} model, not a scene parser (semantic "
            f"segmentation); {fix}"
        ) from None


def _from_hub(repository: str, name: str) -> Any:
    """The known model ``name`` (``repository`` on the Hugging Face hub): from the cache, else
    fetched into it. The hub is asked once whether it answers before fetching: without a network
    its client would try five times over about 25 s, saying so each time, before failing anyway."""
    from huggingface_hub import constants

    fix = f"delete {repository} from the Hugging Face cache (hf cache delete) to fetch it again"
    try:
        return _read_model(repository, where=f"{option('semantic')} {name}", fix=fix, local_files_only=True)
    except OSError:
        pass  # not in the cache (or not all of it): fetched below
    if not _hub_answers(repository):
        raise InputError(
            f"{option('semantic')} {name}: not in the Hugging Face cache ({constants.HF_HUB_CACHE}) "
            f"and no network to fetch {repository}; connect once to fetch it, or pass a folder holding a saved model, "
            f"or leave out {option('semantic')} for regions from colours"
        )
    log.info("%s: fetching %s into the Hugging Face cache", name, repository)
    try:
        return _read_model(repository, where=f"{option('semantic')} {name}", fix=fix, local_files_only=False)
    except OSError as exc:
        raise InputError(
            f"{option('semantic')} {name}: fetching {repository} failed ({type(exc).__name__}); try again, "
            "or pass a folder holding a saved model"
        ) from None


def _hub_answers(repository: str) -> bool:
    """Whether the Hugging Face hub answers one request (for ``repository``'s config.json) now,
    with no retries, within :data:`HUB_TIMEOUT` seconds."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.utils import HfHubHTTPError

    # Failures of the request: OSError (offline mode, the hub's HTTP errors, and requests' errors in
    # huggingface_hub before 1.0) and the HTTP library's own error base (httpx's since 1.0), which
    # the hub's HTTP error derives from.
    failures = tuple(b for b in (OSError, *HfHubHTTPError.__bases__) if issubclass(b, Exception))
    try:
        get_hf_file_metadata(hf_hub_url(repository, "config.json"), timeout=HUB_TIMEOUT)
    except failures as exc:
        log.debug("the Hugging Face hub does not answer: %s", type(exc).__name__)
        return False
    return True


def _read_model(source: str, *, where: str, fix: str, local_files_only: bool, **options: Any) -> Any:
    """``AutoModelForSemanticSegmentation.from_pretrained``, its errors about the weights as one
    line naming ``where``, with ``fix``; an OSError (not there) and a ValueError (not a scene
    parser) are the caller's to say."""
    from pickle import UnpicklingError

    from safetensors import SafetensorError
    from transformers import AutoModelForSemanticSegmentation

    _quiet()
    try:
        with warnings.catch_warnings():  # torch's note on a pickle's protocol, before it refuses it
            warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\._weights_only_unpickler")
            return AutoModelForSemanticSegmentation.from_pretrained(
                source, local_files_only=local_files_only, **options
            ).eval()
    except SafetensorError:
        raise InputError(f"{where}: a damaged weights file (cut short, or not safetensors); {fix}") from None
    except UnpicklingError:
        raise InputError(
            f"{where}: pickle weights (pytorch_model.bin) that hold more than tensors, or cannot be read, were "
            "not loaded (a pickle can run code); use a model saved as safetensors, from a source you trust"
        ) from None
    except RuntimeError:  # the shapes of the weights are not the ones the config builds
        raise InputError(
            f"{where}: its weights do not match its config.json (another model's config, or another number of "
            f"labels?); {fix}"
        ) from None


def _quiet() -> None:
    """transformers without progress bars and notes: our one line says what was loaded."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def _transformers(network: Any, *, name: str, licence: str) -> Parser:
    import torch

    labels = dict(network.config.id2label)
    names = tuple(str(labels[i]) for i in range(len(labels)))
    log.info("%s: %s, %d classes", name, type(network).__name__, len(names))
    if len(names) == len(ADE20K) and all(n.startswith("LABEL_") for n in names):
        names = ADE20K  # a config that numbers its labels: ADE20K's, in their order
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def scores(image: np.ndarray) -> np.ndarray:
        tensor = torch.from_numpy(np.array(image, dtype=np.float32)).permute(2, 0, 1)[None] / 255
        with torch.inference_mode():
            logits = network(pixel_values=(tensor - mean) / std).logits
        return logits[0].float().numpy()

    return Parser(name, names, licence, scores)


def _torchvision(path: Path) -> Parser:
    import torch

    network, names = load_segmenter(path)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def scores(image: np.ndarray) -> np.ndarray:
        tensor = torch.from_numpy(np.array(image, dtype=np.float32)).permute(2, 0, 1)[None] / 255
        with torch.inference_mode():
            return network((tensor - mean) / std)["out"][0].float().numpy()

    return Parser(path.name, names, "as its weights'", scores)


# --- masks -------------------------------------------------------------------------------------
