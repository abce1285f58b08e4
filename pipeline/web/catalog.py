"""The styles the web app offers: every fast-style model file in one folder, loaded once.

A style is known by its model file's stem (``results/fast/<stem>.pth``, unique within the
folder); what a browser sends is only ever looked up in this dict, never joined to a path.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from pipeline import io
from pipeline.errors import InputError
from pipeline.fast import model as fast_model
from pipeline.fast.network import TransformerNet, for_inference
from pipeline.workflow.paths import Paths

log = logging.getLogger(__name__)

#: Where the workflow's ``fast_train`` rule writes its models (relative to the workflow folder).
DEFAULT_MODELS = Path(Paths.models)


@dataclass(frozen=True)
class Style:
    key: str  # the model file's stem: the form's value
    name: str  # the style's name, as the model file records it
    model: fast_model.FastModel
    network: TransformerNet  # the model's network in its inference form (faster on CPUs, same function)
    thumbnail_png: bytes  # encoded once: every page view shows every thumbnail

    @property
    def guided(self) -> bool:
        """Trained with masks: stylising needs the photo's mask too."""
        return self.model.network.guide_channels > 0


def load_styles(folder: str | os.PathLike[str]) -> dict[str, Style]:
    """Every readable ``*.pth`` model in ``folder``, by key, in name order (none when the folder
    is missing or holds none: the site may have only its slow tab, see :func:`pipeline.web.create_app`).
    Unreadable files are skipped with a warning: one damaged model should not take the site down."""
    folder = Path(folder)
    if not folder.is_dir():
        log.debug("%s: no such models folder", folder)
        return {}
    styles: dict[str, Style] = {}
    for path in sorted(folder.glob("*.pth")):
        try:
            model = fast_model.load(path)
        except InputError as exc:
            log.warning("skipped %s", exc)
            continue
        thumbnail = io.encode_image(model.thumbnail, "thumbnail.png")
        styles[path.stem] = Style(path.stem, model.style_name, model, for_inference(model.network), thumbnail)
        log.info("style %s: %s%s", path.stem, model.style_name, " (guided)" if styles[path.stem].guided else "")
    return styles
