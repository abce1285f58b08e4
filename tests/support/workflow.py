"""Snakemake as the workflow's tests run it (tests/test_workflow.py on a tiny project,
tests/test_slurm.py through SLURM): ``python -m snakemake`` on the repository's Snakefile (or
another) in a project folder of the test's own, with the test's config written beside it."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SNAKEFILE = ROOT / "Snakefile"
#: Where a test's ``config`` is written, in the project folder (and passed with ``--configfile``).
CONFIG = "tiny.yaml"


@dataclass
class Run:
    folder: Path
    returncode: int
    output: str  # stdout, then stderr
    seconds: float


def snakemake_command(
    folder: Path, *args: str, snakefile: Path = SNAKEFILE, config: dict | None = None, timeout: float | None = None
) -> list[str]:
    """The command that runs Snakemake on ``folder`` with ``args``. ``config``, when given, is
    written to ``folder``/:data:`CONFIG` and passed with ``--configfile`` (before ``args``);
    ``timeout`` (s) bounds the run with ``timeout -k``, as Snakemake ignores a lone SIGTERM."""
    if config is not None:
        (folder / CONFIG).write_text(yaml.safe_dump(config))
    bounded = ["timeout", "-k", "10", f"{timeout:g}"] if timeout is not None else []
    configfile = ["--configfile", CONFIG] if config is not None else []
    return [*bounded, sys.executable, "-m", "snakemake", "-s", str(snakefile), "--directory", str(folder),
            *configfile, *args]  # fmt: skip


def snakemake(
    folder: Path,
    *args: str,
    snakefile: Path = SNAKEFILE,
    config: dict | None = None,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> Run:
    """Run Snakemake (see :func:`snakemake_command`) in ``folder`` to its end; with ``check``, it
    must succeed (the assertion shows the end of its output)."""
    command = snakemake_command(folder, *args, snakefile=snakefile, config=config, timeout=timeout)
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=folder, capture_output=True, text=True, env=env, check=False)
    run = Run(folder, proc.returncode, proc.stdout + proc.stderr, time.perf_counter() - start)
    if check:
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return run
