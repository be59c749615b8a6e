# Helpers shared by the rules: targets, input functions, canonical params.
from karman.config import check_config
from karman.split import settings_for
from karman.workflow import canonical, code_digest


check_config(config)

REYNOLDS = sorted(config["reynolds"])
# What a simulation depends on: every flow setting but whether to validate the solver.
SIMULATION_SETTINGS = {key: value for key, value in config["flow"].items() if key != "validate"}
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
DOWNLOAD_FILES = {str(reynolds): entry for reynolds, entry in DOWNLOADS.get("files", {}).items()}
DOWNLOAD_SETTINGS = {key: value for key, value in DOWNLOADS.items() if key != "files"}


def name_pattern(names):
    """A wildcard constraint that matches exactly these names (or nothing)."""
    return "|".join(names) if names else "(?!)"


def flow_stores(wildcards=None):
    return expand("results/flow/re{re}.zarr", re=REYNOLDS)


def reynolds_number(wildcards):
    return int(wildcards.re)


def download_url(wildcards):
    return DOWNLOAD_FILES[wildcards.re]["url"]


def download_sha256(wildcards):
    return DOWNLOAD_FILES[wildcards.re]["sha256"]


def model_spec(wildcards):
    return canonical(MODELS[wildcards.model])


def model_files(name, models=MODELS, root="results/models"):
    """The outputs of one trained model of `models` (the vortex street's or the Duffing oscillator's)."""
    files = ["metrics.json", "predictions.csv"]
    files += ["model.npz"] if models[name]["type"] == "ridge" else ["model.keras", "history.csv"]
    return [f"{root}/{name}/{file}" for file in files]


def gpus_for_model(wildcards):
    return 0 if MODELS[wildcards.model]["type"] == "ridge" else GPUS_PER_NETWORK


def split_settings(wildcards):
    return canonical(settings_for(config["split"], config["split"]["strategy"]))


def comparison_split_settings(wildcards):
    return canonical(settings_for(config["split"], wildcards.strategy))


def comparison_model_dirs(wildcards=None):
    return expand("results/comparison/{strategy}/models/{model}", strategy=COMPARED_SPLITS, model=sorted(MODELS))


def comparison_dirs(wildcards=None):
    return canonical({strategy: {name: f"results/comparison/{strategy}/models/{name}" for name in sorted(MODELS)} for strategy in COMPARED_SPLITS})


def all_model_files(wildcards=None):
    return [path for name in sorted(MODELS) for path in model_files(name)]


def model_dirs(wildcards=None):
    return canonical({name: f"results/models/{name}" for name in sorted(MODELS)})


# The systems to run (`systems`) and the Duffing oscillator's settings (`duffing`).
SYSTEMS = config["systems"]
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


def duffing_model_dirs(wildcards=None):
    return canonical({name: f"results/duffing/models/{name}" for name in sorted(DUFFING_MODELS)})


def report_inputs(wildcards):
    """The report's inputs: the sections of the systems in `systems`, by name."""
    inputs = {}
    if "karman" in SYSTEMS:
        inputs |= {
            "gallery": "results/fields/gallery.png",
            **{name: f"results/report/figures/{name}.png" for name in ("class_balance", "embedding", "strouhal", "predicted_vs_true", "learning_curves")},
            "split_summary": "results/split/summary.json",
            "flow_summary": "results/flow/summary.json",
            "validation": FLOW_VALIDATION,
            "models": all_model_files(),
            "comparison": comparison_model_dirs(),
        }
    if "duffing" in SYSTEMS:
        inputs |= {
            "duffing_examples": "results/duffing/report/examples.png",
            **{f"duffing_{name}": f"results/duffing/report/{name}.png" for name in ("predicted_vs_true", "learning_curves", "generalisation_gap")},
            "duffing_splits": expand("results/duffing/split/{kind}.json", kind=DUFFING_KINDS),
            "duffing_models": duffing_model_files(),
        }
    return inputs


def duffing_report_settings(wildcards=None):
    """The generator settings the Duffing section describes (none when duffing is not run)."""
    return canonical({key: DUFFING[key] for key in ("seed", "parameters", "sweep", "curves", "images")} if "duffing" in SYSTEMS else None)
