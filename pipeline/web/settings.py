"""What the site may accept and offer (:class:`Settings`), and what its pages share once
``create_app`` has loaded it (:class:`WebState`)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from pipeline.errors import InputError

if TYPE_CHECKING:  # types only: importing the settings loads neither Flask nor torch
    from pipeline.masks.parsers import Parser
    from pipeline.masks.semantic import Groups
    from pipeline.web.catalog import Style
    from pipeline.web.jobs import Jobs
    from pipeline.web.paintings import Painting
    from pipeline.web.store import ResultStore
    from pipeline.web.stylist import Stylist

#: Output sizes (long side, px) the form offers, up to ``max_side``.
SIZES = (256, 512, 768, 1024, 1536, 2048)
#: Style strengths the fast tab offers: 1 is the model's full style; less blends in the photo.
STRENGTHS = (1.0, 0.75, 0.5, 0.25)


@dataclass(frozen=True)
class Settings:
    max_side: int = 1024  # px: larger photos are downscaled to this long side
    max_upload_mb: float = 20.0  # whole request (photo + mask)
    max_pixels: int = 40_000_000  # decoded pixels; above: a decompression bomb, refused
    slots: int = 2  # stylisations at once per process
    wait: float = 60.0  # s a request waits for a slot before "busy"
    ttl: float = 3600.0  # s a result is kept
    slow_steps: int = 300  # the slow tab: Gatys loss evaluations per job
    slow_max_side: int = 512  # px: the slow tab's largest output
    slow_pending: int = 4  # slow jobs queued or running per process; more are told "busy"
    clip_seconds: float = 10.0  # the fast tab's clips: at most this long
    clip_side: int = 512  # px: a clip's frames are painted at most this large (long side)
    clip_pending: int = 2  # clip jobs queued or running per process; more are told "busy"

    def __post_init__(self) -> None:
        for f in fields(self):
            if not getattr(self, f.name) > 0:
                raise InputError(f"{f.name.replace('_', '-')} must be positive, got {getattr(self, f.name)}")
        if self.max_side < 16:
            raise InputError(f"max-side must be at least 16 px, got {self.max_side}")

    def sizes(self) -> list[int]:
        return sorted({s for s in SIZES if s < self.max_side} | {self.max_side})

    def slow_sizes(self) -> list[int]:
        top = min(self.slow_max_side, self.max_side)
        return sorted({s for s in SIZES if s < top} | {top})


@dataclass(frozen=True)
class WebState:
    styles: dict[str, Style]
    store: ResultStore
    stylist: Stylist
    settings: Settings
    paintings: dict[str, Painting]  # the slow tab's; empty: no slow tab
    jobs: Jobs | None  # None: the slow tab cannot run (``slow_unavailable`` says why)
    slow_unavailable: str | None = None
    semantic: tuple[Parser, Groups] | None = None  # ``--semantic``: proposed regions from a scene parser
    clips: Jobs | None = None  # the fast tab's clip jobs (None: no fast tab)
    instant: bool = False  # the "your own painting" tab: instant style's networks are installed
