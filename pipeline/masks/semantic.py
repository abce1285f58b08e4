"""Semantic masks: regions that know sky from sea, from a scene parser trained on ADE20K.

A parser labels every pixel with one of ADE20K's 150 classes; our group table
(``pipeline/masks/groups.yaml``, or ``--groups FILE``) folds them into the few named regions
paintings are made of (sky, water, vegetation, ground, mountain, building, person, vehicle, other),
each with a fixed colour. Every photo's and every painting's semantic mask therefore shares one
palette, and ``transfer`` pairs their regions by name. The mask also carries the table's
*relations* (a text chunk): when a painting has no region of a photo's group, the region takes its
style from the nearest related group the painting has (:func:`related_label_map`), never nothing.

Parsers (:data:`MODELS`, through ``transformers``, the optional extra ``.[semantic]``):
UperNet-ConvNeXt (MIT licence; the default) and SegFormer (NVIDIA's licence: research and evaluation
only, used only when named). A model is fetched into the Hugging Face cache (``$HF_HOME``) on first
use, or read from a directory holding a saved model; a torchvision DeepLabV3/LR-ASPP state dict
(Pascal VOC's 21 classes: only people are told apart) is taken too. The parser runs at a working
size (at most :data:`WORK_SIDE` px), its class scores are brought back to full size bilinearly
(smooth borders), and pieces under a share of the image (``min_share``, default :data:`MIN_SHARE`)
fold into the neighbour they share the longest border with; a group whose pieces are all that small
keeps its largest, so no group the parser saw vanishes only for being in small pieces.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
import os
import warnings
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline import io, record
from pipeline.errors import InputError, read_yaml
from pipeline.masks.files import check_label_map_out, label_map_png
from pipeline.masks.palette import LabelMap, hex_colour, parse_colour
from pipeline.masks.propose import propose_mask

log = logging.getLogger(__name__)

#: Long side the parser works at (the models are trained on 512 px crops).
WORK_SIDE = 512
#: Regions under this share of the image fold into a neighbour (FastPhotoStyle folds under 2 %).
MIN_SHARE = 0.02
#: The largest fold share taken (the workflow schema's too): above half the picture a "small" piece
#: could be most of it, so every group but one would shrink to its largest piece.
MAX_SHARE = 0.5
#: A painting that one group covers beyond this share was probably not seen: said and recorded.
ONE_GROUP = 0.95
#: Known parsers: our name → (Hugging Face repository, licence, parameters in millions, ADE20K mIoU).
MODELS = {
    "upernet-convnext-tiny": ("openmmlab/upernet-convnext-tiny", "MIT", 60, 46.0),
    "upernet-convnext-small": ("openmmlab/upernet-convnext-small", "MIT", 82, 48.1),
    "segformer-b0": ("nvidia/segformer-b0-finetuned-ade-512-512", "NVIDIA (research and evaluation only)", 3.8, 37.4),
    "segformer-b2": ("nvidia/segformer-b2-finetuned-ade-512-512", "NVIDIA (research and evaluation only)", 27, 45.6),
}
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
class Groups:
    """The group table: names and colours in order, each class's group, and each group's relations."""

    names: tuple[str, ...]
    colours: np.ndarray  # (G, 3) uint8
    classes: dict[str, str]  # class name → group name
    related: dict[str, tuple[str, ...]]
    source: str = "pipeline/masks/groups.yaml"

    @property
    def fallback(self) -> str:
        """The group of classes no group names: ``other`` (the last group when there is none)."""
        return "other" if "other" in self.names else self.names[-1]

    def lookup(self, class_names: Sequence[str]) -> np.ndarray:
        """Group index of each of a parser's classes."""
        index = {name: i for i, name in enumerate(self.names)}
        return np.array([index[self.classes.get(c, self.fallback)] for c in class_names], np.uint8)


def load_groups(path: str | os.PathLike[str] | None = None) -> Groups:
    """Our group table, or the one at ``path`` (see groups.yaml for the format)."""
    where = str(path or Groups.source)
    fix = "copy pipeline/masks/groups.yaml and edit it"
    ours = None if path else resources.files("pipeline.masks").joinpath("groups.yaml").read_text()
    data = read_yaml(where, fix=fix, text=ours)
    table = data.get("groups") if isinstance(data, dict) else None
    if not isinstance(table, dict) or not table:  # no group: no colour to stack, no region to name
        raise InputError(f"{where}: no groups under 'groups:'; name at least one, with its colour and classes ({fix})")
    try:
        names = tuple(str(n) for n in table)
        colours = np.stack([parse_colour(str(table[n]["colour"])) for n in names]).astype(np.uint8)
        listed = [(str(c), n) for n in names for c in (table[n].get("classes") or [])]
        classes = dict(listed)
        related = {n: tuple(str(r) for r in (table[n].get("related") or [])) for n in names}
    except (KeyError, TypeError, AttributeError, InputError) as exc:
        raise InputError(f"{where}: not a group table ({exc}); {fix}") from None
    _check_classes(where, classes)
    twice = sorted({c for c, n in listed if classes[c] != n})
    if twice:  # one would silently win: the last group listing it
        raise InputError(f"{where}: class {twice[0]} is in two groups; keep it in one")
    if len({hex_colour(c) for c in colours}) != len(names):
        raise InputError(f"{where}: two groups share a colour; give every group its own")
    unknown = sorted({r for rs in related.values() for r in rs} - set(names))
    if unknown:
        raise InputError(f"{where}: related names {', '.join(unknown)}, which are not groups here")
    return Groups(names, colours, classes, related, where)


def _check_classes(path: str | os.PathLike[str], classes: Mapping[str, str]) -> None:
    """Every class a table names is one a parser gives: a misspelt one would match nothing, and
    its pixels would go to ``other`` without a word. ADE20K's names (the scene parsers'), and Pascal
    VOC's (torchvision's DeepLabV3, which ``--semantic`` also takes)."""
    from pipeline.masks.segment import VOC_CLASSES

    known = set(ADE20K) | set(VOC_CLASSES)
    for name in classes:
        if name not in known:
            nearest = difflib.get_close_matches(name, ADE20K + VOC_CLASSES, n=1, cutoff=0)
            hint = f"; did you mean {nearest[0]}?" if nearest else ""
            raise InputError(f"{path}: class {name} is not an ADE20K class{hint}")


# --- parsers -----------------------------------------------------------------------------------


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
        raise InputError(f"--semantic {model}: neither a known model ({known}) nor a folder holding a saved one")
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
        return _read_model(repository, where=f"--semantic {name}", fix=fix, local_files_only=True)
    except OSError:
        pass  # not in the cache (or not all of it): fetched below
    if not _hub_answers(repository):
        raise InputError(
            f"--semantic {name}: not in the Hugging Face cache ({constants.HF_HUB_CACHE}) "
            f"and no network to fetch {repository}; connect once to fetch it, or pass a folder holding a saved model, "
            "or leave out --semantic for regions from colours"
        )
    log.info("%s: fetching %s into the Hugging Face cache", name, repository)
    try:
        return _read_model(repository, where=f"--semantic {name}", fix=fix, local_files_only=False)
    except OSError as exc:
        raise InputError(
            f"--semantic {name}: fetching {repository} failed ({type(exc).__name__}); try again, "
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

    from pipeline.masks.segment import load_segmenter

    network, names = load_segmenter(path)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def scores(image: np.ndarray) -> np.ndarray:
        tensor = torch.from_numpy(np.array(image, dtype=np.float32)).permute(2, 0, 1)[None] / 255
        with torch.inference_mode():
            return network((tensor - mean) / std)["out"][0].float().numpy()

    return Parser(path.name, names, "as its weights'", scores)


# --- masks -------------------------------------------------------------------------------------


def group_scores(image: np.ndarray, parser: Parser, groups: Groups) -> np.ndarray:
    """(G, H, W) each group's score at each pixel of the (H, W, 3) uint8 image: the parser's class
    probabilities at the working size, summed per group, brought back to full size bilinearly."""
    height, width = image.shape[:2]
    scale = min(1.0, WORK_SIDE / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA) if scale < 1 else image
    logits = parser.scores(small)
    if logits.shape[0] != len(parser.classes):
        raise InputError(f"{parser.name}: gives {logits.shape[0]} class scores for {len(parser.classes)} classes")
    probabilities = np.exp(logits - logits.max(axis=0))
    probabilities /= probabilities.sum(axis=0)
    lookup = groups.lookup(parser.classes)
    grouped = np.zeros((len(groups.names), *probabilities.shape[1:]), np.float32)
    np.add.at(grouped, lookup, probabilities)
    return np.stack([cv2.resize(g, (width, height), interpolation=cv2.INTER_LINEAR) for g in grouped])


def check_min_share(share: float, *, name: str = "min_share") -> float:
    """``share`` if it is a share of the picture from 0 (fold nothing) to :data:`MAX_SHARE`, else an
    :class:`InputError` in one line under ``name`` (the flag or key it came from)."""
    number = isinstance(share, int | float) and not isinstance(share, bool)
    if not (number and math.isfinite(share) and 0 <= share <= MAX_SHARE):
        shown = f"{share:g}" if number else repr(share)
        raise InputError(f"{name} {shown}: a share of the picture, from 0 to {MAX_SHARE:g} (2 % is 0.02)")
    return float(share)


def fold_small(labels: np.ndarray, count: int, min_area: int) -> np.ndarray:
    """Pieces smaller than ``min_area`` pixels join the neighbouring label they share the longest
    border with. A label whose pieces are all that small keeps its largest (the first of equals):
    a region the image does have stays, as the one piece with the most evidence, not as specks."""
    labels = labels.copy()
    for label in range(count):
        pieces, component = cv2.connectedComponents((labels == label).astype(np.uint8), connectivity=4)
        if pieces <= 2:  # background + at most one piece: nothing to fold, or the label's only piece
            continue
        sizes = np.bincount(component.ravel())
        small = np.flatnonzero(sizes[1:] < min_area) + 1
        if len(small) == pieces - 1:  # all of them: the largest stays
            small = small[small != int(sizes[1:].argmax()) + 1]
        for piece in small:
            inside = component == piece
            ring = cv2.dilate(inside.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~inside
            neighbours = np.bincount(labels[ring], minlength=count)
            neighbours[label] = 0
            if neighbours.any():
                labels[inside] = int(neighbours.argmax())
    return labels


def semantic_mask(image: np.ndarray, parser: Parser, groups: Groups, *, min_share: float = MIN_SHARE) -> LabelMap:
    """The image's semantic mask: every pixel's group, small pieces folded (see the module docstring).
    Its colours are the whole table's, present or not, so every semantic mask shares one palette."""
    min_share = check_min_share(min_share)
    labels = group_scores(image, parser, groups).argmax(axis=0).astype(np.uint8)
    labels = fold_small(labels, len(groups.names), max(1, round(min_share * labels.size)))
    return LabelMap(labels=labels, colours=groups.colours.copy(), names=groups.names)


def one_group(label_map: LabelMap) -> tuple[str, float] | None:
    """The group covering more than :data:`ONE_GROUP` of a mask, with its share, if one does."""
    counts = label_map.counts()
    top = int(counts.argmax())
    share = float(counts[top] / max(counts.sum(), 1))
    return (label_map.names[top], share) if share > ONE_GROUP else None


def related_label_map(
    present: Sequence[str], held: Sequence[str], related: Mapping[str, Sequence[str]]
) -> dict[str, str]:
    """For each content group the styles hold no region of, the nearest related group they do hold
    (``plain``, the styles' overall statistics, when none): a ``--label-map``."""
    chosen = {}
    for name in present:
        if name in held:
            continue
        chosen[name] = next((r for r in related.get(name, ()) if r in held), "plain")
    return chosen


# --- files ---------------------------------------------------------------------------------------


def semantic_mask_file(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | None = None,
    groups: str | os.PathLike[str] | None = None,
    colours_if_unseen: bool = False,
    max_pixels: int | None = None,
    parser: Parser | None = None,
    min_share: float = MIN_SHARE,
    seed: int = 0,
) -> dict[str, Any]:
    """Write ``source``'s semantic mask to ``out`` (a label map whose names are the groups', with
    their relations) and its record ``OUT.json`` (which mask it is, from what); return the record.
    Pieces under ``min_share`` of the picture fold (see :func:`fold_small`).

    A mask one group covers beyond :data:`ONE_GROUP` (a parser trained on photos that did not see
    the painting) is said; with ``colours_if_unseen`` the colour proposal (K-means ``seed``)
    replaces it (the order a workflow takes: a painted mask, then the semantic mask, then the
    colour proposal)."""
    min_share = check_min_share(min_share)
    check_label_map_out(out, source)
    table = load_groups(groups)
    parser = parser or load_parser(model)
    image = np.asarray(io.read_image(source, max_pixels=max_pixels or io.MAX_PIXELS).image)
    label_map = semantic_mask(image, parser, table, min_share=min_share)
    seen = one_group(label_map)
    label_map, kind = dataclasses.replace(label_map, related=table.related), "semantic"
    if seen is not None:
        name, share = seen
        log.warning(
            "%s: the parser saw only %s (%.0f %% of the picture): paint a mask, or propose one from colours%s",
            source, name, 100 * share, "; proposed from colours instead" if colours_if_unseen else "",
        )  # fmt: skip
        if colours_if_unseen:
            label_map, kind = propose_mask(image, seed=seed), "colours"
    metadata = {
        **record.header("stylesnake-mask", None),
        "mask": kind,
        "image": {"path": str(source)},
        "model": {"name": parser.name, "licence": parser.licence},
        "groups": {"table": table.source, "min_share": min_share, "shares": _shares(label_map)},
        "one_group": None if seen is None else {"name": seen[0], "share": round(seen[1], 4)},
    }
    record.write(out, label_map_png(label_map), metadata)
    log.info(
        "%s: %s mask, %s -> %s", source, kind, ", ".join(f"{k} {v:.0%}" for k, v in _shares(label_map).items()), out
    )
    return metadata


def _shares(label_map: LabelMap) -> dict[str, float]:
    counts = label_map.counts()
    return {n: round(float(c / counts.sum()), 4) for n, c in zip(label_map.names, counts, strict=True) if c}
