"""What the benchmarks of several stages share: the default grid and fields settings,
timing, and running the real workflow."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GRID = (128, 256)  # the default config's lattice (ny, nx)
CROP = {"x": [-0.5, 4.5], "y": [-2.5, 2.5]}
NO_DOWNSAMPLE = {"factor": 1, "method": "stride"}
SAMPLE_CHUNK = 64


def median_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def default_config() -> dict:
    """The repository's config.yaml, as a dict."""
    import yaml

    return yaml.safe_load((REPO / "config.yaml").read_text())


def sweep_config() -> dict:
    """config.yaml with config/sweep.yaml merged into it (as `--configfile config/sweep.yaml` does) and the schema's defaults."""
    import yaml
    from snakemake.utils import update_config, validate

    config = default_config()
    update_config(config, yaml.safe_load((REPO / "config/sweep.yaml").read_text()))
    validate(config, str(REPO / "schemas/config.schema.yaml"))
    return config


def run_workflow(workdir: Path, config: dict, targets: tuple[str, ...] = ("all",), *options: str) -> None:
    """The real workflow (this checkout's Snakefile) with `config` in `workdir`, on 2 cores,
    with Snakemake's `options`.

    `workdir` is kept, so that later runs reuse its outputs.
    """
    import yaml

    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "2", *targets, "--quiet", "all", *options],
                   check=True)
