"""The real workflow, run by Snakemake on a tiny configuration in a temporary directory."""

import json
import re
import shutil
import subprocess
import zipfile

import numpy as np
import pandas as pd
import pytest

from karman.check import violations
from karman.forecast.store import ROLLOUT
from karman.duffing.report import FIGURES as DUFFING_FIGURES
from karman.vortex.report import FIGURES as VORTEX_FIGURES
from karman.vortex.report import FORECAST_FIGURES
from karman.vortex.store import FLOW, VORTICITY
from karman.vortex.plots import physics_points
from karman.vortex.sweep import store_name
from karman.stores import open_store

from conftest import REPO, snakemake_command, TINY_CONFIG, planned, snakemake, write_config


@pytest.mark.workflow
def test_flow_stores(tiny_run):
    for reynolds in (150, 300, 450):
        flow = open_store(tiny_run / f"results/flow/{store_name(reynolds)}.zarr")
        assert flow["u"].dims == ("time", "y", "x") and flow["u"].dtype == np.float32
        assert flow.sizes["time"] == 12
        assert flow.attrs["reynolds"] == reynolds and flow.attrs["source"] == "simulate"
        assert flow.attrs["solver_parameters"]["diameter_cells"] == 6
        assert violations(tiny_run / f"results/flow/{store_name(reynolds)}.zarr", FLOW, deep=True) == []


@pytest.mark.workflow
def test_the_physics_figure_draws_the_stores_own_strouhal_and_drag(tiny_run):
    flows = json.loads((tiny_run / "results/flow/summary.json").read_text())["flows"]
    for key in ("strouhal", "drag_coefficient"):
        drawn = dict(sum(physics_points(flows, key), []))
        for reynolds in (150, 300, 450):
            measured = open_store(tiny_run / f"results/flow/{store_name(reynolds)}.zarr").attrs[key]
            if np.isfinite(measured):
                assert drawn[reynolds] == pytest.approx(measured, rel=1e-12), (key, reynolds)
            else:  # too short a window to measure: not drawn, and shown as missing
                assert reynolds not in drawn


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
    assert violations(tiny_run / "results/fields/vorticity.zarr", VORTICITY, deep=True) == []


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
    assert html.count('src="data:image/png;base64,') == len(VORTEX_FIGURES) + len(FORECAST_FIGURES) - 1 + len(DUFFING_FIGURES)  # both systems' figures
    assert html.count('src="data:image/gif;base64,R0lGOD') == 1  # the forecast animation: a GIF ("GIF8" in base64)
    # Nothing is fetched from anywhere: no external scripts, styles or images.
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<script" not in html and "<link" not in html


@pytest.mark.workflow
def test_second_run_has_nothing_to_do(tiny_run):
    result = snakemake(tiny_run, "--cores", "2", "--dry-run")
    assert "Nothing to be done" in result.stdout + result.stderr


@pytest.mark.workflow
def test_subset_target_runs_only_what_it_needs(tiny_run):
    assert planned(tiny_run, "results/models/ridge/metrics.json", "--forcerun", "train_baseline") == {"train_baseline": 1}


@pytest.mark.workflow
def test_lint_is_clean():
    result = subprocess.run([*snakemake_command(), "--lint"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations, your workflow is in a good condition" in result.stdout + result.stderr


@pytest.mark.workflow
def test_snakemake_report_collects_every_figure(tiny_run):
    snakemake(tiny_run, "--report", "report.zip")
    with zipfile.ZipFile(tiny_run / "report.zip") as archive:
        names = "\n".join(archive.namelist())
    for figure in ("gallery.png", "class_balance.png", "embedding.png", "physics.png", "predicted_vs_true.png", "error_by_reynolds.png",
                   "learning_curves.png", "examples.png", "generalisation_gap.png", "forecast_errors.png", "forecast_strip.png",
                   "forecast_animation.gif"):
        assert figure in names


@pytest.mark.workflow
def test_every_forecaster_is_scored_on_both_tests_and_shown_in_the_report(tiny_run):
    html = (tiny_run / "results/report/index.html").read_text()
    assert 'id="forecasting"' in html and 'id="forecast-errors"' in html and 'id="forecast-strip"' in html
    assert 'id="forecast-animation" src="data:image/gif;base64,' in html
    for name in TINY_CONFIG["forecast"]["models"]:
        result = json.loads((tiny_run / f"results/forecast/{name}/metrics.json").read_text())
        assert [(r["test"], r["reynolds"]) for r in result["rollouts"]] == [("future", 150.0), ("unseen-re", 300.0), ("future", 450.0)]
        assert violations(tiny_run / f"results/forecast/{name}/rollout.zarr", ROLLOUT) == []
        unseen = result["rollouts"][1]
        assert f"<td>{unseen['vrmse_at_lead']['1']:.3f}</td>" in html  # the table shows each forecaster's numbers
        timings = json.loads((tiny_run / f"results/forecast/{name}/timings.json").read_text())
        assert f"<td>{timings['frames_per_second']:.0f}</td></tr>" in html  # its speed, from timings.json
    assert json.loads((tiny_run / "results/forecast/cnn/metrics.json").read_text())["fit"]["epochs"] >= 1
    # The goals, for the only Keras forecaster; a horizon of 3 has no lead 10 and no Strouhal number to compare.
    goals = html[html.index('id="forecast-goals"'):html.index("</table>", html.index('id="forecast-goals"'))]
    assert "<code>cnn</code>" in html and "correlation with the truth ≥ 0.9 for at least 5 shedding periods" in goals
    assert "no blow-up over 10 shedding periods" in goals and "the rollouts hold no St: too short to tell" in goals
    assert "no lead 10 (a shorter horizon)" in goals and goals.count("cannot tell") == 4


@pytest.mark.workflow
def test_a_forecasters_setting_reruns_only_that_forecaster_and_the_report(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, symlinks=True)
    config = json.loads(json.dumps(TINY_CONFIG))
    config["forecast"]["models"]["ridge"]["rank"] = 3
    write_config(run, config)
    assert planned(run) == {"forecast_vorticity": 1, "plot_forecast_figures": 1, "render_report": 1, "all": 1}
