import json

from karman.report import render_report
from karman.workflow import setup_logging

setup_logging(snakemake.log[0])
render_report(
    snakemake.output[0],
    gallery_png=snakemake.input.gallery,
    split_summary=snakemake.input.split_summary,
    model_dirs=json.loads(snakemake.params.model_dirs),
    config=json.loads(snakemake.params.config),
    comparison_dirs=json.loads(snakemake.params.comparison_dirs),
)
