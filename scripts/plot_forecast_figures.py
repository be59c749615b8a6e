from karman.forecast.plots import write_forecast_figures
from karman.workflow import by_folder_name, setup_logging

setup_logging(snakemake.log[0])
write_forecast_figures(
    dict(snakemake.output.items()),
    errors=list(snakemake.input.errors),
    rollouts=by_folder_name(snakemake.input.rollouts),
    samples_path=snakemake.input.samples,
)
