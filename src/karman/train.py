"""The `train` stage: fit a model that predicts the targets a store declares from one
sample — the Reynolds number from a vorticity snapshot, or (ω0, γ, ε) from a Duffing response.

Three kinds of model, chosen by a config entry's `type`:
- `ridge`: ridge regression on the flattened sample with α chosen by leave-one-out error, as
  scikit-learn's RidgeCV does, but streamed from the store; saved as plain arrays (npz);
- `mlp`: a Keras 3 multilayer perceptron on the flattened sample;
- `cnn`: a Keras 3 convolutional network on the sample as an image.

Keras models read their batches from the Zarr store (`karman.loader`) and carry their
input standardisation (mean and variance of the training split, computed with Dask) and
their output scaling inside `model.keras`, so the saved model predicts the targets in
their own units directly.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import xarray as xr
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from karman.atomic import write_text_whole, written_whole
from karman.keras_fit import configure_keras, device_name, fit_with_early_stopping
from karman.loader import SnapshotBatches
from karman.stores import declaration, open_store

log = logging.getLogger(__name__)

KERAS_MODELS = ("mlp", "cnn")
PREDICT_BATCH = 256


def load_assignment(field: xr.DataArray, assignment_csv: str | os.PathLike, store_path: str | os.PathLike) -> pd.DataFrame:
    """The split table, checked against the samples of `field` (the input variable of the store at `store_path`)."""
    assignment = pd.read_csv(assignment_csv)
    if field.sizes["sample"] != len(assignment) or not np.array_equal(field["sample"].values, assignment["sample"].to_numpy()):
        raise ValueError(f"{assignment_csv} does not list the samples of {store_path} ({len(assignment)} vs {field.sizes['sample']} samples)")
    return assignment


def input_statistics(field: xr.DataArray, train: np.ndarray, standardise: str = "global") -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the training samples (masked cells as 0), computed with Dask
    chunk by chunk; no other split enters them.

    `standardise`: `global` (one value for all cells), `per-cell` (one per cell of a
    sample, e.g. per (y, x) of a snapshot) or `per-channel` (one per entry of the
    `channel` dimension, broadcast to every cell).
    """
    values = field.isel(sample=train).fillna(0.0).astype(np.float64)
    if standardise == "per-channel":
        if "channel" not in field.dims:
            raise ValueError(f"standardise: per-channel needs samples with a channel dimension, not {field.dims}")
        over = [dim for dim in field.dims if dim != "channel"]
    else:
        over = "sample" if standardise == "per-cell" else None
    mean, variance = dask.compute(values.mean(over), values.var(over))
    if standardise == "per-channel":
        mean, variance = (stat.broadcast_like(field.isel(sample=0)).transpose(*field.dims[1:]) for stat in (mean, variance))
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


def evaluate(true: pd.DataFrame, predicted: pd.DataFrame, splits: np.ndarray, groups: pd.Series | None = None) -> dict:
    """The metrics of one model's predictions of every sample.

    One target (the Reynolds number): R², MAE, RMSE, bias on val and test, overall and per
    group of `groups` (per Re, where R² is undefined). Several targets (ω0, γ, ε): the
    same per split (train, val, test) and per target; train is included because the gap
    between it and the held-out splits shows overfitting.
    """
    if true.shape[1] == 1:
        name, metrics = true.columns[0], {}

        def scores(selected: np.ndarray) -> dict:
            return regression_metrics(true[name].to_numpy()[selected], predicted[name].to_numpy()[selected])

        for split in ("val", "test"):
            part = splits == split
            if part.any():
                metrics[split] = scores(part)
                if groups is not None:
                    metrics[split][f"per_{groups.name}"] = {f"{value:g}": scores(part & (groups.to_numpy() == value))
                                                             for value in np.unique(groups[part])}
        return metrics
    return {
        split: {name: regression_metrics(true[name].to_numpy()[splits == split], predicted[name].to_numpy()[splits == split]) for name in true}
        for split in ("train", "val", "test") if (splits == split).any()
    }


def build_keras_model(keras, spec: dict, input_shape: tuple[int, ...], input_mean: np.ndarray, input_variance: np.ndarray,
                      target_mean, target_std, output_name: str = "reynolds"):
    """MLP or CNN between a fixed input standardisation and an output layer scaled to the targets.

    `input_mean` and `input_variance` are scalars or hold one value per cell of a sample;
    `target_mean` and `target_std` are scalars (one target, e.g. Re) or one value per target.
    """
    layers = keras.layers
    inputs = keras.Input(shape=input_shape)
    if np.ndim(input_mean) == 0:
        axis = None
    elif len(input_shape) == 1:  # flattened samples
        axis, input_mean, input_variance = -1, np.ravel(input_mean), np.ravel(input_variance)
    else:  # images: statistics per cell (y, x) of a one-channel snapshot, or per cell and channel
        axis = tuple(range(1, 1 + np.ndim(input_mean)))
    hidden = layers.Normalization(axis=axis, mean=input_mean, variance=input_variance, name="standardise")(inputs)
    if spec["type"] == "mlp":
        widths = spec["hidden_units"]
    else:
        for filters in spec["filters"]:
            hidden = layers.Conv2D(filters, spec["kernel_size"], strides=spec["strides"], padding=spec["padding"], activation=spec["activation"])(hidden)
            if spec["pooling"]:
                hidden = layers.MaxPooling2D(2)(hidden)
        hidden = layers.Flatten()(hidden)
        widths = spec["dense_units"]
    for width in widths:
        hidden = layers.Dense(width, activation=spec["activation"])(hidden)
        if spec["dropout"]:
            hidden = layers.Dropout(spec["dropout"])(hidden)
    target_mean, target_std = np.atleast_1d(target_mean).astype(np.float32), np.atleast_1d(target_std).astype(np.float32)
    standardised = layers.Dense(len(target_mean))(hidden)
    if len(target_mean) == 1:
        outputs = layers.Rescaling(scale=float(target_std[0]), offset=float(target_mean[0]), name=output_name)(standardised)
    else:
        outputs = layers.Normalization(mean=target_mean, variance=target_std**2, invert=True, name=output_name)(standardised)
    return keras.Model(inputs, outputs, name=spec["type"])


def fit_keras(spec: dict, field: xr.DataArray, targets: np.ndarray, splits: np.ndarray, model_dir: Path, *, backend: str, threads: int,
              gpu: bool, shuffle_mb: float, output_name: str = "reynolds", log_every: float = 0.0) -> np.ndarray:
    """Fit an MLP or CNN on the `train` samples of `field` (early stopping on `val`).

    `targets` is (samples,) or (samples, targets); returns the predictions of every sample
    in the same shape. Standardisation of inputs and targets comes from the training split.
    """
    keras = configure_keras(backend, spec["seed"], threads, gpu)
    flatten = spec["type"] == "mlp"
    targets = np.asarray(targets, dtype=np.float32)
    train, val = np.flatnonzero(splits == "train"), np.flatnonzero(splits == "val")
    mean, variance = input_statistics(field, train, spec["standardise"])
    log.info("input standardisation (%s) from %d training samples: mean %.4g, variance %.4g on average",
             spec["standardise"], len(train), mean.mean(), variance.mean())
    target_mean, target_std = targets[train].mean(axis=0), targets[train].std(axis=0)
    target_std = np.where(target_std > 0, target_std, 1.0)
    standardised_targets = ((targets - target_mean) / target_std).astype(np.float32)

    def batches(samples, shuffle, batch_size=spec["batch_size"]):
        return SnapshotBatches(field, samples, standardised_targets[samples], batch_size, shuffle=shuffle, seed=spec["seed"], flatten=flatten,
                               shuffle_mb=shuffle_mb)

    training = batches(train, shuffle=True)
    model = build_keras_model(keras, spec, training.sample_shape, mean, variance, target_mean, target_std, output_name=output_name)
    model.summary(print_fn=log.info)
    # The loss is the MSE of the standardised targets, so that every target weighs the same
    # whatever its units (ε spans 0.15, ω0 spans 2); the saved model scales back to units.
    standardised = keras.Model(model.inputs, model.get_layer(output_name).input, name=f"{spec['type']}_standardised")
    validating = batches(val, shuffle=False, batch_size=PREDICT_BATCH) if len(val) else None
    fit_with_early_stopping(keras, standardised, "mse", training, validating, label=spec["type"], epochs=spec["epochs"],
                            patience=spec["patience"], optimizer_name=spec["optimizer"], learning_rate=spec["learning_rate"],
                            backend=backend, log_every=log_every, callbacks=(keras.callbacks.CSVLogger(os.fspath(model_dir / "history.csv")),))
    model.save(model_dir / "model.keras")
    everything = batches(np.arange(len(splits)), shuffle=False, batch_size=PREDICT_BATCH)
    predicted = np.concatenate([np.asarray(model.predict_on_batch(everything[i][0])) for i in range(len(everything))])
    return predicted.reshape(targets.shape)


def streamed_ridge_cv(batches: SnapshotBatches, targets: np.ndarray, alphas) -> tuple[np.ndarray, np.ndarray, float]:
    """Ridge regression with the intercept unpenalised and α chosen by leave-one-out error, as
    scikit-learn's RidgeCV does, from unshuffled batches of samples (`targets` in their
    order): memory grows with the number of features (their Gram matrix), not of samples.

    One pass accumulates the centred Gram matrix G = X_cᵀX_c and X_cᵀy; its eigenvectors give
    every α's coefficients; a second pass sums each α's leave-one-out residuals
    (y − ŷ) / (1 − h), with the leverage h = x_cᵀ (G + α)⁻¹ x_c + 1/n of each sample.
    Returns coef (targets, features), intercept (targets,) and the chosen α.
    """
    targets = np.asarray(targets, dtype=np.float64).reshape(len(targets), -1)
    n, features = len(targets), int(np.prod(batches.sample_shape))
    gram, cross, total = np.zeros((features, features)), np.zeros((features, targets.shape[1])), np.zeros(features)

    def samples_and_targets():
        for i in range(len(batches)):
            yield np.asarray(batches[i][0], dtype=np.float64), targets[i * batches.batch_size:(i + 1) * batches.batch_size]

    for x, y in samples_and_targets():
        gram += x.T @ x
        cross += x.T @ y
        total += x.sum(axis=0)
    mean_x, mean_y = total / n, targets.mean(axis=0)
    gram -= n * np.outer(mean_x, mean_x)
    cross -= n * np.outer(mean_x, mean_y)
    eigenvalues, vectors = np.linalg.eigh(gram)
    projected = vectors.T @ cross
    alphas = [float(alpha) for alpha in alphas]
    coefs = [vectors @ (projected / (eigenvalues + alpha)[:, None]) for alpha in alphas]
    squared_errors = np.zeros(len(alphas))
    for x, y in samples_and_targets():
        x = x - mean_x
        z2 = (x @ vectors) ** 2
        for a, (alpha, coef) in enumerate(zip(alphas, coefs)):
            leverage = z2 @ (1.0 / (eigenvalues + alpha)) + 1.0 / n
            residual = (y - mean_y - x @ coef) / (1.0 - leverage)[:, None]
            squared_errors[a] += (residual**2).sum()
    best = int(np.argmin(squared_errors))
    coef = coefs[best].T
    return coef, mean_y - coef @ mean_x, alphas[best]


def fit_ridge(spec: dict, field: xr.DataArray, targets: np.ndarray, splits: np.ndarray, model_dir: Path) -> np.ndarray:
    """Ridge regression with α chosen by leave-one-out error among `alphas` (streamed_ridge_cv),
    saved as plain arrays; the training samples are read batch by batch, never all at once."""
    train = np.flatnonzero(splits == "train")
    training = SnapshotBatches(field, train, np.zeros(len(train)), PREDICT_BATCH, flatten=True)
    coef, intercept, alpha = streamed_ridge_cv(training, targets[train], spec["alphas"])
    log.info("ridge regression: leave-one-out error chose alpha=%g", alpha)
    single = np.ndim(targets) == 1
    coef, intercept = (coef[0], intercept[0]) if single else (coef, intercept)
    # Plain arrays, never pickle: predictions are features @ coef.T + intercept.
    np.savez(model_dir / "model.npz", coef=coef, intercept=np.asarray(intercept), alpha=np.asarray(alpha))
    everything = SnapshotBatches(field, np.arange(len(splits)), np.zeros(len(splits)), PREDICT_BATCH, flatten=True)
    return np.concatenate([everything[i][0] @ np.transpose(coef) + intercept for i in range(len(everything))])


def fit_model(spec: dict, field: xr.DataArray, targets: np.ndarray, splits: np.ndarray, model_dir: Path, *, backend: str, threads: int,
              gpu: bool, shuffle_mb: float, output_name: str) -> tuple[np.ndarray, str]:
    """Fit the model `spec` describes; its predictions for every sample and the device it used."""
    if spec["type"] == "ridge":
        return fit_ridge(spec, field, targets, splits, model_dir), "CPU (numpy)"
    if spec["type"] not in KERAS_MODELS:
        raise ValueError(f"model type {spec['type']!r} is not supported; allowed: ridge, {', '.join(KERAS_MODELS)}")
    predicted = fit_keras(spec, field, targets, splits, model_dir, backend=backend, threads=threads, gpu=gpu, shuffle_mb=shuffle_mb,
                          output_name=output_name)
    return predicted, device_name(backend)


def prediction_table(assignment: pd.DataFrame, true: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
    """sample, split and, per target, the true and predicted value: columns `true` and
    `predicted` for one target, `true_<target>` and `predicted_<target>` for several."""
    if true.shape[1] == 1:
        name = true.columns[0]
        return assignment[["sample", "split"]].assign(true=true[name], predicted=predicted[name])
    return assignment[["sample", "split"]].assign(**{f"true_{n}": true[n] for n in true}, **{f"predicted_{n}": predicted[n] for n in true})


def train_model(samples_path: str | os.PathLike, assignment_csv: str | os.PathLike, model_dir: str | os.PathLike, *,
                spec: dict, backend: str = "tensorflow", threads: int = 1, gpu: bool = False, shuffle_mb: float = 256) -> dict:
    """The `train` stage: fit one model to the targets the store declares, write the model,
    its history, predictions and metrics."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(samples_path)
    declared = declaration(store)
    field = store[declared.variable]
    assignment = load_assignment(field, assignment_csv, samples_path)
    names = list(declared.targets)
    true = pd.DataFrame({name: store[name].values for name in names})
    splits = assignment["split"].to_numpy()
    log.info("training %s on %s samples of shape %s for %s", spec["type"], assignment["split"].value_counts().to_dict(),
             dict(field.sizes), ", ".join(names))
    targets = true.to_numpy(np.float64)
    predicted, device = fit_model(spec, field, targets[:, 0] if len(names) == 1 else targets, splits, model_dir, backend=backend,
                                  threads=threads, gpu=gpu, shuffle_mb=shuffle_mb, output_name=names[0] if len(names) == 1 else "targets")
    predicted = pd.DataFrame(np.asarray(predicted).reshape(len(true), len(names)), columns=names)
    with written_whole(model_dir / "predictions.csv") as partial:
        prediction_table(assignment, true, predicted).to_csv(partial, index=False)
    groups = assignment[declared.grouping] if declared.grouping else None
    metrics = {"model": spec["type"], "spec": spec, "device": device, **({"targets": names} if len(names) > 1 else {}),
               **evaluate(true, predicted, splits, groups)}
    write_text_whole(model_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True))
    test = metrics.get("test", {})
    log.info("test R²: %s", test.get("r2") if len(names) == 1 else {name: test.get(name, {}).get("r2") for name in names})
    return metrics


def load_ridge(path: str | os.PathLike):
    """Return a predict function for a saved ridge model (plain arrays, no pickle)."""
    with np.load(path, allow_pickle=False) as arrays:
        coef, intercept = arrays["coef"], arrays["intercept"]
    return lambda samples: samples.reshape(len(samples), -1) @ coef.T + intercept
