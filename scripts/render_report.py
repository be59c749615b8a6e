import json

from karman.report import DUFFING_FIGURES, FIGURES, render_report
from karman.workflow import setup_logging

setup_logging(snakemake.log[0])
inputs = snakemake.input
karman = {}
if "gallery" in inputs.keys():  # the vortex street is among `systems`
    karman = dict(
        figures={name: inputs[name] for name in FIGURES},
        split_summary=inputs.split_summary,
        flow_summary=inputs.flow_summary,
        validation=next(iter(inputs.validation), None),  # none when flow.validate is off
        model_dirs=json.loads(snakemake.params.model_dirs),
        comparison_dirs=json.loads(snakemake.params.comparison_dirs),
    )
duffing = None
if "duffing_examples" in inputs.keys():  # the Duffing oscillator is among `systems`
    duffing = dict(
        figures={name: inputs[f"duffing_{name}"] for name in DUFFING_FIGURES},
        model_dirs=json.loads(snakemake.params.duffing_model_dirs),
        split_summaries={path.rsplit("/", 1)[-1].removesuffix(".json"): path for path in inputs.duffing_splits},
        settings=json.loads(snakemake.params.duffing),
    )
render_report(snakemake.output[0], **karman, duffing=duffing, config=json.loads(snakemake.params.config),
              workflow_dir=snakemake.params.workflow_dir)
