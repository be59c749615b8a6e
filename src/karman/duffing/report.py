"""The Duffing oscillator's section of the report: models against the goal, splits, settings."""

from __future__ import annotations

import json
import os
from pathlib import Path

from karman.duffing.oscillator import TARGET_LABELS, TARGETS
from karman.report import data_uri, read_metrics
from karman.workflow import folders_by_name

FIGURES = ("examples", "predicted_vs_true", "learning_curves", "generalisation_gap")
# The goal of the Duffing experiment: ω0 and γ recovered from the images with this test R².
GOAL = {"targets": ("omega0", "gamma"), "r2": 0.95}


def model_rows(metrics: dict[str, dict | None]) -> list[dict]:
    """One row per Duffing model: per target R² on train, val and test and test RMSE, and a status."""
    rows = []
    for name, model in metrics.items():
        row = {"name": name, "type": (model or {}).get("model", "?"), "device": (model or {}).get("device"),
               "status": "ok" if model else "no results (the model failed or was not run)", "targets": {}}
        for target in (model or {}).get("targets", []):
            row["targets"][target] = {f"{split}_{key}": model.get(split, {}).get(target, {}).get(key)
                                      for split in ("train", "val", "test") for key in ("r2", "rmse")}
        if model and model["model"] == "cnn":
            scores = [row["targets"][target]["test_r2"] for target in GOAL["targets"]]
            row["goal_met"] = all(score is not None and score >= GOAL["r2"] for score in scores)
        rows.append(row)
    return rows


def section(*, figures: dict[str, str | os.PathLike], model_dirs: dict[str, str | os.PathLike],
            split_summaries: dict[str, str | os.PathLike], settings: dict) -> dict:
    """What the report's Duffing section shows, from the small outputs of the Duffing stages."""
    return {
        "title": "the parameters of a driven Duffing oscillator from its response",
        "nav": [("duffing", "Duffing oscillator")],
        "figures": {name: data_uri(path) for name, path in figures.items()},
        "models": model_rows(read_metrics(model_dirs)),
        "splits": {kind: json.loads(Path(path).read_text()) for kind, path in split_summaries.items()},
        "targets": [{"name": name, "label": TARGET_LABELS[name], "range": settings["parameters"][name]} for name in TARGETS],
        "settings": settings,
        "goal": GOAL | {"labels": [TARGET_LABELS[name] for name in GOAL["targets"]]},
    }


def job_section(inputs, settings: dict) -> dict:
    """The section from the report job's inputs, named as rules/duffing.smk's
    `duffing_report_inputs` names them, and the generator `settings` it reports
    (`karman.systems`: `System.report`)."""
    return section(
        figures={name: inputs[f"duffing_{name}"] for name in FIGURES},
        model_dirs=folders_by_name(inputs["duffing_models"]),
        split_summaries={Path(path).stem: path for path in inputs["duffing_splits"]},
        settings=settings,
    )
