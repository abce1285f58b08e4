# Stylesnake workflow: painted masks → label maps → instant previews → style targets → transfers → figures →
# contact sheet,
# fast style: a network per style → one forward pass per content image → ONNX export, and video: keyframe
# masks carried through each clip → the clip painted in segment jobs → the segments joined.
# A table of contents: the rules live in rules/*.smk, each a thin shell over one `stylesnake` verb; the
# decisions (inputs, pairs, paths, each job's arguments) in pipeline/workflow, tested without Snakemake.
import os
import sys
from snakemake.exceptions import WorkflowError
from snakemake.settings.types import DeploymentMethod
from snakemake.utils import min_version, validate

from pipeline import workflow as wf
from pipeline.errors import InputError, read_yaml
from pipeline.samples import CLIPS, SAMPLES
from pipeline.workflow import Paths

min_version("8.0")
# Jobs' errors then name `--config weights=...`, not `--weights`; set here, so no job's command changes.
os.environ.update(STYLESNAKE_WORKFLOW="1")


# Beside the Snakefile, so `--directory` can put inputs and outputs elsewhere. Read once before
# Snakemake does: a mistake in it is then one line with its place (Snakemake's says only "not valid").
try:
    read_yaml(os.path.join(workflow.basedir, "config.yaml"), fix="correct it there (git diff shows what changed)")
except InputError as error:
    raise WorkflowError(f"stylesnake: {error}") from None


configfile: os.path.join(workflow.basedir, "config.yaml")


try:
    wf.check_config(config, os.path.join(workflow.basedir, wf.SCHEMA))  # a mistake in one line, not 500
    validate(config, os.path.join(workflow.basedir, wf.SCHEMA))  # fills in the schema's defaults
    PLAN = wf.plan(config)
except InputError as error:
    raise WorkflowError(f"stylesnake: {error}") from None
for reason in PLAN.skipped:
    logger.info(f"stylesnake: skipping {reason}")
JOBS = wf.Jobs(PLAN)
PAIRS = {"content": [c for c, _ in wf.gatys_pairs(PLAN)], "style": [s for _, s in wf.gatys_pairs(PLAN)]}
VIDEOS = {"clip": [c for c, _ in wf.optimised_pairs(PLAN)], "style": [s for _, s in wf.optimised_pairs(PLAN)]}
FAST_VIDEOS = {"clip": [c for c, _ in wf.fast_video_pairs(PLAN)], "style": [s for _, s in wf.fast_video_pairs(PLAN)]}
FAST = PLAN.fast.get("enabled", False)
# Jobs run the package with Snakemake's own interpreter, or under --sdm conda with the env's Python.
CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
STYLESNAKE = f"PYTHONPATH={workflow.basedir} python -m pipeline" if CONDA else f"{sys.executable} -m pipeline"
ENV = "../envs/stylesnake.yaml"


wildcard_constraints:
    kind="content|style",
    name=wf.NAME.pattern,
    content=wf.exactly(PLAN.images["content"]),
    style=wf.exactly(PLAN.images["style"]),
    clip=wf.exactly(PLAN.clips.paths),
    segment=r"\d{3}",


rule all:
    input:
        wf.instant_results(PLAN),
        expand(Paths.result, zip, **PAIRS),
        Paths.sheet,
        wf.fast_results(PLAN),
        expand(Paths.onnx, style=PLAN.images["style"]) if FAST else [],
        expand(Paths.video, zip, **VIDEOS),
        expand(Paths.fast_video, zip, **FAST_VIDEOS),


include: "rules/masks.smk"
include: "rules/instant.smk"
include: "rules/gatys.smk"
include: "rules/report.smk"
include: "rules/fast.smk"
include: "rules/video.smk"

