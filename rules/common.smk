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


def model_files(name):
    """The outputs of one trained model."""
    files = ["metrics.json", "predictions.csv"]
    files += ["model.npz"] if name in BASELINE_MODELS else ["model.keras", "history.csv"]
    return [f"results/models/{name}/{file}" for file in files]


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
