"""Each workflow job's files and command-line arguments, from its wildcards.

:class:`Paths` is the one place an output path is spelt: the rules, the jobs' arguments and the
tests read it. :class:`Jobs` turns a :class:`~pipeline.workflow.planning.Plan` into the input and
parameter functions the rules call with a job's wildcards (one-line answers, tested without
Snakemake). Also what the report's captions and the end of a run say (from the outputs' records
and Snakemake's log).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pipeline.workflow import arguments
from pipeline.workflow.paths import Paths
from pipeline.workflow.planning import Plan


def recorded_settings(sidecar: str | Path) -> str:
    """The settings an output was made with, as flags, from its sidecar (``""`` before it exists):
    the report's captions, which must describe the file, not the config of the run that reports."""
    try:
        record = json.loads(Path(sidecar).read_text())
    except (OSError, ValueError):
        return ""
    options = dict(record.get("parameters") or record.get("training") or {})
    options["weights"] = (record.get("weights") or {}).get("kind")
    switches = [f"--{key.replace('_', '-')}" for key, value in options.items() if value is True]
    flags = arguments.cli_args({key: value for key, value in options.items() if not isinstance(value, bool)})
    return " ".join(filter(None, [flags, *switches]))


# --- what the workflow says when it ends ---------------------------------------------------------------


def finished_note(config: Mapping[str, Any], configfiles: Iterable[str | Path], sheet_exists: bool) -> str:
    """Where to look after a run, and the settings a later run must repeat: ``--config`` and
    ``--configfile`` hold for one run only, and a run without them sees config.yaml's other
    settings, so Snakemake would redo every job ("Params have changed")."""
    note = f"stylesnake: finished; every result is on {Paths.sheet}" if sheet_exists else "stylesnake: finished"
    again = [f"--configfile {shlex.quote(str(path))}" for path in configfiles]
    settings = [f"{key}={value if isinstance(value, str) else json.dumps(value)}" for key, value in config.items()]
    again += [f"--config {' '.join(shlex.quote(setting) for setting in settings)}"] if settings else []
    if again:
        note += f". Rerun (after adding images, say) with the same {' '.join(again)}, or every job is redone"
    return note


#: A failed job in Snakemake's log: "    log: logs/transfer/a__b.log (check log file(s) for error details)".
_FAILED_LOG = re.compile(r"^\s*log: (.+?) \(check log file\(s\) for error details\)$", re.MULTILINE)


def failed_job_errors(snakemake_logs: str | Path | Iterable[str | Path]) -> list[str]:
    """Our one-line errors from the logs of the jobs that failed, as Snakemake's log (or logs, as
    ``onerror`` gets them) names them: said again at the very end, below Snakemake's own report."""
    logs = [snakemake_logs] if isinstance(snakemake_logs, (str, Path)) else list(snakemake_logs)
    failed: dict[str, None] = {}
    for log in logs:
        try:
            text = Path(log).read_text(errors="replace")
        except OSError:
            continue
        for paths in _FAILED_LOG.findall(text):
            failed.update(dict.fromkeys(paths.split(", ")))
    errors: list[str] = []
    for path in failed:
        try:
            lines = Path(path).read_text(errors="replace").splitlines()
        except OSError:
            continue
        errors += [f"{path}: {line}" for line in lines if line.startswith("stylesnake: error:")]
    return errors


# --- the rules' input and parameter functions ------------------------------------------------------


class Jobs:
    """The input and parameter functions of the rules, for one :class:`Plan`; each takes a job's
    wildcards (and, for flags, its input)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    def painted_mask(self, w: Any) -> str | None:
        """The mask a cleaned mask comes from: painted, or proposed (then made by propose_mask)."""
        return self.plan.mask(w.kind, w.name)

    def image(self, w: Any) -> str:
        return self.plan.image(w.kind, w.name)

    def clean_args(self, w: Any) -> str:
        return arguments.clean_args(self.plan, w.kind, w.name)

    def semantic_inputs(self, w: Any) -> dict[str, str]:
        """The image and the group table: editing the table (ours or ``semantic.groups``) makes the
        masks again, as a new image does (the model and fold share are in :meth:`semantic_args`)."""
        return {"image": self.plan.image(w.kind, w.name), "groups": self.plan.group_table()}

    def semantic_args(self, w: Any) -> str:
        """``--semantic MODEL``, the group table and fold share (``min_share``; unset: the parser's
        2 %); a picture the parser did not see is proposed from colours instead (a painted mask,
        then the semantic mask, then the colour proposal)."""
        settings = self.plan.semantic
        keys = {"semantic": "model", "groups": "groups", "min_share": "min_share"}
        return arguments.cli_args({flag: settings.get(key) for flag, key in keys.items()}) + " --colours-if-unseen"

    def propose_args(self, w: Any) -> str:
        return arguments.cli_args({"k": self.plan.proposal_k, "min_area": self.plan.cleaning.get("min_area")})

    def content_image(self, w: Any) -> str:
        return self.plan.image("content", w.content)

    def style_image(self, w: Any) -> str:
        return self.plan.image("style", w.style)

    def style_mask(self, w: Any) -> list[str]:
        """A style's cleaned mask, whenever one is painted: its targets then hold guided Grams."""
        return [Paths.mask.format(kind="style", name=w.style)] if self.plan.mask("style", w.style) else []

    def pair_masks(self, w: Any) -> dict[str, str]:
        """Both cleaned masks for a guided pair, none otherwise."""
        if (w.content, w.style) not in self.plan.guided:
            return {}
        return {
            "content_mask": Paths.mask.format(kind="content", name=w.content),
            "style_mask": Paths.mask.format(kind="style", name=w.style),
        }

    def transfer_inputs(self, w: Any) -> dict[str, str]:
        """The content, the style's shared targets (or, when the pair cannot share them, the style
        image and, for a guided pair, its mask), and the content's mask for a guided pair."""
        inputs = {"content": self.content_image(w), **self.pair_masks(w)}
        init = str(self.plan.pair_settings(w.content, w.style).get("init", ""))
        if init.startswith("image:"):  # a pair starting from an image of one's own reruns when it changes
            inputs["init"] = init.removeprefix("image:")
        if self.plan.uses_targets(w.content, w.style):
            inputs.pop("style_mask", None)
            inputs["style"] = Paths.targets.format(style=w.style)
        else:
            inputs["style"] = self.style_image(w)
        return inputs

    def fast_train_masks(self, w: Any) -> dict[str, Any]:
        """A guided network's masks: the style's cleaned mask and the training images' masks."""
        if not arguments.fast_guided(self.plan, w.style):
            return {}
        return {"style_mask": Paths.mask.format(kind="style", name=w.style), "masks": arguments.fast_masks(self.plan)}

    def fast_content_mask(self, w: Any) -> dict[str, str]:
        """The content's cleaned mask, for a style whose network is guided."""
        if not arguments.fast_guided(self.plan, w.style):
            return {}
        return {"mask": Paths.mask.format(kind="content", name=w.content)}

    def fast_size(self, w: Any) -> int:
        """Fast results at the size of the Gatys results, to compare them side by side."""
        return int(self.plan.settings[w.style]["size"])

    def targets_args(self, w: Any) -> str:
        return arguments.targets_args(self.plan, w.style)

    def transfer_args(self, w: Any) -> str:
        return arguments.transfer_args(self.plan, w.content, w.style)

    def instant_args(self, w: Any) -> str:
        return arguments.instant_args(self.plan, w.content, w.style)

    def train_args(self, w: Any) -> str:
        return arguments.train_args(self.plan, w.style)

    # Functions of a job's files: Snakemake evaluates them again for --report (when the sidecar is
    # there) and, as they derive from files, never reruns a job because their value changed.
    @staticmethod
    def recorded_output(w: Any, output: Any) -> str:
        return recorded_settings(output.metadata)

    @staticmethod
    def recorded_input(w: Any, input: Any) -> str:
        return recorded_settings(input.metadata)

    @staticmethod
    def mask_flags(w: Any, input: Any) -> str:
        given = {key: getattr(input, key, None) for key in ("content_mask", "style_mask")}
        return " ".join(f"--{key.replace('_', '-')} {path}" for key, path in given.items() if path)

    @staticmethod
    def style_mask_flag(w: Any, input: Any) -> str:
        return f"--style-mask {input.style_mask}" if hasattr(input, "style_mask") else ""

    # --- clips ---------------------------------------------------------------------------------------

    def clip(self, w: Any) -> str:
        return self.plan.clips.paths[w.clip]

    def keyframes(self, w: Any) -> str:
        return self.plan.clips.keyframes[w.clip]

    def segment_inputs(self, w: Any) -> dict[str, str]:
        """A segment's clip, the style's shared targets (or its image, and mask when guided), and
        every frame's carried mask when guided."""
        inputs = {"clip": self.clip(w)}
        guided = arguments.video_guided(self.plan, w.clip, w.style)
        if guided:
            inputs["content_mask"] = Paths.video_masks.format(clip=w.clip)
        if arguments.video_uses_targets(self.plan, w.style):
            inputs["style"] = Paths.targets.format(style=w.style)
        else:
            inputs["style"] = self.style_image(w)
            if guided:
                inputs["style_mask"] = Paths.mask.format(kind="style", name=w.style)
        return inputs

    def segments(self, w: Any) -> list[str]:
        return [
            Paths.segment.format(clip=w.clip, style=w.style, segment=s)
            for s in arguments.segment_names(self.plan, w.clip)
        ]

    def segment_records(self, w: Any) -> list[str]:
        return [Paths.sidecar(path) for path in self.segments(w)]

    def video_args(self, w: Any) -> str:
        return arguments.video_args(self.plan, w.clip, w.style, w.segment)

    def fast_video_inputs(self, w: Any) -> dict[str, str]:
        """The clip, the style's fast network, and every frame's carried mask for a guided network."""
        inputs = {"clip": self.clip(w), "model": Paths.model.format(style=w.style)}
        if arguments.fast_guided(self.plan, w.style):
            inputs["content_mask"] = Paths.video_masks.format(clip=w.clip)
        return inputs

    def fast_video_args(self, w: Any) -> str:
        return arguments.fast_video_args(self.plan, w.clip, w.style)

    def video_masks_args(self, w: Any) -> str:
        return arguments.video_masks_args(self.plan, w.clip)

    @staticmethod
    def mask_flag(w: Any, input: Any) -> str:
        return f"--mask {input.mask}" if hasattr(input, "mask") else ""
