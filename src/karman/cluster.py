"""What a SLURM run needs beyond Snakemake's SLURM executor plugin to survive its faults.

- A controller that is killed (SIGKILL, a lost login session, an out-of-memory login node)
  leaves its SLURM jobs queued and running, and Snakemake does not cancel them when it is
  started again: they would write over the new run's outputs. `cancel_orphaned_jobs` finds
  this user's jobs that the plugin submitted from this working directory (it submits with
  `-D <workdir>` and comments each job `rule_<name>...`) and cancels them. The Snakefile's
  `onstart:` hook calls it: Snakemake runs that hook only for a real run, while it holds the
  working directory's lock, before it submits any job, so every such job is an orphan.
- A job that runs past its time limit ends in SLURM state TIMEOUT. The plugin names the state
  only for a job outside a group (and never the resource to raise); for a group job, such as
  the packed simulations, only SLURM's own line in the job's log says so. `time_limit_messages`
  reads Snakemake's log (what the `onerror:` hook receives) and the SLURM logs it names, and
  says which rule ran out of time and the command that gives it more.

Both read text that SLURM and the plugin print; the tests hold text captured from real runs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

# What the plugin's jobs look like in `squeue`: id | working directory | comment.
SQUEUE_FORMAT = "%i|%Z|%k"
SQUEUE_TIMEOUT = 30  # seconds: squeue retries a missing configuration for a minute
# Where the plugin keeps its jobs' logs (its default --slurm-logdir): no such folder, no job
# was ever submitted from here, and squeue is not asked (it can take seconds to fail where
# SLURM is installed but not running).
SLURM_LOGS = ".snakemake/slurm_logs"


@dataclass(frozen=True)
class SlurmJob:
    """One line of `squeue -o '%i|%Z|%k'`."""

    job_id: str
    workdir: str
    comment: str


def parse_squeue(text: str) -> list[SlurmJob]:
    """The jobs in `squeue --noheader --format='%i|%Z|%k'` output."""
    jobs = []
    for line in text.splitlines():
        parts = line.strip().split("|", 2)
        if len(parts) == 3 and parts[0]:
            jobs.append(SlurmJob(*parts))
    return jobs


def orphaned_jobs(jobs: Iterable[SlurmJob], workdir: str | os.PathLike) -> list[SlurmJob]:
    """The jobs that Snakemake's SLURM plugin submitted from `workdir`."""
    here = os.path.realpath(workdir)
    return [job for job in jobs if job.comment.startswith("rule_") and os.path.realpath(job.workdir) == here]


def _squeue(run: Callable, *arguments: str) -> str | None:
    """This user's queued and running jobs (squeue's default states), or None where SLURM does not answer."""
    try:
        result = run(["squeue", "--me", "--noheader", *arguments], capture_output=True, text=True, timeout=SQUEUE_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def cancel_orphaned_jobs(workdir: str | os.PathLike = ".", *, locked: bool = True, wait: float = 60.0,
                         run: Callable = subprocess.run) -> list[SlurmJob]:
    """Cancel the SLURM jobs that an earlier, killed run of the workflow left in `workdir`; return them.

    Waits (at most `wait` seconds) until they have left the queue, so that none of them still
    writes when the new run starts, and prints one line naming them. Does nothing where squeue
    is not installed, where the plugin never submitted a job from `workdir` (no SLURM_LOGS
    folder) or SLURM does not answer, and nothing without the working directory's lock
    (`locked=False`, snakemake --nolock): another live run may own the jobs then.
    """
    if not locked or shutil.which("squeue") is None or not (Path(workdir) / SLURM_LOGS).is_dir():
        return []
    listing = _squeue(run, f"--format={SQUEUE_FORMAT}")
    orphans = orphaned_jobs(parse_squeue(listing or ""), workdir)
    if not orphans:
        return []
    run(["scancel", *(job.job_id for job in orphans)], capture_output=True, text=True, timeout=SQUEUE_TIMEOUT)
    ids = {job.job_id for job in orphans}
    deadline = time.monotonic() + wait
    remaining = ids
    while remaining and time.monotonic() < deadline:
        time.sleep(0.5)
        listing = _squeue(run, "--format=%i")
        remaining = ids & set(listing.split()) if listing is not None else remaining
    names = ", ".join(f"{job.job_id} ({job.comment})" for job in orphans)
    line = (f"karman: cancelled {len(orphans)} SLURM job{'s' if len(orphans) > 1 else ''} that an earlier, "
            f"interrupted run left in {os.path.realpath(workdir)}: {names}")
    if remaining:
        line += f"; still leaving the queue after {wait:g} s: {', '.join(sorted(remaining))}"
    print(line, flush=True)
    return orphans


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
