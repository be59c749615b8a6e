# The driven Duffing oscillator through the same stages: simulate -> split -> train -> report.
# Its library is karman.duffing; the split and the models are the stages every system shares
# (karman.split, karman.train), which read what the sample stores declare.


# results/duffing/curves.zarr and results/duffing/images.zarr: the two kinds of samples.
rule simulate_duffing:
    output:
        directory("results/duffing/{kind}.zarr"),
    log:
        "logs/simulate_duffing/{kind}.log",
    benchmark:
        benchmark_file("simulate_duffing", "{kind}")
    params:
        kind="{kind}",
        settings=duffing_generator_settings,
        code=code_digest("karman.duffing.samples"),
    wildcard_constraints:
        kind=name_pattern(DUFFING_KINDS),
    threads: 2
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        "../envs/karman.yaml"
    script:
        "../scripts/simulate_duffing.py"


rule make_duffing_split:
    input:
        samples="results/duffing/{kind}.zarr",
    output:
        assignment="results/duffing/split/{kind}.csv",
        summary="results/duffing/split/{kind}.json",
    log:
        "logs/make_duffing_split/{kind}.log",
    benchmark:
        benchmark_file("make_duffing_split", "{kind}")
    params:
        split=canonical(DUFFING["split"] | {"strategy": "random"}),
        code=code_digest("karman.split"),
    wildcard_constraints:
        kind=name_pattern(DUFFING_KINDS),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/karman.yaml"
    script:
        "../scripts/make_split.py"


# The Duffing models (rules/train.smk), each on the kind of samples it reads.
use rule train_ridge_model as train_duffing_baseline with:
    input:
        unpack(duffing_model_samples),
    output:
        model="results/duffing/models/{model}/model.npz",
        metrics="results/duffing/models/{model}/metrics.json",
        predictions="results/duffing/models/{model}/predictions.csv",
    log:
        "logs/train_duffing_baseline/{model}.log",
    benchmark:
        benchmark_file("train_duffing_baseline", "{model}")
    params:
        spec=duffing_model_spec,
    wildcard_constraints:
        model=name_pattern(DUFFING_BASELINE_MODELS),
    resources:
        mem_mb=2000,
        runtime=30,


use rule train_keras_model as train_duffing_network with:
    input:
        unpack(duffing_model_samples),
    output:
        model="results/duffing/models/{model}/model.keras",
        history="results/duffing/models/{model}/history.csv",
        metrics="results/duffing/models/{model}/metrics.json",
        predictions="results/duffing/models/{model}/predictions.csv",
    log:
        "logs/train_duffing_network/{model}.log",
    benchmark:
        benchmark_file("train_duffing_network", "{model}")
    params:
        spec=duffing_model_spec,
        backend=DUFFING["training"]["backend"],
        gpu=DUFFING["training"]["gpu"],
        shuffle_mb=DUFFING["training"]["shuffle_buffer_mb"],
    wildcard_constraints:
        model=name_pattern(DUFFING_NETWORK_MODELS),
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=DUFFING_GPUS_PER_NETWORK,


rule plot_duffing_examples:
    input:
        curves="results/duffing/curves.zarr",
        images="results/duffing/images.zarr",
    output:
        report("results/duffing/report/examples.png", caption="../report/duffing_examples.rst", category="Duffing oscillator"),
    log:
        "logs/plot_duffing_examples.log",
    benchmark:
        benchmark_file("plot_duffing_examples")
    params:
        code=code_digest("karman.duffing.plots"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/karman.yaml"
    script:
        "../scripts/plot_duffing_examples.py"


rule plot_duffing_figures:
    input:
        models=duffing_model_files,
    output:
        predicted_vs_true=report(
            "results/duffing/report/predicted_vs_true.png",
            caption="../report/duffing_predicted_vs_true.rst",
            category="Duffing oscillator",
        ),
        learning_curves=report(
            "results/duffing/report/learning_curves.png", caption="../report/duffing_learning_curves.rst", category="Duffing oscillator"
        ),
        generalisation_gap=report(
            "results/duffing/report/generalisation_gap.png",
            caption="../report/duffing_generalisation_gap.rst",
            category="Duffing oscillator",
        ),
    log:
        "logs/plot_duffing_figures.log",
    benchmark:
        benchmark_file("plot_duffing_figures")
    params:
        code=code_digest("karman.duffing.plots"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/karman.yaml"
    script:
        "../scripts/plot_duffing_figures.py"
