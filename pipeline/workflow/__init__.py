"""The Snakemake workflow's decisions, testable without Snakemake: which images and masks exist,
which content × style pairs run (and which guided), each job's files and command-line arguments.

- :mod:`~pipeline.workflow.paths`: :class:`Paths` (every output path, spelt once) and the names
  an image may have;
- :mod:`~pipeline.workflow.videos`: the run's clips, their frames, keyframe masks and segments;
- :mod:`~pipeline.workflow.planning`: the :class:`Plan` of one run, from the folders and the config;
- :mod:`~pipeline.workflow.arguments`: each job's command-line arguments, from the plan;
- :mod:`~pipeline.workflow.jobs`: :class:`~pipeline.workflow.jobs.Jobs` (the rules' input and parameter functions) and
  what the end of a run says.

Conventions (docs/guides/workflow.md): content images in ``images/content/``, style images in
``images/style/``, hand-painted masks beside them by stem in ``masks/content/`` and
``masks/style/``; the demo's images are written from scikit-image's samples by a rule.

Kept free of torch and scikit-learn on purpose: the Snakefile imports it on every run, and a
run with nothing to do should take a few seconds at most.
"""

from typing import TYPE_CHECKING

from pipeline.lazy import lazy_names

if TYPE_CHECKING:  # the names below, for type checkers; at run time they load on first use
    from pipeline.workflow.arguments import (
        clean_args,
        cli_args,
        colours_arg,
        fast_data,
        fast_guided,
        fast_masks,
        fast_pairs,
        fast_results,
        fast_video_pairs,
        gatys_pairs,
        instant_args,
        instant_results,
        optimised_pairs,
        targets_args,
        train_args,
        transfer_args,
    )
    from pipeline.workflow.jobs import Jobs, failed_job_errors, finished_note
    from pipeline.workflow.paths import NAME, SEPARATOR, Paths
    from pipeline.workflow.planning import (
        GUIDE_KEYS,
        KINDS,
        TARGET_KEYS,
        Plan,
        exactly,
        fast_settings,
        painted_labels,
        plan,
        style_settings,
    )
    from pipeline.workflow.schema import SCHEMA, check_config

#: Each public name and the module that holds it, imported on first use (PEP 562), so that a
#: caller needing one light piece (the serve verb's :class:`Paths`) does not load the planner.
_PUBLIC = {
    "GUIDE_KEYS": "planning",
    "Jobs": "jobs",
    "KINDS": "planning",
    "NAME": "paths",
    "Paths": "paths",
    "Plan": "planning",
    "SCHEMA": "schema",
    "SEPARATOR": "paths",
    "TARGET_KEYS": "planning",
    "check_config": "schema",
    "clean_args": "arguments",
    "cli_args": "arguments",
    "colours_arg": "arguments",
    "exactly": "planning",
    "failed_job_errors": "jobs",
    "fast_data": "arguments",
    "fast_guided": "arguments",
    "fast_masks": "arguments",
    "fast_pairs": "arguments",
    "fast_results": "arguments",
    "fast_settings": "planning",
    "fast_video_pairs": "arguments",
    "finished_note": "jobs",
    "gatys_pairs": "arguments",
    "instant_args": "arguments",
    "instant_results": "arguments",
    "optimised_pairs": "arguments",
    "painted_labels": "planning",
    "plan": "planning",
    "style_settings": "planning",
    "targets_args": "arguments",
    "train_args": "arguments",
    "transfer_args": "arguments",
}

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
    "gatys_pairs",
    "instant_args",
    "instant_results",
    "optimised_pairs",
    "painted_labels",
    "plan",
    "style_settings",
    "targets_args",
    "train_args",
    "transfer_args",
]


__getattr__, __dir__ = lazy_names(__name__, {name: f"{__name__}.{module}" for name, module in _PUBLIC.items()})
