"""The Duffing oscillator through the real workflow (tiny_run holds both systems)."""

import json

import pandas as pd
import pytest
import yaml

from conftest import TINY_CONFIG, planned, write_config
from karman.duffing.oscillator import TARGETS
from karman.stores import open_store
from test_report import Tables, row

pytestmark = pytest.mark.workflow


def test_duffing_stages_write_their_outputs(tiny_run):
    results = tiny_run / "results/duffing"
    assert open_store(results / "curves.zarr")["response"].shape == (60, 24)
    assert open_store(results / "images.zarr")["response"].shape == (40, 12, 16, 3)
    for kind, samples in (("curves", 60), ("images", 40)):
        assignment = pd.read_csv(results / f"split/{kind}.csv")
        assert len(assignment) == samples and set(assignment["split"]) == {"train", "val", "test"}
    for name, files in (("ridge", ("model.npz",)), ("mlp", ("model.keras", "history.csv")), ("cnn", ("model.keras", "history.csv"))):
        directory = results / "models" / name
        for file in ("metrics.json", "predictions.csv", *files):
            assert (directory / file).stat().st_size > 0, (name, file)
        metrics = json.loads((directory / "metrics.json").read_text())
        assert metrics["targets"] == list(TARGETS) and set(metrics["test"]) == set(TARGETS)
    # the CNN read the images, the MLP the curves
    assert len(pd.read_csv(results / "models/cnn/predictions.csv")) == 40
    assert len(pd.read_csv(results / "models/mlp/predictions.csv")) == 60


def test_report_has_a_duffing_section_with_the_metrics_of_metrics_json(tiny_run):
    html = (tiny_run / "results/report/index.html").read_text()
    page = Tables(html)
    assert "Duffing oscillator: (ω0, γ, ε) from the response" in page.headings
    assert "Data" in page.headings  # and the vortex street's sections
    for figure in ("duffing-examples", "duffing-predicted-vs-true", "duffing-generalisation-gap", "duffing-learning-curves"):
        assert f'id="{figure}" src="data:image/png;base64,' in html
    for name in ("ridge", "mlp", "cnn"):
        metrics = json.loads((tiny_run / f"results/duffing/models/{name}/metrics.json").read_text())
        cells = row(page.tables["duffing-metrics"], name)
        # per target: train R², val R², test R², test RMSE
        assert cells[2] == "%.3f" % metrics["train"]["omega0"]["r2"]
        assert cells[4] == "%.3f" % metrics["test"]["omega0"]["r2"]
        assert cells[13] == "%.3g" % metrics["test"]["epsilon"]["rmse"]
    assert row(page.tables["duffing-splits"], "curves")[1:4] == ["48", "6", "6"]


def planned_with(workdir, tmp_path, duffing: dict) -> dict[str, int]:
    """Jobs a dry run would execute with `duffing` merged into the run's config."""
    change = tmp_path / "change.yaml"
    change.write_text(yaml.safe_dump({"duffing": duffing}))
    return planned(workdir, "--configfile", str(change))


def test_a_generator_setting_reruns_only_that_kind_and_what_reads_it(tiny_run, tmp_path):
    images_only = planned_with(tiny_run, tmp_path, {"images": {"noise": 0.25}})
    assert images_only == {"simulate_duffing": 1, "make_duffing_split": 1, "train_duffing_network": 1, "plot_duffing_examples": 1,
                           "plot_duffing_figures": 1, "render_report": 1, "all": 1}
    small_data = planned_with(tiny_run, tmp_path, {"split": {"train_samples": 16}})
    assert small_data == {"make_duffing_split": 2, "train_duffing_network": 2, "train_duffing_baseline": 1, "plot_duffing_figures": 1,
                          "render_report": 1, "all": 1}


def test_duffing_alone_runs_no_vortex_street_job(tmp_path):
    write_config(tmp_path, TINY_CONFIG | {"systems": ["duffing"]})
    jobs = planned(tmp_path)
    assert jobs["simulate_duffing"] == 2 and jobs["render_report"] == 1
    assert not {"simulate_flow", "compute_vorticity", "make_split", "train_network", "validate_flow_solver"} & set(jobs)
    write_config(tmp_path, TINY_CONFIG | {"systems": ["vortex"]})
    assert not {name for name in planned(tmp_path) if "duffing" in name}
