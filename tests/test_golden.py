"""Refactors keep results as they were: every verb runs on tiny inputs through the CLI, and what it
writes is compared with the golden record in tests/golden/ (tests/golden_record.py; what is kept
and how closely it must match is pipeline/golden.py: within what another CPU's floating point moves,
and no looser than the smallest real change of results, which the last test shows the record still
catches).

When an output is meant to change, regenerate the record and say why in the commit:

    STYLESNAKE_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pipeline.cli import main
from pipeline.golden import differences, fingerprint, make_outputs

import golden_record as record


def _cli(*argv: Any) -> None:
    assert main(["-q", *map(str, argv)]) == 0, argv


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = make_outputs(tmp_path_factory.mktemp("golden"), _cli)
    return out, fingerprint(out)


@pytest.mark.slow  # every verb run once (the `made` fixture): 5-7 s
def test_outputs_match_the_golden_record(made: tuple[Path, dict[str, Any]]) -> None:
    out, found = made
    if os.environ.get("STYLESNAKE_UPDATE_GOLDEN"):
        record.write_record(found, out)
    failing = differences(record.read_record(), found, record.GOLDEN / "pixels", out)
    assert not failing, f"outputs differ from tests/golden/: {failing}"


@pytest.mark.slow  # `made`, as above
def test_the_record_covers_every_verb(made: tuple[Path, dict[str, Any]]) -> None:
    _, found = made
    for expected in ("plain.png", "guided.png", "targets.pt", "mixed.png", "model.pth", "fast.png", "fast_guided.png"):
        assert expected in found and f"{expected}.json" in found, expected
    assert {"mask_k.png", "guided.panel.png", "guided.loss.svg", "index.html"} <= set(found)
    assert found["mask_k.png"]["kind"] == "exact"  # an integer label map: compared exactly
    # The painting's saved targets give the very result the painting itself gives.
    assert found["guided.png"]["sha256"] == found["from_targets.png"]["sha256"]


@pytest.mark.parametrize(
    ("output", "flags"),
    [
        ("plain.png", ["--style-weight", "1.1e6"]),
        ("plain.png", ["--steps", "5"]),
        ("targets.pt", ["--style-size", "44"]),
        ("model.pth", ["--steps", "3"]),
    ],
    ids=["style weight x1.1", "one more evaluation", "targets at another size", "one more training step"],
)
def test_a_real_change_of_results_still_fails_the_record(output: str, flags: Sequence[str], tmp_path: Path) -> None:
    out = make_outputs(tmp_path, _cli, edit=(output, flags))
    found = fingerprint(out)
    golden = {name: entry for name, entry in record.read_record().items() if name in found}
    failing = differences(golden, found, record.GOLDEN / "pixels", out)
    assert output in failing, failing  # the result itself, not only the settings its record states
