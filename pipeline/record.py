"""Provenance: what every output says about how it was made, and where it says it.

Every verb that writes a result writes the same record: a JSON sidecar beside it
(``result.png`` → ``result.png.json``) that opens with the same header (Stylesnake's version, the
method, the VGG weights) and closes with the same environment (code version, device, precision,
torch, Python); an image also carries its summary (header and parameters) in a PNG text chunk or
JPEG comment, so a file separated from its sidecar still says how it was made. The sidecar is
written first: an output on disk always has its record beside it.

Torch files (style targets, fast models, training checkpoints) are saved and loaded here too, with
``weights_only=True`` and one clear line when a file is not what it should be.
"""

from __future__ import annotations

import io as _bytes_io
import json
import os
import platform
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline import io
from pipeline.errors import InputError
from pipeline.version import __version__, code_version

if TYPE_CHECKING:
    import torch


def sidecar_path(out: str | os.PathLike[str]) -> Path:
    """``result.png`` → ``result.png.json``: the metadata file written beside every output."""
    out = Path(out)
    return out.with_name(out.name + ".json")


def digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes (read in blocks: clips are large), or of a folder's files by name."""
    import hashlib

    path = Path(path)
    found = hashlib.sha256()
    if path.is_dir():
        for child in sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")):
            found.update(f"{child.name}:{digest(child)}".encode())
        return found.hexdigest()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            found.update(block)
    return found.hexdigest()


def header(method: str, weights: Mapping[str, Any] | None) -> dict[str, Any]:
    """The first keys of every record: which Stylesnake, which method, which VGG weights."""
    return {"stylesnake": __version__, "method": method, "weights": dict(weights) if weights else weights}


def environment(device: str | torch.device, precision: str) -> dict[str, Any]:
    """The last keys of every record: the code, where it ran and with what."""
    import torch

    return {
        "code": code_version(),
        "device": str(device),
        "precision": precision,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def summary(header: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict[str, str]:
    """The text chunk an image carries: its record's header and parameters, compact JSON."""
    data = {**header, "parameters": dict(parameters)}
    return {"stylesnake": json.dumps(data, sort_keys=True, separators=(",", ":"))}


def write(out: str | os.PathLike[str], data: bytes, metadata: Mapping[str, Any]) -> None:
    """Write the sidecar, then the output itself, each atomically."""
    io.write_bytes(sidecar_path(out), io.json_bytes(metadata))
    io.write_bytes(out, data)


def read_sidecar(result: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON written beside a result; a missing or broken one is one clear line."""
    path = sidecar_path(result)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: no metadata beside the result; was it written by `stylesnake`?") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError(f"{path}: not valid JSON; rerun the command that wrote it") from None


# --- torch files --------------------------------------------------------------------------------


def torch_bytes(payload: Any) -> bytes:
    """``torch.save`` into bytes (then written atomically with :func:`pipeline.io.write_bytes`)."""
    import torch

    buffer = _bytes_io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def save_torch(payload: Any, path: str | os.PathLike[str]) -> None:
    """Save tensors, lists, numbers and strings only, so :func:`load_torch` can refuse code."""
    io.write_bytes(path, torch_bytes(payload))


def load_torch(path: str | os.PathLike[str], *, what: str, fix: str, format: str | None = None) -> Any:
    """Load a torch file with ``weights_only=True``. A missing file, one that is not a torch file,
    or (given ``format``) a dict whose ``format`` differs, is one :class:`InputError`:
    "PATH: not WHAT; FIX"."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file; {fix}")
    try:
        with warnings.catch_warnings():  # torch warns about odd pickles before refusing them: one line is ours
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # unpickling fails in many ways (random bytes, code, truncation); all mean this
        raise InputError(f"{path}: not {what}, or a damaged one; {fix}") from None
    if format is not None and (not isinstance(payload, dict) or payload.get("format") != format):
        raise InputError(f"{path}: not {what}; {fix}")
    return payload
