from karman.vortex.simulation import configure_threads
from karman.vortex.validation import write_validation
from karman.workflow import setup_logging

setup_logging(snakemake.log[0])
configure_threads(snakemake.threads)
write_validation(snakemake.output[0], backend=snakemake.params.backend)
