"""What every system's figures share (matplotlib, no display needed): PNG bytes, placeholders,
learning curves, and the outputs of trained models."""

from __future__ import annotations

import io
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def figure_png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def placeholder(message: str) -> bytes:
    """A small figure that says why there is nothing to plot."""
    figure, ax = plt.subplots(figsize=(4, 1.2))
    ax.text(0.5, 0.5, message, ha="center", va="center")
    ax.axis("off")
    return figure_png(figure)


def learning_curves(histories: dict[str, pd.DataFrame]) -> bytes:
    """Training and validation loss per epoch for each Keras model."""
    if not histories:
        return placeholder("no Keras model was trained")
    figure, axes = plt.subplots(1, len(histories), figsize=(3.8 * len(histories), 3.2), squeeze=False, layout="constrained")
    for ax, (name, history) in zip(axes[0], histories.items()):
        for column in ("loss", "val_loss"):
            if column in history:
                ax.semilogy(history["epoch"] + 1, history[column], label=column)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.legend()
    axes[0][0].set_ylabel("MSE of the standardised targets")
    return figure_png(figure)


def write_figures(outputs: dict[str, str | os.PathLike], figures: dict) -> None:
    """Draw each figure named in `outputs` (name -> function returning PNG bytes) to its path."""
    for name, path in outputs.items():
        with open(path, "wb") as handle:
            handle.write(figures[name]())


def read_model_outputs(model_dirs: dict[str, str | os.PathLike]) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """predictions.csv and history.csv of each model that has them."""
    predictions, histories = {}, {}
    for name, directory in model_dirs.items():
        directory = Path(directory)
        if (directory / "predictions.csv").is_file():
            predictions[name] = pd.read_csv(directory / "predictions.csv")
        if (directory / "history.csv").is_file():
            histories[name] = pd.read_csv(directory / "history.csv")
    return predictions, histories
