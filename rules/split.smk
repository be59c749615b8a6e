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
        "results/fields/vorticity.zarr",
    output:
        assignment="results/comparison/{strategy}/split/assignment.csv",
        summary="results/comparison/{strategy}/split/summary.json",
    log:
        "logs/make_comparison_split/{strategy}.log",
    benchmark:
        "benchmarks/make_comparison_split/{strategy}.tsv"
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
        fields="results/fields/vorticity.zarr",
        assignment="results/split/assignment.csv",
    output:
        "results/split/embedding.csv",
    log:
        "logs/embed_training_snapshots.log",
    benchmark:
        "benchmarks/embed_training_snapshots.tsv"
    params:
        code=code_digest("karman.embedding"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        "../envs/karman.yaml"
    script:
        "../scripts/embed_training_snapshots.py"
