"""Inputs with known ground truth, for tests and benchmarks: hand-painted masks as GIMP leaves them
(:mod:`pipeline.synthetic.masks`), guided scenes for measuring bleeding and textured scenes for
measuring mask proposals (:mod:`pipeline.synthetic.scenes`), clips whose true motion is known
(:mod:`pipeline.synthetic.clips`), and the measures against that truth
(:mod:`pipeline.synthetic.measures`)."""

from pipeline.synthetic.masks import PALETTE, PaintedMask, count_specks, gimp_mask, painted_mask, truth_labels
from pipeline.synthetic.scenes import (
    SCENE_COLOURS,
    TINTS,
    GuidedScene,
    guided_scenes,
    matched_accuracy,
    save_two_region_scene,
    textured_scene,
    two_region_scene,
)

__all__ = [
    "PALETTE",
    "SCENE_COLOURS",
    "TINTS",
    "GuidedScene",
    "PaintedMask",
    "count_specks",
    "gimp_mask",
    "guided_scenes",
    "matched_accuracy",
    "painted_mask",
    "save_two_region_scene",
    "textured_scene",
    "truth_labels",
    "two_region_scene",
]
