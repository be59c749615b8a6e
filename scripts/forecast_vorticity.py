import json

from karman.forecast.stage import run_forecast
from karman.workflow import setup_logging

setup_logging(snakemake.log[0])
run_forecast(
    snakemake.input.samples,
    snakemake.output.rollout,
    snakemake.output.metrics,
    snakemake.output.errors,
    snakemake.output.timings,
    name=snakemake.wildcards.forecaster,
    spec=json.loads(snakemake.params.spec),
    task=json.loads(snakemake.params.task),
    held_out=json.loads(snakemake.params.held_out),
    probe=json.loads(snakemake.params.probe),
    backend=snakemake.params.backend,
    gpu=snakemake.params.gpu,
    threads=snakemake.threads,
)
