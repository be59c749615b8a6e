"""The driven Duffing oscillator: physics of the integrator, the sample stores, split and training."""

import json

import numpy as np
import pandas as pd
import pytest
from snakemake.utils import validate

from conftest import REPO, TINY_DUFFING
from karman.duffing import oscillator, samples
from karman.check import violations
from karman.split import random_split, write_split
from karman.stores import open_store
from karman.train import train_model

SWEEP = {"frequency": [-4.0, 4.0], "duration": 200.0, "steps": 400}


def settings(**changes) -> dict:
    """The schema's Duffing defaults with TINY_DUFFING's sizes and `changes` on top."""
    config = {"duffing": json.loads(json.dumps(TINY_DUFFING))}
    validate(config, str(REPO / "schemas/config.schema.yaml"))
    section = config["duffing"]
    for key, value in changes.items():
        section[key] = section[key] | value if isinstance(value, dict) else value
    return section


def sweep_frequencies(sweep: dict) -> np.ndarray:
    return oscillator.drive_frequency(np.linspace(0, sweep["duration"], sweep["steps"] + 1), sweep)


def test_linear_steady_response_is_the_lorentzian_for_a_slow_sweep():
    slow = SWEEP | {"duration": 4000.0, "steps": 8000}
    omega0, gamma, force = 0.3, 1.0, 0.1
    response = oscillator.sweep_response(omega0, gamma, 0.0, force, slow)
    omega = sweep_frequencies(slow)
    lorentzian = force / np.sqrt((omega - omega0) ** 2 + (gamma / 2) ** 2)
    settled = omega > -3  # after the start-up transient
    np.testing.assert_allclose(response[settled], lorentzian[settled], rtol=0.01)
    # the notes' sweep, 20x faster, lags the steady state visibly: the test needs the slow one
    fast = oscillator.sweep_response(omega0, gamma, 0.0, force, SWEEP)
    fast_omega = sweep_frequencies(SWEEP)
    assert np.max(np.abs(fast - force / np.sqrt((fast_omega - omega0) ** 2 + gamma**2 / 4))) > 0.02


def test_nonlinearity_bends_the_peak_towards_positive_shift():
    omega0, gamma, force = 0.0, 1.0, 1.0
    omega = sweep_frequencies(SWEEP)
    linear = oscillator.sweep_response(omega0, gamma, 0.0, force, SWEEP)
    fin = oscillator.sweep_response(omega0, gamma, 0.15, force, SWEEP)
    peak = np.argmax(fin)
    # the peak moves up in frequency by about ε|z|², far beyond the linear lag of the sweep
    assert omega[peak] - omega[np.argmax(linear)] > 0.5 * 0.15 * fin[peak] ** 2
    # shark fin: a slow rise, then a steep drop where the upward sweep leaves the upper branch
    def steepness(response):
        top, slope = np.argmax(response), np.diff(response)
        settled = omega[:-1] > -3  # after the start-up transient
        return -slope[top:].min() / slope[settled & (np.arange(len(slope)) < top)].max()

    assert steepness(fin) > 4 and steepness(linear) < 2


def test_rk4_error_falls_sixteenfold_when_the_step_is_halved():
    def every_hundredth(steps):
        return oscillator.sweep_response(0.2, 0.8, 0.1, 1.0, SWEEP | {"steps": steps})[:: steps // 100]

    reference = every_hundredth(25600)
    ratio = np.abs(every_hundredth(1600) - reference).max() / np.abs(every_hundredth(3200) - reference).max()
    assert 13 < ratio < 19


def test_vectorised_integrator_equals_the_per_sample_loop():
    rng = np.random.default_rng(1)
    omega0, gamma, epsilon = rng.uniform(-1, 1, 5), rng.uniform(0.5, 1.5, 5), rng.uniform(0, 0.15, 5)
    np.testing.assert_allclose(oscillator.sweep_response(omega0, gamma, epsilon, 1.0, SWEEP, initial=0.01j),
                               oscillator.sweep_response_per_sample(omega0, gamma, epsilon, 1.0, SWEEP, initial=0.01j), rtol=1e-12, atol=1e-14)


def test_sample_stores_follow_the_contract(tmp_path):
    config = settings()
    for kind in samples.KINDS:
        samples.write_samples(tmp_path / f"{kind}.zarr", kind=kind, settings=config)
    curves, images = open_store(tmp_path / "curves.zarr"), open_store(tmp_path / "images.zarr")
    assert violations(tmp_path / "curves.zarr", samples.CONTRACT["curves"], deep=True) == []
    assert violations(tmp_path / "images.zarr", samples.CONTRACT["images"], deep=True) == []
    assert violations(tmp_path / "curves.zarr", samples.CONTRACT["images"])  # the contracts tell the kinds apart
    assert curves["response"].dims == ("sample", "frequency") and curves["response"].shape == (60, 24)
    assert images["response"].dims == ("sample", "force", "frequency", "channel") and images["response"].shape == (40, 12, 16, 3)
    for store, kind in ((curves, "curves"), (images, "images")):
        assert store["response"].dtype == np.float32
        assert store["response"].encoding["chunks"][0] == 16  # chunked along sample
        assert store.attrs["targets"] == list(oscillator.TARGETS) and store.attrs["kind"] == kind
        assert json.loads(store.attrs["generator_settings"]) == config
        for name in oscillator.TARGETS:
            low, high = config["parameters"][name]
            assert store[name].dims == ("sample",) and low <= store[name].min() and store[name].max() <= high
    assert not np.allclose(curves["omega0"][:40], images["omega0"])  # independent draws
    image = images["response"].isel(sample=3)
    np.testing.assert_allclose(image.sel(channel="frequency").isel(force=0), oscillator.frequency_bins(config["sweep"], 16), rtol=1e-6)
    np.testing.assert_allclose(image.sel(channel="force").isel(frequency=0), np.linspace(0.1, 2.0, 12), rtol=1e-6)


def test_image_noise_has_the_configured_strength_and_the_same_seed_the_same_samples(tmp_path):
    clean = samples.samples_dataset("images", settings(images={"noise": 0.0})).compute()
    noisy = samples.samples_dataset("images", settings(images={"noise": 0.5})).compute()
    rechunked = samples.samples_dataset("images", settings(images={"noise": 0.5}, sample_chunk=7)).compute()
    noise = (noisy - clean)["response"].sel(channel="response").values
    assert noise.std() == pytest.approx(0.5, rel=0.05) and abs(noise.mean()) < 0.02
    np.testing.assert_array_equal(noisy["response"].values, rechunked["response"].values)  # independent of the chunking
    other_seed = samples.samples_dataset("images", settings(seed=1, images={"noise": 0.5})).compute()
    assert not np.allclose(other_seed["omega0"], noisy["omega0"])


def test_a_diverging_integration_fails_naming_the_step_and_writes_nothing(tmp_path):
    with pytest.raises(oscillator.IntegrationError, match=r"duffing\.sweep\.steps = 100 .*raise duffing\.sweep\.steps"):
        samples.write_samples(tmp_path / "curves.zarr", kind="curves", settings=settings(sweep={"steps": 100}))
    assert list(tmp_path.iterdir()) == []


def test_small_data_split_keeps_val_and_test():
    fractions = {"train": 0.8, "val": 0.1, "test": 0.1}
    full, small = random_split(1000, fractions, 0), random_split(1000, fractions, 0, train_samples=64)
    assert (small == "train").sum() == 64 and (small == "unused").sum() == 800 - 64
    for split in ("val", "test"):
        np.testing.assert_array_equal(full == split, small == split)
    assert set(np.flatnonzero(small == "train")) < set(np.flatnonzero(full == "train"))
    with pytest.raises(ValueError, match="split.train_samples = 900"):
        random_split(1000, fractions, 0, train_samples=900)


@pytest.fixture(scope="module")
def curves(tmp_path_factory):
    root = tmp_path_factory.mktemp("duffing")
    samples.write_samples(root / "curves.zarr", kind="curves", settings=settings(curves={"samples": 400, "frequency_bins": 50}), threads=2)
    return root


KERAS = {"dropout": 0.0, "optimizer": "adam", "learning_rate": 3e-3, "seed": 0, "activation": "tanh", "standardise": "per-cell"}


def test_models_predict_every_target_and_report_train_val_test(curves, tmp_path):
    import keras

    split = {"strategy": "random", "fractions": {"train": 0.8, "val": 0.1, "test": 0.1}, "seed": 0}
    write_split(curves / "curves.zarr", tmp_path / "split.csv", tmp_path / "split.json", settings=split)
    ridge = train_model(curves / "curves.zarr", tmp_path / "split.csv", tmp_path / "ridge", spec={"type": "ridge", "alphas": [0.1, 1.0]})
    mlp = train_model(curves / "curves.zarr", tmp_path / "split.csv", tmp_path / "mlp", threads=2,
                      spec={"type": "mlp", "hidden_units": [32], "batch_size": 16, "epochs": 40, "patience": 10, **KERAS})
    for metrics in (ridge, mlp):
        assert metrics["targets"] == list(oscillator.TARGETS)
        assert set(metrics) >= {"train", "val", "test"} and set(metrics["test"]) == set(oscillator.TARGETS)
        assert {"r2", "rmse", "mae"} <= set(metrics["test"]["omega0"])
    assert mlp["test"]["omega0"]["r2"] > 0.9 and ridge["test"]["omega0"]["r2"] > 0.8  # the peak position is easy
    predictions = pd.read_csv(tmp_path / "mlp/predictions.csv")
    assert list(predictions.columns) == ["sample", "split", *(f"true_{n}" for n in oscillator.TARGETS), *(f"predicted_{n}" for n in oscillator.TARGETS)]
    model = keras.saving.load_model(tmp_path / "mlp/model.keras")
    inputs = open_store(curves / "curves.zarr")["response"].values
    np.testing.assert_allclose(model.predict(inputs, verbose=0), predictions[[f"predicted_{n}" for n in oscillator.TARGETS]], rtol=1e-4, atol=1e-5)
    true = open_store(curves / "curves.zarr")
    np.testing.assert_allclose(predictions["true_gamma"], true["gamma"].values)


def test_small_data_case_overfits(curves, tmp_path):
    split = {"strategy": "random", "fractions": {"train": 0.8, "val": 0.1, "test": 0.1}, "seed": 0, "train_samples": 32}
    write_split(curves / "curves.zarr", tmp_path / "split.csv", tmp_path / "split.json", settings=split)
    # no early stopping (patience = epochs): as in the notes, many epochs on a few fixed samples, the last weights kept
    metrics = train_model(curves / "curves.zarr", tmp_path / "split.csv", tmp_path / "mlp", threads=2,
                          spec={"type": "mlp", "hidden_units": [100], "batch_size": 8, "epochs": 300, "patience": 300, **KERAS})
    assert json.loads((tmp_path / "split.json").read_text())["counts"] == {"train": 32, "val": 40, "test": 40, "unused": 288}
    gaps = {target: metrics["test"][target]["rmse"] / metrics["train"][target]["rmse"] for target in oscillator.TARGETS}
    # every parameter is fitted better on the training curves than on fresh ones, by 1.5x on average
    assert min(gaps.values()) > 1 and np.prod(list(gaps.values())) ** (1 / len(gaps)) > 1.5, gaps
