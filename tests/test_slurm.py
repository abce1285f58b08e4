"""The workflow on a real (single-node) SLURM through snakemake-executor-plugin-slurm and
profiles/slurm-local: every rule runs as a SLURM job, GPU rules alone hold the GPU, the outputs
equal a local run's, a failed job is retried, and a cancelled job leaves nothing taken as done.

The cluster (pipeline/workflow/local_slurm.py) needs root and Debian's slurmctld, slurmd,
slurm-client and munge; without them these tests skip, unless STYLESNAKE_REQUIRE_SLURM=1 (.ci/run
sets it after installing the packages), where they fail instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
from pipeline.workflow.local_slurm import Cluster, Unavailable  # noqa: E402

from support.workflow import Run, snakemake, snakemake_command  # noqa: E402

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

PROFILE = str(ROOT / "profiles" / "slurm-local")
# The quick demo cut to one pair at tiny sizes: every rule runs once (sample_image and clean_mask
# twice), with the repository's hand-painted masks for coffee and ihc; and the demo clip in two
# segments region by region (its keyframe mask carried by video_masks, two video_segment jobs, then
# video_join) and through the fast network (video_fast): 17 jobs.
SMALL = {
    "weights": "random",
    "demo": {"content": ["coffee"], "style": ["ihc"], "videos": ["astronaut_pan"]},
    "gatys": {"size": 48, "steps": 2},
    "fast": {"enabled": True, "steps": 2, "size": 32, "batch": 1, "width": 0.25, "checkpoint_every": 10},
    "video": {
        "styles": {"astronaut_pan": ["ihc"]},
        "size": 48,
        "steps": 1,
        "segment": 10,
        "overlap": 2,
        "method": "both",
    },
}
GPU_RULES = {"transfer", "fast_train", "video_segment", "video_fast"}
# A whole run must end in this (support.workflow bounds it with `timeout -k`).
RUN_TIMEOUT = 480
#: Every run bounded by it; the tests judge its exit status themselves.
BOUNDED = {"timeout": RUN_TIMEOUT, "check": False}
# Run-dependent fields of our metadata: the only bytes that may differ between two runs.
VOLATILE = {"seconds", "images_per_second", "timings_s", "peak_memory_mb"}


def _unavailable(reason: str) -> None:
    if os.environ.get("STYLESNAKE_REQUIRE_SLURM") == "1":
        pytest.fail(f"STYLESNAKE_REQUIRE_SLURM=1 but the local SLURM cannot run: {reason}")
    pytest.skip(f"no local SLURM: {reason}")


@pytest.fixture(scope="module")
def cluster():
    """A single-node SLURM for this module's tests, torn down (jobs cancelled, daemons stopped by
    their PID files) whatever the tests did."""
    cluster = Cluster.default()
    try:
        cluster.up()
    except Unavailable as error:
        _unavailable(str(error))
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        cluster.down()
        _unavailable(f"the daemons did not start: {error}")
    try:
        yield cluster
    finally:
        cluster.down()


def _project(folder: Path, config: dict | None = None) -> Path:
    for kind, name in (("content", "coffee"), ("style", "ihc")):
        (folder / "masks" / kind).mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "masks" / kind / f"{name}.png", folder / "masks" / kind / f"{name}.png")
    shutil.copytree(ROOT / "masks" / "video", folder / "masks" / "video", dirs_exist_ok=True)  # the clip's keyframe
    (folder / "small.yaml").write_text(yaml.safe_dump(config or SMALL))
    return folder


def _text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _slurm_jobs(cluster: Cluster, folder: Path) -> list[dict[str, str]]:
    """Finished SLURM jobs that ran in ``folder``, from the job-completion file, oldest first."""
    return [job for job in cluster.jobs() if job.get("WorkDir") == str(folder)]


def _job_details(folder: Path) -> dict[str, dict[str, str]]:
    """JobId → scontrol's record (Comment names the rule, TresPerJob the GPUs) of the jobs that ran
    in ``folder``; the cluster keeps finished jobs for MinJobAge = 300 s, so ask right after a run."""
    out = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True, timeout=30, check=True)
    jobs = [dict(re.findall(r"(\w+)=(\S*)", line)) for line in out.stdout.splitlines() if line.startswith("JobId=")]
    return {job["JobId"]: job for job in jobs if job.get("WorkDir") == str(folder)}


def _slurm_logs(folder: Path) -> Counter:
    """Jobs per rule, from the SLURM log of each job (.snakemake/slurm_logs/rule_<rule>/.../<jobid>.log)."""
    logs = folder / ".snakemake" / "slurm_logs"
    return Counter(path.relative_to(logs).parts[0].removeprefix("rule_") for path in logs.rglob("*.log"))


@pytest.fixture(scope="module")
def runs(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Run, dict[str, dict[str, str]]]:
    """The small demo run locally and through SLURM, side by side to save the tests a minute (the
    SLURM run's jobs spend much of their time waiting; benchmarks/bench_slurm.py times them apart)."""
    local = _project(tmp_path_factory.mktemp("local"))
    with (local / "snakemake.out").open("w") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            snakemake_command(local, "--configfile", "small.yaml", "--cores", "2", timeout=RUN_TIMEOUT),
            cwd=local,
            stdout=out,
            stderr=out,
        )
        try:
            slurm_project = _project(tmp_path_factory.mktemp("slurm"))
            slurm = snakemake(slurm_project, "--configfile", "small.yaml", "--profile", PROFILE, **BOUNDED)
            details = _job_details(slurm.folder)
            proc.wait(timeout=RUN_TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    local_run = Run(local, proc.returncode, (local / "snakemake.out").read_text(), time.perf_counter() - start)
    assert local_run.returncode == 0, local_run.output[-3000:]
    assert slurm.returncode == 0, slurm.output[-3000:] + "\n" + cluster.log_tails()
    return local_run, slurm, details


@pytest.fixture(scope="module")
def local_run(runs) -> Run:
    return runs[0]


@pytest.fixture(scope="module")
def slurm_run(runs) -> tuple[Run, dict[str, dict[str, str]]]:
    return runs[1], runs[2]


def test_every_rule_ran_as_a_slurm_job(cluster: Cluster, local_run: Run, slurm_run) -> None:
    run, details = slurm_run
    local_jobs = Counter(re.findall(r"^(?:local)?rule (\w+):$", local_run.output, re.MULTILINE))
    del local_jobs["all"]
    assert set(local_jobs) == {
        *("sample_image", "clean_mask", "instant", "style_targets", "transfer", "figures", "contact_sheet"),
        *("fast_train", "fast_stylize", "fast_export"),
        *("sample_clip", "video_masks", "video_segment", "video_join", "video_fast"),
    }
    assert local_jobs["video_segment"] == 2  # the clip's 16 frames in segments of 10
    # Nothing ran on the submitting machine but the target rule `all`, which has no command.
    assert re.findall(r"^localrule (\w+):$", run.output, re.MULTILINE) == ["all"]
    assert _slurm_logs(run.folder) == local_jobs
    finished = _slurm_jobs(cluster, run.folder)
    assert len(finished) == sum(local_jobs.values())
    assert all(job["JobState"] == "COMPLETED" and job["ExitCode"] == "0:0" for job in finished), finished
    rules = Counter(re.match(r"rule_([a-z_]+?)(_wildcards_|$)", job["Comment"]).group(1) for job in details.values())
    assert rules == local_jobs


def test_gpu_rules_alone_hold_the_gpu(slurm_run) -> None:
    _, details = slurm_run
    for job in details.values():
        rule = re.match(r"rule_([a-z_]+?)(_wildcards_|$)", job["Comment"]).group(1)
        assert ("gpu:1" in job.get("TresPerJob", "")) == (rule in GPU_RULES), (rule, job.get("TresPerJob"))


def _comparable(path: Path):
    """What must be equal in two runs' copies of an output file: its bytes, but for our metadata
    (JSON sidecars, the info inside .pth and .onnx files) everything except timings and memory."""

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in VOLATILE}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    if path.name.endswith(".json"):
        return strip(json.loads(path.read_text()))
    if path.suffix == ".pth":
        import torch

        def plain(key, value):
            if isinstance(value, torch.Tensor):
                return value.dtype, tuple(value.shape), value.numpy().tobytes()
            if isinstance(value, dict):
                return {k: plain(k, v) for k, v in value.items()}
            return strip(json.loads(value)) if key == "info" else value

        return plain(None, torch.load(path, map_location="cpu", weights_only=False))
    if path.suffix == ".onnx":
        import onnx

        model = onnx.load(str(path))
        meta = {p.key: p.value for p in model.metadata_props}
        meta["stylesnake_info"] = strip(json.loads(meta["stylesnake_info"]))
        return model.graph.SerializeToString(), meta
    return path.read_bytes()


def test_slurm_outputs_equal_the_local_runs(local_run: Run, slurm_run) -> None:
    run, _ = slurm_run

    def outputs(folder: Path) -> list[str]:
        files = [*(folder / "results").rglob("*"), *(folder / "images").rglob("*")]
        return sorted(str(f.relative_to(folder)) for f in files if f.is_file() and "benchmarks" not in f.parts)

    names = outputs(local_run.folder)
    assert names == outputs(run.folder)
    assert "results/gatys/coffee__ihc.png" in names and "results/fast/ihc.onnx" in names
    assert "results/video/astronaut_pan__ihc.mp4" in names
    for name in names:
        assert _comparable(run.folder / name) == _comparable(local_run.folder / name), name


def test_a_job_that_fails_once_is_retried(cluster: Cluster, local_run: Run, tmp_path: Path) -> None:
    run = snakemake(tmp_path, "--profile", PROFILE, snakefile=ROOT / "tests" / "cluster" / "flaky.smk", **BOUNDED)
    assert run.returncode == 0, run.output[-3000:]
    jobs = _slurm_jobs(cluster, tmp_path)
    assert [job["JobState"] for job in jobs] == ["FAILED", "COMPLETED"], jobs
    assert jobs[0]["ExitCode"] != "0:0" and jobs[1]["ExitCode"] == "0:0"
    assert "flaky: failing on purpose" in "".join(p.read_text() for p in tmp_path.rglob("slurm_logs/**/*.log"))
    assert (tmp_path / "flaky" / "ihc.png").read_bytes() == (local_run.folder / "images/style/ihc.png").read_bytes()


def test_a_cancelled_job_leaves_no_output_and_a_rerun_finishes(cluster: Cluster, slurm_run, tmp_path: Path) -> None:
    run, _ = slurm_run
    folder = tmp_path / "project"
    shutil.copytree(run.folder, folder, symlinks=True)
    shutil.rmtree(folder / ".snakemake" / "slurm_logs")
    # More evaluations: only the transfer reruns, long enough to be cancelled mid-optimisation.
    longer = {**SMALL, "gatys": {**SMALL["gatys"], "steps": 100}}
    (folder / "small.yaml").write_text(yaml.safe_dump(longer))
    result = folder / "results" / "gatys" / "coffee__ihc.png"
    args = ("--configfile", "small.yaml", "--profile", PROFILE, "--retries", "0", str(result.relative_to(folder)))
    with (tmp_path / "snakemake.out").open("w") as out:  # a file, not a pipe nobody reads while we wait
        proc = subprocess.Popen(
            snakemake_command(folder, *args, timeout=RUN_TIMEOUT), cwd=folder, stdout=out, stderr=subprocess.STDOUT
        )
    log = folder / "logs" / "transfer" / "coffee__ihc.log"
    job = None
    try:
        deadline = time.monotonic() + RUN_TIMEOUT / 2
        # Every tenth of the evaluations logs a line: cancel after the first, well inside the run.
        while time.monotonic() < deadline and not re.search(r"transfer \d+/100", _text(log)):
            assert proc.poll() is None, (tmp_path / "snakemake.out").read_text()[-3000:]
            time.sleep(0.2)
        running = subprocess.run(
            ["squeue", "-h", "-t", "R", "-o", "%i %Z %k"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.split("\n")
        job = next((line.split()[0] for line in running if f" {folder} rule_transfer_" in line), None)
        assert job, f"no running transfer job to cancel; the transfer's log: {_text(log)}"
        assert not result.exists()
        subprocess.run(["scancel", job], timeout=30, check=True)
        proc.wait(timeout=RUN_TIMEOUT / 2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0, (tmp_path / "snakemake.out").read_text()[-3000:]
    assert [j["JobState"] for j in _slurm_jobs(cluster, folder) if j["JobId"] == job] == ["CANCELLED"]
    assert not result.exists() and not result.with_name(result.name + ".json").exists()
    assert list((folder / "results").rglob(".*.tmp")) == []
    dry = snakemake(
        folder, str(result.relative_to(folder)), "--configfile", "small.yaml", "-n", "--quiet", "rules", **BOUNDED
    )
    assert re.search(r"^transfer\s+1$", dry.output, re.MULTILINE), dry.output[-2000:]

    rerun = snakemake(folder, *args, **BOUNDED)
    assert rerun.returncode == 0, rerun.output[-3000:]
    assert json.loads(result.with_name(result.name + ".json").read_text())["parameters"]["steps"] == 100
