import json

from karman.vortex.plots import write_report_figures_from_files
from karman.workflow import setup_logging

setup_logging(snakemake.log[0])
write_report_figures_from_files(
    dict(snakemake.output.items()),
    split_summary=snakemake.input.split_summary,
    embedding=snakemake.input.embedding,
    flow_summary=snakemake.input.flow_summary,
    model_dirs=json.loads(snakemake.params.model_dirs),
)
