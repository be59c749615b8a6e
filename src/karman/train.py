"""The `train` stage: fit a model that predicts the Reynolds number from one snapshot.

Three kinds of model, chosen by a config entry's `type`:
- `ridge`: scikit-learn RidgeCV on the flattened snapshot, saved as plain arrays (npz);
- `mlp`: a Keras 3 multilayer perceptron on the flattened snapshot;
- `cnn`: a Keras 3 convolutional network on the snapshot as an image.

Keras models read their batches from the Zarr store (`karman.loader`) and carry their
input standardisation (mean and variance of the training split, computed with Dask) and
their output scaling inside `model.keras`, so the saved model predicts Re directly.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import xarray as xr
from sklearn.linear_model import RidgeCV
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from karman.loader import SnapshotBatches, keras_dataset
from karman.stores import open_store

log = logging.getLogger(__name__)

KERAS_MODELS = ("mlp", "cnn")
OPTIMIZERS = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop"}
PREDICT_BATCH = 256


def load_split(vorticity_path: str | os.PathLike, assignment_csv: str | os.PathLike) -> tuple[xr.DataArray, pd.DataFrame]:
    """The lazy vorticity field and the split table, checked against each other."""
    assignment = pd.read_csv(assignment_csv)
    field = open_store(vorticity_path)["vorticity"]
    if field.sizes["sample"] != len(assignment) or not np.array_equal(field["sample"].values, assignment["sample"].to_numpy()):
        raise ValueError(f"{assignment_csv} does not list the samples of {vorticity_path} ({len(assignment)} vs {field.sizes['sample']} samples)")
    return field, assignment


def input_statistics(field: xr.DataArray, train: np.ndarray, per_cell: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the training snapshots (masked cells as 0), computed with Dask
    chunk by chunk; no other split enters them. One value for all cells, or (with
    `per_cell`) one per cell of the (y, x) window."""
    values = field.isel(sample=train).fillna(0.0).astype(np.float64)
    over = "sample" if per_cell else None
    mean, variance = dask.compute(values.mean(over), values.var(over))
    return np.asarray(mean, dtype=np.float32), np.asarray(variance, dtype=np.float32)


def regression_metrics(true: np.ndarray, predicted: np.ndarray) -> dict[str, float | None]:
    """R² (None where the true values do not vary), MAE, RMSE, mean bias and count."""
    return {
        "r2": float(r2_score(true, predicted)) if np.ptp(true) > 0 else None,
        "mae": float(mean_absolute_error(true, predicted)),
        "rmse": float(np.sqrt(mean_squared_error(true, predicted))),
        "bias": float(np.mean(predicted - true)),
        "n": int(len(true)),
    }


def evaluate(predictions: pd.DataFrame) -> dict:
    """R², MAE, RMSE on val and test, overall and per Reynolds number (where R² is undefined)."""
    metrics = {}
    for split in ("val", "test"):
        part = predictions[predictions["split"] == split]
        if part.empty:
            continue
        metrics[split] = regression_metrics(part["true"].to_numpy(), part["predicted"].to_numpy())
        metrics[split]["per_reynolds"] = {
            f"{re:g}": regression_metrics(group["true"].to_numpy(), group["predicted"].to_numpy())
            for re, group in part.groupby("true")
        }
    return metrics


def configure_keras(backend: str, seed: int, threads: int, gpu: bool):
    """Select the Keras backend (before Keras is imported), make runs repeatable, log the device."""
    if "keras" in sys.modules and os.environ.get("KERAS_BACKEND") != backend:
        raise RuntimeError(f"Keras was already imported with backend {os.environ.get('KERAS_BACKEND')!r}; cannot switch to {backend!r}")
    os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    if backend == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # TensorFlow already initialised in this process
            log.debug("TensorFlow already initialised; thread settings unchanged")
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)
    gpus = gpu_devices(backend)
    log.info("Keras %s, backend %s, device: %s", keras.__version__, keras.backend.backend(), f"GPU {gpus}" if gpus else "CPU")
    if gpu and not gpus:
        log.warning("training.gpu is true, but Keras (%s) finds no GPU: training on the CPU", backend)
    return keras


def gpu_devices(backend: str) -> list[str]:
    if backend == "tensorflow":
        import tensorflow as tf

        return [device.name for device in tf.config.list_physical_devices("GPU")]
    if backend == "jax":
        import jax

        return [str(device) for device in jax.devices() if device.platform == "gpu"]
    import torch

    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def build_keras_model(keras, spec: dict, input_shape: tuple[int, ...], input_mean: np.ndarray, input_variance: np.ndarray,
                      target_mean: float, target_std: float):
    """MLP or CNN between a fixed input standardisation and an output layer scaled to Re.

    `input_mean` and `input_variance` are scalars or hold one value per cell (y, x).
    """
    layers = keras.layers
    inputs = keras.Input(shape=input_shape)
    if np.ndim(input_mean) == 0:
        axis = None
    elif len(input_shape) == 1:  # flattened snapshots
        axis, input_mean, input_variance = -1, np.ravel(input_mean), np.ravel(input_variance)
    else:  # images (y, x, channel)
        axis = (1, 2)
    hidden = layers.Normalization(axis=axis, mean=input_mean, variance=input_variance, name="standardise")(inputs)
    if spec["type"] == "mlp":
        widths = spec["hidden_units"]
    else:
        for filters in spec["filters"]:
            hidden = layers.Conv2D(filters, spec["kernel_size"], padding="same", activation=spec["activation"])(hidden)
            hidden = layers.MaxPooling2D(2)(hidden)
        hidden = layers.Flatten()(hidden)
        widths = spec["dense_units"]
    for width in widths:
        hidden = layers.Dense(width, activation=spec["activation"])(hidden)
        if spec["dropout"]:
            hidden = layers.Dropout(spec["dropout"])(hidden)
    standardised = layers.Dense(1)(hidden)
    reynolds = layers.Rescaling(scale=target_std, offset=target_mean, name="reynolds")(standardised)
    return keras.Model(inputs, reynolds, name=spec["type"])


def fit_keras(spec: dict, field: xr.DataArray, assignment: pd.DataFrame, model_dir: Path, *, backend: str, threads: int, gpu: bool,
              shuffle_mb: float) -> np.ndarray:
    keras = configure_keras(backend, spec["seed"], threads, gpu)
    flatten = spec["type"] == "mlp"
    reynolds = assignment["reynolds"].to_numpy(np.float32)
    train = np.flatnonzero(assignment["split"] == "train")
    val = np.flatnonzero(assignment["split"] == "val")
    mean, variance = input_statistics(field, train, per_cell=spec["standardise"] == "per-cell")
    log.info("input standardisation (%s) from %d training samples: mean %.4g, variance %.4g on average",
             spec["standardise"], len(train), mean.mean(), variance.mean())
    shape = (field.sizes["y"] * field.sizes["x"],) if flatten else (field.sizes["y"], field.sizes["x"], 1)
    model = build_keras_model(keras, spec, shape, mean, variance, float(reynolds[train].mean()), float(reynolds[train].std() or 1.0))
    optimizer = getattr(keras.optimizers, OPTIMIZERS[spec["optimizer"]])(learning_rate=spec["learning_rate"])
    model.compile(optimizer=optimizer, loss="mse")
    model.summary(print_fn=log.info)

    def batches(samples, shuffle, batch_size=spec["batch_size"]):
        return SnapshotBatches(field, samples, reynolds[samples], batch_size, shuffle=shuffle, seed=spec["seed"], flatten=flatten, shuffle_mb=shuffle_mb)

    class LogProgress(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - self.started
            losses = ", ".join(f"{k}={v:.4g}" for k, v in (logs or {}).items())
            log.info("epoch %d/%d: %s (%.1f s/epoch, at most %.0f s left)", epoch + 1, spec["epochs"], losses, seconds,
                     seconds * (spec["epochs"] - epoch - 1))

    callbacks = [LogProgress(), keras.callbacks.CSVLogger(os.fspath(model_dir / "history.csv"))]
    validation = None
    if len(val):
        validation = keras_dataset(keras, batches(val, shuffle=False, batch_size=PREDICT_BATCH))
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=spec["patience"], restore_best_weights=True))
    # shuffle=False: the batches shuffle themselves chunk-aware; Keras's batch-order
    # shuffling would make every batch read different Zarr chunks.
    model.fit(keras_dataset(keras, batches(train, shuffle=True)), validation_data=validation, epochs=spec["epochs"],
              shuffle=False, verbose=0, callbacks=callbacks)
    model.save(model_dir / "model.keras")
    everything = batches(np.arange(len(assignment)), shuffle=False, batch_size=PREDICT_BATCH)
    return np.concatenate([model.predict_on_batch(everything[i][0]).reshape(-1) for i in range(len(everything))])


def fit_ridge(spec: dict, field: xr.DataArray, assignment: pd.DataFrame, model_dir: Path) -> np.ndarray:
    """RidgeCV on the training snapshots (RidgeCV needs them in memory; the rest is streamed)."""
    train = np.flatnonzero(assignment["split"] == "train")
    features = np.nan_to_num(field.isel(sample=train).values.reshape(len(train), -1))
    ridge = RidgeCV(alphas=spec["alphas"]).fit(features, assignment["reynolds"].to_numpy()[train])
    log.info("RidgeCV chose alpha=%g", ridge.alpha_)
    # Plain arrays, never pickle: predictions are features @ coef + intercept.
    np.savez(model_dir / "model.npz", coef=ridge.coef_, intercept=np.asarray(ridge.intercept_), alpha=np.asarray(ridge.alpha_))
    everything = SnapshotBatches(field, np.arange(len(assignment)), np.zeros(len(assignment)), PREDICT_BATCH, flatten=True)
    return np.concatenate([ridge.predict(everything[i][0]) for i in range(len(everything))])


def train_model(vorticity_path: str | os.PathLike, assignment_csv: str | os.PathLike, model_dir: str | os.PathLike, *,
                spec: dict, backend: str = "tensorflow", threads: int = 1, gpu: bool = False, shuffle_mb: float = 256) -> dict:
    """The `train` stage: fit one model, write model, history, predictions and metrics."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    field, assignment = load_split(vorticity_path, assignment_csv)
    log.info("training %s on %s samples of %d x %d cells", spec["type"], assignment["split"].value_counts().to_dict(), field.sizes["y"], field.sizes["x"])
    if spec["type"] == "ridge":
        predicted = fit_ridge(spec, field, assignment, model_dir)
    elif spec["type"] in KERAS_MODELS:
        predicted = fit_keras(spec, field, assignment, model_dir, backend=backend, threads=threads, gpu=gpu, shuffle_mb=shuffle_mb)
    else:
        raise ValueError(f"model type {spec['type']!r} is not supported; allowed: ridge, {', '.join(KERAS_MODELS)}")
    predictions = assignment[["sample", "split"]].assign(true=assignment["reynolds"], predicted=predicted)
    predictions.to_csv(model_dir / "predictions.csv", index=False)
    if spec["type"] == "ridge":
        device = "CPU (scikit-learn)"
    else:
        gpus = gpu_devices(backend)
        device = f"GPU ({', '.join(gpus)}), Keras backend {backend}" if gpus else f"CPU, Keras backend {backend}"
    metrics = {"model": spec["type"], "spec": spec, "device": device, **evaluate(predictions)}
    with open(model_dir / "metrics.json", "w") as handle:
        json.dump(metrics, handle, indent=2, sort_keys=True)
    log.info("metrics: %s", {split: {k: metrics[split][k] for k in ("r2", "mae", "rmse")} for split in ("val", "test") if split in metrics})
    return metrics


def load_ridge(path: str | os.PathLike):
    """Return a predict function for a saved ridge model (plain arrays, no pickle)."""
    with np.load(path, allow_pickle=False) as arrays:
        coef, intercept = arrays["coef"], float(arrays["intercept"])
    return lambda snapshots: snapshots.reshape(len(snapshots), -1) @ coef + intercept
