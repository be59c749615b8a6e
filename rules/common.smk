# What every rules file uses: canonical params, code digests, name patterns, model outputs,
# benchmark files, the systems to run, what each gives the run and the report, and the
# report's inputs. Each system's own helpers are in rules/helpers/<system>.smk (Snakemake's
# lint keeps functions out of the files with rules).
import re

from karman.systems import registered
from karman.workflow import canonical, code_digest


def name_pattern(names):
    """A wildcard constraint that matches exactly these names (or nothing)."""
    return "|".join(re.escape(name) for name in names) if names else "(?!)"


def model_files(name, models, root):
    """The outputs of one trained model of `models` (a system's `models` section) under `root`."""
    files = ["metrics.json", "predictions.csv"]
    files += ["model.npz"] if models[name]["type"] == "ridge" else ["model.keras", "history.csv"]
    return [f"{root}/{name}/{file}" for file in files]


# The systems to run.
SYSTEMS = config["systems"]


def benchmark_file(rule, wildcards=None):
    """A job's `benchmark:` file, logs/benchmarks/RULE.tsv (RULE/WILDCARDS.tsv for a rule with
    wildcards): the rules declare it and the report's wall-time table reads it by this name."""
    return f"logs/benchmarks/{rule}/{wildcards}.tsv" if wildcards else f"logs/benchmarks/{rule}.tsv"


# What each system's rules file gives the run and the report (rules/report.smk): the files every
# run makes besides the report, and, by system name, a function of its report inputs by name
# (`<system>_…`), one of its jobs' benchmark files, and one of the settings its section shows.
RUN_TARGETS = []
REPORTED = {}


def report_section(system, inputs, benchmarks, settings=None):
    """Declare the report section of `system`: what it reads, and the settings it shows."""
    REPORTED[system] = {"inputs": inputs, "benchmarks": benchmarks, "settings": settings}


def report_inputs(wildcards):
    """Every file the report reads: each system's section, and the jobs' benchmark files."""
    inputs = {"benchmarks": [file for system in SYSTEMS for file in REPORTED[system]["benchmarks"]()]}
    for system in SYSTEMS:
        inputs |= REPORTED[system]["inputs"]()
    return inputs


def report_settings(wildcards):
    """The settings each section shows, by system."""
    return canonical({system: REPORTED[system]["settings"]() for system in SYSTEMS if REPORTED[system]["settings"]})
