"""The Snakefile: it lints, its DAG is what config.yaml asks for, and a tiny run produces every output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.samples import SAMPLES, sample_image

ROOT = Path(__file__).resolve().parents[1]


def _snakemake(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(cwd), *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd)


def test_every_sample_is_bundled() -> None:
    from skimage import data

    for name, loader in SAMPLES.items():
        assert hasattr(data, loader), name
    assert sample_image("ihc").mode == "RGB"
    assert sample_image("brick").mode == "RGB"  # grey samples become RGB


def test_dry_run_plans_one_transfer_per_pair(tmp_path: Path) -> None:
    proc = _snakemake("-n", "--quiet", "rules", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    pairs = len(config["content"]) * len(config["style"])
    assert f"gatys_transfer        {pairs}" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_tiny_workflow_run(tmp_path: Path) -> None:
    config = {
        "weights": "random",
        "content": ["coffee"],
        "style": ["ihc"],
        "gatys": {"size": 32, "steps": 2, "seed": 0},
    }
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    proc = _snakemake("--cores", "2", "--configfile", "tiny.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = tmp_path / "results" / "gatys" / "coffee__ihc.png"
    assert result.exists()
    metadata = json.loads(result.with_name(result.name + ".json").read_text())
    assert metadata["weights"]["kind"] == "random"
    assert metadata["parameters"]["size"] == 32
    assert (tmp_path / "logs" / "gatys_transfer" / "coffee__ihc.log").exists()
    assert (tmp_path / "results" / "benchmarks" / "gatys_transfer" / "coffee__ihc.tsv").exists()
