# Stylesnake workflow. Every rule is a thin shell over the `stylesnake` command (pipeline/cli.py),
# which is itself a thin shell over the `pipeline` package.
import os
import sys

from pipeline.samples import SAMPLES

# Beside the Snakefile, so `--directory` can put the outputs elsewhere.
configfile: os.path.join(workflow.basedir, "config.yaml")

# The interpreter running Snakemake has the package installed; jobs use the same one.
STYLESNAKE = f"{sys.executable} -m pipeline"


def gatys_params():
    params = dict(config["gatys"])
    if config.get("preset"):
        params.update(config["presets"][config["preset"]])
    return params


def gatys_args(wildcards):
    return " ".join(f"--{key.replace('_', '-')} {value}" for key, value in gatys_params().items())


rule all:
    input:
        expand("results/gatys/{content}__{style}.png", content=config["content"], style=config["style"]),


rule sample_image:
    output:
        "images/{kind}/{name}.png",
    wildcard_constraints:
        kind="content|style",
        name="|".join(SAMPLES),
    log:
        "logs/sample_image/{kind}/{name}.log",
    params:
        stylesnake=STYLESNAKE,
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "{params.stylesnake} sample {wildcards.name} {output} > {log} 2>&1"


rule gatys_transfer:
    input:
        content="images/content/{content}.png",
        style="images/style/{style}.png",
    output:
        image="results/gatys/{content}__{style}.png",
        metadata="results/gatys/{content}__{style}.png.json",
    params:
        stylesnake=STYLESNAKE,
        args=gatys_args,
        weights=config["weights"],
    log:
        "logs/gatys_transfer/{content}__{style}.log",
    benchmark:
        "results/benchmarks/gatys_transfer/{content}__{style}.tsv"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=120,
    shell:
        "OMP_NUM_THREADS={threads} {params.stylesnake} transfer --content {input.content} --style {input.style}"
        " --out {output.image} --weights {params.weights} {params.args} > {log} 2>&1"
