import json

from karman.vortex.fields import write_vorticity
from karman.workflow import setup_logging

setup_logging(snakemake.log[0])
fields = json.loads(snakemake.params.fields)
write_vorticity(
    list(snakemake.input),
    snakemake.output[0],
    crop=fields["crop"],
    downsample=fields["downsample"],
    sample_chunk=fields["sample_chunk"],
    operator=fields["operator"],
    threads=snakemake.threads,
)
