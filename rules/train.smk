rule train_baseline:
    input:
        fields="results/fields/vorticity.zarr",
        assignment="results/split/assignment.csv",
    output:
        model="results/models/{model}/model.npz",
        metrics="results/models/{model}/metrics.json",
        predictions="results/models/{model}/predictions.csv",
    log:
        "logs/train_baseline/{model}.log",
    benchmark:
        "benchmarks/train_baseline/{model}.tsv"
    params:
        spec=model_spec,
        backend=config["training"]["backend"],
        code=code_digest("karman.train"),
    wildcard_constraints:
        model=name_pattern(BASELINE_MODELS),
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../envs/train.yaml"
    script:
        "../scripts/train_model.py"


rule train_network:
    input:
        fields="results/fields/vorticity.zarr",
        assignment="results/split/assignment.csv",
    output:
        model="results/models/{model}/model.keras",
        history="results/models/{model}/history.csv",
        metrics="results/models/{model}/metrics.json",
        predictions="results/models/{model}/predictions.csv",
    log:
        "logs/train_network/{model}.log",
    benchmark:
        "benchmarks/train_network/{model}.tsv"
    params:
        spec=model_spec,
        backend=config["training"]["backend"],
        code=code_digest("karman.train"),
    wildcard_constraints:
        model=name_pattern(NETWORK_MODELS),
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../envs/train.yaml"
    script:
        "../scripts/train_model.py"
