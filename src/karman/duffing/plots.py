"""Figures of the Duffing section of the report (matplotlib, no display needed)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from karman.duffing.oscillator import TARGET_LABELS, TARGETS
from karman.plots import figure_png, learning_curves, placeholder, plt, read_model_outputs, write_figures
from karman.stores import open_store


def duffing_examples(curves_path: str | os.PathLike, images_path: str | os.PathLike, examples: int = 4) -> bytes:
    """Example response curves and force-sweep images with their true (ω0, γ, ε)."""
    curves = open_store(curves_path).isel(sample=slice(0, examples)).load()
    images = open_store(images_path).isel(sample=slice(0, examples)).load()
    figure, axes = plt.subplots(2, examples, figsize=(3.3 * examples, 6.4), squeeze=False, layout="constrained")

    def title(sample):
        return ", ".join(f"{TARGET_LABELS[name]}={float(sample[name]):.2f}" for name in TARGETS)

    for i in range(examples):
        curve = curves.isel(sample=i)
        ax = axes[0, i]
        ax.plot(curve.frequency, curve.response, color="C0")
        ax.axvline(float(curve.omega0), color="0.6", lw=1, ls="--")
        ax.set_title(title(curve), fontsize=9)
        ax.set_xlabel("drive frequency ω")
        if i == 0:
            ax.set_ylabel(f"|z| at f = {json.loads(curves.attrs['generator_settings'])['curves']['force']:g}")
        image = images.isel(sample=i)
        ax = axes[1, i]
        mesh = ax.pcolormesh(image.frequency, image.force, image.response.sel(channel="response"), cmap="magma", shading="auto")
        ax.set_title(title(image), fontsize=9)
        ax.set_xlabel("drive frequency ω")
        if i == 0:
            ax.set_ylabel("force f")
    figure.colorbar(mesh, ax=axes[1, :], shrink=0.8, label="|z| + noise")
    return figure_png(figure)


def write_duffing_examples(curves_path: str | os.PathLike, images_path: str | os.PathLike, output_png: str | os.PathLike) -> None:
    with open(output_png, "wb") as handle:
        handle.write(duffing_examples(curves_path, images_path))


def duffing_targets(table: pd.DataFrame) -> list[str]:
    return [column.removeprefix("true_") for column in table if column.startswith("true_")]


def duffing_predicted_vs_true(predictions: dict[str, pd.DataFrame]) -> bytes:
    """Predicted against true value of each parameter (columns) for each model (rows), test split."""
    if not predictions:
        return placeholder("no model predictions available")
    targets = duffing_targets(next(iter(predictions.values())))
    figure, axes = plt.subplots(len(predictions), len(targets), figsize=(3.3 * len(targets), 3.1 * len(predictions)), squeeze=False, layout="constrained")
    for row, (name, table) in enumerate(predictions.items()):
        test = table[table["split"] == "test"]
        for col, target in enumerate(targets):
            ax = axes[row, col]
            low, high = table[f"true_{target}"].min(), table[f"true_{target}"].max()
            ax.plot([low, high], [low, high], color="0.5", lw=1)
            ax.scatter(test[f"true_{target}"], test[f"predicted_{target}"], s=6, alpha=0.5)
            ax.set_title(f"{name}: {TARGET_LABELS.get(target, target)}", fontsize=10)
            ax.set_xlabel(f"true {TARGET_LABELS.get(target, target)}")
            ax.set_ylabel(f"predicted {TARGET_LABELS.get(target, target)}")
    return figure_png(figure)


def duffing_generalisation_gap(metrics: dict[str, dict]) -> bytes:
    """R² per parameter on the training samples against val and test (fresh samples):
    a model that overfits scores high on train and low on the fresh ones."""
    metrics = {name: m for name, m in metrics.items() if m}
    if not metrics:
        return placeholder("no model metrics available")
    figure, axes = plt.subplots(1, len(metrics), figsize=(3.8 * len(metrics), 3.2), squeeze=False, layout="constrained")
    for ax, (name, model) in zip(axes[0], metrics.items()):
        targets = model["targets"]
        splits = [split for split in ("train", "val", "test") if split in model]
        width = 0.8 / len(splits)
        lowest = 0.0
        for i, split in enumerate(splits):
            values = np.array([np.nan if model[split][t]["r2"] is None else model[split][t]["r2"] for t in targets])
            lowest = min(lowest, np.nanmin(values, initial=0.0))
            ax.bar(np.arange(len(targets)) + i * width, np.maximum(values, -1.0), width, label=split)
        ax.set_xticks(np.arange(len(targets)) + 0.4 - width / 2, [TARGET_LABELS.get(t, t) for t in targets])
        ax.set_ylim(max(lowest, -1.0) - 0.05, 1.05)
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_title(f"{name} ({model['spec'].get('type')})")
    axes[0][0].set_ylabel("R²")
    # One legend for all panels, beside them: inside, it would hide the bars near R² = 1.
    figure.legend(*axes[0][0].get_legend_handles_labels(), loc="outside right upper")
    return figure_png(figure)


def write_duffing_figures(outputs: dict[str, str | os.PathLike], *, model_dirs: dict[str, str | os.PathLike]) -> None:
    """The Duffing section's model figures, from each model's predictions, history and metrics."""
    predictions, histories = read_model_outputs(model_dirs)
    metrics = {name: json.loads((Path(d) / "metrics.json").read_text()) for name, d in model_dirs.items() if (Path(d) / "metrics.json").is_file()}
    figures = {
        "predicted_vs_true": lambda: duffing_predicted_vs_true(predictions),
        "learning_curves": lambda: learning_curves(histories),
        "generalisation_gap": lambda: duffing_generalisation_gap(metrics),
    }
    write_figures(outputs, figures)
