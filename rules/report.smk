# The report: one page with a section per system in `systems`, and the provenance.
from karman.fetch import without_secrets


def report_inputs(wildcards):
    """Every file the report reads: each system's section, and the jobs' benchmark files."""
    sections = {"vortex": vortex_report_inputs, "duffing": duffing_report_inputs}
    benchmarks = {"vortex": vortex_benchmarks, "duffing": duffing_benchmarks}
    inputs = {"benchmarks": [file for system in SYSTEMS for file in benchmarks[system]()]}
    for system in SYSTEMS:
        inputs |= sections[system]()
    return inputs


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
        duffing_settings=duffing_report_settings,
        config=canonical(without_secrets(config)),  # URLs without user info or query string
        backend=config["training"]["backend"],
        code=code_digest("karman.report", "karman.vortex.report", "karman.duffing.report"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/karman.yaml"
    script:
        "../scripts/render_report.py"
