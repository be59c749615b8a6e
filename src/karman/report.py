"""The `report` stage: one self-contained HTML page (figures embedded, no network)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import platform
from importlib.metadata import version
from pathlib import Path

import jinja2
import pandas as pd

from karman import __version__
from karman.plots import learning_curves, predicted_vs_true

TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("karman", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def model_rows(metrics: dict[str, dict]) -> list[dict]:
    """One row per model with R², MAE, RMSE on val and test (None where missing)."""
    rows = []
    for name, model in metrics.items():
        row = {"name": name, "type": model["model"]}
        for split in ("val", "test"):
            for key in ("r2", "mae", "rmse"):
                row[f"{split}_{key}"] = model.get(split, {}).get(key)
        rows.append(row)
    return rows


def software_versions() -> dict[str, str]:
    names = ("snakemake", "numpy", "xarray", "zarr", "dask", "keras", "scikit-learn", "matplotlib")
    return {"karman": __version__, "python": platform.python_version(), **{name: version(name) for name in names}}


def split_comparison(comparison_dirs: dict[str, dict[str, str | os.PathLike]]) -> list[dict]:
    """Test R² of each model under each compared split strategy, one row per strategy."""
    rows = []
    for strategy, models in comparison_dirs.items():
        scores = {name: json.loads((Path(directory) / "metrics.json").read_text()).get("test", {}).get("r2") for name, directory in models.items()}
        rows.append({"strategy": strategy, "r2": scores})
    return rows


def render_report(output_html: str | os.PathLike, *, gallery_png: str | os.PathLike, split_summary: str | os.PathLike,
                  model_dirs: dict[str, str | os.PathLike], config: dict,
                  comparison_dirs: dict[str, dict[str, str | os.PathLike]] | None = None) -> None:
    """Render `index.html` from the small outputs of the earlier stages."""
    metrics, predictions, histories = {}, {}, {}
    for name, directory in model_dirs.items():
        directory = Path(directory)
        metrics[name] = json.loads((directory / "metrics.json").read_text())
        predictions[name] = pd.read_csv(directory / "predictions.csv")
        if (directory / "history.csv").exists():
            histories[name] = pd.read_csv(directory / "history.csv")
    summary = json.loads(Path(split_summary).read_text())
    figures = {
        "gallery": data_uri(Path(gallery_png).read_bytes()),
        "predicted_vs_true": data_uri(predicted_vs_true(predictions)) if predictions else None,
        "learning_curves": data_uri(learning_curves(histories)) if histories else None,
    }
    html = TEMPLATES.get_template("report.html.j2").render(
        figures=figures,
        summary=summary,
        models=model_rows(metrics),
        comparison=split_comparison(comparison_dirs or {}),
        config=json.dumps(config, indent=2, sort_keys=True),
        versions=software_versions(),
        host=platform.node(),
        created=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )
    Path(output_html).write_text(html, encoding="utf-8")
