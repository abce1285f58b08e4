"""Where the work runs: device choice and numeric precision.

The names (:data:`DEVICES`, :data:`PRECISIONS`) load no torch, so the command line can offer them
to a verb that needs none (instant style); the functions import it when called."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, TypeVar

from pipeline.errors import InputError, option

if TYPE_CHECKING:
    import torch

#: What ``--device`` takes (auto: CUDA, then MPS, then the CPU).
DEVICES = ("auto", "cpu", "cuda", "mps")
#: What ``--precision`` takes (auto: bf16 on CUDA, fp32 elsewhere).
PRECISIONS = ("auto", "fp32", "bf16")


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; an explicit device must be available."""
    import torch  # deferred: the names above load without it

    base = name.split(":")[0]
    if base not in DEVICES:
        raise InputError(f"unknown device '{name}'; use one of {', '.join(DEVICES)} (or cuda:N)")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    index = name.partition(":")[2]
    if index and (base != "cuda" or not index.isdigit()):
        raise InputError(f"bad device '{name}'; write cuda:N with N a GPU number")
    if base == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device '{name}' requested but CUDA is not available; use {option('device')} cpu or auto")
    if index and int(index) >= torch.cuda.device_count():
        raise InputError(f"device '{name}': this machine has {torch.cuda.device_count()} GPU(s)")
    if base == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"device '{name}' requested but MPS is not available; use {option('device')} cpu or auto")
    return torch.device(name)


def resolve_precision(name: str, device: torch.device) -> str:
    """``auto`` means bf16 activations on CUDA GPUs that support it, fp32 everywhere else."""
    import torch  # deferred: the names above load without it

    if name not in PRECISIONS:
        raise InputError(f"unknown precision '{name}'; use one of {', '.join(PRECISIONS)}")
    if name != "auto":
        return name
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    return "fp32"


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[object]:
    """The autocast context for ``precision`` (a no-op for fp32)."""
    import torch  # deferred: the names above load without it

    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def memory_format(device: torch.device) -> torch.memory_format:
    """Channels-last where the convolution libraries are faster with it (oneDNN, cuDNN)."""
    import torch  # deferred: the names above load without it

    return torch.channels_last if device.type in ("cpu", "cuda") else torch.contiguous_format


ModuleT = TypeVar("ModuleT", bound="torch.nn.Module")


def place(
    module: ModuleT, device: torch.device, layout: torch.memory_format, dtype: torch.dtype | None = None
) -> ModuleT:
    """``module`` moved to ``device`` (and ``dtype``) with its 4-D weights in ``layout``, in place."""
    # One Module.to call, as at runtime it takes all three (its type stubs do not say so).
    options = {"device": device, "memory_format": layout, **({"dtype": dtype} if dtype is not None else {})}
    return module.to(**options)  # type: ignore[call-overload, no-any-return]
