import importlib
import json
from pathlib import Path

from karman.report import render_report
from karman.systems import selected
from karman.workflow import setup_logging

setup_logging(snakemake.log[0])
inputs, params = snakemake.input, snakemake.params
config, settings = json.loads(params.config), json.loads(params.settings)
# One section per system that `systems` runs, in its order, from the inputs its rules file names.
sections = {system.name: importlib.import_module(system.report).job_section(inputs, settings.get(system.name))
            for system in selected(config)}
render_report(snakemake.output[0], sections=sections, config=config, backend=params.backend,
              benchmarks=list(inputs.benchmarks), workflow_dir=Path(snakemake.scriptdir).parent)  # its git commit
