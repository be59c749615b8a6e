# The vortex street's helpers (Snakemake's lint keeps functions out of the rules files): its
# Reynolds numbers, settings and models, its input functions and report section
# (rules/vortex.smk), then the forecasters' (rules/forecast.smk).
from karman.forecast.goals import KERAS_TYPES
from karman.forecast.windows import unseen_groups
from karman.split import settings_for
from karman.vortex.sweep import flow_batches, reynolds_values, store_name

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


report_section("vortex", vortex_report_inputs, vortex_benchmarks)


# The forecasters, the task and the Reynolds numbers of the unseen-Re test (rules/forecast.smk).
FORECAST = config["forecast"]
FORECASTERS = sorted(FORECAST["models"]) if "vortex" in SYSTEMS else []
FORECAST_TASK = {key: FORECAST[key] for key in ("history", "stride", "horizon", "future_fraction")}
FORECAST_UNSEEN = unseen_groups(REYNOLDS.values(), config["split"], FORECAST)


def forecaster_spec(wildcards):
    return canonical(FORECAST["models"][wildcards.forecaster])


def gpus_for_forecaster(wildcards):
    return GPUS_PER_NETWORK if FORECAST["models"][wildcards.forecaster]["type"] in KERAS_TYPES else 0
