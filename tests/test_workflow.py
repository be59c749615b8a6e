"""The real workflow, run by Snakemake on a tiny configuration in a temporary directory."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from karman.check import violations
from karman.stores import open_store

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]

KERAS_TINY = {"epochs": 3, "patience": 2, "batch_size": 8}
TINY_CONFIG = {
    "reynolds": [150, 300, 450],
    "flow": {"diameter_cells": 6, "domain_length": 12, "domain_height": 6, "cylinder_x": 3,
             "spinup_time": 12, "sample_time": 6, "sample_interval": 0.5},
    "fields": {"crop": {"x": [-0.5, 4.5], "y": [-2, 2]}, "downsample": {"factor": 2, "method": "mean"}, "sample_chunk": 5},
    "split": {"strategy": "blocked", "blocks": 4, "gap": 1, "fractions": {"train": 0.5, "val": 0.25, "test": 0.25}, "seed": 1,
              "compare": ["random", "holdout-re"], "holdout_reynolds": [300]},
    "models": {
        "ridge": {"type": "ridge"},
        "mlp": {"type": "mlp", "hidden_units": [8], **KERAS_TINY},
        "cnn": {"type": "cnn", "filters": [4], "dense_units": [8], **KERAS_TINY},
    },
}


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([*SNAKEMAKE, "--directory", str(workdir), *args], capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return result


def write_config(workdir: Path, config: dict) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tiny")
    write_config(workdir, TINY_CONFIG)
    snakemake(workdir, "--cores", "2")
    return workdir


@pytest.mark.workflow
def test_flow_stores(tiny_run):
    for reynolds in (150, 300, 450):
        flow = open_store(tiny_run / f"results/flow/re{reynolds}.zarr")
        assert flow["u"].dims == ("time", "y", "x") and flow["u"].dtype == np.float32
        assert flow.sizes["time"] == 12
        assert flow.attrs["reynolds"] == reynolds and flow.attrs["source"] == "simulate"
        assert flow.attrs["solver_parameters"]["diameter_cells"] == 6
        assert violations(tiny_run / f"results/flow/re{reynolds}.zarr", "flow", deep=True) == []


@pytest.mark.workflow
def test_vorticity_store(tiny_run):
    fields = open_store(tiny_run / "results/fields/vorticity.zarr")
    vorticity = fields["vorticity"]
    assert vorticity.dims == ("sample", "y", "x") and vorticity.dtype == np.float32
    assert vorticity.sizes["sample"] == 36
    assert vorticity.chunks[0][0] == 5
    assert sorted(set(fields.reynolds.values)) == [150.0, 300.0, 450.0]
    assert float(fields.x.min()) >= -0.5 and float(fields.x.max()) <= 4.5
    assert np.isfinite(vorticity.values).any()
    assert violations(tiny_run / "results/fields/vorticity.zarr", "vorticity", deep=True) == []


@pytest.mark.workflow
def test_split_outputs(tiny_run):
    assignment = pd.read_csv(tiny_run / "results/split/assignment.csv")
    assert sorted(assignment["sample"]) == list(range(36))
    assert set(assignment["split"]) == {"train", "val", "test", "gap"}  # blocked, with gaps
    summary = json.loads((tiny_run / "results/split/summary.json").read_text())
    assert summary["strategy"] == "blocked"
    assert summary["counts"] == assignment["split"].value_counts().to_dict()
    assert set(summary["counts_per_reynolds"]) == {"150", "300", "450"}


@pytest.mark.workflow
def test_split_comparison(tiny_run):
    holdout = pd.read_csv(tiny_run / "results/comparison/holdout-re/split/assignment.csv")
    assert set(holdout.loc[holdout["split"] == "test", "reynolds"]) == {300.0}
    html = (tiny_run / "results/report/index.html").read_text()
    assert 'id="comparison"' in html
    for strategy in ("random", "holdout-re"):
        for model in ("ridge", "mlp", "cnn"):
            metrics = json.loads((tiny_run / f"results/comparison/{strategy}/models/{model}/metrics.json").read_text())
            assert metrics["test"]["n"] > 0
    r2 = json.loads((tiny_run / "results/comparison/random/models/ridge/metrics.json").read_text())["test"]["r2"]
    assert f"{r2:.4f}" in html


@pytest.mark.workflow
@pytest.mark.parametrize("model, files", [
    ("ridge", ["model.npz"]),
    ("mlp", ["model.keras", "history.csv"]),
    ("cnn", ["model.keras", "history.csv"]),
])
def test_model_outputs(tiny_run, model, files):
    directory = tiny_run / "results/models" / model
    for name in files:
        assert (directory / name).stat().st_size > 0
    metrics = json.loads((directory / "metrics.json").read_text())
    for split in ("val", "test"):
        assert {"r2", "mae", "rmse"} <= set(metrics[split])
    predictions = pd.read_csv(directory / "predictions.csv")
    assert len(predictions) == 36 and set(predictions.columns) == {"sample", "split", "true", "predicted"}


@pytest.mark.workflow
def test_report_is_self_contained(tiny_run):
    html = (tiny_run / "results/report/index.html").read_text()
    for model in ("ridge", "mlp", "cnn"):
        metrics = json.loads((tiny_run / f"results/models/{model}/metrics.json").read_text())
        assert f"{metrics['test']['r2']:.4f}" in html
    assert html.count('src="data:image/png;base64,') == 3
    # Nothing is fetched from anywhere: no external scripts, styles or images.
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<script" not in html and "<link" not in html


@pytest.mark.workflow
def test_second_run_has_nothing_to_do(tiny_run):
    result = snakemake(tiny_run, "--cores", "2", "--dry-run")
    assert "Nothing to be done" in result.stdout + result.stderr


@pytest.mark.workflow
def test_subset_target_runs_only_what_it_needs(tiny_run):
    (tiny_run / "results/models/ridge/metrics.json").unlink()
    result = snakemake(tiny_run, "--cores", "1", "--dry-run", "results/models/ridge/metrics.json")
    out = result.stdout
    assert "train_baseline" in out and "train_network" not in out and "simulate_flow" not in out


def test_lint_is_clean():
    result = subprocess.run([*SNAKEMAKE, "--lint"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations, your workflow is in a good condition" in result.stdout + result.stderr
