# What people look at: a side-by-side panel and a loss curve per result, and one contact sheet of
# every result (fast style's too).


rule figures:
    input:
        unpack(JOBS.pair_masks),
        result=Paths.result,
        metadata=Paths.sidecar(Paths.result),
        content=JOBS.content_image,
        style=JOBS.style_image,
    output:
        panel=report(
            Paths.panel,
            category="{style}",
            subcategory="Side by side",
            labels={"content": "{content}", "style": "{style}", "figure": "panel"},
            caption="../report/panel.rst",
        ),
        curve=report(
            Paths.curve,
            category="{style}",
            subcategory="Loss curves",
            labels={"content": "{content}", "style": "{style}", "figure": "loss curve"},
            caption="../report/loss.rst",
        ),
        curve_png=Paths.curve_png,
    log:
        Paths.log("figures", "{content}__{style}"),
    benchmark:
        Paths.benchmark("figures", "{content}__{style}")
    params:
        stylesnake=STYLESNAKE,
        masks=JOBS.mask_flags,
        recorded=JOBS.recorded_input,  # unused by the command; the report's captions, from the sidecar
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "{params.stylesnake} figures {input.result} --content {input.content} --style {input.style} {params.masks}"
        " --panel {output.panel} --loss-curve {output.curve} --loss-curve-png {output.curve_png} > {log} 2>&1"


rule contact_sheet:
    input:
        instant=wf.instant_results(PLAN),
        results=expand(Paths.result, zip, **PAIRS),
        panels=expand(Paths.panel, zip, **PAIRS),
        fast=wf.fast_results(PLAN),
        videos=expand(Paths.video, zip, **VIDEOS),
        posters=expand(Paths.poster, zip, **VIDEOS),
        fast_videos=expand(Paths.fast_video, zip, **FAST_VIDEOS),
        fast_posters=expand(Paths.fast_poster, zip, **FAST_VIDEOS),
    output:
        report(Paths.sheet, category="Contact sheet", caption="../report/contact_sheet.rst"),
    log:
        Paths.log("contact_sheet"),
    benchmark:
        Paths.benchmark("contact_sheet")
    params:
        stylesnake=STYLESNAKE,
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "{params.stylesnake} contact-sheet {output} {input.instant} {input.results} {input.fast} {input.videos}"
        " {input.fast_videos}"
        " > {log} 2>&1"


# What the end of a run says: where the results are, and (after a failure) each failed job's one line.
onsuccess:
    settings = workflow.config_settings
    logger.info(wf.finished_note(settings.config, settings.configfiles, os.path.exists(Paths.sheet)))


onerror:
    # Snakemake reports each failure at length; our one line (and its fix) comes last, where it is seen.
    for line in wf.failed_job_errors(log):
        logger.error(line)
