import json

from karman.vortex.the_well import export_the_well
from karman.workflow import setup_logging

setup_logging(snakemake.log[0])
export_the_well(list(snakemake.input.flows), snakemake.input.samples, snakemake.output[0], dataset_name=snakemake.params.dataset_name,
                license_name=snakemake.params.license, held_out=json.loads(snakemake.params.held_out),
                future_fraction=snakemake.params.future_fraction)
