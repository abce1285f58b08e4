"""Style transfer of a clip, frame after frame, holding still where the scene does.

Each frame is a Gatys transfer (:func:`pipeline.gatys.transfer`, with every still's option: masks,
several paintings, colour control, tiles). The first frame starts as a still does; every later
frame starts from the previous result warped along the backward flow (Ruder et al. 2016) where
the frames agree, and what the motion revealed from the frame painted on its own
(:func:`~pipeline.video.temporal.start_image`), and carries the temporal loss of
:mod:`pipeline.video.temporal` where the flow is certain and the frames agree. ``--temporal-weight 0`` makes every
frame independent: each starts from its own photo with no temporal term, the baseline the
benchmark compares against.

Each result is rounded to 8 bits, as it is saved, before the next frame warps it: a run that was
killed and continues from the saved frames computes exactly what an uninterrupted run does.

Where we part from Ruder (each measured: docs/design-notes.md, "Video"):

- warps resample bicubically: a bilinear warp's blur compounds frame after frame, and the
  temporal term then holds each frame to a softer picture;
- the temporal weight is relative to the clip's own loss (:mod:`pipeline.video.temporal`) and
  small: a larger one holds no stiller and washes the style out;
- the flow is DIS refined to full resolution, fused with smaller patches, each pixel offered its
  neighbours' flows and refined again (``dis-propagated``): a moving object's rim moves with it;
- long-term consistency (t−2, t−4) is an option, for two more flows per frame;
- the start keeps the warped result wherever the frames agree, not only where the flow is certain
  (certainty fails in flat, dark or noisy parts that did not move), and paints what the motion
  revealed on its own (:meth:`ClipTransfer._repainted`): a warped start there is a stretched copy
  of the moving object, a ghost the temporal term then holds. What was revealed is painted so in
  ``reveal_frames`` frames before it is held (:func:`~pipeline.video.temporal.carried_age`: held
  at once, the halo a painting draws around a moving object stays behind it) unless its paint
  looks as that painting's does; carried paint that painting contradicts is dropped as stale
  (:func:`~pipeline.video.temporal.without_stale`), and paint made
  beside the frame's edge is painted again once a pan or a pull-back carries it in
  (:func:`~pipeline.video.temporal.from_the_edge`);
- the temporal term holds each pixel to what its start came from
  (:func:`~pipeline.video.temporal.held_as_started`): the frame painted on its own where the start
  took that, the carried result at least as much as the start keeps it;
- where those two meet, the start's seams are painted over before it is held
  (:meth:`ClipTransfer._healed`): held as they are, the line between two paintings stays;
- the temporal term holds the transfer's canvas margin too (:class:`~pipeline.video.temporal.TemporalLoss`):
  free while the image is held, the margin takes the frame's style loss and is cut off.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from pipeline.core.color import grey
from pipeline.core.features import Encoder
from pipeline.core.guidance import Regions
from pipeline.errors import InputError, check_choice, check_finite_non_negative
from pipeline.gatys import GatysConfig, Progress, transfer
from pipeline.gatys.criterion import Style
from pipeline.video.flow import (
    DEFAULT_FLOW,
    FLOW_METHODS,
    RESAMPLING,
    agreements,
    certainty,
    flow_function,
    long_term_weights,
)
from pipeline.video.temporal import (
    LONG_TERM,
    REVEAL_FRAMES,
    TemporalLoss,
    Warped,
    carried_age,
    dropped,
    free_on,
    held_after,
    held_as_started,
    seams,
    start_image,
    warped,
    without_stale,
)

log = logging.getLogger(__name__)

#: ``--temporal-weight``'s default (see :mod:`pipeline.video.temporal` for what it is relative to).
TEMPORAL_WEIGHT = 5.0
#: How a previous result is resampled when warped onto the next frame.
DEFAULT_RESAMPLING = "bicubic"


@dataclass(frozen=True)
class VideoConfig:
    """The video's own settings; the per-frame transfer's are a :class:`~pipeline.gatys.GatysConfig`."""

    temporal_weight: float = TEMPORAL_WEIGHT
    flow: str = DEFAULT_FLOW
    long_term: bool = False  # also frames t-2 and t-4 (Ruder's long-term consistency)
    first_steps: int | None = None  # evaluations of the first frame (None: as every frame)
    resampling: str = DEFAULT_RESAMPLING
    #: Evaluations of the pass that paints what the motion revealed (:meth:`ClipTransfer._repainted`;
    #: None: as many as the frame's, 0: no pass, those pixels copied from their stylised surroundings).
    reveal_steps: int | None = None
    #: Frames what the motion revealed is painted on its own before it is held (1: held from the
    #: next frame; :func:`~pipeline.video.temporal.carried_age`). Needs the pass: with
    #: ``reveal_steps`` 0 it is held from the next frame.
    reveal_frames: int = REVEAL_FRAMES

    def __post_init__(self) -> None:
        check_finite_non_negative("temporal-weight", self.temporal_weight)
        check_choice("flow method", self.flow, FLOW_METHODS)
        check_choice("resampling", self.resampling, tuple(RESAMPLING))
        if self.first_steps is not None and (not isinstance(self.first_steps, int) or self.first_steps <= 0):
            raise InputError(f"first-steps must be a positive integer, got {self.first_steps}")
        if self.reveal_steps is not None and (not isinstance(self.reveal_steps, int) or self.reveal_steps < 0):
            raise InputError(f"reveal-steps must be an integer >= 0, got {self.reveal_steps}")
        if not isinstance(self.reveal_frames, int) or self.reveal_frames < 1:
            raise InputError(f"reveal-frames must be a positive integer, got {self.reveal_frames}")

    @property
    def independent(self) -> bool:
        return self.temporal_weight == 0


@dataclass
class FrameResult:
    """One stylised frame and how its optimisation went."""

    index: int
    image: np.ndarray  # (H, W, 3) uint8, as saved
    losses: dict[str, float] = field(default_factory=dict)  # final weighted terms and their total
    evaluations: int = 0
    converged: bool = True
    seconds: float = 0.0
    history: dict[str, list[float]] = field(default_factory=dict)

    def record(self) -> dict[str, object]:
        """The frame's entry in the clip's record (``OUT.json``'s ``frames``)."""
        return {
            "frame": self.index,
            "loss": {k: self.losses.get(k, 0.0) for k in ("total", "content", "style", "temporal")},
            "evaluations": self.evaluations,
            "converged": self.converged,
            "seconds": round(self.seconds, 3),
        }


def to_tensor(frame: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(frame, dtype=np.float32) / 255).permute(2, 0, 1)[None].contiguous()


def to_frame(image: torch.Tensor) -> np.ndarray:
    return (image[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)


@dataclass
class _Seen:
    index: int
    frame: np.ndarray  # the input frame (uint8 RGB, at the working size)
    result: np.ndarray  # its stylised frame, as saved
    age: np.ndarray | None = None  # frames since each pixel was revealed (None: it follows no frame)


class ClipTransfer:
    """Stylises the frames of one clip in order (see the module docstring). ``regions_for(index,
    frame)`` gives a frame's regions when the clip is guided; ``done(index)`` a frame finished by
    an earlier run (its saved result), which is then not stylised again."""

    def __init__(
        self,
        styles: Sequence[Style],
        config: GatysConfig,
        video: VideoConfig,
        *,
        encoder: Encoder,
        style_blend: Sequence[float] | None = None,
        regions_for: Callable[[int, np.ndarray], Regions | None] | None = None,
    ) -> None:
        self.styles, self.config, self.video = list(styles), config, video
        self.encoder, self.style_blend = encoder, style_blend
        self.regions_for = regions_for or (lambda index, frame: None)
        self.flow = flow_function(video.flow)
        self.reference: float | None = None  # the clip's reference loss (first frame's photo)
        self.seen: deque[_Seen] = deque(maxlen=max(LONG_TERM) + 1)

    def run(
        self,
        frames: Iterable[tuple[int, np.ndarray]],
        *,
        done: Callable[[int], np.ndarray | None] = lambda index: None,
        progress: Progress | None = None,
    ) -> Iterator[FrameResult]:
        """Stylise ``frames`` ((index, uint8 RGB frame) in order), yielding each new result."""
        for index, frame in frames:
            if self.reference is None:
                self.reference = self._reference_loss(index, frame)
            saved = done(index)
            if saved is not None:  # what it revealed is still counted, as the run that painted it did
                age = self._age(frame) if self._follows(index) else None
                self.seen.append(_Seen(index, frame, saved, age))
                continue
            result, age = self._stylise(index, frame, progress)
            self.seen.append(_Seen(index, frame, result.image, age))
            yield result

    def _reference_loss(self, index: int, frame: np.ndarray) -> float:
        """The loss of the first frame's photo against the style: the unit of the temporal weight."""
        if self.video.independent:
            return 0.0
        config = _with(self.config, steps=1)
        result = transfer(
            to_tensor(frame),
            self.styles,
            config,
            encoder=self.encoder,
            style_blend=self.style_blend,
            regions=self.regions_for(index, frame),
            init=to_tensor(frame),
        )
        reference = float(result.history["total"][0])
        log.debug("reference loss %.6g (frame %d's photo)", reference, index)
        return reference

    def _follows(self, index: int) -> bool:
        """Whether frame ``index`` is held to the one before it."""
        return bool(self.seen) and self.seen[-1].index == index - 1 and not self.video.independent

    def _matched(self, frame: np.ndarray, seen: _Seen) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The flows from ``frame`` towards an earlier one and back, where the two frames agree, and
        where they agree as what the motion revealed is counted
        (:func:`~pipeline.video.flow.agreements`)."""
        towards, back = self.flow(frame, seen.frame), self.flow(seen.frame, frame)
        return towards, back, *agreements(frame, seen.frame, towards, back)

    def _age(self, frame: np.ndarray) -> np.ndarray:
        """This frame's :func:`~pipeline.video.temporal.carried_age`, from the frame before it."""
        towards, _, _, counted = self._matched(frame, self.seen[-1])
        return carried_age(self.seen[-1].age, towards, counted)

    def _earlier(self, frame: np.ndarray) -> tuple[list[Warped], np.ndarray, np.ndarray]:
        """The earlier results that hold this frame: t−1 (and t−2, t−4 with the long-term option),
        each warped onto it with its certainty (closest first, Ruder's weights), none of them
        where this frame reveals something; this frame's
        :func:`~pipeline.video.temporal.carried_age`; and where what the motion revealed is still
        young, painted on its own unless its paint passes the stale check
        (:func:`~pipeline.video.temporal.without_stale`)."""
        steps = LONG_TERM if self.video.long_term else (1,)
        by_index = {seen.index: seen for seen in self.seen}
        latest = self.seen[-1].index
        found = []
        for step in steps:
            seen = by_index.get(latest + 1 - step)
            if seen is None:
                break
            towards, back, agrees, counted = self._matched(frame, seen)
            found.append((seen, towards, certainty(towards, back) * agrees, agrees, counted))
        _, towards_previous, _, _, counted_previous = found[0]
        age = carried_age(self.seen[-1].age, towards_previous, counted_previous)
        held = held_after(age, 1)
        young = held > held_after(age, self.video.reveal_frames if self.video.reveal_steps != 0 else 1)
        weights = long_term_weights([c * held for _, _, c, _, _ in found])
        carried = [
            warped(seen.result, towards, weight, agrees=agrees * held, resampling=self.video.resampling)
            for (seen, towards, _, agrees, _), weight in zip(found, weights, strict=True)
        ]
        return carried, age, young

    def _repainted(
        self, content: torch.Tensor, regions: Regions | None, previous: Warped, young: np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The frame painted on its own, from its photo and without the temporal term, as the
        start of what the motion revealed (``young`` paint included), and the same painting at half
        its evaluations (None where the motion revealed nothing, or with ``reveal_steps`` 0). What a
        moving object uncovers, or an object coming into the frame, has no earlier paint to carry; copied from
        its surroundings it is a copy of them (a cat's fur on a blue disc), and a few dozen
        evaluations in a frame whose style is already met do not repaint it. Painted as an
        independent frame paints it, with as many evaluations, it looks like the rest of the clip
        (:func:`~pipeline.video.temporal.held_as_started` holds it there).

        The stale check (:func:`~pipeline.video.temporal.without_stale`) compares the carried paint
        with the painting halfway: the finished one departs from any carried paint wherever a
        painting is unsettled (bright points, fine texture), and what it dropped there would be
        painted anew in every frame (measured: docs/design-notes.md, "Video")."""
        steps = self.video.reveal_steps if self.video.reveal_steps is not None else self.config.steps
        if not steps or _revealed_share(previous, young) < REVEALED_AT_LEAST:
            return None
        check, halfway = max(1, steps // 2), list[torch.Tensor]()

        def keep_halfway(step: int, image: torch.Tensor, loss: float) -> None:
            if step == check and not halfway:
                halfway.append(image.detach().float().cpu())

        painted = transfer(
            content, self.styles, _with(self.config, steps=steps), encoder=self.encoder,
            style_blend=self.style_blend, regions=regions, snapshot=keep_halfway, snapshot_every=check,
        )  # fmt: skip
        image = painted.image.detach().float().cpu()
        return image, halfway[0] if halfway else image

    def _healed(
        self, content: torch.Tensor, regions: Regions | None, start: torch.Tensor, term: TemporalLoss
    ) -> tuple[torch.Tensor, list[TemporalLoss]]:
        """``start`` with its seams painted over (:data:`SEAM_STEPS` evaluations free of ``term``
        there), and the temporal term holding the start so healed.

        Where the start joins the carried result and the frame painted on its own
        (:func:`~pipeline.video.temporal.seams`), two paintings' strokes meet. Held there, the
        seam stays in the frame, a line no painting has; the frame's style loss rises with the
        length of the seams (measured: docs/design-notes.md, "Video"). Freed for the frame's whole
        optimisation, the seams drift each frame their own way and flicker."""
        seam = seams(term.previous[0].keep)
        free = free_on(term.previous, seam)
        healed = transfer(
            content, self.styles, _with(self.config, steps=SEAM_STEPS), encoder=self.encoder,
            style_blend=self.style_blend, regions=regions, init=start, terms=[TemporalLoss(free, term.weight)],
        ).image.detach().float().cpu().clamp(0, 1)  # fmt: skip
        held = grey(healed) if self.config.color == "preserve" else healed
        return healed, [TemporalLoss([Warped(held, seam, seam), *free], term.weight)]

    def _stylise(
        self, index: int, frame: np.ndarray, progress: Progress | None
    ) -> tuple[FrameResult, np.ndarray | None]:
        """The frame's result, and its :func:`~pipeline.video.temporal.carried_age` (None when it
        follows no frame)."""
        started = time.perf_counter()
        content = to_tensor(frame)
        follows = self._follows(index)
        config, init, terms, age = self.config, None, [], None
        regions = self.regions_for(index, frame)
        if follows:
            earlier, age, young = self._earlier(frame)
            labels = regions.content.argmax(dim=0).numpy() if regions is not None else None
            repainted, halfway = self._repainted(content, regions, earlier[0], young) or (None, None)
            if halfway is not None:  # a second witness: what the carried paint smeared is dropped
                earlier = [without_stale(e, halfway, young) for e in earlier]
            else:  # nothing to check young paint against
                earlier = [dropped(e, young) for e in earlier]
            init = start_image(earlier[0], content, labels, repainted)
            earlier = [*held_as_started(earlier[0], repainted), *earlier[1:]]
            if self.config.color == "preserve":  # the optimisation sees luminance only
                earlier = [dataclasses.replace(e, image=grey(e.image)) for e in earlier]
            assert self.reference is not None
            terms = [TemporalLoss(earlier, self.video.temporal_weight * self.reference)]
            if repainted is not None:
                init, terms = self._healed(content, regions, init, terms[0])
        elif self.video.first_steps is not None:
            config = _with(config, steps=self.video.first_steps)
        result = transfer(
            content,
            self.styles,
            config,
            encoder=self.encoder,
            progress=progress,
            style_blend=self.style_blend,
            regions=regions,
            init=init,
            terms=terms,
        )
        return FrameResult(
            index=index,
            image=to_frame(result.image),
            losses={k: float(v) for k, v in result.final_losses.items()},
            evaluations=result.evaluations,
            converged=result.converged if not follows else settled(result.history["total"]),
            seconds=time.perf_counter() - started,
            history=result.history,
        ), age


#: Evaluations that paint over the seams of a later frame's start (:meth:`ClipTransfer._healed`).
SEAM_STEPS = 5

#: Below this share of revealed pixels a frame is started without painting them on their own.
REVEALED_AT_LEAST = 1e-4

#: A later frame has settled when its last fifth of evaluations lowered the loss by less than this.
SETTLED = 0.01


def _revealed_share(previous: Warped, young: np.ndarray) -> float:
    """The share of a frame the previous result cannot start, or that is ``young`` (what the motion revealed)."""
    return float(np.maximum(1 - previous.keep[0, 0].numpy(), young).mean())


def settled(total: Sequence[float]) -> bool:
    """Whether a later frame's optimisation had settled: it starts near its answer, so the stall
    test of a still (a drop of half the loss) does not apply; a frame still falling fast when its
    evaluations ran out would gain from more ``--steps``."""
    tail = max(1, len(total) // 5)
    if len(total) <= tail:
        return True
    before, after = total[-tail - 1], total[-1]
    return before <= 0 or (before - after) / before < SETTLED


def _with(config: GatysConfig, **changes: object) -> GatysConfig:
    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]
