# Inputs: the demo's images from scikit-image's samples, and painted masks cleaned into exact label maps
# (a proposed or semantic mask is copied as it is, its names, relations and record kept).


rule sample_image:
    output:
        Paths.image,
    wildcard_constraints:
        name="|".join(SAMPLES),
    log:
        Paths.log("sample_image", "{kind}/{name}"),
    benchmark:
        Paths.benchmark("sample_image", "{kind}/{name}")
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
        JOBS.painted_mask,
    output:
        report(
            Paths.mask,
            category="Masks",
            subcategory="{kind}",
            labels={"image": "{name}", "figure": "cleaned mask"},
            caption="../report/mask.rst",
        ),
    log:
        Paths.log("clean_mask", "{kind}/{name}"),
    benchmark:
        Paths.benchmark("clean_mask", "{kind}/{name}")
    params:
        stylesnake=STYLESNAKE,
        args=JOBS.clean_args,
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "{params.stylesnake} clean-mask {input} {output} {params.args} > {log} 2>&1"


rule propose_mask:
    input:
        JOBS.image,
    output:
        Paths.proposed,
    log:
        Paths.log("propose_mask", "{kind}/{name}"),
    benchmark:
        Paths.benchmark("propose_mask", "{kind}/{name}")
    params:
        stylesnake=STYLESNAKE,
        args=JOBS.propose_args,
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "{params.stylesnake} propose-mask {input} {output} {params.args} > {log} 2>&1"


rule semantic_mask:
    input:
        unpack(JOBS.semantic_inputs),  # the image and the group table: editing either makes the mask again
    output:
        Paths.semantic,
    log:
        Paths.log("semantic_mask", "{kind}/{name}"),
    benchmark:
        Paths.benchmark("semantic_mask", "{kind}/{name}")
    params:
        stylesnake=STYLESNAKE,
        args=JOBS.semantic_args,
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
        runtime=10,
    shell:
        "OMP_NUM_THREADS={threads} {params.stylesnake} propose-mask {input.image} {output} {params.args} > {log} 2>&1"
