"""The tiny workflow on a real single-node SLURM cluster through profiles/slurm.

Brings the cluster up with profiles/slurm/local/up.sh (Debian's slurmctld, slurmd and
munge, installed by .ci/run) and stops exactly the daemons it started with down.sh.
"""

import json
import os
import re
import shutil
import signal
import subprocess

import numpy as np
import pandas as pd
import pytest

from conftest import REPO, SNAKEMAKE, small_config, snakemake, write_config
from karman.stores import open_store

LOCAL_CLUSTER = REPO / "profiles/slurm/local"
HAVE_SLURM = all(shutil.which(tool) for tool in ("slurmctld", "slurmd", "munged", "sbatch", "squeue")) and os.geteuid() == 0

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(not HAVE_SLURM and not os.environ.get("CI"), reason="needs root and Debian's slurmctld, slurmd, munge (installed by .ci/run)"),
]

CLUSTER_CONFIG = small_config("ridge", "cnn")


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    state = tmp_path_factory.mktemp("slurm-state")
    subprocess.run([LOCAL_CLUSTER / "up.sh", state], check=True, timeout=120)
    yield {**os.environ, "SLURM_CONF": str(state / "slurm.conf")}
    subprocess.run([LOCAL_CLUSTER / "down.sh", state], timeout=60)


def run_bounded(command: list[str], env: dict, timeout: float) -> subprocess.CompletedProcess:
    """Run `command`; past `timeout` send SIGINT (the SLURM executor ignores SIGTERM), then SIGKILL."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
        raise AssertionError(f"snakemake on SLURM did not finish in {timeout} s:\n{output[-5000:]}")
    return subprocess.CompletedProcess(command, process.returncode, output, "")


def test_workflow_on_slurm_matches_a_local_run(slurm, tmp_path):
    on_cluster, local = tmp_path / "cluster", tmp_path / "local"
    write_config(on_cluster, CLUSTER_CONFIG)
    write_config(local, CLUSTER_CONFIG)
    result = run_bounded(
        [*SNAKEMAKE, "--directory", str(on_cluster), "--profile", str(REPO / "profiles/slurm"), "--slurm-keep-successful-logs",
         "--slurm-init-seconds-before-status-checks", "2", "--seconds-between-status-checks", "3"],
        env=slurm, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-5000:]
    # every job but the local target went through sbatch, and left its SLURM log
    job_ids = re.findall(r"has been submitted with SLURM jobid (\d+)", result.stdout)
    assert len(job_ids) == 10, result.stdout[-3000:]  # the 2 simulations in one group job, and 9 later jobs; `all` runs locally
    logs = {path.stem for path in (on_cluster / ".snakemake/slurm_logs").rglob("*.log")}
    assert set(job_ids) <= logs
    states = subprocess.run(["scontrol", "show", "job", job_ids[-1]], env=slurm, capture_output=True, text=True).stdout
    assert "JobState=COMPLETED" in states
    # the same results as on the laptop
    snakemake(local, "--cores", "2")
    for path in ("results/flow/re00150.zarr", "results/flow/re00300.zarr"):
        a, b = open_store(on_cluster / path), open_store(local / path)
        np.testing.assert_array_equal(a["u"].values, b["u"].values)
    np.testing.assert_array_equal(open_store(on_cluster / "results/fields/vorticity.zarr")["vorticity"].values,
                                  open_store(local / "results/fields/vorticity.zarr")["vorticity"].values)
    pd.testing.assert_frame_equal(pd.read_csv(on_cluster / "results/split/assignment.csv"), pd.read_csv(local / "results/split/assignment.csv"))
    for model in ("ridge", "cnn"):
        cluster_metrics = json.loads((on_cluster / f"results/models/{model}/metrics.json").read_text())
        local_metrics = json.loads((local / f"results/models/{model}/metrics.json").read_text())
        assert cluster_metrics["test"] == local_metrics["test"]


def test_the_cluster_asks_for_what_the_rules_declare(slurm, tmp_path):
    """Memory, run time and (with training.gpu, flow.backend: gpu) a GPU reach sbatch from the rules' resources."""
    workdir = tmp_path / "gpu"
    write_config(workdir, CLUSTER_CONFIG | {"training": {"gpu": True}, "flow": CLUSTER_CONFIG["flow"] | {"backend": "gpu"}})
    result = subprocess.run(
        [*SNAKEMAKE, "--directory", str(workdir), "--profile", str(REPO / "profiles/slurm"), "--dry-run", "--verbose",
         "results/models/cnn/metrics.json"],
        env=slurm, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    text = result.stdout + result.stderr
    train = text[text.index("rule train_network"):]
    assert "gpu=1" in train and "mem_mb=4000" in train and "runtime=60" in train
    simulation = text[text.index("rule simulate_flow"):text.index("rule compute_vorticity")]
    assert "gpu=1" in simulation and "mem_mb=2000" in simulation
