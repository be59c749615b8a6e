# The flow stores come from one of two rules, chosen by flow.source: only that rule is
# defined, so each store has exactly one producer.
if config["flow"]["source"] == "simulate":

    # The expensive simulation is shared between workflows through Snakemake's output cache
    # (`--cache` with SNAKEMAKE_OUTPUT_CACHE set): same parameters and code, same store.
    # Snakemake allows no benchmark: on cached rules; the log reports the wall time instead.
    rule simulate_flow:
        output:
            directory("results/flow/re{re}.zarr"),
        log:
            "logs/simulate_flow/re{re}.log",
        cache: "omit-software"
        params:
            reynolds=reynolds_number,
            flow=canonical(SIMULATION_SETTINGS),
            code=code_digest("karman.flow"),
        wildcard_constraints:
            re=r"\d+",
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


elif config["flow"]["source"] == "download":

    # flow.source: download: published data, one file per Reynolds number, checked against
    # its SHA-256; a changed URL or checksum reruns exactly that Reynolds number.
    rule download_flow:
        output:
            directory("results/flow/re{re}.zarr"),
        log:
            "logs/download_flow/re{re}.log",
        benchmark:
            "benchmarks/download_flow/re{re}.tsv"
        params:
            reynolds=reynolds_number,
            url=download_url,
            sha256=download_sha256,
            settings=canonical(DOWNLOAD_SETTINGS),
            code=code_digest("karman.download"),
        wildcard_constraints:
            re=r"\d+",
        threads: 1
        resources:
            mem_mb=4000,
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
        "benchmarks/summarise_flow.tsv"
    params:
        code=code_digest("karman.physics"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/karman.yaml"
    script:
        "../scripts/summarise_flow.py"


# The solver against published values (karman.validation); the report shows the table.
rule validate_flow_solver:
    output:
        "results/flow/validation.json",
    log:
        "logs/validate_flow_solver.log",
    benchmark:
        "benchmarks/validate_flow_solver.tsv"
    params:
        backend=config["flow"]["backend"],
        code=code_digest("karman.validation"),
    threads: 2
    resources:
        mem_mb=2000,
        runtime=30,
        gpu=GPUS_PER_FLOW_SOLVER,
    conda:
        "../envs/karman.yaml"
    script:
        "../scripts/validate_flow_solver.py"
