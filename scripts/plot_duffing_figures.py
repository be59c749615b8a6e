from karman.duffing.plots import write_duffing_figures
from karman.workflow import folders_by_name, setup_logging

setup_logging(snakemake.log[0])
write_duffing_figures(dict(snakemake.output.items()), model_dirs=folders_by_name(snakemake.input.models))
