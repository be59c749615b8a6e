from karman.vortex.physics import summarise_flow
from karman.workflow import setup_logging

setup_logging(snakemake.log[0])
summarise_flow(list(snakemake.input), snakemake.output[0])
