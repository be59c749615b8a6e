from karman.vortex.plots import write_report_figures_from_files
from karman.workflow import folders_by_name, setup_logging

setup_logging(snakemake.log[0])
write_report_figures_from_files(
    dict(snakemake.output.items()),
    split_summary=snakemake.input.split_summary,
    embedding=snakemake.input.embedding,
    flow_summary=snakemake.input.flow_summary,
    model_dirs=folders_by_name(snakemake.input.models),
)
