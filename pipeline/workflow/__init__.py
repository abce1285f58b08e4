"""The Snakemake workflow's decisions, testable without Snakemake: which images and masks exist,
which content × style pairs run (and which guided), each job's files and command-line arguments.

- :mod:`~pipeline.workflow.plan`: the :class:`Plan` of one run, from the folders and the config;
- :mod:`~pipeline.workflow.jobs`: :class:`Paths` (every output path, spelt once), the jobs'
  arguments, and :class:`Jobs` (the rules' input and parameter functions).

Conventions (README, "Workflow"): content images in ``images/content/``, style images in
``images/style/``, hand-painted masks beside them by stem in ``masks/content/`` and
``masks/style/``; the demo's images are written from scikit-image's samples by a rule.

Kept free of torch and scikit-learn on purpose: the Snakefile imports it on every run, and a
run with nothing to do should take a few seconds at most.
"""

from pipeline.workflow.jobs import (
    Jobs,
    clean_args,
    cli_args,
    colours_arg,
    failed_job_errors,
    fast_data,
    fast_guided,
    fast_masks,
    fast_pairs,
    fast_results,
    finished_note,
    targets_args,
    train_args,
    transfer_args,
)
from pipeline.workflow.paths import Paths
from pipeline.workflow.plan import (
    GUIDE_KEYS,
    KINDS,
    NAME,
    SEPARATOR,
    TARGET_KEYS,
    Plan,
    exactly,
    fast_settings,
    painted_labels,
    plan,
    style_settings,
)
from pipeline.workflow.schema import SCHEMA, check_config
from pipeline.workflow.videos import fast_pairs as fast_video_pairs
from pipeline.workflow.videos import optimised_pairs

__all__ = [
    "GUIDE_KEYS",
    "KINDS",
    "NAME",
    "SCHEMA",
    "SEPARATOR",
    "TARGET_KEYS",
    "Jobs",
    "Paths",
    "Plan",
    "check_config",
    "clean_args",
    "cli_args",
    "colours_arg",
    "exactly",
    "failed_job_errors",
    "fast_data",
    "fast_guided",
    "fast_masks",
    "fast_pairs",
    "fast_results",
    "fast_settings",
    "fast_video_pairs",
    "finished_note",
    "optimised_pairs",
    "painted_labels",
    "plan",
    "style_settings",
    "targets_args",
    "train_args",
    "transfer_args",
]
