import json

from karman.split import write_split
from karman.workflow import setup_logging

setup_logging(snakemake.log[0])
write_split(snakemake.input.samples, snakemake.output.assignment, snakemake.output.summary, settings=json.loads(snakemake.params.split))
