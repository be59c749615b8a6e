import json

from karman.vortex.download import write_downloaded_flow
from karman.workflow import setup_logging

setup_logging(snakemake.log[0])
write_downloaded_flow(
    snakemake.output[0],
    reynolds=snakemake.params.reynolds,
    url=snakemake.params.url,
    sha256=snakemake.params.sha256,
    size=snakemake.params.size,
    settings=json.loads(snakemake.params.settings),
    deadline=60 * snakemake.resources.runtime,
    max_bytes=int(snakemake.resources.disk_mb * 1e6),
    bounds_hint="To allow more, raise the job's resources: --set-resources download_flow:runtime=MINUTES download_flow:disk_mb=MB",
)
