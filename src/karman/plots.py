"""Figures of the workflow (matplotlib, no display needed)."""

from __future__ import annotations

import io
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from karman.stores import open_store  # noqa: E402

DIVERGING = "RdBu_r"


def figure_png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def vorticity_gallery(vorticity_path: str | os.PathLike, snapshots_per_reynolds: int = 3) -> bytes:
    """A grid of vorticity snapshots, one row per Reynolds number, as PNG bytes.

    Diverging colormap with limits symmetric about zero, shared by all panels, axes in
    cylinder diameters. Reads only the snapshots it shows.
    """
    field = open_store(vorticity_path)["vorticity"]
    reynolds = field["reynolds"].values
    levels = np.unique(reynolds)
    picks = {re: np.flatnonzero(reynolds == re)[np.linspace(0, (reynolds == re).sum() - 1, snapshots_per_reynolds).astype(int)] for re in levels}
    panels = {re: field.isel(sample=list(index)).load() for re, index in picks.items()}
    limit = max(float(np.nanpercentile(np.abs(p.values), 99)) for p in panels.values()) or 1.0
    figure, axes = plt.subplots(len(levels), snapshots_per_reynolds, figsize=(3.2 * snapshots_per_reynolds, 2.9 * len(levels)), squeeze=False, sharex=True, sharey=True)
    for row, re in enumerate(levels):
        for col in range(snapshots_per_reynolds):
            snapshot = panels[re].isel(sample=col)
            ax = axes[row, col]
            image = ax.pcolormesh(snapshot.x, snapshot.y, snapshot.values, cmap=DIVERGING, vmin=-limit, vmax=limit, shading="auto")
            ax.set_aspect("equal")
            ax.set_title(f"Re = {re:g}, t = {float(snapshot.time):.1f} D/U", fontsize=9)
            if col == 0:
                ax.set_ylabel("y / D")
            if row == len(levels) - 1:
                ax.set_xlabel("x / D")
    figure.colorbar(image, ax=axes, shrink=0.6, label="vorticity ω  [U/D]")
    return figure_png(figure)


def predicted_vs_true(predictions: dict[str, pd.DataFrame]) -> bytes:
    """One scatter per model of predicted against true Re on the test split, identity line."""
    figure, axes = plt.subplots(1, len(predictions), figsize=(3.6 * len(predictions), 3.6), squeeze=False)
    for ax, (name, table) in zip(axes[0], predictions.items()):
        test = table[table["split"] == "test"]
        low, high = table["true"].min(), table["true"].max()
        pad = 0.1 * (high - low or 1.0)
        ax.plot([low - pad, high + pad], [low - pad, high + pad], color="0.5", lw=1, label="identity")
        ax.scatter(test["true"], test["predicted"], s=8, alpha=0.5)
        ax.set_title(name)
        ax.set_xlabel("true Re")
        ax.set_ylabel("predicted Re")
        ax.set_xlim(low - pad, high + pad)
    return figure_png(figure)


def learning_curves(histories: dict[str, pd.DataFrame]) -> bytes:
    """Training and validation loss per epoch for each Keras model."""
    figure, axes = plt.subplots(1, len(histories), figsize=(3.8 * len(histories), 3.2), squeeze=False)
    for ax, (name, history) in zip(axes[0], histories.items()):
        for column in ("loss", "val_loss"):
            if column in history:
                ax.semilogy(history["epoch"] + 1, history[column], label=column)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.set_ylabel("MSE [Re²]")
        ax.legend()
    return figure_png(figure)


def write_vorticity_gallery(vorticity_path: str | os.PathLike, output_png: str | os.PathLike) -> None:
    with open(output_png, "wb") as handle:
        handle.write(vorticity_gallery(vorticity_path))
