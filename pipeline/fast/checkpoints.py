"""Training checkpoints: what a run needs to continue exactly where it stopped (``train
--resume``), and the rules for replacing and resuming one."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from pipeline import record
from pipeline.errors import InputError, option
from pipeline.fast.network import TransformerNet

if TYPE_CHECKING:
    from pipeline.fast.config import TrainConfig

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "stylesnake-fast-checkpoint/1"
#: Settings that do not change what is trained (a resumed run may change them).
RUN_ONLY = ("steps", "checkpoint_every", "device", "precision", "workers")
#: What a checkpoint written before a setting existed was trained with.
BEFORE = {"temporal_weight": 0.0}


def path_for(out: str | os.PathLike[str]) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".ckpt")


def replacing(checkpoint: Path) -> None:
    """A run without ``--resume`` replaces an earlier run's checkpoint (said), but never a file
    of that name that is not one of ours."""
    state = record.load_torch(
        checkpoint,
        what="a Stylesnake training checkpoint",
        fix=f"training would replace it: move it away, or choose another {option('out')}",
        format=CHECKPOINT_FORMAT,
    )
    log.warning("%s: starting again; the checkpoint at step %s is replaced (--resume continues it)", checkpoint,
                state.get("step"))  # fmt: skip


def save(
    path: Path,
    network: TransformerNet,
    optimizer: torch.optim.Optimizer,
    step: int,
    history: dict[str, list[float]],
    config: TrainConfig,
) -> None:
    """Everything a run needs to continue exactly at ``step``."""
    state = {
        "format": CHECKPOINT_FORMAT,
        "step": step,
        "network": network.state_dict(),
        "optimizer": optimizer.state_dict(),
        "history": history,
        "config": dataclasses.asdict(config),
    }
    record.save_torch(state, path)
    log.info("checkpoint at step %d: %s", step, path)


def restore(
    path: Path, network: TransformerNet, optimizer: torch.optim.Optimizer, config: TrainConfig
) -> tuple[int, dict[str, list[float]]]:
    """Load a checkpoint into ``network`` and ``optimizer``; the step and loss history it reached.
    Refused when it was trained with settings other than ``config``'s (except :data:`RUN_ONLY`)."""
    if not path.is_file():
        raise InputError(f"{path}: no checkpoint to resume from; start without {option('resume')}")
    state = record.load_torch(
        path,
        what="a Stylesnake training checkpoint",
        fix=f"delete it and start without {option('resume')}",
        format=CHECKPOINT_FORMAT,
    )
    trained = {**BEFORE, **state["config"]}
    changed = {k for k, v in dataclasses.asdict(config).items() if k not in RUN_ONLY and trained.get(k) != v}
    if changed:
        raise InputError(
            f"{path}: the checkpoint was trained with other settings ({', '.join(sorted(changed))}); "
            f"resume with the same ones, or start again without {option('resume')}"
        )
    try:
        network.load_state_dict(state["network"])
    except RuntimeError:  # another width or number of label channels than this run's
        raise InputError(
            f"{path}: the checkpoint's network does not fit this run (trained with other masks or labels?); "
            f"resume with the same ones, or start again without {option('resume')}"
        ) from None
    optimizer.load_state_dict(state["optimizer"])
    return int(state["step"]), {k: list(v) for k, v in state["history"].items()}
