"""The forecasting figures of the report: error and correlation against lead for every
forecaster and both tests, and a strip of truth, forecast and error for one unseen group."""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from karman.forecast.windows import FUTURE, UNSEEN
from karman.plots import figure_png, placeholder, write_figures
from karman.stores import open_store

TESTS = (UNSEEN, FUTURE)


def error_curves(errors: pd.DataFrame) -> bytes:
    """VRMSE and correlation against lead, averaged over the groups of each test, one line per forecaster."""
    if errors.empty:
        return placeholder("no forecaster has results")
    figure, axes = plt.subplots(2, len(TESTS), figsize=(10, 6.4), sharex=True, squeeze=False, layout="constrained")
    for column, test in enumerate(TESTS):
        rows = errors[errors["test"] == test]
        for name, model in rows.groupby("model", sort=True):
            mean = model.groupby("lead")[["vrmse", "correlation"]].mean()
            axes[0][column].plot(mean.index, mean["vrmse"], label=name)
            axes[1][column].plot(mean.index, mean["correlation"], label=name)
        axes[0][column].set_title(f"{test} ({rows.iloc[:, 2].nunique() if not rows.empty else 0} rollouts)")
        axes[1][column].axhline(0.9, color="grey", lw=0.8, ls="--")
        axes[1][column].set_xlabel("lead (steps)")
    axes[0][0].set_ylabel("VRMSE")
    axes[1][0].set_ylabel("correlation with the truth")
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1))
    return figure_png(figure)


def rollout_strip(truth: np.ndarray, predictions: dict[str, np.ndarray], leads: list[int], title: str) -> bytes:
    """Rows: the truth, then each forecaster's forecast and its error; columns: `leads` (1 first)."""
    rows = [("truth", truth)] + [row for name, frames in predictions.items()
                                  for row in ((name, frames), (f"{name} − truth", frames - truth))]
    figure, axes = plt.subplots(len(rows), len(leads), figsize=(1.9 * len(leads), 1.7 * len(rows)), squeeze=False, layout="constrained")
    scale = float(np.nanpercentile(np.abs(truth), 99)) or 1.0
    for r, (label, frames) in enumerate(rows):
        for c, lead in enumerate(leads):
            ax = axes[r][c]
            ax.imshow(frames[lead - 1], origin="lower", cmap="RdBu_r", vmin=-scale, vmax=scale)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"lead {lead}")
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
    figure.suptitle(title)
    return figure_png(figure)


def strip_of_first_unseen(rollouts: dict[str, str | os.PathLike], samples_path: str | os.PathLike) -> bytes:
    """`rollout_strip` for the first group of the unseen test, at leads 1, 10, horizon/2 and horizon."""
    stores = {name: open_store(path) for name, path in rollouts.items()}
    if not stores:
        return placeholder("no forecaster has results")
    first = next(iter(stores.values()))
    grouping = first["vorticity"].dims[0]
    unseen = first[grouping].values[first["test"].values == UNSEEN]
    if not len(unseen):
        return placeholder("no unseen group was forecast")
    group = unseen[0]
    field = open_store(samples_path)
    times = first["time"].sel({grouping: group}).values
    samples = np.flatnonzero((field[grouping].values == group) & np.isin(field["time"].values, times))
    truth = field["vorticity"].isel(sample=samples[np.argsort(field["time"].values[samples])]).values
    horizon = first.sizes["lead"]
    leads = sorted({1, min(10, horizon), max(1, horizon // 2), horizon})
    predictions = {name: store["vorticity"].sel({grouping: group}).values for name, store in stores.items()}
    return rollout_strip(truth, predictions, leads, f"{grouping} {group:g}, never trained on")


def write_forecast_figures(outputs: dict[str, str | os.PathLike], *, errors: list[str | os.PathLike], rollouts: dict[str, str | os.PathLike],
                           samples_path: str | os.PathLike) -> None:
    tables = [pd.read_csv(path) for path in errors]
    write_figures(outputs, {
        "forecast_errors": lambda: error_curves(pd.concat(tables) if tables else pd.DataFrame()),
        "forecast_strip": lambda: strip_of_first_unseen(rollouts, samples_path),
    })
