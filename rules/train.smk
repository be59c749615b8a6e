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
        model_dir="results/models/{model}",
        spec=model_spec,
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
        model_dir="results/models/{model}",
        spec=model_spec,
        backend=config["training"]["backend"],
        gpu=config["training"]["gpu"],
        shuffle_mb=config["training"]["shuffle_buffer_mb"],
        code=code_digest("karman.train"),
    wildcard_constraints:
        model=name_pattern(NETWORK_MODELS),
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPUS_PER_NETWORK,
    conda:
        "../envs/train.yaml"
    script:
        "../scripts/train_model.py"


rule train_comparison_model:
    input:
        fields="results/fields/vorticity.zarr",
        assignment="results/comparison/{strategy}/split/assignment.csv",
    output:
        directory("results/comparison/{strategy}/models/{model}"),
    log:
        "logs/train_comparison_model/{strategy}/{model}.log",
    benchmark:
        "benchmarks/train_comparison_model/{strategy}/{model}.tsv"
    params:
        model_dir="results/comparison/{strategy}/models/{model}",
        spec=model_spec,
        backend=config["training"]["backend"],
        gpu=config["training"]["gpu"],
        shuffle_mb=config["training"]["shuffle_buffer_mb"],
        code=code_digest("karman.train"),
    wildcard_constraints:
        strategy=name_pattern(COMPARED_SPLITS),
        model=name_pattern(sorted(MODELS)),
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=gpus_for_model,
    conda:
        "../envs/train.yaml"
    script:
        "../scripts/train_model.py"
