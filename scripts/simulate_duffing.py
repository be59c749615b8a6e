import json

from karman.duffing.samples import write_samples
from karman.workflow import setup_logging

setup_logging(snakemake.log[0])
write_samples(snakemake.output[0], kind=snakemake.params.kind, settings=json.loads(snakemake.params.settings), threads=snakemake.threads)
