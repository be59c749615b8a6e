from karman.vortex.embedding import embed_training_snapshots
from karman.workflow import setup_logging

setup_logging(snakemake.log[0])
embed_training_snapshots(snakemake.input.samples, snakemake.input.assignment, snakemake.output[0])
