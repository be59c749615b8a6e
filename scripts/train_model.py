import json
import os

from karman.train import train_model
from karman.workflow import setup_logging

setup_logging(snakemake.log[0])
# The baseline rules have no Keras settings: pass only what the rule declares (defaults live in karman.train).
keras_settings = {name: snakemake.params[name] for name in ("backend", "gpu", "shuffle_mb") if name in snakemake.params.keys()}
# The model's folder: the rule's directory() output, or the folder of its files.
outputs = snakemake.output
model_dir = os.path.dirname(outputs.metrics) if "metrics" in outputs.keys() else outputs[0]
train_model(
    snakemake.input.samples,
    snakemake.input.assignment,
    model_dir,
    spec=json.loads(snakemake.params.spec),
    threads=snakemake.threads,
    **keras_settings,
)
