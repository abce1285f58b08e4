# Fast style (Johnson 2016): a network per style, then one forward pass per photo, and an ONNX export.


rule fast_train:
    input:
        unpack(JOBS.fast_train_masks),
        style=JOBS.style_image,
        data=wf.fast_data(PLAN) if FAST else [],
    output:
        model=Paths.model,
        metadata=Paths.sidecar(Paths.model),
        curve=report(
            Paths.model_curve,
            category="{style}",
            subcategory="Fast style",
            labels={"style": "{style}", "figure": "training loss"},
            caption="../report/fast_train.rst",
        ),
    log:
        Paths.log("fast_train", "{style}"),
    benchmark:
        Paths.benchmark("fast_train", "{style}")
    params:
        stylesnake=STYLESNAKE,
        args=JOBS.train_args,
        style_mask=JOBS.style_mask_flag,
        recorded=JOBS.recorded_output,  # the report's caption: the settings the model's sidecar records
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
        unpack(JOBS.fast_content_mask),
        content=JOBS.content_image,
        model=Paths.model,
    output:
        image=report(
            Paths.stylized,
            category="{style}",
            subcategory="Fast style",
            labels={"content": "{content}", "style": "{style}", "figure": "fast style"},
            caption="../report/fast_stylize.rst",
        ),
        metadata=Paths.sidecar(Paths.stylized),
    log:
        Paths.log("fast_stylize", "{content}__{style}"),
    benchmark:
        Paths.benchmark("fast_stylize", "{content}__{style}")
    params:
        stylesnake=STYLESNAKE,
        size=JOBS.fast_size,
        mask=JOBS.mask_flag,
        recorded=JOBS.recorded_output,  # the report's caption: the settings the result's sidecar records
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
        Paths.model,
    output:
        Paths.onnx,
    log:
        Paths.log("fast_export", "{style}"),
    benchmark:
        Paths.benchmark("fast_export", "{style}")
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
