import json
from pathlib import Path

from karman.train import train_model
from karman.workflow import setup_logging

setup_logging(snakemake.log[0])
train_model(
    snakemake.input.fields,
    snakemake.input.assignment,
    Path(snakemake.output.metrics).parent,
    spec=json.loads(snakemake.params.spec),
    backend=snakemake.params.backend,
    threads=snakemake.threads,
)
