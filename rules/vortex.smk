# The von Kármán vortex street: flow (simulated or downloaded) -> vorticity -> split -> models.
# Its library is karman.vortex; the split and the models are the stages every system shares
# (karman.split, karman.train), which read what the vorticity store declares.


# The flow stores come from one of three kinds of rule, chosen by flow.source and
# flow.batch_width: only that kind is defined, so each store has exactly one producer.
if config["flow"]["source"] == "simulate" and not FLOW_BATCHES:

    # One Reynolds number per job. The expensive simulation is shared between workflows
    # through Snakemake's output cache (`--cache` with SNAKEMAKE_OUTPUT_CACHE set): same
    # parameters and code, same store. Snakemake allows no benchmark: on cached rules; the log
    # reports the wall time instead. `group:` lets a cluster profile pack several into one
    # submission (profiles/slurm: group-components).
    rule simulate_flow:
        output:
            directory("results/flow/re{re}.zarr"),
        log:
            "logs/simulate_flow/re{re}.log",
        cache: "omit-software"
        params:
            reynolds=reynolds_of_store,
            flow=canonical(SIMULATION_SETTINGS),
            code=code_digest("karman.vortex.simulation"),
        wildcard_constraints:
            re=name_pattern(REYNOLDS),
        group:
            "simulate_flow"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=60,
            checkpoint_steps=2000,
            gpu=GPUS_PER_FLOW_SOLVER,
        conda:
            "../envs/karman.yaml"
        script:
            "../scripts/simulate_flow.py"

elif config["flow"]["source"] == "simulate":

    # flow.batch_width: the Reynolds numbers of each bin of that width side by side in one
    # lattice, one job a bin (on a GPU, or for many tiny grids); each store is bit for bit
    # that of its own run. A Reynolds number added to a sweep reruns its own bin only.
    for batch, members in FLOW_BATCHES.items():

        rule:
            name:
                f"simulate_flow_batch_{batch}"
            output:
                [directory(f"results/flow/{store_name(reynolds)}.zarr") for reynolds in members],
            log:
                f"logs/simulate_flow/batch{batch}.log",
            params:
                reynolds=canonical(members),
                flow=canonical(SIMULATION_SETTINGS),
                code=code_digest("karman.vortex.simulation"),
            group:
                "simulate_flow"
            threads: 2
            resources:
                mem_mb=2000 * len(members),
                runtime=60,
                checkpoint_steps=2000,
                gpu=GPUS_PER_FLOW_SOLVER,
            conda:
                "../envs/karman.yaml"
            script:
                "../scripts/simulate_flow.py"

elif config["flow"]["source"] == "download":

    # flow.source: download: published data, one file per Reynolds number, checked against
    # its SHA-256; a changed URL or checksum reruns exactly that Reynolds number.
    rule download_flow:
        output:
            directory("results/flow/re{re}.zarr"),
        log:
            "logs/download_flow/re{re}.log",
        benchmark:
            benchmark_file("download_flow", "re{re}")
        params:
            reynolds=reynolds_number,
            url=download_url,
            sha256=download_sha256,
            size=download_size,
            settings=canonical(DOWNLOAD_SETTINGS),
            code=code_digest("karman.vortex.download"),
        wildcard_constraints:
            re=name_pattern(REYNOLDS),
        threads: 1
        # The download's bounds: it stops after `runtime` minutes, and a file without a `size`
        # after disk_mb MB (--set-resources download_flow:runtime=120 download_flow:disk_mb=20000).
        resources:
            mem_mb=4000,
            disk_mb=4096,
            runtime=30,
        conda:
            "../envs/karman.yaml"
        script:
            "../scripts/download_flow.py"


rule summarise_flow:
    input:
        flow_stores,
    output:
        "results/flow/summary.json",
    log:
        "logs/summarise_flow.log",
    benchmark:
        benchmark_file("summarise_flow")
    params:
        code=code_digest("karman.vortex.physics"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/karman.yaml"
    script:
        "../scripts/summarise_flow.py"


# The solver against published values (karman.vortex.validation); the report shows the table.
rule validate_flow_solver:
    output:
        "results/flow/validation.json",
    log:
        "logs/validate_flow_solver.log",
    benchmark:
        benchmark_file("validate_flow_solver")
    params:
        backend=config["flow"]["backend"],
        code=code_digest("karman.vortex.validation"),
    threads: 2
    resources:
        mem_mb=2000,
        runtime=30,
        gpu=GPUS_PER_FLOW_SOLVER,
    conda:
        "../envs/karman.yaml"
    script:
        "../scripts/validate_flow_solver.py"


rule compute_vorticity:
    input:
        flow_stores,
    output:
        directory("results/fields/vorticity.zarr"),
    log:
        "logs/compute_vorticity.log",
    benchmark:
        benchmark_file("compute_vorticity")
    params:
        fields=canonical(config["fields"]),
        code=code_digest("karman.vortex.fields"),
    threads: 2
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../envs/karman.yaml"
    script:
        "../scripts/compute_vorticity.py"


rule plot_vorticity_gallery:
    input:
        "results/fields/vorticity.zarr",
    output:
        report("results/fields/gallery.png", caption="../report/gallery.rst", category="Data"),
    log:
        "logs/plot_vorticity_gallery.log",
    benchmark:
        benchmark_file("plot_vorticity_gallery")
    params:
        code=code_digest("karman.vortex.gallery"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/karman.yaml"
    script:
        "../scripts/plot_vorticity_gallery.py"


rule make_split:
    input:
        samples="results/fields/vorticity.zarr",
    output:
        assignment="results/split/assignment.csv",
        summary="results/split/summary.json",
    log:
        "logs/make_split.log",
    benchmark:
        benchmark_file("make_split")
    params:
        split=split_settings,
        code=code_digest("karman.split"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/karman.yaml"
    script:
        "../scripts/make_split.py"


rule make_comparison_split:
    input:
        samples="results/fields/vorticity.zarr",
    output:
        assignment="results/comparison/{strategy}/split/assignment.csv",
        summary="results/comparison/{strategy}/split/summary.json",
    log:
        "logs/make_comparison_split/{strategy}.log",
    benchmark:
        benchmark_file("make_comparison_split", "{strategy}")
    params:
        split=comparison_split_settings,
        code=code_digest("karman.split"),
    wildcard_constraints:
        strategy=name_pattern(COMPARED_SPLITS),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/karman.yaml"
    script:
        "../scripts/make_split.py"


rule embed_training_snapshots:
    input:
        samples="results/fields/vorticity.zarr",
        assignment="results/split/assignment.csv",
    output:
        "results/split/embedding.csv",
    log:
        "logs/embed_training_snapshots.log",
    benchmark:
        benchmark_file("embed_training_snapshots")
    params:
        code=code_digest("karman.vortex.embedding"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        "../envs/karman.yaml"
    script:
        "../scripts/embed_training_snapshots.py"


# The models of the Re regression (rules/train.smk), and those of each compared split.
use rule train_ridge_model as train_baseline with:
    input:
        samples="results/fields/vorticity.zarr",
        assignment="results/split/assignment.csv",
    output:
        model="results/models/{model}/model.npz",
        metrics="results/models/{model}/metrics.json",
        predictions="results/models/{model}/predictions.csv",
    log:
        "logs/train_baseline/{model}.log",
    benchmark:
        benchmark_file("train_baseline", "{model}")
    params:
        spec=model_spec,
    wildcard_constraints:
        model=name_pattern(BASELINE_MODELS),


use rule train_keras_model as train_network with:
    input:
        samples="results/fields/vorticity.zarr",
        assignment="results/split/assignment.csv",
    output:
        model="results/models/{model}/model.keras",
        history="results/models/{model}/history.csv",
        metrics="results/models/{model}/metrics.json",
        predictions="results/models/{model}/predictions.csv",
    log:
        "logs/train_network/{model}.log",
    benchmark:
        benchmark_file("train_network", "{model}")
    params:
        spec=model_spec,
        backend=config["training"]["backend"],
        gpu=config["training"]["gpu"],
        shuffle_mb=config["training"]["shuffle_buffer_mb"],
    wildcard_constraints:
        model=name_pattern(NETWORK_MODELS),
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPUS_PER_NETWORK,


use rule train_network as train_comparison_model with:
    input:
        samples="results/fields/vorticity.zarr",
        assignment="results/comparison/{strategy}/split/assignment.csv",
    output:
        directory("results/comparison/{strategy}/models/{model}"),
    log:
        "logs/train_comparison_model/{strategy}/{model}.log",
    benchmark:
        benchmark_file("train_comparison_model", "{strategy}/{model}")
    wildcard_constraints:
        strategy=name_pattern(COMPARED_SPLITS),
        model=name_pattern(sorted(MODELS)),
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=gpus_for_model,


rule plot_report_figures:
    input:
        split_summary="results/split/summary.json",
        embedding="results/split/embedding.csv",
        flow_summary="results/flow/summary.json",
        models=all_model_files,
    output:
        class_balance=report("results/report/figures/class_balance.png", caption="../report/class_balance.rst", category="Data"),
        embedding=report("results/report/figures/embedding.png", caption="../report/embedding.rst", category="Data"),
        physics=report("results/report/figures/physics.png", caption="../report/physics.rst", category="Physics checks"),
        predicted_vs_true=report(
            "results/report/figures/predicted_vs_true.png", caption="../report/predicted_vs_true.rst", category="Models"
        ),
        error_by_reynolds=report(
            "results/report/figures/error_by_reynolds.png", caption="../report/error_by_reynolds.rst", category="Models"
        ),
        learning_curves=report("results/report/figures/learning_curves.png", caption="../report/learning_curves.rst", category="Models"),
    log:
        "logs/plot_report_figures.log",
    benchmark:
        benchmark_file("plot_report_figures")
    params:
        code=code_digest("karman.vortex.plots"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/karman.yaml"
    script:
        "../scripts/plot_report_figures.py"
