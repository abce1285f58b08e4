"""How a long run reports: a callback every long run of the package takes (a transfer's loss
evaluations, a training's steps, a clip's frames), torch-free so that the command line can
import it for its progress bars without loading a network."""

from __future__ import annotations

from collections.abc import Callable, Mapping

#: ``progress(step, steps, losses)``: called after every loss evaluation (or training step, or
#: frame); ``losses`` (weighted terms and their total) is filled every :data:`PROGRESS_EVERY`
#: evaluations and at the last one.
Progress = Callable[[int, int, Mapping[str, float] | None], None]
#: Every how many evaluations a run reports its progress.
PROGRESS_EVERY = 10
