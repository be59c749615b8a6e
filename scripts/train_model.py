import json

from karman.train import train_model
from karman.workflow import setup_logging

setup_logging(snakemake.log[0])
train_model(
    snakemake.input.fields,
    snakemake.input.assignment,
    snakemake.params.model_dir,
    spec=json.loads(snakemake.params.spec),
    backend=snakemake.params.get("backend", "tensorflow"),
    gpu=snakemake.params.get("gpu", False),
    shuffle_mb=snakemake.params.get("shuffle_mb", 256),
    threads=snakemake.threads,
)
