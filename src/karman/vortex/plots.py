"""The vortex street's figures in the report: data (class balance, embedding), physics (St and c_D
against Re) and models (predicted against true, learning curves)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from karman.plots import figure_png, learning_curves, placeholder, plt, read_model_outputs, write_figures
from karman.split import counts_per_group
from karman.vortex.physics import DRAG_BAND, STROUHAL_BAND, drag_reference, strouhal_reference

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
    ax.legend(markerscale=3, fontsize=7, ncol=1 + len(ax.get_legend_handles_labels()[0]) // 9, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return figure_png(figure)


PHYSICS_QUANTITIES = {  # flow summary key -> axis label, reference curve, band, whose curve
    "strouhal": ("St = f D / U", strouhal_reference, STROUHAL_BAND, "2D fit (Henderson 1997)"),
    "drag_coefficient": ("mean c_D", drag_reference, DRAG_BAND, "2D values at Re 100 and 1000, log-linear"),
}


def physics_points(flows: list[dict], key: str) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """The (Re, value) points of one quantity of the flow summary that the physics figure draws:
    those inside (or not checkable against) the band, and those outside it."""
    checks = [(row["reynolds"], row[key]) for row in flows if row[key]["measured"] is not None]
    return ([(re, check["measured"]) for re, check in checks if check["within"] is not False],
            [(re, check["measured"]) for re, check in checks if check["within"] is False])


def physics_against_reference(flows: list[dict]) -> bytes:
    """St and mean c_D of each flow against Re, with the 2D reference curves and their bands;
    points outside a band are drawn as crosses and labelled with their Re."""
    reynolds = np.array([row["reynolds"] for row in flows])
    curve = np.geomspace(max(50, reynolds.min() / 1.3), min(1500, reynolds.max() * 1.3), 200)
    figure, axes = plt.subplots(1, 2, figsize=(9.5, 3.4), layout="constrained")
    for ax, (key, (label, reference_of, band, source)) in zip(axes, PHYSICS_QUANTITIES.items()):
        reference = np.array([reference_of(re) for re in curve], dtype=float)
        ax.plot(curve, reference, color="0.3", label=source)
        ax.fill_between(curve, reference * (1 - band), reference * (1 + band), color="0.85", label=f"±{band:.0%}")
        inside, outside = physics_points(flows, key)
        if inside:
            ax.scatter(*zip(*inside), color="C0", zorder=3, s=18, label="measured")
        if outside:
            ax.scatter(*zip(*outside), color="C3", marker="x", zorder=3, s=30, label="measured, outside the band")
            for re, value in outside:
                ax.annotate(f"{re:g}", (re, value), textcoords="offset points", xytext=(4, 4), fontsize=7, color="C3")
        ax.set_xscale("log")
        ax.set_xlabel("Re")
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
    return figure_png(figure)


def error_by_reynolds(predictions: dict[str, pd.DataFrame]) -> bytes:
    """Mean absolute error of each model on the val and test snapshots of each Re, with the
    Reynolds numbers it trained on marked: held-out Re between them test interpolation,
    beyond them extrapolation."""
    if not predictions:
        return placeholder("no model predictions available")
    figure, axes = plt.subplots(1, len(predictions), figsize=(3.8 * len(predictions), 3.2), squeeze=False, sharey=True, layout="constrained")
    for ax, (name, table) in zip(axes[0], predictions.items()):
        errors = table.assign(error=(table["predicted"] - table["true"]).abs())
        for split, marker in (("val", "s"), ("test", "o")):
            per_re = errors[errors["split"] == split].groupby("true")["error"].mean()
            if len(per_re):
                ax.plot(per_re.index, per_re.to_numpy(), marker=marker, ms=4, lw=0.8, label=split)
        for re in np.unique(table.loc[table["split"] == "train", "true"]):
            ax.axvline(re, color="0.8", lw=0.8, zorder=0)
        ax.set_title(name)
        ax.set_xlabel("Re (grey lines: trained on)")
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("mean |predicted − true| Re")
    return figure_png(figure)


def write_report_figures(outputs: dict[str, str | os.PathLike], *, split_summary: dict, embedding: pd.DataFrame, flows: list[dict],
                         predictions: dict[str, pd.DataFrame], histories: dict[str, pd.DataFrame]) -> None:
    """Write the report's figures (PNG) to the paths in `outputs`, one per key."""
    figures = {
        "class_balance": lambda: class_balance(split_summary),
        "embedding": lambda: embedding_scatter(embedding),
        "physics": lambda: physics_against_reference(flows),
        "predicted_vs_true": lambda: predicted_vs_true(predictions),
        "error_by_reynolds": lambda: error_by_reynolds(predictions),
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
