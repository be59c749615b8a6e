"""What an interrupted run leaves behind, cleared before the next run starts any job.

A job that is killed (SIGKILL, a node that goes down, a cancelled SLURM job) while it writes
an output leaves the output's partial path (`karman.stores.partial_path`) beside it: a
half-written Zarr store can be gigabytes at sweep scale. Snakemake removes the outputs it
knows of; the partial paths it does not know, so the workflow's `onstart:` hook removes them.
It runs while Snakemake holds the working directory's lock, so no other run of the workflow
is writing there. A simulation's checkpoint (`.re00300.zarr.checkpoint.npz`) is not a partial
output: the rerun resumes from it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from karman.stores import is_partial



def partial_outputs(results: str | os.PathLike = "results") -> list[Path]:
    """The partial outputs under `results`, outermost only (a partial store's own files are not listed)."""
    found = []
    for directory, subdirectories, files in os.walk(results):
        here = Path(directory)
        found += [here / name for name in sorted(files) if is_partial(here / name)]
        partial_dirs = [name for name in sorted(subdirectories) if is_partial(here / name)]
        found += [here / name for name in partial_dirs]
        subdirectories[:] = [name for name in subdirectories if name not in partial_dirs]
    return sorted(found)


def remove_partial_outputs(results: str | os.PathLike = "results") -> list[Path]:
    """Remove every partial output under `results`; return what was removed."""
    removed = partial_outputs(results)
    for path in removed:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    return removed


def clear_interrupted_run(results: str | os.PathLike = "results") -> list[Path]:
    """Before the first job of a run: remove what an interrupted run left half-written, and say so."""
    removed = remove_partial_outputs(results)
    if removed:
        names = ", ".join(os.fspath(path) for path in removed[:5]) + (f" and {len(removed) - 5} more" if len(removed) > 5 else "")
        print(f"karman: removed {len(removed)} partial output{'s' if len(removed) > 1 else ''} of an interrupted run: {names}")
    return removed
