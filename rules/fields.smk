rule compute_vorticity:
    input:
        flow_stores,
    output:
        directory("results/fields/vorticity.zarr"),
    log:
        "logs/compute_vorticity.log",
    benchmark:
        "benchmarks/compute_vorticity.tsv"
    params:
        fields=canonical(config["fields"]),
        code=code_digest("karman.fields"),
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
        "benchmarks/plot_vorticity_gallery.tsv"
    params:
        code=code_digest("karman.plots"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/karman.yaml"
    script:
        "../scripts/plot_vorticity_gallery.py"
