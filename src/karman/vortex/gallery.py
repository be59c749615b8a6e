"""The gallery of vorticity snapshots: what the data look like, one row per Reynolds number."""

from __future__ import annotations

import os

import numpy as np

from karman.plots import figure_png, plt
from karman.stores import open_store

DIVERGING = "RdBu_r"


def vorticity_gallery(vorticity_path: str | os.PathLike, snapshots_per_reynolds: int = 3, rows: int = 6) -> bytes:
    """A grid of vorticity snapshots, one row per Reynolds number (at most `rows` of them, spread
    over a sweep, its ends included), as PNG bytes.

    Diverging colormap with limits symmetric about zero, shared by all panels, axes in
    cylinder diameters. Reads only the snapshots it shows.
    """
    field = open_store(vorticity_path)["vorticity"]
    reynolds = field["reynolds"].values
    levels = np.unique(reynolds)
    levels = levels[np.unique(np.linspace(0, len(levels) - 1, min(rows, len(levels))).round().astype(int))]
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


def write_vorticity_gallery(vorticity_path: str | os.PathLike, output_png: str | os.PathLike) -> None:
    with open(output_png, "wb") as handle:
        handle.write(vorticity_gallery(vorticity_path))
