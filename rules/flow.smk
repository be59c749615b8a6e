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
        flow=canonical(config["flow"]),
        code=code_digest("karman.flow"),
    wildcard_constraints:
        re=r"\d+",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
        checkpoint_steps=2000,
    conda:
        "../envs/karman.yaml"
    script:
        "../scripts/simulate_flow.py"


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
