"""Glue between Snakemake and the library: logging, canonical params, code digests."""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from karman.systems import registered

PACKAGE_DIR = Path(__file__).resolve().parent
# Files other than Python source that a module reads and whose change alters its output: the
# report's page, and each registered system's report templates (`System.report_data`).
MODULE_DATA = {"karman.report": ("templates/report.html.j2",)}


def setup_logging(log_path: str) -> None:
    """Send the library's log records, and any uncaught exception, to a rule's log file: karman's
    own errors (StoreError, ConfigError, DownloadError, …) as their message alone, any other
    with its traceback."""
    handler = logging.FileHandler(log_path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)

    def log_exception(kind, value, traceback):
        if kind.__module__.split(".")[0] == "karman":  # karman's own errors are messages for the user: no traceback
            logging.getLogger("karman").critical("failed: %s", value)
            print(f"karman: {value}", file=sys.stderr)
            return
        logging.getLogger("karman").critical("failed: %s", value, exc_info=(kind, value, traceback))
        sys.__excepthook__(kind, value, traceback)

    sys.excepthook = log_exception


def canonical(value) -> str:
    """A param value that prints the same on every parse: JSON with sorted keys."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def by_folder_name(paths: Iterable[str | os.PathLike]) -> dict[str, str]:
    """Each path by the name of the folder it lies in (results/forecast/cnn/rollout.zarr: `cnn`),
    sorted by name. A script finds its models' and forecasters' files in its own inputs so, where
    Snakemake put them: the paths themselves, or their local copies under a storage provider."""
    return dict(sorted((os.path.basename(os.path.dirname(path)), path) for path in map(os.fspath, paths)))


def folders_by_name(files: Iterable[str | os.PathLike]) -> dict[str, str]:
    """The folder of each name from files inside it (results/models/mlp/metrics.json: `mlp` ->
    results/models/mlp), sorted by name; see `by_folder_name`."""
    return {name: os.path.dirname(path) for name, path in by_folder_name(files).items()}


def module_data(module: str) -> tuple[str, ...]:
    """The data files (paths under the package) that `module` reads (MODULE_DATA, the systems' report_data)."""
    systems = {system.report: system.report_data for system in registered().values()}
    return MODULE_DATA.get(module, ()) + systems.get(module, ())


def module_path(module: str) -> Path:
    """Source file of a `karman.*` module or package name."""
    relative = PACKAGE_DIR.joinpath(*module.split(".")[1:])
    return relative / "__init__.py" if relative.is_dir() else relative.with_suffix(".py")


def karman_imports(module: str) -> set[str]:
    """The `karman.*` modules that importing `module` runs: the packages above it and what it imports."""
    parts = module.split(".")
    found = {".".join(parts[:i]) for i in range(1, len(parts))}
    for node in ast.walk(ast.parse(module_path(module).read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "karman":
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names if module_path(f"{node.module}.{alias.name}").exists())
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "karman")
    return found


def behaviour(source: str) -> str:
    """The source's syntax tree without docstrings: comments, docstrings and formatting
    cannot change what the code does, so they do not change this text."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                node.body = node.body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False)


def code_digest(*modules: str) -> str:
    """SHA-256 over the behaviour (`behaviour`) of `modules` and of every karman module
    that importing them runs, in turn, and over the data files they read (`module_data`).

    Passed as a rule param, it makes Snakemake rerun a rule when the library code it
    runs changes in what it does (Snakemake itself only watches the rule's own script).
    """
    seen: set[str] = set()
    pending = list(modules)
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        pending.extend(karman_imports(module) - seen)
    digest = hashlib.sha256()
    for module in sorted(seen):
        digest.update(module.encode() + b"\0" + behaviour(module_path(module).read_text()).encode())
        for data in module_data(module):
            digest.update(data.encode() + b"\0" + (PACKAGE_DIR / data).read_bytes())
    return digest.hexdigest()
