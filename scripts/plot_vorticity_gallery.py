from karman.vortex.gallery import write_vorticity_gallery
from karman.workflow import setup_logging

setup_logging(snakemake.log[0])
write_vorticity_gallery(snakemake.input[0], snakemake.output[0])
