"""Faults of a laptop run, through the workflow: a killed job, a full disk, a damaged chunk, two
runs at once, a read-only folder. Each time the user reads what is wrong and which file, nothing
half-written is left, and once the cause is gone a plain rerun ends with the bytes of a clean run.

The faults are injected into the jobs by tests/faults/sitecustomize.py (KARMAN_FAULT).
"""

import contextlib
import filecmp
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, snakemake_command, small_config, snakemake, write_config

pytestmark = pytest.mark.workflow  # every test here runs Snakemake

TARGET = "results/split/assignment.csv"
FIELDS = "results/fields/vorticity.zarr"


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    """The tiny workflow up to the split, run once without faults."""
    workdir = tmp_path_factory.mktemp("clean")
    write_config(workdir, small_config("ridge"))
    snakemake(workdir, "--cores", "2", TARGET)
    return workdir


@pytest.fixture
def project(clean_run, tmp_path):
    """A copy of the clean run without its vorticity store and split, which the test then reruns."""
    workdir = tmp_path / "project"
    shutil.copytree(clean_run, workdir, symlinks=True)
    shutil.rmtree(workdir / FIELDS)
    shutil.rmtree(workdir / "results/split")
    return workdir


def with_fault(fault: str) -> dict:
    return {**os.environ, "KARMAN_FAULT": fault, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "tests/faults"), os.environ.get("PYTHONPATH")]))}


def partial_paths(workdir: Path) -> list[Path]:
    return [path for path in (workdir / "results").rglob("*") if ".partial-" in path.name]


def assert_same_bytes(workdir: Path, clean: Path, *paths: str) -> None:
    for relative in paths:
        ours, theirs = workdir / relative, clean / relative
        files = sorted(str(path.relative_to(theirs)) for path in theirs.rglob("*") if path.is_file() and path.name != ".snakemake_timestamp") \
            if theirs.is_dir() else [""]
        assert files, relative
        if theirs.is_dir():
            mine = sorted(str(path.relative_to(ours)) for path in ours.rglob("*") if path.is_file() and path.name != ".snakemake_timestamp")
            assert mine == files, relative
            match, mismatch, errors = filecmp.cmpfiles(theirs, ours, files, shallow=False)
            assert not mismatch and not errors, (relative, mismatch, errors)
        else:
            assert filecmp.cmp(theirs, ours, shallow=False), relative


def rerun_matches_the_clean_run(workdir: Path, clean: Path) -> subprocess.CompletedProcess:
    result = snakemake(workdir, "--cores", "2", TARGET)
    assert not partial_paths(workdir)
    assert_same_bytes(workdir, clean, FIELDS, TARGET)
    return result


@contextlib.contextmanager
def hanging_mid_write(project: Path):
    """A run whose job has written the vorticity store under its partial name and hangs there;
    yields the partial paths, then kills the run (SIGKILL, its whole process group)."""
    process = subprocess.Popen([*snakemake_command(), "--directory", str(project), "--cores", "1", TARGET], env=with_fault("hang:vorticity"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not partial_paths(project) and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(1)  # the store written whole under its partial name, the job now hanging
        assert partial_paths(project), "the run never started writing"
        yield partial_paths(project)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_a_job_killed_mid_write_leaves_a_partial_store_that_the_rerun_removes(project, clean_run):
    with hanging_mid_write(project):
        pass
    left = partial_paths(project)
    assert [path.parent.name for path in left] == ["fields"] and not (project / FIELDS).exists(), left
    snakemake(project, "--unlock")
    result = rerun_matches_the_clean_run(project, clean_run)
    assert f"karman: removed 1 partial output of an interrupted run: {left[0].relative_to(project)}" in result.stdout + result.stderr


def test_a_run_of_other_targets_leaves_the_partial_store_of_a_running_job_alone(project):
    """Snakemake lets two runs share a directory when their outputs differ: the second one's
    clean-up must not take the first one's store from under it."""
    with hanging_mid_write(project) as writing:
        snakemake(project, "--cores", "1", "results/flow/summary.json")  # reads the flow stores only
        assert partial_paths(project) == writing and (project / "results/flow/summary.json").is_file()


def test_a_full_disk_names_the_store_and_keeps_nothing_of_it(project, clean_run):
    result = subprocess.run([*snakemake_command(), "--directory", str(project), "--cores", "2", TARGET], env=with_fault("disk-full:vorticity"),
                            capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"karman: {FIELDS}: cannot write the store: No space left on device" in output, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert not partial_paths(project) and not (project / FIELDS).exists()
    rerun_matches_the_clean_run(project, clean_run)


def test_a_damaged_chunk_is_named_before_it_is_read_as_fill_values(clean_run, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(clean_run, project, symlinks=True)
    shutil.rmtree(project / "results/split")
    chunks = sorted((project / FIELDS / "vorticity/c").rglob("*"))
    chunk = [path for path in chunks if path.is_file()][1]
    chunk.unlink()
    result = snakemake(project, "--cores", "2", TARGET, check=False)
    output = result.stdout + result.stderr
    key = chunk.relative_to(project / FIELDS)
    assert result.returncode != 0 and f"{FIELDS} is damaged: chunk {key} is missing" in output, output[-3000:]
    assert f"Remove it (rm -r {FIELDS}) and rerun" in output
    assert not (project / TARGET).exists()
    shutil.rmtree(project / FIELDS)  # what the message says to do
    rerun_matches_the_clean_run(project, clean_run)


def test_a_second_run_in_the_same_directory_is_refused_and_the_first_finishes(project, clean_run):
    first = subprocess.Popen([*snakemake_command(), "--directory", str(project), "--cores", "2", TARGET], env=with_fault("slow:vorticity"),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    locks = project / ".snakemake/locks"
    deadline = time.monotonic() + 120
    while not (locks.is_dir() and any(locks.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.2)
    second = snakemake(project, "--cores", "2", TARGET, check=False)
    output, _ = first.communicate(timeout=600)
    assert second.returncode != 0 and "Directory cannot be locked" in second.stdout + second.stderr
    assert first.returncode == 0, output[-3000:]
    assert not partial_paths(project)
    assert_same_bytes(project, clean_run, FIELDS, TARGET)


def make_read_only(folder: Path, read_only: bool) -> None:
    """A folder no job can write in: chmod for a user, the immutable attribute for root (whom chmod does not stop)."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i" if read_only else "-i", str(folder)], check=True)
    else:
        folder.chmod(0o555 if read_only else 0o755)


def test_a_read_only_results_folder_is_named_and_a_rerun_completes_once_it_is_writable(project, clean_run):
    folder = project / "results/fields"
    folder.mkdir(exist_ok=True)
    try:
        make_read_only(folder, True)
        if os.access(folder, os.W_OK) and os.geteuid() != 0:
            pytest.skip("this file system does not make folders read-only")
        result = snakemake(project, "--cores", "2", TARGET, check=False)
    finally:
        make_read_only(folder, False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"{FIELDS}: cannot write the store: Operation not permitted" in output or \
        f"{FIELDS}: cannot write the store: Permission denied" in output, output[-3000:]
    assert not partial_paths(project) and not (project / FIELDS).exists()
    rerun_matches_the_clean_run(project, clean_run)
