# Test-only workflow (tests/test_slurm.py): one job that fails on its first attempt and succeeds on
# the next, to show that the profile's `retries` resubmit a failed SLURM job. The first attempt
# leaves a marker on the shared filesystem; the retry, a new SLURM job, finds it and writes a real
# demo image with `stylesnake sample`. Production rules carry no fault hooks.
import sys


rule all:
    input:
        "flaky/ihc.png",


rule flaky:
    output:
        "flaky/ihc.png",
    params:
        marker="flaky/failed-once",
        stylesnake=f"{sys.executable} -m pipeline",
    shell:
        "if [ ! -e {params.marker} ]; then touch {params.marker}; echo 'flaky: failing on purpose' >&2; exit 3; fi\n"
        "{params.stylesnake} sample ihc {output}"
