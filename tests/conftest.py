"""Shared test set-up: the CPU, and the real workflow run once on a tiny configuration."""

import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

# Tests run on the CPU and must not pick up a user's backend choice.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# pytest-xdist runs a worker per core, each with the threads a test asks for: OpenMP threads
# (the lbmpy kernels') that wait for work sleep instead of spinning on the other worker's core.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    """Where SLURM is installed, answer `scontrol` at once for every run but the cluster tests'.

    Snakemake's SLURM executor plugin runs `scontrol show config` when Snakemake imports it,
    in every run, the local ones too; with SLURM installed and no controller (CI installs it
    for tests/test_cluster.py) that waits 9 s before it gives up. The cluster tests set
    SLURM_CONF to their own cluster and get the real scontrol.
    """
    if not (real := shutil.which("scontrol")):
        return
    stubs = Path(tempfile.mkdtemp(prefix="karman-test-bin-"))
    config.add_cleanup(lambda: shutil.rmtree(stubs, ignore_errors=True))
    (stubs / "scontrol").write_text(f'#!/bin/sh\n[ -n "$SLURM_CONF" ] && exec {real} "$@"\nexit 1\n')
    (stubs / "scontrol").chmod(0o755)
    os.environ["PATH"] = f"{stubs}{os.pathsep}{os.environ['PATH']}"


def snakemake_command(snakefile: Path = REPO / "Snakefile") -> list[str]:
    """The command line that runs Snakemake on `snakefile`, for a test in a tier that may (`snakemake_tier`)."""
    snakemake_tier()
    return [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile)]


KERAS_TINY = {"epochs": 3, "patience": 2, "batch_size": 8}
# The Duffing oscillator on a few small samples; the networks are the notes' shapes, scaled down.
TINY_DUFFING = {
    "curves": {"samples": 60, "frequency_bins": 24},
    "images": {"samples": 40, "force_bins": 12, "frequency_bins": 16},
    "sample_chunk": 16,
    "models": {
        "ridge": {"type": "ridge"},
        "mlp": {"type": "mlp", "hidden_units": [8], "activation": "tanh", **KERAS_TINY},
        "cnn": {"type": "cnn", "filters": [4, 4], "strides": 2, "padding": "valid", "pooling": False, "dense_units": [8],
                "activation": "tanh", "standardise": "per-channel", **KERAS_TINY},
    },
}
TINY_CONFIG = {
    "systems": ["vortex", "duffing"],
    "duffing": TINY_DUFFING,
    "reynolds": {"from": 150, "to": 450, "count": 3},  # a tiny sweep: 150, 300, 450
    "flow": {"diameter_cells": 6, "domain_length": 12, "domain_height": 6, "cylinder_x": 3,
             "spinup_time": 12, "sample_time": 6, "sample_interval": 0.5, "validate": False},
    "fields": {"crop": {"x": [-0.5, 4.5], "y": [-2, 2]}, "downsample": {"factor": 2, "method": "mean"}, "sample_chunk": 5},
    "split": {"strategy": "blocked", "blocks": 4, "gap": 1, "fractions": {"train": 0.5, "val": 0.25, "test": 0.25}, "seed": 1,
              "compare": ["random", "holdout-re"], "holdout_every": 1, "val": "blocked"},  # holdout-re: the interior Re 300
    "models": {
        "ridge": {"type": "ridge"},
        "mlp": {"type": "mlp", "hidden_units": [8], **KERAS_TINY},
        "cnn": {"type": "cnn", "filters": [4], "dense_units": [8], **KERAS_TINY},
    },
    # forecasters on the 12 frames of each Re: 2 read, 3 forecast; Re 300 unseen
    "forecast": {"history": 2, "stride": 1, "horizon": 3, "future_fraction": 0.3, "holdout_reynolds": [300],
                 "models": {"persistence": {"type": "persistence"}, "dmd": {"type": "dmd"}, "ridge": {"type": "ridge", "rank": 4},
                            "cnn": {"type": "cnn", "filters": [4], "epochs": 2, "batch_size": 4}}},
}


def small_config(*models: str) -> dict:
    """TINY_CONFIG cut down to two Reynolds numbers, a random split, the named models and no forecasters."""
    return TINY_CONFIG | {
        "systems": ["vortex"],
        "reynolds": [150, 300],
        "split": {"fractions": {"train": 0.6, "val": 0.2, "test": 0.2}, "seed": 1},
        "models": {name: TINY_CONFIG["models"][name] for name in models},
        "forecast": {"models": {}},
    }


# The test tiers (pyproject.toml's markers): a test that runs Snakemake, even a dry run, is
# marked `workflow` (the cluster and storage tests too), so that `pytest -m "not workflow"` runs none.
# A test that uses one of WORKFLOW_FIXTURES is marked here; `snakemake_command` (and through
# it `snakemake` and `planned`) fails a test without the mark.
WORKFLOW_FIXTURES = {"tiny_run", "project_copy", "solver_validation"}  # the last: tests/vortex/test_validation.py
running = {"item": None}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's, which reads the groups
def pytest_collection_modifyitems(items):
    for item in items:
        if WORKFLOW_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.workflow)
        item.add_marker(pytest.mark.xdist_group(shared_fixture_group(item)))


def shared_fixture_group(item) -> str:
    """The pytest-xdist worker group of a test (addopts' `--dist loadgroup`).

    Tests that share a fixture built once per session (tiny_run) or per module (the
    simulations, clusters and servers of a test file) run on one worker, so it is built once:
    the session's tests in one group, every other test with the rest of its file.
    """
    return "tiny_run" if "tiny_run" in item.fixturenames else item.path.relative_to(REPO).as_posix()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    running["item"] = item


def snakemake_tier() -> None:
    """Fail the running test unless it is in a tier that may run Snakemake."""
    item = running["item"]
    if item is not None and item.get_closest_marker("workflow") is None:
        pytest.fail(f"{item.nodeid} runs Snakemake but is not marked workflow: mark it, or use one of {sorted(WORKFLOW_FIXTURES)}")


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the workflow in `workdir` (which holds its config.yaml)."""
    result = subprocess.run([*snakemake_command(), "--directory", str(workdir), *args], capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return result


def planned(workdir, *args, env=None) -> dict[str, int]:
    """Jobs per rule that a dry run would execute."""
    result = subprocess.run([*snakemake_command(), "--directory", str(workdir), "--cores", "2", "--dry-run", *args],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    if "Nothing to be done" in result.stdout + result.stderr:
        return {}
    table = result.stdout[result.stdout.index("Job stats:"):].split("\n\n")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE) if m.group(1) != "total"}


def library_copy(tmp_path: Path) -> tuple[Path, dict]:
    """A copy of the karman package to edit, and the environment in which the workflow imports it."""
    source = tmp_path / "src"
    shutil.copytree(REPO / "src", source, ignore=shutil.ignore_patterns("__pycache__"))
    return source / "karman", {**os.environ, "PYTHONPATH": str(source)}


def change_behaviour(path: Path) -> None:
    """Add a statement to the module at `path`: what it does changes, and so does its code
    digest, whatever the module holds (no test depends on a line of production code)."""
    path.write_text(path.read_text() + "\n\nCHANGED_BY_A_TEST = 1\n")


def change_wording(path: Path) -> None:
    """Reword the docstring of the module at `path` and add a comment and blank lines: what it
    does stays, and so does its code digest."""
    text = path.read_text()
    docstring = ast.parse(text).body[0]
    assert isinstance(docstring, ast.Expr) and isinstance(docstring.value, ast.Constant), f"{path} opens with no docstring"
    lines = text.splitlines(keepends=True)
    opening = docstring.col_offset + 3  # after the opening quotes
    row = lines[docstring.lineno - 1]
    lines[docstring.lineno - 1] = row[:opening] + "Reworded by a test. " + row[opening:]
    path.write_text("".join(lines).replace("\n\n\n", "\n\n\n\n", 1) + "\n# a comment a test added\n")


def doc_example(page: str, name: str) -> str:
    """The code of the example marked `<!-- loader: {name} -->` in docs/{page}."""
    text = (REPO / "docs" / page).read_text()
    match = re.search(rf"<!-- loader: {re.escape(name)} -->\n```\w*\n(.*?)\n```", text, re.DOTALL)
    assert match, f"no example {name!r} in docs/{page}"
    return match.group(1)


def write_config(workdir: Path, config: dict) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))


# A config string the report must show as text (tests/test_report.py): markup in it stays inert.
TINY_RUN_LICENSE = "CC-BY-4.0 <img src=x onerror=alert(1)>"


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A working directory in which the whole workflow ran on TINY_CONFIG."""
    workdir = tmp_path_factory.mktemp("tiny")
    write_config(workdir, TINY_CONFIG | {"export": {"license": TINY_RUN_LICENSE}})
    snakemake(workdir, "--cores", "2")
    return workdir
