"""karman.cluster without SLURM: the jobs a killed run left, and the time-limit message.

The logs in tests/data/slurm/ are Snakemake logs captured from real runs of this workflow
through profiles/slurm on the single-node cluster of profiles/slurm/local (Snakemake 9.27.1,
snakemake-executor-plugin-slurm 2.8.0, SLURM 22.05, status from squeue); only the run's
header lines, blank lines, Keras' model table and all but two training epochs are cut:
- successful_run.log: the ridge model's chain, a group job of two simulations, then three single jobs;
- single_job_timeout.log: train_network with --set-resources train_network:runtime=1, ended at its time limit;
- group_job_timeout_retried.log: simulate_flow (a group job) with runtime=1, ended at its time limit twice (retries: 1);
- node_failure_retried.log: the two simulations' group job on a node set DOWN, without --requeue:
  NODE_FAIL, then a retry that finished.
"""

import json
import os
import re
import socket
import subprocess
from pathlib import Path

import psutil
import pytest

from karman import cluster
from karman.cluster import (SlurmJob, cancel_orphaned_jobs, controller_state, parse_squeue, record_slurm_run,
                            report_time_limits, submitted_jobs, time_limit_messages, workflow_jobs)

LOGS = Path(__file__).parent / "data/slurm"
SUCCESSFUL_RUN, SINGLE_JOB_TIMEOUT, GROUP_JOB_TIMEOUT_RETRIED, NODE_FAILURE_RETRIED = (
    (LOGS / f"{name}.log").read_text() for name in ("successful_run", "single_job_timeout", "group_job_timeout_retried", "node_failure_retried"))

# `squeue --me --noheader --format='%i|%Z|%k|%j'` with three jobs the plugin submitted from
# /tmp/exp2 in two runs, one from another working directory (with a space) and one that sbatch
# submitted by hand.
SQUEUE = """\
29|/tmp/exp2|rule_compute_vorticity|killed-run
30|/tmp/exp2|rule_simulate_flow_wildcards_00150|killed-run
32|/tmp/exp2|rule_simulate_duffing_wildcards_curves|live-run
31|/tmp/exp 2|rule_x|another
28|/tmp/exp2|(null)|by-hand
"""


def test_the_plugins_jobs_in_this_working_directory_are_found_with_their_run():
    jobs = parse_squeue(SQUEUE)
    assert [job.job_id for job in jobs] == ["29", "30", "32", "31", "28"]
    assert jobs[3] == SlurmJob("31", "/tmp/exp 2", "rule_x", "another")
    assert [job.job_id for job in workflow_jobs(jobs, "/tmp/exp2")] == ["29", "30", "32"]
    assert [job.job_id for job in workflow_jobs(jobs, "/tmp/exp 2/")] == ["31"]
    assert workflow_jobs(jobs, "/tmp") == []
    assert parse_squeue("7|/tmp/a|b|rule_x|run\n") == [SlurmJob("7", "/tmp/a|b", "rule_x", "run")]


class FakeSlurm:
    """squeue and scancel as subprocess.run sees them: the jobs stay queued for `lingering` polls after scancel."""

    def __init__(self, listing: str, lingering: int = 0, returncode: int = 0, scancel_returncode: int = 0):
        self.listing, self.lingering, self.returncode, self.scancel_returncode = listing, lingering, returncode, scancel_returncode
        self.commands: list[list[str]] = []
        self.cancelled: list[str] = []

    def __call__(self, command, **kwargs):
        self.commands.append(command)
        if command[0] == "scancel":
            self.cancelled = command[1:]
            return subprocess.CompletedProcess(command, self.scancel_returncode, "",
                                               "scancel: error: Kill job error on job id 29: Access/permission denied"
                                               if self.scancel_returncode else "")
        if any(argument == "--format=%i" for argument in command):
            if self.lingering:
                self.lingering -= 1
                return subprocess.CompletedProcess(command, 0, "\n".join(self.cancelled) + "\n", "")
            return subprocess.CompletedProcess(command, 0, "28\n32\n", "")
        return subprocess.CompletedProcess(command, self.returncode, self.listing if self.returncode == 0 else "",
                                           "squeue: error: ..." if self.returncode else "")


def ended_process() -> tuple[int, float]:
    """The pid and start time of a process that has ended."""
    process = subprocess.Popen(["true"])
    started = psutil.Process(process.pid).create_time()
    process.wait()
    return process.pid, started


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A working directory from which the plugin has submitted jobs (it has their log folder); squeue
    installed; the run `killed-run` was controlled by a process that has ended, `live-run` by this one."""
    monkeypatch.setattr(cluster.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    (tmp_path / ".snakemake/slurm_logs").mkdir(parents=True)
    record_slurm_run("SLURM run ID: live-run", tmp_path)
    killed = record_slurm_run("SLURM run ID: killed-run", tmp_path)
    pid, started = ended_process()
    killed.write_text(json.dumps(json.loads(killed.read_text()) | {"pid": pid, "started": started}))
    return tmp_path


def listing(workdir: Path) -> str:
    return SQUEUE.replace("/tmp/exp2", str(workdir))


def test_the_logged_run_id_records_this_process_as_the_controller(tmp_path):
    assert record_slurm_run("Building DAG of jobs...", tmp_path) is None
    path = record_slurm_run("SLURM run ID: 5f1d3c1e-7a7e-4b0e-9a0e-2d8c5c0b7f11", tmp_path)
    assert path == tmp_path / ".snakemake/karman/slurm-runs/5f1d3c1e-7a7e-4b0e-9a0e-2d8c5c0b7f11.json"
    record = json.loads(path.read_text())
    assert record["host"] == socket.gethostname() and record["pid"] == os.getpid()
    assert controller_state(path.stem, tmp_path)[0] == "alive"


def test_a_controller_is_gone_only_where_this_host_can_tell(tmp_path):
    path = record_slurm_run("SLURM run ID: r1", tmp_path)
    record = json.loads(path.read_text())
    pid, started = ended_process()
    path.write_text(json.dumps(record | {"pid": pid, "started": started}))
    assert controller_state("r1", tmp_path) == ("gone", f"pid {pid} on {record['host']} has ended")
    path.write_text(json.dumps(record | {"started": record["started"] - 100}))  # the pid now belongs to another process
    assert controller_state("r1", tmp_path)[0] == "gone"
    path.write_text(json.dumps(record | {"host": "login2"}))
    assert controller_state("r1", tmp_path) == ("unknown", "its controller ran on login2, which this host cannot look into")
    assert controller_state("never-recorded", tmp_path)[0] == "unknown"


def test_only_the_jobs_of_a_gone_controller_are_cancelled_and_waited_for(workdir, capsys):
    slurm = FakeSlurm(listing(workdir), lingering=2)
    cancelled = cancel_orphaned_jobs(workdir, run=slurm)
    assert [job.job_id for job in cancelled] == ["29", "30"]
    assert slurm.commands[0] == ["squeue", "--me", "--noheader", "--format=%i|%Z|%k|%j"]
    assert slurm.commands[1] == ["scancel", "29", "30"]  # not 32, whose controller is alive
    assert len(slurm.commands) == 2 + 3  # polled until they had left the queue
    out = capsys.readouterr().out
    assert (f"karman: 1 SLURM job of another live run in {workdir} (pid {os.getpid()} on {socket.gethostname()}) keep running: "
            "32 (rule_simulate_duffing_wildcards_curves)\n") in out
    assert out.endswith(f"karman: cancelled 2 SLURM jobs that an earlier, interrupted run left in {workdir}: "
                        "29 (rule_compute_vorticity), 30 (rule_simulate_flow_wildcards_00150)\n")
    # the gone run's record is removed once its jobs are; the live one's stays
    assert sorted(path.stem for path in (workdir / ".snakemake/karman/slurm-runs").iterdir()) == ["live-run"]


def test_jobs_of_a_controller_that_cannot_be_told_are_left_and_named(workdir, capsys):
    (workdir / ".snakemake/karman/slurm-runs/killed-run.json").unlink()
    slurm = FakeSlurm(listing(workdir))
    assert cancel_orphaned_jobs(workdir, run=slurm) == []
    assert not any(command[0] == "scancel" for command in slurm.commands)
    out = capsys.readouterr().out
    assert (f"karman: left 2 SLURM jobs of run killed-run in {workdir} running (no record of its controller (a run without "
            "karman's profile?)): 29 (rule_compute_vorticity), 30 (rule_simulate_flow_wildcards_00150). If that run was killed, "
            "they may write over this run's outputs: stop this run, `scancel --name killed-run`, and start it again") in out


def test_a_failed_scancel_is_said_plainly(workdir, capsys):
    cancel_orphaned_jobs(workdir, run=FakeSlurm(listing(workdir), scancel_returncode=1))
    err = capsys.readouterr().err
    assert err.startswith(f"karman: could not cancel 2 SLURM jobs that an earlier, interrupted run left in {workdir}: ")
    assert "(scancel: scancel: error: Kill job error on job id 29: Access/permission denied)" in err and "`scancel 29 30`" in err


def test_the_wait_for_orphans_is_bounded_and_says_which_are_still_there(workdir, capsys):
    slurm = FakeSlurm(listing(workdir), lingering=1000)
    cancel_orphaned_jobs(workdir, wait=1.2, run=slurm)
    assert capsys.readouterr().err.startswith("karman: 2 of them still in the queue after 1.2 s: 29, 30; they may still write")


@pytest.mark.parametrize("case", ["no squeue", "never submitted from here", "squeue fails", "nothing of ours", "no lock"])
def test_nothing_to_cancel_does_nothing_and_prints_nothing(workdir, monkeypatch, capsys, case):
    if case == "no squeue":
        monkeypatch.setattr(cluster.shutil, "which", lambda tool: None)
    if case == "never submitted from here":
        (workdir / ".snakemake/slurm_logs").rmdir()
    slurm = FakeSlurm(SQUEUE if case == "nothing of ours" else listing(workdir), returncode=1 if case == "squeue fails" else 0)
    assert cancel_orphaned_jobs(workdir, locked=case != "no lock", run=slurm) == []
    assert capsys.readouterr().out == ""
    assert not any(command[0] == "scancel" for command in slurm.commands)
    if case in ("no squeue", "never submitted from here", "no lock"):
        assert slurm.commands == []  # squeue is not even asked


def write(tmp_path: Path, text: str) -> Path:
    """The log in a file, its working directories moved under `tmp_path` (so the SLURM logs it names are not there)."""
    path = tmp_path / "snakemake.log"
    path.write_text(re.sub(r"/tmp/(cap1|cap2|exp1|exp3)/", lambda match: f"{tmp_path}/{match.group(1)}/", text))
    return path


def test_the_log_maps_each_job_to_the_slurm_job_that_ran_it():
    jobs = submitted_jobs(SUCCESSFUL_RUN)
    assert [(job.rule, job.wildcards, job.runtime, job.slurm_job) for job in jobs] == [
        ("simulate_flow", "re=00300", 60, "12"), ("simulate_flow", "re=00150", 60, "12"),  # one group job
        ("compute_vorticity", "", 30, "13"), ("make_split", "", 10, "14"), ("train_baseline", "model=ridge", 30, "15")]
    assert jobs[2].slurm_log == "/tmp/exp1/.snakemake/slurm_logs/rule_compute_vorticity/13.log"
    assert time_limit_messages([]) == []


def test_a_job_past_its_time_limit_is_named_with_the_runtime_to_raise(tmp_path):
    assert time_limit_messages(write(tmp_path, SINGLE_JOB_TIMEOUT)) == [
        "karman: rule train_network (model=cnn) ran past its time limit of 1 min on SLURM (job 18, state TIMEOUT); "
        "raise its runtime: --set-resources train_network:runtime=2"]


def test_the_plugins_message_alone_names_the_state_of_a_single_job(tmp_path):
    """Without the SLURM log (show-failed-logs off, the file gone) the plugin's TIMEOUT is enough."""
    text = SINGLE_JOB_TIMEOUT
    start = text.index("Logfile /tmp/cap2/.snakemake/slurm_logs/")
    text = text[:start] + text[text.index("Shutting down", start):]
    assert "DUE TO TIME LIMIT" not in text
    assert time_limit_messages(write(tmp_path, text)) == time_limit_messages(write(tmp_path, SINGLE_JOB_TIMEOUT))
    assert len(time_limit_messages(write(tmp_path, text))) == 1


def test_a_job_without_a_runtime_is_told_to_set_one(tmp_path):
    text = SINGLE_JOB_TIMEOUT.replace(", runtime=1, gpu=0", ", gpu=0")
    assert time_limit_messages(write(tmp_path, text)) == [
        "karman: rule train_network (model=cnn) ran past its time limit on SLURM (job 18, state TIMEOUT); "
        "raise its runtime: --set-resources train_network:runtime=<minutes>"]


def test_a_group_job_past_its_time_limit_is_named_once_after_its_retry(tmp_path):
    """The plugin names no state for a group job; SLURM's line in the job's log does."""
    assert "TIMEOUT" not in GROUP_JOB_TIMEOUT_RETRIED
    assert time_limit_messages([write(tmp_path, GROUP_JOB_TIMEOUT_RETRIED)]) == [
        "karman: rule simulate_flow (re=00300) ran past its time limit of 1 min on SLURM (job 17, state TIMEOUT); "
        "raise its runtime: --set-resources simulate_flow:runtime=2"]


def test_the_slurm_log_on_disk_tells_where_snakemake_printed_none(tmp_path):
    """Without show-failed-logs Snakemake's log holds no SLURM log; the file it names still does."""
    slurm_log = tmp_path / "cap1/.snakemake/slurm_logs/group_simulate_flow_simulate_flow/17.log"
    slurm_log.parent.mkdir(parents=True)
    text = write(tmp_path, GROUP_JOB_TIMEOUT_RETRIED).read_text()
    start = text.index(f"Logfile {slurm_log}:")
    end = text.index("Shutting down", start)
    slurm_log.write_text(text[start:end])
    without_logs = text[:start] + text[end:]
    assert "DUE TO TIME LIMIT ***\n" not in without_logs[without_logs.index("jobid 17"):]
    assert len(time_limit_messages(write(tmp_path, without_logs))) == 1
    slurm_log.unlink()
    assert time_limit_messages(write(tmp_path, without_logs)) == []


def test_only_the_last_attempt_counts(tmp_path):
    """A job that ran out of time once and then ended otherwise is not named."""
    first_attempt_only = GROUP_JOB_TIMEOUT_RETRIED.replace("*** JOB 17 ON vm CANCELLED AT 2026-12-05T08:27:39 DUE TO TIME LIMIT ***",
                                                           "*** JOB 17 ON vm CANCELLED AT 2026-12-05T08:27:39 ***")
    assert time_limit_messages(write(tmp_path, first_attempt_only)) == []


def test_other_failures_are_not_called_time_limits(tmp_path):
    assert "DUE TO NODE FAILURE" in NODE_FAILURE_RETRIED
    assert time_limit_messages(write(tmp_path, NODE_FAILURE_RETRIED)) == []
    assert time_limit_messages(write(tmp_path, SUCCESSFUL_RUN)) == []


def test_the_onerror_hook_prints_the_messages_to_stderr(tmp_path, capsys):
    report_time_limits([str(write(tmp_path, SINGLE_JOB_TIMEOUT))])
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("karman: rule train_network (model=cnn) ran past its time limit of 1 min")
