"""Progress of the long verbs (transfer, mix-scales, train): a tqdm bar on a terminal, a log line
every tenth of the run on a pipe (Snakemake's logs)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from pipeline.progress import PROGRESS_EVERY, Progress

log = logging.getLogger("pipeline")


@contextmanager
def reporting(*, quiet: bool, what: str, unit: str = "eval") -> Iterator[Progress | None]:
    """The progress callback for ``what`` while the block runs (a bar closed after it, even on error)."""
    progress, close = _reporter(quiet=quiet, what=what, unit=unit)
    try:
        yield progress
    finally:
        close()


def _reporter(*, quiet: bool, what: str, unit: str = "eval") -> tuple[Progress | None, Callable[[], None]]:
    """A progress callback for ``what`` (counted in ``unit``: evaluations or steps, which come with
    their losses every :data:`~pipeline.progress.PROGRESS_EVERY`; or frames, each with its own) and the
    function that closes it."""
    if quiet:
        return None, lambda: None
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(desc=what, unit=unit, dynamic_ncols=True)

        def update_bar(step: int, steps: int, losses: Mapping[str, float] | None) -> None:
            bar.total = steps
            bar.update(step - bar.n)
            if losses is not None:
                bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()}, refresh=False)

        return update_bar, bar.close

    every = 1 if unit == "frame" else PROGRESS_EVERY

    def update_log(step: int, steps: int, losses: Mapping[str, float] | None) -> None:
        if losses is not None and (step == steps or step % max(steps // 10, 1) < every):
            shown = ", ".join(f"{k} {v:.4g}" for k, v in losses.items())
            log.info("%s %d/%d: %s", what, step, steps, shown)

    return update_log, lambda: None
