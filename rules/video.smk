# Video: every frame's mask carried from a clip's keyframe masks, the clip painted in segments (one job
# each, in parallel on a cluster), the segments joined into one clip with its timestamps and sound; or
# the clip through the style's fast network, one pass per frame (video.method fast or both).


rule sample_clip:
    output:
        Paths.clip,
    wildcard_constraints:
        clip="|".join(CLIPS),
    log:
        Paths.log("sample_clip", "{clip}"),
    benchmark:
        Paths.benchmark("sample_clip", "{clip}")
    params:
        stylesnake=STYLESNAKE,
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "{params.stylesnake} sample {wildcards.clip} {output} > {log} 2>&1"


rule video_masks:
    input:
        clip=JOBS.clip,
        keyframes=JOBS.keyframes,
    output:
        masks=directory(Paths.video_masks),
        metadata=Paths.sidecar(Paths.video_masks),
    log:
        Paths.log("video_masks", "{clip}"),
    benchmark:
        Paths.benchmark("video_masks", "{clip}")
    params:
        stylesnake=STYLESNAKE,
        args=JOBS.video_masks_args,
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "OMP_NUM_THREADS={threads} {params.stylesnake} video-masks --content {input.clip} --masks {input.keyframes}"
        " --out {output.masks} {params.args} > {log} 2>&1"


rule video_segment:
    input:
        unpack(JOBS.segment_inputs),
    output:
        frames=directory(Paths.segment),
        metadata=Paths.sidecar(Paths.segment),
    log:
        Paths.log("video_segment", "{clip}__{style}/{segment}"),
    benchmark:
        Paths.benchmark("video_segment", "{clip}__{style}/{segment}")
    params:
        stylesnake=STYLESNAKE,
        masks=JOBS.mask_flags,
        args=JOBS.video_args,
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=1,
    shell:
        "OMP_NUM_THREADS={threads} {params.stylesnake} video --content {input.clip} --style {input.style}"
        " {params.masks} --out {output.frames} {params.args} > {log} 2>&1"


rule video_join:
    input:
        clip=JOBS.clip,
        segments=JOBS.segments,
        records=JOBS.segment_records,
    output:
        video=Paths.video,
        metadata=Paths.sidecar(Paths.video),
        poster=Paths.poster,
    log:
        Paths.log("video_join", "{clip}__{style}"),
    benchmark:
        Paths.benchmark("video_join", "{clip}__{style}")
    params:
        stylesnake=STYLESNAKE,
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "{params.stylesnake} video-join {input.segments} --content {input.clip} --out {output.video} > {log} 2>&1"


rule video_fast:
    input:
        unpack(JOBS.fast_video_inputs),
    output:
        video=Paths.fast_video,
        metadata=Paths.sidecar(Paths.fast_video),
        poster=Paths.fast_poster,
    log:
        Paths.log("video_fast", "{clip}__{style}"),
    benchmark:
        Paths.benchmark("video_fast", "{clip}__{style}")
    params:
        stylesnake=STYLESNAKE,
        masks=JOBS.mask_flags,
        args=JOBS.fast_video_args,
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=1,
    shell:
        "OMP_NUM_THREADS={threads} {params.stylesnake} video --model {input.model} --content {input.clip}"
        " {params.masks} --out {output.video} {params.args} > {log} 2>&1"
