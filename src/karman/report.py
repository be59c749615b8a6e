"""The `report` stage: one self-contained HTML page (figures embedded, no network).

It reads only the small outputs of earlier stages (JSON, CSV, PNG), never the stores,
and it renders whatever is there: a model without results gets a row that says so, a
physics value that was not measured is shown as missing, never as 0.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import json
import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import jinja2

from karman import __version__
from karman.split import counts_per_reynolds

TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("karman", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
)
METRIC_KEYS = ("r2", "mae", "rmse")
FIGURES = ("gallery", "class_balance", "embedding", "strouhal", "predicted_vs_true", "learning_curves")
DUFFING_FIGURES = ("examples", "predicted_vs_true", "learning_curves", "generalisation_gap")
# The goal of the Duffing experiment: ω0 and γ recovered from the images with this test R².
DUFFING_GOAL = {"targets": ("omega0", "gamma"), "r2": 0.95}


def data_uri(path: str | os.PathLike) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def read_metrics(model_dirs: dict[str, str | os.PathLike]) -> dict[str, dict | None]:
    """metrics.json of each model, or None for a model that has none (failed or not run)."""
    found = {}
    for name, directory in model_dirs.items():
        path = Path(directory) / "metrics.json"
        found[name] = json.loads(path.read_text()) if path.is_file() else None
    return found


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


def rule_wall_times(benchmark_dir: str | os.PathLike) -> list[dict]:
    """Wall time and peak memory of each job from Snakemake's `benchmark:` files (last run)."""
    rows = []
    root = Path(benchmark_dir)
    for path in sorted(root.rglob("*.tsv")):
        with open(path) as handle:
            records = list(csv.DictReader(handle, delimiter="\t"))
        if records:
            job = path.relative_to(root).with_suffix("")
            rows.append({"job": str(job), "seconds": float(records[-1]["s"]), "max_rss_mb": records[-1].get("max_rss")})
    return rows


def workflow_revision(workflow_dir: str | os.PathLike) -> dict:
    """Git commit of the workflow and whether its tree had uncommitted changes."""
    def git(*args):
        result = subprocess.run(["git", "-C", os.fspath(workflow_dir), *args], capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no")) if commit else None
    return {"commit": commit, "dirty": dirty}


def software_versions(backend: str) -> dict[str, str]:
    names = ("snakemake", "numpy", "xarray", "zarr", "dask", "keras", "scikit-learn", "matplotlib")
    versions = {"karman": __version__, "python": platform.python_version()}
    for name in names:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    versions["Keras backend"] = backend
    return versions


def validation_rows(validation: str | os.PathLike | None) -> list[dict] | None:
    """Rows of the solver validation table with their deviation; None when it was not run."""
    if validation is None:
        return None
    from karman.validation import QUANTITY_LABELS, deviation

    return [{**row, "deviation": deviation(row), "label": QUANTITY_LABELS.get(row["quantity"], row["quantity"])}
            for row in json.loads(Path(validation).read_text())["cases"]]


def duffing_rows(metrics: dict[str, dict | None]) -> list[dict]:
    """One row per Duffing model: per target R² on train, val and test and test RMSE, and a status."""
    rows = []
    for name, model in metrics.items():
        row = {"name": name, "type": (model or {}).get("model", "?"), "device": (model or {}).get("device"),
               "status": "ok" if model else "no results (the model failed or was not run)", "targets": {}}
        for target in (model or {}).get("targets", []):
            row["targets"][target] = {f"{split}_{key}": model.get(split, {}).get(target, {}).get(key)
                                      for split in ("train", "val", "test") for key in ("r2", "rmse")}
        if model and model["model"] == "cnn":
            scores = [row["targets"][target]["test_r2"] for target in DUFFING_GOAL["targets"]]
            row["goal_met"] = all(score is not None and score >= DUFFING_GOAL["r2"] for score in scores)
        rows.append(row)
    return rows


def duffing_section(figures: dict[str, str | os.PathLike], model_dirs: dict[str, str | os.PathLike],
                    split_summaries: dict[str, str | os.PathLike], settings: dict) -> dict:
    """What the report's Duffing section shows, from the small outputs of the Duffing stages."""
    from karman.duffing import TARGET_LABELS, TARGETS

    return {
        "figures": {name: data_uri(path) for name, path in figures.items()},
        "models": duffing_rows(read_metrics(model_dirs)),
        "splits": {kind: json.loads(Path(path).read_text()) for kind, path in split_summaries.items()},
        "targets": [{"name": name, "label": TARGET_LABELS[name], "range": settings["parameters"][name]} for name in TARGETS],
        "settings": settings,
        "goal": DUFFING_GOAL | {"labels": [TARGET_LABELS[name] for name in DUFFING_GOAL["targets"]]},
    }


def render_report(output_html: str | os.PathLike, *, config: dict, figures: dict[str, str | os.PathLike] | None = None,
                  split_summary: str | os.PathLike | None = None, flow_summary: str | os.PathLike | None = None,
                  model_dirs: dict[str, str | os.PathLike] | None = None, validation: str | os.PathLike | None = None,
                  comparison_dirs: dict[str, dict[str, str | os.PathLike]] | None = None, duffing: dict | None = None,
                  benchmark_dir: str | os.PathLike = "benchmarks", workflow_dir: str | os.PathLike = ".") -> None:
    """Render `index.html` from the small outputs of the earlier stages.

    The vortex-street sections need `figures`, `split_summary`, `flow_summary` and
    `model_dirs` (leave `figures` out to render without them); `duffing` holds the
    arguments of `duffing_section` for the Duffing section.
    """
    karman = None
    if figures is not None:
        metrics = read_metrics(model_dirs)
        reynolds, per_re = per_reynolds_rows(metrics)
        flows = json.loads(Path(flow_summary).read_text())["flows"]
        summary = json.loads(Path(split_summary).read_text())
        karman = {
            "figures": {name: data_uri(path) for name, path in figures.items()},
            "summary": summary | {"counts_per_reynolds": counts_per_reynolds(summary)},
            "flows": flows,
            "validation": validation_rows(validation),
            "models": model_rows(metrics),
            "per_reynolds": {"reynolds": reynolds, "rows": per_re},
            "comparison": split_comparison(comparison_dirs or {}),
            "downloads": [flow for flow in flows if flow.get("sha256")],
        }
    html = TEMPLATES.get_template("report.html.j2").render(
        karman=karman,
        duffing=duffing_section(**duffing) if duffing else None,
        config=json.dumps(config, indent=2, sort_keys=True),
        versions=software_versions(config["training"]["backend"]),
        revision=workflow_revision(workflow_dir),
        wall_times=rule_wall_times(benchmark_dir),
        host=platform.node(),
        created=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )
    Path(output_html).write_text(html, encoding="utf-8")
