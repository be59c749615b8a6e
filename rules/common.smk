# Helpers of the rules: canonical params, code digests and model outputs for every system, then
# each system's targets and input functions, then the report's. The rules themselves are in
# rules/vortex.smk, rules/duffing.smk and rules/report.smk.
import os
import re

from karman.fetch import without_secrets
from karman.forecast.goals import KERAS_TYPES
from karman.forecast.windows import unseen_groups
from karman.split import settings_for
from karman.vortex.sweep import flow_batches, reynolds_values, store_name
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


# The vortex street (rules/vortex.smk): its targets and input functions.


# The sweep's Reynolds numbers by the name of their flow store (re00300 -> 300.0).
REYNOLDS = {store_name(reynolds).removeprefix("re"): reynolds for reynolds in reynolds_values(config["reynolds"])}
# What a simulation depends on: every flow setting but whether to validate the solver and how
# the Reynolds numbers are batched into jobs (which changes no store).
SIMULATION_SETTINGS = {key: value for key, value in config["flow"].items() if key not in ("validate", "batch_width")}
# flow.batch_width > 0: the Reynolds numbers of each bin side by side in one lattice job.
FLOW_BATCHES = flow_batches(REYNOLDS.values(), config["flow"]["batch_width"])
# The solver validation runs with the simulator, unless switched off (flow.validate).
FLOW_VALIDATION = ["results/flow/validation.json"] if config["flow"]["source"] == "simulate" and config["flow"]["validate"] else []
MODELS = config["models"]
BASELINE_MODELS = sorted(name for name, spec in MODELS.items() if spec["type"] == "ridge")
NETWORK_MODELS = sorted(name for name, spec in MODELS.items() if spec["type"] != "ridge")
GPUS_PER_NETWORK = 1 if config["training"]["gpu"] else 0
# flow.backend: gpu runs the solver's kernels on a GPU, which its jobs ask for.
GPUS_PER_FLOW_SOLVER = 1 if config["flow"]["backend"] == "gpu" else 0
COMPARED_SPLITS = config["split"]["compare"]
# flow.source: download — files by Reynolds number (YAML may give the keys as numbers), and
# the settings shared by all of them (format, geometry, scales).
DOWNLOADS = config["flow"].get("download", {})
DOWNLOAD_FILES = {float(reynolds): entry for reynolds, entry in DOWNLOADS.get("files", {}).items()}
DOWNLOAD_SETTINGS = {key: value for key, value in DOWNLOADS.items() if key != "files"}


def flow_stores(wildcards=None):
    return expand("results/flow/re{re}.zarr", re=sorted(REYNOLDS))


def reynolds_number(wildcards):
    return REYNOLDS[wildcards.re]


def reynolds_of_store(wildcards):
    return canonical([REYNOLDS[wildcards.re]])


def download_url(wildcards):
    return DOWNLOAD_FILES[REYNOLDS[wildcards.re]]["url"]


def download_sha256(wildcards):
    return DOWNLOAD_FILES[REYNOLDS[wildcards.re]]["sha256"]


def download_size(wildcards):
    """The file's size in bytes, where its entry gives one (else the job's disk_mb caps it)."""
    return DOWNLOAD_FILES[REYNOLDS[wildcards.re]].get("size")


def model_spec(wildcards):
    return canonical(MODELS[wildcards.model])


def gpus_for_model(wildcards):
    return 0 if MODELS[wildcards.model]["type"] == "ridge" else GPUS_PER_NETWORK


def split_settings(wildcards):
    return canonical(settings_for(config["split"], config["split"]["strategy"]))


def comparison_split_settings(wildcards):
    return canonical(settings_for(config["split"], wildcards.strategy))


def comparison_model_dirs(wildcards=None):
    return expand("results/comparison/{strategy}/models/{model}", strategy=COMPARED_SPLITS, model=sorted(MODELS))


def all_model_files(wildcards=None):
    return [path for name in sorted(MODELS) for path in model_files(name, MODELS, "results/models")]


def vortex_report_inputs(wildcards=None):
    """What the vortex street's section of the report reads, by name."""
    return {
        "vortex_gallery": "results/fields/gallery.png",
        **{
            f"vortex_{name}": f"results/report/figures/{name}.png"
            for name in ("class_balance", "embedding", "physics", "predicted_vs_true", "error_by_reynolds", "learning_curves")
        },
        "vortex_split_summary": "results/split/summary.json",
        "vortex_flow_summary": "results/flow/summary.json",
        "vortex_validation": FLOW_VALIDATION,
        "vortex_models": all_model_files(),
        "vortex_comparison": comparison_model_dirs(),
        "vortex_forecasts": expand("results/forecast/{forecaster}/metrics.json", forecaster=FORECASTERS),
        "vortex_forecast_timings": expand("results/forecast/{forecaster}/timings.json", forecaster=FORECASTERS),
        **(
            {
                "vortex_forecast_errors": "results/report/figures/forecast_errors.png",
                "vortex_forecast_strip": "results/report/figures/forecast_strip.png",
                "vortex_forecast_animation": "results/report/figures/forecast_animation.gif",
            }
            if FORECASTERS
            else {}
        ),
    }


def vortex_benchmarks(wildcards=None):
    """The benchmark files of the vortex street's jobs, for the report's wall-time table
    (simulate_flow has none: it is a cached rule, and its log gives its time)."""
    files = [
        benchmark_file(name)
        for name in (
            "summarise_flow",
            "compute_vorticity",
            "plot_vorticity_gallery",
            "make_split",
            "embed_training_snapshots",
            "plot_report_figures",
        )
    ]
    files += expand(benchmark_file("download_flow", "re{re}"), re=sorted(REYNOLDS)) if config["flow"]["source"] == "download" else []
    files += [benchmark_file("validate_flow_solver")] if FLOW_VALIDATION else []
    files += expand(benchmark_file("train_baseline", "{model}"), model=BASELINE_MODELS)
    files += expand(benchmark_file("train_network", "{model}"), model=NETWORK_MODELS)
    files += expand(benchmark_file("make_comparison_split", "{strategy}"), strategy=COMPARED_SPLITS)
    if FORECASTERS:
        files += expand(benchmark_file("forecast_vorticity", "{forecaster}"), forecaster=FORECASTERS)
        files += [benchmark_file("plot_forecast_figures")]
    return files + expand(benchmark_file("train_comparison_model", "{strategy}/{model}"), strategy=COMPARED_SPLITS, model=sorted(MODELS))


# Forecasting (rules/forecast.smk): the forecasters, the task and the Reynolds numbers of the unseen-Re test.
FORECAST = config["forecast"]
FORECASTERS = sorted(FORECAST["models"]) if "vortex" in SYSTEMS else []
FORECAST_TASK = {key: FORECAST[key] for key in ("history", "stride", "horizon", "future_fraction")}
FORECAST_UNSEEN = unseen_groups(REYNOLDS.values(), config["split"], FORECAST)


def forecaster_spec(wildcards):
    return canonical(FORECAST["models"][wildcards.forecaster])


def gpus_for_forecaster(wildcards):
    return GPUS_PER_NETWORK if FORECAST["models"][wildcards.forecaster]["type"] in KERAS_TYPES else 0


# Exports (rules/export.smk): The Well's layout, a target of every run where export.formats lists it.
THE_WELL_EXPORT = f"results/export/the_well/{config['export']['dataset_name']}"
EXPORTS = [THE_WELL_EXPORT] if "the-well" in config["export"]["formats"] else []


# The Duffing oscillator (rules/duffing.smk): its targets and input functions.

# The Duffing oscillator's settings (`duffing`).
DUFFING = config["duffing"]
DUFFING_KINDS = ["curves", "images"]
DUFFING_MODELS = DUFFING["models"]
# Which samples each kind of model reads: ridge and mlp the curves, cnn the images.
DUFFING_INPUT = {"ridge": "curves", "mlp": "curves", "cnn": "images"}
DUFFING_BASELINE_MODELS = sorted(name for name, spec in DUFFING_MODELS.items() if spec["type"] == "ridge")
DUFFING_NETWORK_MODELS = sorted(name for name, spec in DUFFING_MODELS.items() if spec["type"] != "ridge")
DUFFING_GPUS_PER_NETWORK = 1 if DUFFING["training"]["gpu"] else 0


def duffing_generator_settings(wildcards):
    """What one kind of samples depends on: the shared generator keys and that kind's own."""
    shared = {key: DUFFING[key] for key in ("seed", "backend", "sample_chunk", "parameters", "sweep")}
    return canonical(shared | {wildcards.kind: DUFFING[wildcards.kind]})


def duffing_model_samples(wildcards):
    kind = DUFFING_INPUT[DUFFING_MODELS[wildcards.model]["type"]]
    return {"samples": f"results/duffing/{kind}.zarr", "assignment": f"results/duffing/split/{kind}.csv"}


def duffing_model_spec(wildcards):
    return canonical(DUFFING_MODELS[wildcards.model])


def duffing_model_files(wildcards=None):
    """The outputs of every Duffing model."""
    return [path for name in sorted(DUFFING_MODELS) for path in model_files(name, DUFFING_MODELS, "results/duffing/models")]


def duffing_report_inputs(wildcards=None):
    """What the Duffing oscillator's section of the report reads, by name."""
    return {
        "duffing_examples": "results/duffing/report/examples.png",
        **{
            f"duffing_{name}": f"results/duffing/report/{name}.png"
            for name in ("predicted_vs_true", "learning_curves", "generalisation_gap")
        },
        "duffing_splits": expand("results/duffing/split/{kind}.json", kind=DUFFING_KINDS),
        "duffing_models": duffing_model_files(),
    }


def duffing_benchmarks(wildcards=None):
    """The benchmark files of the Duffing oscillator's jobs, for the report's wall-time table."""
    files = expand(benchmark_file("simulate_duffing", "{kind}"), kind=DUFFING_KINDS)
    files += expand(benchmark_file("make_duffing_split", "{kind}"), kind=DUFFING_KINDS)
    files += expand(benchmark_file("train_duffing_baseline", "{model}"), model=DUFFING_BASELINE_MODELS)
    files += expand(benchmark_file("train_duffing_network", "{model}"), model=DUFFING_NETWORK_MODELS)
    return files + [benchmark_file("plot_duffing_examples"), benchmark_file("plot_duffing_figures")]


def duffing_report_settings(wildcards=None):
    """The generator settings the Duffing section describes."""
    return canonical({key: DUFFING[key] for key in ("seed", "parameters", "sweep", "curves", "images")})


# The report (rules/report.smk).


def report_inputs(wildcards):
    """Every file the report reads: each system's section, and the jobs' benchmark files."""
    sections = {"vortex": vortex_report_inputs, "duffing": duffing_report_inputs}
    benchmarks = {"vortex": vortex_benchmarks, "duffing": duffing_benchmarks}
    inputs = {"benchmarks": [file for system in SYSTEMS for file in benchmarks[system]()]}
    for system in SYSTEMS:
        inputs |= sections[system]()
    return inputs
