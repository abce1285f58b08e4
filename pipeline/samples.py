"""Demo images from scikit-image's bundled samples: real photos and textures, no network needed.

The repository ships no third-party images; the workflow writes these on demand instead.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pipeline import io
from pipeline.errors import InputError

if TYPE_CHECKING:
    from PIL import Image

# pipeline.io (and with it torch) is imported where an image is made, not here: the Snakefile
# reads SAMPLES, and a no-op workflow run should not pay for importing torch.

#: Samples that live inside the scikit-image wheel (no download): our name → ``skimage.data`` loader.
SAMPLES = {
    "astronaut": "astronaut",
    "brick": "brick",
    "camera": "camera",
    "chelsea": "chelsea",
    "clock": "clock",
    "coffee": "coffee",
    "coins": "coins",
    "grass": "grass",
    "gravel": "gravel",
    "hubble_deep_field": "hubble_deep_field",
    "ihc": "immunohistochemistry",
    "moon": "moon",
    "retina": "retina",
    "rocket": "rocket",
}


#: Demo clips made from the samples with known motion (pipeline.synthetic.clips.DEMO_CLIPS; named
#: here so that the Snakefile knows them without importing the clip code).
CLIPS = ("astronaut_pan", "scene_pan")


def sample_image(name: str) -> Image.Image:
    """One bundled scikit-image sample as an RGB image."""
    if name not in SAMPLES:
        raise InputError(f"unknown sample '{name}'; use one of {', '.join(SAMPLES)}")
    from PIL import Image
    from skimage import data

    return io.to_rgb(Image.fromarray(getattr(data, SAMPLES[name])()))


def write_sample(name: str, out: str | os.PathLike[str]) -> None:
    """Save sample ``name`` to ``out`` (PNG or JPEG by extension), atomically."""
    io.save_format(out)
    io.save_image(sample_image(name), out)
