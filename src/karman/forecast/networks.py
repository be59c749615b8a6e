"""Learned forecasters: trained on a group's past frames, rolled out on their own predictions.

Each has the forecasters' interface (see `karman.forecast`) and one `fit` for all:

    fit(field, groups, train_frames, task, *, seed, threads, backend, gpu, log_every=10.0) -> dict

`field` is the lazy (sample, y, x) store variable, `groups` the group (Re) of every sample,
`train_frames` the sample indices training may use per group (`windows.plan`); the dict it
returns (seconds, epochs, losses, device, …) goes into metrics.json.

- `PODRidge` (type `ridge`): proper orthogonal decomposition of the training frames and a
  linear autoregression of its coefficients, fitted in closed form (numpy, no Keras);
- `PODMLP` (type `mlp`): a Keras dense net on the same coefficients;
- `UNetForecaster` (type `cnn`): a Keras U-Net on the frames themselves;
- `ConvLSTMForecaster` (type `convlstm`): a Keras ConvLSTM on the frames, read as a sequence.

Shared by all four:
- Frames are standardised with one mean and standard deviation over the training frames
  (`windows.normalisation`); NaN cells (inside the cylinder) are 0 in those units for the
  model and NaN in the rollout: the cells NaN in any history frame.
- The group value enters standardised by the mean and standard deviation of the training
  groups' values, so that one model serves every Re, an unseen one included.
- Memory: the distinct training frames are read chunk by chunk (at most one Zarr chunk
  beside them; `windows.normalisation` makes its own pass with Dask before) and kept in
  memory as float32, so memory grows with the training frames — the fit logs how many MB; the
  default experiment's are about 1500 × 64 × 64 × 4 B ≈ 25 MB. Windows are gathered from
  them batch by batch, never materialised (the POD models hold their windows' coefficients,
  rank × history floats each). The POD's SVD works on a float64 copy of the frames matrix
  (twice their size) and its thin factors.
- Keras settings as karman's Keras models have them: `epochs`, `patience`, `batch_size`,
  `learning_rate`, `optimizer`, `seed`. Validation (early stopping on the validation loss,
  the best epoch's weights restored): the last tenth of each group's training windows in
  time, not a random tenth (`validation_split`); the training windows that share a frame
  with them are left out of training. A group with fewer than ten windows gives no
  validation window; with none at all, or `patience` ≥ `epochs`, every epoch runs and the
  last one's weights are kept.
- `seed`: a forecaster built with its own `seed` uses it; otherwise `fit`'s `seed`. Same
  seed, backend and machine → the same weights (`karman.train.configure_keras` makes
  TensorFlow's ops deterministic; batches are shuffled with numpy's generator seeded by
  (seed, epoch)).
- `save(directory)` writes `forecaster.json` (type, settings, normalisation), plain arrays
  (`pod.npz`, read back without pickle) and, for the Keras ones, `model.keras`;
  `load_forecaster(directory)` reads them back (for a Keras one, Keras with the backend it
  was trained on must be importable).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field as setting, fields
from pathlib import Path

import numpy as np
import xarray as xr
from threadpoolctl import threadpool_limits

from karman.forecast.baselines import DMD, Persistence
from karman.forecast.windows import ForecastTask, normalisation, training_windows
from karman.loader import endless_keras_input
from karman.loader import epochs as endless_epochs
from karman.train import OPTIMIZERS, configure_keras, gpu_devices

log = logging.getLogger(__name__)

VALIDATION_FRACTION = 0.1  # the last tenth of each group's training windows, in time
TYPES = ("persistence", "dmd", "ridge", "mlp", "cnn", "convlstm")
POD_TOLERANCE = 1e-6  # float32 frames: modes below this fraction of the largest singular value are round-off


# ---------------------------------------------------------------------------------------
# Frames and windows


def read_training_frames(field: xr.DataArray, train_frames: dict[float, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The distinct training frames: their sample indices (ascending) and the frames
    (n, y, x) float32 as stored (NaN kept), read one Zarr chunk at a time."""
    samples = np.unique(np.concatenate([np.asarray(series) for series in train_frames.values()]))
    bounds = np.cumsum((0, *field.chunks[0])) if field.chunks else np.array([0, field.sizes["sample"]])
    chunk_of_sample = np.searchsorted(bounds, samples, side="right") - 1
    frames = np.empty((len(samples), *field.shape[1:]), dtype=np.float32)
    chunks = np.unique(chunk_of_sample)
    for chunk in chunks:
        members = np.flatnonzero(chunk_of_sample == chunk)
        values = np.asarray(field.isel(sample=slice(bounds[chunk], bounds[chunk + 1])).values, dtype=np.float32)
        frames[members] = values[samples[members] - bounds[chunk]]
    log.info("read %d training frames of %s from %d chunks: %.1f MB in memory", len(samples),
             " × ".join(str(n) for n in field.shape[1:]), len(chunks), frames.nbytes / 2**20)
    return samples, frames


def validation_split(train_frames: dict[float, np.ndarray], task: ForecastTask, unroll: int = 1,
                     history: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation windows (sample indices, as `windows.training_windows`).

    Per group, the last `VALIDATION_FRACTION` of its windows in time (rounded down: none
    from a group of fewer than ten windows) validate; its training windows are those that
    end before the first validation window starts, so that no frame is in both.
    """
    training_windows(train_frames, task, unroll, history)  # raises, naming the settings, if no window fits at all
    span = task.stride * ((task.history if history is None else history) + unroll - 1)
    train, validate = [], []
    for group, series in train_frames.items():
        if len(series) <= span:
            continue
        windows = training_windows({group: series}, task, unroll, history)  # window i starts at series[i]
        held = int(len(windows) * VALIDATION_FRACTION + 1e-9)
        if held:
            validate.append(windows[len(windows) - held:])
            train.append(windows[: max(0, len(windows) - held - span)])
        else:
            train.append(windows)
    width = span // task.stride + 1
    train = np.concatenate(train) if train else np.empty((0, width), dtype=int)
    validate = np.concatenate(validate) if validate else np.empty((0, width), dtype=int)
    if len(train) == 0:
        raise ValueError(f"no training window is left once the last {VALIDATION_FRACTION:.0%} of each group's windows validate: "
                         "lower forecast.history, forecast.stride or forecast.future_fraction")
    return train, validate


class WindowBatches:
    """Batches of windows gathered from arrays in memory by `gather(positions)`, in the
    interface `karman.loader.epochs` reads (len, indexing, `next_epoch`).

    Shuffled (`shuffle`): each epoch visits the windows in the order of numpy's generator
    seeded with (seed, epoch), so that the same seed gives the same batches.
    """

    def __init__(self, count: int, gather, batch_size: int, *, shuffle: bool = False, seed: int = 0):
        if count == 0:
            raise ValueError("no windows to batch")
        self.count, self.gather, self.batch_size, self.shuffle, self.seed = count, gather, batch_size, shuffle, seed
        self.epoch = 0
        self.order = self.epoch_order()

    def epoch_order(self) -> np.ndarray:
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.count) if self.shuffle else np.arange(self.count)

    def __len__(self) -> int:
        return math.ceil(self.count / self.batch_size)

    def __getitem__(self, batch: int):
        if not 0 <= batch < len(self):
            raise IndexError(batch)
        return self.gather(self.order[batch * self.batch_size:(batch + 1) * self.batch_size])

    def next_epoch(self) -> None:
        self.epoch += 1
        self.order = self.epoch_order()


def keras_stream(keras, batches: WindowBatches):
    """The endless stream of `batches`, epoch after epoch, as Keras input (with
    `steps_per_epoch=len(batches)`), for batches whose inputs are an array or a dict of arrays."""
    inputs, targets = batches[0]
    shapes = {name: np.shape(value)[1:] for name, value in inputs.items()} if isinstance(inputs, dict) else np.shape(inputs)[1:]
    return endless_keras_input(keras, lambda: endless_epochs(batches), shapes, np.shape(targets)[1:])


# ---------------------------------------------------------------------------------------
# What every learned forecaster shares


class Learned:
    """Normalisation, group standardisation and the rollout's NaN cells, for every learned
    forecaster; subclasses are dataclasses of their settings with `history` among them."""

    kind = ""  # the config type

    def steps_in(self, task: ForecastTask) -> int:
        return task.history if self.history is None else self.history

    def prepare(self, field: xr.DataArray, groups: np.ndarray, train_frames: dict[float, np.ndarray],
                task: ForecastTask) -> tuple[np.ndarray, np.ndarray]:
        """Fix the input steps, the normalisation and the group standardisation; the
        training frames' sample indices and the frames standardised, NaN as 0 (n, y, x)."""
        if field.ndim != 3:
            raise ValueError(f"a forecaster reads frames (sample, y, x), got dimensions {field.dims}")
        if len(groups) != field.shape[0]:
            raise ValueError(f"{len(groups)} group values for {field.shape[0]} samples: give the group of every sample")
        self.inputs = self.steps_in(task)
        self.shape = tuple(int(n) for n in field.shape[1:])
        mean, std = normalisation(field, train_frames)
        self.mean, self.std = mean, std if std > 0 else 1.0
        values = np.asarray(sorted(float(group) for group in train_frames), dtype=np.float64)
        self.group_mean, self.group_std = float(values.mean()), float(values.std()) if values.std() > 0 else 1.0
        log.info("%s: %d input steps; frames standardised with mean %.4g and std %.4g of the training frames; "
                 "groups %s standardised with mean %.4g and std %.4g", self.kind, self.inputs, self.mean, self.std,
                 ", ".join(f"{value:g}" for value in values), self.group_mean, self.group_std)
        samples, frames = read_training_frames(field, train_frames)
        return samples, self.standardise(frames)

    def standardise(self, frames: np.ndarray) -> np.ndarray:
        return np.nan_to_num((np.asarray(frames, dtype=np.float32) - np.float32(self.mean)) / np.float32(self.std), nan=0.0)

    def standard_group(self, group) -> np.ndarray:
        return ((np.asarray(group, dtype=np.float64) - self.group_mean) / self.group_std).astype(np.float32)

    def history_frames(self, histories: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Of each history (batch, frames, y, x): the last `inputs` frames standardised (NaN as 0),
        and the cells NaN in any of them (batch, y, x)."""
        if not hasattr(self, "inputs"):
            raise RuntimeError(f"the {self.kind} forecaster is not fitted: call fit (or load_forecaster) first")
        histories = np.asarray(histories, dtype=np.float32)
        if histories.ndim != 4 or histories.shape[1] < self.inputs or histories.shape[2:] != self.shape:
            raise ValueError(f"the {self.kind} forecaster reads {self.inputs} frames of {self.shape}, "
                             f"got a history of shape {histories.shape[1:]}")
        frames = histories[:, -self.inputs:]
        return self.standardise(frames), ~np.all(np.isfinite(frames), axis=1)

    def in_units(self, standardised: np.ndarray, nan_cells: np.ndarray) -> np.ndarray:
        """Standardised rollouts (batch, steps, y, x) in the field's units, NaN where their history was."""
        frames = (np.asarray(standardised, dtype=np.float64) * self.std + self.mean).astype(np.float32)
        frames[np.broadcast_to(nan_cells[:, np.newaxis], frames.shape)] = np.nan
        return frames

    def rollout(self, history: np.ndarray, group: float, steps: int) -> np.ndarray:
        """One rollout (steps, y, x) from one history (frames, y, x): `rollout_batch` of one."""
        return self.rollout_batch(np.asarray(history)[np.newaxis], [group], steps)[0]

    def fitted_state(self) -> dict:
        return {"type": self.kind, "settings": asdict(self), "inputs": self.inputs, "shape": list(self.shape), "mean": self.mean,
                "std": self.std, "group_mean": self.group_mean, "group_std": self.group_std}

    def restore_state(self, state: dict) -> None:
        self.inputs, self.shape = int(state["inputs"]), tuple(state["shape"])
        self.mean, self.std, self.group_mean, self.group_std = (float(state[key]) for key in ("mean", "std", "group_mean", "group_std"))

    def save(self, directory: str | os.PathLike) -> None:
        """forecaster.json (type, settings, normalisation) and the fitted arrays or model."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "forecaster.json").write_text(json.dumps(self.fitted_state(), indent=2, sort_keys=True))
        self.save_fitted(directory)


class POD:
    """Proper orthogonal decomposition of standardised frames: the mean frame and the
    leading right singular vectors of the centred (frames, cells) matrix (thin SVD,
    LAPACK's, deterministic), at most `rank` of them and none whose singular value is below
    `POD_TOLERANCE` of the largest (round-off of float32 frames); coefficients scaled to
    unit variance over the training frames."""

    def fit_pod(self, frames: np.ndarray, rank: int, threads: int) -> float:
        matrix = frames.reshape(len(frames), -1).astype(np.float64)
        self.mean_frame = matrix.mean(axis=0)
        matrix -= self.mean_frame
        with threadpool_limits(limits=threads):
            _, singular, right = np.linalg.svd(matrix, full_matrices=False)
        kept = min(rank, int(np.sum(singular > POD_TOLERANCE * singular[0])) if len(singular) and singular[0] > 0 else 0)
        if kept == 0:
            raise ValueError("the training frames do not vary: there is nothing for a POD forecaster to advance")
        self.modes = right[:kept]  # (rank, cells)
        self.scale = singular[:kept] / math.sqrt(len(matrix))  # each coefficient's standard deviation
        energy = float(np.sum(singular[:kept] ** 2) / np.sum(singular**2))
        log.info("POD of %d training frames: %d modes kept (of %d asked) hold %.4f of the variance", len(matrix), kept, rank, energy)
        return energy

    def coefficients(self, frames: np.ndarray) -> np.ndarray:
        """Standardised frames (n, y, x) → unit-variance POD coefficients (n, rank) float64."""
        return (np.asarray(frames, dtype=np.float64).reshape(len(frames), -1) - self.mean_frame) @ self.modes.T / self.scale

    def frames_of(self, coefficients: np.ndarray) -> np.ndarray:
        return ((coefficients * self.scale) @ self.modes + self.mean_frame).reshape(len(coefficients), *self.shape)

    def batch_coefficients(self, frames: np.ndarray) -> np.ndarray:
        """Standardised frames (batch, n, y, x) → coefficients (batch, n, rank)."""
        return self.coefficients(frames.reshape(-1, *frames.shape[2:])).reshape(*frames.shape[:2], len(self.modes))

    def batch_frames_of(self, coefficients: np.ndarray) -> np.ndarray:
        """Coefficients (batch, n, rank) → standardised frames (batch, n, y, x)."""
        return self.frames_of(coefficients.reshape(-1, coefficients.shape[-1])).reshape(*coefficients.shape[:2], *self.shape)

    def pod_arrays(self) -> dict[str, np.ndarray]:
        return {"mean_frame": self.mean_frame, "modes": self.modes, "scale": self.scale}

    def window_coefficients(self, samples: np.ndarray, coefficients: np.ndarray, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each window's input coefficients (n, inputs, rank) and its next frame's (n, rank)."""
        positions = np.searchsorted(samples, windows)
        return coefficients[positions[:, :self.inputs]], coefficients[positions[:, self.inputs]]


def ridge_regression(features: np.ndarray, targets: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """min ‖Y − XW − b‖² + α‖W‖² with the intercept b unpenalised, through the SVD of the
    centred features (stable where the features are nearly collinear). W (features, targets), b (targets,)."""
    feature_mean, target_mean = features.mean(axis=0), targets.mean(axis=0)
    left, singular, right = np.linalg.svd(features - feature_mean, full_matrices=False)
    denominator = singular**2 + alpha
    shrink = np.divide(singular, denominator, out=np.zeros_like(singular), where=denominator > 0)
    weights = right.T @ (shrink[:, np.newaxis] * (left.T @ (targets - target_mean)))
    return weights, target_mean - feature_mean @ weights


def ridge_features(coefficients: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Features of the autoregression from input coefficients (n, inputs, rank) and the
    standardised group (n,): the coefficients, the coefficients times the group, the group."""
    flat = coefficients.reshape(len(coefficients), -1)
    group = np.asarray(group, dtype=np.float64)[:, np.newaxis]
    return np.concatenate([flat, flat * group, group], axis=1)


@dataclass(eq=False)
class PODRidge(Learned, POD):
    """POD of the training frames and a linear autoregression of its coefficients (no Keras).

    The standardised training frames (NaN as 0) minus their mean frame are decomposed by a
    thin SVD; the `rank` leading modes are kept, their coefficients scaled to unit variance.
    The next frame's coefficients are those of the last frame plus an increment that is
    linear in the `history` frames' coefficients, in those coefficients times the
    standardised group value and in the group value: x' = x + (A + g B) c + d g + e. The
    products make the linear dynamics depend on the group, as the shedding frequency depends
    on Re; with them a model trained on a few Re interpolates between them. A, B, d, e
    are one ridge regression (`alpha`, intercept unpenalised) in closed form, on every
    training window (no validation set: nothing to stop early). Rollouts stay in POD space.
    """

    rank: int = 32
    alpha: float = 1e-6
    history: int | None = None

    kind = "ridge"

    def __post_init__(self):
        if not (isinstance(self.rank, int | np.integer) and self.rank >= 1):
            raise ValueError(f"ridge: rank must be a whole number of at least 1, got {self.rank!r}")
        if not self.alpha >= 0:
            raise ValueError(f"ridge: alpha must be at least 0, got {self.alpha!r}")

    def fit(self, field: xr.DataArray, groups: np.ndarray, train_frames: dict[float, np.ndarray], task: ForecastTask, *, seed: int,
            threads: int, backend: str, gpu: bool, log_every: float = 10.0) -> dict:
        started = time.perf_counter()
        samples, frames = self.prepare(field, groups, train_frames, task)
        energy = self.fit_pod(frames, self.rank, threads)
        coefficients = self.coefficients(frames)
        windows = training_windows(train_frames, task, 1, self.inputs)
        inputs, targets = self.window_coefficients(samples, coefficients, windows)
        features = ridge_features(inputs, self.standard_group(np.asarray(groups)[windows[:, 0]]))
        increments = targets - inputs[:, -1]
        self.weights, self.intercept = ridge_regression(features, increments, self.alpha)
        # one-step MSE of the standardised frames within the POD subspace (the modes are orthonormal)
        loss = float(np.mean(np.sum(((features @ self.weights + self.intercept - increments) * self.scale) ** 2, axis=1)) / frames[0].size)
        seconds = time.perf_counter() - started
        log.info("ridge autoregression on %d training windows, %d features: one-step MSE %.4g (standardised frames), %.1f s",
                 len(windows), features.shape[1], loss, seconds)
        return {"type": self.kind, "seconds": seconds, "epochs": None, "loss": loss, "device": "CPU (numpy)", "rank": len(self.modes),
                "energy": energy, "training_windows": len(windows), "validation_windows": 0, "frames_mb": frames.nbytes / 2**20}

    def rollout_batch(self, histories: np.ndarray, groups, steps: int) -> np.ndarray:
        """Every rollout (batch, steps, y, x) at once: one matrix product per step for the whole batch."""
        frames, nan_cells = self.history_frames(histories)
        state = self.batch_coefficients(frames)  # (batch, inputs, rank)
        group_value = self.standard_group(groups)
        for _ in range(steps):
            features = ridge_features(state[:, -self.inputs:], group_value)
            state = np.concatenate([state, (state[:, -1] + features @ self.weights + self.intercept)[:, np.newaxis]], axis=1)
        return self.in_units(self.batch_frames_of(state[:, self.inputs:]), nan_cells)

    def save_fitted(self, directory: Path) -> None:
        np.savez(directory / "pod.npz", **self.pod_arrays(), weights=self.weights, intercept=self.intercept)

    def load_fitted(self, directory: Path) -> None:
        with np.load(directory / "pod.npz", allow_pickle=False) as arrays:
            self.mean_frame, self.modes, self.scale = arrays["mean_frame"], arrays["modes"], arrays["scale"]
            self.weights, self.intercept = arrays["weights"], arrays["intercept"]


# ---------------------------------------------------------------------------------------
# Keras forecasters


@dataclass(eq=False, kw_only=True)
class KerasSettings:
    """The Keras training settings of `mlp` and `cnn` (as karman's Keras models have them), keyword-only."""

    epochs: int = 30
    patience: int = 5
    batch_size: int = 32
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    seed: int | None = None  # None: fit's seed


class KerasLearned(Learned):
    def check_training(self) -> None:
        for key in ("epochs", "patience", "batch_size"):
            if not (isinstance(getattr(self, key), int | np.integer) and getattr(self, key) >= 1):
                raise ValueError(f"{self.kind}: {key} must be a whole number of at least 1, got {getattr(self, key)!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"{self.kind}: learning_rate must be above 0, got {self.learning_rate!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"{self.kind}: optimizer {self.optimizer!r} is not one of {', '.join(OPTIMIZERS)}")

    def train(self, keras, model, loss, training: WindowBatches, validating: WindowBatches | None, *, backend: str,
              started: float, log_every: float) -> dict:
        """Compile and fit `model` (early stopping on `validating`), logging progress at most every `log_every` s."""
        model.compile(optimizer=getattr(keras.optimizers, OPTIMIZERS[self.optimizer])(learning_rate=self.learning_rate), loss=loss)
        total = self.epochs

        class Progress(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.began = self.reported = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                now = time.perf_counter()
                if epoch == 0 or epoch + 1 == total or now - self.reported >= log_every:
                    per_epoch = (now - self.began) / (epoch + 1)
                    losses = ", ".join(f"{key}={value:.4g}" for key, value in (logs or {}).items())
                    log.info("epoch %d/%d: %s (%.2f s/epoch, at most %.0f s left)", epoch + 1, total, losses, per_epoch,
                             per_epoch * (total - epoch - 1))
                    self.reported = now

        callbacks = [Progress()]
        stopping = validating is not None and self.patience < self.epochs
        if stopping:
            callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=self.patience, restore_best_weights=True))
        data = {"x": keras_stream(keras, training), "steps_per_epoch": len(training), "shuffle": False}
        if validating is not None:
            data |= {"validation_data": keras_stream(keras, validating), "validation_steps": len(validating)}
        history = {key: [float(value) for value in values] for key, values in model.fit(**data, epochs=self.epochs, verbose=0,
                                                                                            callbacks=callbacks).history.items()}
        run = len(history["loss"])
        best = int(np.argmin(history["val_loss"])) if stopping else run - 1
        seconds = time.perf_counter() - started
        gpus = gpu_devices(backend)
        device = f"GPU ({', '.join(gpus)}), Keras backend {backend}" if gpus else f"CPU, Keras backend {backend}"
        kept = f"the weights of epoch {best + 1} (least val_loss)" if stopping else "the last epoch's weights"
        log.info("%s trained on %s: %d epochs%s in %.1f s, %s kept", self.kind, device, run,
                 " (stopped early)" if run < self.epochs else "", seconds, kept)
        return {"type": self.kind, "seconds": seconds, "epochs": run, "best_epoch": best + 1, "loss": history["loss"][best],
                "val_loss": history["val_loss"][best] if "val_loss" in history else None, "device": device,
                "training_windows": training.count, "validation_windows": validating.count if validating is not None else 0,
                "history": history}

    def save_model(self, directory: Path) -> None:
        self.model.save(directory / "model.keras")

    def load_model(self, directory: Path) -> None:
        import keras

        self.model = keras.saving.load_model(directory / "model.keras", compile=False)


@dataclass(eq=False)
class PODMLP(KerasSettings, KerasLearned, POD):
    """POD of the training frames (as `PODRidge`) and a Keras dense net that advances its
    coefficients: in, the `history` frames' unit-variance coefficients and the standardised
    group value; out, the increment of the coefficients over the last frame's in the frames'
    units (each mode's coefficient times its standard deviation), less its mean over the
    training windows and divided by one scale for all modes (their RMS), so that the loss,
    their MSE, is proportional to the one-step MSE of the standardised frames: an
    energetic mode weighs more than a faint one. The last layer starts at zero: the
    untrained net is persistence plus the mean increment. Rollouts stay in POD space.
    """

    rank: int = 32
    hidden_units: list[int] = setting(default_factory=lambda: [128, 128])
    activation: str = "gelu"
    history: int | None = None

    kind = "mlp"

    def __post_init__(self):
        if not (isinstance(self.rank, int | np.integer) and self.rank >= 1):
            raise ValueError(f"mlp: rank must be a whole number of at least 1, got {self.rank!r}")
        if not self.hidden_units or not all(isinstance(width, int | np.integer) and width >= 1 for width in self.hidden_units):
            raise ValueError(f"mlp: hidden_units must be widths of at least 1, got {self.hidden_units!r}")
        self.check_training()

    def build(self, keras, features: int, rank: int):
        inputs = keras.Input((features,), name="coefficients")
        hidden = inputs
        for width in self.hidden_units:
            hidden = keras.layers.Dense(width, activation=self.activation)(hidden)
        outputs = keras.layers.Dense(rank, kernel_initializer="zeros", name="increment")(hidden)
        return keras.Model(inputs, outputs, name="pod_mlp")

    def fit(self, field: xr.DataArray, groups: np.ndarray, train_frames: dict[float, np.ndarray], task: ForecastTask, *, seed: int,
            threads: int, backend: str, gpu: bool, log_every: float = 10.0) -> dict:
        started = time.perf_counter()
        seed = seed if self.seed is None else self.seed
        keras = configure_keras(backend, seed, threads, gpu)
        samples, frames = self.prepare(field, groups, train_frames, task)
        energy = self.fit_pod(frames, self.rank, threads)
        coefficients = self.coefficients(frames)
        del frames
        train, validate = validation_split(train_frames, task, 1, self.inputs)
        groups = np.asarray(groups)

        def features_and_increments(windows):
            inputs, targets = self.window_coefficients(samples, coefficients, windows)
            features = np.concatenate([inputs.reshape(len(inputs), -1), self.standard_group(groups[windows[:, 0]])[:, np.newaxis]], axis=1)
            return features.astype(np.float32), targets - inputs[:, -1]

        train_x, train_increments = features_and_increments(train)
        self.increment_mean = (train_increments * self.scale).mean(axis=0)  # in frame units, per mode
        rms = float(np.sqrt(np.mean((train_increments * self.scale - self.increment_mean) ** 2)))
        self.increment_scale = rms if rms > 0 else 1.0

        def batches(features, increments, shuffle, batch_size):
            targets = ((increments * self.scale - self.increment_mean) / self.increment_scale).astype(np.float32)
            return WindowBatches(len(features), lambda positions: (features[positions], targets[positions]), batch_size, shuffle=shuffle,
                                 seed=seed)

        training = batches(train_x, train_increments, True, self.batch_size)
        validating = batches(*features_and_increments(validate), False, max(self.batch_size, 256)) if len(validate) else None
        self.model = self.build(keras, train_x.shape[1], len(self.modes))
        self.model.summary(print_fn=log.info)
        log.info("mlp: %d training and %d validation windows (the last %.0f%% of each group's, in time)", len(train), len(validate),
                 100 * VALIDATION_FRACTION)
        return {**self.train(keras, self.model, "mse", training, validating, backend=backend, started=started, log_every=log_every),
                "rank": len(self.modes), "energy": energy}

    def rollout_batch(self, histories: np.ndarray, groups, steps: int) -> np.ndarray:
        """Every rollout (batch, steps, y, x) at once: one compiled Keras call per step for the whole batch."""
        frames, nan_cells = self.history_frames(histories)
        state = self.batch_coefficients(frames)  # (batch, inputs, rank)
        group_value = self.standard_group(groups)[:, np.newaxis]
        for _ in range(steps):
            features = np.concatenate([state[:, -self.inputs:].reshape(len(state), -1), group_value], axis=1).astype(np.float32)
            standardised = np.asarray(self.model.predict_on_batch(features)).astype(np.float64)
            following = state[:, -1] + (self.increment_mean + self.increment_scale * standardised) / self.scale
            state = np.concatenate([state, following[:, np.newaxis]], axis=1)
        return self.in_units(self.batch_frames_of(state[:, self.inputs:]), nan_cells)

    def save_fitted(self, directory: Path) -> None:
        np.savez(directory / "pod.npz", **self.pod_arrays(), increment_mean=self.increment_mean,
                 increment_scale=np.asarray(self.increment_scale))
        self.save_model(directory)

    def load_fitted(self, directory: Path) -> None:
        with np.load(directory / "pod.npz", allow_pickle=False) as arrays:
            self.mean_frame, self.modes, self.scale = arrays["mean_frame"], arrays["modes"], arrays["scale"]
            self.increment_mean, self.increment_scale = arrays["increment_mean"], float(arrays["increment_scale"])
        self.load_model(directory)


def summed_mse(keras):
    """Loss of an unrolled prediction (batch, y, x, unroll): the sum over the steps of each step's mean squared error."""

    def loss(true, predicted):
        return keras.ops.sum(keras.ops.mean(keras.ops.square(true - predicted), axis=(1, 2)), axis=-1)

    return loss


@dataclass(eq=False)
class UNetForecaster(KerasSettings, KerasLearned):
    """A small U-Net (Keras functional API) that predicts the next frame's increment over the last one.

    In: the `history` standardised frames as channels (NaN cells as 0) and the standardised
    group value as one more constant channel (broadcast over the frame, not FiLM). Levels:
    one per entry of `filters`, two 3×3 convolutions each, 2×2 average pooling between
    levels, nearest upsampling and skip connections on the way up; the output is a 1×1
    convolution that starts at zero (the untrained net is persistence). A frame whose sides
    are not multiples of 2^(levels − 1) is zero-padded (evenly on both sides) and the
    output cropped back, so any grid size works.

    Training (a wrapper model of Keras layers and `keras.ops` only, any backend):
    - `unroll` > 1: the net is applied to its own predictions `unroll` times (the oldest
      frame dropped, the prediction appended), and the loss is the sum over those steps of
      each step's mean squared error (with 1, the one-step MSE);
    - `noise` > 0: Gaussian noise of that standard deviation (standardised units) is added
      to the input frames in training only (`keras.layers.GaussianNoise`), and the first
      increment is added to the noisy last frame, so the net also learns to pull a
      perturbed state back towards the data. Only the saved one-step net is rolled out.
    In a rollout the NaN cells are set back to 0 after every step.
    """

    filters: list[int] = setting(default_factory=lambda: [16, 32])
    unroll: int = 1
    noise: float = 0.0
    activation: str = "gelu"
    history: int | None = None

    kind = "cnn"

    def __post_init__(self):
        if not self.filters or not all(isinstance(count, int | np.integer) and count >= 1 for count in self.filters):
            raise ValueError(f"{self.kind}: filters must be counts of at least 1, got {self.filters!r}")
        if not (isinstance(self.unroll, int | np.integer) and self.unroll >= 1):
            raise ValueError(f"{self.kind}: unroll must be a whole number of at least 1, got {self.unroll!r}")
        if not self.noise >= 0:
            raise ValueError(f"{self.kind}: noise must be at least 0, got {self.noise!r}")
        self.check_training()

    def padding(self) -> tuple[tuple[int, int], tuple[int, int]]:
        multiple = 2 ** (len(self.filters) - 1)
        extra = [(-side) % multiple for side in self.shape]
        return tuple((pad // 2, pad - pad // 2) for pad in extra)

    def build(self, keras):
        """The one-step net: {"frames": (y, x, history), "group": (1,)} → increment (y, x, 1)."""
        layers = keras.layers
        padding = self.padding()
        padded = [side + sum(pad) for side, pad in zip(self.shape, padding)]
        frames = keras.Input((*self.shape, self.inputs), name="frames")
        group = keras.Input((1,), name="group")
        group_channel = layers.UpSampling2D(tuple(padded), name="group_channel")(layers.Reshape((1, 1, 1))(group))
        hidden = layers.Concatenate()([layers.ZeroPadding2D(padding)(frames), group_channel])

        def convolutions(hidden, count):
            for _ in range(2):
                hidden = layers.Conv2D(count, 3, padding="same", activation=self.activation)(hidden)
            return hidden

        skips = []
        for level, count in enumerate(self.filters):
            if level:
                hidden = layers.AveragePooling2D(2)(hidden)
            hidden = convolutions(hidden, count)
            skips.append(hidden)
        for level in reversed(range(len(self.filters) - 1)):
            hidden = layers.Concatenate()([layers.UpSampling2D(2)(hidden), skips[level]])
            hidden = convolutions(hidden, self.filters[level])
        increment = layers.Conv2D(1, 1, kernel_initializer="zeros", name="increment")(hidden)
        return keras.Model({"frames": frames, "group": group}, layers.Cropping2D(padding)(increment), name="unet")

    def unrolled(self, keras, seed: int):
        """The training model: {"frames", "group"} → the next `unroll` frames (y, x, unroll)."""
        frames = keras.Input((*self.shape, self.inputs), name="frames")
        group = keras.Input((1,), name="group")
        current = keras.layers.GaussianNoise(self.noise, seed=seed)(frames) if self.noise > 0 else frames
        predictions = []
        for _ in range(self.unroll):
            following = current[..., -1:] + self.model({"frames": current, "group": group})
            predictions.append(following)
            current = keras.ops.concatenate([current[..., 1:], following], axis=-1)
        outputs = predictions[0] if self.unroll == 1 else keras.ops.concatenate(predictions, axis=-1)
        return keras.Model({"frames": frames, "group": group}, outputs, name=f"unet_unrolled_{self.unroll}")

    def fit(self, field: xr.DataArray, groups: np.ndarray, train_frames: dict[float, np.ndarray], task: ForecastTask, *, seed: int,
            threads: int, backend: str, gpu: bool, log_every: float = 10.0) -> dict:
        started = time.perf_counter()
        seed = seed if self.seed is None else self.seed
        keras = configure_keras(backend, seed, threads, gpu)
        samples, frames = self.prepare(field, groups, train_frames, task)
        train, validate = validation_split(train_frames, task, self.unroll, self.inputs)
        group_of_window = {name: self.standard_group(np.asarray(groups)[windows[:, 0]])[:, np.newaxis]
                           for name, windows in (("train", train), ("validate", validate))}

        def batches(name, windows, shuffle, batch_size):
            positions_of = np.searchsorted(samples, windows)

            def gather(positions):
                window = np.moveaxis(frames[positions_of[positions]], 1, -1)  # (batch, y, x, history + unroll)
                return {"frames": window[..., :self.inputs], "group": group_of_window[name][positions]}, window[..., self.inputs:]

            return WindowBatches(len(windows), gather, batch_size, shuffle=shuffle, seed=seed)

        training = batches("train", train, True, self.batch_size)
        validating = batches("validate", validate, False, max(self.batch_size, 64)) if len(validate) else None
        self.model = self.build(keras)
        self.model.summary(print_fn=log.info)
        log.info("%s: %d training and %d validation windows (the last %.0f%% of each group's, in time), unroll %d, input noise %g",
                 self.kind, len(train), len(validate), 100 * VALIDATION_FRACTION, self.unroll, self.noise)
        metrics = self.train(keras, self.unrolled(keras, seed), summed_mse(keras), training, validating, backend=backend,
                             started=started, log_every=log_every)
        return {**metrics, "frames_mb": frames.nbytes / 2**20}

    def rollout_batch(self, histories: np.ndarray, groups, steps: int) -> np.ndarray:
        """Every rollout (batch, steps, y, x) at once: one call of Keras' compiled predict function
        per step for the whole batch (a step costs a tenth of an eager call, and far less per rollout)."""
        frames, nan_cells = self.history_frames(histories)
        current = np.moveaxis(frames, 1, -1)  # (batch, y, x, history)
        group_value = self.standard_group(groups)[:, np.newaxis]
        predicted = np.empty((len(current), steps, *self.shape), dtype=np.float32)
        for step in range(steps):
            increment = np.asarray(self.model.predict_on_batch({"frames": current, "group": group_value}))
            following = current[..., -1] + increment[..., 0]
            following[nan_cells] = 0.0
            predicted[:, step] = following
            current = np.concatenate([current[..., 1:], following[..., np.newaxis]], axis=-1)
        return self.in_units(predicted, nan_cells)

    def save_fitted(self, directory: Path) -> None:
        self.save_model(directory)

    def load_fitted(self, directory: Path) -> None:
        self.load_model(directory)


@dataclass(eq=False)
class ConvLSTMForecaster(UNetForecaster):
    """ConvLSTM (Shi et al. 2015, `keras.layers.ConvLSTM2D`): the recurrent net of the course's
    notes, reading the history frames in order as a sequence, and predicting the next frame's
    increment over the last one.

    In: the same inputs as the U-Net (the standardised frames, and the standardised group
    value as one more constant channel of every frame of the sequence). One ConvLSTM2D
    layer of 3×3 kernels per entry of `filters` (`activation` is its cell activation; all
    but the last pass their whole sequence on), then a 1×1 convolution that starts at zero
    (the untrained net is persistence). Trained and rolled out as the U-Net is: `unroll`,
    `noise`, early stopping, one step at a time.
    """

    filters: list[int] = setting(default_factory=lambda: [16])
    activation: str = "tanh"

    kind = "convlstm"

    def build(self, keras):
        """The one-step net: {"frames": (y, x, history), "group": (1,)} → increment (y, x, 1)."""
        layers = keras.layers
        frames = keras.Input((*self.shape, self.inputs), name="frames")
        group = keras.Input((1,), name="group")
        sequence = layers.Reshape((self.inputs, *self.shape, 1))(layers.Permute((3, 1, 2))(frames))  # oldest frame first
        group_channel = layers.UpSampling3D((self.inputs, *self.shape), name="group_channel")(layers.Reshape((1, 1, 1, 1))(group))
        hidden = layers.Concatenate()([sequence, group_channel])
        for level, count in enumerate(self.filters):
            hidden = layers.ConvLSTM2D(count, 3, padding="same", activation=self.activation,
                                       return_sequences=level < len(self.filters) - 1)(hidden)
        increment = layers.Conv2D(1, 1, kernel_initializer="zeros", name="increment")(hidden)
        return keras.Model({"frames": frames, "group": group}, increment, name="convlstm")


# ---------------------------------------------------------------------------------------
# From the config


LEARNED = {"ridge": PODRidge, "mlp": PODMLP, "cnn": UNetForecaster, "convlstm": ConvLSTMForecaster}


def build_forecaster(spec: dict, task: ForecastTask, *, strouhal: float | None = None, step_time: float | None = None):
    """The forecaster a config entry describes (`type` and its settings), not yet fitted.

    `dmd`: `window` (default the task's history) or `periods`, a window of that many
    shedding periods, which needs `strouhal` and `step_time` (D/U per step) — see
    `DMD.over_periods`. Raises ValueError naming `type` or the setting and what is allowed.
    """
    kind = spec.get("type")
    settings = {key: value for key, value in spec.items() if key != "type"}
    if kind not in TYPES:
        raise ValueError(f"forecaster type {kind!r} is not supported; allowed types: {', '.join(TYPES)}")
    cls = {"persistence": Persistence, "dmd": DMD, **LEARNED}[kind]
    allowed = [item.name for item in fields(cls)] + (["periods"] if kind == "dmd" else [])
    if unknown := sorted(set(settings) - set(allowed)):
        raise ValueError(f"forecaster type {kind!r} has no setting {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    if kind == "dmd":
        if "periods" in settings:
            if "window" in settings:
                raise ValueError("forecaster type 'dmd': give window or periods, not both")
            if strouhal is None or step_time is None:
                raise ValueError("forecaster type 'dmd' with periods needs the Strouhal number and the D/U per step (strouhal, step_time)")
            return DMD.over_periods(settings.pop("periods"), strouhal=strouhal, step_time=step_time, **settings)
        settings.setdefault("window", task.history)
    return cls(**settings)


def trainable(forecaster) -> bool:
    """Whether `forecaster` needs `fit` before it rolls out (the learned ones; not persistence or DMD)."""
    return isinstance(forecaster, Learned)


def load_forecaster(directory: str | os.PathLike):
    """A learned forecaster written by its `save(directory)`, ready to roll out."""
    directory = Path(directory)
    state = json.loads((directory / "forecaster.json").read_text())
    if state.get("type") not in LEARNED:
        raise ValueError(f"{directory / 'forecaster.json'}: type {state.get('type')!r} is not one of {', '.join(LEARNED)}")
    forecaster = LEARNED[state["type"]](**state["settings"])
    forecaster.restore_state(state)
    forecaster.load_fitted(directory)
    return forecaster
