"""Scoring a solver run as a forecaster: the solver's own speed–accuracy curve, on the axes
of the forecasters (`benchmarks/run.py forecast-frontier`, docs/forecasting.md).

A coarser solver run is a surrogate too: cheaper, less exact. To score it as a forecast of
the reference frames from a start time, it must start in the reference's phase; a run from
rest develops its street with a phase of its own. `phase_aligned_forecast` takes the
coarse run's frame that best matches (highest correlation) the reference's last history
frame, searched over one shedding period, and reads the coarse run's frames after it as the
forecast: what a coarse solver started from the reference state would give if its
transient only shifted the phase. It favours the solver a little (the best of a period's
shifts), never the forecasters.

A coarser grid masks other cells as solid (its cylinder's cells, resampled): both are scored
on the cells finite in both (`common_cells`), which again favours the solver a little.
"""

from __future__ import annotations

import numpy as np

from karman.forecast import metrics


def common_cells(reference: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """`reference` frames (…, y, x), NaN also where any `candidate` frame (time, y, x) is NaN."""
    return np.where(np.isnan(candidate).any(axis=0), np.nan, reference)


def phase_aligned_forecast(reference_start: np.ndarray, candidate: np.ndarray, horizon: int, period_steps: int) -> tuple[np.ndarray, int]:
    """From `candidate` frames (time, y, x), one step apart, the `horizon` frames after the frame
    (among its first `period_steps` + 1) most correlated with `reference_start` (y, x), and its index."""
    if len(candidate) < period_steps + 1 + horizon:
        raise ValueError(f"a candidate run of {len(candidate)} frames holds no alignment over {period_steps} steps and a horizon of {horizon}")
    correlations = metrics.correlation(np.repeat(reference_start[np.newaxis], period_steps + 1, axis=0), candidate[: period_steps + 1])
    start = int(np.nanargmax(correlations))
    return candidate[start + 1: start + 1 + horizon], start


def forecast_scores(truth: np.ndarray, forecast: np.ndarray, step_time: float, lead: int, threshold: float = 0.9) -> dict:
    """The frontier's two numbers for a forecast (lead, y, x) of `truth`: its VRMSE at `lead`
    (mean over the truth's finite cells, The Well's) and its valid time (correlation ≥
    `threshold`) in steps and D/U (× `step_time`)."""
    steps = metrics.valid_time(metrics.correlation(truth, forecast), threshold)
    return {"vrmse_at_lead": float(metrics.vrmse(truth, forecast)[lead - 1]), "valid_steps": steps, "valid_time": steps * step_time}
