import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from karman.keras_fit import configure_keras, gpu_devices
from karman.split import assign
from karman.stores import write_store
from karman.train import load_ridge, train_model

KERAS_DEFAULTS = dict(activation="relu", dropout=0.0, standardise="global", optimizer="adam", learning_rate=3e-3, batch_size=16, epochs=40, patience=10, seed=0)
SPECS = {
    "ridge": {"type": "ridge", "alphas": [0.1, 1.0, 10.0]},
    "mlp": {"type": "mlp", "hidden_units": [16], **KERAS_DEFAULTS},
    "cnn": {"type": "cnn", "filters": [4], "kernel_size": 3, "dense_units": [8], "strides": 1, "padding": "same", "pooling": True, **KERAS_DEFAULTS},
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Synthetic snapshots: a vortex-like blob whose strength grows with Re, plus noise and a split."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    reynolds = np.repeat([300.0, 600.0, 900.0, 1200.0], 40)
    y = x = np.linspace(-1, 1, 12)
    blob = np.exp(-(x[None, :] ** 2 + y[:, None] ** 2) / 0.2)
    snapshots = (reynolds[:, None, None] / 300 * blob + 0.1 * rng.standard_normal((len(reynolds), 12, 12))).astype(np.float32)
    snapshots[:, 0, 0] = np.nan  # a masked cell, as inside the cylinder
    store = xr.Dataset(
        {"vorticity": (("sample", "y", "x"), snapshots)},
        coords={"sample": np.arange(len(reynolds)), "reynolds": ("sample", reynolds), "time": ("sample", np.tile(np.arange(40) * 0.1, 4)), "y": y, "x": x},
        attrs={"targets": ["reynolds"], "grouping": "reynolds"},  # what the store declares to the shared stages
    )
    write_store(store, root / "vorticity.zarr", chunks={"sample": 32})
    table = pd.DataFrame({"sample": store.sample.values, "reynolds": reynolds, "time": store.time.values})
    assign(table, {"strategy": "random", "fractions": {"train": 0.6, "val": 0.2, "test": 0.2}, "seed": 0}, "reynolds").to_csv(root / "assignment.csv", index=False)
    return root


@pytest.mark.parametrize("name", ["ridge", "mlp", "cnn"])
def test_model_trains_and_writes_its_outputs(dataset, tmp_path, name):
    out = tmp_path / name
    metrics = train_model(dataset / "vorticity.zarr", dataset / "assignment.csv", out, spec=SPECS[name], backend="tensorflow", threads=1)
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(metrics))
    for split in ("val", "test"):
        assert set(metrics[split]) >= {"r2", "mae", "rmse", "per_reynolds"}
        assert set(metrics[split]["per_reynolds"]) == {"300", "600", "900", "1200"}
    predictions = pd.read_csv(out / "predictions.csv")
    assert list(predictions.columns) == ["sample", "split", "true", "predicted"]
    assert len(predictions) == 160 and np.isfinite(predictions["predicted"]).all()
    # The pattern encodes Re, so every model must beat predicting the mean by far.
    assert metrics["test"]["r2"] > 0.5, metrics["test"]


def test_keras_model_reloads_and_predicts_the_same(dataset, tmp_path):
    import keras

    out = tmp_path / "mlp"
    train_model(dataset / "vorticity.zarr", dataset / "assignment.csv", out, spec=SPECS["mlp"], backend="tensorflow")
    history = pd.read_csv(out / "history.csv")
    assert {"epoch", "loss", "val_loss"} <= set(history.columns) and len(history) >= 1
    model = keras.saving.load_model(out / "model.keras")
    snapshots = np.nan_to_num(xr.open_zarr(dataset / "vorticity.zarr", consolidated=False)["vorticity"].values)
    predicted = model.predict(snapshots.reshape(len(snapshots), -1), verbose=0).reshape(-1)
    np.testing.assert_allclose(predicted, pd.read_csv(out / "predictions.csv")["predicted"], rtol=1e-4)


@pytest.mark.parametrize("patience, kept", [(3, "best"), (40, "last")])
def test_early_stopping_keeps_the_best_epoch_and_no_early_stopping_the_last(dataset, tmp_path, patience, kept):
    out = tmp_path / "mlp"
    spec = SPECS["mlp"] | {"learning_rate": 0.03, "epochs": 40, "patience": patience}
    train_model(dataset / "vorticity.zarr", dataset / "assignment.csv", out, spec=spec, backend="tensorflow")
    val_loss = pd.read_csv(out / "history.csv")["val_loss"]
    assert val_loss.iloc[-1] > val_loss.min()  # the epochs differ, so the test can tell which was kept
    predictions = pd.read_csv(out / "predictions.csv")
    train, val = predictions[predictions["split"] == "train"], predictions[predictions["split"] == "val"]
    saved_loss = (((val["predicted"] - val["true"]) / train["true"].std(ddof=0)) ** 2).mean()  # the loss is on standardised Re
    if kept == "last":
        assert len(val_loss) == 40
    assert saved_loss == pytest.approx(val_loss.min() if kept == "best" else val_loss.iloc[-1], rel=1e-3)


def test_ridge_is_saved_as_plain_arrays(dataset, tmp_path):
    out = tmp_path / "ridge"
    train_model(dataset / "vorticity.zarr", dataset / "assignment.csv", out, spec=SPECS["ridge"], backend="tensorflow")
    with np.load(out / "model.npz", allow_pickle=False) as arrays:  # fails on pickled content
        assert set(arrays.files) == {"coef", "intercept", "alpha"}
    snapshots = np.nan_to_num(xr.open_zarr(dataset / "vorticity.zarr", consolidated=False)["vorticity"].values)
    np.testing.assert_allclose(load_ridge(out / "model.npz")(snapshots), pd.read_csv(out / "predictions.csv")["predicted"], rtol=1e-5)


def test_same_seed_gives_the_same_metrics(dataset, tmp_path):
    first = train_model(dataset / "vorticity.zarr", dataset / "assignment.csv", tmp_path / "a", spec=SPECS["cnn"], backend="tensorflow")
    second = train_model(dataset / "vorticity.zarr", dataset / "assignment.csv", tmp_path / "b", spec=SPECS["cnn"], backend="tensorflow")
    assert first["test"] == second["test"]


def streamed_and_in_memory_losses(root, backend: str) -> tuple[dict, dict]:
    """Losses of `fit` on the streamed input, and of the same model given each epoch's
    batches of order e from memory, epoch by epoch."""
    from karman.keras_fit import configure_keras
    from karman.loader import SnapshotBatches, keras_fit_data
    from karman.stores import open_store
    from karman.train import build_keras_model

    keras = configure_keras(backend, seed=0, threads=1, gpu=False)
    field = open_store(root / "vorticity.zarr")["vorticity"]
    targets = (field["reynolds"].values / 1200).astype(np.float32)
    train, val = np.arange(0, 120), np.arange(120, 160)

    def batches(samples, shuffle):  # two chunks per shuffle window, so the order changes per epoch
        return SnapshotBatches(field, samples, targets[samples], 16, shuffle=shuffle, seed=3, flatten=True, shuffle_mb=2 * 32 * 144 * 4 / 2**20)

    def compiled_model():
        keras.utils.set_random_seed(0)
        model = build_keras_model(keras, SPECS["mlp"], (144,), 0.0, 1.0, 0.5, 0.3)
        model.compile(optimizer="sgd", loss="mse")
        return model

    def whole_epoch(batches):
        return tuple(map(np.concatenate, zip(*(batches[i] for i in range(len(batches))))))

    streamed = compiled_model().fit(**keras_fit_data(keras, batches(train, True), batches(val, False)), epochs=4, verbose=0).history
    model, training, validation = compiled_model(), batches(train, True), whole_epoch(batches(val, False))
    in_memory = {"loss": [], "val_loss": []}
    for _ in range(4):
        epoch = model.fit(*whole_epoch(training), batch_size=16, shuffle=False, validation_data=validation, validation_batch_size=16, epochs=1,
                          verbose=0)
        for key in in_memory:
            in_memory[key] += epoch.history[key]
        training.next_epoch()
    return {key: streamed[key] for key in in_memory}, in_memory


ORDER_RUN = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from test_train import streamed_and_in_memory_losses
print(json.dumps(streamed_and_in_memory_losses(Path(sys.argv[2]), sys.argv[3])))
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_fit_sees_each_epoch_in_its_own_order(dataset, backend):
    """Epoch e trains on the batches of order e and validates on every validation sample,
    as when given from memory (a prefetching reader or a misplaced epoch-end hook breaks
    this: the old PyDataset input, advanced on epoch ends, was an epoch ahead)."""
    if backend == "tensorflow":
        streamed, in_memory = streamed_and_in_memory_losses(dataset, backend)
    else:  # one Keras backend per process
        env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
        result = subprocess.run([sys.executable, "-c", ORDER_RUN, os.path.dirname(__file__), str(dataset), backend], capture_output=True, text=True,
                                env=env, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        streamed, in_memory = json.loads(result.stdout.strip().splitlines()[-1])
    for key in in_memory:
        np.testing.assert_allclose(streamed[key], in_memory[key], rtol=1e-6, err_msg=key)


JAX_RUN = """
import json, logging, sys
logging.basicConfig(level=logging.INFO)
from karman.train import train_model
metrics = train_model(sys.argv[1], sys.argv[2], sys.argv[3], spec=json.loads(sys.argv[4]), backend="jax", gpu=True)
print(json.dumps(metrics["test"]["r2"]))
"""


def test_jax_backend_is_chosen_per_job_and_falls_back_to_the_cpu(dataset, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    result = subprocess.run(
        [sys.executable, "-c", JAX_RUN, str(dataset / "vorticity.zarr"), str(dataset / "assignment.csv"), str(tmp_path / "mlp"), json.dumps(SPECS["mlp"])],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "backend jax, device: CPU" in result.stderr
    assert "training.gpu is true, but Keras (jax) finds no GPU: training on the CPU. JAX finds CUDA through karman's gpu extra" in result.stderr
    assert float(result.stdout.strip().splitlines()[-1]) > 0.5
    assert (tmp_path / "mlp" / "model.keras").stat().st_size > 0


def test_a_gpu_asked_of_tensorflow_says_how_to_get_one(caplog):
    if gpu_devices("tensorflow"):
        pytest.skip("TensorFlow finds a GPU here")
    configure_keras("tensorflow", seed=0, threads=1, gpu=True)
    assert "finds no GPU: training on the CPU. karman installs TensorFlow's CPU build; for a GPU set training.backend: jax" in caplog.text


def test_saved_model_standardises_with_training_statistics(dataset, tmp_path):
    import keras

    out = tmp_path / "cnn"
    train_model(dataset / "vorticity.zarr", dataset / "assignment.csv", out, spec=SPECS["cnn"])
    per_cell = tmp_path / "mlp"
    train_model(dataset / "vorticity.zarr", dataset / "assignment.csv", per_cell, spec=SPECS["mlp"] | {"standardise": "per-cell", "epochs": 2})
    assignment = pd.read_csv(dataset / "assignment.csv")
    snapshots = np.nan_to_num(xr.open_zarr(dataset / "vorticity.zarr")["vorticity"].values)
    train = snapshots[(assignment["split"] == "train").to_numpy()]
    layer = keras.saving.load_model(out / "model.keras").get_layer("standardise")
    assert float(np.ravel(layer.mean)[0]) == pytest.approx(train.mean(), rel=1e-5)
    assert float(np.ravel(layer.variance)[0]) == pytest.approx(train.var(), rel=1e-4)
    assert float(np.ravel(layer.mean)[0]) != pytest.approx(snapshots.mean(), rel=1e-3)
    mlp_layer = keras.saving.load_model(per_cell / "model.keras").get_layer("standardise")
    np.testing.assert_allclose(np.ravel(mlp_layer.mean), train.mean(axis=0).ravel(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n_samples, n_features", [(300, 40), (50, 120)])  # more samples than features, and fewer
@pytest.mark.parametrize("n_targets", [1, 3])
def test_streamed_ridge_matches_scikit_learns_ridge_cv(n_samples, n_features, n_targets):
    from sklearn.linear_model import RidgeCV

    from karman.loader import SnapshotBatches
    from karman.train import streamed_ridge_cv

    rng = np.random.default_rng(1)
    features = rng.standard_normal((n_samples, n_features)).astype(np.float32) + 0.5
    targets = features[:, :n_targets] @ rng.standard_normal((n_targets, n_targets)) + 3.0 + 0.3 * rng.standard_normal((n_samples, n_targets))
    targets = targets[:, 0] if n_targets == 1 else targets
    field = xr.DataArray(features, dims=("sample", "x")).chunk({"sample": 64})
    batches = SnapshotBatches(field, np.arange(n_samples), np.zeros(n_samples), 32, flatten=True)  # batches of 32 from chunks of 64
    alphas = [0.01, 1.0, 30.0, 1000.0]
    coef, intercept, alpha = streamed_ridge_cv(batches, targets, alphas)
    reference = RidgeCV(alphas=alphas).fit(features, targets)
    assert alpha == reference.alpha_
    np.testing.assert_allclose(coef.reshape(np.shape(reference.coef_)), reference.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(intercept.reshape(np.shape(reference.intercept_)), reference.intercept_, rtol=1e-7)
