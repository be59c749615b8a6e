import json

from karman.split import write_random_split
from karman.workflow import setup_logging

setup_logging(snakemake.log[0])
write_random_split(snakemake.input[0], snakemake.output.assignment, snakemake.output.summary, settings=json.loads(snakemake.params.split))
