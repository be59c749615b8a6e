"""The `forecast` stage for one forecaster: plan the tests, fit, roll out, score, write.

Outputs (docs/data-format.md): `rollout.zarr` with the forecast frames of every tested
group (the Reynolds numbers), their times equal to the times of the frames they predict in
the input store; `metrics.json` with the scores per test and group (nothing measured in seconds: two identical
runs write the same bytes); `timings.json` with the seconds of the fit and of the rollouts;
`errors.csv` with the error and correlation at every lead.
"""

from __future__ import annotations

import json
import logging
import os
import time

import numpy as np
import pandas as pd
import xarray as xr

from karman.atomic import write_text_whole, written_whole
from karman.check import check_store
from karman.forecast import metrics
from karman.forecast.forecasters import build_forecaster, trainable
from karman.forecast.store import ROLLOUT
from karman.forecast.windows import ForecastTask, Rollout, group_frames, plan
from karman.stores import declaration, open_store, write_store

log = logging.getLogger(__name__)

THRESHOLDS = (0.8, 0.9, 0.95)  # correlation thresholds of the valid time


def scores(truth: np.ndarray, prediction: np.ndarray, one_step: np.ndarray, times: np.ndarray, probe: tuple[int, int]) -> dict:
    """Every score of one rollout (docs/forecasting.md): one-step and per-lead errors, The Well's
    windows, valid times, spectral error, the rollout's and the truth's Strouhal number, enstrophy."""
    horizon = len(truth)
    vrmse = metrics.vrmse(truth, prediction)
    correlations = metrics.correlation(truth, prediction)
    dt = float(times[1] - times[0]) if horizon > 1 else float("nan")
    strouhal_truth = metrics.rollout_strouhal(truth, times, probe)
    leads = sorted({1, min(10, horizon), max(1, horizon // 2), horizon})
    valid = {}
    for threshold in THRESHOLDS:
        steps = metrics.valid_time(correlations, threshold)
        valid[f"{threshold:g}"] = metrics.valid_time_units(steps, dt, strouhal_truth)
    spectral = metrics.spectral_error(truth, prediction)
    return {
        "one_step": {"nrmse": float(np.nanmean(metrics.nrmse(truth, one_step))), "vrmse": float(np.nanmean(metrics.vrmse(truth, one_step)))},
        "vrmse_at_lead": {str(lead): float(vrmse[lead - 1]) for lead in leads},
        "vrmse_windows": metrics.rollout_windows(vrmse),
        "valid_time": valid,
        "spectral_error": {band: None if values is None else float(np.nanmean(values)) for band, values in spectral.items()},
        "strouhal": {"rollout": metrics.rollout_strouhal(prediction, times, probe), "truth": strouhal_truth,
                     "window": float(times[-1] - times[0]) if horizon > 1 else 0.0},
        "enstrophy_ratio_end": metrics.enstrophy_ratio(truth[-1], prediction[-1]),
        "drift": metrics.drift(truth, prediction, times, probe, strouhal_truth),
    }


ONE_STEP_BYTES = 256 * 2**20  # the teacher-forced histories gathered at once, at most


def one_step_predictions(forecaster, frames: np.ndarray, rollouts: list[Rollout], positions: dict[int, int]) -> list[np.ndarray]:
    """Each rollout's targets predicted from the true frames before them (teacher forcing: the
    one-step error), in batches of histories that hold at most ONE_STEP_BYTES."""
    windows = [(r, k) for r, rollout in enumerate(rollouts) for k in range(len(rollout.targets))]
    history = len(rollouts[0].history)
    per_batch = max(1, ONE_STEP_BYTES // (history * frames[0].nbytes))
    predicted = []
    for start in range(0, len(windows), per_batch):
        chosen = windows[start:start + per_batch]
        series = [np.concatenate([rollouts[r].history, rollouts[r].targets])[k:k + history] for r, k in chosen]
        histories = np.stack([frames[[positions[i] for i in window]] for window in series])
        predicted.append(forecaster.rollout_batch(histories, [rollouts[r].group for r, _ in chosen], 1)[:, 0])
    predicted = np.concatenate(predicted)
    bounds = np.cumsum([0] + [len(rollout.targets) for rollout in rollouts])
    return [predicted[bounds[r]:bounds[r + 1]] for r in range(len(rollouts))]


def run_forecast(samples_path: str | os.PathLike, rollout_path: str | os.PathLike, metrics_json: str | os.PathLike,
                 errors_csv: str | os.PathLike, timings_json: str | os.PathLike, *, name: str, spec: dict, task: dict, held_out: list[float], probe: dict,
                 backend: str = "tensorflow", threads: int = 1, gpu: bool = False) -> dict:
    """The `forecast` stage for the forecaster `name` (`spec`: its config entry) on the store at `samples_path`."""
    task = ForecastTask(**{key: task[key] for key in ("history", "stride", "horizon", "future_fraction")})
    store = open_store(samples_path)
    declared = declaration(store)
    grouping, field = declared.grouping, store[declared.variable]
    if grouping is None or "time" not in store.coords:
        raise ValueError(f"{samples_path}: forecasting needs a store that declares a grouping and has a time coordinate along sample")
    groups, times = store[grouping].values, store["time"].values
    forecaster = build_forecaster(spec, task)
    rollouts, train_frames = plan(group_frames(groups, times), held_out, task, forecaster.history, grouping=grouping)
    fit, fit_seconds = {}, None
    if trainable(forecaster):
        log.info("%s: fitting %s on %d training frames of %d groups", name, spec["type"], sum(map(len, train_frames.values())), len(train_frames))
        started = time.perf_counter()
        fit = forecaster.fit(field, groups, train_frames, task, seed=spec.get("seed", 0), threads=threads, backend=backend, gpu=gpu)
        fit_seconds = time.perf_counter() - started
    needed = np.unique(np.concatenate([np.concatenate([r.history, r.targets]) for r in rollouts]))
    frames = field.isel(sample=needed).values.astype(np.float32)  # the test frames only: horizon + history per group
    positions = {int(sample): k for k, sample in enumerate(needed)}
    cell = metrics.nearest_cell(store["y"].values, store["x"].values, (probe["y"], probe["x"]))
    # Every test's rollout in one batch: one call of the forecaster per step for all of them.
    histories = np.stack([frames[[positions[i] for i in rollout.history]] for rollout in rollouts])
    started = time.perf_counter()
    predictions = list(forecaster.rollout_batch(histories, [rollout.group for rollout in rollouts], task.horizon))
    rollout_seconds = time.perf_counter() - started
    one_steps = one_step_predictions(forecaster, frames, rollouts, positions)
    per_group, rows = [], []
    for rollout, prediction, one_step in zip(rollouts, predictions, one_steps):
        truth = frames[[positions[i] for i in rollout.targets]]
        score = scores(truth, prediction, one_step, times[rollout.targets], cell)
        per_group.append({"test": rollout.test, grouping: rollout.group, **score})
        rows += metrics.errors_per_lead(truth, prediction, model=name, test=rollout.test, **{grouping: rollout.group})
        log.info("%s: %s %s = %g: VRMSE at lead 1 %.3g, valid time (correlation 0.9) %d steps", name, rollout.test, grouping,
                 rollout.group, score["vrmse_at_lead"]["1"], score["valid_time"]["0.9"]["steps"])
    dt = float(np.median([np.diff(times[r.targets]).mean() for r in rollouts]))
    dataset = xr.Dataset(
        {"vorticity": ((grouping, "lead", "y", "x"), np.stack(predictions).astype(np.float32), dict(field.attrs))},
        coords={grouping: [r.group for r in rollouts], "lead": np.arange(1, task.horizon + 1),
                "time": ((grouping, "lead"), np.stack([times[r.targets] for r in rollouts])),
                "test": (grouping, np.array([r.test for r in rollouts], dtype=object)), "y": store["y"].values, "x": store["x"].values},
        attrs={"history": forecaster.history or task.history, "stride": task.stride, "dt": dt, "forecaster": name,
               "settings": json.dumps(spec, sort_keys=True), "source": os.fspath(samples_path)},
    )
    write_store(dataset, rollout_path, chunks={grouping: 1}, check=lambda path, label: check_store(path, ROLLOUT, label))
    frames_forecast = len(rollouts) * task.horizon
    result = {"forecaster": name, "spec": spec, "task": task.__dict__, "grouping": grouping, "probe": probe, "fit": fit,
              "rollouts": per_group}
    write_json(result, metrics_json)
    write_json({"forecaster": name, "fit_seconds": fit_seconds, "rollout_seconds": rollout_seconds, "frames_forecast": frames_forecast,
                "frames_per_second": frames_forecast / rollout_seconds if rollout_seconds else None}, timings_json)
    with written_whole(errors_csv) as partial:
        pd.DataFrame(rows).to_csv(partial, index=False)
    return result


def write_json(value: dict, path: str | os.PathLike) -> None:
    """`value` as JSON, NaN as null, whole or not at all."""
    write_text_whole(path, json.dumps(without_nan(value), indent=2, sort_keys=True))


def without_nan(value):
    """`value` with every NaN (a Strouhal number a short rollout cannot give) as None."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {key: without_nan(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [without_nan(item) for item in value]
    return value
