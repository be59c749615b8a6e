# karman: physical systems -> ML-ready stores -> split -> models -> report.
# Systems: each registered one (karman.systems) brings its rules files; `systems` picks those run.
from pathlib import Path

from snakemake.utils import min_version

from karman.cluster import cancel_orphaned_jobs, report_time_limits
from karman.settings import checked_config
from karman.systems import registered

min_version("9.0")


configfile: "config.yaml"


# The config checked whole (schema, defaults, each system's checks) before any job: a bad
# value stops here on one screen, naming the key, the value and what is allowed.
checked_config(config, Path(workflow.basedir) / "schemas/config.schema.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/train.smk"


# Every registered system's rules (whether `systems` runs it or not: its targets follow
# `systems`), then the report's, which reads them.
for rules_file in [path for system in registered().values() for path in system.rules]:

    include: rules_file


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
        RUN_TARGETS,
