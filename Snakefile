# The study as a Snakemake workflow: `snakemake --cores all` runs everything on the
# dataset named in params.yaml. The rules are rendered from src/dupstudy/pipeline.py,
# the same description dvc.yaml is generated from.

from snakemake.utils import min_version

min_version("9.0")


# No `configfile:` here: common.smk reads params.yaml with the project's own loader.
include: "workflow/rules/common.smk"
include: "workflow/rules/stages.smk"


rule all:
    default_target: True
    input:
        "reports/index.html",
        "results/metrics.json",


# One run per working tree: refuse to start while a `dvc repro` or another Snakemake run holds
# .dupstudy.lock; this run's jobs share its lock (src/dupstudy/runlock.py). Real runs only.
onstart:
    from dupstudy import runlock

    runlock.hold_for_run(command="snakemake")


onsuccess:
    from dupstudy.summary import one_line

    print(one_line())
