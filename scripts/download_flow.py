import json

from karman.vortex.download import write_downloaded_flow
from karman.workflow import setup_logging

setup_logging(snakemake.log[0])
write_downloaded_flow(
    snakemake.output[0],
    reynolds=snakemake.params.reynolds,
    url=snakemake.params.url,
    sha256=snakemake.params.sha256,
    settings=json.loads(snakemake.params.settings),
)
