"""The workflow through SLURM against the same workflow run locally: wall time of each, one after
the other, on the single-node SLURM of pipeline/workflow/local_slurm.py (needs root and Debian's
slurmctld, slurmd, slurm-client and munge; the cluster is started if needed and stopped after,
unless it was running before).

    python benchmarks/bench_slurm.py                 # the tests' small demo: 1 pair, tiny sizes, 11 jobs
    python benchmarks/bench_slurm.py --demo quick    # README's quick demo (9 pairs, 48 jobs)

Both runs use 2 CPUs per job (the rules' threads) on the same machine, so the difference is the
cost of going through SLURM: submission, status polling, and Snakemake starting twice inside
every job (the job, then its srun step).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
from pipeline.workflow.local_slurm import Cluster  # noqa: E402

SMALL = {  # the same as tests/test_slurm.py's
    "weights": "random",
    "demo": {"content": ["coffee"], "style": ["ihc"]},
    "gatys": {"size": 48, "steps": 2},
    "fast": {"enabled": True, "steps": 2, "size": 32, "batch": 1, "width": 0.25, "checkpoint_every": 10},
}
QUICK = {"weights": "random", "preset": "quick"}


def run(folder: Path, config: dict, *args: str) -> float:
    shutil.copytree(ROOT / "masks", folder / "masks", ignore=shutil.ignore_patterns("*.py", "*.md"))
    (folder / "bench.yaml").write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(folder)]
    start = time.perf_counter()
    subprocess.run(
        ["timeout", "-k", "10", "3600", *command, "--configfile", "bench.yaml", "--quiet", *args],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", choices=["small", "quick"], default="small")
    args = parser.parse_args()
    config = SMALL if args.demo == "small" else QUICK
    cluster = Cluster.default()
    was_up = all(cluster.running().values())
    cluster.up()
    try:
        with tempfile.TemporaryDirectory() as local, tempfile.TemporaryDirectory() as slurm:
            local_s = run(Path(local), config, "--cores", "2")
            slurm_s = run(Path(slurm), config, "--profile", str(ROOT / "profiles" / "slurm-local"))
            jobs = len([job for job in cluster.jobs() if job.get("WorkDir") == slurm])
    finally:
        if not was_up:
            cluster.down()
    print(f"{args.demo} demo, 2 CPUs: local {local_s:.1f} s, SLURM {slurm_s:.1f} s wall ({jobs} SLURM jobs)")
    print(f"SLURM overhead: {slurm_s - local_s:.1f} s in all, {(slurm_s - local_s) / max(jobs, 1):.1f} s a job")


if __name__ == "__main__":
    main()
