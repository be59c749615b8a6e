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
from karman.atomic import write_text_whole

# The page (templates/report.html.j2) includes the section of each system, `<system>/section.html.j2`.
# Every value is HTML-escaped (the templates end in .html.j2, which `select_autoescape` would
# not recognise): config strings, URLs, names and messages come from users and stores.
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def data_uri(path: str | os.PathLike) -> str:
    """The image at `path` (a .png or a .gif) inside the page, so that it fetches nothing."""
    kind = {".png": "png", ".gif": "gif"}[Path(path).suffix]
    return f"data:image/{kind};base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def read_metrics(model_dirs: dict[str, str | os.PathLike], file: str = "metrics.json") -> dict[str, dict | None]:
    """`file` (metrics.json) of each model's folder, or None for a model that has none (failed or not run)."""
    found = {}
    for name, directory in model_dirs.items():
        path = Path(directory) / file
        found[name] = json.loads(path.read_text()) if path.is_file() else None
    return found


def rule_wall_times(benchmarks: list[str | os.PathLike]) -> list[dict]:
    """Wall time and peak memory of each job from its Snakemake `benchmark:` file (last run),
    named by the file's path under logs/benchmarks/."""
    rows = []
    for path in sorted(map(Path, benchmarks)):
        with open(path) as handle:
            records = list(csv.DictReader(handle, delimiter="\t"))
        if records:
            job = path.with_suffix("").as_posix().removeprefix("logs/benchmarks/")
            rows.append({"job": job, "seconds": float(records[-1]["s"]), "max_rss_mb": records[-1].get("max_rss")})
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


def render_report(output_html: str | os.PathLike, *, sections: dict[str, dict], config: dict, backend: str,
                  benchmarks: list[str | os.PathLike] = (), workflow_dir: str | os.PathLike = ".") -> None:
    """Render `index.html`: the section of each system (`name -> what its template shows`,
    built by `karman.<name>.report.section` from that system's small outputs) and the provenance.

    Every section has a `title` and `nav` (anchor, label) pairs; `benchmarks` are the
    `benchmark:` files of the jobs whose wall times the page lists.
    """
    html = TEMPLATES.get_template("templates/report.html.j2").render(
        sections=sections,
        config=json.dumps(config, indent=2, sort_keys=True),
        versions=software_versions(backend),
        revision=workflow_revision(workflow_dir),
        wall_times=rule_wall_times(benchmarks),
        host=platform.node(),
        created=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )
    write_text_whole(output_html, html)
