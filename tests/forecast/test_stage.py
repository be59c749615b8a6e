"""The forecast stage on a small synthetic store: its outputs, their contract, and no leakage."""

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from karman.check import violations
from karman.forecast.stage import run_forecast
from karman.forecast.store import ROLLOUT
from karman.stores import open_store, write_store

TASK = {"history": 4, "stride": 2, "horizon": 12, "future_fraction": 0.3}
FREQUENCIES = {100.0: 0.20, 200.0: 0.22, 300.0: 0.24}  # St of each group's travelling wave
DT = 0.1  # D/U between stored frames


def wave_store(path, frames=80):
    """A vorticity-like store: a travelling wave per Reynolds number, NaN inside a disc, times shuffled across groups."""
    y, x = np.linspace(-1, 1, 10), np.linspace(-0.5, 4.5, 14)
    disc = x[np.newaxis, :] ** 2 + y[:, np.newaxis] ** 2 <= 0.25
    samples, groups, times = [], [], []
    for reynolds, frequency in FREQUENCIES.items():
        for k in range(frames):
            t = k * DT
            field = np.sin(2 * np.pi * (x[np.newaxis, :] / 2 - frequency * t)) * np.cos(np.pi * y[:, np.newaxis] / 2)
            samples.append(np.where(disc, np.nan, field))
            groups.append(reynolds)
            times.append(t)
    order = np.random.default_rng(0).permutation(len(samples))
    store = xr.Dataset(
        {"vorticity": (("sample", "y", "x"), np.asarray(samples, np.float32)[order])},
        coords={"reynolds": ("sample", np.asarray(groups)[order]), "time": ("sample", np.asarray(times)[order]), "y": y, "x": x},
        attrs={"targets": ["reynolds"], "grouping": "reynolds"},
    )
    write_store(store, path, chunks={"sample": 16})
    return open_store(path)


@pytest.fixture
def forecast(tmp_path):
    def run(spec, held_out=(200.0,), folder=None):
        store = wave_store(tmp_path / "vorticity.zarr")
        out = tmp_path / (folder or spec["type"])
        out.mkdir()
        result = run_forecast(tmp_path / "vorticity.zarr", out / "rollout.zarr", out / "metrics.json", out / "errors.csv",
                              out / "timings.json", name=spec["type"], spec=spec, task=TASK, held_out=list(held_out),
                              probe={"x": 2.0, "y": 0.5}, threads=2)
        return store, out, result
    return run


def test_the_rollout_store_keeps_its_contract_and_the_times_of_the_frames_it_predicts(forecast):
    store, out, result = forecast({"type": "persistence"})
    assert violations(out / "rollout.zarr", ROLLOUT) == []
    rollout = open_store(out / "rollout.zarr")
    assert list(rollout["reynolds"].values) == [100.0, 200.0, 300.0]
    assert list(rollout["test"].values) == ["future", "unseen-re", "future"]
    assert rollout.sizes == {"reynolds": 3, "lead": 12, "y": 10, "x": 14} and list(rollout["lead"].values) == list(range(1, 13))
    assert rollout.attrs["history"] == 4 and rollout.attrs["stride"] == 2 and rollout.attrs["dt"] == pytest.approx(2 * DT)
    for reynolds in rollout["reynolds"].values:
        times = rollout["time"].sel(reynolds=reynolds).values
        own = np.sort(store["time"].values[store["reynolds"].values == reynolds])
        assert np.isin(times, own).all() and np.allclose(np.diff(times), 2 * DT)  # exactly frames of the store, one step apart
    unseen = rollout["time"].sel(reynolds=200.0).values
    assert unseen[0] == pytest.approx(4 * 2 * DT)  # right after the first `history` steps
    # persistence repeats the last history frame: it equals the store's frame one step before lead 1
    last = store["vorticity"].values[(store["reynolds"].values == 200.0) & np.isclose(store["time"].values, unseen[0] - 2 * DT)][0]
    np.testing.assert_array_equal(rollout["vorticity"].sel(reynolds=200.0).values[5], last)


def test_metrics_and_errors_follow_the_rollouts(forecast):
    _, out, result = forecast({"type": "dmd"})
    metrics = json.loads((out / "metrics.json").read_text())
    assert [r["test"] for r in metrics["rollouts"]] == ["future", "unseen-re", "future"]
    unseen = metrics["rollouts"][1]
    assert unseen["reynolds"] == 200.0 and unseen["valid_time"]["0.9"]["steps"] == 12  # DMD continues a travelling wave
    assert unseen["vrmse_at_lead"]["1"] < 1e-3 and unseen["one_step"]["nrmse"] < 1e-3
    assert set(unseen["vrmse_at_lead"]) == {"1", "6", "10", "12"}
    errors = pd.read_csv(out / "errors.csv")
    assert list(errors.columns[:4]) == ["model", "test", "reynolds", "lead"] and {"vrmse", "correlation"} <= set(errors.columns)
    assert len(errors) == 3 * 12 and (errors["model"] == "dmd").all()


def test_persistence_loses_its_correlation_as_the_wave_moves_on(forecast):
    _, out, _ = forecast({"type": "persistence"})
    errors = pd.read_csv(out / "errors.csv")
    unseen = errors[errors["test"] == "unseen-re"].set_index("lead")["correlation"]
    assert unseen[1] > 0.9 > unseen[12]


def test_a_held_out_group_not_in_the_store_is_named(forecast):
    with pytest.raises(ValueError, match="held-out reynolds 250 not in the store"):
        forecast({"type": "persistence"}, held_out=(250.0,))


def keys_of(value) -> set[str]:
    """Every key of a JSON value, however deep."""
    if isinstance(value, dict):
        return set(value) | set().union(*map(keys_of, value.values()))
    if isinstance(value, list):
        return set().union(set(), *map(keys_of, value))
    return set()


@pytest.mark.parametrize("spec", [{"type": "ridge", "rank": 8},
                                  {"type": "cnn", "filters": [4, 8], "epochs": 3, "patience": 1, "batch_size": 16, "seed": 0}],
                         ids=["ridge", "cnn"])
def test_two_identical_runs_write_the_same_metrics_and_the_seconds_apart(forecast, spec):
    _, first, _ = forecast(spec, folder="first")
    _, second, _ = forecast(spec, folder="second")
    assert (first / "metrics.json").read_bytes() == (second / "metrics.json").read_bytes()
    assert not any("second" in key for key in keys_of(json.loads((first / "metrics.json").read_text())))
    timings = json.loads((first / "timings.json").read_text())
    assert timings["fit_seconds"] > 0 and timings["rollout_seconds"] > 0 and timings["frames_forecast"] == 3 * TASK["horizon"]
    assert timings["frames_per_second"] == pytest.approx(timings["frames_forecast"] / timings["rollout_seconds"])
