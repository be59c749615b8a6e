"""What an interrupted run leaves behind, cleared before the next run starts any job.

A job that is killed (SIGKILL, a node that goes down, a cancelled SLURM job) while it writes
an output leaves the output's partial path (`karman.atomic.partial_path`) beside it: a
half-written Zarr store can be gigabytes at sweep scale. Snakemake removes the outputs it
knows of; the partial paths it does not know, so the workflow's `onstart:` hook removes
those of the outputs the run is about to write. Snakemake has locked exactly these outputs
for the run, so no other run in the same directory can be writing them (a run of other
targets, at the same time, keeps its own partial paths). A simulation's checkpoint
(`.re00300.zarr.checkpoint.npz`) is not a partial output: the rerun resumes from it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from karman.atomic import is_partial


def partial_outputs(outputs: Iterable[str | os.PathLike]) -> list[Path]:
    """The partial paths beside `outputs` that belong to them (`.vorticity.zarr.partial-…`,
    `.re00300.zarr.download.partial-…`, `..re00300.zarr.checkpoint.npz.partial-…`)."""
    found = set()
    for output in map(Path, outputs):
        if output.parent.is_dir():
            found.update(path for path in output.parent.iterdir()
                         if is_partial(path) and path.name.lstrip(".").startswith(f"{output.name}."))
    return sorted(found)


def remove_partial_outputs(outputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Remove the partial paths of `outputs`; return what was removed."""
    removed = partial_outputs(outputs)
    for path in removed:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    return removed


def clear_interrupted_run(outputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Before the first job of a run that will write `outputs` (and holds their lock): remove
    what an interrupted run left half-written of them, and say so."""
    removed = remove_partial_outputs(outputs)
    if removed:
        names = ", ".join(os.fspath(path) for path in removed[:5]) + (f" and {len(removed) - 5} more" if len(removed) > 5 else "")
        print(f"karman: removed {len(removed)} partial output{'s' if len(removed) > 1 else ''} of an interrupted run: {names}")
    return removed
