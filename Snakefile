# karman: physical systems -> ML-ready stores -> split -> models -> report.
# Systems: the vortex street (rules/vortex.smk) and the Duffing oscillator (rules/duffing.smk).
from pathlib import Path

from snakemake.utils import min_version

from karman.cluster import cancel_orphaned_jobs, report_time_limits
from karman.settings import checked_config

min_version("9.0")


configfile: "config.yaml"


# The config checked whole (schema, defaults, each system's checks) before any job: a bad
# value stops here on one screen, naming the key, the value and what is allowed.
checked_config(config, Path(workflow.basedir) / "schemas/config.schema.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/vortex.smk"
include: "rules/forecast.smk"
include: "rules/export.smk"
include: "rules/duffing.smk"
include: "rules/report.smk"


# Before the first job of a real run (not -n): cancel a killed run's SLURM jobs. (What a
# killed job left half-written, the job that writes that output next removes: karman.atomic.)
onstart:
    cancel_orphaned_jobs(Path.cwd(), locked=workflow.execution_settings.lock)


# A failed run: name each job that ran past its SLURM time limit, and the runtime to raise.
onerror:
    report_time_limits(log)


localrules:
    all,


rule all:
    input:
        "results/report/index.html",
        EXPORTS,
