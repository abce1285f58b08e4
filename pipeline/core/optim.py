"""The optimisation loop of a Gatys transfer: minimise a criterion's weighted terms over the image
with L-BFGS (:mod:`pipeline.core.lbfgs`) or Adam, record each evaluation's losses, and say whether the
run converged."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from pipeline.core.lbfgs import LBFGS
from pipeline.errors import InputError, check_choice, option
from pipeline.progress import PROGRESS_EVERY, Progress

log = logging.getLogger(__name__)

OPTIMIZERS = ("lbfgs", "adam")
#: Learning rates for images in [0, 1]. L-BFGS: the first trial step of each line search (1 = the
#: full quasi-Newton step, which the search almost always keeps); Adam's 0.02 moves a pixel by at
#: most ~5/255 per step, which is what keeps it from ringing.
DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02}
#: Curvature pairs L-BFGS keeps: the top of the range Nocedal & Wright recommend; more costs memory
#: and time (2 · m · 3 · H · W floats) for no lower loss (docs/design-notes.md, "L-BFGS").
LBFGS_HISTORY = 20
#: A transfer whose loss fell by less than this share, and that did not reach a stationary point,
#: is reported as not converged: a stalled run falls by a few per cent, a converging one by most of
#: its loss (docs/design-notes.md, "Convergence").
STALL_DROP = 0.5

#: Called every ``snapshot_every`` evaluations with (evaluation, image so far in [0, 1], its total loss).
Snapshot = Callable[[int, torch.Tensor, float], None]
#: The loss to minimise, as named weighted terms of the image (their sum is minimised).
Criterion = Callable[[torch.Tensor], dict[str, torch.Tensor]]


@dataclass
class Optimised:
    image: torch.Tensor  # the best image (L-BFGS) or the last one (Adam), clamped to [0, 1]
    history: dict[str, list[float]]  # per evaluation: total and each weighted term
    stationary: bool = False  # L-BFGS stopped early: no step could lower the loss


class _Lbfgs:
    """L-BFGS as :func:`optimize` drives it: an evaluation may be a line-search trial that is not
    kept, so what is recorded and returned is the best image with sufficient decrease so far."""

    def __init__(self, image: torch.Tensor, *, lr: float, history_size: int) -> None:
        self.image = image
        self.lbfgs = LBFGS(image, lr=lr, history_size=history_size)
        self.best: torch.Tensor | None = None

    @property
    def stationary(self) -> bool:
        return self.lbfgs.converged

    def told(self, total: torch.Tensor, record: torch.Tensor) -> torch.Tensor:
        """The record of this evaluation's answer (the best so far), having moved the image on."""
        assert self.image.grad is not None
        if self.lbfgs.tell(total, self.image.grad) or self.best is None:
            self.best = record
        return self.best

    def answer(self) -> torch.Tensor:
        return self.lbfgs.best.view_as(self.image)

    def step(self, last: bool) -> None:
        """Nothing: :meth:`told` has moved the image already."""


class _Adam:
    """Adam as :func:`optimize` drives it: every evaluation is kept, and the image is projected
    into [0, 1] after each step."""

    stationary = False

    def __init__(self, image: torch.Tensor, *, lr: float) -> None:
        self.image = image
        self.adam = torch.optim.Adam([image], lr=lr)

    def told(self, total: torch.Tensor, record: torch.Tensor) -> torch.Tensor:
        return record

    def answer(self) -> torch.Tensor:
        return self.image

    def step(self, last: bool) -> None:
        if not last:
            self.adam.step()
            with torch.no_grad():
                self.image.clamp_(0, 1)


def optimize(
    init: torch.Tensor,
    criterion: Criterion,
    *,
    steps: int,
    optimizer: str = "lbfgs",
    lr: float | None = None,
    history_size: int = LBFGS_HISTORY,
    progress: Progress | None = None,
    precision_context: Callable[[], Any] | None = None,
    snapshot: Snapshot | None = None,
    snapshot_every: int = 0,
) -> Optimised:
    """Minimise the sum of ``criterion(image)``'s terms over the image, for ``steps`` evaluations.

    L-BFGS (:class:`LBFGS`) searches along each direction with a Wolfe line search, so an
    evaluation may be a trial that is not kept: the history records, per evaluation, the losses
    of the best image so far (the one returned had the run stopped there), and the result is
    that best image. L-BFGS stops early once no step can lower the loss (a stationary point). It
    is left unconstrained (clamping would break its curvature pairs), so its result is clamped
    to [0, 1] once at the end; Adam's iterate is projected into [0, 1] after each step, and its
    history and result are those of the last evaluation.
    ``snapshot`` sees the image that would be returned, every ``snapshot_every`` evaluations.
    Raises :class:`InputError` if the loss stops being finite (the optimisation diverged).
    """
    check_choice("optimizer", optimizer, OPTIMIZERS)
    lr = DEFAULT_LR[optimizer] if lr is None else lr
    context = precision_context or contextlib.nullcontext
    image = init.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
    search = _Lbfgs(image, lr=lr, history_size=history_size) if optimizer == "lbfgs" else _Adam(image, lr=lr)
    records: list[torch.Tensor] = []
    names: list[str] = []
    for step in range(1, steps + 1):
        image.grad = None
        with context():
            terms = criterion(image)
        total = torch.stack(list(terms.values())).sum()
        total.backward()
        names = names or ["total", *terms]
        # Kept on the device: converting to float here would sync a GPU on every step.
        records.append(
            search.told(total.detach(), torch.stack([total.detach(), *(t.detach().float() for t in terms.values())]))
        )
        if snapshot is not None and snapshot_every > 0 and step % snapshot_every == 0:
            snapshot(step, search.answer().detach().clamp(0, 1), float(records[-1][0]))
        if progress is not None:
            report = step % PROGRESS_EVERY == 0 or step == steps
            progress(step, steps, dict(zip(names, records[-1].tolist(), strict=True)) if report else None)
        if search.stationary:
            log.info("L-BFGS reached a stationary point after %d evaluations", step)
            break
        search.step(last=step == steps)
    history = _history(records, names)
    return Optimised(search.answer().detach().clamp(0, 1), history, stationary=search.stationary)


def _history(records: list[torch.Tensor], names: list[str]) -> dict[str, list[float]]:
    """Each term's loss per evaluation, read from the device once; an :class:`InputError` when the
    last is not finite (the optimisation diverged)."""
    table = torch.stack(records).cpu().tolist()
    history = {name: [row[i] for row in table] for i, name in enumerate(names)}
    if not math.isfinite(history["total"][-1]):
        first_bad = next(i for i, value in enumerate(history["total"]) if not math.isfinite(value))
        raise InputError(
            f"the optimisation diverged (loss {history['total'][-1]} from evaluation {first_bad + 1}); "
            f"lower {option('lr')} or the style weight, or try {option('optimizer')} adam"
        )
    return history


def convergence(history: Mapping[str, Sequence[float]], *, stationary: bool = False) -> tuple[bool, float]:
    """(converged, loss drop): the share of the first evaluation's total loss that the last one
    removed, and whether that is enough (:data:`STALL_DROP`) or the optimiser reached a
    stationary point (where a small drop is the right answer, e.g. a tiny style weight)."""
    total = history.get("total", [])
    if not total or total[0] <= 0:
        return True, 0.0
    drop = 1.0 - total[-1] / total[0]
    return stationary or drop >= STALL_DROP, drop


def stall_message(drop: float, history: Mapping[str, Sequence[float]], evaluations: int) -> str:
    total = history["total"]
    return (
        f"the loss fell by only {drop:.0%} in {evaluations} evaluations ({total[0]:.4g} -> {total[-1]:.4g}): "
        "the result is close to its starting image; try more --steps, a higher --style-weight or --optimizer adam"
    )
