# Stylesnake workflow: painted masks → label maps → style targets → transfers → figures → contact sheet,
# and fast style: a network per style → one forward pass per content image → ONNX export.
# Every rule is a thin shell over one `stylesnake` verb (pipeline/cli.py); the decisions (which
# inputs exist, which pairs run and which are guided, each job's arguments) live in
# pipeline/workflow.py, tested without Snakemake. Conventions and config: README.md, config.yaml.
import os
import sys

from snakemake.exceptions import WorkflowError
from snakemake.settings.types import DeploymentMethod
from snakemake.utils import min_version, validate

from pipeline import workflow as wf
from pipeline.errors import InputError
from pipeline.samples import SAMPLES

min_version("8.0")


# Beside the Snakefile, so `--directory` can put inputs and outputs elsewhere.
configfile: os.path.join(workflow.basedir, "config.yaml")


validate(config, os.path.join(workflow.basedir, "schemas", "config.schema.yaml"))
try:
    PLAN = wf.plan(config)
except InputError as error:
    raise WorkflowError(f"stylesnake: {error}") from None
for reason in PLAN.skipped:
    logger.info(f"stylesnake: skipping {reason}")

# Jobs run the package with the interpreter running Snakemake (it has the package installed), or,
# under --sdm conda, with the environment's Python and the package from the workflow's folder.
if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
    STYLESNAKE = f"PYTHONPATH={workflow.basedir} python -m pipeline"
else:
    STYLESNAKE = f"{sys.executable} -m pipeline"
ENV = "envs/stylesnake.yaml"
RESULT = "results/gatys/{content}__{style}.png"
METADATA = "results/gatys/{content}__{style}.png.json"
PAIRS = {"content": [c for c, _ in PLAN.pairs], "style": [s for _, s in PLAN.pairs]}
FAST = PLAN.fast.get("enabled", False)


wildcard_constraints:
    kind="content|style",
    name=wf.NAME.pattern,
    content=wf.exactly(PLAN.images["content"]),
    style=wf.exactly(PLAN.images["style"]),


# --- input and parameter functions: one-line shims over pipeline.workflow ---------------------


def painted_mask(wildcards):
    return PLAN.mask(wildcards.kind, wildcards.name)


def content_image(wildcards):
    return PLAN.image("content", wildcards.content)


def style_image(wildcards):
    return PLAN.image("style", wildcards.style)


def style_mask(wildcards):
    """A style's cleaned mask, whenever one is painted: its targets then hold guided Grams."""
    return [f"results/masks/style/{wildcards.style}.png"] if PLAN.mask("style", wildcards.style) else []


def pair_masks(wildcards):
    """Both cleaned masks for a guided pair, none otherwise."""
    if (wildcards.content, wildcards.style) not in PLAN.guided:
        return {}
    return {
        "content_mask": f"results/masks/content/{wildcards.content}.png",
        "style_mask": f"results/masks/style/{wildcards.style}.png",
    }


def mask_flags(wildcards, input):
    given = {key: getattr(input, key, None) for key in ("content_mask", "style_mask")}
    return " ".join(f"--{key.replace('_', '-')} {path}" for key, path in given.items() if path)


def transfer_inputs(wildcards):
    """The content, the style's shared targets (or, when the pair cannot share them, the style
    image and, for a guided pair, its mask), and the content's mask for a guided pair."""
    inputs = {"content": content_image(wildcards), **pair_masks(wildcards)}
    if PLAN.uses_targets(wildcards.content, wildcards.style):
        inputs.pop("style_mask", None)
        inputs["style"] = f"results/targets/{wildcards.style}.pt"
    else:
        inputs["style"] = style_image(wildcards)
    return inputs


def fast_size(wildcards):
    """Fast results at the size of the Gatys results, to compare them side by side."""
    return PLAN.settings[wildcards.style]["size"]


def train_args(wildcards):
    return wf.train_args(PLAN, wildcards.style)


def fast_train_masks(wildcards):
    """A guided network's masks: the style's cleaned mask and the training images' masks."""
    if not wf.fast_guided(PLAN, wildcards.style):
        return {}
    return {"style_mask": f"results/masks/style/{wildcards.style}.png", "masks": wf.fast_masks(PLAN)}


def fast_content_mask(wildcards):
    """The content's cleaned mask, for a style whose network is guided."""
    return {"mask": f"results/masks/content/{wildcards.content}.png"} if wf.fast_guided(PLAN, wildcards.style) else {}


def fast_mask_flag(wildcards, input):
    return f"--mask {input.mask}" if hasattr(input, "mask") else ""


def style_mask_flag(wildcards, input):
    return f"--style-mask {input.style_mask}" if hasattr(input, "style_mask") else ""


def targets_args(wildcards):
    return wf.targets_args(PLAN, wildcards.style)


def transfer_args(wildcards):
    return wf.transfer_args(PLAN, wildcards.content, wildcards.style)


# --- rules -------------------------------------------------------------------------------------


rule all:
    input:
        expand(RESULT, zip, **PAIRS),
        "results/index.html",
        [f"results/fast/{c}__{s}.png" for c, s in wf.fast_pairs(PLAN)] if FAST else [],
        expand("results/fast/{style}.onnx", style=PLAN.images["style"]) if FAST else [],


rule sample_image:
    output:
        "images/{kind}/{name}.png",
    wildcard_constraints:
        name="|".join(SAMPLES),
    log:
        "logs/sample_image/{kind}/{name}.log",
    benchmark:
        "results/benchmarks/sample_image/{kind}/{name}.tsv"
    params:
        stylesnake=STYLESNAKE,
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "{params.stylesnake} sample {wildcards.name} {output} > {log} 2>&1"


rule clean_mask:
    input:
        painted_mask,
    output:
        report(
            "results/masks/{kind}/{name}.png",
            category="Masks",
            subcategory="{kind}",
            labels={"image": "{name}", "figure": "cleaned mask"},
            caption="report/mask.rst",
        ),
    log:
        "logs/clean_mask/{kind}/{name}.log",
    benchmark:
        "results/benchmarks/clean_mask/{kind}/{name}.tsv"
    params:
        stylesnake=STYLESNAKE,
        args=wf.clean_args(PLAN),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "{params.stylesnake} clean-mask {input} {output} {params.args} > {log} 2>&1"


rule style_targets:
    input:
        style=style_image,
        style_mask=style_mask,
    output:
        targets="results/targets/{style}.pt",
        metadata="results/targets/{style}.pt.json",
    log:
        "logs/style_targets/{style}.log",
    benchmark:
        "results/benchmarks/style_targets/{style}.tsv"
    params:
        stylesnake=STYLESNAKE,
        mask=mask_flags,
        args=targets_args,
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "OMP_NUM_THREADS={threads} {params.stylesnake} style-targets --style {input.style} {params.mask}"
        " --out {output.targets} {params.args} > {log} 2>&1"


rule transfer:
    input:
        unpack(transfer_inputs),
    output:
        image=report(
            RESULT,
            category="{style}",
            subcategory="Results",
            labels={"content": "{content}", "style": "{style}", "figure": "result"},
            caption="report/transfer.rst",
        ),
        metadata=METADATA,
    log:
        "logs/transfer/{content}__{style}.log",
    benchmark:
        "results/benchmarks/transfer/{content}__{style}.tsv"
    params:
        stylesnake=STYLESNAKE,
        masks=mask_flags,
        args=transfer_args,
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=1,
    shell:
        "OMP_NUM_THREADS={threads} {params.stylesnake} transfer --content {input.content} --style {input.style}"
        " {params.masks} --out {output.image} {params.args} > {log} 2>&1"


rule figures:
    input:
        unpack(pair_masks),
        result=RESULT,
        metadata=METADATA,
        content=content_image,
        style=style_image,
    output:
        panel=report(
            "results/gatys/{content}__{style}.panel.png",
            category="{style}",
            subcategory="Side by side",
            labels={"content": "{content}", "style": "{style}", "figure": "panel"},
            caption="report/panel.rst",
        ),
        curve=report(
            "results/gatys/{content}__{style}.loss.svg",
            category="{style}",
            subcategory="Loss curves",
            labels={"content": "{content}", "style": "{style}", "figure": "loss curve"},
            caption="report/loss.rst",
        ),
    log:
        "logs/figures/{content}__{style}.log",
    benchmark:
        "results/benchmarks/figures/{content}__{style}.tsv"
    params:
        stylesnake=STYLESNAKE,
        masks=mask_flags,
        args=transfer_args,  # unused by the command; shown in the report's caption
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "{params.stylesnake} figures {input.result} --content {input.content} --style {input.style} {params.masks}"
        " --panel {output.panel} --loss-curve {output.curve} > {log} 2>&1"


rule contact_sheet:
    input:
        results=expand(RESULT, zip, **PAIRS),
        panels=expand("results/gatys/{content}__{style}.panel.png", zip, **PAIRS),
    output:
        report("results/index.html", category="Contact sheet", caption="report/contact_sheet.rst"),
    log:
        "logs/contact_sheet.log",
    benchmark:
        "results/benchmarks/contact_sheet.tsv"
    params:
        stylesnake=STYLESNAKE,
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "{params.stylesnake} contact-sheet {output} {input.results} > {log} 2>&1"


# --- fast style (Johnson 2016): a network per style, then one forward pass per photo ------------


rule fast_train:
    input:
        unpack(fast_train_masks),
        style=style_image,
        data=wf.fast_data(PLAN) if FAST else [],
    output:
        model="results/fast/{style}.pth",
        metadata="results/fast/{style}.pth.json",
        curve=report(
            "results/fast/{style}.loss.svg",
            category="{style}",
            subcategory="Fast style",
            labels={"style": "{style}", "figure": "training loss"},
            caption="report/fast_train.rst",
        ),
    log:
        "logs/fast_train/{style}.log",
    benchmark:
        "results/benchmarks/fast_train/{style}.tsv"
    params:
        stylesnake=STYLESNAKE,
        args=train_args,
        style_mask=style_mask_flag,
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=8000,
        runtime=720,
        gpu=1,
    shell:
        "OMP_NUM_THREADS={threads} {params.stylesnake} train --style {input.style} --data {input.data}"
        " --out {output.model} {params.style_mask} {params.args} > {log} 2>&1"


rule fast_stylize:
    input:
        unpack(fast_content_mask),
        content=content_image,
        model="results/fast/{style}.pth",
    output:
        image=report(
            "results/fast/{content}__{style}.png",
            category="{style}",
            subcategory="Fast style",
            labels={"content": "{content}", "style": "{style}", "figure": "fast style"},
            caption="report/fast_stylize.rst",
        ),
        metadata="results/fast/{content}__{style}.png.json",
    log:
        "logs/fast_stylize/{content}__{style}.log",
    benchmark:
        "results/benchmarks/fast_stylize/{content}__{style}.tsv"
    params:
        stylesnake=STYLESNAKE,
        size=fast_size,
        mask=fast_mask_flag,
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
        runtime=10,
    shell:
        "OMP_NUM_THREADS={threads} {params.stylesnake} stylize --model {input.model} --content {input.content}"
        " --out {output.image} --size {params.size} {params.mask} > {log} 2>&1"


rule fast_export:
    input:
        "results/fast/{style}.pth",
    output:
        "results/fast/{style}.onnx",
    log:
        "logs/fast_export/{style}.log",
    benchmark:
        "results/benchmarks/fast_export/{style}.tsv"
    params:
        stylesnake=STYLESNAKE,
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "{params.stylesnake} export {input} --onnx {output} > {log} 2>&1"
