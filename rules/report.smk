rule render_report:
    input:
        gallery="results/fields/gallery.png",
        split_summary="results/split/summary.json",
        models=all_model_files,
        comparison=comparison_model_dirs,
    output:
        "results/report/index.html",
    log:
        "logs/render_report.log",
    benchmark:
        "benchmarks/render_report.tsv"
    params:
        model_dirs=model_dirs,
        comparison_dirs=comparison_dirs,
        config=canonical(config),
        code=code_digest("karman.report"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/karman.yaml"
    script:
        "../scripts/render_report.py"
