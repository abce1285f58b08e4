# Instant style (Ghiasi et al. 2017, Magenta's pretrained networks): every pair in one pass, region by
# region when guided. Seconds per pair, so they run first: a preview of every pair before the slow results.


rule instant:
    input:
        unpack(JOBS.pair_masks),
        content=JOBS.content_image,
        style=JOBS.style_image,
    output:
        image=report(
            Paths.instant,
            category="{style}",
            subcategory="Instant style",
            labels={"content": "{content}", "style": "{style}", "figure": "instant style"},
            caption="../report/instant.rst",
        ),
        metadata=Paths.sidecar(Paths.instant),
    log:
        Paths.log("instant", "{content}__{style}"),
    benchmark:
        Paths.benchmark("instant", "{content}__{style}")
    params:
        stylesnake=STYLESNAKE,
        masks=JOBS.mask_flags,
        args=JOBS.instant_args,
    priority: 10
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=2000,
        runtime=5,
    shell:
        "OMP_NUM_THREADS={threads} {params.stylesnake} stylize --style {input.style} --content {input.content}"
        " {params.masks} --out {output.image} {params.args} > {log} 2>&1"
