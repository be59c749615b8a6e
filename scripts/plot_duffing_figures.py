import json

from karman.duffing.plots import write_duffing_figures
from karman.workflow import setup_logging

setup_logging(snakemake.log[0])
write_duffing_figures(dict(snakemake.output.items()), model_dirs=json.loads(snakemake.params.model_dirs))
