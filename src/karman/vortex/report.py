"""The vortex street's section of the report: data, physics checks, models, split comparison."""

from __future__ import annotations

import json
import os
from pathlib import Path

from karman.forecast.goals import goals
from karman.report import data_uri, read_metrics
from karman.split import counts_per_group
from karman.vortex.physics import QUANTITY_LABELS, deviation
from karman.workflow import folders_by_name

FIGURES = ("gallery", "class_balance", "embedding", "physics", "predicted_vs_true", "error_by_reynolds", "learning_curves")
FORECAST_FIGURES = ("forecast_errors", "forecast_strip", "forecast_animation")  # with forecasters only
METRIC_KEYS = ("r2", "mae", "rmse")


def model_rows(metrics: dict[str, dict | None]) -> list[dict]:
    """One row per model: R², MAE, RMSE on val and test (None where missing), and a status."""
    rows = []
    for name, model in metrics.items():
        row = {"name": name, "type": (model or {}).get("model", "?"), "device": (model or {}).get("device"),
               "status": "ok" if model else "no results (the model failed or was not run)"}
        for split in ("val", "test"):
            for key in METRIC_KEYS:
                row[f"{split}_{key}"] = (model or {}).get(split, {}).get(key)
        rows.append(row)
    return rows


def per_reynolds_rows(metrics: dict[str, dict | None]) -> tuple[list[str], list[dict]]:
    """Test MAE per Reynolds number (columns) for each model (rows)."""
    reynolds = sorted({re for model in metrics.values() if model for re in model.get("test", {}).get("per_reynolds", {})}, key=float)
    rows = []
    for name, model in metrics.items():
        per_re = (model or {}).get("test", {}).get("per_reynolds", {})
        rows.append({"name": name, "mae": [per_re.get(re, {}).get("mae") for re in reynolds],
                     "bias": [per_re.get(re, {}).get("bias") for re in reynolds]})
    return reynolds, rows


def comparison_folders(folders) -> dict[str, dict[str, str]]:
    """The compared splits' model folders (results/comparison/STRATEGY/models/MODEL) by strategy, then model, sorted."""
    nested: dict[str, dict[str, str]] = {}
    for folder in sorted(map(os.fspath, folders)):
        strategy = os.path.basename(os.path.dirname(os.path.dirname(folder)))
        nested.setdefault(strategy, {})[os.path.basename(folder)] = folder
    return nested


def split_comparison(comparison_dirs: dict[str, dict[str, str | os.PathLike]]) -> list[dict]:
    """Test R² and MAE of each model under each compared split strategy, one row per strategy.

    R² is undefined (None) when the test split holds a single Reynolds number, as with
    one held-out Re; the MAE still says how far off the predictions are.
    """
    rows = []
    for strategy, models in comparison_dirs.items():
        tests = {name: (m or {}).get("test", {}) for name, m in read_metrics(models).items()}
        rows.append({"strategy": strategy, "models": {name: {"r2": t.get("r2"), "mae": t.get("mae")} for name, t in tests.items()}})
    return rows


def validation_rows(validation: str | os.PathLike | None) -> list[dict] | None:
    """Rows of the solver validation table with their deviation; None when it was not run."""
    if validation is None:
        return None
    return [{**row, "deviation": deviation(row), "label": QUANTITY_LABELS.get(row["quantity"], row["quantity"])}
            for row in json.loads(Path(validation).read_text())["cases"]]



def physics_outside(flows: list[dict]) -> list[str]:
    """Each quantity outside its band, in words: "St at Re 900 (−13 %) and 1200 (−12 %)"."""
    found = []
    for key, label in (("strouhal", "St"), ("drag_coefficient", "mean c_D")):
        outside = [f"{flow['reynolds']:g} ({flow[key]['measured'] / flow[key]['reference'] - 1:+.0%})"
                   for flow in flows if flow[key]["within"] is False]
        if outside:
            found.append(f"{label} at Re {', '.join(outside[:-1])}{' and ' if len(outside) > 1 else ''}{outside[-1]}")
    return found


def forecast_rows(forecast_metrics: dict[str, dict | None], timings: dict[str, dict | None]) -> list[dict]:
    """One row per forecaster (name → its metrics.json, None if it has none) and tested Reynolds
    number: errors, valid time at correlation 0.9, St, speed (from its timings.json)."""
    rows = []
    for name, result in forecast_metrics.items():
        if result is None:
            rows.append({"name": name, "status": "no results (the forecaster failed or was not run)"})
            continue
        for rollout in result["rollouts"]:
            leads = rollout["vrmse_at_lead"]
            rows.append({"name": name, "status": "ok", "test": rollout["test"], "group": rollout[result["grouping"]],
                         "vrmse_first": leads["1"], "vrmse_last": leads[max(leads, key=int)], "valid": rollout["valid_time"]["0.9"],
                         "strouhal": rollout["strouhal"], "drift": rollout["drift"], "frames_per_second": (timings.get(name) or {}).get("frames_per_second")})
    return rows


def section(*, figures: dict[str, str | os.PathLike], split_summary: str | os.PathLike, flow_summary: str | os.PathLike,
            model_dirs: dict[str, str | os.PathLike], validation: str | os.PathLike | None = None,
            comparison_dirs: dict[str, dict[str, str | os.PathLike]] | None = None,
            forecast_dirs: dict[str, str | os.PathLike] | None = None) -> dict:
    """What the vortex street's section shows, from the small outputs of its stages."""
    metrics = read_metrics(model_dirs)
    forecast_metrics = read_metrics(forecast_dirs or {})
    reynolds, per_re = per_reynolds_rows(metrics)
    flows = json.loads(Path(flow_summary).read_text())["flows"]
    summary = json.loads(Path(split_summary).read_text())
    return {
        "title": "the Reynolds number from one snapshot of the von Kármán vortex street",
        "nav": [("data", "Data"), ("physics", "Physics checks"), ("models", "Models")] + ([("forecasting", "Forecasting")] if forecast_dirs else []),
        "figures": {name: data_uri(path) for name, path in figures.items()},
        "summary": summary | {"counts_per_reynolds": counts_per_group(summary)},
        "flows": flows,
        "physics_outside": physics_outside(flows),
        "validation": validation_rows(validation),
        "models": model_rows(metrics),
        "per_reynolds": {"reynolds": reynolds, "rows": per_re},
        "comparison": split_comparison(comparison_dirs or {}),
        "downloads": [flow for flow in flows if flow.get("sha256")],
        "forecasts": forecast_rows(forecast_metrics, read_metrics(forecast_dirs or {}, "timings.json")),
        "forecast_goals": goals({name: result for name, result in forecast_metrics.items() if result}),
    }


def job_section(inputs, settings=None) -> dict:
    """The section from the report job's inputs, named as rules/vortex.smk's
    `vortex_report_inputs` names them (`karman.systems`: `System.report`)."""
    return section(
        figures={name: inputs[f"vortex_{name}"] for name in (*FIGURES, *FORECAST_FIGURES) if f"vortex_{name}" in inputs.keys()},
        split_summary=inputs["vortex_split_summary"],
        flow_summary=inputs["vortex_flow_summary"],
        validation=next(iter(inputs["vortex_validation"]), None),  # none when flow.validate is off
        model_dirs=folders_by_name(inputs["vortex_models"]),
        comparison_dirs=comparison_folders(inputs["vortex_comparison"]),
        forecast_dirs=folders_by_name(inputs["vortex_forecasts"]),
    )
