"""Glue between Snakemake and the library: logging, canonical params, code digests."""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# Files other than Python source that a module reads and whose change alters its output.
MODULE_DATA = {"karman.report": ("templates/report.html.j2", "templates/duffing.html.j2")}


def setup_logging(log_path: str) -> None:
    """Send the library's log records, and any uncaught exception, to a rule's log file."""
    handler = logging.FileHandler(log_path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)

    def log_exception(kind, value, traceback):
        logging.getLogger("karman").critical("failed: %s", value, exc_info=(kind, value, traceback))
        sys.__excepthook__(kind, value, traceback)

    sys.excepthook = log_exception


def canonical(value) -> str:
    """A param value that prints the same on every parse: JSON with sorted keys."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def module_path(module: str) -> Path:
    """Source file of a `karman.*` module name."""
    relative = module.removeprefix("karman").lstrip(".").replace(".", "/") or "__init__"
    return PACKAGE_DIR / f"{relative}.py"


def karman_imports(module: str) -> set[str]:
    """The `karman.*` modules that `module` imports directly."""
    tree = ast.parse(module_path(module).read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "karman":
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names if module_path(f"{node.module}.{alias.name}").exists())
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "karman")
    return found


def code_digest(*modules: str) -> str:
    """SHA-256 over the source of `modules` and every karman module they import, in turn.

    Passed as a rule param, it makes Snakemake rerun a rule when the library code it
    runs changes (Snakemake itself only watches the rule's own script).
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
        digest.update(module.encode() + b"\0" + module_path(module).read_bytes())
        for data in MODULE_DATA.get(module, ()):
            digest.update(data.encode() + b"\0" + (PACKAGE_DIR / data).read_bytes())
    return digest.hexdigest()
