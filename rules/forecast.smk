# Forecasting surrogates of the vortex street (karman.forecast, a stage every system can use):
# each forecaster reads the vorticity store, is fitted on training frames only, rolled out on
# the unseen-Re and future tests, and scored; the report shows them side by side.


rule forecast_vorticity:
    input:
        samples="results/fields/vorticity.zarr",
    output:
        rollout=directory("results/forecast/{forecaster}/rollout.zarr"),
        metrics="results/forecast/{forecaster}/metrics.json",
        errors="results/forecast/{forecaster}/errors.csv",
        timings="results/forecast/{forecaster}/timings.json",
    log:
        "logs/forecast_vorticity/{forecaster}.log",
    benchmark:
        benchmark_file("forecast_vorticity", "{forecaster}")
    params:
        spec=forecaster_spec,
        task=canonical(FORECAST_TASK),
        held_out=canonical(FORECAST_UNSEEN),
        probe=canonical(config["forecast"]["probe"]),
        backend=config["training"]["backend"],
        gpu=config["training"]["gpu"],
        code=code_digest("karman.forecast.stage"),
    wildcard_constraints:
        forecaster=name_pattern(FORECASTERS),
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=gpus_for_forecaster,
    conda:
        "../envs/train.yaml"
    script:
        "../scripts/forecast_vorticity.py"


rule plot_forecast_figures:
    input:
        samples="results/fields/vorticity.zarr",
        errors=expand("results/forecast/{forecaster}/errors.csv", forecaster=FORECASTERS),
        rollouts=expand("results/forecast/{forecaster}/rollout.zarr", forecaster=FORECASTERS),
    output:
        forecast_errors=report(
            "results/report/figures/forecast_errors.png", caption="../report/forecast_errors.rst", category="Forecasting"
        ),
        forecast_strip=report("results/report/figures/forecast_strip.png", caption="../report/forecast_strip.rst", category="Forecasting"),
        forecast_animation=report(
            "results/report/figures/forecast_animation.gif", caption="../report/forecast_animation.rst", category="Forecasting"
        ),
    log:
        "logs/plot_forecast_figures.log",
    benchmark:
        benchmark_file("plot_forecast_figures")
    params:
        code=code_digest("karman.forecast.plots"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/karman.yaml"
    script:
        "../scripts/plot_forecast_figures.py"
