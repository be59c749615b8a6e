# karman: flow past a cylinder -> vorticity -> split -> models -> report.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


validate(config, "schemas/config.schema.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/flow.smk"
include: "rules/fields.smk"
include: "rules/split.smk"
include: "rules/train.smk"
include: "rules/duffing.smk"
include: "rules/report.smk"


localrules:
    all,


rule all:
    input:
        "results/report/index.html",
