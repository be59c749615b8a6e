"""The forecasting figures of the report: error and correlation against lead for every
forecaster and both tests, a strip of truth, forecast and error for one unseen group, and an
animation of the truth beside the best forecaster's rollout of it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import animation

from karman.forecast.metrics import valid_time
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
        axes[0][column].set_title(f"{test} ({rows[group_column(rows)].nunique() if not rows.empty else 0} rollouts)")
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


def first_unseen(rollouts: dict[str, str | os.PathLike], samples_path: str | os.PathLike):
    """The first group of the unseen test: (grouping, group, its true frames, each forecaster's
    rollout of it, the times of its frames), or None when no forecaster forecast an unseen group."""
    stores = {name: open_store(path) for name, path in rollouts.items()}
    if not stores:
        return None
    first = next(iter(stores.values()))
    grouping = first["vorticity"].dims[0]
    unseen = first[grouping].values[first["test"].values == UNSEEN]
    if not len(unseen):
        return None
    group = unseen[0]
    field = open_store(samples_path)
    times = first["time"].sel({grouping: group}).values
    samples = np.flatnonzero((field[grouping].values == group) & np.isin(field["time"].values, times))
    truth = field["vorticity"].isel(sample=samples[np.argsort(field["time"].values[samples])]).values
    predictions = {name: store["vorticity"].sel({grouping: group}).values for name, store in stores.items()}
    return grouping, group, truth, predictions, times


def strip_of_first_unseen(rollouts: dict[str, str | os.PathLike], samples_path: str | os.PathLike) -> bytes:
    """`rollout_strip` for the first group of the unseen test, at leads 1, 10, horizon/2 and horizon."""
    if (unseen := first_unseen(rollouts, samples_path)) is None:
        return placeholder("no unseen group was forecast")
    grouping, group, truth, predictions, _ = unseen
    horizon = len(truth)
    leads = sorted({1, min(10, horizon), max(1, horizon // 2), horizon})
    return rollout_strip(truth, predictions, leads, f"{grouping} {group:g}, never trained on")


def group_column(errors: pd.DataFrame) -> str:
    """The column of errors.csv that holds the group (the Re): the one that is not a label or a score."""
    return next(column for column in errors.columns if column not in {"model", "test", "lead", "vrmse", "nrmse", "correlation"})


def best_forecaster(errors: pd.DataFrame, test: str = UNSEEN) -> str | None:
    """The forecaster whose rollouts of `test` stay correlated with the truth (≥ 0.9) longest,
    in steps averaged over the groups; the lower mean VRMSE breaks a tie. None without rollouts."""
    rows = errors[errors["test"] == test]
    if rows.empty:
        return None
    ranking = {}
    for name, model in rows.groupby("model", sort=True):
        valid = [valid_time(group.sort_values("lead")["correlation"].to_numpy(), 0.9) for _, group in model.groupby(group_column(rows))]
        ranking[name] = (float(np.mean(valid)), -float(model["vrmse"].mean()))
    return max(ranking, key=ranking.get)


def rollout_animation(truth: np.ndarray, prediction: np.ndarray, times: np.ndarray, name: str, title: str,
                      frames_per_second: int = 8) -> bytes:
    """A GIF of the truth beside the forecast `name`, one frame per lead (matplotlib's Pillow writer)."""
    scale = float(np.nanpercentile(np.abs(truth), 99)) or 1.0
    figure, axes = plt.subplots(1, 2, figsize=(5.6, 3.0), layout="constrained")
    images = []
    for ax, label, frames in ((axes[0], "truth", truth), (axes[1], name, prediction)):
        images.append(ax.imshow(frames[0], origin="lower", cmap="RdBu_r", vmin=-scale, vmax=scale))
        ax.set_title(label)
        ax.set_xticks([])
        ax.set_yticks([])
    caption = figure.suptitle("")

    def draw(lead: int):
        images[0].set_data(truth[lead])
        images[1].set_data(prediction[lead])
        caption.set_text(f"{title}: lead {lead + 1}, t = {times[lead]:.1f} D/U")
        return [*images, caption]

    movie = animation.FuncAnimation(figure, draw, frames=len(truth), blit=False)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "rollout.gif"
        movie.save(path, writer=animation.PillowWriter(fps=frames_per_second), dpi=72)
        plt.close(figure)
        return path.read_bytes()


def animation_of_best(errors: pd.DataFrame, rollouts: dict[str, str | os.PathLike], samples_path: str | os.PathLike) -> bytes:
    """`rollout_animation` of the first unseen group, the truth beside the best forecaster's rollout (`best_forecaster`)."""
    best = best_forecaster(errors)
    if best is None or (unseen := first_unseen({best: rollouts[best]}, samples_path)) is None:
        return placeholder("no unseen group was forecast")
    grouping, group, truth, predictions, times = unseen
    return rollout_animation(truth, predictions[best], times, best, f"{grouping} {group:g}")


def write_forecast_figures(outputs: dict[str, str | os.PathLike], *, errors: list[str | os.PathLike], rollouts: dict[str, str | os.PathLike],
                           samples_path: str | os.PathLike) -> None:
    tables = [pd.read_csv(path) for path in errors]
    every_error = pd.concat(tables) if tables else pd.DataFrame(columns=["model", "test"])
    write_figures(outputs, {
        "forecast_errors": lambda: error_curves(every_error),
        "forecast_strip": lambda: strip_of_first_unseen(rollouts, samples_path),
        "forecast_animation": lambda: animation_of_best(every_error, rollouts, samples_path),
    })
