"""Scores of a rollout against the truth, frame by frame.

`truth` and `prediction` are (lead, y, x) arrays, lead 1 first. Cells where the truth is
NaN (inside the cylinder) are left out; a prediction NaN where the truth is not is a
failed forecast and makes that frame's score NaN.
"""

from __future__ import annotations

import numpy as np

from karman.signal import dominant_frequency

# The Well's rollout windows of leads, first and last included (Ohana et al. 2024, NeurIPS
# Datasets and Benchmarks: its tables average VRMSE over 6:12 and 13:30), with 1 and 2–5.
WINDOWS = ((1, 1), (2, 5), (6, 12), (13, 30))
# PDEBench's fRMSE bands of radial wavenumber shells, first included, last not (iLow = 4, iHigh = 12).
BANDS = {"low": (0, 4), "mid": (4, 12), "high": (12, None)}


def frame_cells(truth: np.ndarray, prediction: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Truth and prediction as (lead, cells) float64, and which cells count (the truth's finite ones)."""
    truth = np.asarray(truth, dtype=np.float64).reshape(len(truth), -1)
    prediction = np.asarray(prediction, dtype=np.float64).reshape(truth.shape)
    counted = np.isfinite(truth)
    return np.where(counted, truth, 0.0), np.where(counted, prediction, 0.0), counted


def vrmse(truth: np.ndarray, prediction: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    """The Well's variance-scaled RMSE per frame, sqrt(mean((p − t)²) / (var(t) + ε)), ε = 1e-7.

    Mean and variance over the frame's cells; the variance is the sample variance (n − 1),
    as The Well takes torch.std (the_well/benchmark/metrics/spatial.py: VRMSE is NRMSE with
    norm_mode="std"). Predicting the frame's mean scores about 1.
    """
    truth, prediction, counted = frame_cells(truth, prediction)
    count = counted.sum(axis=1)
    squared_error = ((prediction - truth) ** 2).sum(axis=1) / count
    mean = truth.sum(axis=1, keepdims=True) / count[:, np.newaxis]
    variance = (np.where(counted, truth - mean, 0.0) ** 2).sum(axis=1) / (count - 1)
    return np.sqrt(squared_error / (variance + eps))


def nrmse(truth: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """PDEBench's normalised RMSE per frame, ||p − t||₂ / ||t||₂ (Takamoto et al. 2022,
    NeurIPS Datasets and Benchmarks; pdebench/models/metrics.py, err_nRMSE)."""
    truth, prediction, _ = frame_cells(truth, prediction)
    return np.linalg.norm(prediction - truth, axis=1) / np.linalg.norm(truth, axis=1)


def correlation(truth: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Pearson correlation of prediction and truth over each frame's cells (lead,): 1 for
    a perfect forecast, 0 for one unrelated to the truth."""
    truth, prediction, counted = frame_cells(truth, prediction)
    count = counted.sum(axis=1, keepdims=True)
    truth = np.where(counted, truth - truth.sum(axis=1, keepdims=True) / count, 0.0)
    prediction = np.where(counted, prediction - prediction.sum(axis=1, keepdims=True) / count, 0.0)
    return (truth * prediction).sum(axis=1) / np.sqrt((truth**2).sum(axis=1) * (prediction**2).sum(axis=1))


def valid_time(correlations: np.ndarray, threshold: float) -> int:
    """The correlation time in steps: the last lead before the correlation first falls
    below `threshold` (a NaN counts as below); 0 if lead 1 already does, the whole
    rollout (a lower bound then) if it never does."""
    failing = ~(np.asarray(correlations) >= threshold)
    return int(np.argmax(failing)) if failing.any() else len(failing)


def valid_time_units(steps: int, step_time: float, strouhal: float) -> dict[str, float]:
    """A number of steps as steps, time in D/U (× `step_time`, the D/U between the
    forecast's steps: stride × sample interval) and shedding periods (× St, since one
    period is 1/St in D/U)."""
    return {"steps": int(steps), "time": steps * step_time, "periods": steps * step_time * strouhal}


def rollout_windows(values: np.ndarray) -> dict[str, float | None]:
    """Mean of a per-lead score (lead 1 first) over The Well's windows of leads 1, 2–5,
    6–12, 13–30 and over the whole rollout (`all`).

    Keys name the leads averaged: a window the horizon cuts is named by what is left of it
    ("13-20" for a horizon of 20); a window wholly beyond the horizon keeps its name and
    the value None.
    """
    values = np.asarray(values, dtype=np.float64)
    windows: dict[str, float | None] = {}
    for first, last in WINDOWS:
        stop = min(last, len(values))
        if first > stop:
            windows[f"{first}-{last}"] = None
        else:
            windows[f"{first}" if first == stop else f"{first}-{stop}"] = float(values[first - 1 : stop].mean())
    windows["all"] = float(values.mean())
    return windows


def mean_filled(frames: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Frames (lead, y, x) with the `cells` (a boolean array of the same shape) set to their frame's mean over the others."""
    frames = np.asarray(frames, dtype=np.float64)
    mean = np.nanmean(np.where(cells, np.nan, frames), axis=(1, 2), keepdims=True)
    return np.where(cells, mean, frames)


def spectral_error(truth: np.ndarray, prediction: np.ndarray) -> dict[str, np.ndarray]:
    """PDEBench's fRMSE per frame in the low, mid and high wavenumber bands (lead,) each.

    As pdebench/models/metrics.py (metric_func, 2-D case, Lx = Ly = 1): the 2-D FFT of the
    error, |F(p) − F(t)|², summed over shells of radial index k = ⌊√(i² + j²)⌋ for the
    non-negative indices i < ny/2, j < nx/2 (k < min(ny, nx)/2), each shell's error
    √(sum) / (ny·nx), averaged over the shells k < 4 (low), 4 ≤ k < 12 (mid) and k ≥ 12
    (high; None where the frame has none). The truth's NaN cells are set to the frame mean
    first, in both.
    """
    masked = ~np.isfinite(truth)
    truth, prediction = mean_filled(truth, masked), mean_filled(prediction, masked)
    rows, columns = truth.shape[1:]
    power = np.abs(np.fft.fft2(prediction) - np.fft.fft2(truth))[:, : rows // 2, : columns // 2] ** 2
    shell = np.floor(np.hypot(*np.meshgrid(np.arange(rows // 2), np.arange(columns // 2), indexing="ij"))).astype(int)
    shells = min(rows // 2, columns // 2)
    per_shell = np.stack([power[:, shell == k].sum(axis=1) for k in range(shells)], axis=1)
    per_shell = np.sqrt(per_shell) / (rows * columns)
    return {band: per_shell[:, first:last].mean(axis=1) if first < shells else None for band, (first, last) in BANDS.items()}


def nearest_cell(y: np.ndarray, x: np.ndarray, point: tuple[float, float]) -> tuple[int, int]:
    """The (row, column) of the cell whose centre is nearest to `point` = (y, x) in the grid's coordinates."""
    return int(np.argmin(np.abs(np.asarray(y) - point[0]))), int(np.argmin(np.abs(np.asarray(x) - point[1])))


def rollout_strouhal(frames: np.ndarray, times: np.ndarray, probe: tuple[int, int]) -> float:
    """The Strouhal number of a rollout (frames (lead, y, x) at `times` in D/U), from the
    vorticity at the probe cell `probe` = (row, column), e.g. `nearest_cell(y, x, (0, 2))`:
    2 D downstream of the cylinder on the centre line, where the street's vorticity
    oscillates at the shedding frequency (off the line its 2f harmonic can win).

    Same method as the flow stage's St from the lift (`karman.signal.dominant_frequency`):
    the peak of the Hann-windowed, 16-fold zero-padded spectrum, read on a grid of 1/(16 T)
    for a rollout of T = times[-1] − times[0] D/U, so within ±1/(32 T) of that grid's
    point; a short rollout of few periods adds window leakage. NaN when the rollout holds
    less than about one period.
    """
    return dominant_frequency(np.asarray(frames, dtype=np.float64)[:, probe[0], probe[1]], np.asarray(times, dtype=np.float64))


def enstrophy_ratio(truth_frame: np.ndarray, predicted_frame: np.ndarray) -> float:
    """Enstrophy ½Σω² of the predicted frame over that of the true frame, over the truth's
    finite cells: 1 when the forecast keeps the vortices' strength, below when it smears them."""
    truth, prediction, _ = frame_cells(np.asarray(truth_frame)[np.newaxis], np.asarray(predicted_frame)[np.newaxis])
    return float((0.5 * (prediction**2).sum()) / (0.5 * (truth**2).sum()))


def drift(truth: np.ndarray, prediction: np.ndarray, times: np.ndarray, probe: tuple[int, int], strouhal: float) -> dict:
    """How a long rollout has drifted from the truth by its end, where it is no longer
    expected to match frame by frame: over its last shedding period (1/`strouhal` D/U, the
    truth's St), the ratio of the rms vorticity at the probe (the oscillation's amplitude
    about its mean: below 1 a rollout that damps, above one that grows) and of the mean
    enstrophy (the vortices' strength); and the rollout's and the truth's St over the last
    half of the rollout (phase drift shows as a St that moves). None where the rollout holds
    less than a period of the truth, or half of it less than about one period.
    """
    steps = len(truth)
    dt = float(times[1] - times[0]) if steps > 1 else float("nan")
    period = round(1 / (strouhal * dt)) if np.isfinite(strouhal) and strouhal > 0 and np.isfinite(dt) else None
    last = slice(steps - period, steps) if period and period <= steps else None
    half = slice(steps // 2, steps)

    def probe_rms(frames):
        signal = np.asarray(frames, dtype=np.float64)[:, probe[0], probe[1]]
        return float(np.sqrt(np.mean((signal - signal.mean()) ** 2)))

    def mean_enstrophy(frames, cells):
        frames = np.where(cells, np.asarray(frames, dtype=np.float64), 0.0)
        return float(np.mean(0.5 * (frames**2).sum(axis=(1, 2))))

    amplitude = enstrophy = None
    if last is not None:
        true_rms = probe_rms(truth[last])
        amplitude = probe_rms(prediction[last]) / true_rms if true_rms > 0 else None
        cells = np.isfinite(truth[last])
        enstrophy = mean_enstrophy(prediction[last], cells) / mean_enstrophy(truth[last], cells)
    return {"periods_in_rollout": None if period is None else steps / period, "amplitude_ratio_last_period": amplitude,
            "enstrophy_ratio_last_period": enstrophy,
            "strouhal_last_half": {"rollout": rollout_strouhal(prediction[half], times[half], probe),
                                   "truth": rollout_strouhal(truth[half], times[half], probe)}}


def errors_per_lead(truth: np.ndarray, prediction: np.ndarray, **labels) -> list[dict]:
    """Rows of errors.csv: lead (1 first), vrmse, nrmse and correlation per lead, each
    with `labels` (e.g. reynolds=900.0, test="unseen-re") in front."""
    scores = {"vrmse": vrmse(truth, prediction), "nrmse": nrmse(truth, prediction), "correlation": correlation(truth, prediction)}
    return [{**labels, "lead": lead + 1, **{name: float(values[lead]) for name, values in scores.items()}} for lead in range(len(truth))]
