"""The workflow's clips: which clips and keyframe masks exist, which clip × style pairs run, and the
segments each clip is cut into (one job each, see :mod:`pipeline.video.segments`).

Clips by convention in ``videos/`` (MP4, MOV, M4V, MKV, WebM); keyframe masks of a clip in
``masks/video/<clip>/`` named by frame number (``000000.png``, …). The demo's clips are written
from scikit-image's samples by a rule. Settings in the config's ``video:`` section (and a preset's).

Kept free of torch: the Snakefile imports it on every run. Counting a clip's frames reads its
container's header (PyAV), not its pictures, unless the container does not say.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import InputError
from pipeline.io import MAX_PIXELS
from pipeline.synthetic.clips import DEMO_CLIPS
from pipeline.video.clip import numbered_images, open_clip
from pipeline.video.segments import OVERLAP, SEGMENT, segments
from pipeline.workflow.paths import check_name

log = logging.getLogger(__name__)

VIDEOS = "videos"
KEYFRAMES = Path("masks") / "video"
CLIP_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".webm")
#: The ``video:`` settings that are flags of ``stylesnake video`` (the others shape the jobs).
VIDEO_FLAGS = ("temporal_weight", "flow", "long_term", "first_steps", "reveal_steps", "reveal_frames")
#: What ``video:`` holds where the config says nothing (the segments' lengths are the video package's).
DEFAULTS: dict[str, Any] = {"styles": "all", "method": "optimise", "segment": SEGMENT, "overlap": OVERLAP}


@dataclass(frozen=True)
class Clips:
    """The clips of one run, their frame counts, keyframe masks, and the clip × style pairs."""

    paths: dict[str, str] = field(default_factory=dict)  # clip → path
    frames: dict[str, int] = field(default_factory=dict)
    keyframes: dict[str, str] = field(default_factory=dict)  # clip → folder of keyframe masks
    pairs: list[tuple[str, str]] = field(default_factory=list)  # (clip, style)
    settings: dict[str, Any] = field(default_factory=dict)

    def segments(self, clip: str) -> list[tuple[int, int]]:
        """The [start, stop) frames of each of the clip's segment jobs."""
        return segments(self.frames[clip], int(self.settings["segment"]), int(self.settings["overlap"]))


def clips(root: Path, config: Mapping[str, Any], styles: Sequence[str], preset: Mapping[str, Any]) -> Clips:
    """The run's clips, from ``videos/`` and the demo, with ``config``'s ``video:`` (and the preset's)."""
    settings = {**DEFAULTS, **dict(config.get("video") or {}), **dict(preset.get("video") or {})}
    paths: dict[str, str] = {}
    frames: dict[str, int] = {}
    folder = root / VIDEOS
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.suffix.lower() in CLIP_SUFFIXES and not path.name.startswith("."):
            check_name(path.stem, path)
            if path.stem in paths:
                raise InputError(f"{path}: {paths[path.stem]} has the same name; keep one clip per name")
            paths[path.stem] = f"{VIDEOS}/{path.name}"
    for name in (config.get("demo") or {}).get("videos", []):
        if name not in paths:  # written by the sample rule: its frame count is the demo's
            paths[name] = f"{VIDEOS}/{name}.mp4"
            frames[name] = DEMO_CLIPS[name].frames
    for name, clip in paths.items():
        if name not in frames:
            frames[name] = count_frames(root / clip)
    keyframes = {
        name: (KEYFRAMES / name).as_posix()
        for name in paths
        if (root / KEYFRAMES / name).is_dir() and numbered_images(root / KEYFRAMES / name)
    }
    wanted = settings["styles"]
    if wanted == "all":
        pairs = [(c, s) for c in paths for s in styles]
    else:  # a clip or style that is not here is said and left out (config.yaml names the demo's)
        pairs = []
        for clip, names in wanted.items():
            if clip not in paths:
                log.info("video.styles names clip '%s', which is not in %s/ here", clip, VIDEOS)
                continue
            for style in names:
                if style in styles:
                    pairs.append((clip, style))
                else:
                    log.warning("video.styles: no style image '%s' for clip '%s'", style, clip)
    return Clips(paths, frames, keyframes, pairs, settings)


def count_frames(path: Path) -> int:
    """A clip's frames, from its container's header (decoded and counted when it does not say)."""
    import av

    try:
        with open_clip(path, max_pixels=MAX_PIXELS) as container:
            if not container.streams.video:
                raise InputError(f"{path}: has no video stream; put only clips in {VIDEOS}/")
            stream = container.streams.video[0]
            return int(stream.frames) or sum(1 for _ in container.decode(stream))
    except av.error.FFmpegError as exc:
        raise InputError(f"{path}: not a video we can read ({exc}); put only clips in {VIDEOS}/") from None
