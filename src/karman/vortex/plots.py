"""The vortex street's figures: the vorticity gallery and the report's data, physics and model figures."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from karman.plots import figure_png, learning_curves, placeholder, plt, read_model_outputs, write_figures
from karman.split import counts_per_group
from karman.stores import open_store
from karman.vortex.physics import STROUHAL_BAND, strouhal_reference

DIVERGING = "RdBu_r"


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
    if not predictions:
        return placeholder("no model predictions available")
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


def write_vorticity_gallery(vorticity_path: str | os.PathLike, output_png: str | os.PathLike) -> None:
    with open(output_png, "wb") as handle:
        handle.write(vorticity_gallery(vorticity_path))


def class_balance(split_summary: dict) -> bytes:
    """Samples per Reynolds number in each split, as grouped bars."""
    per_re = counts_per_group(split_summary)
    labels = list(per_re)
    splits = [name for name in ("train", "val", "test", "gap") if any(per_re[re].get(name, 0) for re in labels)]
    figure, ax = plt.subplots(figsize=(5.5, 3.2))
    width = 0.8 / len(splits)
    for i, split in enumerate(splits):
        ax.bar(np.arange(len(labels)) + i * width, [per_re[re].get(split, 0) for re in labels], width, label=split)
    ax.set_xticks(np.arange(len(labels)) + 0.4 - width / 2, labels)
    ax.set_xlabel("Re")
    ax.set_ylabel("samples")
    ax.set_title(f"split: {split_summary['strategy']}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the bars, not over them
    return figure_png(figure)


def embedding_scatter(embedding: pd.DataFrame) -> bytes:
    """The training snapshots in the plane of their first two principal components."""
    figure, ax = plt.subplots(figsize=(5, 4))
    for re, group in embedding.groupby("reynolds"):
        ax.scatter(group["pc1"], group["pc2"], s=5, alpha=0.6, label=f"Re {re:g}")
    ax.set_xlabel("principal component 1")
    ax.set_ylabel("principal component 2")
    ax.legend(markerscale=3)
    return figure_png(figure)


def strouhal_against_reference(flows: list[dict]) -> bytes:
    """Measured Strouhal numbers with the literature curve and its band."""
    reynolds = np.array([row["reynolds"] for row in flows])
    curve = np.geomspace(max(50, reynolds.min() / 1.5), min(1500, reynolds.max() * 1.5), 200)
    reference = np.array([strouhal_reference(re) for re in curve], dtype=float)
    figure, ax = plt.subplots(figsize=(5, 3.4))
    ax.plot(curve, reference, color="0.3", label="2D simulations (Henderson 1997)")
    ax.fill_between(curve, reference * (1 - STROUHAL_BAND), reference * (1 + STROUHAL_BAND), color="0.85", label=f"±{STROUHAL_BAND:.0%}")
    measured = [(row["reynolds"], row["strouhal"]["measured"]) for row in flows if row["strouhal"]["measured"] is not None]
    if measured:
        ax.scatter(*zip(*measured), color="C3", zorder=3, label="measured")
    ax.set_xscale("log")
    ax.set_xlabel("Re")
    ax.set_ylabel("St = f D / U")
    ax.legend(fontsize=8)
    return figure_png(figure)


def write_report_figures(outputs: dict[str, str | os.PathLike], *, split_summary: dict, embedding: pd.DataFrame, flows: list[dict],
                         predictions: dict[str, pd.DataFrame], histories: dict[str, pd.DataFrame]) -> None:
    """Write the report's figures (PNG) to the paths in `outputs`, one per key."""
    figures = {
        "class_balance": lambda: class_balance(split_summary),
        "embedding": lambda: embedding_scatter(embedding),
        "strouhal": lambda: strouhal_against_reference(flows),
        "predicted_vs_true": lambda: predicted_vs_true(predictions),
        "learning_curves": lambda: learning_curves(histories),
    }
    write_figures(outputs, figures)


def write_report_figures_from_files(outputs: dict[str, str | os.PathLike], *, split_summary: str | os.PathLike, embedding: str | os.PathLike,
                                    flow_summary: str | os.PathLike, model_dirs: dict[str, str | os.PathLike]) -> None:
    """The report's figures from the small outputs of earlier stages; models without
    results are left out of the model figures."""
    predictions, histories = read_model_outputs(model_dirs)
    write_report_figures(
        outputs,
        split_summary=json.loads(Path(split_summary).read_text()),
        embedding=pd.read_csv(embedding, comment="#"),
        flows=json.loads(Path(flow_summary).read_text())["flows"],
        predictions=predictions,
        histories=histories,
    )
