import json

from karman.report import FIGURES, render_report
from karman.workflow import setup_logging

setup_logging(snakemake.log[0])
render_report(
    snakemake.output[0],
    figures={name: snakemake.input[name] for name in FIGURES},
    split_summary=snakemake.input.split_summary,
    flow_summary=snakemake.input.flow_summary,
    validation=next(iter(snakemake.input.validation), None),  # none when flow.validate is off
    model_dirs=json.loads(snakemake.params.model_dirs),
    comparison_dirs=json.loads(snakemake.params.comparison_dirs),
    config=json.loads(snakemake.params.config),
    workflow_dir=snakemake.params.workflow_dir,
)
