# Datasets for other tools: the vortex street in The Well's HDF5 layout (karman.vortex.the_well),
# written by `snakemake export_the_well`, or in every run with export.formats: [the-well].


THE_WELL_EXPORT = f"results/export/the_well/{config['export']['dataset_name']}"
EXPORTS = [THE_WELL_EXPORT] if "the-well" in config["export"]["formats"] else []
RUN_TARGETS.extend(EXPORTS)


rule export_the_well:
    input:
        flows=flow_stores,
        samples="results/fields/vorticity.zarr",
    output:
        directory(THE_WELL_EXPORT),
    log:
        "logs/export_the_well.log",
    benchmark:
        benchmark_file("export_the_well")
    params:
        dataset_name=config["export"]["dataset_name"],
        license=config["export"]["license"],
        held_out=canonical(FORECAST_UNSEEN),
        future_fraction=FORECAST["future_fraction"],
        code=code_digest("karman.vortex.the_well"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../envs/karman.yaml"
    script:
        "../scripts/export_the_well.py"
