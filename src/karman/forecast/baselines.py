"""Forecasters that need no training: the floor every learned forecaster must beat.

Each has the forecasters' interface (see `karman.forecast`): `history` (the steps it
reads, None for the task's) and `rollout(history, group, steps)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Persistence:
    """Tomorrow is today: the last history frame, repeated for every step."""

    history: int | None = None  # reads only the last frame, but starts where the task's models start

    def rollout(self, history: np.ndarray, group: float, steps: int) -> np.ndarray:
        return np.repeat(np.asarray(history[-1:], dtype=np.float32), steps, axis=0)

    def rollout_batch(self, histories: np.ndarray, groups, steps: int) -> np.ndarray:
        return np.repeat(np.asarray(histories[:, -1:], dtype=np.float32), steps, axis=1)


@dataclass(frozen=True)
class DMD:
    """Exact dynamic mode decomposition (Schmid 2010, J. Fluid Mech. 656; Tu et al. 2014,
    J. Comput. Dyn. 1), fitted on the rollout's own last `window` history frames.

    With the frames as columns, X = [x_1 … x_{m−1}], X' = [x_2 … x_m] (m = window) and the
    thin SVD X = U Σ V*, the linear map x_{k+1} ≈ A x_k is projected to Ã = U* X' V Σ⁻¹;
    its eigenvalues λ and eigenvectors w give the exact DMD modes φ = X' V Σ⁻¹ w. The
    forecast is x_{m+k} = Σ φ_j λ_j^k b_j with amplitudes b fitted (least squares) to the
    last frame x_m; its real part is returned.

    `rank`: singular values kept; default (None) all above `tolerance` (1e-10) of the
    largest, which is at most window − 1. `stabilise` (default True): eigenvalues with
    |λ| > 1 are moved onto the unit circle (λ/|λ|), so that a mode the short window saw
    growing neither explodes nor dominates a long rollout; decaying modes are left alone.
    A periodic wake has |λ| ≈ 1, so this only trims fitting noise.

    Cells that are NaN in any window frame (inside the cylinder) are left out of the fit
    and NaN in the forecast.
    """

    window: int
    rank: int | None = None
    stabilise: bool = True
    tolerance: float = 1e-10

    def __post_init__(self):
        if self.window < 2:
            raise ValueError(f"DMD needs a window of at least 2 frames, got {self.window}")

    @classmethod
    def over_periods(cls, periods: float, strouhal: float, step_time: float, **settings) -> DMD:
        """A DMD whose window spans `periods` shedding periods (1/St in D/U) at `step_time` D/U per step."""
        return cls(window=math.ceil(periods / (strouhal * step_time) - 1e-9) + 1, **settings)

    @property
    def history(self) -> int:
        return self.window

    def fit(self, snapshots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Eigenvalues (r,), modes (cells, r) and amplitudes at the last snapshot (r,) of
        `snapshots` (cells, m), one frame per column, float64."""
        before, after = snapshots[:, :-1], snapshots[:, 1:]
        left, singular, right_h = np.linalg.svd(before, full_matrices=False)
        rank = int(np.sum(singular > self.tolerance * singular[0])) if singular[0] > 0 else 0
        rank = rank if self.rank is None else min(rank, self.rank)
        left, singular, right = left[:, :rank], singular[:rank], right_h[:rank].conj().T
        projected = after @ right / singular  # X' V Σ⁻¹
        eigenvalues, eigenvectors = np.linalg.eig(left.conj().T @ projected)
        if self.stabilise:
            eigenvalues = np.where(np.abs(eigenvalues) > 1, eigenvalues / np.abs(eigenvalues), eigenvalues)
        modes = projected @ eigenvectors
        amplitudes = np.linalg.lstsq(modes, snapshots[:, -1], rcond=None)[0]
        return eigenvalues, modes, amplitudes

    def rollout(self, history: np.ndarray, group: float, steps: int) -> np.ndarray:
        if len(history) < self.window:
            raise ValueError(f"DMD with a window of {self.window} frames got a history of {len(history)}")
        frames = np.asarray(history[-self.window:], dtype=np.float64)
        cells = np.all(np.isfinite(frames), axis=0)
        forecast = np.full((steps, *frames.shape[1:]), np.nan, dtype=np.float32)
        eigenvalues, modes, amplitudes = self.fit(frames[:, cells].T)
        powers = eigenvalues[np.newaxis, :] ** np.arange(1, steps + 1)[:, np.newaxis]  # (steps, r)
        forecast[:, cells] = ((powers * amplitudes) @ modes.T).real
        return forecast

    def rollout_batch(self, histories: np.ndarray, groups, steps: int) -> np.ndarray:
        """Each history's own DMD (batch, steps, y, x): nothing is shared between them."""
        return np.stack([self.rollout(history, group, steps) for history, group in zip(histories, groups)])
