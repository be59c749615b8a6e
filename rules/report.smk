# The report: one page with a section per system in `systems`, and the provenance.
from karman.fetch import without_secrets


rule render_report:
    input:
        unpack(report_inputs),
    output:
        "results/report/index.html",
    log:
        "logs/render_report.log",
    benchmark:
        benchmark_file("render_report")
    params:
        settings=report_settings,
        config=canonical(without_secrets(config)),  # URLs without user info or query string
        backend=config["training"]["backend"],
        code=code_digest("karman.report", *(system.report for system in registered().values())),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/karman.yaml"
    script:
        "../scripts/render_report.py"
