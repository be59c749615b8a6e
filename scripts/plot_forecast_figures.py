import json

from karman.forecast.plots import write_forecast_figures
from karman.workflow import setup_logging

setup_logging(snakemake.log[0])
write_forecast_figures(
    dict(snakemake.output.items()),
    errors=list(snakemake.input.errors),
    rollouts=json.loads(snakemake.params.rollouts),
    samples_path=snakemake.input.samples,
)
