"""The tiny workflow on a real single-node SLURM cluster through profiles/slurm.

Brings the cluster up with profiles/slurm/local/up.sh (Debian's slurmctld, slurmd and
munge, installed by .ci/run) and stops exactly the daemons it started with down.sh.
"""

import filecmp
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import REPO, snakemake_command, small_config, snakemake, write_config
from karman.stores import open_store

LOCAL_CLUSTER = REPO / "profiles/slurm/local"
HAVE_SLURM = all(shutil.which(tool) for tool in ("slurmctld", "slurmd", "munged", "sbatch", "squeue")) and os.geteuid() == 0

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.workflow,
    pytest.mark.skipif(not HAVE_SLURM and not os.environ.get("CI"), reason="needs root and Debian's slurmctld, slurmd, munge (installed by .ci/run)"),
]

CLUSTER_CONFIG = small_config("ridge", "cnn")


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    state = tmp_path_factory.mktemp("slurm-state")
    subprocess.run([LOCAL_CLUSTER / "up.sh", state], check=True, timeout=120)
    yield {**os.environ, "SLURM_CONF": str(state / "slurm.conf")}
    subprocess.run([LOCAL_CLUSTER / "down.sh", state], timeout=60)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The whole workflow on CLUSTER_CONFIG run on this machine (--cores 2): the bytes a cluster run must give."""
    workdir = tmp_path_factory.mktemp("local")
    write_config(workdir, CLUSTER_CONFIG)
    snakemake(workdir, "--cores", "2")
    return workdir


def start(command: list[str], env: dict) -> subprocess.Popen:
    """Start `command` in a process group of its own (to signal it whole), output captured."""
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def run_bounded(command: list[str], env: dict, timeout: float) -> subprocess.CompletedProcess:
    """Run `command`; past `timeout` send SIGINT (the SLURM executor ignores SIGTERM), then SIGKILL."""
    return finish(start(command, env), timeout)


def finish(process: subprocess.Popen, timeout: float) -> subprocess.CompletedProcess:
    """Wait for a process from `start`; past `timeout` send SIGINT, then SIGKILL, and fail."""
    command = process.args
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"snakemake on SLURM did not finish in {timeout} s:\n{interrupt(process)[-5000:]}") from None
    return subprocess.CompletedProcess(command, process.returncode, output, "")


def interrupt(process: subprocess.Popen) -> str:
    """SIGINT to a started run (the SLURM executor ignores SIGTERM), then SIGKILL; its output."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
    return output


def test_workflow_on_slurm_matches_a_local_run(slurm, local_run, tmp_path):
    on_cluster, local = tmp_path / "cluster", local_run
    write_config(on_cluster, CLUSTER_CONFIG)
    result = run_bounded(
        [*snakemake_command(), "--directory", str(on_cluster), "--profile", str(REPO / "profiles/slurm"), "--slurm-keep-successful-logs",
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
        [*snakemake_command(), "--directory", str(workdir), "--profile", str(REPO / "profiles/slurm"), "--dry-run", "--verbose",
         "results/models/cnn/metrics.json"],
        env=slurm, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    text = result.stdout + result.stderr
    train = text[text.index("rule train_network"):]
    assert "gpu=1" in train and "mem_mb=4000" in train and "runtime=60" in train
    simulation = text[text.index("rule simulate_flow"):text.index("rule compute_vorticity")]
    assert "gpu=1" in simulation and "mem_mb=2000" in simulation


# ---------------------------------------------------------------------------------------------
# Faults of a cluster run, injected on the real SLURM while `snakemake --profile profiles/slurm`
# runs: a cancelled job, a killed controller, a node that goes down, a job past its time limit.

PROFILE = REPO / "profiles/slurm"
QUICK_STATUS = ["--slurm-init-seconds-before-status-checks", "2", "--seconds-between-status-checks", "3"]
FLOWS = ["results/flow/re00150.zarr", "results/flow/re00300.zarr"]
FIELDS = "results/fields/vorticity.zarr"
RIDGE = "results/models/ridge/metrics.json"
ACTIVE = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING"}


def on_slurm(workdir: Path, *args: str) -> list[str]:
    """The command a user types, with quick status checks."""
    return [*snakemake_command(), "--directory", str(workdir), "--profile", str(PROFILE), *QUICK_STATUS, *args]


def slurm_jobs(env: dict, workdir: Path) -> list[dict]:
    """Every job SLURM knows (MinJobAge keeps finished ones) that was submitted from `workdir`."""
    fields = ("id", "state", "comment", "name", "submitted", "started", "ended", "workdir")
    listing = subprocess.run(["squeue", "--states=all", "--noheader", "--format=%i|%T|%k|%j|%V|%S|%e|%Z"],
                             env=env, capture_output=True, text=True, timeout=30, check=True).stdout
    jobs = [dict(zip(fields, line.split("|", len(fields) - 1))) for line in listing.splitlines()]
    return [job for job in jobs if job["workdir"] == str(workdir)]


def wait_for(condition, timeout: float, what: str):
    """Poll `condition` until it returns something true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.2)
    raise AssertionError(f"waited {timeout} s for {what}")


def simulating(env: dict, workdir: Path, process: subprocess.Popen):
    """The simulations' SLURM job once a simulation in it is under way (its log exists)."""
    assert process.poll() is None, process.communicate()[0][-3000:]
    logs = list((workdir / "logs/simulate_flow").glob("*.log")) if (workdir / "logs/simulate_flow").exists() else []
    jobs = [job for job in slurm_jobs(env, workdir) if job["state"] == "RUNNING" and job["comment"].startswith("rule_simulate_flow")]
    return jobs[0] if jobs and logs else None


def stop(process: subprocess.Popen) -> None:
    """End a started run that a failed step of a test leaves behind (SIGINT, then SIGKILL); print its output."""
    print(interrupt(process)[-5000:])


def scontrol(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["scontrol", *args], env=env, capture_output=True, text=True, timeout=30)


def assert_same_bytes(workdir: Path, reference: Path, *expected: str) -> None:
    """Every file under workdir/results (the expected ones among them) has the bytes of the reference run's."""
    results = workdir / "results"
    files = sorted(str(path.relative_to(workdir)) for path in results.rglob("*")
                   if path.is_file() and path.name != ".snakemake_timestamp")  # an empty marker Snakemake touches
    for path in expected:
        assert any(name == path or name.startswith(path + "/") for name in files), f"{path} missing: {files}"
    different = [name for name in files if not (reference / name).is_file() or not filecmp.cmp(workdir / name, reference / name, shallow=False)]
    assert not different, f"not the bytes of a clean run: {different}"


def test_a_cancelled_job_is_submitted_again_and_the_run_gives_the_same_bytes(slurm, local_run, tmp_path):
    """scancel of a running simulation: the profile's retries submit it again; nothing differs from a clean run."""
    workdir = tmp_path / "cancelled"
    write_config(workdir, CLUSTER_CONFIG)
    process = start(on_slurm(workdir, RIDGE), slurm)
    try:
        job = wait_for(lambda: simulating(slurm, workdir, process), 120, "a running simulation")
        subprocess.run(["scancel", job["id"]], env=slurm, check=True, timeout=30)
    except BaseException:
        stop(process)
        raise
    result = finish(process, 600)
    assert result.returncode == 0, result.stdout[-5000:]
    assert "Trying to restart job" in result.stdout
    states = {job["id"]: job["state"] for job in slurm_jobs(slurm, workdir)}
    assert states[job["id"]] == "CANCELLED"
    assert_same_bytes(workdir, local_run, *FLOWS, FIELDS, "results/split/assignment.csv", RIDGE)


def test_a_killed_controller_leaves_no_job_that_writes_over_the_rerun(slurm, local_run, tmp_path):
    """SIGKILL of snakemake with one simulation running and one queued; --unlock; the rerun cancels what is left first."""
    workdir = tmp_path / "killed"
    write_config(workdir, CLUSTER_CONFIG)
    node_memory = int(subprocess.run(["sinfo", "--noheader", "--format=%m"], env=slurm, capture_output=True, text=True,
                                     timeout=30).stdout.split()[0])
    # One simulation a job, each asking for more than half the node's memory: one runs, one waits.
    first = start(on_slurm(workdir, FIELDS, "--group-components", "simulate_flow=1",
                           "--set-resources", f"simulate_flow:mem_mb={node_memory // 2 + 1}"), slurm)
    try:
        def running_and_queued():
            assert first.poll() is None, first.communicate()[0][-3000:]
            jobs = [job for job in slurm_jobs(slurm, workdir) if job["state"] in ACTIVE]
            return jobs if {job["state"] for job in jobs} >= {"RUNNING", "PENDING"} else None
        orphans = wait_for(running_and_queued, 120, "one simulation running and one queued")
    except BaseException:
        print(slurm_jobs(slurm, workdir))
        stop(first)
        raise
    os.killpg(first.pid, signal.SIGKILL)
    first.communicate()
    # On a busy cluster the queued job waits far longer than this test takes to restart: hold it there.
    queued = next(job["id"] for job in orphans if job["state"] == "PENDING")
    assert scontrol(slurm, "hold", queued).returncode == 0
    unlocked = run_bounded([*snakemake_command(), "--directory", str(workdir), "--profile", str(PROFILE), "--unlock"], slurm, 120)
    assert unlocked.returncode == 0, unlocked.stdout[-3000:]
    rerun = run_bounded(on_slurm(workdir, FIELDS), slurm, 600)
    assert rerun.returncode == 0, rerun.stdout[-5000:]
    cancelled = re.search(r"^karman: cancelled \d SLURM jobs? that an earlier, interrupted run left in .*: (.*)$", rerun.stdout, re.MULTILINE)
    assert cancelled and f"{queued} (rule_simulate_flow" in cancelled.group(1), rerun.stdout[-5000:]
    first_run = {job["name"] for job in orphans}
    jobs = slurm_jobs(slurm, workdir)
    old, new = [job for job in jobs if job["name"] in first_run], [job for job in jobs if job["name"] not in first_run]
    assert not [job for job in old if job["state"] in ACTIVE], old  # none left in squeue
    assert {job["state"] for job in old} <= {"CANCELLED", "COMPLETED"}, old
    assert max(job["ended"] for job in old) <= min(job["submitted"] for job in new), jobs  # none wrote during the rerun
    assert_same_bytes(workdir, local_run, *FLOWS, FIELDS)


def test_a_second_run_in_the_same_folder_leaves_the_first_runs_jobs_alone(slurm, local_run, tmp_path):
    """Two live runs with disjoint targets in one folder (Snakemake locks outputs, not folders):
    the second one's start cancels nothing of the first, and both give the bytes of clean runs."""
    workdir = tmp_path / "side-by-side"
    write_config(workdir, CLUSTER_CONFIG)
    # The first run's simulation is submitted held, so that it is surely in the queue while the second run starts.
    first = start(on_slurm(workdir, FLOWS[0], "--set-resources", "simulate_flow:slurm_extra='--hold'"), slurm)
    try:
        def held():
            assert first.poll() is None, first.communicate()[0][-3000:]
            return [job for job in slurm_jobs(slurm, workdir) if job["state"] == "PENDING"]
        (job,) = wait_for(held, 120, "the first run's simulation in the queue")
        second = run_bounded(on_slurm(workdir, FLOWS[1]), slurm, 600)
        assert scontrol(slurm, "release", job["id"]).returncode == 0
    except BaseException:
        stop(first)
        raise
    result = finish(first, 600)
    assert second.returncode == 0, second.stdout[-5000:]
    assert result.returncode == 0, result.stdout[-5000:]
    assert "karman: cancelled" not in second.stdout
    live = re.search(r"^karman: 1 SLURM job of another live run in (.*) \(pid (\d+) on .*\) keep running: (\d+) ", second.stdout, re.MULTILINE)
    assert live and live.group(1) == str(workdir) and int(live.group(2)) == first.pid and live.group(3) == job["id"], second.stdout[-5000:]
    states = {entry["id"]: entry["state"] for entry in slurm_jobs(slurm, workdir)}
    assert states[job["id"]] == "COMPLETED", states
    assert_same_bytes(workdir, local_run, *FLOWS)


def test_a_job_on_a_node_that_goes_down_is_requeued_and_the_run_completes(slurm, local_run, tmp_path):
    """The node set DOWN under a running simulation, then RESUMEd: SLURM requeues the job (the profile's
    slurm-requeue; this cluster, with JobRequeue=0, requeues nothing unasked) and Snakemake waits for it.
    Without it the job would end NODE_FAIL and Snakemake would submit it again (retries)."""
    workdir = tmp_path / "node-down"
    write_config(workdir, CLUSTER_CONFIG)
    node = subprocess.run(["sinfo", "--noheader", "--format=%N"], env=slurm, capture_output=True, text=True, timeout=30).stdout.split()[0]
    process = start(on_slurm(workdir, FLOWS[0]), slurm)  # one simulation
    try:
        job = wait_for(lambda: simulating(slurm, workdir, process), 120, "a running simulation")
        assert scontrol(slurm, "update", f"nodename={node}", "state=DOWN", "reason=test").returncode == 0
        wait_for(lambda: next(j for j in slurm_jobs(slurm, workdir) if j["id"] == job["id"])["state"] != "RUNNING", 60,
                 "the job to leave the failed node")
        time.sleep(2)
    except BaseException:
        stop(process)
        raise
    finally:
        scontrol(slurm, "update", f"nodename={node}", "state=RESUME")
    result = finish(process, 600)
    # A real node that goes down takes its processes with it; this one-machine cluster's slurmd leaves the
    # first run's job process waiting, so end it here rather than leave it behind the test.
    subprocess.run(["pkill", "-f", f"wait-for-files {workdir}/"], timeout=30)
    assert result.returncode == 0, result.stdout[-5000:]
    assert "Restarts=1" in scontrol(slurm, "show", "job", job["id"]).stdout  # requeued: the same job ran again
    assert "Trying to restart job" not in result.stdout and result.stdout.count("has been submitted with SLURM jobid") == 1
    assert {job["state"] for job in slurm_jobs(slurm, workdir)} == {"COMPLETED"}
    assert_same_bytes(workdir, local_run, FLOWS[0])


def test_a_job_past_its_time_limit_names_the_rule_and_the_runtime_to_raise(slurm, tmp_path):
    """A simulation with runtime=1 (minutes) that runs longer. To keep the test short, the job's end is brought
    forward to now (scontrol update EndTime=now): SLURM ends it at its next time-limit check (every 30 s)
    exactly as at the end of the minute, with state TIMEOUT."""
    workdir = tmp_path / "time-limit"
    write_config(workdir, CLUSTER_CONFIG | {"flow": CLUSTER_CONFIG["flow"] | {"spinup_time": 200000}})  # 4 min of steps
    process = start(on_slurm(workdir, "results/flow/re00300.zarr", "--retries", "0", "--set-resources", "simulate_flow:runtime=1"), slurm)
    try:
        job = wait_for(lambda: simulating(slurm, workdir, process), 120, "a running simulation")
        assert scontrol(slurm, "update", f"jobid={job['id']}", "EndTime=now").returncode == 0
    except BaseException:
        stop(process)
        raise
    result = finish(process, 300)
    assert result.returncode != 0
    assert {job["state"] for job in slurm_jobs(slurm, workdir)} == {"TIMEOUT"}
    assert (f"karman: rule simulate_flow (re=00300) ran past its time limit of 1 min on SLURM (job {job['id']}, state TIMEOUT); "
            "raise its runtime: --set-resources simulate_flow:runtime=2") in result.stdout.splitlines(), result.stdout[-5000:]
