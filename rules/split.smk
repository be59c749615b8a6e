rule make_split:
    input:
        "results/fields/vorticity.zarr",
    output:
        assignment="results/split/assignment.csv",
        summary="results/split/summary.json",
    log:
        "logs/make_split.log",
    benchmark:
        "benchmarks/make_split.tsv"
    params:
        split=canonical(config["split"]),
        code=code_digest("karman.split"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/karman.yaml"
    script:
        "../scripts/make_split.py"
