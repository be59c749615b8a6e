"""What a SLURM run needs beyond Snakemake's SLURM executor plugin to survive its faults.

- A controller that is killed (SIGKILL, a lost login session, an out-of-memory login node)
  leaves its SLURM jobs queued and running, and Snakemake does not cancel them when it is
  started again: they would write over the new run's outputs. But a second run may also share
  the working directory with a first one that is alive (Snakemake locks outputs, not folders:
  a vortex-only and a Duffing-only run may run side by side), and its jobs must be left alone.
  So each controller says who it is: the plugin names every job of a run with the run's ID
  (sbatch --job-name) and logs "SLURM run ID: …" once; karman's logger plugin then writes
  `.snakemake/karman/slurm-runs/<run ID>.json` (host, pid and start time of the controller,
  `record_slurm_run`). `cancel_orphaned_jobs`, the Snakefile's `onstart:` hook (a real run,
  under the lock of its outputs, before it submits any job), cancels the jobs this folder's
  runs submitted whose controller is gone: on this host, and no process of that pid and start
  time exists. Jobs of a live controller keep running; jobs whose controller is on another
  host, or was never recorded (a run without karman's profile), are left and named, with the
  command that cancels them.
- A job that runs past its time limit ends in SLURM state TIMEOUT. The plugin names the state
  only for a job outside a group (and never the resource to raise); for a group job, such as
  the packed simulations, only SLURM's own line in the job's log says so. `time_limit_messages`
  reads Snakemake's log (what the `onerror:` hook receives) and the SLURM logs it names, and
  says which rule ran out of time and the command that gives it more.

Both read text that SLURM and the plugin print; the tests hold text captured from real runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from karman.atomic import write_text_whole

# What the plugin's jobs look like in `squeue`: id | working directory | comment | name (the run ID).
SQUEUE_FORMAT = "%i|%Z|%k|%j"
SQUEUE_TIMEOUT = 30  # seconds: squeue retries a missing configuration for a minute
# Where the plugin keeps its jobs' logs (its default --slurm-logdir): no such folder, no job
# was ever submitted from here, and squeue is not asked (it can take seconds to fail where
# SLURM is installed but not running).
SLURM_LOGS = ".snakemake/slurm_logs"
SLURM_RUNS = ".snakemake/karman/slurm-runs"  # <run ID>.json: the controller that submits that run's jobs
RUN_ID_MESSAGE = re.compile(r"SLURM run ID: ([A-Za-z0-9_-]+)")  # what the plugin logs as it starts


@dataclass(frozen=True)
class SlurmJob:
    """One line of `squeue -o '%i|%Z|%k|%j'`."""

    job_id: str
    workdir: str
    comment: str
    run_id: str = ""


def parse_squeue(text: str) -> list[SlurmJob]:
    """The jobs in `squeue --noheader --format='%i|%Z|%k|%j'` output."""
    jobs = []
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) >= 4 and parts[0]:
            # a working directory or comment may hold "|": the id is first, the run ID last
            jobs.append(SlurmJob(parts[0], "|".join(parts[1:-2]), parts[-2], parts[-1]))
    return jobs


def workflow_jobs(jobs: Iterable[SlurmJob], workdir: str | os.PathLike) -> list[SlurmJob]:
    """The jobs that Snakemake's SLURM plugin submitted from `workdir`."""
    here = os.path.realpath(workdir)
    return [job for job in jobs if job.comment.startswith("rule_") and os.path.realpath(job.workdir) == here]


def record_slurm_run(message: str, workdir: str | os.PathLike = ".") -> Path | None:
    """Where a message is the plugin's "SLURM run ID: …", record this process as that run's
    controller (host, pid, start time) in SLURM_RUNS; return the record's path."""
    match = RUN_ID_MESSAGE.search(message)
    if match is None:
        return None
    path = Path(workdir) / SLURM_RUNS / f"{match.group(1)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_whole(path, json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started": psutil.Process().create_time()}))
    return path


def controller_state(run_id: str, workdir: str | os.PathLike) -> tuple[str, str]:
    """("alive" | "gone" | "unknown", in words) for the controller of the SLURM run `run_id`."""
    path = Path(workdir) / SLURM_RUNS / f"{run_id}.json"
    try:
        record = json.loads(path.read_text())
        host, pid, started = record["host"], int(record["pid"]), float(record["started"])
    except (OSError, ValueError, KeyError, TypeError):
        return "unknown", "no record of its controller (a run without karman's profile?)"
    if host != socket.gethostname():
        return "unknown", f"its controller ran on {host}, which this host cannot look into"
    try:
        alive = abs(psutil.Process(pid).create_time() - started) < 1.0
    except psutil.Error:
        alive = False
    return ("alive", f"pid {pid} on {host}") if alive else ("gone", f"pid {pid} on {host} has ended")


def _squeue(run: Callable, *arguments: str) -> str | None:
    """This user's queued and running jobs (squeue's default states), or None where SLURM does not answer."""
    try:
        result = run(["squeue", "--me", "--noheader", *arguments], capture_output=True, text=True, timeout=SQUEUE_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def _forget_ended_runs(workdir: Path, queued: Iterable[SlurmJob]) -> None:
    """Remove the records of controllers that are gone and have no job left in the queue."""
    busy = {job.run_id for job in queued}
    for path in (workdir / SLURM_RUNS).glob("*.json") if (workdir / SLURM_RUNS).is_dir() else ():
        if path.stem not in busy and controller_state(path.stem, workdir)[0] == "gone":
            path.unlink(missing_ok=True)


def _named(jobs: list[SlurmJob]) -> str:
    return ", ".join(f"{job.job_id} ({job.comment})" for job in jobs)


def cancel_orphaned_jobs(workdir: str | os.PathLike = ".", *, locked: bool = True, wait: float = 60.0,
                         run: Callable = subprocess.run) -> list[SlurmJob]:
    """Cancel the SLURM jobs that an earlier, killed run of the workflow left in `workdir`; return them.

    Only jobs whose controller is gone are cancelled (`controller_state`); jobs of a live run
    keep running, and jobs whose controller cannot be told are named with the command that
    cancels them. Waits (at most `wait` seconds) until the cancelled jobs have left the queue,
    so that none of them still writes when the new run starts, and says plainly if scancel
    failed or some are still there. Does nothing where squeue is not installed, where the
    plugin never submitted a job from `workdir` (no SLURM_LOGS folder) or SLURM does not
    answer, and nothing without the working directory's lock (`locked=False`, snakemake --nolock).
    """
    workdir = Path(workdir)
    if not locked or shutil.which("squeue") is None or not (workdir / SLURM_LOGS).is_dir():
        return []
    listing = _squeue(run, f"--format={SQUEUE_FORMAT}")
    if listing is None:
        return []
    queued = parse_squeue(listing)
    by_run: dict[str, list[SlurmJob]] = {}
    for job in workflow_jobs(queued, workdir):
        by_run.setdefault(job.run_id, []).append(job)
    orphans = []
    here = os.path.realpath(workdir)
    for run_id, jobs in by_run.items():
        state, said = controller_state(run_id, workdir)
        if state == "gone":
            orphans += jobs
        elif state == "alive":
            print(f"karman: {len(jobs)} SLURM job{'s' if len(jobs) > 1 else ''} of another live run in {here} "
                  f"({said}) keep running: {_named(jobs)}", flush=True)
        else:
            print(f"karman: left {len(jobs)} SLURM job{'s' if len(jobs) > 1 else ''} of run {run_id} in {here} running ({said}): "
                  f"{_named(jobs)}. If that run was killed, they may write over this run's outputs: stop this run, "
                  f"`scancel --name {run_id}`, and start it again", flush=True)
    left_the_queue = _cancel(orphans, here, wait, run) if orphans else True
    _forget_ended_runs(workdir, [job for job in queued if job not in orphans] if left_the_queue else queued)
    return orphans


def _cancel(orphans: list[SlurmJob], here: str, wait: float, run: Callable) -> bool:
    """scancel `orphans`, wait until they have left the queue, and print one line on what happened;
    whether they all left it."""
    ids = [job.job_id for job in orphans]
    plural = "s" if len(orphans) > 1 else ""
    try:
        result = run(["scancel", *ids], capture_output=True, text=True, timeout=SQUEUE_TIMEOUT)
        failure = "" if result.returncode == 0 else (result.stderr or "").strip() or f"exit status {result.returncode}"
    except (OSError, subprocess.TimeoutExpired) as error:
        failure = str(error)
    if failure:
        print(f"karman: could not cancel {len(orphans)} SLURM job{plural} that an earlier, interrupted run left in {here}: "
              f"{_named(orphans)} (scancel: {failure}). They may write over this run's outputs: stop this run, "
              f"`scancel {' '.join(ids)}`, and start it again", file=sys.stderr, flush=True)
        return False
    deadline = time.monotonic() + wait
    remaining = set(ids)
    while remaining and time.monotonic() < deadline:
        time.sleep(0.5)
        listing = _squeue(run, "--format=%i")
        remaining = remaining & set(listing.split()) if listing is not None else remaining
    print(f"karman: cancelled {len(orphans)} SLURM job{plural} that an earlier, interrupted run left in {here}: {_named(orphans)}",
          flush=True)
    if remaining:
        print(f"karman: {len(remaining)} of them still in the queue after {wait:g} s: {', '.join(sorted(remaining))}; they may "
              "still write over this run's outputs: stop this run, wait until `squeue --me` no longer lists them, "
              "and start it again", file=sys.stderr, flush=True)
    return not remaining


# ---------------------------------------------------------------------------------------------
# Time limits

# A job's description as Snakemake prints it before submitting it ("rule name:" or, inside a
# group, indented), and the plugin's line once it is submitted.
RULE_HEADER = re.compile(r"^(\s*)(?:rule|checkpoint) (\w+):$")
FIELD = re.compile(r"^\s+(\w+): (.*)$")
GROUP_HEADER = re.compile(r"Group job (\S+) \(jobs in lexicogr\. order\):$")
SUBMITTED = re.compile(r"^Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (.+)\)\.$")
# The plugin's message for a job that failed (squeue or sacct status), and SLURM's own line in
# the log of a job it ended at its time limit.
PLUGIN_STATE = re.compile(r"SLURM-job '(\d+)' failed, SLURM status is: '(\w+)'")
TIME_LIMIT_LINE = re.compile(r"\*\*\* JOB (\d+) ON \S+ CANCELLED AT \S+ DUE TO TIME LIMIT \*\*\*")


@dataclass
class SubmittedJob:
    """One Snakemake job as the log describes it, and the SLURM job that ran it."""

    rule: str
    jobid: str
    wildcards: str = ""
    runtime: int | None = None
    slurm_job: str = ""
    slurm_log: str = ""
    fields: dict = field(default_factory=dict)


def _runtime(resources: str) -> int | None:
    match = re.search(r"(?:^|, )runtime=(\d+)(?:,|$)", resources)
    return int(match.group(1)) if match else None


def _read(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> str:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    texts = []
    for path in paths:
        try:
            texts.append(Path(path).read_text(errors="replace"))
        except OSError:
            continue
    return "\n".join(texts)


def submitted_jobs(log_text: str) -> list[SubmittedJob]:
    """Every Snakemake job the log shows submitted to SLURM, in order, with its SLURM job id.

    A job is described ("rule name:", its fields indented below) before the plugin says which
    SLURM job it went to: "Job <jobid>", or "Job <group id>" for the members of a group job.
    (The failed jobs' logs that Snakemake prints hold descriptions too, which are never followed
    by a submission: a retry describes its jobs again.)
    """
    jobs: list[SubmittedJob] = []
    described: list[SubmittedJob] = []  # printed, not yet submitted
    group_start = None  # index into `described` where the current group's members begin
    current: SubmittedJob | None = None
    for line in log_text.splitlines():
        header = RULE_HEADER.match(line)
        if header:
            current = SubmittedJob(rule=header.group(2), jobid="")
            described.append(current)
            continue
        if current is not None:
            entry = FIELD.match(line)
            if entry:
                key, value = entry.groups()
                current.fields[key] = value
                if key == "jobid":
                    current.jobid = value
                elif key == "wildcards":
                    current.wildcards = value
                elif key == "resources":
                    current.runtime = _runtime(value)
                continue
            current = None
        if GROUP_HEADER.search(line):
            group_start = len(described)
            continue
        submitted = SUBMITTED.match(line)
        if submitted:
            name, slurm_job, slurm_log = submitted.groups()
            if name.isdigit():
                members = [job for job in described if job.jobid == name][-1:]
            else:
                members = described[group_start:] if group_start is not None else []
            for job in members:
                job.slurm_job, job.slurm_log = slurm_job, slurm_log
                jobs.append(job)
            described = [job for job in described if job not in members]
            group_start = None
    return jobs


def slurm_states(log_text: str) -> dict[str, str]:
    """The final SLURM state of the jobs the log (and the SLURM logs it includes) names as failed."""
    states = {job: state for job, state in PLUGIN_STATE.findall(log_text)}
    states.update({job: "TIMEOUT" for job in TIME_LIMIT_LINE.findall(log_text)})
    return states


def time_limit_messages(log: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str]:
    """One line for each job whose last SLURM job ran past its time limit, naming the rule and the fix.

    `log` is Snakemake's log file (or the list of them that the `onerror:` hook receives). The
    SLURM logs it names are read too, where they still exist: for a group job, SLURM's own
    "DUE TO TIME LIMIT" line in them is the only record of the state.
    """
    text = _read(log)
    last: dict[tuple[str, str], SubmittedJob] = {}
    for job in submitted_jobs(text):  # a retried job's last attempt decides
        last.pop((job.rule, job.wildcards), None)
        last[(job.rule, job.wildcards)] = job
    states = slurm_states(text)
    for slurm_log in dict.fromkeys(job.slurm_log for job in last.values() if job.slurm_job not in states):
        states.update(slurm_states(_read(slurm_log)))
    messages = []
    for job in last.values():
        if states.get(job.slurm_job) != "TIMEOUT":
            continue
        which = f"rule {job.rule}" + (f" ({job.wildcards})" if job.wildcards else "")
        if job.runtime:
            limit, raised = f" of {job.runtime} min", str(2 * job.runtime)
        else:
            limit, raised = "", "<minutes>"
        messages.append(f"karman: {which} ran past its time limit{limit} on SLURM (job {job.slurm_job}, state TIMEOUT); "
                        f"raise its runtime: --set-resources {job.rule}:runtime={raised}")
    return messages


def report_time_limits(log: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str]:
    """Print `time_limit_messages(log)` to stderr (the Snakefile's `onerror:` hook); return them."""
    messages = time_limit_messages(log)
    for message in messages:
        print(message, file=sys.stderr, flush=True)
    return messages
