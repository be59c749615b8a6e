"""Forecasters on the proper orthogonal decomposition of the training frames: the POD itself
(shared with the Keras `mlp`, `karman.forecast.neural`) and `PODRidge` (type `ridge`), a
linear autoregression of its coefficients fitted in closed form (numpy, no Keras)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from threadpoolctl import threadpool_limits

from karman.forecast.learned import Learned
from karman.forecast.windows import ForecastTask, training_windows

log = logging.getLogger(__name__)

POD_TOLERANCE = 1e-6  # float32 frames: modes below this fraction of the largest singular value are round-off


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
        log.info("ridge autoregression on %d training windows, %d features: one-step MSE %.4g (standardised frames)",
                 len(windows), features.shape[1], loss)
        return {"type": self.kind, "epochs": None, "loss": loss, "device": "CPU (numpy)", "rank": len(self.modes),
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
