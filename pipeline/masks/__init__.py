"""Hand-painted masks → exact label maps.

People paint masks in GIMP: each stroke a slightly different shade, soft brush edges, anti-aliased
borders, stray dabs, bilinear resizing, JPEG saves. We turn that into a label map in which every
pixel carries exactly one label colour:

1. **Colours.** K-means (scikit-learn) on a subsample of *flat* pixels (away from edges, so the
   in-between colours of borders do not pull the centres) finds the painted shade of each label.
   With a project palette (``labels:`` name → colour) each centre is snapped to its palette colour,
   so "sky" is the same colour in every mask; otherwise ``k`` clusters are used as they are.
2. **Pixels.** Every pixel takes the nearest centre (through a 2¹⁸-bin colour lookup table, so a
   4096² mask costs a few table lookups per pixel). A pixel far from its centre's colour is
   *uncertain*: it keeps its colour label only where that label really is nearby; otherwise (the
   purple blend along a red/blue border that happens to look like a third, purple label) it is
   given the label of the nearest certain pixel.
3. **Specks.** Connected pieces of a label smaller than ``min_area`` (stray dabs, JPEG blotches)
   are filled from their surroundings, except a label's only piece.

The result is saved as a palette PNG whose palette entries are the label colours.

Modules: :mod:`~pipeline.masks.palette` (label colours, the label map), :mod:`~pipeline.masks.clean`
(the cleaner above), :mod:`~pipeline.masks.files` (reading, saving, resizing to an image),
:mod:`~pipeline.masks.propose` (a mask proposed from the photo alone; :mod:`~pipeline.masks.segment`
with a pretrained segmentation model), :mod:`~pipeline.masks.match` (pairing the regions of two masks
whose colours differ).
"""

from pipeline.masks.clean import CERTAIN_DISTANCE, clean_mask, default_min_area, remove_specks
from pipeline.masks.files import clean_mask_file, labels_at, load_label_map, named_like, read_mask, save_label_map
from pipeline.masks.palette import FOREIGN_DISTANCE, MAX_LABELS, LabelMap, Palette, hex_colour, parse_colour

__all__ = [
    "CERTAIN_DISTANCE",
    "FOREIGN_DISTANCE",
    "MAX_LABELS",
    "LabelMap",
    "Palette",
    "clean_mask",
    "clean_mask_file",
    "default_min_area",
    "hex_colour",
    "labels_at",
    "load_label_map",
    "named_like",
    "parse_colour",
    "read_mask",
    "remove_specks",
    "save_label_map",
]
