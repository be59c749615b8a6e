"""What every learned forecaster shares: its training frames and windows, and the base class.

A learned forecaster has the forecasters' interface (see `karman.forecast`) and one `fit` for all:

    fit(field, groups, train_frames, task, *, seed, threads, backend, gpu, log_every=10.0) -> dict

`field` is the lazy (sample, y, x) store variable, `groups` the group (Re) of every sample,
`train_frames` the sample indices training may use per group (`windows.plan`); the dict it
returns (epochs, losses, device, …; nothing in seconds: the stage times the fit) goes into
metrics.json. The types: `karman.forecast.pod` (`ridge`, numpy only),
`karman.forecast.neural` (`mlp`, `cnn`, `convlstm`, Keras) and `karman.forecast.recurrent`
(`gru`, Keras); `karman.forecast.forecasters` builds one from its config entry.

Shared by all:
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
from dataclasses import asdict
from pathlib import Path

import numpy as np
import xarray as xr

from karman.forecast.windows import ForecastTask, normalisation, training_windows

log = logging.getLogger(__name__)

VALIDATION_FRACTION = 0.1  # the last tenth of each group's training windows, in time


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
