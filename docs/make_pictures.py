"""Draw the documentation's pictures from the demo's outputs (README's first command).

    .venv/bin/snakemake --cores 2 --config weights=random preset=quick   # the demo, once
    .venv/bin/python docs/make_pictures.py                             # writes docs/pictures/*.png

- ``guided.png``: a photo, a painting, their cleaned masks and the region-by-region result in
  instant style (real pretrained networks, so the picture shows style; the demo's Gatys results
  use random VGG weights and show none);
- ``masks.png``: a mask as painted in GIMP, the exact label map the cleaner made of it, and that
  map laid over its photo;
- ``proposed.png``: a mask proposed from a photo alone (``stylesnake propose-mask``, no weights)
  laid over it. (A scene parser's semantic mask needs pretrained weights the demo does not have.)

The clip sheets (a clip, each frame painted on its own, and with the temporal term) are written by
``benchmarks/bench_ghosts.py`` into ``benchmarks/results/video-sheets/``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

from pipeline.gallery.sheets import panel, strip

ROOT = Path(__file__).resolve().parents[1]


def masks_picture(root: Path, name: str) -> Image.Image:
    """The painted mask, the cleaned label map, and the map over its photo at 45 % opacity."""
    photo = Image.open(root / "images" / "content" / f"{name}.png").convert("RGB")
    painted = Image.open(root / "masks" / "content" / f"{name}.png").convert("RGB")
    cleaned = Image.open(root / "results" / "masks" / "content" / f"{name}.png").convert("RGB")
    over = Image.blend(photo, cleaned.resize(photo.size, Image.Resampling.NEAREST), 0.45)
    return strip([(painted, "painted in GIMP"), (cleaned, "cleaned: exact labels"), (over, "over the photo")])


def proposed_picture(root: Path, name: str) -> Image.Image:
    """A photo, the mask proposed from it alone, and the mask over it at 45 % opacity."""
    import numpy as np

    from pipeline import propose_mask

    photo = Image.open(root / "images" / "content" / f"{name}.png").convert("RGB")
    proposal = propose_mask(np.asarray(photo), k=4).to_image().convert("RGB")
    over = Image.blend(photo, proposal, 0.45)
    return strip([(photo, "photo"), (proposal, "proposed (k=4)"), (over, "over the photo")])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the demo's project folder (default: the checkout)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "pictures")
    args = parser.parse_args(argv)
    root: Path = args.root
    needed = root / "results" / "instant" / "astronaut__retina.png"
    if not needed.exists():
        print(f"{needed} is missing: run the demo first (README's first command)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    guided = panel(
        needed,
        root / "images" / "content" / "astronaut.png",
        root / "images" / "style" / "retina.png",
        content_mask=root / "results" / "masks" / "content" / "astronaut.png",
        style_mask=root / "results" / "masks" / "style" / "retina.png",
        title="astronaut x retina, region by region (instant style, Magenta's pretrained networks)",
    )
    guided.save(args.out / "guided.png", optimize=True)
    masks_picture(root, "chelsea").save(args.out / "masks.png", optimize=True)
    proposed_picture(root, "coffee").save(args.out / "proposed.png", optimize=True)
    print(f"wrote guided.png, masks.png and proposed.png in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
