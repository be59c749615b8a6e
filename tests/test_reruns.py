"""Reruns redo exactly what changed, the output cache is shared, and kills lose nothing."""

import json
import os
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest

from conftest import REPO, snakemake_command, change_behaviour, change_wording, library_copy, planned, small_config, snakemake, write_config
from karman.vortex.sweep import store_name
from karman.stores import open_store

pytestmark = pytest.mark.workflow

RERUN_CONFIG = small_config("ridge", "mlp")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("base")
    write_config(workdir, RERUN_CONFIG)
    snakemake(workdir, "--cores", "2")
    return workdir


def copy_of(base, tmp_path, name="run"):
    target = tmp_path / name
    shutil.copytree(base, target, symlinks=True)
    return target


def edit_config(workdir, change):
    config = json.loads(json.dumps(RERUN_CONFIG))
    change(config)
    write_config(workdir, config)


def test_nothing_changed_nothing_to_do(base):
    assert planned(base) == {}


def test_a_training_setting_reruns_only_that_model_and_the_report(base, tmp_path):
    run = copy_of(base, tmp_path)
    edit_config(run, lambda c: c["models"]["mlp"].update(epochs=4))
    assert planned(run) == {"train_network": 1, "plot_report_figures": 1, "render_report": 1, "all": 1}


def test_a_compared_strategy_trains_only_its_own_models(base, tmp_path):
    run = copy_of(base, tmp_path)
    edit_config(run, lambda c: c["split"].update(compare=["blocked"], gap=2))
    assert planned(run) == {"make_comparison_split": 1, "train_comparison_model": 2, "render_report": 1, "all": 1}


def test_a_crop_reruns_fields_and_after_but_not_the_flow(base, tmp_path):
    run = copy_of(base, tmp_path)
    edit_config(run, lambda c: c["fields"]["crop"].update(x=[0.0, 4.0]))
    jobs = planned(run)
    assert "simulate_flow" not in jobs and "summarise_flow" not in jobs
    assert {"compute_vorticity", "make_split", "train_baseline", "train_network", "render_report"} <= set(jobs)


def test_switching_on_the_solver_validation_resimulates_nothing(base, tmp_path):
    run = copy_of(base, tmp_path)
    edit_config(run, lambda c: c["flow"].update(validate=True))
    assert planned(run) == {"validate_flow_solver": 1, "render_report": 1, "all": 1}


@pytest.mark.parametrize("added", [450, 212.5])
def test_a_new_reynolds_number_adds_one_simulation_and_reruns_no_other(base, tmp_path, added):
    run = copy_of(base, tmp_path)
    edit_config(run, lambda c: c.update(reynolds=[150, added, 300]))
    result = subprocess.run([*snakemake_command(), "--directory", str(run), "--cores", "2", "--dry-run"], capture_output=True, text=True, timeout=300)
    assert planned(run)["simulate_flow"] == 1
    assert f"output: results/flow/{store_name(added)}.zarr" in result.stdout
    assert "output: results/flow/re00150.zarr" not in result.stdout and "output: results/flow/re00300.zarr" not in result.stdout


def test_library_code_reruns_the_rules_that_use_it(base, tmp_path):
    package, env = library_copy(tmp_path)
    assert planned(base, env=env) == {}  # the same code elsewhere: same digest
    change_behaviour(package / "train.py")
    jobs = planned(base, env=env)
    assert jobs == {"train_baseline": 1, "train_network": 1, "plot_report_figures": 1, "render_report": 1, "all": 1}


def test_comments_and_docstrings_in_the_solver_rerun_nothing(base, tmp_path):
    package, env = library_copy(tmp_path)
    change_wording(package / "vortex/lattice.py")
    assert planned(base, env=env) == {}


def test_a_change_to_the_command_line_reruns_nothing(base, tmp_path):
    """No rule runs karman.cli: its help text or its code change no job."""
    package, env = library_copy(tmp_path)
    change_behaviour(package / "cli.py")
    assert planned(base, env=env) == {}


def test_a_behaviour_change_in_the_solver_reruns_the_simulations_and_what_reads_them(base, tmp_path):
    package, env = library_copy(tmp_path)
    change_behaviour(package / "vortex/lattice.py")
    jobs = planned(base, env=env)
    assert jobs["simulate_flow"] == 2
    assert {"summarise_flow", "compute_vorticity", "make_split", "train_baseline", "train_network", "render_report"} <= set(jobs)


def test_a_change_to_the_split_reruns_splits_and_models_not_simulations(base, tmp_path):
    package, env = library_copy(tmp_path)
    change_behaviour(package / "split.py")
    jobs = planned(base, env=env)
    assert {"make_split", "train_baseline", "train_network", "embed_training_snapshots", "render_report"} <= set(jobs)
    assert not {"simulate_flow", "summarise_flow", "compute_vorticity", "plot_vorticity_gallery"} & set(jobs)


def test_a_finished_project_copied_elsewhere_has_nothing_to_do(base, tmp_path):
    project = tmp_path / "elsewhere" / "project"
    shutil.copytree(REPO, project, symlinks=True, ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__", ".pytest_cache", "results",
                                                                                "logs", ".snakemake", "config.yaml"))
    shutil.copytree(base, project, symlinks=True, dirs_exist_ok=True)  # the results, logs, Snakemake's records and config
    result = subprocess.run([*snakemake_command(project / "Snakefile"), "--directory", str(project),
                             "--cores", "2", "--dry-run"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Nothing to be done" in result.stdout + result.stderr, result.stdout[-3000:]


def test_batched_simulations_give_the_same_stores_and_a_new_re_reruns_only_its_bin(base, tmp_path):
    batched = tmp_path / "batched"
    config = json.loads(json.dumps(RERUN_CONFIG))
    config["flow"]["batch_width"] = 200  # bins [0, 200): 150; [200, 400): 300
    write_config(batched, config)
    stores = ["results/flow/re00150.zarr", "results/flow/re00300.zarr"]
    snakemake(batched, "--cores", "2", *stores)
    for store in stores:  # a store is the same whichever job made it
        assert store_bytes(batched / store) == store_bytes(base / store), store
    config["reynolds"] = [150, 250, 300]  # 250 joins the bin of 300
    write_config(batched, config)
    jobs = planned(batched, *stores, "results/flow/re00250.zarr")
    assert jobs == {"simulate_flow_batch_1": 1}


def store_bytes(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".snakemake_timestamp"}


def test_same_config_from_scratch_gives_the_same_bytes_and_metrics(base, tmp_path):
    again = tmp_path / "again"
    write_config(again, RERUN_CONFIG)
    snakemake(again, "--cores", "2")
    for store in ("results/flow/re00150.zarr", "results/flow/re00300.zarr", "results/fields/vorticity.zarr"):
        assert store_bytes(again / store) == store_bytes(base / store), store
    for model in ("ridge", "mlp"):
        first = json.loads((base / f"results/models/{model}/metrics.json").read_text())
        second = json.loads((again / f"results/models/{model}/metrics.json").read_text())
        assert first == second


def test_a_second_workflow_reuses_the_cached_simulations(tmp_path):
    (tmp_path / "cache").mkdir()
    env = {**os.environ, "SNAKEMAKE_OUTPUT_CACHE": str(tmp_path / "cache")}
    target = ["results/flow/re00150.zarr", "results/flow/re00300.zarr"]
    first, second = tmp_path / "first", tmp_path / "second"
    for workdir in (first, second):
        write_config(workdir, RERUN_CONFIG)
    subprocess.run([*snakemake_command(), "-d", str(first), "--cores", "2", "--cache", *target], env=env, check=True, capture_output=True, timeout=600)
    result = subprocess.run([*snakemake_command(), "-d", str(second), "--cores", "2", "--cache", *target], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    for re_ in (150, 300):
        assert f"results/flow/{store_name(re_)}.zarr" in result.stderr and "from cache" in result.stderr
        assert not (second / f"logs/simulate_flow/{store_name(re_)}.log").exists() or "done in" not in (second / f"logs/simulate_flow/{store_name(re_)}.log").read_text()
        np.testing.assert_array_equal(open_store(second / f"results/flow/{store_name(re_)}.zarr")["u"].values,
                                      open_store(first / f"results/flow/{store_name(re_)}.zarr")["u"].values)


def start(workdir, *args):
    return subprocess.Popen([*snakemake_command(), "--directory", str(workdir), "--cores", "2", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def kill_when(process, condition, timeout=300):
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "the condition to kill never came"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def test_a_simulation_killed_midway_resumes_and_gives_the_same_store(tmp_path):
    slow = RERUN_CONFIG | {"flow": RERUN_CONFIG["flow"] | {"diameter_cells": 10, "domain_length": 16, "domain_height": 6, "spinup_time": 300}}
    target = ["results/flow/re00150.zarr", "--set-resources", "simulate_flow:checkpoint_steps=200"]
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    for workdir in (killed, clean):
        write_config(workdir, slow)
    checkpoint = killed / "results/flow/.re00150.zarr.checkpoint.npz"
    kill_when(start(killed, *target), checkpoint.exists)
    assert not (killed / "results/flow/re00150.zarr").exists()  # nothing half-written passes as the store
    snakemake(killed, "--unlock")
    snakemake(killed, "--cores", "2", "--rerun-incomplete", *target)
    assert "resuming from the checkpoint" in (killed / "logs/simulate_flow/re00150.log").read_text()
    snakemake(clean, "--cores", "2", *target)
    assert store_bytes(killed / "results/flow/re00150.zarr") == store_bytes(clean / "results/flow/re00150.zarr")


def test_training_killed_midway_completes_with_the_same_metrics(base, tmp_path):
    killed = copy_of(base, tmp_path, "killed")
    clean = copy_of(base, tmp_path, "clean")
    for workdir in (killed, clean):
        edit_config(workdir, lambda c: c["models"]["mlp"].update(epochs=40, patience=40))
    log = killed / "logs/train_network/mlp.log"
    kill_when(start(killed), lambda: log.exists() and "epoch 2/" in log.read_text())
    snakemake(killed, "--unlock")
    snakemake(killed, "--cores", "2", "--rerun-incomplete")
    snakemake(clean, "--cores", "2")
    first = json.loads((killed / "results/models/mlp/metrics.json").read_text())
    second = json.loads((clean / "results/models/mlp/metrics.json").read_text())
    assert first == second
