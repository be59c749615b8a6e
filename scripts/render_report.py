import json
from pathlib import Path

from karman.duffing.report import FIGURES as DUFFING_FIGURES
from karman.duffing.report import section as duffing_section
from karman.report import render_report
from karman.vortex.report import FIGURES as VORTEX_FIGURES
from karman.vortex.report import FORECAST_FIGURES, comparison_folders
from karman.vortex.report import section as vortex_section
from karman.workflow import folders_by_name, setup_logging

setup_logging(snakemake.log[0])
inputs, params = snakemake.input, snakemake.params
sections = {}
if "vortex_gallery" in inputs.keys():  # the vortex street is among `systems`
    sections["vortex"] = vortex_section(
        figures={name: inputs[f"vortex_{name}"] for name in (*VORTEX_FIGURES, *FORECAST_FIGURES) if f"vortex_{name}" in inputs.keys()},
        split_summary=inputs.vortex_split_summary,
        flow_summary=inputs.vortex_flow_summary,
        validation=next(iter(inputs.vortex_validation), None),  # none when flow.validate is off
        model_dirs=folders_by_name(inputs.vortex_models),
        comparison_dirs=comparison_folders(inputs.vortex_comparison),
        forecast_dirs=folders_by_name(inputs.vortex_forecasts),
    )
if "duffing_examples" in inputs.keys():  # the Duffing oscillator is among `systems`
    sections["duffing"] = duffing_section(
        figures={name: inputs[f"duffing_{name}"] for name in DUFFING_FIGURES},
        model_dirs=folders_by_name(inputs.duffing_models),
        split_summaries={path.rsplit("/", 1)[-1].removesuffix(".json"): path for path in inputs.duffing_splits},
        settings=json.loads(params.duffing_settings),
    )
render_report(snakemake.output[0], sections=sections, config=json.loads(params.config), backend=params.backend,
              benchmarks=list(inputs.benchmarks), workflow_dir=Path(snakemake.scriptdir).parent)  # its git commit
