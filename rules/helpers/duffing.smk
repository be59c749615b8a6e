# The Duffing oscillator's helpers (Snakemake's lint keeps functions out of the rules files):
# its settings and models, its input functions and report section (rules/duffing.smk).
# Its settings (`duffing`).
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
    return {key: DUFFING[key] for key in ("seed", "parameters", "sweep", "curves", "images")}


report_section("duffing", duffing_report_inputs, duffing_benchmarks, duffing_report_settings)
