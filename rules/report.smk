rule plot_report_figures:
    input:
        split_summary="results/split/summary.json",
        embedding="results/split/embedding.csv",
        flow_summary="results/flow/summary.json",
        models=all_model_files,
    output:
        class_balance=report("results/report/figures/class_balance.png", caption="../report/class_balance.rst", category="Data"),
        embedding=report("results/report/figures/embedding.png", caption="../report/embedding.rst", category="Data"),
        strouhal=report("results/report/figures/strouhal.png", caption="../report/strouhal.rst", category="Physics checks"),
        predicted_vs_true=report("results/report/figures/predicted_vs_true.png", caption="../report/predicted_vs_true.rst", category="Models"),
        learning_curves=report("results/report/figures/learning_curves.png", caption="../report/learning_curves.rst", category="Models"),
    log:
        "logs/plot_report_figures.log",
    benchmark:
        "benchmarks/plot_report_figures.tsv"
    params:
        model_dirs=model_dirs,
        code=code_digest("karman.plots"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/karman.yaml"
    script:
        "../scripts/plot_report_figures.py"


rule render_report:
    input:
        unpack(report_inputs),
    output:
        "results/report/index.html",
    log:
        "logs/render_report.log",
    benchmark:
        "benchmarks/render_report.tsv"
    params:
        model_dirs=model_dirs,
        comparison_dirs=comparison_dirs,
        duffing=duffing_report_settings,
        duffing_model_dirs=duffing_model_dirs,
        config=canonical(config),
        workflow_dir=workflow.basedir,
        code=code_digest("karman.report"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/karman.yaml"
    script:
        "../scripts/render_report.py"
