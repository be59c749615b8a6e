import json

from karman.vortex.simulation import configure_threads, write_flow
from karman.workflow import setup_logging

setup_logging(snakemake.log[0])
configure_threads(snakemake.threads)
write_flow(
    list(snakemake.output),
    reynolds=json.loads(snakemake.params.reynolds),
    flow=json.loads(snakemake.params.flow),
    checkpoint_every=snakemake.resources.checkpoint_steps,  # how often, not what: no effect on the result
)
