"""Glue between Snakemake and the library: canonical params and code digests that follow meaning."""

import shutil
import subprocess
import sys

import pytest

from conftest import REPO, change_behaviour, change_wording
from karman import workflow
from karman.vortex.report import comparison_folders
from karman.workflow import behaviour, by_folder_name, canonical, code_digest, folders_by_name, karman_imports


def test_canonical_params_do_not_depend_on_key_order():
    assert canonical({"b": 1, "a": [2, 3]}) == canonical({"a": [2, 3], "b": 1}) == '{"a":[2,3],"b":1}'


def test_a_script_finds_each_models_folder_in_its_inputs_wherever_snakemake_put_them():
    """The inputs of a job under a storage provider are local copies (.snakemake/storage/…):
    the folders come from them, not from a path the rule names."""
    local = ".snakemake/storage/s3/bucket/run/results"
    files = [f"{local}/models/mlp/metrics.json", f"{local}/models/cnn/metrics.json", f"{local}/models/cnn/history.csv"]
    assert folders_by_name(files) == {"cnn": f"{local}/models/cnn", "mlp": f"{local}/models/mlp"}
    assert list(folders_by_name(files)) == ["cnn", "mlp"]
    rollouts = ["results/forecast/gru/rollout.zarr", "results/forecast/dmd/rollout.zarr"]
    assert by_folder_name(rollouts) == {"dmd": "results/forecast/dmd/rollout.zarr", "gru": "results/forecast/gru/rollout.zarr"}
    compared = [f"{local}/comparison/{strategy}/models/{model}" for strategy in ("random", "blocked") for model in ("ridge", "cnn")]
    assert comparison_folders(compared) == {strategy: {model: f"{local}/comparison/{strategy}/models/{model}" for model in ("cnn", "ridge")}
                                            for strategy in ("blocked", "random")}


def test_imports_are_followed_within_karman_with_the_packages_above():
    imports = karman_imports("karman.vortex.fields")
    assert {"karman.stores", "karman.vortex.store", "karman.vortex", "karman"} <= imports
    assert not any(name.startswith(("numpy", "xarray")) for name in imports)


def test_behaviour_ignores_comments_docstrings_and_formatting_but_not_code():
    source = 'def f(x):\n    """Twice x."""\n    return 2 * x  # doubled\n'
    assert behaviour(source) == behaviour('def f(x):\n    """Two times x, reworded."""\n\n    return 2*x\n')
    assert behaviour(source) == behaviour("def f(x):\n    return (2 * x)\n")
    assert behaviour(source) != behaviour("def f(x):\n    return 3 * x\n")


@pytest.fixture
def package_copy(tmp_path, monkeypatch):
    copy = tmp_path / "karman"
    shutil.copytree(workflow.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(workflow, "PACKAGE_DIR", copy)
    return copy


def test_digest_changes_with_the_module_and_what_it_imports(package_copy):
    fields = code_digest("karman.vortex.fields")
    change_behaviour(package_copy / "stores.py")
    after_stores = code_digest("karman.vortex.fields")
    assert after_stores != fields  # fields imports stores
    assert code_digest("karman.vortex.fields") == after_stores  # stable between parses
    change_behaviour(package_copy / "vortex/fields.py")
    assert code_digest("karman.vortex.fields") not in (fields, after_stores)


def test_comments_docstrings_and_formatting_change_no_digest(package_copy):
    simulation = code_digest("karman.vortex.simulation")
    change_wording(package_copy / "vortex/lattice.py")
    assert code_digest("karman.vortex.simulation") == simulation


def test_digest_ignores_modules_a_rule_does_not_run(package_copy):
    simulation, download = code_digest("karman.vortex.simulation"), code_digest("karman.vortex.download")
    change_behaviour(package_copy / "train.py")
    change_behaviour(package_copy / "cli.py")
    assert code_digest("karman.vortex.simulation") == simulation
    validation = code_digest("karman.vortex.validation")
    change_behaviour(package_copy / "vortex/lattice.py")
    assert code_digest("karman.vortex.simulation") != simulation
    assert code_digest("karman.vortex.validation") != validation  # the validation runs the solver too
    assert code_digest("karman.vortex.download") == download  # the solver is not what a download runs


@pytest.mark.parametrize("module, template", [("karman.report", "templates/report.html.j2"), ("karman.vortex.report", "vortex/section.html.j2"),
                                              ("karman.duffing.report", "duffing/section.html.j2")])
def test_report_digest_covers_its_templates(package_copy, module, template):
    report = code_digest(module)
    (package_copy / template).write_text((package_copy / template).read_text() + "<!-- changed -->")
    assert code_digest(module) != report


def test_the_rules_are_formatted_with_snakefmt():  # and lint-clean: tests/test_workflow.py
    formatted = subprocess.run([sys.executable, "-m", "snakefmt", "--check", "Snakefile", "rules"], cwd=REPO, capture_output=True, text=True)
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr  # run `uv run snakefmt Snakefile rules` to format


def test_a_karman_error_reaches_the_user_and_the_log_as_its_message_alone(tmp_path, capsys):
    import logging
    import sys

    from karman.stores import StoreError
    from karman.workflow import setup_logging

    log = tmp_path / "job.log"
    hook, handlers = sys.excepthook, logging.getLogger().handlers[:]
    try:
        setup_logging(str(log))
        for error in (StoreError("results/fields/vorticity.zarr: cannot write the store: No space left on device"), KeyError("bug")):
            try:
                raise error
            except Exception as caught:
                sys.excepthook(type(caught), caught, caught.__traceback__)
    finally:
        sys.excepthook, logging.getLogger().handlers[:] = hook, handlers
    stderr = capsys.readouterr().err
    assert stderr.startswith("karman: results/fields/vorticity.zarr: cannot write the store: No space left on device\nTraceback")
    assert stderr.count("Traceback") == 1 and "KeyError: 'bug'" in stderr  # any other error keeps its traceback
    text = log.read_text()
    assert "failed: results/fields/vorticity.zarr: cannot write the store" in text and text.count("Traceback") == 1
