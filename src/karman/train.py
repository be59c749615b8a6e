"""The `train` stage: fit a model that predicts the Reynolds number from one snapshot.

Three kinds of model, chosen by a config entry's `type`:
- `ridge`: scikit-learn RidgeCV on the flattened snapshot, saved as plain arrays (npz);
- `mlp`: a Keras 3 multilayer perceptron on the flattened snapshot;
- `cnn`: a Keras 3 convolutional network on the snapshot as an image.
Keras models carry their input normalisation and output scaling inside `model.keras`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import RidgeCV
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from karman.stores import open_store

log = logging.getLogger(__name__)

KERAS_MODELS = ("mlp", "cnn")


def load_samples(vorticity_path: str | os.PathLike, assignment_csv: str | os.PathLike) -> tuple[np.ndarray, pd.DataFrame]:
    """Snapshots as a float32 array (sample, y, x), masked cells set to 0, and their split table."""
    assignment = pd.read_csv(assignment_csv)
    field = open_store(vorticity_path)["vorticity"]
    if field.sizes["sample"] != len(assignment):
        raise ValueError(f"{assignment_csv} has {len(assignment)} samples but {vorticity_path} has {field.sizes['sample']}")
    snapshots = np.nan_to_num(field.values.astype(np.float32), nan=0.0)
    return snapshots, assignment


def regression_metrics(true: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {
        "r2": float(r2_score(true, predicted)) if len(true) > 1 else float("nan"),
        "mae": float(mean_absolute_error(true, predicted)),
        "rmse": float(np.sqrt(mean_squared_error(true, predicted))),
        "n": int(len(true)),
    }


def evaluate(predictions: pd.DataFrame) -> dict:
    """R², MAE, RMSE on val and test, overall and per Reynolds number."""
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


def configure_keras(backend: str, seed: int, threads: int):
    """Select the Keras backend (before Keras is imported), seed everything, log the device."""
    if "keras" in sys.modules and os.environ.get("KERAS_BACKEND") != backend:
        raise RuntimeError(f"Keras was already imported with backend {os.environ.get('KERAS_BACKEND')!r}; cannot switch to {backend!r}")
    os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    if backend == "tensorflow":
        import tensorflow as tf

        if tf.config.threading.get_intra_op_parallelism_threads() != threads:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(threads)
            except RuntimeError:  # TensorFlow already initialised in this process
                log.warning("TensorFlow is already initialised; cannot limit it to %d threads", threads)

    keras.utils.set_random_seed(seed)
    log.info("Keras %s, backend %s, device: %s", keras.__version__, keras.backend.backend(), describe_device(backend))
    return keras


def describe_device(backend: str) -> str:
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
    elif backend == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
    else:
        import torch

        gpus = list(range(torch.cuda.device_count()))
    return f"GPU ({len(gpus)} found)" if gpus else "CPU (no GPU found)"


def build_keras_model(keras, spec: dict, input_shape: tuple[int, ...], train_inputs: np.ndarray, target_mean: float, target_std: float):
    """MLP or CNN with input normalisation adapted on the training data and an output
    layer scaled to the Reynolds number, so that `model.keras` predicts Re directly."""
    layers = keras.layers
    inputs = keras.Input(shape=input_shape)
    if spec["type"] == "mlp":
        normalise = layers.Normalization(axis=-1)
        normalise.adapt(train_inputs)
        hidden = normalise(inputs)
        for width in spec["hidden_units"]:
            hidden = layers.Dense(width, activation=spec["activation"])(hidden)
            if spec["dropout"]:
                hidden = layers.Dropout(spec["dropout"])(hidden)
    else:
        normalise = layers.Normalization(axis=None)
        normalise.adapt(train_inputs)
        hidden = normalise(inputs)
        for filters in spec["filters"]:
            hidden = layers.Conv2D(filters, spec["kernel_size"], padding="same", activation=spec["activation"])(hidden)
            hidden = layers.MaxPooling2D(2)(hidden)
        hidden = layers.Flatten()(hidden)
        for width in spec["dense_units"]:
            hidden = layers.Dense(width, activation=spec["activation"])(hidden)
            if spec["dropout"]:
                hidden = layers.Dropout(spec["dropout"])(hidden)
    standardised = layers.Dense(1)(hidden)
    reynolds = layers.Rescaling(scale=target_std, offset=target_mean, name="reynolds")(standardised)
    return keras.Model(inputs, reynolds, name=spec["type"])


def fit_keras(spec: dict, snapshots: np.ndarray, assignment: pd.DataFrame, model_dir: Path, backend: str, threads: int) -> np.ndarray:
    keras = configure_keras(backend, spec["seed"], threads)
    if spec["type"] == "mlp":
        inputs = snapshots.reshape(len(snapshots), -1)
    else:
        inputs = snapshots[..., np.newaxis]
    target = assignment["reynolds"].to_numpy(np.float32)
    train = (assignment["split"] == "train").to_numpy()
    val = (assignment["split"] == "val").to_numpy()
    model = build_keras_model(keras, spec, inputs.shape[1:], inputs[train], float(target[train].mean()), float(target[train].std() or 1.0))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=spec["learning_rate"]), loss="mse")
    model.summary(print_fn=log.info)

    class LogProgress(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            log.info("epoch %d/%d: %s", epoch + 1, spec["epochs"], ", ".join(f"{k}={v:.4g}" for k, v in (logs or {}).items()))

    callbacks = [LogProgress(), keras.callbacks.CSVLogger(os.fspath(model_dir / "history.csv"))]
    validation = (inputs[val], target[val]) if val.any() else None
    if validation is not None:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=spec["patience"], restore_best_weights=True))
    model.fit(inputs[train], target[train], validation_data=validation, batch_size=spec["batch_size"],
              epochs=spec["epochs"], shuffle=True, verbose=0, callbacks=callbacks)
    model.save(model_dir / "model.keras")
    return model.predict(inputs, batch_size=256, verbose=0).reshape(-1)


def fit_ridge(spec: dict, snapshots: np.ndarray, assignment: pd.DataFrame, model_dir: Path) -> np.ndarray:
    features = snapshots.reshape(len(snapshots), -1)
    train = (assignment["split"] == "train").to_numpy()
    ridge = RidgeCV(alphas=spec["alphas"]).fit(features[train], assignment["reynolds"].to_numpy()[train])
    log.info("RidgeCV chose alpha=%g", ridge.alpha_)
    # Plain arrays, never pickle: predictions are features @ coef + intercept.
    np.savez(model_dir / "model.npz", coef=ridge.coef_, intercept=np.asarray(ridge.intercept_), alpha=np.asarray(ridge.alpha_))
    return ridge.predict(features)


def train_model(vorticity_path: str | os.PathLike, assignment_csv: str | os.PathLike, model_dir: str | os.PathLike, *, spec: dict, backend: str, threads: int = 1) -> dict:
    """The `train` stage: fit one model, write model, history, predictions and metrics."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    snapshots, assignment = load_samples(vorticity_path, assignment_csv)
    log.info("training %s on %s samples of shape %s", spec["type"], dict(assignment["split"].value_counts()), snapshots.shape[1:])
    if spec["type"] == "ridge":
        predicted = fit_ridge(spec, snapshots, assignment, model_dir)
    elif spec["type"] in KERAS_MODELS:
        predicted = fit_keras(spec, snapshots, assignment, model_dir, backend, threads)
    else:
        raise ValueError(f"model type {spec['type']!r} is not supported; allowed: ridge, {', '.join(KERAS_MODELS)}")
    predictions = assignment[["sample", "split"]].assign(true=assignment["reynolds"], predicted=predicted)
    predictions.to_csv(model_dir / "predictions.csv", index=False)
    metrics = {"model": spec["type"], "spec": spec, **evaluate(predictions)}
    with open(model_dir / "metrics.json", "w") as handle:
        json.dump(metrics, handle, indent=2, sort_keys=True)
    log.info("metrics: %s", {split: {k: metrics[split][k] for k in ("r2", "mae", "rmse")} for split in ("val", "test") if split in metrics})
    return metrics


def load_ridge(path: str | os.PathLike):
    """Return a predict function for a saved ridge model (plain arrays, no pickle)."""
    with np.load(path, allow_pickle=False) as arrays:
        coef, intercept = arrays["coef"], float(arrays["intercept"])
    return lambda snapshots: snapshots.reshape(len(snapshots), -1) @ coef + intercept
