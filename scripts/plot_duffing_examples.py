from karman.duffing.plots import write_duffing_examples
from karman.workflow import setup_logging

setup_logging(snakemake.log[0])
write_duffing_examples(snakemake.input.curves, snakemake.input.images, snakemake.output[0])
