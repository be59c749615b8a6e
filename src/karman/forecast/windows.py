"""Which frames a forecaster trains on and which it is tested on, with no frame in both.

A group (one Reynolds number of the vorticity store, or whatever the store declares as its
grouping) is a time series of frames. A forecaster reads `history` frames, each `stride`
stored snapshots apart (a *step*), and predicts the next; rolled out, `horizon` steps.
Positions below count frames of one group in time order (0: its first frame); a rollout
or a training window holds the store's sample indices of those frames.

Two tests, one rollout per group:
- `unseen-re`: a held-out group, forecast from its first `history` steps; none of its
  frames is trained on.
- `future`: every other group, forecast into the last `future_fraction` of its series,
  which is never trained on, from the `history` steps right before it; training takes
  only the frames strictly before that history, so no training window shares a frame
  with a test window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import dask
import numpy as np
import xarray as xr

from karman.split import held_out_groups

UNSEEN = "unseen-re"
FUTURE = "future"


@dataclass(frozen=True)
class ForecastTask:
    """What is forecast: from `history` steps, `horizon` steps ahead, one step = `stride`
    stored snapshots; the last `future_fraction` of each training group is its test."""

    history: int
    stride: int
    horizon: int
    future_fraction: float

    def __post_init__(self):
        for key in ("history", "stride", "horizon"):
            if not (isinstance(getattr(self, key), int | np.integer) and getattr(self, key) >= 1):
                raise ValueError(f"forecast.{key} must be a whole number of at least 1, got {getattr(self, key)!r}")
        if not 0 < self.future_fraction < 1:
            raise ValueError(f"forecast.future_fraction must lie between 0 and 1 (exclusive), got {self.future_fraction!r}")


@dataclass(frozen=True, eq=False)
class Rollout:
    """One test rollout: the sample indices of its input frames (oldest first) and of the
    `horizon` frames it predicts (in order), in group `group`, for test `test`."""

    test: str  # UNSEEN ("unseen-re") or FUTURE ("future")
    group: float
    history: np.ndarray
    targets: np.ndarray


def group_frames(groups: np.ndarray, times: np.ndarray) -> dict[float, np.ndarray]:
    """For each group value (ascending), the sample indices of its frames sorted by time."""
    groups, times = np.asarray(groups, dtype=float), np.asarray(times)
    return {float(value): (members := np.flatnonzero(groups == value))[np.argsort(times[members], kind="stable")]
            for value in np.unique(groups)}


def steps_in(n_frames: int, stride: int) -> int:
    """How many steps of `stride` frames a series of `n_frames` frames holds from its first frame."""
    return (n_frames - 1) // stride + 1 if n_frames > 0 else 0


def future_start(n_frames: int, future_fraction: float) -> int:
    """Position of the first frame of the last `future_fraction` of a series (at least that fraction is kept out)."""
    return n_frames - math.ceil(future_fraction * n_frames - 1e-9)


def steps_needed(task: ForecastTask, history: int | None = None) -> int:
    """Steps one rollout spans: its history and its horizon."""
    return (task.history if history is None else history) + task.horizon


def rollout_positions(n_frames: int, test: str, task: ForecastTask, history: int | None = None,
                      name: str = "a group") -> tuple[np.ndarray, np.ndarray]:
    """Positions of a rollout's history and target frames in a group of `n_frames` frames.

    Raises ValueError naming the group (`name`), the steps it has, the steps the rollout
    needs and the settings to change.
    """
    history = task.history if history is None else history
    stride, horizon = task.stride, task.horizon
    if test == UNSEEN:
        first_target = history * stride
        if steps_in(n_frames, stride) < steps_needed(task, history):
            raise ValueError(f"{name} has {steps_in(n_frames, stride)} steps of stride {stride} ({n_frames} frames), but its "
                             f"unseen-re rollout needs history + horizon = {history} + {horizon} = {steps_needed(task, history)}: "
                             "lower forecast.horizon or forecast.stride (or the model's history)")
    else:
        first_target = future_start(n_frames, task.future_fraction)
        future_steps, steps_before = steps_in(n_frames - first_target, stride), first_target // stride
        if future_steps < horizon or steps_before < history:
            raise ValueError(f"{name} has {steps_in(n_frames, stride)} steps of stride {stride} ({n_frames} frames): its last "
                             f"forecast.future_fraction = {task.future_fraction:g} holds {future_steps} steps and the part before it "
                             f"{steps_before}, but its future rollout needs horizon = {horizon} after and history = {history} before: "
                             "lower forecast.horizon or forecast.stride, or change forecast.future_fraction")
    steps = first_target + stride * np.arange(-history, horizon)
    return steps[:history], steps[history:]


def plan(frames: dict[float, np.ndarray], held_out: list[float], task: ForecastTask, history: int | None = None,
         *, grouping: str = "group") -> tuple[list[Rollout], dict[float, np.ndarray]]:
    """The test rollouts (one per group, in the order of `frames`) and, per group not held
    out, the sample indices training may use (its frames before its future rollout).

    `frames`: as `group_frames` gives; `held_out`: the groups of the unseen-re test;
    `history`: a model's own number of input steps (default `task.history`): a longer one
    starts the unseen-re rollouts later and leaves fewer frames to train on.
    """
    held = {float(value) for value in held_out}
    if missing := sorted(held - set(frames)):
        raise ValueError(f"held-out {grouping} {', '.join(f'{value:g}' for value in missing)} not in the store "
                         f"(it has {', '.join(f'{value:g}' for value in frames)})")
    rollouts, train_frames = [], {}
    for group, series in frames.items():
        test = UNSEEN if group in held else FUTURE
        inputs, targets = rollout_positions(len(series), test, task, history, name=f"{grouping} = {group:g}")
        rollouts.append(Rollout(test, group, series[inputs], series[targets]))
        if test == FUTURE:
            train_frames[group] = series[: inputs[0]]
    return rollouts, train_frames


def training_windows(train_frames: dict[float, np.ndarray], task: ForecastTask, unroll: int = 1,
                     history: int | None = None) -> np.ndarray:
    """Sample indices (n, history + unroll) of every training window: `history` inputs then
    `unroll` targets, `stride` frames apart, inside one group's training frames.

    `train_frames` holds each group's training frames in time order with none missing
    (as `plan` gives). Windows start at every frame, not only every stride-th, and never
    cross groups.
    """
    length = (task.history if history is None else history) + unroll
    offsets = task.stride * np.arange(length)
    windows = [series[np.arange(len(series) - offsets[-1])[:, np.newaxis] + offsets]
               for series in train_frames.values() if len(series) > offsets[-1]]
    if not windows:
        raise ValueError(f"no training window fits: one spans {offsets[-1] + 1} frames ({length} steps of stride {task.stride}), "
                         f"the training frames per group are {[len(series) for series in train_frames.values()]}: "
                         "lower forecast.history, forecast.stride or forecast.future_fraction")
    return np.concatenate(windows)


def check_task(task: ForecastTask, frames_per_group: int, history: int | None = None, unroll: int = 1) -> None:
    """Check before any job, from the config alone, that groups of `frames_per_group`
    frames hold both rollouts and at least one training window; ValueError naming the settings."""
    name = f"each group of {frames_per_group} frames"
    rollout_positions(frames_per_group, UNSEEN, task, history, name=name)
    inputs, _ = rollout_positions(frames_per_group, FUTURE, task, history, name=name)
    training_windows({0.0: np.arange(inputs[0])}, task, unroll, history)


def normalisation(field: xr.DataArray, train_frames: dict[float, np.ndarray]) -> tuple[float, float]:
    """Mean and standard deviation of `field` (sample, …) over the training frames only,
    NaN cells (inside the cylinder) left out; computed with Dask chunk by chunk.

    One value each for all cells. (`karman.train.input_statistics` counts masked cells as
    0, which would pull the statistics towards 0; a forecaster keeps them NaN instead.)
    """
    samples = np.sort(np.concatenate([np.asarray(series) for series in train_frames.values()]))
    values = field.isel(sample=samples).astype(np.float64)
    mean, std = dask.compute(values.mean(skipna=True), values.std(skipna=True))
    return float(mean), float(std)


def unseen_groups(values, split: dict, forecast: dict) -> list[float]:
    """The groups of the unseen-re test: those the split holds out with `holdout-re`, else
    `forecast.holdout_reynolds`, else (an empty list) the middle one of the sorted `values`
    (900 of 300, 600, 900, 1200; 600 of 300, 600)."""
    if split["strategy"] == "holdout-re":
        return held_out_groups(values, split)
    if forecast["holdout_reynolds"]:
        return sorted(float(value) for value in forecast["holdout_reynolds"])
    values = sorted(float(value) for value in values)
    return [values[len(values) // 2]]
