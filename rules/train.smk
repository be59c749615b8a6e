# The training stage every system shares (karman.train, scripts/train_model.py): a ridge
# baseline and a Keras network. Each system's training rules are these two with its own files
# and settings (`use rule train_ridge_model as … with:`); the two themselves train nothing,
# as their `model` matches no name. The script finds the model's folder from the outputs.


rule train_ridge_model:
    input:
        samples="results/samples.zarr",
        assignment="results/split/assignment.csv",
    output:
        model="results/models/{model}/model.npz",
        metrics="results/models/{model}/metrics.json",
        predictions="results/models/{model}/predictions.csv",
    log:
        "logs/train_ridge_model/{model}.log",
    benchmark:
        benchmark_file("train_ridge_model", "{model}")
    params:
        code=code_digest("karman.train"),
    wildcard_constraints:
        model=name_pattern([]),
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../envs/train.yaml"
    script:
        "../scripts/train_model.py"


# A network's rule names its Keras settings as params too (backend, gpu, shuffle_mb): a change
# of them reruns the networks, not the baseline.
use rule train_ridge_model as train_keras_model with:
    output:
        model="results/models/{model}/model.keras",
        history="results/models/{model}/history.csv",
        metrics="results/models/{model}/metrics.json",
        predictions="results/models/{model}/predictions.csv",
    log:
        "logs/train_keras_model/{model}.log",
    benchmark:
        benchmark_file("train_keras_model", "{model}")
    resources:
        mem_mb=4000,
        runtime=60,
