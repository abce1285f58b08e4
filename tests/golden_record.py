"""The golden record itself: where it is kept (``tests/golden/``: ``record.json`` and the images'
pixels), and reading and replacing it. What the record keeps of each output, and how closely a new
output must match it, is :mod:`pipeline.golden` (shared with ``benchmarks/bench_golden.py``, which
measured the tolerances).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from pipeline.golden import fingerprint

GOLDEN = Path(__file__).with_name("golden")


def write_record(found: dict[str, Any], out: Path) -> None:
    """Replace the record with ``found`` (the fingerprints of the files in ``out``)."""
    if GOLDEN.exists():
        shutil.rmtree(GOLDEN)
    fingerprint(out, GOLDEN / "pixels")
    (GOLDEN / "record.json").write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")


def read_record() -> dict[str, Any]:
    return json.loads((GOLDEN / "record.json").read_text())
