"""The registry of systems (karman.systems): the generic layer iterates it and names no system.

A third system, added as docs/adding-a-system.md says (its own subpackage, rules file, config
section and entry point, in a copy of the project), runs through the config check, the
workflow, the report and `karman check` without a line of the generic layer changed.
"""

import importlib
import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import EntryPoint

import pytest
import yaml

from conftest import REPO, snakemake_command
from karman import systems
from karman.schema import load_schema


def test_the_vortex_street_and_the_duffing_oscillator_are_registered_with_their_files():
    registered = systems.registered()
    assert list(registered) == ["duffing", "vortex"]
    for system in registered.values():
        assert all((REPO / path).is_file() for path in system.rules), system.rules
        assert callable(importlib.import_module(system.report).job_section)
        assert all((REPO / "src/karman" / path).is_file() for path in system.report_data)


def test_the_schema_allows_exactly_the_registered_systems():
    allowed = load_schema(REPO / "schemas/config.schema.yaml")["properties"]["systems"]["items"]["enum"]
    assert sorted(allowed) == sorted(systems.registered())


def test_an_entry_point_that_is_not_its_system_is_refused(monkeypatch):
    point = EntryPoint(name="kuramoto", value="karman.vortex.system:SYSTEM", group=systems.GROUP)
    monkeypatch.setattr(systems, "entry_points", lambda group: [point])
    systems.registered.cache_clear()
    try:
        with pytest.raises(TypeError, match="entry point kuramoto = karman.vortex.system:SYSTEM of karman.systems is not the System named 'kuramoto'"):
            systems.registered()
    finally:
        systems.registered.cache_clear()


def test_the_systems_run_are_those_of_the_config_in_its_order():
    assert [system.name for system in systems.selected({"systems": ["vortex", "duffing"]})] == ["vortex", "duffing"]
    assert [system.name for system in systems.selected({"systems": ["duffing"]})] == ["duffing"]


# --- a third system, in a copy of the project ------------------------------------------------

TOY_FILES = {
    "src/karman/toy/__init__.py": '"""A toy system: random walks in a store."""\n',
    "src/karman/toy/walks.py": '''"""The toy's samples: random walks, one per sample, as a store."""

import numpy as np
import xarray as xr

from karman.check import Contract
from karman.stores import write_store

WALKS = Contract(kind="toy-walks", variables={"position": (("sample", "step"), "float32")},
                 coords={"sample": ("sample",), "step": ("step",)}, increasing=("sample", "step"), attrs=("system",))


def write_walks(path, *, samples: int, steps: int, seed: int) -> None:
    positions = np.random.default_rng(seed).standard_normal((samples, steps)).cumsum(axis=1).astype(np.float32)
    dataset = xr.Dataset({"position": (("sample", "step"), positions)},
                         coords={"sample": np.arange(samples), "step": np.arange(steps)}, attrs={"system": "toy"})
    write_store(dataset, path)
''',
    "src/karman/toy/report.py": '''"""The toy's section of the report."""

from karman.stores import open_store


def job_section(inputs, settings):
    walks = open_store(inputs["toy_walks"])
    return {"title": "random walks", "nav": [("toy", "Toy")], "samples": walks.sizes["sample"], "settings": settings}
''',
    "src/karman/toy/section.html.j2": '<section id="toy"><h2>Toy</h2><p>{{ section.samples }} walks, seed {{ section.settings.seed }}</p></section>\n',
    "src/karman/toy/system.py": '''"""The toy as a registered system."""

from karman.config import ConfigError
from karman.systems import System
from karman.toy.walks import WALKS


def check(config):
    toy = config["toy"]
    if toy["samples"] > toy["steps"]:
        raise ConfigError(f"toy.samples ({toy['samples']}) must be at most toy.steps ({toy['steps']})")


SYSTEM = System(name="toy", check=check, contracts=(WALKS,), rules=("rules/toy.smk",), report="karman.toy.report",
                report_data=("toy/section.html.j2",))
''',
    "rules/toy.smk": '''# The toy system: random walks.
TOY = config["toy"]


rule simulate_toy:
    output:
        directory("results/toy/walks.zarr"),
    log:
        "logs/simulate_toy.log",
    benchmark:
        benchmark_file("simulate_toy")
    params:
        settings=canonical(TOY),
        code=code_digest("karman.toy.walks"),
    run:
        from karman.toy.walks import write_walks

        write_walks(output[0], **TOY)


def toy_report_inputs(wildcards=None):
    return {"toy_walks": "results/toy/walks.zarr"}


def toy_benchmarks(wildcards=None):
    return [benchmark_file("simulate_toy")]


report_section("toy", toy_report_inputs, toy_benchmarks, lambda: TOY)
''',
}
TOY_SCHEMA = {"description": "A toy system (with `toy` in `systems`): random walks.", "type": "object", "additionalProperties": False,
              "default": {}, "properties": {
                  name: {"description": f"The walks' {name}.", "type": "integer", "minimum": minimum, "default": default}
                  for name, minimum, default in (("samples", 1, 3), ("steps", 1, 8), ("seed", 0, 0))}}


@pytest.fixture(scope="module")
def toy_project(tmp_path_factory):
    """A copy of the project with the toy added, and the environment that registers it."""
    project = tmp_path_factory.mktemp("toy")
    for name in ("Snakefile", "config.yaml", "rules", "scripts", "schemas", "profiles", "report", "envs", "src"):
        source = REPO / name
        (shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__")) if source.is_dir()
         else shutil.copy(source, project / name))
    for path, text in TOY_FILES.items():
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(text)
    schema_path = project / "schemas/config.schema.yaml"
    schema = yaml.safe_load(schema_path.read_text())  # its config section: the key and its name in `systems`
    schema["properties"]["toy"] = TOY_SCHEMA
    schema["properties"]["systems"]["items"]["enum"].append("toy")
    schema_path.write_text(yaml.safe_dump(schema, sort_keys=False, allow_unicode=True))
    registration = project / "site/karman_toy-0.1.dist-info"  # its entry point, as an installed package has it
    registration.mkdir(parents=True)
    (registration / "METADATA").write_text("Metadata-Version: 2.1\nName: karman-toy\nVersion: 0.1\n")
    (registration / "entry_points.txt").write_text("[karman.systems]\ntoy = karman.toy.system:SYSTEM\n")
    return project, {**os.environ, "PYTHONPATH": f"{project / 'site'}{os.pathsep}{project / 'src'}"}


def run_in(project, env, *args, command=None):
    return subprocess.run(command or [*snakemake_command(project / "Snakefile"), "--directory", str(project), *args],
                          capture_output=True, text=True, timeout=600, env=env)


@pytest.mark.workflow
def test_a_third_system_runs_through_the_workflow_the_report_and_karman_check(toy_project):
    project, env = toy_project
    result = run_in(project, env, "--cores", "1", "--config", "systems=[toy]")
    assert result.returncode == 0, result.stderr[-4000:]
    page = (project / "results/report/index.html").read_text()
    assert '<section id="toy"><h2>Toy</h2><p>3 walks, seed 0</p></section>' in page and 'href="#toy"' in page
    assert "simulate_toy" in page  # its job in the wall-time table
    assert not (project / "results/flow").exists()  # the vortex street, registered but not selected, ran nothing
    store = project / "results/toy/walks.zarr"
    checked = run_in(project, env, command=[sys.executable, "-m", "karman.cli", "check", str(store)])
    assert checked.returncode == 0 and checked.stdout.strip() == f"{store}: ok (toy-walks)", checked.stdout + checked.stderr


@pytest.mark.workflow
def test_a_third_systems_own_check_stops_a_bad_config_before_any_job(toy_project, tmp_path):
    project, env = toy_project
    bad = tmp_path / "bad.yaml"
    bad.write_text(json.dumps({"systems": ["toy"], "toy": {"samples": 9, "steps": 4}}))
    result = run_in(project, env, "--cores", "1", "--configfile", str(bad), "-n")
    assert result.returncode != 0
    assert "karman: toy.samples (9) must be at most toy.steps (4)" in result.stdout + result.stderr, result.stderr[-3000:]
