# karman: physical systems -> ML-ready stores -> split -> models -> report.
# Systems: the vortex street (rules/vortex.smk) and the Duffing oscillator (rules/duffing.smk).
from snakemake.utils import min_version, validate

from karman.config import check_system_names

min_version("9.0")


configfile: "config.yaml"


check_system_names(config)
validate(config, "schemas/config.schema.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/vortex.smk"
include: "rules/duffing.smk"
include: "rules/report.smk"


localrules:
    all,


rule all:
    input:
        "results/report/index.html",
