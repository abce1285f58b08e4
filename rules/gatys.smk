# Gatys et al.: each style's targets computed once, then one transfer per content × style pair.


rule style_targets:
    input:
        style=JOBS.style_image,
        style_mask=JOBS.style_mask,
    output:
        targets=Paths.targets,
        metadata=Paths.sidecar(Paths.targets),
    log:
        Paths.log("style_targets", "{style}"),
    benchmark:
        Paths.benchmark("style_targets", "{style}")
    params:
        stylesnake=STYLESNAKE,
        mask=JOBS.mask_flags,
        args=JOBS.targets_args,
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
        unpack(JOBS.transfer_inputs),
    output:
        image=report(
            Paths.result,
            category="{style}",
            subcategory="Results",
            labels={"content": "{content}", "style": "{style}", "figure": "result"},
            caption="../report/transfer.rst",
        ),
        metadata=Paths.sidecar(Paths.result),
    log:
        Paths.log("transfer", "{content}__{style}"),
    benchmark:
        Paths.benchmark("transfer", "{content}__{style}")
    params:
        stylesnake=STYLESNAKE,
        masks=JOBS.mask_flags,
        args=JOBS.transfer_args,
        recorded=JOBS.recorded_output,  # the report's caption: the settings the result's sidecar records
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
