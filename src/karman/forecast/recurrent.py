"""`PODGRU` (type `gru`): a gated recurrent unit (Keras `GRU`) that reads the POD coefficients of
the history frames in order, and advances them, trained on its own rollouts.

A recurrent model on POD coefficients (POD + LSTM/GRU) forecast cylinder wakes better than
ConvLSTM and autoencoder models in the comparison of Abadía-Heredia et al. (2024). karman's
differs from `PODMLP` (`karman.forecast.neural`) in two ways: the history is a sequence, not
a flat vector, and the loss is that of `unroll` steps of its own rollout (as the U-Net's),
which keeps long rollouts on the limit cycle (docs/forecasting.md, `forecast-horizon`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import xarray as xr

from karman.forecast.learned import VALIDATION_FRACTION, WindowBatches, validation_split
from karman.forecast.neural import KerasSettings, PODKerasLearned, summed_mse
from karman.forecast.windows import ForecastTask

log = logging.getLogger(__name__)


@dataclass(eq=False)
class PODGRU(KerasSettings, PODKerasLearned):
    """POD of the training frames (as `PODRidge`) and a GRU that advances its coefficients.

    In: the `history` frames' unit-variance coefficients, oldest first, each with the
    standardised group value appended (a sequence of `rank` + 1 features). One `GRU` layer
    of `units`, then a dense layer that starts at zero (the untrained net is persistence plus
    the mean increment) and gives the increment of the coefficients over the last frame's,
    in the units `PODMLP` uses (frame units less their mean over the training windows, over
    one RMS for all modes).

    Training: the net is applied to its own predictions `unroll` times (the oldest step
    dropped, the prediction appended); the loss is the sum over those steps of the mean
    squared error of the coefficients in frame units over the increments' RMS, so that each
    step weighs as the one-step MSE of the standardised frames does. `noise` > 0: Gaussian
    noise of that standard deviation on the input coefficients, in training only.
    Early stopping on the last tenth of each group's windows in time (`validation_split`).
    Rollouts stay in POD space, compiled as every Keras forecaster's (`karman.forecast.rollouts`).
    """

    rank: int = 32
    units: int = 128
    unroll: int = 8
    noise: float = 0.0
    history: int | None = None

    kind = "gru"

    def __post_init__(self):
        self.check_training("rank", "units", "unroll")

    def build(self, keras, rank: int):
        """The one-step net: a sequence (inputs, rank + 1) → the scaled increment (rank,)."""
        sequence = keras.Input((self.inputs, rank + 1), name="sequence")
        hidden = keras.layers.GRU(self.units)(sequence)
        return keras.Model(sequence, keras.layers.Dense(rank, kernel_initializer="zeros", name="increment")(hidden), name="pod_gru")

    def advance(self, ops, call, coefficients, group):
        """The next coefficients (batch, rank) after `coefficients` (batch, inputs, rank) at `group` (batch, 1)."""
        steps = ops.shape(coefficients)[1]
        sequence = ops.concatenate([coefficients, ops.repeat(ops.expand_dims(group, 1), steps, axis=1)], axis=-1)
        return coefficients[:, -1] + self.coefficient_increment(call(sequence))

    def unrolled(self, keras, seed: int):
        """The training model: {"coefficients" (inputs, rank), "group" (1,)} → `unroll` steps
        of coefficients in the loss's units (unroll, rank)."""
        ops = keras.ops
        rank = len(self.modes)
        coefficients = keras.Input((self.inputs, rank), name="coefficients")
        group = keras.Input((1,), name="group")
        current = keras.layers.GaussianNoise(self.noise, seed=seed)(coefficients) if self.noise > 0 else coefficients
        predictions = []
        for _ in range(self.unroll):
            following = self.advance(ops, self.model, current, group)
            predictions.append(ops.expand_dims(following, 1) * self.loss_weight)
            current = ops.concatenate([current[:, 1:], ops.expand_dims(following, 1)], axis=1)
        outputs = ops.concatenate(predictions, axis=1)
        return keras.Model({"coefficients": coefficients, "group": group}, outputs, name=f"pod_gru_unrolled_{self.unroll}")

    def fit(self, field: xr.DataArray, groups: np.ndarray, train_frames: dict[float, np.ndarray], task: ForecastTask, *, seed: int,
            threads: int, backend: str, gpu: bool, log_every: float = 10.0) -> dict:
        keras, seed, samples, coefficients, energy = self.fit_coefficients(field, groups, train_frames, task, seed, threads, backend, gpu)
        train, validate = validation_split(train_frames, task, self.unroll, self.inputs)
        groups = np.asarray(groups)
        positions = np.searchsorted(samples, train[:, self.inputs - 1:self.inputs + 1])
        self.fit_increments(coefficients[positions[:, 1]] - coefficients[positions[:, 0]])

        def batches(windows, shuffle, batch_size):
            window = coefficients[np.searchsorted(samples, windows)].astype(np.float32)  # (n, inputs + unroll, rank)
            group = self.standard_group(groups[windows[:, 0]])[:, np.newaxis]
            targets = window[:, self.inputs:] * self.loss_weight
            return WindowBatches(len(windows), lambda positions: ({"coefficients": window[positions, :self.inputs], "group": group[positions]},
                                                                  targets[positions]), batch_size, shuffle=shuffle, seed=seed)

        training = batches(train, True, self.batch_size)
        validating = batches(validate, False, max(self.batch_size, 256)) if len(validate) else None
        self.model = self.build(keras, len(self.modes))
        self.model.summary(print_fn=log.info)
        log.info("gru: %d training and %d validation windows (the last %.0f%% of each group's, in time), unroll %d, input noise %g",
                 len(train), len(validate), 100 * VALIDATION_FRACTION, self.unroll, self.noise)
        loss = summed_mse(keras, cell_axes=-1)  # (batch, unroll, rank): the modes averaged, the steps summed
        return {**self.train(keras, self.unrolled(keras, seed), loss, training, validating, backend=backend, log_every=log_every),
                "rank": len(self.modes), "energy": energy}

    @property
    def loss_weight(self) -> np.ndarray:
        """Unit-variance coefficients → the loss's units (frame units over the increments' RMS)."""
        return (self.scale / self.increment_scale).astype(np.float32)
