"""Outputs that appear whole or not at all: every file and store karman writes is written
under a partial name beside its destination and renamed into place when whole.

A job killed midway leaves only such a partial name, `.{name}.partial-{random}` (a
half-written Zarr store can be gigabytes at sweep scale); the job that writes the output
next removes it before it starts writing (`remove_interrupted`). Snakemake locks each output
of a run for the one job that writes it, so no other job can be writing that name. Stores use
`partial_path` (`karman.stores.write_store`); files use `written_whole` or `write_text_whole`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import uuid
from pathlib import Path

log = logging.getLogger(__name__)

PARTIAL_MARK = ".partial-"


def partial_path(path: str | os.PathLike) -> Path:
    """A fresh temporary name beside `path` for writing it whole before it is renamed into
    place; what an interrupted job left under a partial name of `path` is removed first."""
    path = Path(path)
    remove_interrupted(path)
    return path.with_name(f".{path.name}{PARTIAL_MARK}{uuid.uuid4().hex[:8]}")


def interrupted_partials(path: Path) -> list[Path]:
    """The partial names of `path` beside it (`.re00300.zarr.partial-…`; not those of another
    name such as `.re00300.zarr.download.partial-…`)."""
    prefix = f".{path.name}{PARTIAL_MARK}"
    return sorted(entry for entry in path.parent.iterdir() if entry.name.startswith(prefix)) if path.parent.is_dir() else []


def remove_interrupted(path: Path) -> list[Path]:
    """Remove what a job killed while writing `path` left under its partial names, and say so
    (on stderr, which is the run's output, and in the job's log); return what was removed."""
    removed = interrupted_partials(path)
    for entry in removed:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink(missing_ok=True)
        message = f"removed 1 partial output of an interrupted run: {os.fspath(entry)}"
        log.warning(message)
        print(f"karman: {message}", file=sys.stderr)
    return removed


@contextlib.contextmanager
def written_whole(path: str | os.PathLike):
    """A partial name beside `path` to write a file at; renamed to `path` when the block ends,
    removed if it raises.

        with written_whole(output) as partial:
            table.to_csv(partial, index=False)
    """
    path = Path(path)
    partial = partial_path(path)
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_text_whole(path: str | os.PathLike, text: str) -> None:
    """`text` (UTF-8) at `path`, whole or not at all."""
    with written_whole(path) as partial:
        partial.write_text(text, encoding="utf-8")
