"""Keras forecasters: `PODMLP` (type `mlp`, a dense net on POD coefficients), `UNetForecaster`
(type `cnn`, a U-Net on the frames) and `ConvLSTMForecaster` (type `convlstm`), trained by
karman's one Keras fit loop (`karman.keras_fit`).

- Keras settings as karman's Keras models have them: `epochs`, `patience`, `batch_size`,
  `learning_rate`, `optimizer`, `seed`, and `schedule` (`constant`, or `cosine`: the
  learning rate decays along a cosine to 1/20 of it over the `epochs`). Validation (early
  stopping on the validation loss, the best epoch's weights restored): the last tenth of
  each group's training windows in time, not a random tenth (`validation_split`); the
  training windows that share a frame with them are left out of training. A group with fewer than ten windows gives no
  validation window; with none at all, or `patience` ≥ `epochs`, every epoch runs and the
  last one's weights are kept.
- `seed`: a forecaster built with its own `seed` uses it; otherwise `fit`'s `seed`. Same
  seed, backend and machine → the same weights (`karman.keras_fit.configure_keras` makes
  TensorFlow's ops deterministic; batches are shuffled with numpy's generator seeded by
  (seed, epoch)).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from dataclasses import field as setting
from pathlib import Path

import numpy as np
import xarray as xr

from karman.forecast.learned import (
    VALIDATION_FRACTION,
    Learned,
    WindowBatches,
    validation_split,
)
from karman.forecast.pod import POD
from karman.forecast.rollouts import roll
from karman.forecast.windows import ForecastTask
from karman.keras_fit import OPTIMIZERS, SCHEDULES, configure_keras, fit_with_early_stopping

log = logging.getLogger(__name__)


@dataclass(eq=False, kw_only=True)
class KerasSettings:
    """The Keras training settings of `mlp` and `cnn` (as karman's Keras models have them), keyword-only."""

    epochs: int = 30
    patience: int = 5
    batch_size: int = 32
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    schedule: str = "constant"  # or "cosine" (karman.keras_fit.SCHEDULES)
    seed: int | None = None  # None: fit's seed


class KerasLearned(Learned):
    def check_training(self, *counts: str) -> None:
        """The training settings, the type's own whole-number settings `counts` (each at least 1)
        and, where the type has one, the input `noise` of training (at least 0)."""
        for key in (*counts, "epochs", "patience", "batch_size"):
            if not (isinstance(getattr(self, key), int | np.integer) and getattr(self, key) >= 1):
                raise ValueError(f"{self.kind}: {key} must be a whole number of at least 1, got {getattr(self, key)!r}")
        if hasattr(self, "noise") and not self.noise >= 0:
            raise ValueError(f"{self.kind}: noise must be at least 0, got {self.noise!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"{self.kind}: learning_rate must be above 0, got {self.learning_rate!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"{self.kind}: optimizer {self.optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"{self.kind}: schedule {self.schedule!r} is not one of {', '.join(SCHEDULES)}")

    def train(self, keras, model, loss, training: WindowBatches, validating: WindowBatches | None, *, backend: str,
              log_every: float) -> dict:
        """Fit `model` with karman's Keras fit loop (early stopping on `validating`)."""
        fitted = fit_with_early_stopping(keras, model, loss, training, validating, label=self.kind, epochs=self.epochs,
                                         patience=self.patience, optimizer_name=self.optimizer, learning_rate=self.learning_rate,
                                         schedule=self.schedule, backend=backend, log_every=log_every)
        return {"type": self.kind, **fitted, "training_windows": training.count,
                "validation_windows": validating.count if validating is not None else 0}

    def save_model(self, directory: Path) -> None:
        self.model.save(directory / "model.keras")

    @property
    def compiled_rollouts(self) -> dict:
        """The compiled rollouts of the current model (`karman.forecast.rollouts.roll`'s cache), traced anew for a new model."""
        if getattr(self, "rollouts_of", None) is not self.model:
            self.rollouts_of, self.rollouts = self.model, {}
        return self.rollouts

    def load_model(self, directory: Path) -> None:
        import keras

        self.model = keras.saving.load_model(directory / "model.keras", compile=False)


class PODKerasLearned(KerasLearned, POD):
    """What the Keras forecasters on POD coefficients (`mlp`, `gru`) share: the start of the
    fit, the scaling of the increments the net predicts, the rollout in POD space (a
    subclass gives `advance`, one step) and the arrays saved beside the model."""

    def fit_coefficients(self, field, groups, train_frames, task, seed, threads, backend, gpu):
        """Keras configured, the POD fitted: (keras, the seed, the training frames' sample indices,
        their unit-variance coefficients (n, rank), the energy the modes hold)."""
        seed = seed if self.seed is None else self.seed
        keras = configure_keras(backend, seed, threads, gpu)
        samples, frames = self.prepare(field, groups, train_frames, task)
        energy = self.fit_pod(frames, self.rank, threads)
        return keras, seed, samples, self.coefficients(frames), energy

    def fit_increments(self, increments: np.ndarray) -> None:
        """The mean (per mode, frame units) and one RMS for all modes of the training windows' increments (n, rank)."""
        self.increment_mean = (increments * self.scale).mean(axis=0)
        rms = float(np.sqrt(np.mean((increments * self.scale - self.increment_mean) ** 2)))
        self.increment_scale = rms if rms > 0 else 1.0

    def coefficient_increment(self, predicted):
        """The net's output (batch, rank), in its scaled units → the increment of the unit-variance coefficients."""
        return (predicted * np.float32(self.increment_scale) + self.increment_mean.astype(np.float32)) / self.scale.astype(np.float32)

    def rollout_batch(self, histories: np.ndarray, groups, steps: int, *, compiled: bool = True) -> np.ndarray:
        """Every rollout (batch, steps, y, x) at once, in POD space (`karman.forecast.rollouts`):
        `advance` (a subclass's, in `keras.ops`) applied to its own output `steps` times."""
        import keras

        frames, nan_cells = self.history_frames(histories)

        def step(call, state):
            coefficients, group = state  # (batch, inputs, rank), (batch, 1)
            following = self.advance(keras.ops, call, coefficients, group)
            return (keras.ops.concatenate([coefficients[:, 1:], following[:, np.newaxis]], axis=1), group), following

        state = (self.batch_coefficients(frames).astype(np.float32), self.standard_group(groups)[:, np.newaxis])
        coefficients = roll(keras, self.model, step, state, steps, compiled=compiled, cache=self.compiled_rollouts)
        return self.in_units(self.batch_frames_of(np.moveaxis(coefficients, 0, 1).astype(np.float64)), nan_cells)

    def save_fitted(self, directory: Path) -> None:
        np.savez(directory / "pod.npz", **self.pod_arrays(), increment_mean=self.increment_mean,
                 increment_scale=np.asarray(self.increment_scale))
        self.save_model(directory)

    def load_fitted(self, directory: Path) -> None:
        with np.load(directory / "pod.npz", allow_pickle=False) as arrays:
            self.mean_frame, self.modes, self.scale = arrays["mean_frame"], arrays["modes"], arrays["scale"]
            self.increment_mean, self.increment_scale = arrays["increment_mean"], float(arrays["increment_scale"])
        self.load_model(directory)


@dataclass(eq=False)
class PODMLP(KerasSettings, PODKerasLearned):
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
        if not self.hidden_units or not all(isinstance(width, int | np.integer) and width >= 1 for width in self.hidden_units):
            raise ValueError(f"mlp: hidden_units must be widths of at least 1, got {self.hidden_units!r}")
        self.check_training("rank")

    def build(self, keras, features: int, rank: int):
        inputs = keras.Input((features,), name="coefficients")
        hidden = inputs
        for width in self.hidden_units:
            hidden = keras.layers.Dense(width, activation=self.activation)(hidden)
        outputs = keras.layers.Dense(rank, kernel_initializer="zeros", name="increment")(hidden)
        return keras.Model(inputs, outputs, name="pod_mlp")

    def fit(self, field: xr.DataArray, groups: np.ndarray, train_frames: dict[float, np.ndarray], task: ForecastTask, *, seed: int,
            threads: int, backend: str, gpu: bool, log_every: float = 10.0) -> dict:
        keras, seed, samples, coefficients, energy = self.fit_coefficients(field, groups, train_frames, task, seed, threads, backend, gpu)
        train, validate = validation_split(train_frames, task, 1, self.inputs)
        groups = np.asarray(groups)

        def features_and_increments(windows):
            inputs, targets = self.window_coefficients(samples, coefficients, windows)
            features = np.concatenate([inputs.reshape(len(inputs), -1), self.standard_group(groups[windows[:, 0]])[:, np.newaxis]], axis=1)
            return features.astype(np.float32), targets - inputs[:, -1]

        train_x, train_increments = features_and_increments(train)
        self.fit_increments(train_increments)

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
        return {**self.train(keras, self.model, "mse", training, validating, backend=backend, log_every=log_every),
                "rank": len(self.modes), "energy": energy}

    def advance(self, ops, call, coefficients, group):
        """The next coefficients (batch, rank) after `coefficients` (batch, inputs, rank) at `group` (batch, 1)."""
        features = ops.concatenate([ops.reshape(coefficients, (ops.shape(coefficients)[0], -1)), group], axis=1)
        return coefficients[:, -1] + self.coefficient_increment(call(features))


def summed_mse(keras, cell_axes=(1, 2)):
    """Loss of an unrolled prediction, its steps on the last axis once `cell_axes` are averaged
    ((batch, y, x, unroll) with the default): the sum over the steps of each step's mean squared error."""

    def loss(true, predicted):
        return keras.ops.sum(keras.ops.mean(keras.ops.square(true - predicted), axis=cell_axes), axis=-1)

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
        self.check_training("unroll")

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
                             log_every=log_every)
        return {**metrics, "frames_mb": frames.nbytes / 2**20}

    def rollout_batch(self, histories: np.ndarray, groups, steps: int, *, compiled: bool = True) -> np.ndarray:
        """Every rollout (batch, steps, y, x) at once (`karman.forecast.rollouts`)."""
        import keras

        frames, nan_cells = self.history_frames(histories)
        ops = keras.ops

        def step(call, state):
            current, group, outside = state  # (batch, y, x, inputs), (batch, 1), (batch, y, x): 1 in a NaN cell
            following = ops.where(outside > 0, 0.0, current[..., -1] + call({"frames": current, "group": group})[..., 0])
            return (ops.concatenate([current[..., 1:], following[..., np.newaxis]], axis=-1), group, outside), following

        state = (np.moveaxis(frames, 1, -1), self.standard_group(groups)[:, np.newaxis], nan_cells.astype(np.float32))
        predicted = roll(keras, self.model, step, state, steps, compiled=compiled, cache=self.compiled_rollouts)
        return self.in_units(np.moveaxis(predicted, 0, 1), nan_cells)

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
