"""Masks: hand-painted ones cleaned into exact label maps (:mod:`~pipeline.masks.clean` says how),
and proposed ones for photos that have none.

Modules: :mod:`~pipeline.masks.palette` (label colours, the label map), :mod:`~pipeline.masks.clean`
(the cleaner), :mod:`~pipeline.masks.label_maps` (reading, saving, resizing to an image),
:mod:`~pipeline.masks.propose` (a mask proposed from the photo alone; :mod:`~pipeline.masks.segment`
with a pretrained segmentation model), :mod:`~pipeline.masks.match` (pairing the regions of two masks
whose colours differ). Label maps are saved as palette PNGs whose entries are the label colours.
"""

from typing import TYPE_CHECKING

from pipeline.lazy import lazy_names

if TYPE_CHECKING:  # the names below, for type checkers; at run time they load on first use
    from pipeline.masks.clean import CERTAIN_DISTANCE, clean_mask, default_min_area
    from pipeline.masks.label_maps import (
        check_drawn_for,
        clean_mask_file,
        labels_at,
        load_label_map,
        mask_kind,
        named_like,
        read_mask,
        save_label_map,
    )
    from pipeline.masks.palette import FOREIGN_DISTANCE, MAX_LABELS, LabelMap, Palette, hex_colour, parse_colour
    from pipeline.masks.specks import remove_specks

#: Each public name and the module that holds it, imported on first use (PEP 562): a
#: caller of one light piece (the pairing, the palette) does not load OpenCV or the cleaner.
_PUBLIC = {
    "CERTAIN_DISTANCE": "clean",
    "FOREIGN_DISTANCE": "palette",
    "LabelMap": "palette",
    "MAX_LABELS": "palette",
    "Palette": "palette",
    "check_drawn_for": "label_maps",
    "clean_mask": "clean",
    "clean_mask_file": "label_maps",
    "default_min_area": "clean",
    "hex_colour": "palette",
    "labels_at": "label_maps",
    "load_label_map": "label_maps",
    "mask_kind": "label_maps",
    "named_like": "label_maps",
    "parse_colour": "palette",
    "read_mask": "label_maps",
    "remove_specks": "specks",
    "save_label_map": "label_maps",
}

__all__ = [
    "CERTAIN_DISTANCE",
    "FOREIGN_DISTANCE",
    "MAX_LABELS",
    "LabelMap",
    "Palette",
    "check_drawn_for",
    "clean_mask",
    "clean_mask_file",
    "default_min_area",
    "hex_colour",
    "labels_at",
    "load_label_map",
    "mask_kind",
    "named_like",
    "parse_colour",
    "read_mask",
    "remove_specks",
    "save_label_map",
]


__getattr__, __dir__ = lazy_names(__name__, {name: f"{__name__}.{module}" for name, module in _PUBLIC.items()})
